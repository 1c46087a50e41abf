"""The fingerprint of an environment's installs: equal exactly when the installs are."""

from __future__ import annotations

import shutil
from pathlib import Path

from pinnace.envs.fingerprint import fingerprint

_RECORD = (
    "six.py,sha256=4721f391ed90541fddacab5acf947aa0d3dc7d27,34703\n"
    "six-1.17.0.dist-info/METADATA,sha256=ab12,1658\n"
    "six-1.17.0.dist-info/INSTALLER,sha256=5hhM4Q,2\n"
    "six-1.17.0.dist-info/RECORD,,\n"
)


def _venv(root: Path, *, record: str = _RECORD, requested: bool = False) -> Path:
    site = root / "lib" / "python3.11" / "site-packages"
    info = site / "six-1.17.0.dist-info"
    info.mkdir(parents=True)
    (root / "pyvenv.cfg").write_text("home = /usr/bin\nversion_info = 3.11.7\n")
    (site / "six.py").write_text("# six\n")
    (site / "_virtualenv.pth").write_text("import _virtualenv\n")
    if requested:
        (info / "REQUESTED").write_text("")
        record += "six-1.17.0.dist-info/REQUESTED,sha256=47DEQp,0\n"
    (info / "RECORD").write_text(record)
    return root


def test_equal_installs_have_equal_fingerprints_whatever_was_requested(tmp_path):
    one = fingerprint(_venv(tmp_path / "a"))
    assert len(one) == 64
    # Asked for by name or installed as a dependency: the same installs.
    assert fingerprint(_venv(tmp_path / "b", requested=True)) == one
    # Bytecode written by tasks later is in no RECORD.
    cache = tmp_path / "a" / "lib" / "python3.11" / "site-packages" / "__pycache__"
    cache.mkdir()
    (cache / "six.cpython-311.pyc").write_bytes(b"\0")
    assert fingerprint(tmp_path / "a") == one


def test_any_difference_in_what_is_installed_changes_it(tmp_path):
    base = fingerprint(_venv(tmp_path / "base"))
    other_hash = _RECORD.replace("4721f391", "0000f391")
    assert fingerprint(_venv(tmp_path / "hash", record=other_hash)) != base
    site = "lib/python3.11/site-packages"
    extra = _venv(tmp_path / "extra")
    (extra / site / "extra.pth").write_text("/somewhere\n")
    assert fingerprint(extra) != base
    renamed = _venv(tmp_path / "version")
    shutil.move(renamed / site / "six-1.17.0.dist-info", renamed / site / "six-1.16.0.dist-info")
    assert fingerprint(renamed) != base
    interpreter = _venv(tmp_path / "interpreter")
    (interpreter / "pyvenv.cfg").write_text("home = /usr/bin\nversion_info = 3.12.1\n")
    assert fingerprint(interpreter) != base
