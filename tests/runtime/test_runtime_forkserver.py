"""The fork server's preload (runtime/forkserver.py): what its imports print."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_PRELOAD = """
import sys
sys.path.insert(0, sys.argv[1])
from pinnace.runtime import forkserver
forkserver.preload([["loud_program", []]], [["loud_learned", []]])
import loud_learned  # imported all the same, only silenced
print("after", loud_learned.NAME, flush=True)
"""


def test_what_a_learned_import_prints_is_dropped_and_a_programs_import_kept(
    tmp_path: Path,
) -> None:
    """Learned modules were imported by some earlier task, not by the next: their output
    would otherwise reach every later task's log (review 2). C-level writes included."""
    for name in ("loud_program", "loud_learned"):
        (tmp_path / f"{name}.py").write_text(
            "import os, sys\n"
            f"NAME = {name!r}\n"
            f"print('printed by {name}')\n"
            f"sys.stderr.write('stderr of {name}\\n')\n"
            f"os.write(1, b'fd write of {name}\\n')\n"
        )
    output = tmp_path / "server.log"
    with open(output, "wb") as out:
        done = subprocess.run(
            [sys.executable, "-c", _PRELOAD, str(tmp_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=60,
        )
    text = output.read_text()
    assert done.returncode == 0, text
    assert "printed by loud_program" in text and "fd write of loud_program" in text
    assert "loud_learned" not in text.replace("after loud_learned", "")
    assert "after loud_learned" in text  # stdout works again after the learned imports
