"""Settings: the one configuration object, built at the edges and passed down.

Precedence, value by value: an explicit argument (a command-line flag), then the
`PINNACE_*` environment variable, then the config file, then the default. Each value
remembers where it came from (`Settings.sources`); `pinnace config` prints them all.
Nothing here runs at import time.

The config file is `<home>/config.toml` (or the file `PINNACE_CONFIG` names); the server's
options go in its `[server]` table::

    parallelism = 4
    database_url = "postgresql+psycopg://pinnace@db.example.com/pinnace"

    [server]
    path_prefix = "/pipeline"
    allowed_hosts = ["pipelines.example.com"]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserInputError

#: the executors `Settings.executor` may name
EXECUTORS = ("local", "ray")
CONFIG_FILE = "config.toml"
CONFIG_VARIABLE = "PINNACE_CONFIG"
DEFAULT_MAX_UPLOAD_BYTES = 32 * 1024 * 1024


def normalize_prefix(prefix: str) -> str:
    """ "pipeline/" → "/pipeline"; "" and "/" → ""."""
    return "/" + prefix.strip("/") if prefix.strip("/") else ""


@dataclass(frozen=True)
class ServerOptions:
    """The server's part of the settings (the `[server]` table of the config file)."""

    auth: bool = True
    path_prefix: str = ""
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    #: the first admin's password; a random one is generated (and printed once) when empty
    admin_password: str | None = None
    #: how often the recurring-run scheduler looks for due slots; 0 turns it off
    scheduler_tick_seconds: float = 1.0
    #: resume (adopt) the server's runs that a killed or stopped server left unfinished
    resume_orphaned_runs: bool = True
    #: adopt the runs of dead `pinnace run` processes too, instead of settling them FAILED
    adopt_cli_runs: bool = False
    #: on SIGTERM/SIGINT, how long in-flight runs may go on before they are left to the
    #: next server (their task processes killed, their records kept for resuming)
    stop_grace_seconds: float = 5.0
    #: one JSON line per request on the `pinnace.server.access` logger (stderr)
    access_log: bool = True
    #: Host names besides the loopback ones that the server answers to ("*": any)
    allowed_hosts: tuple[str, ...] = ()
    #: hosts a `package_url` may name besides KFP's defaults (services/package_url.py)
    package_url_domains: tuple[str, ...] = ()
    #: run steps without the sandbox: every step can then read the home and database
    #: (`--unsandboxed`, PINNACE_UNSANDBOXED=1); a server sandboxes steps by default
    unsandboxed: bool = False

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ServerOptions:
        """The server options alone: `Settings.load(env, **overrides).server`."""
        return Settings.load(env, **overrides).server


@dataclass(frozen=True)
class Settings:
    """Where Pinnace keeps its state, how it runs tasks, and how its server serves.

    Example:
        >>> s = Settings.load(env={}, home="/tmp/pinnace-home")
        >>> s.database_url
        'sqlite:////tmp/pinnace-home/pinnace.db'
    """

    home: Path
    database_url: str
    artifact_root: str
    parallelism: int
    use_current_python: bool = False
    #: "auto": `import kfp` in pipeline files means Pinnace when kfp is not installed;
    #: "always": even when it is (lets the kfp 1.x book code run beside a kfp 2.x install)
    kfp_alias: str = "auto"
    #: fork tasks from per-environment fork servers, imports done (PINNACE_FORK_SERVERS=0: off)
    fork_servers: bool = True
    #: sandboxed steps fork from sandboxed fork servers, one per owner, each child in a
    #: sandbox of its own (PINNACE_SANDBOXED_FORK_SERVERS=0: each starts fresh in its
    #: sandbox; docs/fork-servers.md, "Sandboxed attempts", says what differs)
    sandboxed_fork_servers: bool = True
    #: where tasks run: "local" (processes on this machine) or "ray" (a Ray cluster)
    executor: str = "local"
    #: the Ray cluster's address (HOST:PORT of its GCS, or "auto"); None starts a local one
    ray_address: str | None = None
    #: the address this machine's Ray node uses in the cluster (PINNACE_RAY_NODE_IP);
    #: None lets Ray choose
    ray_node_ip: str | None = None
    #: GPU ids local tasks may take (PINNACE_GPUS=0,1; empty: none); None: those
    #: `nvidia-smi -L` lists, asked at the first task that wants a GPU
    gpus: tuple[str, ...] | None = None
    #: the API token `pinnace run --server` sends (PINNACE_TOKEN or --token); shown masked
    token: str | None = None
    #: run local steps in a sandbox (executors/_sandbox.py; PINNACE_SANDBOX=1); a server
    #: turns it on unless started with --unsandboxed, the CLI leaves it off unless asked
    sandbox: bool = False
    #: folders every sandboxed step sees read-only besides its inputs (shared datasets)
    sandbox_shares: tuple[str, ...] = ()
    #: a sandboxed step's network: "isolated" (own namespace, outbound through slirp4netns,
    #: never this machine's loopback services), "none", or "host" (unsafe when shared)
    step_network: str = "isolated"
    #: the most files and bytes one task output may hold (more fails the task)
    max_output_files: int = 100_000
    max_output_bytes: int = 256 * 1024**3
    #: seconds a run's lease lasts without a heartbeat: how soon a dead driver's run is
    #: settled or adopted (heartbeats every quarter of it)
    lease_seconds: float = 15.0
    server: ServerOptions = field(default_factory=ServerOptions)
    #: the config file read (None: there was none)
    config_file: Path | None = None
    #: setting name -> where its value came from: "argument", "environment (PINNACE_X)",
    #: "config file (PATH)" or "default"
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def envs_dir(self) -> Path:
        return self.home / "envs"

    @property
    def work_dir(self) -> Path:
        """Scratch space for running executions; emptied as executions finish."""
        return self.home / "work"

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from overrides (flags), `env` (default os.environ), the config
        file, then defaults. An override of None counts as not given."""
        unknown = set(overrides) - {"home", *KEYS}
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        env = os.environ if env is None else env
        sources: dict[str, str] = {}
        if overrides.get("home") is not None:
            home_value, sources["home"] = overrides["home"], "argument"
        elif env.get("PINNACE_HOME"):
            home_value, sources["home"] = env["PINNACE_HOME"], "environment (PINNACE_HOME)"
        else:
            home_value, sources["home"] = Path.home() / ".pinnace", "default"
        home = Path(home_value).expanduser().resolve()
        config_file, file_values = read_config_file(home, env)
        values: dict[str, Any] = {}
        for name, key in KEYS.items():
            values[name], sources[name] = key.resolve(
                overrides.get(name), env, file_values, config_file, home
            )
        server = ServerOptions(**{n: values.pop(n) for n in list(values) if KEYS[n].server})
        return cls(home=home, server=server, config_file=config_file, sources=sources, **values)

    def described(self) -> list[dict[str, Any]]:
        """Every setting with its value (secrets masked) and source, for `pinnace config`."""
        rows: list[dict[str, Any]] = [
            {"name": "home", "value": str(self.home), "source": self.sources.get("home", "")}
        ]
        for name, key in KEYS.items():
            value = getattr(self.server if key.server else self, name)
            rows.append(
                {
                    "name": f"server.{name}" if key.server else name,
                    "value": key.show(value),
                    "source": self.sources.get(name, ""),
                    "variable": key.variable,
                }
            )
        return rows


# -- the keys --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Key:
    """One setting: how to parse it from text or TOML, its default, where it is read."""

    name: str
    parse: Callable[[Any], Any]
    default: Callable[[Path], Any]
    server: bool = False
    secret: bool = False
    #: an empty variable is a value (PINNACE_GPUS= means none), not "unset"
    empty_is_value: bool = False

    @property
    def variable(self) -> str:
        return f"PINNACE_{self.name.upper()}"

    def resolve(
        self,
        given: Any,
        env: Mapping[str, str],
        file_values: Mapping[str, Any],
        config_file: Path | None,
        home: Path,
    ) -> tuple[Any, str]:
        if given is not None:
            return self._parse(given, f"the {self.name} argument"), "argument"
        if env.get(self.variable) or (self.empty_is_value and self.variable in env):
            where = f"environment ({self.variable})"
            return self._parse(env[self.variable], self.variable), where
        if self.name in file_values:
            name = f"server.{self.name}" if self.server else self.name
            where = f"config file ({config_file})"
            return self._parse(file_values[self.name], f"{config_file}: {name}"), where
        return self.default(home), "default"

    def _parse(self, raw: Any, where: str) -> Any:
        try:
            return self.parse(raw)
        except (TypeError, ValueError) as exc:
            raise UserInputError(
                f"{where}: {exc}", hint="see `pinnace config` for the current values"
            ) from None

    def show(self, value: Any) -> Any:
        if value is None:
            return None
        if self.secret:
            return "***"
        if self.name == "database_url":
            return _mask_password(str(value))
        if isinstance(value, tuple):
            return list(value)
        return value


def _text(raw: Any) -> str:
    if not isinstance(raw, (str, Path)):
        raise ValueError(f"expected a string, got {raw!r}")
    return str(raw)


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _number(kind: type, minimum: float) -> Callable[[Any], Any]:
    def parse(raw: Any) -> Any:
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise ValueError(f"expected a number, got {raw!r}")
        value = kind(raw)
        if value < minimum:
            raise ValueError(f"must be at least {minimum}, got {value}")
        return value

    return parse


def _kfp_alias(raw: Any) -> str:
    value = _text(raw).lower()
    if value not in ("auto", "always"):
        raise ValueError(f"must be 'auto' or 'always', not {value!r}")
    return value


def _executor(raw: Any) -> str:
    value = _text(raw).lower()
    if value not in EXECUTORS:
        raise ValueError(f"unknown executor {value!r}; one of: {', '.join(EXECUTORS)}")
    return value


def _step_network(raw: Any) -> str:
    value = _text(raw).lower()
    if value not in ("isolated", "none", "host"):
        raise ValueError(f"must be 'isolated', 'none' or 'host', not {value!r}")
    return value


def _hosts(raw: Any) -> tuple[str, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, (list, tuple)) or not all(isinstance(h, str) for h in items):
        raise ValueError(f"expected host names, got {raw!r}")
    return tuple(h.strip() for h in items if h.strip())


def _paths(raw: Any) -> tuple[str, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, (list, tuple)) or not all(isinstance(p, str) for p in items):
        raise ValueError(f"expected folder paths, got {raw!r}")
    return tuple(os.path.abspath(os.path.expanduser(p.strip())) for p in items if p.strip())


def _ids(raw: Any) -> tuple[str, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, (str, int)) for i in items):
        raise ValueError(f"expected device ids, got {raw!r}")
    return tuple(str(i).strip() for i in items if str(i).strip())


def _optional_text(raw: Any) -> str | None:
    return _text(raw) or None


KEYS: dict[str, _Key] = {
    k.name: k
    for k in (
        _Key("database_url", _text, lambda home: f"sqlite:///{home / 'pinnace.db'}"),
        _Key("artifact_root", _text, lambda home: str(home / "artifacts")),
        _Key("parallelism", _number(int, 1), lambda home: os.cpu_count() or 1),
        _Key("use_current_python", _bool, lambda home: False),
        _Key("kfp_alias", _kfp_alias, lambda home: "auto"),
        _Key("fork_servers", _bool, lambda home: True),
        _Key("sandboxed_fork_servers", _bool, lambda home: True),
        _Key("executor", _executor, lambda home: "local"),
        _Key("ray_address", _optional_text, lambda home: None),
        _Key("ray_node_ip", _optional_text, lambda home: None),
        _Key("gpus", _ids, lambda home: None, empty_is_value=True),
        _Key("token", _optional_text, lambda home: None, secret=True),
        _Key("sandbox", _bool, lambda home: False),
        _Key("sandbox_shares", _paths, lambda home: ()),
        _Key("step_network", _step_network, lambda home: "isolated"),
        _Key("max_output_files", _number(int, 1), lambda home: 100_000),
        _Key("max_output_bytes", _number(int, 1), lambda home: 256 * 1024**3),
        _Key("lease_seconds", _number(float, 1), lambda home: 15.0),
        _Key("auth", _bool, lambda home: True, server=True),
        _Key("path_prefix", lambda r: normalize_prefix(_text(r)), lambda home: "", server=True),
        _Key(
            "max_upload_bytes",
            _number(int, 1),
            lambda home: DEFAULT_MAX_UPLOAD_BYTES,
            server=True,
        ),
        _Key("admin_password", _optional_text, lambda home: None, server=True, secret=True),
        _Key("scheduler_tick_seconds", _number(float, 0), lambda home: 1.0, server=True),
        _Key("resume_orphaned_runs", _bool, lambda home: True, server=True),
        _Key("adopt_cli_runs", _bool, lambda home: False, server=True),
        _Key("stop_grace_seconds", _number(float, 0), lambda home: 5.0, server=True),
        _Key("access_log", _bool, lambda home: True, server=True),
        _Key("allowed_hosts", _hosts, lambda home: (), server=True),
        _Key("package_url_domains", _hosts, lambda home: (), server=True),
        _Key("unsandboxed", _bool, lambda home: False, server=True),
    )
}


# -- the config file -------------------------------------------------------------------------


def config_path(home: Path, env: Mapping[str, str]) -> Path:
    """The config file: `PINNACE_CONFIG`, else `<home>/config.toml`."""
    named = env.get(CONFIG_VARIABLE)
    return Path(named).expanduser() if named else home / CONFIG_FILE


def read_config_file(home: Path, env: Mapping[str, str]) -> tuple[Path | None, dict[str, Any]]:
    """The config file's values, flattened (server keys too); (None, {}) without a file."""
    path = config_path(home, env)
    if not path.is_file():
        if env.get(CONFIG_VARIABLE):
            raise UserInputError(
                f"{CONFIG_VARIABLE} names {path}, which is not a file",
                hint=f"create it, or unset {CONFIG_VARIABLE} to use {home / CONFIG_FILE}",
            )
        return None, {}
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserInputError(
            f"cannot read the config file {path}: {exc}", hint="it must be TOML"
        ) from None
    return path, _flatten(document, path)


def _flatten(document: Mapping[str, Any], path: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    server = document.get("server", {})
    if not isinstance(server, dict):
        raise UserInputError(f"{path}: `server` must be a table ([server])")
    top = {k: v for k, v in document.items() if k != "server"}
    for names, table, is_server in ((top, top, False), (server, server, True)):
        for name in names:
            key = KEYS.get(name)
            if key is None or key.server is not is_server:
                valid = sorted(k for k, v in KEYS.items() if v.server is is_server)
                where = f"server.{name}" if is_server else name
                raise UserInputError(
                    f"{path}: unknown setting {where!r}",
                    hint=f"valid {'[server] ' if is_server else ''}settings: {', '.join(valid)}",
                )
            values[name] = table[name]
    return values


def _mask_password(url: str) -> str:
    """postgresql://user:secret@host/db → postgresql://user:***@host/db"""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
