"""Which package indexes an environment build uses: the component's, uv's own, or pip's.

Precedence, first match wins:

1. index URLs given by the component (`pip_index_urls`): the first is the index, the rest
   extra indexes, as kfp passes them to pip;
2. uv's own configuration (`UV_INDEX_URL`, `UV_DEFAULT_INDEX`, `UV_INDEX`,
   `UV_EXTRA_INDEX_URL`, `UV_FIND_LINKS`, `UV_NO_INDEX` or an index in a `uv.toml`):
   uv reads it itself, so nothing is passed;
3. the user's pip configuration (`PIP_*` variables, then pip.conf files, in pip's order),
   so a machine whose pip installs from a mirror builds from the same mirror.

pip's `find-links` and `cert` are carried over in cases 1 and 3, as pip would use them too.
"""

from __future__ import annotations

import configparser
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_UV_INDEX_VARIABLES = (
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
)
_UV_TOML_INDEX_KEY = re.compile(
    r"^\s*(\[\[index\]\]|(index-url|extra-index-url|default-index|find-links|index|no-index)\s*=)",
    re.MULTILINE,
)
_PIP_KEYS = ("index-url", "extra-index-url", "find-links", "trusted-host", "no-index", "cert")


@dataclass(frozen=True)
class IndexConfig:
    """The index options of one build, and where they came from (for error messages)."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    no_index: bool = False
    cert: str | None = None
    source: str = "uv defaults"
    uv_configured: bool = False

    def uv_args(self) -> list[str]:
        """Command-line options for `uv pip install`."""
        args: list[str] = []
        if self.index_url:
            args += ["--index-url", self.index_url]
        for url in self.extra_index_urls:
            args += ["--extra-index-url", url]
        for link in self.find_links:
            args += ["--find-links", link]
        for host in self.trusted_hosts:
            args += ["--allow-insecure-host", host]
        if self.no_index:
            args.append("--no-index")
        if self.extra_index_urls or self.find_links:
            # pip picks the best version across every index; uv's default stops at the
            # first index that has the name, which breaks mirrors holding only some versions.
            args += ["--index-strategy", "unsafe-best-match"]
        return args

    def uv_env(self) -> dict[str, str]:
        """Variables to add to uv's environment (pip's `cert` becomes `SSL_CERT_FILE`)."""
        return {"SSL_CERT_FILE": self.cert} if self.cert else {}

    def describe(self) -> str:
        """One line naming the indexes, for error messages."""
        if self.uv_configured:
            return f"the indexes of uv's configuration ({self.source})"
        if self.no_index:
            urls = ["no index"]
        else:
            urls = [self.index_url or "https://pypi.org/simple (default)"]
            urls += list(self.extra_index_urls)
        urls += [f"find-links {link}" for link in self.find_links]
        return f"{', '.join(urls)} [from {self.source}]"


def resolve_indexes(
    index_urls: Sequence[str] = (),
    trusted_hosts: Sequence[str] = (),
    *,
    env: Mapping[str, str] | None = None,
) -> IndexConfig:
    """The index configuration for a build, following the precedence in the module docstring."""
    env = os.environ if env is None else env
    pip = read_pip_config(env)
    find_links = tuple(_split(pip.get("find-links")))
    cert = _existing_file(pip.get("cert"), env)
    if index_urls:
        return IndexConfig(
            index_url=index_urls[0],
            extra_index_urls=tuple(index_urls[1:]),
            trusted_hosts=tuple(trusted_hosts),
            source="the component's pip_index_urls",
            find_links=find_links,
            cert=cert,
        )
    uv_source = _uv_index_source(env)
    if uv_source:
        return IndexConfig(trusted_hosts=tuple(trusted_hosts), source=uv_source, uv_configured=True)
    if not any(pip.get(key) for key in ("index-url", "extra-index-url", "find-links", "no-index")):
        return IndexConfig(trusted_hosts=tuple(trusted_hosts), cert=cert)
    return IndexConfig(
        index_url=pip.get("index-url") or None,
        extra_index_urls=tuple(_split(pip.get("extra-index-url"))),
        trusted_hosts=tuple(_split(pip.get("trusted-host"))) + tuple(trusted_hosts),
        no_index=_truthy(pip.get("no-index")),
        source=f"pip configuration ({pip.get(':source:', 'PIP_* variables')})",
        find_links=find_links,
        cert=cert,
    )


def read_pip_config(env: Mapping[str, str]) -> dict[str, str]:
    """pip's index options from its files and `PIP_*` variables, without starting pip.

    Later files override earlier ones (global, user, site, PIP_CONFIG_FILE); an `[install]`
    section overrides `[global]`; `PIP_*` variables override every file. The special key
    ':source:' names the files that contributed.
    """
    values: dict[str, str] = {}
    sources: list[str] = []
    for path in pip_config_files(env):
        found = _read_pip_file(path)
        if found:
            values.update(found)
            sources.append(str(path))
    for key in _PIP_KEYS:
        variable = "PIP_" + key.upper().replace("-", "_")
        if env.get(variable):
            values[key] = env[variable]
            sources.append(variable)
    if sources:
        values[":source:"] = ", ".join(sources)
    return values


def pip_config_files(env: Mapping[str, str]) -> list[Path]:
    """pip's configuration files in the order pip loads them (later ones win)."""
    config_file = env.get("PIP_CONFIG_FILE")
    if config_file == os.devnull:
        return []
    name = "pip.ini" if sys.platform == "win32" else "pip.conf"
    home = Path(env.get("HOME") or Path.home())
    if sys.platform == "win32":
        program_data = env.get("PROGRAMDATA", r"C:\ProgramData")
        files = [Path(program_data) / "pip" / name]
        user = [home / "pip" / name, Path(env.get("APPDATA", home)) / "pip" / name]
    else:
        dirs = env.get("XDG_CONFIG_DIRS") or "/etc/xdg"
        files = [Path(d) / "pip" / name for d in dirs.split(os.pathsep) if d]
        files.append(Path("/etc") / name)
        config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        user = [home / ".pip" / name, config_home / "pip" / name]
        if sys.platform == "darwin":
            user.append(home / "Library" / "Application Support" / "pip" / name)
    if not (config_file and Path(config_file).exists()):
        files += user
    files.append(Path(sys.prefix) / name)
    if config_file:
        files.append(Path(config_file))
    return files


class _PipConfigParser(configparser.RawConfigParser):
    def optionxform(self, optionstr: str) -> str:
        return optionstr.lower().replace("_", "-")  # as pip normalizes its keys


def _read_pip_file(path: Path) -> dict[str, str]:
    parser = _PipConfigParser()
    try:
        if not path.is_file():
            return {}
        parser.read(path, encoding="utf-8")
    except (OSError, UnicodeDecodeError, configparser.Error):
        return {}  # pip itself would refuse this file; the build error will then tell
    found: dict[str, str] = {}
    for section in ("global", "install"):
        if parser.has_section(section):
            for key in _PIP_KEYS:
                if parser.has_option(section, key):
                    found[key] = parser.get(section, key)
    return found


def _uv_index_source(env: Mapping[str, str]) -> str | None:
    for variable in _UV_INDEX_VARIABLES:
        if env.get(variable):
            return f"{variable}={env[variable]}"
    home = Path(env.get("HOME") or Path.home())
    config_home = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    dirs = (env.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep)
    candidates = [config_home / "uv" / "uv.toml", *(Path(d) / "uv" / "uv.toml" for d in dirs)]
    candidates.append(Path("/etc/uv/uv.toml"))
    if env.get("UV_CONFIG_FILE"):
        candidates.insert(0, Path(env["UV_CONFIG_FILE"]))
    for path in candidates:
        try:
            if path.is_file() and _UV_TOML_INDEX_KEY.search(path.read_text(encoding="utf-8")):
                return str(path)
        except (OSError, UnicodeDecodeError):
            continue
    return None


def _split(value: str | None) -> list[str]:
    return value.split() if value else []


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _existing_file(value: str | None, env: Mapping[str, str]) -> str | None:
    if not value or env.get("SSL_CERT_FILE"):
        return None
    return value if Path(value).is_file() else None


__all__ = ["IndexConfig", "pip_config_files", "read_pip_config", "resolve_indexes"]
