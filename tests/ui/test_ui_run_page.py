"""The run page: header, error banner, tabs, the graph (fit, zoom, pan, minimap, labels,
artifacts) and the side panel, in headless Chromium against real runs."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from ui_pipelines import (
    failing_pipeline,
    flip_pipeline,
    slow_pipeline,
    spec_of,
    store_large_run,
    viz_pipeline,
)
from ui_support import OUTPUT, LiveServer

NODES = "svg.graph g.node"


def shot(page: Any, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"run-page-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def runs(server: LiveServer) -> dict[str, str]:
    """One finished run each: loops and conditions, a failure, visualizations, 500 tasks."""
    found = {
        "flip": server.start_run(spec_of(flip_pipeline), "flip and loop"),
        "failing": server.start_run(spec_of(failing_pipeline), "failing run"),
        "viz": server.start_run(spec_of(viz_pipeline), "viz run", {"lr": 0.3}),
    }
    for run_id in found.values():
        server.wait_run(run_id, timeout=180)
    found["large"] = store_large_run(server, 500)
    return found


def box_of(page: Any, selector: str) -> dict[str, float]:
    return page.locator(selector).first.evaluate(
        "(el) => { const r = el.getBoundingClientRect(); "
        "return {x: r.x, y: r.y, w: r.width, h: r.height}; }"
    )


def inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return (
        inner["x"] >= outer["x"] - 1
        and inner["y"] >= outer["y"] - 1
        and inner["x"] + inner["w"] <= outer["x"] + outer["w"] + 1
        and inner["y"] + inner["h"] <= outer["y"] + outer["h"] + 1
    )


def test_header_labels_and_graph_fits(session_page: Any, server: LiveServer, runs: dict) -> None:
    page = session_page
    page.goto(f"{server.url}/#/runs/{runs['flip']}")
    header = page.locator(".run-header")
    expect(header).to_contain_text("flip and loop")
    expect(header.locator(".badge")).to_contain_text("✓")
    expect(header.locator(".badge")).to_contain_text("SUCCEEDED")
    for label in ("Experiment", "Started", "Finished", "Duration", "Run id"):
        expect(header).to_contain_text(label)
    expect(header).to_contain_text(runs["flip"])
    # Groups read as conditions and loops; iterations carry their item.
    expect(page.locator("svg.graph g.group[aria-label='if flip == \"heads\"']")).to_have_count(1)
    expect(page.locator("svg.graph g.group-loop")).to_contain_text("for each in make-list")
    labels = page.locator("svg.graph g.group-iteration").evaluate_all(
        "(gs) => gs.map((g) => g.getAttribute('aria-label')).sort()"
    )
    assert labels == ['#0: "a"', '#1: "b"', '#2: "c"'], labels
    expect(page.locator(f"{NODES}.state-succeeded text.icon").first).to_have_text("✓")
    # Fitted on load: every node is inside the graph's box.
    frame = box_of(page, ".graph-view")
    for i in range(page.locator(NODES).count()):
        node = (
            page.locator(NODES)
            .nth(i)
            .evaluate(
                "(el) => { const r = el.getBoundingClientRect(); "
                "return {x: r.x, y: r.y, w: r.width, h: r.height}; }"
            )
        )
        assert inside(node, frame), (node, frame)
    assert "pipelinechannel--" not in page.locator("#app").inner_text()
    shot(page, "flip")
    assert not page.errors, page.errors


def test_zoom_pan_and_panel(session_page: Any, server: LiveServer, runs: dict) -> None:
    page = session_page
    page.goto(f"{server.url}/#/runs/{runs['flip']}")
    expect(page.locator(NODES).first).to_be_visible()
    view = page.locator(".graph-view")
    before = float(view.get_attribute("data-zoom") or 0)
    page.get_by_role("button", name="Zoom in").click()
    after = float(view.get_attribute("data-zoom") or 0)
    assert after > before, (before, after)
    frame = box_of(page, ".graph-view")
    page.mouse.move(frame["x"] + frame["w"] / 2, frame["y"] + frame["h"] / 2)
    page.mouse.wheel(0, 400)  # wheel down: zoom out around the pointer
    assert float(view.get_attribute("data-zoom") or 0) < after
    transform = page.locator("svg.graph g.viewport").get_attribute("transform")
    page.mouse.move(frame["x"] + 20, frame["y"] + frame["h"] - 20)
    page.mouse.down()
    page.mouse.move(frame["x"] + 120, frame["y"] + frame["h"] - 60, steps=5)
    page.mouse.up()
    assert page.locator("svg.graph g.viewport").get_attribute("transform") != transform
    page.get_by_role("button", name="Fit to the box").click()
    page.locator(f"{NODES}[aria-label='flip']").click()
    panel = page.locator(".side-panel")
    expect(panel.locator(".panel-title")).to_have_text("flip")
    tabs = panel.locator(".panel-tabs button")
    expect(tabs).to_have_count(4)
    tops = tabs.evaluate_all("(bs) => bs.map((b) => b.getBoundingClientRect().top)")
    assert len(set(tops)) == 1, f"the panel's tabs wrap: {tops}"
    # Resize the panel by its handle; the width is remembered across pages.
    width = box_of(page, ".side-panel")["w"]
    handle = box_of(page, ".split-handle")
    page.mouse.move(handle["x"] + 4, handle["y"] + 40)
    page.mouse.down()
    page.mouse.move(handle["x"] - 120, handle["y"] + 40, steps=4)
    page.mouse.up()
    wider = box_of(page, ".side-panel")["w"]
    assert wider > width + 80, (width, wider)
    page.reload()
    expect(page.locator(".side-panel")).to_be_visible()
    assert abs(box_of(page, ".side-panel")["w"] - wider) < 3
    shot(page, "zoomed-panel")
    assert not page.errors, page.errors


def test_failed_run_banner_names_the_task(
    session_page: Any, server: LiveServer, runs: dict
) -> None:
    page = session_page
    page.goto(f"{server.url}/#/runs/{runs['failing']}")
    banner = page.locator(".run-error")
    expect(banner).to_contain_text("fail-with")
    expect(banner).to_contain_text("bad input: tails")
    banner.get_by_role("button").first.click()
    expect(page.locator(".side-panel .panel-title")).to_have_text("fail-with")
    expect(page.locator(f"{NODES}.selected")).to_have_attribute("aria-label", "fail-with")
    shot(page, "failed")
    assert not page.errors, page.errors


def test_run_output_config_and_artifact_nodes(
    session_page: Any, server: LiveServer, runs: dict
) -> None:
    page = session_page
    page.goto(f"{server.url}/#/runs/{runs['viz']}")
    page.get_by_role("tab", name="Run output").click()
    output = page.locator(".run-output")
    expect(output).to_contain_text("accuracy")
    expect(output.locator("td .mono", has_text="0.3").first).to_have_text("0.3")
    roc = output.locator("svg.roc")
    expect(roc).to_have_count(1)
    expect(roc.locator("text.tick", has_text="0.6")).to_have_count(2)  # both axes
    svg = box_of(page, ".run-output svg.roc")
    page.mouse.move(svg["x"] + svg["w"] * 0.5, svg["y"] + svg["h"] * 0.4)
    expect(output.locator(".roc-tip")).to_contain_text("threshold")
    frame = page.frame_locator(".run-output iframe.html-frame")
    expect(frame.locator("#chart")).to_have_text("drawn by script")
    page.get_by_role("tab", name="Config").click()
    config = page.locator(".run-config")
    expect(config).to_contain_text("lr")
    config.get_by_text("Show the pipeline spec (YAML)").click()
    expect(config.locator("pre.yaml .y-key").first).to_be_visible()
    expect(config.get_by_role("button", name="Copy YAML")).to_be_visible()
    page.get_by_role("tab", name="Graph").click()
    page.get_by_label("Show artifacts").check()
    expect(page.locator("svg.graph g.artifact")).to_have_count(3)  # metrics, roc, page
    shot(page, "viz")
    assert not page.errors, page.errors


def test_500_task_run_is_usable(session_page: Any, server: LiveServer, runs: dict) -> None:
    page = session_page
    page.goto(f"{server.url}/#/runs/{runs['large']}")
    expect(page.locator(NODES)).to_have_count(500, timeout=30_000)
    expect(page.locator(".minimap-box")).to_be_visible()
    zoom = float(page.locator(".graph-view").get_attribute("data-zoom") or 0)
    assert 0 < zoom < 0.5, zoom  # fitted: the whole graph in the box
    page.locator(".minimap-box svg").click()
    page.locator(f"{NODES}[aria-label='step-250']").click(force=True)
    expect(page.locator(".side-panel .panel-title")).to_have_text("step-250")
    shot(page, "500-tasks")
    assert not page.errors, page.errors


def test_open_task_panel_follows_the_live_run(session_page: Any, server: LiveServer) -> None:
    page = session_page
    run_id = server.start_run(spec_of(slow_pipeline), "slow run", {"text": "echoed live"})
    page.goto(f"{server.url}/#/runs/{run_id}?task=slow-echo")
    # When the task finishes (it sleeps 4 s), the open panel shows its output without a reload.
    panel = page.locator(".side-panel")
    expect(panel).to_contain_text("echoed live", timeout=60_000)
    expect(page.locator(".run-header .badge")).to_contain_text("SUCCEEDED", timeout=30_000)
    shot(page, "live-panel")
    assert not [e for e in page.errors if "404" not in e], page.errors


def test_run_output_pages_through_every_artifact(session_page: Any, server: LiveServer) -> None:
    """A run with more artifacts than one page of the API (200): Run output shows them all."""
    from datetime import datetime, timezone

    from pinnace.stores.base import ArtifactRecord

    run_id = store_large_run(server, 250)
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for i in range(250):
        server.store.add_artifact(
            ArtifactRecord(
                f"{run_id}-a{i}", run_id, f"step-{i}", "table", f"/nowhere/{i}.csv",
                "system.Dataset", {}, at,
            )
        )  # fmt: skip
    page = session_page
    page.goto(f"{server.url}/#/runs/{run_id}")
    page.get_by_role("tab", name="Run output").click()
    expect(page.locator(".run-output section.output-task")).to_have_count(250)
    expect(page.locator(".run-output")).not_to_contain_text("Showing the newest")
    assert not page.errors, page.errors
