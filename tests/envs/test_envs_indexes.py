"""Which indexes a build uses: the component's, uv's configuration, or the user's pip's."""

from __future__ import annotations

import os

from pinnace.envs.indexes import read_pip_config, resolve_indexes


def _env(tmp_path, **variables):
    """An environment with no user or site-wide pip/uv files except those a test writes."""
    base = {
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CONFIG_DIRS": str(tmp_path / "xdg"),
        "PIP_CONFIG_FILE": os.devnull,
    }
    return {**base, **variables}


def _pip_conf(tmp_path, text):
    path = tmp_path / "pip.conf"
    path.write_text(text)
    return str(path)


def test_component_index_urls_come_first(tmp_path):
    conf = _pip_conf(tmp_path, "[global]\nindex-url = https://pip.example/simple\n")
    config = resolve_indexes(
        ["https://a.example/simple", "https://b.example/simple"],
        ["a.example"],
        env=_env(tmp_path, PIP_CONFIG_FILE=conf, UV_INDEX_URL="https://uv.example/simple"),
    )
    assert config.uv_args()[:4] == [
        "--index-url",
        "https://a.example/simple",
        "--extra-index-url",
        "https://b.example/simple",
    ]
    args = config.uv_args()
    assert args[args.index("--allow-insecure-host") + 1] == "a.example"
    assert "pip_index_urls" in config.describe()


def test_uv_configuration_is_left_to_uv(tmp_path):
    conf = _pip_conf(tmp_path, "[global]\nindex-url = https://pip.example/simple\n")
    config = resolve_indexes(
        env=_env(tmp_path, PIP_CONFIG_FILE=conf, UV_INDEX_URL="http://127.0.0.1:9/simple")
    )
    assert config.uv_args() == []
    assert "UV_INDEX_URL=http://127.0.0.1:9/simple" in config.describe()


def test_uv_toml_with_an_index_is_left_to_uv(tmp_path):
    (tmp_path / "config" / "uv").mkdir(parents=True)
    (tmp_path / "config" / "uv" / "uv.toml").write_text('index-url = "https://uv.example"\n')
    conf = _pip_conf(tmp_path, "[global]\nindex-url = https://pip.example/simple\n")
    config = resolve_indexes(env=_env(tmp_path, PIP_CONFIG_FILE=conf))
    assert config.uv_args() == []
    assert "uv.toml" in config.describe()


def test_pip_configuration_is_translated_for_uv(tmp_path):
    conf = _pip_conf(
        tmp_path,
        "[global]\nindex-url = https://global.example/simple\n"
        "extra_index_url = file:///opt/a/simple\n  file:///opt/b/simple\n"
        "trusted-host = global.example\n"
        "[install]\nfind-links = /opt/wheels\n",
    )
    config = resolve_indexes(env=_env(tmp_path, PIP_CONFIG_FILE=conf))
    assert config.index_url == "https://global.example/simple"
    assert config.extra_index_urls == ("file:///opt/a/simple", "file:///opt/b/simple")
    assert config.find_links == ("/opt/wheels",)
    assert config.trusted_hosts == ("global.example",)
    # pip takes the best version across all indexes; uv must be told to do the same.
    assert config.uv_args()[-2:] == ["--index-strategy", "unsafe-best-match"]
    assert conf in config.describe()


def test_pip_variables_override_pip_files(tmp_path):
    conf = _pip_conf(tmp_path, "[global]\nindex-url = https://file.example/simple\n")
    values = read_pip_config(
        _env(tmp_path, PIP_CONFIG_FILE=conf, PIP_INDEX_URL="https://var.example/simple")
    )
    assert values["index-url"] == "https://var.example/simple"
    config = resolve_indexes(env=_env(tmp_path, PIP_INDEX_URL="https://var.example/simple"))
    assert config.uv_args() == ["--index-url", "https://var.example/simple"]
    assert "PIP_INDEX_URL" in config.describe()


def test_user_pip_conf_is_read_from_xdg_config_home(tmp_path):
    (tmp_path / "config" / "pip").mkdir(parents=True)
    (tmp_path / "config" / "pip" / "pip.conf").write_text(
        "[global]\nextra-index-url = https://user.example/simple\n"
    )
    env = _env(tmp_path)
    del env["PIP_CONFIG_FILE"]
    assert resolve_indexes(env=env).extra_index_urls == ("https://user.example/simple",)


def test_no_configuration_means_uv_defaults(tmp_path):
    config = resolve_indexes(env=_env(tmp_path))
    assert config.uv_args() == []
    assert "pypi.org" in config.describe()
