"""The run-level cache TTL, and the cache inside loops and nested DAGs."""

from __future__ import annotations

import time

from engine_helpers import kfp_spec, memory_driver

from pinnace.model.state import RunState, TaskState


def test_cache_ttl_ignores_older_entries_and_groups_reuse_inside_loops(tmp_path):
    spec = kfp_spec("loops_pipeline", tmp_path, "kfp_flow")
    driver = memory_driver(tmp_path)
    results = []
    try:
        for ttl in (None, 3600, 0):
            if ttl == 0:
                time.sleep(0.05)
            record = driver.create_run(spec, {"values": [1, 2]}, cache_ttl_seconds=ttl)
            run = driver.drive(record.run_id)
            assert run.state is RunState.SUCCEEDED, run.error
            results.append(
                {t.task_name: t.state for t in driver.metadata.list_tasks(record.run_id)}
            )
        assert driver.cache_ttl == {}  # nothing kept about runs that ended
    finally:
        driver.executor.close()
    first, fresh, expired = results
    assert first["for-loop-1[0]/square"] is TaskState.SUCCEEDED
    assert fresh["for-loop-1[0]/square"] is TaskState.CACHED
    assert fresh["total"] is TaskState.CACHED
    assert fresh["for-loop-1"] is TaskState.SUCCEEDED  # groups are never cached themselves
    assert expired["for-loop-1[1]/square"] is TaskState.SUCCEEDED
    assert expired["total"] is TaskState.SUCCEEDED
