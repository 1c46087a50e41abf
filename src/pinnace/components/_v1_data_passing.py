"""kfp 1.8's type names, default-value serializers and the helper code its programs embed."""

from __future__ import annotations

import base64
import json
import pickle
import re
from typing import Any

# The helper functions below are program *text* that kfp 1.8 writes into every
# component program; they must stay byte-identical to kfp's for the specs to match.
MAKE_PARENT_DIRS = """\
def _make_parent_dirs_and_return_path(file_path: str):
    import os
    os.makedirs(os.path.dirname(file_path), exist_ok=True)
    return file_path
"""
OPEN_FILE_MAKER = """\
def _parent_dirs_maker_that_returns_open_file(mode: str, encoding: str = None):

    def make_parent_dirs_and_return_path(file_path: str):
        import os
        os.makedirs(os.path.dirname(file_path), exist_ok=True)
        return open(file_path, mode=mode, encoding=encoding)

    return make_parent_dirs_and_return_path
"""
_DESERIALIZE_BOOL = """\
def _deserialize_bool(s) -> bool:
    from distutils.util import strtobool
    return strtobool(s) == 1
"""
_DESERIALIZE_PICKLE = """\
def _deserialize_base64_pickle(s):
    import base64
    import pickle
    return pickle.loads(base64.b64decode(s))
"""


def _check(kind: str, accepted: str) -> str:
    return f"""\
def _serialize_{kind}({kind}_value: {kind}) -> str:
    if isinstance({kind}_value, str):
        return {kind}_value
    if not isinstance({kind}_value, {accepted}):
        raise TypeError('Value "{{}}" has type "{{}}" instead of {kind}.'.format(
            str({kind}_value), str(type({kind}_value))))
    return str({kind}_value)
"""


_SERIALIZE_STR = """\
def _serialize_str(str_value: str) -> str:
    if not isinstance(str_value, str):
        raise TypeError('Value "{}" has type "{}" instead of str.'.format(
            str(str_value), str(type(str_value))))
    return str_value
"""
_SERIALIZE_INT = _check("int", "int")
_SERIALIZE_FLOAT = _check("float", "(float, int)")
_SERIALIZE_BOOL = _check("bool", "bool")
_SERIALIZE_JSON = """\
def _serialize_json(obj) -> str:
    if isinstance(obj, str):
        return obj
    import json

    def default_serializer(obj):
        if hasattr(obj, 'to_struct'):
            return obj.to_struct()
        else:
            raise TypeError(
                "@MESSAGE@"
                % obj.__class__.__name__)

    return json.dumps(obj, default=default_serializer, sort_keys=True)
""".replace(
    "@MESSAGE@",
    "Object of type '%s' is not JSON serializable and does not have .to_struct() method.",
)
_SERIALIZE_PICKLE = """\
def _serialize_base64_pickle(obj) -> str:
    if isinstance(obj, str):
        return obj
    import base64
    import pickle
    return base64.b64encode(pickle.dumps(obj)).decode('ascii')
"""


def _to_struct(obj: Any) -> Any:
    if hasattr(obj, "to_struct"):
        return obj.to_struct()
    raise TypeError(f"Object of type {type(obj).__name__!r} is not JSON serializable")


def _value_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"value {value!r} is a {type(value).__name__}, not a str")
    return value


def _value_of(*accepted: type):
    def serialize(value: Any) -> str:
        if not isinstance(value, accepted):
            raise TypeError(f"value {value!r} is a {type(value).__name__}")
        return str(value)

    return serialize


# One row per kfp 1.8 converter: (python type or None, type names (canonical first),
# default-value serializer, argparse deserializer code, its definition, serializer source).
_CONVERTERS = [
    (str, ("String", "str"), _value_str, "str", None, _SERIALIZE_STR),
    (int, ("Integer", "int"), _value_of(int), "int", None, _SERIALIZE_INT),
    (float, ("Float", "float"), _value_of(float, int), "float", None, _SERIALIZE_FLOAT),
    (bool, ("Boolean", "Bool", "bool"), _value_of(bool), "_deserialize_bool",
     _DESERIALIZE_BOOL, _SERIALIZE_BOOL),
    (list, ("JsonArray", "List", "list"),
     lambda v: json.dumps(v, default=_to_struct, sort_keys=True), "json.loads",
     "import json", _SERIALIZE_JSON),
    (dict, ("JsonObject", "Dictionary", "Dict", "dict"),
     lambda v: json.dumps(v, default=_to_struct, sort_keys=True), "json.loads",
     "import json", _SERIALIZE_JSON),
    (None, ("Json",), lambda v: json.dumps(v, default=_to_struct, sort_keys=True),
     "json.loads", "import json", _SERIALIZE_JSON),
    (None, ("Base64Pickle",), lambda v: base64.b64encode(pickle.dumps(v)).decode("ascii"),
     "_deserialize_base64_pickle", _DESERIALIZE_PICKLE, _SERIALIZE_PICKLE),
]  # fmt: skip
_BY_TYPE = {row[0]: row for row in _CONVERTERS if row[0] is not None}
_BY_NAME = {name: row for row in _CONVERTERS for name in row[1]}


def canonical_type_name(python_type: type) -> str | None:
    """`str` -> "String", `list` -> "JsonArray"...; None for types kfp has no name for."""
    row = _BY_TYPE.get(python_type)
    return row[1][0] if row else None


def _short_name(type_name: Any) -> str | None:
    # "typing.List[int]" -> "List", as kfp looks serializers up by the bare name.
    if not isinstance(type_name, str):
        return None
    match = re.match(r"(typing\.)?(?P<type>\w+)(?:\[.+\])?", type_name)
    return match.group("type") if match else type_name


def serialize_default(value: Any, type_name: str | None) -> str:
    """Serialize a parameter default to the string kfp 1.8 stores; raise if it cannot."""
    if isinstance(value, str):
        return value
    if type_name is None:
        type_name = canonical_type_name(type(value)) or type(value).__name__
    row = _BY_NAME.get(_short_name(type_name) or "")
    if row is None:
        raise TypeError(f"there is no serializer for type {type_name!r}")
    return row[2](value)


def deserializer_for(type_struct: Any) -> tuple[str, str | None]:
    """(argparse `type=` code, definition it needs) for an input's type; `str` by default."""
    row = _BY_NAME.get(_short_name(type_struct) or "")
    return (row[3], row[4]) if row else ("str", None)


def serializer_for(type_struct: Any) -> tuple[str, str | None]:
    """(function name, its source) that writes a returned value of this type; `str` default."""
    row = _BY_NAME.get(_short_name(type_struct) or "")
    if row is None:
        return "str", None
    source = row[5]
    return source[len("def ") : source.index("(")], source
