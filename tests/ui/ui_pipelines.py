"""Small pipelines for the browser tests and the UI bench (no packages: they start at once)."""

from __future__ import annotations

from typing import Any

from pinnace import compiler, dsl
from pinnace.dsl import HTML, Markdown, Output

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
