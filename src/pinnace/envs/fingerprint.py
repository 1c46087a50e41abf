"""The exact fingerprint of what an environment has installed: two equal ones are one install.

It hashes the environment's `pyvenv.cfg` (base interpreter, its version, the uv that made it),
the top-level entries of its site-packages (the `.pth` and `.py` files by content: a `.pth`
runs at start-up), and every distribution's `*.dist-info` name (name and version) with its
`RECORD`: the path, hash and size of every file the installer wrote. `REQUESTED` and
`INSTALLER` lines are left out: they say which packages were asked for and by which tool, not
what is installed (pip marks only the requested ones). Bytecode written later by tasks is in
no RECORD, so the fingerprint of an environment does not change while it is used.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: bump when what the fingerprint covers changes (old and new ones never compare equal)
_VERSION = "1"
_NOT_INSTALLS = ("/REQUESTED,", "/INSTALLER,")


def fingerprint(venv: Path) -> str:
    """The fingerprint of the environment at `venv` (raises OSError when it is unreadable)."""
    digest = hashlib.sha256(f"pinnace-env-fingerprint {_VERSION}\n".encode())
    digest.update((venv / "pyvenv.cfg").read_bytes())
    sites = sorted(venv.glob("lib/python*/site-packages")) + sorted(venv.glob("Lib/site-packages"))
    for site in sites:
        digest.update(f"\0site {site.relative_to(venv).as_posix()}\n".encode())
        for name in sorted(os.listdir(site)):
            if name == "__pycache__":
                continue
            digest.update(f"\0entry {name}\n".encode())
            if name.endswith(".dist-info"):
                digest.update(_record(site / name))
            elif name.endswith((".pth", ".py")) and (site / name).is_file():
                digest.update((site / name).read_bytes())
    return digest.hexdigest()


def _record(info: Path) -> bytes:
    try:
        text = (info / "RECORD").read_text(encoding="utf-8", errors="surrogateescape")
    except FileNotFoundError:
        return b"\0no RECORD\n"
    lines = sorted(
        line for line in text.splitlines() if line and not any(n in line for n in _NOT_INSTALLS)
    )
    return "\n".join(lines).encode("utf-8", errors="surrogateescape")


__all__ = ["fingerprint"]
