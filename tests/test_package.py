"""The public surface of the `pinnace` package: exports, laziness, typing marker."""

import subprocess
import sys
from pathlib import Path

import pinnace


def test_all_is_sorted_and_every_name_resolves():
    assert pinnace.__all__ == sorted(pinnace.__all__)
    for name in pinnace.__all__:
        assert getattr(pinnace, name) is not None


def test_unknown_attribute_raises_attribute_error():
    try:
        pinnace.no_such_thing
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_pinnace_loads_no_heavy_module():
    code = (
        "import sys, pinnace\n"
        "heavy = ['sqlalchemy', 'alembic', 'fsspec', 'yaml', 'google.protobuf', 'click']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_package_is_typed():
    assert (Path(pinnace.__file__).parent / "py.typed").is_file()
