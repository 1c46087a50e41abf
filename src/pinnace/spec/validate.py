"""PipelineSpec validation: the kfp-pipeline-spec protos, then the graph checks they cannot do."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError
from . import entries
from .protos import pipeline_spec_pb2

__all__ = [
    "SUPPORTED_SCHEMA_VERSIONS",
    "SpecProblem",
    "check_spec",
    "validate_platform_spec",
    "validate_spec",
]

SUPPORTED_SCHEMA_VERSIONS = frozenset({"2.1.0"})


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong with a spec: the dotted path of the field and what is wrong."""

    field: str
    message: str


def validate_spec(spec: Mapping[str, Any], *, path: str | None = None) -> None:
    """Raise SpecError for the first problem in `spec`, naming its field path.

    The message also counts the other problems found, so a user fixes them in one pass.
    Example: ``validate_spec(yaml.safe_load(open("pipeline.yaml")))``.
    """
    problems = check_spec(spec)
    if not problems:
        return
    first = problems[0]
    message = first.message
    if len(problems) > 1:
        rest = "; ".join(f"{p.field}: {p.message}" for p in problems[1:6])
        message += f" (and {len(problems) - 1} more: {rest})"
    raise SpecError(
        message,
        field=first.field,
        path=path,
        hint="recompile the pipeline with kfp>=2 or pinnace, or fix the named field",
    )


def check_spec(spec: Mapping[str, Any]) -> list[SpecProblem]:
    """Every problem found in `spec` (empty when valid). Pure: no I/O."""
    if not isinstance(spec, Mapping):
        return [SpecProblem("", f"a pipeline spec must be a mapping, not {type(spec).__name__}")]
    version = spec.get("schemaVersion")
    if version is None:
        return [SpecProblem("schemaVersion", "missing; a kfp 2.x pipeline spec has 2.1.0")]
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        supported = ", ".join(sorted(SUPPORTED_SCHEMA_VERSIONS))
        return [SpecProblem("schemaVersion", f"{version!r} is not supported (use {supported})")]
    proto_problem = _proto_problem(spec, "PipelineSpec")
    if proto_problem:
        return [proto_problem]
    return list(_graph_problems(spec))


def validate_platform_spec(platform_spec: Mapping[str, Any], *, path: str | None = None) -> None:
    """Raise SpecError if `platform_spec` (the optional second YAML document) is malformed."""
    problem = _proto_problem(platform_spec, "PlatformSpec")
    if problem:
        raise SpecError(
            problem.message,
            field=problem.field,
            path=path,
            hint="the second YAML document must be a kfp platform spec",
        )


# --- proto parse -------------------------------------------------------------------------

_AT = re.compile(r'\s+at\s+"?(PipelineSpec|PlatformSpec)((?:\.|\[)[^"\s]*?)?"?\.*$')
_PREFIX = re.compile(r"^(Failed to parse \S+ field: )+")
_UNKNOWN = re.compile(r'has no field named "([^"]+)"')


def _proto_problem(doc: Mapping[str, Any], message_name: str) -> SpecProblem | None:
    # Imported here: protobuf is heavy and `import pinnace` must stay fast.
    from google.protobuf import json_format

    if message_name == "PipelineSpec" and _parses_by_entry(doc):
        return None
    message = getattr(pipeline_spec_pb2(), message_name)()
    try:
        json_format.ParseDict(doc, message)
    except json_format.ParseError as exc:
        problem = _translate_parse_error(str(exc))
        if problem.field.startswith("?"):
            chain = problem.field[1:].split(".")
            problem = SpecProblem(_locate(doc, chain, message_name, str(exc)), problem.message)
        return problem
    except Exception as exc:  # protobuf raises TypeError/ValueError on odd shapes
        return SpecProblem("", f"not a valid {message_name}: {exc}")
    return None


def _parses_by_entry(doc: Mapping[str, Any]) -> bool:
    """True when the whole PipelineSpec would parse, found entry by entry: its skeleton,
    then each distinct component, root task and executor once, names aside (`entries`); a
    wide pipeline's entries differ mostly in names. False when it would not, or when unsure:
    the whole spec is parsed then, which names what is wrong."""
    from google.protobuf import json_format, struct_pb2

    try:
        spec = dict(doc)
        found = entries.entries(spec)
        if found is None:
            return False
        components, tasks, executors = found
        protos = pipeline_spec_pb2()
        json_format.ParseDict(entries.skeleton(spec), protos.PipelineSpec())
        seen: set[str] = set()
        kinds = (
            ("component", components, protos.ComponentSpec),
            ("task", tasks, protos.PipelineTaskSpec),
            # deploymentSpec is a Struct in the PipelineSpec: any JSON value parses
            ("executor", executors, struct_pb2.Value),
        )
        for kind, found_entries, message in kinds:
            depth = 100 - entries.DEPTH[kind]
            for entry in found_entries.values():
                if isinstance(entry, dict) and kind != "executor":
                    entry = entries.template(entry, entries.name_paths(kind, entry))[0]
                key = kind + repr(entry)
                if key not in seen:
                    json_format.ParseDict(entry, message(), max_recursion_depth=depth)
                    seen.add(key)
    except Exception:
        return False
    return True


def _locate(doc: Mapping[str, Any], chain: list[str], message_name: str, error: str) -> str:
    """Find the real path of a field protobuf named only by its chain of field names.

    Protobuf skips map keys and some levels (root.tasks for root.dag.tasks.x); candidates are
    paths whose keys contain the chain in order, and the culprit is the candidate whose
    removal changes the parse error.
    """
    from google.protobuf import json_format

    candidates: list[list[Any]] = []
    stack: list[tuple[Any, list[Any], int]] = [(doc, [], 0)]
    while stack and len(candidates) < 50:
        node, keys, matched = stack.pop()
        items = (
            node.items()
            if isinstance(node, Mapping)
            else (enumerate(node) if isinstance(node, list) else ())
        )
        for key, child in items:
            hit = matched < len(chain) and key == chain[matched]
            if hit and matched + 1 == len(chain):
                candidates.append([*keys, key])
            else:
                stack.append((child, [*keys, key], matched + hit))
    for keys in candidates:
        trimmed = copy.deepcopy(dict(doc))
        parent = trimmed
        for key in keys[:-1]:
            parent = parent[key]
        del parent[keys[-1]]
        try:
            json_format.ParseDict(trimmed, getattr(pipeline_spec_pb2(), message_name)())
        except json_format.ParseError as exc:
            if str(exc) == error:
                continue
        return ".".join(str(k) for k in keys)
    return ".".join(chain)


def _translate_parse_error(text: str) -> SpecProblem:
    """Turn protobuf's nested "Failed to parse x field: ... at PipelineSpec.a[b].c" into a path."""
    first_line = text.splitlines()[0] if text else ""
    field = ""
    at = _AT.search(first_line)
    if at:
        field = re.sub(r"\[([^\]]*)\]", r".\1", at.group(2) or "").lstrip(".")
        first_line = first_line[: at.start()]
    else:
        # Older protobuf messages (and some type errors) carry only the chain of field names.
        field = "?" + ".".join(re.findall(r"Failed to parse (\S+) field: ", first_line))
    reason = _PREFIX.sub("", first_line).rstrip(".")
    unknown = _UNKNOWN.search(reason)
    if unknown:
        field = f"{field}.{unknown.group(1)}" if field else unknown.group(1)
        reason = "unknown field (not in the kfp pipeline spec)"
    return SpecProblem(field, reason or text)


# --- graph checks ------------------------------------------------------------------------


def _graph_problems(spec: Mapping[str, Any]) -> Iterator[SpecProblem]:
    components: Mapping[str, Any] = spec.get("components") or {}
    executors = (spec.get("deploymentSpec") or {}).get("executors") or {}
    root = spec.get("root")
    if not root:
        yield SpecProblem("root", "missing; the pipeline's root component is required")
        return
    if "dag" not in root:
        yield SpecProblem("root.dag", "missing; the root component must be a DAG of tasks")
    for name, component in components.items():
        field = f"components.{name}"
        label = component.get("executorLabel")
        if "dag" not in component and not label:
            yield SpecProblem(field, "has neither a dag nor an executorLabel")
        elif label and label not in executors:
            yield SpecProblem(
                f"{field}.executorLabel", f"executor {label!r} is not in deploymentSpec.executors"
            )
    for field, component in [
        ("root", root),
        *((f"components.{n}", c) for n, c in components.items()),
    ]:
        if "dag" in component:
            yield from _dag_problems(field, component, components)


def _dag_problems(
    field: str, component: Mapping[str, Any], components: Mapping[str, Any]
) -> Iterator[SpecProblem]:
    tasks: Mapping[str, Any] = component["dag"].get("tasks") or {}
    edges: dict[str, list[str]] = {}
    for task_name, task in tasks.items():
        task_field = f"{field}.dag.tasks.{task_name}"
        ref = (task.get("componentRef") or {}).get("name")
        if ref not in components:
            yield SpecProblem(
                f"{task_field}.componentRef.name", f"component {ref!r} is not in components"
            )
        upstream = edges.setdefault(task_name, [])
        for i, dep in enumerate(task.get("dependentTasks") or []):
            if dep not in tasks:
                yield SpecProblem(
                    f"{task_field}.dependentTasks.{i}", f"task {dep!r} is not in the same DAG"
                )
            else:
                upstream.append(dep)
        yield from _input_problems(task_field, task, component, tasks, components, upstream)
    for out_name, out in ((component["dag"].get("outputs") or {}).get("parameters") or {}).items():
        producer = (out.get("valueFromParameter") or {}).get("producerSubtask")
        if producer is not None and producer not in tasks:
            yield SpecProblem(
                f"{field}.dag.outputs.parameters.{out_name}.valueFromParameter.producerSubtask",
                f"task {producer!r} is not in this DAG",
            )
    cycle = _find_cycle(edges)
    if cycle:
        yield SpecProblem(f"{field}.dag.tasks", "tasks form a cycle: " + " -> ".join(cycle))


_KINDS = (
    ("parameters", "taskOutputParameter", "outputParameterKey", "componentInputParameter"),
    ("artifacts", "taskOutputArtifact", "outputArtifactKey", "componentInputArtifact"),
)


def _input_problems(
    task_field: str,
    task: Mapping[str, Any],
    component: Mapping[str, Any],
    tasks: Mapping[str, Any],
    components: Mapping[str, Any],
    upstream: list[str],
) -> Iterator[SpecProblem]:
    inputs = task.get("inputs") or {}
    for kind, out_ref, key_name, comp_ref in _KINDS:
        declared = (component.get("inputDefinitions") or {}).get(kind) or {}
        for input_name, spec in (inputs.get(kind) or {}).items():
            field = f"{task_field}.inputs.{kind}.{input_name}"
            producer_ref = spec.get(out_ref)
            if producer_ref is not None:
                yield from _producer_problems(
                    f"{field}.{out_ref}", producer_ref, kind, key_name, tasks, components, upstream
                )
            name = spec.get(comp_ref)
            if name is not None and name not in declared:
                yield SpecProblem(
                    f"{field}.{comp_ref}",
                    f"{name!r} is not an input {kind[:-1]} of the enclosing component",
                )


def _producer_problems(
    field: str,
    ref: Mapping[str, Any],
    kind: str,
    key_name: str,
    tasks: Mapping[str, Any],
    components: Mapping[str, Any],
    upstream: list[str],
) -> Iterator[SpecProblem]:
    producer = str(ref.get("producerTask"))
    if producer not in tasks:
        yield SpecProblem(f"{field}.producerTask", f"task {producer!r} is not in the same DAG")
        return
    upstream.append(producer)
    comp_name = str((tasks[producer].get("componentRef") or {}).get("name"))
    producer_component = components.get(comp_name)
    if producer_component is None:
        return  # reported on the producer task itself
    outputs = (producer_component.get("outputDefinitions") or {}).get(kind) or {}
    key = ref.get(key_name)
    if key not in outputs:
        yield SpecProblem(
            f"{field}.{key_name}",
            f"{key!r} is not an output {kind[:-1]} of task {producer!r} (component {comp_name!r})",
        )


def _find_cycle(edges: Mapping[str, list[str]]) -> list[str] | None:
    """Return one cycle as [a, b, ..., a] (each task waits on the next), or None.

    Iterative DFS so that a long chain of tasks cannot hit the recursion limit.
    """
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(edges, white)
    for start in sorted(edges):
        if colour[start] != white:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(set(edges[start]))))]
        colour[start] = grey
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = black
                stack.pop()
            elif colour.get(child, black) == grey:
                path = [n for n, _ in stack]
                return [*path[path.index(child) :], child]
            elif colour.get(child) == white:
                colour[child] = grey
                stack.append((child, iter(sorted(set(edges[child])))))
    return None
