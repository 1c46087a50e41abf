"""The book's click-path through the dashboard, in order, sharing one server and its state.

Log in, upload examples/basic_pipeline.yaml (the book's kfp 1.x Argo YAML), open its graph,
create an experiment, start a run with `dataset_url` set to the bundled CSV (served over HTTP
on loopback, as the book downloads it: a server's steps run sandboxed and cannot read the
test's files), watch all five
steps succeed, open the train step's model and the evaluate step's logs (R² score), start a
second run and compare the two. The first run builds real uv environments (pandas,
scikit-learn) under the server's home: allow minutes. Screenshots: test-output/ui/book-*.png.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from ui_support import OUTPUT, REPO, LiveServer, api_login, form_login, wait_until

from book_reference import book_numbers
from pinnace.data import SALARY_CSV

pytestmark = pytest.mark.index
BOOK_YAML = REPO / "examples" / "basic_pipeline.yaml"
BOOK_TASKS = [
    "download-dataset",
    "process-data",
    "train-model",
    "evaluate-model",
    "perform-sample-prediction",
]
EXPERIMENT = "book experiment"
FIRST_RUN_TIMEOUT_S = 600  # builds the pandas + scikit-learn environments once
NODES = "svg.graph g.node"


@pytest.fixture(scope="module")
def dataset_url() -> Iterator[str]:
    """The bundled CSV over HTTP on loopback (the book reads its dataset from a URL)."""
    import functools
    import http.server
    import threading

    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(SALARY_CSV.parent)
    )
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/{SALARY_CSV.name}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def book(dataset_url: str) -> dict[str, Any]:
    """What the ordered steps hand on (ids); a step whose predecessor failed says so."""
    return {"dataset_url": dataset_url}


def needs(book: dict[str, Any], *keys: str) -> list[Any]:
    missing = [k for k in keys if k not in book]
    if missing:
        pytest.fail(f"an earlier book step failed (no {', '.join(missing)})", pytrace=False)
    return [book[k] for k in keys]


def shot(page: Any, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"book-{name}.png"), full_page=True)


def node(page: Any, task: str) -> Any:
    return page.locator(f"{NODES}[aria-label='{task}']").first


def succeeded_nodes(page: Any) -> int:
    return page.locator(f"{NODES}.state-succeeded").count()


def test_book_1_login_upload_and_graph(page: Any, server: LiveServer, book: dict) -> None:
    form_login(page, server)
    page.wait_for_function("() => !location.hash.startsWith('#/login')")
    page.goto(f"{server.url}/#/pipelines")
    page.get_by_role("button", name="Upload pipeline").click()
    page.locator("input[type=file]").first.set_input_files(str(BOOK_YAML))
    upload_form = page.locator("form:has(input[type=file])").first
    upload_form.locator("button[type=submit], button:has-text('Upload')").first.click()
    pipeline = wait_until(lambda: _newest_pipeline(server), 15, "the uploaded pipeline")
    book["pipeline_id"] = pipeline["pipeline_id"]
    page.goto(f"{server.url}/#/pipelines/{pipeline['pipeline_id']}")
    expect(page.locator(NODES)).to_have_count(len(BOOK_TASKS))
    # Long names are clipped on the node; the full name is its accessible name.
    labels = page.locator(NODES).evaluate_all(
        "(nodes) => nodes.map((n) => n.getAttribute('aria-label'))"
    )
    assert sorted(labels) == sorted(BOOK_TASKS), labels
    edges = page.locator("svg.graph path.edge").count()
    assert edges == 6, f"the book's graph has 6 edges, the page drew {edges}"
    shot(page, "1-graph")
    assert not page.errors, page.errors


def _newest_pipeline(server: LiveServer) -> dict[str, Any] | None:
    answer = server.api.get("/apis/v2beta1/pipelines", params={"page_size": 100})
    pipelines = answer.json().get("pipelines", [])
    return next((p for p in pipelines if "basic" in p["display_name"].lower()), None)


def test_book_2_create_experiment(page: Any, server: LiveServer, book: dict) -> None:
    api_login(page.context, server)
    page.goto(f"{server.url}/#/experiments")
    page.get_by_role("button", name="Create experiment").click()
    form = page.locator("form:has(input[name=display_name])")
    form.locator("input[name=display_name]").fill(EXPERIMENT)
    form.locator("button[type=submit]").click()
    experiment = wait_until(lambda: _experiment(server), 15, "the new experiment")
    book["experiment_id"] = experiment["experiment_id"]
    page.goto(f"{server.url}/#/experiments")
    expect(page.get_by_text(EXPERIMENT).first).to_be_visible()
    shot(page, "2-experiment")
    assert not page.errors, page.errors


def _experiment(server: LiveServer) -> dict[str, Any] | None:
    answer = server.api.get("/apis/v2beta1/experiments", params={"page_size": 100})
    found = answer.json().get("experiments", [])
    return next((e for e in found if e["display_name"] == EXPERIMENT), None)


def start_run_with_form(page: Any, server: LiveServer, book: dict, name: str) -> str:
    pipeline_id, experiment_id = needs(book, "pipeline_id", "experiment_id")
    known = {r["run_id"] for r in server.api.get("/apis/v2beta1/runs").json().get("runs", [])}
    page.goto(f"{server.url}/#/runs/new?pipeline={pipeline_id}&experiment={experiment_id}")
    form = page.locator("form:has(input[name=display_name])")
    form.locator("input[name=display_name]").fill(name)
    form.locator("input[name=dataset_url]").fill(book["dataset_url"])
    form.get_by_role("button", name="Start").click()
    page.wait_for_function(
        "() => /^#\\/runs\\/[0-9a-f]{8,}/.test(location.hash) && !location.hash.includes('new')"
    )
    run_id = page.evaluate("() => location.hash.split('/')[2].split('?')[0]")
    assert run_id not in known
    run = server.run(run_id)
    assert run["display_name"] == name, run
    assert run["runtime_config"]["parameters"]["dataset_url"] == book["dataset_url"], run
    assert run["experiment_id"] == experiment_id, run
    return run_id


def test_book_3_run_all_five_steps_succeed(page: Any, server: LiveServer, book: dict) -> None:
    api_login(page.context, server)
    run_id = start_run_with_form(page, server, book, "book run 1")
    book["run_1"] = run_id
    expect(page.locator(NODES)).to_have_count(len(BOOK_TASKS))
    seen: set[int] = set()
    deadline = time.monotonic() + FIRST_RUN_TIMEOUT_S
    while succeeded_nodes(page) < len(BOOK_TASKS):  # the page updates live, no reload
        seen.add(succeeded_nodes(page))
        assert time.monotonic() < deadline, f"not all steps succeeded: {server.run(run_id)}"
        assert page.locator(f"{NODES}.state-failed").count() == 0, server.run(run_id)
        page.wait_for_timeout(500)
    assert server.run(run_id)["state"] == "SUCCEEDED"
    assert len(seen) >= 2, f"the page never showed the run in progress: {seen}"
    shot(page, "3-run-succeeded")
    assert not page.errors, page.errors


def test_book_4_model_artifact_and_score_log(page: Any, server: LiveServer, book: dict) -> None:
    (run_id,) = needs(book, "run_1")
    api_login(page.context, server)
    page.goto(f"{server.url}/#/runs/{run_id}")
    node(page, "train-model").click()
    page.get_by_role("tab", name="Input/Output").click()
    card = page.locator(".card.artifact").filter(has=page.locator("strong", has_text="model"))
    expect(card).to_have_count(1)
    expect(card).to_contain_text("train-model/model")
    card.get_by_role("button", name="Preview").click()
    # A pickled model has no preview; the card offers its bytes for download instead.
    download = card.locator("a.download").first
    expect(download).to_be_visible()
    body = page.context.request.get(download.evaluate("(a) => a.href"))
    assert body.ok, body.status
    assert body.body()[:1] == b"\x80", "the model download is not the pickled model"
    shot(page, "4-model-artifact")
    page.goto(f"{server.url}/#/runs/{run_id}?task=evaluate-model&tab=logs")
    score = str(book_numbers(server.home, run_id)[0])  # as the task printed it
    expect(page.get_by_text(score).first).to_be_visible(timeout=15_000)
    shot(page, "5-evaluate-logs")
    assert not page.errors, page.errors


def test_book_5_second_run_and_compare(page: Any, server: LiveServer, book: dict) -> None:
    (first,) = needs(book, "run_1")
    api_login(page.context, server)
    second = start_run_with_form(page, server, book, "book run 2")
    # Same pipeline, same parameters: every step comes from the cache this time.
    expect(page.locator(f"{NODES}.state-succeeded, {NODES}.state-cached")).to_have_count(
        len(BOOK_TASKS), timeout=180_000
    )
    page.goto(f"{server.url}/#/runs")
    for run_id in (first, second):
        page.locator(f"#app tr:has(a[href*='{run_id}']) input[type=checkbox]").first.check()
    page.get_by_role("button", name="Compare").or_(
        page.get_by_role("link", name="Compare")
    ).first.click()
    page.wait_for_function("() => location.hash.startsWith('#/compare')")
    assert first in page.url and second in page.url, page.url
    expect(page.get_by_text("book run 1").first).to_be_visible()
    expect(page.get_by_text("book run 2").first).to_be_visible()
    expect(page.get_by_text("dataset_url").first).to_be_visible()
    shot(page, "6-compare")
    assert not page.errors, page.errors
