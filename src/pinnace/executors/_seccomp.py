"""A seccomp filter for sandboxed steps: no kernel keyrings (add_key, request_key, keyctl).

Keyrings are not namespaced the way a sandbox needs: a process keeps its starter's session
keyring (a step started by a server could read the keys the server's session holds: Kerberos
tickets, credential helpers' secrets), and the user keyring of a uid is one for every process
of that uid (all steps run as `nobody` when root starts them: one step could leave keys there
for another, of another owner, to read). As container runtimes do (Docker's default profile),
a step gets EPERM from these three calls.

The filter is classic BPF, as bwrap's `--seccomp FD` reads it; it knows the machine's native
and compat system-call numbers (x86-64 with x32 and i386; aarch64 with arm). Elsewhere there
is no filter (`keyring_filter` returns None).
"""

from __future__ import annotations

import errno
import os
import platform
import stat
import struct
import tempfile
from pathlib import Path

_LD_W_ABS, _JEQ_K, _AND_K, _RET_K = 0x20, 0x15, 0x54, 0x06
_NR, _ARCH = 0, 4  # offsets in struct seccomp_data
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_X32_BIT = 0x40000000

#: machine -> (audit arch, mask applied to the number, add_key/request_key/keyctl numbers)
_ARCHES = {
    "x86_64": (
        (0xC000003E, ~_X32_BIT & 0xFFFFFFFF, (248, 249, 250)),  # x86-64 and x32
        (0x40000003, None, (286, 287, 288)),  # i386
    ),
    "aarch64": (
        (0xC00000B7, None, (217, 218, 219)),
        (0x40000028, None, (309, 310, 311)),  # arm (compat)
    ),
}


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program(machine: str | None = None) -> bytes | None:
    """The filter's BPF for `machine` (default: this one), or None where it is not known."""
    arches = _ARCHES.get(machine or platform.machine())
    if arches is None:
        return None
    code = [_op(_LD_W_ABS, _ARCH)]
    for arch, mask, numbers in arches:
        block = [_op(_LD_W_ABS, _NR)]
        if mask is not None:
            block.append(_op(_AND_K, mask))
        # each match jumps to the block's last instruction: the refusal
        for i, number in enumerate(numbers):
            block.append(_op(_JEQ_K, number, jt=len(numbers) - i))
        block += [_op(_RET_K, _ALLOW), _op(_RET_K, _ERRNO | errno.EPERM)]
        code.append(_op(_JEQ_K, arch, jf=len(block)))  # another arch: skip the block
        code += block
    code.append(_op(_RET_K, _ALLOW))
    return b"".join(code)


_FOLDER: list[Path] = []


def _folder() -> Path:
    """This process's private folder for the filter: made again if it went, or if what
    stands at its path is not a folder of this user's alone (a cleaner of /tmp took it, and
    someone else made one there)."""
    if _FOLDER:
        try:
            info = os.lstat(_FOLDER[0])
        except FileNotFoundError:
            info = None
        if info is not None and _private_folder(info):
            return _FOLDER[0]
        _FOLDER.clear()
    _FOLDER.append(Path(tempfile.mkdtemp(prefix="pinnace-seccomp-")))
    return _FOLDER[0]


def _private_folder(info: os.stat_result) -> bool:
    mode = info.st_mode
    return stat.S_ISDIR(mode) and info.st_uid == os.geteuid() and stat.S_IMODE(mode) == 0o700


def keyring_filter() -> Path | None:
    """A file holding the filter (written again if it went), or None on a machine the
    filter does not know."""
    code = program()
    if code is None:
        return None
    folder = _folder()
    path = folder / "keyrings.bpf"
    if not path.is_file() or path.is_symlink():
        aside = folder / f".keyrings.{os.getpid()}"
        aside.write_bytes(code)
        os.replace(aside, path)
    return path
