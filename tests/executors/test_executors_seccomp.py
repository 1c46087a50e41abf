"""The keyring filter of sandboxed steps: its program, and its file kept in a private folder."""

from __future__ import annotations

import os
import shutil
import struct

from pinnace.executors import _seccomp


def _instructions(code: bytes) -> list[tuple[int, int, int, int]]:
    return [struct.unpack("=HBBI", code[i : i + 8]) for i in range(0, len(code), 8)]


def test_the_filter_refuses_the_keyring_calls_of_each_known_arch() -> None:
    for machine, numbers in (("x86_64", {248, 249, 250, 286, 287, 288}), ("aarch64", None)):
        code = _seccomp.program(machine)
        assert code is not None and len(code) % 8 == 0
        ops = _instructions(code)
        refused = {k for op, _jt, _jf, k in ops if op == 0x15 and k < 0x1000}
        if numbers is not None:
            assert refused == numbers
        assert ops[-1] == (0x06, 0, 0, 0x7FFF0000)  # any other arch: allowed
        assert (0x06, 0, 0, 0x00050000 | 1) in ops  # EPERM
    assert _seccomp.program("mips") is None


def test_the_filter_file_is_written_again_and_its_folder_made_again() -> None:
    path = _seccomp.keyring_filter()
    if path is None:
        return  # a machine the filter does not know
    assert path.read_bytes() == _seccomp.program()
    path.unlink()  # a /tmp cleaner took it
    assert _seccomp.keyring_filter() == path and path.is_file()
    folder = path.parent
    os.chmod(folder, 0o755)  # no longer this process's alone: another one is made
    again = _seccomp.keyring_filter()
    assert again is not None and again.parent != folder and again.is_file()
    assert oct(again.parent.stat().st_mode & 0o777) == "0o700"
    shutil.rmtree(folder)
