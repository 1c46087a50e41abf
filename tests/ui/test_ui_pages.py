"""Lists and pages beyond the run page: the runs list's columns, compare, the pipeline page,
uploads, recurring runs, artifacts and executions, lineage, deletes, in headless Chromium."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from ui_pipelines import spec_of, viz_pipeline
from ui_support import OUTPUT, REPO, LiveServer, create_experiment

BOOK_YAML = REPO / "examples" / "basic_pipeline.yaml"
SHELL_WORDS = {"||", "&&", "PIP_DISABLE_PIP_VERSION_CHECK=1", "python3", "pip", "install", "-m"}


def shot(page: Any, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"pages-{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def viz(server: LiveServer) -> dict[str, Any]:
    """Two runs of one uploaded pipeline version in an experiment, with different lr."""
    spec = spec_of(viz_pipeline)
    pipeline = server.upload(spec, "viz for compare")
    versions = server.api.get(f"/apis/v2beta1/pipelines/{pipeline['pipeline_id']}/versions").json()[
        "pipeline_versions"
    ]
    experiment = create_experiment(server, "pages experiment")
    ids = []
    for lr in (0.3, 0.7):
        body = {
            "display_name": f"viz lr {lr}",
            "experiment_id": experiment,
            "pipeline_version_reference": {
                "pipeline_id": pipeline["pipeline_id"],
                "pipeline_version_id": versions[0]["pipeline_version_id"],
            },
            "runtime_config": {"parameters": {"lr": lr}},
        }
        answer = server.api.post("/apis/v2beta1/runs", json=body)
        assert answer.status_code == 200, answer.text
        ids.append(answer.json()["run_id"])
    for run_id in ids:
        assert server.wait_run(run_id, timeout=180)["state"] == "SUCCEEDED"
    return {"runs": ids, "pipeline": pipeline, "experiment": experiment}


def test_runs_list_columns_chooser_and_sorting(
    session_page: Any, server: LiveServer, viz: dict
) -> None:
    page = session_page
    page.goto(f"{server.url}/#/runs")
    table = page.locator("table.runs")
    expect(table).to_be_visible()
    headers = table.locator("thead th").all_inner_texts()
    for column in ("Pipeline / version", "Experiment", "Started", "Recurring run"):
        assert column in headers, headers
    row = table.locator("tbody tr", has_text="viz lr 0.3")
    expect(row.locator("td[data-column=pipeline]")).to_contain_text("viz for compare")
    expect(row.locator("td[data-column=experiment]")).to_contain_text("pages experiment")
    expect(row.locator("td[data-column=state] .badge")).to_contain_text("SUCCEEDED")
    # Hide a column; the choice survives a reload.
    page.locator(".column-chooser summary").click()
    page.locator("input[name=column-experiment]").uncheck()
    expect(table.locator("thead th", has_text="Experiment")).to_have_count(0)
    page.reload()
    expect(page.locator("table.runs thead th", has_text="Experiment")).to_have_count(0)
    # Sort by name from the header, then the other way.
    page.locator("table.runs thead th", has_text="Name").click()
    expect(page.locator("table.runs thead th.sorted-asc")).to_have_text("Name")
    names = page.locator("table.runs td[data-column=name]").all_inner_texts()
    assert names == sorted(names), names
    page.locator("table.runs thead th", has_text="Name").click()
    expect(page.locator("table.runs thead th.sorted-desc")).to_have_text("Name")
    shot(page, "runs-list")
    assert not page.errors, page.errors


def test_compare_one_table_values_as_written_and_charts(
    session_page: Any, server: LiveServer, viz: dict
) -> None:
    page = session_page
    first, second = viz["runs"]
    page.goto(f"{server.url}/#/compare?runs={first},{second}")
    table = page.locator("table.compare-table")
    expect(table).to_be_visible()
    assert page.locator("table.compare-table").count() == 1
    for section in ("Run", "Parameters", "Metrics"):
        expect(table.locator("th.section", has_text=section)).to_have_count(1)
    lr = table.locator("tr", has=page.locator("th", has_text="lr"))
    assert lr.locator("td").all_inner_texts() == ["0.3", "0.7"]
    accuracy = table.locator("tr", has=page.locator("th", has_text="accuracy"))
    assert accuracy.locator("td").all_inner_texts() == ["0.3", "0.9"]
    expect(table.locator("tr", has_text="Pipeline version")).to_contain_text("viz for compare")
    roc = page.locator("svg.roc")
    expect(roc).to_have_count(1)
    expect(roc.locator("polyline.curve")).to_have_count(2)
    strokes = roc.locator("polyline.curve").evaluate_all(
        "(ps) => ps.map((p) => getComputedStyle(p).stroke)"
    )
    assert len(set(strokes)) == 2, f"the overlaid curves share a colour: {strokes}"
    expect(page.locator(".compare-charts table.confusion")).to_have_count(2)
    shot(page, "compare")
    assert not page.errors, page.errors


def test_upload_named_from_spec_and_pipeline_page(
    session_page: Any, server: LiveServer, tmp_path: Any
) -> None:
    page = session_page
    import json

    path = tmp_path / "some-file-name.json"
    path.write_text(json.dumps(spec_of(viz_pipeline)))
    page.goto(f"{server.url}/#/pipelines")
    page.get_by_role("button", name="Upload pipeline").click()
    page.locator("input[type=file]").set_input_files(str(path))
    page.locator("form.upload-form button[type=submit]").click()
    page.wait_for_function("() => /^#\\/pipelines\\/[^?]+/.test(location.hash)")
    expect(page.locator(".page-head h1")).to_have_text("viz-pipeline")
    description = "Metrics, an ROC curve and an HTML report."
    expect(page.get_by_text(description)).to_have_count(1)
    expect(page.get_by_role("tab", name="Versions (1)")).to_be_visible()
    expect(page.get_by_role("link", name="Run", exact=True)).to_be_visible()
    expect(page.locator("svg.graph g.node")).to_have_count(2)
    page.get_by_role("tab", name="YAML").click()
    expect(page.locator("pre.yaml .y-key").first).to_be_visible()
    expect(page.get_by_role("button", name="Copy YAML")).to_be_visible()
    expect(page.get_by_role("link", name="Download")).to_be_visible()
    shot(page, "pipeline-yaml")
    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("alertdialog").get_by_role("button", name="Delete pipeline").click()
    page.wait_for_function("() => location.hash === '#/pipelines'")
    expect(page.get_by_text("viz-pipeline", exact=True)).to_have_count(0)
    assert not page.errors, page.errors


def test_upload_from_url_is_downloaded_by_the_server(
    session_page: Any, server: LiveServer
) -> None:
    """The app's CSP allows no other origin: the form posts the URL and the server (its
    package_url rules) downloads it or says clearly why not."""
    page = session_page
    page.goto(f"{server.url}/#/pipelines")
    page.get_by_role("button", name="Upload pipeline").click()
    page.get_by_label("From a URL").check()
    expect(page.locator("input[type=file]")).to_be_hidden()
    page.locator("input[name=url]").fill("https://example.com/pipelines/p.yaml")
    with page.expect_request("**/ui/pipelines/upload_url") as sent:
        page.locator("form.upload-form button[type=submit]").click()
    assert sent.value.post_data_json["url"] == "https://example.com/pipelines/p.yaml"
    alert = page.locator("form.upload-form [role=alert]")
    expect(alert).to_contain_text("host 'example.com' is not on the allowlist")
    expect(alert.locator(".hint")).to_contain_text("PINNACE_PACKAGE_URL_DOMAINS")
    page.locator("input[name=url]").fill("http://127.0.0.1/p.yaml")
    page.locator("form.upload-form button[type=submit]").click()
    expect(alert).to_contain_text("is not an https URL")
    shot(page, "upload-url-refused")
    assert not page.errors, page.errors


def test_kfp1_packages_are_package_names(session_page: Any, server: LiveServer) -> None:
    page = session_page
    pipeline = server.upload(BOOK_YAML, "book for packages")
    page.goto(f"{server.url}/#/pipelines/{pipeline['pipeline_id']}")
    page.locator("svg.graph g.node[aria-label='train-model']").click()
    packages = page.locator(".task-panel .packages li").all_inner_texts()
    assert packages, "no packages listed"
    assert not SHELL_WORDS & set(packages), packages
    assert any(p.startswith("scikit-learn") or p.startswith("sklearn") for p in packages), packages
    shot(page, "book-packages")
    assert not page.errors, page.errors


def test_recurring_form_details_and_delete(
    session_page: Any, server: LiveServer, viz: dict
) -> None:
    page = session_page
    page.goto(f"{server.url}/#/recurring")
    page.get_by_role("button", name="New recurring run").click()
    form = page.locator("form.recurring-form")
    expect(form.locator("input[name=cron]")).to_be_visible()
    form.locator("select[name=trigger]").select_option("interval")
    expect(form.locator("input[name=cron]")).to_be_hidden()
    expect(form.locator("input[name=interval]")).to_be_visible()
    form.locator("input[name=display_name]").fill("hourly viz")
    form.locator("input[name=interval]").fill("2")
    form.locator("select[name=pipeline]").select_option(viz["pipeline"]["pipeline_id"])
    expect(form.locator("input[name=lr]")).to_be_visible()
    form.locator("input[name=end_time]").fill("2099-01-01T00:00")
    form.get_by_role("button", name="Create").click()
    page.wait_for_function("() => /^#\\/recurring\\/[^/]+$/.test(location.hash)")
    head = page.locator(".page-head")
    expect(head.locator(".badge")).to_contain_text("ENABLED")
    props = page.locator("dl.props")
    expect(props).to_contain_text("every 2h")
    expect(props.locator("dt", has_text="Next run")).to_be_visible()
    assert "none" not in props.locator("dt:has-text('Next run') + dd").inner_text()
    expect(props.locator("dt:has-text('Ends') + dd")).not_to_have_text("—")
    expect(page.get_by_role("heading", name="History: the runs it started")).to_be_visible()
    page.get_by_role("button", name="Disable").click()
    expect(page.locator(".page-head .badge")).to_contain_text("DISABLED")
    shot(page, "recurring-details")
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Delete").click()
    page.wait_for_function("() => location.hash === '#/recurring'")
    expect(page.get_by_text("hourly viz")).to_have_count(0)
    assert not page.errors, page.errors


def test_artifacts_executions_and_lineage(session_page: Any, server: LiveServer, viz: dict) -> None:
    page = session_page
    first = viz["runs"][0]
    page.goto(f"{server.url}/#/artifacts?run_id={first}")
    table = page.locator("table.artifacts")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("tbody tr").first).to_contain_text("viz lr 0.3")
    heights = table.locator("thead th").evaluate_all(
        "(ths) => ths.map((th) => th.getBoundingClientRect().height)"
    )
    assert max(heights) < 40, f"a header wraps: {heights}"
    metrics_row = table.locator("tbody tr").filter(
        has=page.get_by_role("cell", name="metrics", exact=True)
    )
    metrics_row.get_by_role("button", name="Lineage").click()
    lineage = page.locator(".lineage-graph svg.graph")
    expect(lineage.locator("g.node[aria-label='evaluate']")).to_have_count(1)
    expect(lineage.locator("g.artifact")).to_have_count(1)  # evaluate read no artifact
    expect(lineage.locator("path.edge")).to_have_count(1)
    # A metrics artifact has no file: its preview shows its values.
    expect(page.locator(".lineage table.metrics")).to_contain_text("accuracy")
    shot(page, "lineage")
    # The lr=0.7 run's evaluate ran for sure (its input is new; a cached task has no execution).
    page.goto(f"{server.url}/#/executions?run_id={viz['runs'][1]}")
    rows = page.locator("#app table tbody tr")
    expect(rows.first).to_be_visible()
    expect(rows.first.locator(".badge")).to_contain_text("SUCCEEDED")
    expect(page.locator("#app table thead th", has_text="Run")).to_have_count(1)
    expect(rows.first).to_contain_text("viz lr 0.7")
    shot(page, "executions")
    assert not page.errors, page.errors


def test_delete_experiment_with_confirmation(session_page: Any, server: LiveServer) -> None:
    page = session_page
    experiment = create_experiment(server, "doomed experiment")
    page.goto(f"{server.url}/#/experiments/{experiment}")
    page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("alertdialog")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Delete experiment").click()
    page.wait_for_function("() => location.hash === '#/experiments'")
    answer = server.api.get(f"/apis/v2beta1/experiments/{experiment}")
    assert answer.status_code == 404
    assert not page.errors, page.errors


def test_namespace_picker_scopes_the_lists(
    session_page: Any, server: LiveServer, viz: dict
) -> None:
    from pinnace.server.services.accounts import add_user

    add_user(server.store, "nina", "nina-password-1")
    page = session_page
    page.goto(f"{server.url}/#/runs")
    picker = page.get_by_label("Namespace")
    expect(picker.locator("option")).to_contain_text(["All namespaces", "admin", "nina"])
    expect(page.locator("table.runs tbody tr").first).to_be_visible()
    picker.select_option("nina")  # nina has no runs yet
    expect(page.get_by_text("No runs match.")).to_be_visible()
    page.reload()  # remembered
    expect(page.get_by_label("Namespace")).to_have_value("nina")
    page.get_by_label("Namespace").select_option("admin")
    expect(page.locator("table.runs tbody tr", has_text="viz lr 0.3")).to_have_count(1)
    page.get_by_label("Namespace").select_option("")
    shot(page, "namespaces")
    assert not page.errors, page.errors
