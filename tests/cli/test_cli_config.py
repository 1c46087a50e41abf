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


def test_auth_off_from_any_layer_is_refused_off_loopback(tmp_path):
    """--no-auth, PINNACE_AUTH=0 or `auth = false` in [server]: never on a public address."""
    runner = CliRunner()
    for args, env in (
        (["--no-auth"], {}),
        ([], {"PINNACE_AUTH": "0"}),
    ):
        result = runner.invoke(
            cli, ["--home", str(tmp_path), "server", "--host", "0.0.0.0", *args], env=env
        )
        assert result.exit_code == 2 and "without authentication" in result.output, args
    (tmp_path / "config.toml").write_text("[server]\nauth = false\n")
    result = runner.invoke(cli, ["--home", str(tmp_path), "server", "--host", "0.0.0.0"], env={})
    assert result.exit_code == 2 and "without authentication" in result.output
