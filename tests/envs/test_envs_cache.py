"""The environment cache with real uv builds from the package index this machine uses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pinnace.envs.cache import MARKER, EnvironmentCache
from pinnace.errors import EnvironmentBuildError, UserInputError

SRC = str(Path(__file__).parents[2] / "src")


def _real_uv() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


@pytest.fixture
def counting_uv(tmp_path):
    """A uv that logs each call (and sleeps PINNACE_TEST_UV_SLEEP seconds) before running."""
    log = tmp_path / "uv-calls.log"
    script = tmp_path / "uv"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$1" >> "{log}"\n'
        'if [ "$1" = pip ] && [ -n "$PINNACE_TEST_UV_SLEEP" ]; then\n'
        '  sleep "$PINNACE_TEST_UV_SLEEP"\n'
        "fi\n"
        f'exec "{_real_uv()}" "$@"\n'
    )
    script.chmod(0o755)
    return script, log


def _calls(log: Path) -> list[str]:
    return log.read_text().split() if log.exists() else []


def _run(python: Path, code: str) -> str:
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.mark.index
def test_builds_once_then_reuses_without_calling_uv(tmp_path, counting_uv):
    uv, log = counting_uv
    root = tmp_path / "envs"
    first = EnvironmentCache(root, uv=str(uv)).ensure(["Six==1.17.0"])
    assert not first.reused and first.build_seconds > 0
    assert first.requirements == ("six==1.17.0",)
    assert _calls(log) == ["venv", "pip"]
    assert _run(first.python, "import six; print(six.__version__)") == "1.17.0"
    assert first.python.is_relative_to(root / first.key)

    # A new cache object (as in another pinnace process) with no working uv at all.
    again = EnvironmentCache(root, uv="/nonexistent/uv").ensure(["six==1.17.0"])
    assert again.reused and again.python == first.python and again.key == first.key
    assert _calls(log) == ["venv", "pip"]
    assert not list((root / ".building").iterdir())


def test_empty_package_list_uses_the_base_interpreter(tmp_path):
    env = EnvironmentCache(tmp_path, uv="/nonexistent/uv").ensure([])
    assert env.python == Path(sys.executable)
    assert env.requirements == () and env.reused
    assert not (tmp_path / env.key).exists()


def test_current_is_the_running_interpreter():
    env = EnvironmentCache.current()
    assert env.python == Path(sys.executable) and env.requirements == ()


def test_key_depends_on_requirements_and_index_urls(tmp_path):
    cache = EnvironmentCache(tmp_path)
    assert cache.key_for(["six"]) == cache.key_for(["six"])
    assert cache.key_for(["six"]) != cache.key_for(["six==1.17.0"])
    assert cache.key_for(["six"]) != cache.key_for(["six"], ["https://mirror.example/simple"])


def test_sklearn_is_installed_as_scikit_learn(tmp_path):
    with pytest.raises(EnvironmentBuildError) as caught:
        EnvironmentCache(tmp_path, offline=True).ensure(["sklearn==0.0.0.0.1"])
    assert caught.value.packages == ["scikit-learn==0.0.0.0.1"]


def test_malformed_requirement_is_a_user_error_before_any_build(tmp_path):
    with pytest.raises(UserInputError, match="'six=='"):
        EnvironmentCache(tmp_path, uv="/nonexistent/uv").ensure(["six=="])


@pytest.mark.index
def test_two_processes_build_the_same_environment_once(tmp_path, counting_uv):
    uv, log = counting_uv
    code = (
        "import sys; from pathlib import Path; from pinnace.envs.cache import EnvironmentCache\n"
        f"cache = EnvironmentCache(Path({str(tmp_path / 'envs')!r}), uv={str(uv)!r})\n"
        "env = cache.ensure(['six'])\n"
        "print(env.reused, env.python)\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC, "PINNACE_TEST_UV_SLEEP": "1"}
    procs = [
        subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(o[0] for o in outputs) == ["False", "True"]
    assert outputs[0][1] == outputs[1][1]
    assert _calls(log) == ["venv", "pip"]


@pytest.mark.index
def test_a_killed_build_leaves_no_environment_and_the_next_build_succeeds(tmp_path, counting_uv):
    uv, log = counting_uv
    root = tmp_path / "envs"
    code = (
        "from pathlib import Path; from pinnace.envs.cache import EnvironmentCache\n"
        f"EnvironmentCache(Path({str(root)!r}), uv={str(uv)!r}).ensure(['six'])\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC, "PINNACE_TEST_UV_SLEEP": "30"}
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, start_new_session=True)
    deadline = time.monotonic() + 30
    while "pip" not in _calls(log) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the build's own process group: pinnace and uv
    proc.wait()
    assert list((root / ".building").iterdir())  # the half-built environment is still there
    assert not [p for p in root.iterdir() if not p.name.startswith(".")]

    env_ = EnvironmentCache(root, uv=str(uv)).ensure(["six"])
    assert not env_.reused and (env_.python.parents[1] / MARKER).is_file()
    assert not list((root / ".building").iterdir())  # the killed build's leftovers are gone


def test_unknown_package_names_the_package_and_index(tmp_path):
    with pytest.raises(EnvironmentBuildError) as caught:
        EnvironmentCache(tmp_path).ensure(["six", "pinnace-no-such-package-zq7"])
    error = caught.value
    assert error.packages == ["pinnace-no-such-package-zq7"]
    text = str(error)
    assert "cannot install pinnace-no-such-package-zq7 from " in text
    assert "error: " in text and "Traceback" not in text
    assert "--offline" in text and "UV_INDEX_URL" in text
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".")]


@pytest.mark.parametrize("offline", [True, False])
def test_unreachable_index_gives_a_clear_error(tmp_path, monkeypatch, offline):
    monkeypatch.setenv("UV_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    # A package that is in no cache, so that offline mode cannot succeed either.
    with pytest.raises(EnvironmentBuildError) as caught:
        EnvironmentCache(tmp_path, offline=offline).ensure(["pinnace-absent-zq8"])
    text = str(caught.value)
    assert caught.value.packages == ["pinnace-absent-zq8"]
    assert "UV_INDEX_URL=http://127.0.0.1:9/simple" in text
    assert ("cache" if offline else "127.0.0.1:9") in text
    assert len(text.splitlines()) < 20


@pytest.mark.index
def test_a_folder_without_marker_is_rebuilt(tmp_path):
    cache = EnvironmentCache(tmp_path)
    key = cache.key_for(["six"])
    (tmp_path / key / "bin").mkdir(parents=True)  # looks like an environment, is not one
    env = cache.ensure(["six"])
    assert not env.reused
    assert _run(env.python, "import six; print('ok')") == "ok"


def test_missing_interpreter_is_reported(tmp_path):
    with pytest.raises(EnvironmentBuildError, match="not found"):
        EnvironmentCache(tmp_path, python="python-that-does-not-exist-9")


@pytest.mark.index
def test_two_threads_build_the_same_environment_once(tmp_path, counting_uv, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    uv, log = counting_uv
    monkeypatch.setenv("PINNACE_TEST_UV_SLEEP", "1")
    cache = EnvironmentCache(tmp_path / "envs", uv=str(uv))
    with ThreadPoolExecutor(2) as pool:
        envs = list(pool.map(lambda _: cache.ensure(["six"]), range(2)))
    assert sorted(e.reused for e in envs) == [False, True]
    assert _calls(log) == ["venv", "pip"]


@pytest.mark.index
def test_a_fixed_name_is_installed_and_reported(tmp_path):
    env = EnvironmentCache(tmp_path).ensure(["yaml"])  # the import name of pyyaml
    assert env.requirements == ("pyyaml",)
    assert [(f.original, f.replacement) for f in env.fixes] == [("yaml", "pyyaml")]
    assert _run(env.python, "import yaml; print(yaml.safe_load('a: 1'))") == "{'a': 1}"


# -- identical installs are one environment ------------------------------------------------

#: python-dateutil depends on six: both sets install exactly the same distributions
_DATEUTIL = ["python-dateutil==2.9.0.post0"]
_DATEUTIL_SIX = ["python-dateutil==2.9.0.post0", "six==1.17.0"]


def _folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if not p.name.startswith("."))


@pytest.mark.index
def test_a_set_installing_the_same_distributions_is_an_alias(tmp_path, counting_uv):
    uv, log = counting_uv
    root = tmp_path / "envs"
    cache = EnvironmentCache(root, uv=str(uv))
    first = cache.ensure(_DATEUTIL)
    second = cache.ensure(_DATEUTIL_SIX)
    assert first.alias_of == "" and first.folder_key == first.key
    assert not second.reused and second.key != first.key
    assert second.alias_of == first.key == second.folder_key
    assert second.python == first.python and second.requirements == (
        "python-dateutil==2.9.0.post0",
        "six==1.17.0",
    )
    assert _folders(root) == [first.key]  # the duplicate was removed
    assert not list((root / ".building").iterdir())
    assert cache.aliases() == {second.key: first.key}
    marker = json.loads((root / first.key / MARKER).read_text())
    assert len(marker["fingerprint"]) == 64
    assert _calls(log) == ["venv", "pip", "venv", "pip"]

    # Another process: both sets find the one environment, nothing is built.
    again = EnvironmentCache(root, uv="/nonexistent/uv")
    found = again.find(_DATEUTIL_SIX)
    assert found is not None and found.python == first.python and found.alias_of == first.key
    reused = again.ensure(_DATEUTIL_SIX)
    assert reused.reused and reused.python == first.python and reused.key == second.key
    assert again.ensure(_DATEUTIL).alias_of == ""
    assert _run(reused.python, "import dateutil, six; print(six.__version__)") == "1.17.0"


@pytest.mark.index
def test_a_different_version_is_not_an_alias(tmp_path):
    cache = EnvironmentCache(tmp_path)
    old, new = cache.ensure(["six==1.16.0"]), cache.ensure(["six==1.17.0"])
    assert old.alias_of == new.alias_of == "" and old.python != new.python
    assert _folders(tmp_path) == sorted([old.key, new.key]) and cache.aliases() == {}
    assert _run(old.python, "import six; print(six.__version__)") == "1.16.0"


@pytest.mark.index
def test_two_processes_building_identical_sets_make_one_environment(tmp_path, counting_uv):
    uv, log = counting_uv
    root = tmp_path / "envs"
    code = (
        "import sys; from pathlib import Path; from pinnace.envs.cache import EnvironmentCache\n"
        f"cache = EnvironmentCache(Path({str(root)!r}), uv={str(uv)!r})\n"
        "env = cache.ensure(sys.argv[1:])\n"
        "print(env.python)\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC, "PINNACE_TEST_UV_SLEEP": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, *packages], env=env, stdout=subprocess.PIPE, text=True
        )
        for packages in (_DATEUTIL, _DATEUTIL_SIX)
    ]
    outputs = [p.communicate(timeout=180)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert _calls(log).count("pip") == 2  # both built (at the same time: 1 s sleeps each)
    assert outputs[0] == outputs[1]  # ... and both got one environment
    folders = _folders(root)
    assert len(folders) == 1 and outputs[0] == str(root / folders[0] / "bin" / "python")
    assert list(EnvironmentCache(root).aliases().values()) == folders
    assert not list((root / ".building").iterdir())


@pytest.mark.index
def test_an_environment_built_before_fingerprints_is_still_shared(tmp_path):
    root = tmp_path / "envs"
    first = EnvironmentCache(root).ensure(_DATEUTIL)
    marker = root / first.key / MARKER
    old = json.loads(marker.read_text())
    del old["fingerprint"]  # as an older Pinnace wrote it
    marker.write_text(json.dumps(old))
    second = EnvironmentCache(root).ensure(_DATEUTIL_SIX)
    assert second.alias_of == first.key and second.python == first.python


@pytest.mark.index
def test_an_alias_of_a_removed_environment_is_rebuilt_and_collected(tmp_path):
    import shutil

    from pinnace.housekeeping import find_garbage
    from pinnace.settings import Settings
    from pinnace.stores.sql import SqlMetadataStore

    settings = Settings.load(env={}, home=tmp_path / "home")
    root = settings.envs_dir
    cache = EnvironmentCache(root)
    first, second = cache.ensure(_DATEUTIL), cache.ensure(_DATEUTIL_SIX)
    assert second.alias_of == first.key
    metadata = SqlMetadataStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert find_garbage(settings, metadata) == []  # an alias in use is not garbage

    shutil.rmtree(root / first.key)  # removed by hand
    assert cache.find(_DATEUTIL_SIX) is None
    garbage = find_garbage(settings, metadata)
    assert [(g.path, g.reason) for g in garbage] == [
        (root / ".aliases" / f"{second.key}.json", "alias of a removed environment")
    ]
    rebuilt = cache.ensure(_DATEUTIL_SIX)  # its own environment now; the alias is gone
    assert not rebuilt.reused and rebuilt.alias_of == "" and cache.aliases() == {}
    assert _folders(root) == [second.key]


def test_a_half_written_alias_is_a_stale_build_and_a_bad_alias_is_ignored(tmp_path):
    cache = EnvironmentCache(tmp_path, uv="/nonexistent/uv")
    (tmp_path / ".building").mkdir()
    half = tmp_path / ".building" / "0123abcd-x1y2"  # a killed alias write (a file)
    half.write_text('{"environment": ')
    assert cache.stale_builds() == [half]
    assert cache.remove_stale_builds() == 1 and not half.exists()

    key = cache.key_for(["six"])
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / MARKER).write_text("{}")
    (tmp_path / ".aliases").mkdir()
    for bad in ('{"environment": "../target"}', "not json", '{"other": 1}'):
        (tmp_path / ".aliases" / f"{key}.json").write_text(bad)
        assert cache.folder_of(key) is None and cache.find(["six"]) is None
    (tmp_path / ".aliases" / f"{key}.json").write_text('{"environment": "target"}')
    found = cache.find(["six"])
    assert found is not None and found.alias_of == "target" and found.key == key
    assert found.python == tmp_path / "target" / "bin" / "python"
