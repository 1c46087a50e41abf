"""`pinnace config`: every value with its source."""

import json

from click.testing import CliRunner

from pinnace.cli.main import cli


def test_config_prints_each_value_with_its_source(tmp_path):
    (tmp_path / "config.toml").write_text("parallelism = 3\n[server]\naccess_log = false\n")
    runner = CliRunner()
    result = runner.invoke(
        cli, ["--home", str(tmp_path), "config"], env={"PINNACE_KFP_ALIAS": "always"}
    )
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert lines["parallelism"].endswith(f"[config file ({tmp_path / 'config.toml'})]")
    assert (
        "always" in lines["kfp_alias"] and "environment (PINNACE_KFP_ALIAS)" in lines["kfp_alias"]
    )
    assert "False" in lines["server.access_log"]
    assert lines["home"].endswith("[argument]")


def test_config_json_and_a_bad_file(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["--home", str(tmp_path), "config", "--json"], env={})
    document = json.loads(result.output)
    assert document["config_file"] is None
    assert {r["name"]: r["source"] for r in document["settings"]}["parallelism"] == "default"
    (tmp_path / "config.toml").write_text("parallelism = 0\n")
    result = runner.invoke(cli, ["--home", str(tmp_path), "config"], env={})
    assert result.exit_code == 2 and "parallelism" in result.output
