"""The dashboard's pure JS logic under node: graph layout, graphFromSpec, spec reading, YAML."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from pinnace.ui import STATIC_DIR

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
FIXTURES = Path(__file__).parents[1] / "fixtures" / "pipelines"


def _node(script: str) -> object:
    """Run an ES module script that prints one JSON value; imports resolve from static/."""
    prelude = f'const S = "{STATIC_DIR.as_uri()}/";\n'
    result = subprocess.run(
        ["node", "--input-type=module"],
        input=prelude + script,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _compiled(name: str, tmp_path: Path) -> dict:
    from kfp import compiler

    spec = importlib.util.spec_from_file_location(name, FIXTURES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / f"{name}.yaml"
    compiler.Compiler().compile(module.pipeline, str(out))
    return yaml.safe_load(out.read_text())


def test_graph_from_spec_nests_groups_and_keeps_edges(tmp_path: Path) -> None:
    spec = _compiled("p40_v2_yaml_and_nested_control", tmp_path)
    graph = _node(
        f"""const {{ graphFromSpec, layout }} = await import(S + "graph.js");
        const g = graphFromSpec({json.dumps(spec)});
        const l = layout(g);
        const boxes = Object.fromEntries([...l.boxes.entries()]);
        console.log(JSON.stringify({{ g, boxes }}));"""
    )
    nodes = {n["id"]: n for n in graph["g"]["nodes"]}
    groups = {i for i, n in nodes.items() if n["kind"] == "group"}
    assert groups and all("/" in i for i in nodes if nodes[i].get("parent"))
    for node_id, node in nodes.items():
        parent = node.get("parent")
        if parent:  # every child's box lies inside its group's box
            inner, outer = graph["boxes"][node_id], graph["boxes"][parent]
            assert outer["x"] <= inner["x"] and inner["x"] + inner["w"] <= outer["x"] + outer["w"]
            assert outer["y"] < inner["y"] and inner["y"] + inner["h"] <= outer["y"] + outer["h"]
    for a, b in graph["g"]["edges"]:  # edges point down the layers
        assert graph["boxes"][a]["y"] < graph["boxes"][b]["y"], (a, b)


def test_layout_of_200_nodes_is_layered() -> None:
    result = _node(
        """const { layout } = await import(S + "graph.js");
        const nodes = [], edges = [];
        for (let i = 0; i < 200; i++) {
          nodes.push({ id: "n" + i, label: "n" + i, kind: "task" });
          if (i > 0) edges.push(["n" + Math.floor((i - 1) / 3), "n" + i]);
        }
        const l = layout({ nodes, edges });
        const y = Object.fromEntries([...l.boxes.entries()].map(([k, v]) => [k, v.y]));
        console.log(JSON.stringify({ y, edges }));"""
    )
    assert len(result["y"]) == 200
    assert all(result["y"][a] < result["y"][b] for a, b in result["edges"])


def test_task_details_show_packages_and_program(tmp_path: Path) -> None:
    spec = _compiled("p10_packages", tmp_path)
    found = _node(
        f"""const m = await import(S + "spec.js");
        const f = m.findTask({json.dumps(spec)}, "with-packages");
        console.log(JSON.stringify({{
          packages: m.packagesOf(f.executor.container.command),
          program: m.programOf(f.executor.container),
          inputs: m.inputsOf(f), outputs: m.outputsOf(f)
        }}));"""
    )
    assert "pandas==2.0.3" in found["packages"] and "scikit-learn" in found["packages"]
    assert not any(p.startswith("-") for p in found["packages"])
    assert "def with_packages(" in found["program"]
    assert found["inputs"][0]["name"] == "n" and found["outputs"][0]["name"] == "Output"


def test_yaml_view_round_trips_through_a_yaml_parser(tmp_path: Path) -> None:
    spec = _compiled("p10_packages", tmp_path)
    tricky = {
        "spec": spec,
        "odd": ["true", "1.5", "", " lead", "a: b", "# no", "<script>x</script>", None, 3, False],
        "block": "  indented first\nsecond\n",
        "keys": {"with space": 1, "yes": 2, "a:b": []},
    }
    text = _node(
        f"""const {{ toYaml }} = await import(S + "spec.js");
        console.log(JSON.stringify(toYaml({json.dumps(tricky)})));"""
    )
    assert yaml.safe_load(text) == tricky


def test_many_independent_chains_are_packed_into_a_block() -> None:
    """500 tasks in 100 chains: not one row 20,000 px wide, and no two boxes overlap."""
    result = _node(
        """const { layout } = await import(S + "graph.js");
        const nodes = [], edges = [];
        for (let c = 0; c < 100; c++) for (let i = 0; i < 5; i++) {
          nodes.push({ id: `c${c}-${i}`, label: "step", kind: "task" });
          if (i) edges.push([`c${c}-${i - 1}`, `c${c}-${i}`]);
        }
        const l = layout({ nodes, edges });
        console.log(JSON.stringify({ w: l.width, h: l.height,
          boxes: [...l.boxes.values()], edges,
          y: Object.fromEntries([...l.boxes.entries()].map(([k, v]) => [k, v.y])) }));"""
    )
    assert result["w"] / result["h"] < 4, (result["w"], result["h"])
    boxes = result["boxes"]
    cells = {(b["x"], b["y"]) for b in boxes}
    assert len(cells) == len(boxes)  # no two nodes at one place
    assert all(result["y"][a] < result["y"][b] for a, b in result["edges"])


def test_packages_of_a_kfp1_command_are_package_names() -> None:
    command = [
        "sh",
        "-c",
        "(PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet "
        "--no-warn-script-location 'pandas==1.5.3' 'scikit-learn' || "
        "PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet "
        "--no-warn-script-location 'pandas==1.5.3' 'scikit-learn' --user) && \"$0\" \"$@\"",
        "sh",
        "-ec",
        'program_path=$(mktemp)\nprintf "%s" "$0" > "$program_path"\npython3 -u "$program_path"',
    ]
    found = _node(
        f"""const {{ packagesOf }} = await import(S + "spec.js");
        console.log(JSON.stringify(packagesOf({json.dumps(command)})));"""
    )
    assert found == ["pandas==1.5.3", "scikit-learn"]
