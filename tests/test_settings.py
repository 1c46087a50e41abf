"""Settings: flag over environment over default, each value knowing where it came from."""

import pytest

from pinnace.errors import UserInputError
from pinnace.settings import Settings


def test_defaults_live_under_the_home(tmp_path):
    s = Settings.load(env={}, home=tmp_path)
    assert s.database_url == f"sqlite:///{tmp_path / 'pinnace.db'}"
    assert s.artifact_root == str(tmp_path / "artifacts")
    assert s.fork_servers is True and s.kfp_alias == "auto"
    assert s.sources["home"] == "argument" and s.sources["parallelism"] == "default"


def test_argument_beats_environment(tmp_path):
    env = {"PINNACE_PARALLELISM": "7", "PINNACE_HOME": str(tmp_path / "env-home")}
    s = Settings.load(env=env, home=tmp_path, parallelism=3)
    assert s.parallelism == 3 and s.home == tmp_path
    s = Settings.load(env=env)
    assert s.parallelism == 7 and s.home == tmp_path / "env-home"
    assert s.sources["parallelism"] == "environment (PINNACE_PARALLELISM)"


@pytest.mark.parametrize("text, expected", [("0", False), ("off", False), ("1", True)])
def test_fork_servers_can_be_turned_off_from_the_environment(tmp_path, text, expected):
    assert Settings.load(env={"PINNACE_FORK_SERVERS": text}, home=tmp_path).fork_servers is expected


def test_a_bad_kfp_alias_value_is_a_clear_error(tmp_path):
    with pytest.raises(UserInputError, match="PINNACE_KFP_ALIAS"):
        Settings.load(env={"PINNACE_KFP_ALIAS": "sometimes"}, home=tmp_path)


def _write_config(home, text):
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)


def test_the_config_file_sits_between_environment_and_default(tmp_path):
    _write_config(
        tmp_path, 'parallelism = 5\nartifact_root = "s3://bucket/a"\nfork_servers = false\n'
    )
    s = Settings.load(env={}, home=tmp_path)
    assert (s.parallelism, s.artifact_root, s.fork_servers) == (5, "s3://bucket/a", False)
    assert s.config_file == tmp_path / "config.toml"
    assert s.sources["parallelism"] == f"config file ({tmp_path / 'config.toml'})"
    assert s.sources["kfp_alias"] == "default"
    s = Settings.load(env={"PINNACE_PARALLELISM": "6"}, home=tmp_path)
    assert s.parallelism == 6 and s.sources["parallelism"].startswith("environment")
    assert (
        Settings.load(env={"PINNACE_PARALLELISM": "6"}, home=tmp_path, parallelism=2).parallelism
        == 2
    )


def test_server_options_come_from_the_same_layers(tmp_path):
    _write_config(
        tmp_path,
        '[server]\npath_prefix = "pipeline/"\nallowed_hosts = ["a.example", "b.example"]\n'
        "scheduler_tick_seconds = 0\n",
    )
    s = Settings.load(env={"PINNACE_ALLOWED_HOSTS": "c.example, d.example"}, home=tmp_path)
    assert s.server.path_prefix == "/pipeline"
    assert s.server.allowed_hosts == ("c.example", "d.example")
    assert s.server.scheduler_tick_seconds == 0.0 and s.server.auth is True
    assert Settings.load(env={}, home=tmp_path, auth=False).server.auth is False
    assert Settings.load(env={}, home=tmp_path).server.allowed_hosts == ("a.example", "b.example")


def test_pinnace_config_names_another_file(tmp_path):
    other = tmp_path / "elsewhere.toml"
    other.write_text("parallelism = 9\n")
    s = Settings.load(env={"PINNACE_CONFIG": str(other)}, home=tmp_path / "home")
    assert s.parallelism == 9 and s.config_file == other
    with pytest.raises(UserInputError, match="PINNACE_CONFIG"):
        Settings.load(env={"PINNACE_CONFIG": str(tmp_path / "missing.toml")}, home=tmp_path)


@pytest.mark.parametrize(
    "text, words",
    [
        ("paralelism = 3\n", ["unknown setting 'paralelism'", "parallelism"]),
        ("[server]\nparallelism = 3\n", ["unknown setting 'server.parallelism'"]),
        ("auth = false\n", ["unknown setting 'auth'"]),
        ('parallelism = "many"\n', ["config.toml: parallelism"]),
        ("[server]\nauth = 3\n", ["server.auth", "true or false"]),
        ("parallelism = \n", ["cannot read the config file", "TOML"]),
    ],
)
def test_a_bad_config_file_is_a_clear_error(tmp_path, text, words):
    _write_config(tmp_path, text)
    with pytest.raises(UserInputError) as caught:
        Settings.load(env={}, home=tmp_path)
    for word in words:
        assert word in str(caught.value)


def test_described_masks_secrets_and_lists_every_setting(tmp_path):
    env = {
        "PINNACE_DATABASE_URL": "postgresql+psycopg://me:hunter2@db/pinnace",
        "PINNACE_ADMIN_PASSWORD": "s3cret",
    }
    s = Settings.load(env=env, home=tmp_path)
    rows = {r["name"]: r for r in s.described()}
    assert rows["database_url"]["value"] == "postgresql+psycopg://me:***@db/pinnace"
    assert rows["server.admin_password"]["value"] == "***"
    assert "hunter2" not in str(rows) and "s3cret" not in str(rows)
    assert {"home", "parallelism", "server.auth", "server.allowed_hosts"} <= set(rows)
    assert rows["server.admin_password"]["source"] == "environment (PINNACE_ADMIN_PASSWORD)"


def test_gpus_ray_node_ip_and_token_resolve_like_every_setting(tmp_path):
    (tmp_path / "config.toml").write_text(
        'gpus = ["0", "2"]\nray_node_ip = "10.0.0.7"\ntoken = "from-file"\n'
    )
    s = Settings.load(env={}, home=tmp_path)
    assert (s.gpus, s.ray_node_ip, s.token) == (("0", "2"), "10.0.0.7", "from-file")
    env = {"PINNACE_GPUS": "", "PINNACE_RAY_NODE_IP": "127.0.0.2", "PINNACE_TOKEN": "t0k"}
    s = Settings.load(env=env, home=tmp_path, token="flag")
    assert s.gpus == ()  # an empty PINNACE_GPUS means no GPUs, not "unset"
    assert (s.ray_node_ip, s.token) == ("127.0.0.2", "flag")
    rows = {r["name"]: r for r in s.described()}
    assert rows["token"]["value"] == "***" and "flag" not in str(rows)
    assert rows["gpus"]["source"] == "environment (PINNACE_GPUS)"
    assert Settings.load(env={}, home=tmp_path / "bare").gpus is None  # nvidia-smi decides
