"""CEL expressions as KFP writes them: trigger conditions and parameter selectors.

KFP's backend evaluates `triggerPolicy.condition` with `inputs.parameter_values` bound to
the task's input parameters (protobuf Values, so every number is a double), and a
`parameterExpressionSelector` with the input value bound as `string_value` (and friends),
with a `parseJson` function. We do the same with cel-python.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from ..errors import SpecError


def evaluate_condition(expression: str, parameters: Mapping[str, Any], *, task: str) -> bool:
    """Whether a task whose inputs are `parameters` runs; SpecError names task and expression."""
    value = _evaluate(expression, {"inputs": {"parameter_values": dict(parameters)}}, task)
    if not isinstance(value, bool):
        raise SpecError(
            f"task {task!r}: condition {expression!r} gave {value!r}, not a boolean",
        )
    return value


def select(expression: str, value: Any, *, task: str) -> Any:
    """Apply a `parameterExpressionSelector` (e.g. `parseJson(string_value)["a"]`) to `value`."""
    text = value if isinstance(value, str) else json.dumps(value)
    variables: dict[str, Any] = {"string_value": text}
    if isinstance(value, Mapping):
        variables["struct_value"] = value
    elif isinstance(value, list):
        variables["list_value"] = value
    elif isinstance(value, bool):
        variables["bool_value"] = value
    elif isinstance(value, (int, float)):
        variables["number_value"] = value
    return _evaluate(expression, variables, task)


_HINT = "check the input values the expression reads (see the task's inputs)"


def _evaluate(expression: str, variables: Mapping[str, Any], task: str) -> Any:
    import celpy

    where = f"task {task!r}: cannot evaluate {expression!r}"
    try:
        program = _program(expression)
        activation = {name: _to_cel(value) for name, value in variables.items()}
        result = program.evaluate(activation)
    except (celpy.CELParseError, celpy.CELEvalError) as exc:
        raise SpecError(f"{where}: {_reason(exc)}", hint=_HINT) from None
    except Exception as exc:  # cel-python raises plain errors for some type mismatches
        raise SpecError(f"{where}: {type(exc).__name__}: {exc}", hint=_HINT) from None
    if isinstance(result, celpy.CELEvalError):
        raise SpecError(f"{where}: {_reason(result)}", hint=_HINT)
    return _from_cel(result)


@lru_cache(maxsize=256)
def _program(expression: str) -> Any:
    import celpy

    environment = celpy.Environment()
    return environment.program(
        environment.compile(expression), functions={"parseJson": _parse_json}
    )


def _parse_json(text: Any) -> Any:
    import celpy

    try:
        return _to_cel(json.loads(str(text)))
    except ValueError as exc:
        return celpy.CELEvalError(f"parseJson: not JSON: {str(text)[:80]!r} ({exc})")


def _reason(exc: BaseException) -> str:
    args: tuple[Any, ...] = getattr(exc, "args", ())
    # CELEvalError args: (message, exception type, exception args)
    if len(args) >= 3 and args[2]:
        return f"{args[0]}: {args[2][0]}"
    return str(args[0]).strip().splitlines()[0] if args else repr(exc)


def _to_cel(value: Any) -> Any:
    """JSON value -> CEL value; numbers become doubles, as protobuf Values are in KFP."""
    from celpy import celtypes

    if value is None:
        return None
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, (int, float)):
        return celtypes.DoubleType(float(value))
    if isinstance(value, str):
        return celtypes.StringType(value)
    if isinstance(value, Mapping):
        return celtypes.MapType({celtypes.StringType(str(k)): _to_cel(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return celtypes.ListType([_to_cel(v) for v in value])
    return celtypes.StringType(str(value))


def _from_cel(value: Any) -> Any:
    """CEL value -> plain JSON-compatible Python value."""
    from celpy import celtypes

    if value is None or isinstance(value, celtypes.NullType):
        return None
    if isinstance(value, celtypes.BoolType):
        return bool(value)
    if isinstance(value, (celtypes.IntType, celtypes.UintType)):
        return int(value)
    if isinstance(value, celtypes.DoubleType):
        number = float(value)
        return int(number) if number.is_integer() else number
    if isinstance(value, celtypes.StringType):
        return str(value)
    if isinstance(value, celtypes.MapType):
        return {str(k): _from_cel(v) for k, v in value.items()}
    if isinstance(value, celtypes.ListType):
        return [_from_cel(v) for v in value]
    if isinstance(value, bool):
        return value
    return value
