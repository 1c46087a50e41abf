"""Kubeflow's v2beta1 wire rules: records to JSON, filters, sorting and page tokens."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from ..errors import UserInputError
from ..stores.base import ListQuery, Predicate, RecurringRunRecord

#: KFP's Filter operations, by number (the SDK) and by name (the UI)
_OPERATIONS = {
    1: "eq",
    2: "ne",
    3: "gt",
    5: "ge",
    6: "lt",
    7: "le",
    8: "in",
    9: "substring",
    "EQUALS": "eq",
    "NOT_EQUALS": "ne",
    "GREATER_THAN": "gt",
    "GREATER_THAN_EQUALS": "ge",
    "LESS_THAN": "lt",
    "LESS_THAN_EQUALS": "le",
    "IN": "in",
    "IS_SUBSTRING": "substring",
}
_SCALARS = ("string_value", "int_value", "long_value", "timestamp_value", "bool_value")
_LISTS = ("string_values", "int_values", "long_values")
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200


def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a Z, as protojson writes it."""
    if value is None:
        return None
    text = value.astimezone(timezone.utc).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z").replace(".000000Z", "Z")


def parse_timestamp(text: Any, field: str) -> datetime:
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise UserInputError(
            f"{field}: {text!r} is not an RFC 3339 timestamp", hint="e.g. 2024-01-01T12:00:00Z"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def compact(document: Mapping[str, Any]) -> dict[str, Any]:
    """Drop empty fields, as KFP's marshaller does (EmitUnpopulated: false)."""
    return {k: v for k, v in document.items() if v not in (None, "", [], {})}


def trigger(record: RecurringRunRecord) -> dict[str, Any]:
    """A recurring run's schedule as the wire's `trigger` (v1 and v2 alike)."""
    schedule = compact(
        {"start_time": timestamp(record.start_time), "end_time": timestamp(record.end_time)}
    )
    if record.cron:
        return {"cron_schedule": {**schedule, "cron": record.cron}}
    return {"periodic_schedule": {**schedule, "interval_second": str(record.interval_seconds)}}


def _camel_to_snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def _predicate(raw: Any, fields: Mapping[str, str], time_fields: frozenset[str]) -> Predicate:
    if not isinstance(raw, Mapping):
        raise UserInputError("filter: each predicate must be an object")
    raw = {_camel_to_snake(k): v for k, v in raw.items()}
    # v1beta1 names the operation `op` (kfp 1.8 sends {"op": 1, ...}), v2beta1 `operation`.
    operation = raw.get("operation", raw.get("op"))
    op = _OPERATIONS.get(operation)  # type: ignore[arg-type]
    if op is None:
        raise UserInputError(
            f"filter: unknown operation {operation!r}",
            hint="use EQUALS, NOT_EQUALS, GREATER_THAN, ..., IS_SUBSTRING",
        )
    key = raw.get("key")
    if key not in fields:
        raise UserInputError(
            f"filter: cannot filter on {key!r}",
            hint=f"filterable keys: {', '.join(sorted(fields))}",
        )
    field = fields[key]
    value = _value(raw)
    if field in time_fields:
        value = (
            [parse_timestamp(v, key) for v in value]
            if isinstance(value, list)
            else parse_timestamp(value, key)
        )
    if op == "in" and not isinstance(value, list):
        value = [value]
    return Predicate(field, op, value)


def _value(raw: Mapping[str, Any]) -> Any:
    for name in _SCALARS:
        if name in raw:
            value = raw[name]
            if name in ("int_value", "long_value"):
                return _integer(value)
            return value
    for name in _LISTS:
        if name in raw:
            values = raw[name].get("values", []) if isinstance(raw[name], Mapping) else raw[name]
            if not isinstance(values, list):
                raise UserInputError(f"filter: {name} must hold a list of values")
            return [_integer(v) for v in values] if name != "string_values" else values
    raise UserInputError("filter: a predicate needs a value (string_value, int_value, ...)")


def _integer(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UserInputError(f"filter: {value!r} is not an integer") from None


def parse_filter(
    text: str | None, fields: Mapping[str, str], time_fields: frozenset[str] = frozenset()
) -> tuple[Predicate, ...]:
    """A KFP `filter` query value (JSON, in the SDK's or the UI's spelling) as predicates."""
    if not text:
        return ()
    try:
        document = json.loads(text)
    except ValueError:
        raise UserInputError(
            "filter is not valid JSON",
            hint='e.g. {"predicates": [{"key": "display_name", '
            '"operation": "EQUALS", "string_value": "x"}]}',
        ) from None
    predicates = document.get("predicates", []) if isinstance(document, Mapping) else None
    if not isinstance(predicates, list):
        raise UserInputError("filter must be an object with a 'predicates' list")
    return tuple(_predicate(p, fields, time_fields) for p in predicates)


def parse_sort(text: str | None, fields: Mapping[str, str]) -> tuple[str, bool]:
    """`sort_by` ("name", "name asc", "created_at desc") as (record field, descending)."""
    if not text:
        return "created_at", True
    parts = text.split()
    if (
        len(parts) > 2
        or parts[0] not in fields
        or (len(parts) == 2 and parts[1] not in ("asc", "desc"))
    ):
        raise UserInputError(
            f"cannot sort by {text!r}",
            hint=f"sortable keys: {', '.join(sorted(fields))}, optionally followed by asc or desc",
        )
    return fields[parts[0]], len(parts) == 2 and parts[1] == "desc"


def page_window(page_token: str | None, page_size: int | None) -> tuple[int, int]:
    """(offset, limit) from KFP's opaque `page_token` and `page_size`."""
    size = page_size if page_size else DEFAULT_PAGE_SIZE
    if size < 0:
        raise UserInputError(f"page_size must not be negative, got {size}")
    size = min(size, MAX_PAGE_SIZE)
    if not page_token:
        return 0, size
    try:
        document = json.loads(base64.urlsafe_b64decode(page_token.encode()))
        offset = int(document["offset"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise UserInputError(
            "page_token is not one this server gave out",
            hint="pass the next_page_token of the previous page",
        ) from None
    if offset < 0:
        raise UserInputError("page_token is not one this server gave out")
    return offset, size


def next_page_token(offset: int, count: int, total: int) -> str | None:
    if offset + count >= total or count == 0:
        return None
    raw = json.dumps({"offset": offset + count}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def list_query(
    *,
    filter: str | None,
    sort_by: str | None,
    page_token: str | None,
    page_size: int | None,
    fields: Mapping[str, str],
    time_fields: frozenset[str] = frozenset(),
    extra: tuple[Predicate, ...] = (),
    namespaces: frozenset[str | None] | None = None,
) -> ListQuery:
    """The store query for one KFP list request."""
    offset, limit = page_window(page_token, page_size)
    sort_field, descending = parse_sort(sort_by, fields)
    predicates = parse_filter(filter, fields, time_fields) + extra
    return ListQuery(
        predicates=predicates,
        sort_by=sort_field,
        descending=descending,
        limit=limit,
        offset=offset,
        namespaces=namespaces,
    )


def list_response(
    key: str, records: list[dict[str, Any]], offset: int, total: int, *, omit_zero: bool = False
) -> dict[str, Any]:
    """One page as JSON. `omit_zero`: leave out a zero `total_size`, as protojson does (the
    KFP routes); an empty page is then `{}`."""
    return compact(
        {
            key: records,
            "total_size": None if omit_zero and not total else total,
            "next_page_token": next_page_token(offset, len(records), total),
        }
    )


class KfpBody(BaseModel):
    """A KFP request message: snake_case fields, with lowerCamelCase accepted too (protojson
    reads both the proto name and the JSON name). Output-only fields are accepted and ignored,
    as the SDKs may echo them."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _accept_camel_case(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        renamed: dict[str, Any] = {}
        for key, value in data.items():
            snake = _camel_to_snake(key) if isinstance(key, str) else key
            name = snake if snake in cls.model_fields else key
            if name in renamed:
                raise UserInputError(f"field {name!r} is given twice (snake_case and camelCase)")
            renamed[name] = value
        return renamed


@dataclass
class ListParams:
    """The paging, sorting and filtering query parameters every KFP list route takes.

    Used as a FastAPI dependency (`listing: ListParams = Depends()`).
    """

    page_token: str | None = None
    page_size: int | None = None
    sort_by: str | None = None
    filter: str | None = None

    def query(
        self,
        *,
        fields: Mapping[str, str],
        time_fields: frozenset[str] = frozenset(),
        extra: tuple[Predicate, ...] = (),
        namespaces: frozenset[str | None] | None = None,
    ) -> ListQuery:
        return list_query(
            filter=self.filter,
            sort_by=self.sort_by,
            page_token=self.page_token,
            page_size=self.page_size,
            fields=fields,
            time_fields=time_fields,
            extra=extra,
            namespaces=namespaces,
        )
