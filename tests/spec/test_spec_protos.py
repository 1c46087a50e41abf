"""Tests for spec/protos.py: the pipeline-spec protos load without the kfp SDK's __init__.

Each case runs in a fresh interpreter, since what matters is what a process has imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pinnace

SRC = Path(pinnace.__file__).resolve().parent.parent
PIPELINE = """
from pinnace import dsl

@dsl.component
def add(a: int, b: int) -> int:
    return a + b

@dsl.pipeline(name="chain")
def chain(x: int = 1):
    add(a=add(a=x, b=2).output, b=3)
"""

_RUN_THEN_IMPORT_KFP = """
import json, sys
import pinnace
from pinnace.settings import Settings

home = sys.argv[1]
result = pinnace.run(
    sys.argv[2], cache=False, settings=Settings.load(env={}, home=home, use_current_python=True)
)
loaded = sorted(
    m for m in sys.modules if m in ("kfp", "kfp.client", "kubernetes", "google.auth", "requests")
)
from pinnace.spec.protos import pipeline_spec_pb2
ours = pipeline_spec_pb2()

import kfp  # the real SDK, after Pinnace loaded its protos
from kfp import compiler, dsl
from kfp.pipeline_spec import pipeline_spec_pb2 as theirs
import kfp.pipeline_spec.pipeline_spec_pb2

@dsl.component
def echo(text: str) -> str:
    return text

@dsl.pipeline(name="after")
def after(text: str = "hi"):
    echo(text=text)

compiler.Compiler().compile(after, sys.argv[3])
print(json.dumps({
    "state": result.state,
    "loaded_before_kfp": loaded,
    "same_module": theirs is ours,
    "same_attribute": kfp.pipeline_spec.pipeline_spec_pb2 is ours,
    "sdk": hasattr(kfp, "Client"),
    "finders": [type(f).__name__ for f in sys.meta_path],
}))
"""


def _run(
    folder: Path, code: str, *args: str, env: dict[str, str] | None = None, flags=()
) -> dict:
    script = folder / "script.py"  # a file: kfp's @dsl.component reads the function's source
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, *flags, str(script), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_run_does_not_import_the_kfp_sdk_and_the_sdk_imported_later_shares_the_protos(
    tmp_path,
):
    pipeline = tmp_path / "chain.py"
    pipeline.write_text(PIPELINE)
    report = _run(
        tmp_path,
        _RUN_THEN_IMPORT_KFP, str(tmp_path / "home"), str(pipeline), str(tmp_path / "after.yaml")
    )
    assert report["state"] == "SUCCEEDED"
    assert report["loaded_before_kfp"] == []
    assert report["same_module"] and report["same_attribute"] and report["sdk"]
    assert "_LinkToSdk" not in report["finders"]  # gone once the SDK is linked
    assert "echo" in (tmp_path / "after.yaml").read_text()


def test_the_sdk_imported_first_keeps_its_own_import(tmp_path):
    code = (
        "import json, sys, kfp\n"
        "from kfp.pipeline_spec import pipeline_spec_pb2 as theirs\n"
        "from pinnace.compiler import compile_pipeline\n"
        "from pinnace.spec.protos import pipeline_spec_pb2\n"
        "print(json.dumps({'same': pipeline_spec_pb2() is theirs,\n"
        "    'finders': [type(f).__name__ for f in sys.meta_path]}))\n"
    )
    report = _run(tmp_path, code)
    assert report["same"] and "_LinkToSdk" not in report["finders"]


def test_without_the_kfp_sdk_the_protos_load_from_the_kfp_namespace(tmp_path):
    """A site folder holding everything installed but the SDK: `kfp` is then only the
    namespace kfp-pipeline-spec shares, and compiling and validating still work."""
    site = Path(sysconfig.get_paths()["purelib"])
    fake = tmp_path / "site"
    fake.mkdir()
    for entry in site.iterdir():
        if entry.name != "kfp" and not entry.name.startswith(("kfp-", "kfp_")):
            (fake / entry.name).symlink_to(entry)
    (fake / "kfp").mkdir()
    (fake / "kfp" / "pipeline_spec").symlink_to(site / "kfp" / "pipeline_spec")
    code = (
        "import json, sys\n"
        f"sys.path[:0] = [{str(SRC)!r}, {str(fake)!r}]\n"
        "from pinnace.compiler import compile_pipeline\n"
        "from pinnace.dsl import component, pipeline\n"
        "from pinnace.spec import check_spec\n"
        "@component\n"
        "def one() -> int:\n"
        "    return 1\n"
        "@pipeline(name='p')\n"
        "def p():\n"
        "    one()\n"
        "spec = compile_pipeline(p)\n"
        "import kfp\n"
        "print(json.dumps({'problems': [str(x) for x in check_spec(spec)],\n"
        "    'namespace': getattr(kfp, '__file__', None) is None,\n"
        "    'tasks': list(spec['root']['dag']['tasks'])}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    report = _run(tmp_path, code, env=env, flags=("-S",))
    assert report == {"problems": [], "namespace": True, "tasks": ["one"]}


_THREADS_AT_ONCE = """
import json, sys, threading, time
from pinnace.spec.protos import pipeline_spec_pb2

barrier = threading.Barrier(8)
got = []

def first_use(delay):
    barrier.wait()
    time.sleep(delay)  # some arrive while the first one's load is under way
    module = pipeline_spec_pb2()
    got.append(hasattr(module, "PipelineSpec"))

threads = [threading.Thread(target=first_use, args=(i * 0.05,)) for i in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"whole": got, "loads": open(sys.argv[1]).read().count("loaded")}))
"""


def test_threads_using_the_protos_first_at_once_each_get_the_whole_module(tmp_path):
    # A stand-in kfp SDK whose protos take 0.3 s to load: what a thread that finds the
    # module while it loads gets back is seen. The SDK's __init__ must never run.
    sdk = tmp_path / "sdk" / "kfp"
    (sdk / "pipeline_spec").mkdir(parents=True)
    (sdk / "__init__.py").write_text("raise ImportError('the SDK was imported')\n")
    (sdk / "pipeline_spec" / "__init__.py").write_text("")
    log = tmp_path / "loads.log"
    (sdk / "pipeline_spec" / "pipeline_spec_pb2.py").write_text(
        f"import time\nopen({str(log)!r}, 'a').write('loaded\\n')\n"
        "time.sleep(0.3)\nPipelineSpec = object\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(sdk.parent), str(SRC)])}
    report = _run(tmp_path, _THREADS_AT_ONCE, str(log), env=env)
    assert report == {"whole": [True] * 8, "loads": 1}
