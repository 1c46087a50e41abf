"""`pinnace runs resume` respects leases: a live driver's run and a server's run are refused."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from click.testing import CliRunner

from pinnace.backend import open_backend
from pinnace.cli.main import cli
from pinnace.engine.lease import CLI, SERVER
from pinnace.model.state import RunState
from pinnace.settings import Settings
from pinnace.stores.base import RunRecord

ELSEWHERE = "some-other-host:1234:5678"  # presumed alive: not a process of this machine


def leased_run(home, kind: str, expires_in: float) -> str:
    backend = open_backend(Settings.load(env={}, home=home))
    try:
        now = datetime.now(timezone.utc)
        run = RunRecord(
            run_id="r" * 32,
            pipeline_name="p",
            display_name="p",
            spec={"pipelineInfo": {"name": "p"}, "root": {"dag": {"tasks": {}}}},
            parameters={},
            state=RunState.PENDING,
            created_at=now,
        )
        backend.metadata.create_run(run)
        backend.metadata.update_run(run.run_id, state=RunState.RUNNING)
        backend.metadata.update_record(
            RunRecord,
            run.run_id,
            lease_owner=ELSEWHERE,
            lease_kind=kind,
            lease_expires_at=now + timedelta(seconds=expires_in),
        )
        return run.run_id
    finally:
        backend.close()


def resume(home, run_id: str):
    return CliRunner().invoke(cli, ["--home", str(home), "runs", "resume", run_id])


def test_resume_refuses_a_run_whose_driver_holds_its_lease(tmp_path):
    run_id = leased_run(tmp_path / "home", CLI, expires_in=3600)
    result = resume(tmp_path / "home", run_id)
    assert result.exit_code == 2, result.output
    assert f"driven by {ELSEWHERE}" in result.output


def test_resume_leaves_a_stopped_servers_run_to_the_server(tmp_path):
    run_id = leased_run(tmp_path / "home", SERVER, expires_in=-60)
    result = resume(tmp_path / "home", run_id)
    assert result.exit_code == 2, result.output
    assert "belongs to a Pinnace server that stopped" in result.output
    listed = CliRunner().invoke(cli, ["--home", str(tmp_path / "home"), "runs", "list"])
    assert listed.exit_code == 0 and "RUNNING" in listed.output  # never settled by the CLI
