"""KFP v2beta1 request messages shared by several routes (snake_case or camelCase JSON)."""

from __future__ import annotations

from typing import Any

from ..wire import KfpBody


class RuntimeConfig(KfpBody):
    #: the pipeline's parameter values, by the pipeline's own parameter names (kept as sent)
    parameters: dict[str, Any] | None = None
    pipeline_root: str | None = None


class VersionReference(KfpBody):
    pipeline_id: str | None = None
    pipeline_version_id: str | None = None


class CronSchedule(KfpBody):
    start_time: str | None = None
    end_time: str | None = None
    cron: str | None = None


class PeriodicSchedule(KfpBody):
    start_time: str | None = None
    end_time: str | None = None
    interval_second: int | str | None = None


class Trigger(KfpBody):
    cron_schedule: CronSchedule | None = None
    periodic_schedule: PeriodicSchedule | None = None
