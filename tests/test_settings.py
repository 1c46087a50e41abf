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
