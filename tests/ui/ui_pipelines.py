"""Small pipelines for the browser tests and the UI bench (no packages: they start at once)."""

from __future__ import annotations

from typing import Any

from pinnace import compiler, dsl
from pinnace.dsl import HTML, ClassificationMetrics, Markdown, Metrics, Output

#: one string that runs script if any page ever treats it as HTML
XSS = "<img src=x onerror=window.__xss=1><script>window.__xss=1</script>"
#: the line the log test looks for (HTML in a log line must show as text)
XSS_LOG_LINE = (
    "log says <b>bold</b> <img src=x onerror=window.__xss=1><script>window.__xss=1</script>"
)


@dsl.component
def shout(text: str) -> str:
    print("log says <b>bold</b> " + text)
    return text


@dsl.component
def markdown_report(report: Output[Markdown]):
    body = (
        "# Report heading\n\n"
        "Plain *markdown* text.\n\n"
        "<img src=x onerror=window.__xss=1>\n\n"
        "<script>window.__xss=1</script>\n\n"
        "[click me](javascript:window.__xss=1)\n\n"
        "[safe link](https://example.com/)\n"
    )
    with open(report.path, "w") as f:
        f.write(body)


@dsl.component
def html_report(page: Output[HTML]):
    body = (
        "<html><body><h1>HTML artifact</h1>"
        "<style>h1 { color: rgb(200, 0, 0); }</style>"
        "<script>document.title='ran'; window.parent.__xss=1; window.top.__xss=1</script>"
        '<img src=x onerror="window.parent.__xss=1">'
        "</body></html>"
    )
    with open(page.path, "w") as f:
        f.write(body)


@dsl.pipeline(name="xss-artifacts")
def xss_pipeline(text: str = XSS):
    shout(text=text)
    markdown_report()
    html_report()


@dsl.component
def step(x: int) -> int:
    return x + 1


def many_tasks_pipeline(chains: int = 40, length: int = 5) -> Any:
    """`chains` independent chains of `length` tasks each (200 tasks by default)."""

    @dsl.pipeline(name=f"many-tasks-{chains * length}")
    def many():
        for c in range(chains):
            value = step(x=c)
            for _ in range(length - 1):
                value = step(x=value.output)

    return many


def spec_of(pipeline: Any) -> dict[str, Any]:
    return compiler.compile_pipeline(pipeline)


@dsl.component
def evaluate(lr: float, metrics: Output[Metrics], roc: Output[ClassificationMetrics]):
    metrics.log_metric("accuracy", 0.3 if lr < 0.5 else 0.9)
    metrics.log_metric("loss", lr)
    shift = 0.1 if lr < 0.5 else 0.25
    fpr = [0.0, 0.1, 0.3, 0.6, 1.0]
    roc.log_roc_curve(
        fpr, [min(1.0, f + shift + 0.3 * (f > 0)) for f in fpr], [1.0, 0.8, 0.5, 0.3, 0.0]
    )
    roc.log_confusion_matrix(["cat", "dog"], [[8, 2], [1, 9]] if lr < 0.5 else [[9, 1], [3, 7]])


@dsl.component
def plot_report(page: Output[HTML]):
    with open(page.path, "w") as f:
        f.write(
            "<html><head><style>.chart { color: rgb(0, 128, 0); }</style></head><body>"
            "<div class='chart' id='chart'>static</div>"
            "<script>document.getElementById('chart').textContent = 'drawn by script';</script>"
            "</body></html>"
        )


@dsl.pipeline(name="viz-pipeline", description="Metrics, an ROC curve and an HTML report.")
def viz_pipeline(lr: float = 0.3, label: str = "first"):
    evaluate(lr=lr)
    plot_report()


@dsl.component
def flip() -> str:
    return "heads"


@dsl.component
def make_list() -> list:
    return ["a", "b", "c"]


@dsl.component
def use(item: str):
    print("item", item)


@dsl.component
def fail_with(text: str):
    raise ValueError(f"bad input: {text}")


@dsl.pipeline(name="flip-and-loop")
def flip_pipeline():
    coin = flip()
    with dsl.If(coin.output == "heads"):
        items = make_list()
        with dsl.ParallelFor(items.output) as item:
            use(item=item)


@dsl.pipeline(name="failing")
def failing_pipeline(text: str = "tails"):
    first = flip()
    fail_with(text=text).after(first)


def store_large_run(server: Any, tasks: int = 500) -> str:
    """A finished run of `tasks` tasks written straight to the store (no execution): what
    the run page of a big run has to draw."""
    import uuid
    from datetime import datetime, timedelta, timezone

    from pinnace.model.state import RunState, TaskState
    from pinnace.stores.base import RunRecord, TaskRecord

    spec = spec_of(many_tasks_pipeline(chains=tasks // 5, length=5))
    run_id = uuid.uuid4().hex
    at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    server.store.create_run(
        RunRecord(
            run_id=run_id,
            pipeline_name=spec["pipelineInfo"]["name"],
            display_name=f"stored run of {tasks} tasks",
            spec=spec,
            parameters={},
            state=RunState.SUCCEEDED,
            created_at=at,
            started_at=at,
            finished_at=at + timedelta(minutes=5),
            namespace="admin",
        )
    )
    for i, name in enumerate(sorted(spec["root"]["dag"]["tasks"])):
        server.store.upsert_task(
            TaskRecord(
                run_id=run_id,
                task_name=name,
                display_name=name,
                state=TaskState.SUCCEEDED,
                started_at=at + timedelta(seconds=i % 60),
                finished_at=at + timedelta(seconds=i % 60 + 2),
            )
        )
    return run_id


@dsl.component
def slow_echo(text: str) -> str:
    import time

    time.sleep(4)
    return text


@dsl.pipeline(name="slow-echo")
def slow_pipeline(text: str = "hello from slow"):
    slow_echo(text=text)
