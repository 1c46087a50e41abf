"""Content-addressed cache of virtual environments for tasks, built with uv.

Layout under the cache root:

    <key>/                    a complete environment (it holds the marker file)
    <key>/pinnace-env.json    the marker: written before the rename, so present = complete;
                              it holds the environment's fingerprint (envs/fingerprint.py)
    .aliases/<key>.json       a requirement set whose build installed exactly what another
                              environment holds: it names that one, and is used instead
    .building/<key>-<random>  an environment (or alias file) being built; renamed when complete
    .locks/<key>.lock         a cross-process lock: one build per key, the others wait
    .locks/publish.lock       held while a built environment is compared with the others and
                              put in place (renamed, or recorded as an alias)

Identical installs are one environment: {pandas, scikit-learn} and {pandas, scikit-learn,
joblib} install exactly the same distributions (joblib is a dependency of scikit-learn), so the
second build finds the first environment's fingerprint equal to its own, records its key as an
alias of the first and removes its copy. Both requirement sets then get the same interpreter,
fresh or forked (one fork server for both).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import EnvironmentBuildError, PinnaceError
from .fingerprint import fingerprint
from .indexes import IndexConfig, resolve_indexes
from .requirements import RequirementFix, normalize_requirements, requirement_name

MARKER = "pinnace-env.json"
ALIASES = ".aliases"
_PUBLISH = "publish"  # the lock held to compare and publish a build (keys are hex: no clash)
_KEY_VERSION = "3"  # bump when the layout of an environment changes (3: no build-time .pyc)
_MAX_ERROR_LINES = 25
_NETWORK_FAILURES = ("Failed to fetch", "error sending request", "tcp connect error", "dns error")


@dataclass(frozen=True)
class Environment:
    """A Python environment ready to run a task's program."""

    python: Path
    requirements: tuple[str, ...]
    key: str
    reused: bool
    build_seconds: float
    fixes: tuple[RequirementFix, ...] = ()
    #: the key of the environment whose installs this requirement set shares (it installs
    #: exactly the same distributions), or "" when the environment is its own
    alias_of: str = ""

    @property
    def folder_key(self) -> str:
        """The key of the folder the environment lives in (its own, or the one it shares)."""
        return self.alias_of or self.key


class EnvironmentCache:
    """Builds each distinct environment once and reuses it afterwards.

    Example:
        >>> cache = EnvironmentCache(Path("~/.pinnace/envs").expanduser())
        >>> env = cache.ensure(["six==1.17.0"])   # builds once, then reused
        >>> subprocess.run([env.python, "-c", "import six"])

    `python` is the interpreter environments are based on (default: the running one).
    `offline`: True builds from uv's cache only; False ignores `UV_OFFLINE`; None follows it.
    `uv` is the uv executable (default: the one of the `uv` package).
    """

    def __init__(
        self,
        root: Path,
        *,
        python: str | None = None,
        offline: bool | None = None,
        uv: str | None = None,
    ) -> None:
        self.root = Path(root)
        self.python = _find_interpreter(python) if python else sys.executable
        self.offline = offline
        self._uv = uv
        self._python_version: str | None = None
        self._keys: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}
        #: fingerprints of environments built before markers held one: (folder, mtime) -> it
        self._legacy: dict[tuple[str, int], str | None] = {}

    @staticmethod
    def current() -> Environment:
        """The running interpreter as it is, installing nothing."""
        return Environment(Path(sys.executable), (), "current", reused=True, build_seconds=0.0)

    def ensure(
        self,
        packages: Sequence[str],
        *,
        index_urls: Sequence[str] = (),
        trusted_hosts: Sequence[str] = (),
    ) -> Environment:
        """An environment with `packages` installed: reused when present, else built.

        Raises `UserInputError` for a malformed requirement and `EnvironmentBuildError`
        when uv cannot build the environment.
        """
        normalized = normalize_requirements(packages)
        requirements = normalized.requirements
        key = self.key_for(requirements, index_urls)
        if not requirements:
            # Nothing to install: the base interpreter itself is the fastest environment.
            return Environment(Path(self.python), (), key, True, 0.0, normalized.fixes)
        found = self._existing(key, requirements, normalized.fixes)
        if found is not None:
            return found
        with self._lock(key):
            found = self._existing(key, requirements, normalized.fixes)
            if found is not None:  # another process built it while we waited
                return found
            started = time.monotonic()
            indexes = resolve_indexes(index_urls, trusted_hosts)
            folder = self._build(key, requirements, indexes)
            seconds = time.monotonic() - started
        return Environment(
            _venv_python(self.root / folder),
            requirements,
            key,
            False,
            seconds,
            normalized.fixes,
            alias_of="" if folder == key else folder,
        )

    def find(
        self, packages: Sequence[str], *, index_urls: Sequence[str] = ()
    ) -> Environment | None:
        """The environment for `packages` when it is already built, else None (builds nothing)."""
        try:
            normalized = normalize_requirements(packages)
        except PinnaceError:
            return None
        requirements = normalized.requirements
        key = self.key_for(requirements, index_urls)
        if not requirements:
            return Environment(Path(self.python), (), key, True, 0.0, normalized.fixes)
        return self._existing(key, requirements, normalized.fixes)

    def folder_of(self, key: str) -> str | None:
        """The key of the folder holding `key`'s environment: `key` itself, the environment
        its alias names, or None when it is not built (an alias of a removed one is not)."""
        if (self.root / key / MARKER).is_file():
            return key
        target = self._alias_target(key)
        if target is not None and (self.root / target / MARKER).is_file():
            return target
        return None

    def aliases(self) -> dict[str, str]:
        """Every alias recorded: its key -> the key of the environment it names."""
        found = {}
        with contextlib.suppress(OSError):
            for path in (self.root / ALIASES).glob("*.json"):
                target = self._alias_target(path.stem)
                if target is not None:
                    found[path.stem] = target
        return found

    def dangling_aliases(self) -> list[Path]:
        """Alias files naming an environment that is not there any more (removed by hand)."""
        return sorted(
            self.root / ALIASES / f"{key}.json"
            for key, target in self.aliases().items()
            if not (self.root / target / MARKER).is_file()
        )

    def _existing(
        self, key: str, requirements: tuple[str, ...], fixes: tuple[RequirementFix, ...]
    ) -> Environment | None:
        folder = self.folder_of(key)
        if folder is None:
            return None
        python = _venv_python(self.root / folder)
        alias_of = "" if folder == key else folder
        return Environment(python, requirements, key, True, 0.0, fixes, alias_of=alias_of)

    def _alias_target(self, key: str) -> str | None:
        try:
            target = json.loads((self.root / ALIASES / f"{key}.json").read_text())["environment"]
        except (OSError, ValueError, TypeError, KeyError):
            return None
        return target if isinstance(target, str) and target.isalnum() else None

    def key_for(self, requirements: Sequence[str], index_urls: Sequence[str] = ()) -> str:
        """The content address of an environment: interpreter, requirements, index URLs."""
        memo = (tuple(requirements), tuple(index_urls))
        key = self._keys.get(memo)
        if key is None:
            key = self._keys[memo] = self._compute_key(requirements, index_urls)
        return key

    def _compute_key(self, requirements: Sequence[str], index_urls: Sequence[str]) -> str:
        payload = json.dumps(
            {
                "v": _KEY_VERSION,
                # The resolved interpreter: `.venv/bin/python` and `.venv/bin/python3` are one env.
                "python": os.path.realpath(self.python),
                "version": self._interpreter_version(),
                "requirements": sorted(requirements),
                "index_urls": list(index_urls),
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:20]

    def _build(self, key: str, requirements: tuple[str, ...], indexes: IndexConfig) -> str:
        """Build `key`'s environment (its lock held); the key of the folder that holds it:
        `key`, or the environment with exactly the same installs (then `key` is its alias)."""
        final = self.root / key
        building = self.root / ".building"
        building.mkdir(parents=True, exist_ok=True)
        for stale in building.glob(f"{final.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a killed build; we hold the lock
        temporary = Path(tempfile.mkdtemp(prefix=f"{final.name}-", dir=building))
        try:
            uv = self._uv_binary(requirements)
            self._run_uv(
                [uv, "venv", "--relocatable", "--python", self.python, str(temporary / "v")],
                requirements,
                indexes,
            )
            venv = temporary / "v"
            # No --compile-bytecode (it compiles every module of every package: ~10 s for
            # pandas + scikit-learn): tasks run with bytecode writing on (see
            # pinnace.executors.local) and cache what they import, once, atomically.
            install = [uv, "pip", "install", "--python", str(_venv_python(venv))]
            install += [*indexes.uv_args(), *self._offline_args(), *requirements]
            self._run_uv(install, requirements, indexes)
            installed = _fingerprint(venv)
            marker = {
                "python": self.python,
                "requirements": list(requirements),
                "fingerprint": installed,
            }
            (venv / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
            # One publisher at a time: two identical sets built at once give one environment.
            with self._lock(_PUBLISH):
                twin = self._twin(installed, key) if installed else None
                if twin is not None:
                    self._write_alias(key, twin, requirements)
                    return twin  # the copy just built is removed below
                if final.exists():  # a folder without marker: not ours to trust, rebuild it
                    shutil.rmtree(final)
                os.replace(venv, final)
                (self.root / ALIASES / f"{key}.json").unlink(missing_ok=True)  # a dangling one
            return key
        finally:
            shutil.rmtree(temporary, ignore_errors=True)

    def _twin(self, installed: str, key: str) -> str | None:
        """The key of a complete environment whose fingerprint is `installed`, if any."""
        try:
            folders = sorted(p for p in self.root.iterdir() if not p.name.startswith("."))
        except OSError:
            return None
        for folder in folders:
            if folder.name == key or not folder.name.isalnum():
                continue
            try:
                marker = json.loads((folder / MARKER).read_text())
                built = (folder / MARKER).stat().st_mtime_ns
            except (OSError, ValueError):
                continue  # not a complete environment
            other = marker.get("fingerprint") if isinstance(marker, dict) else None
            if other is None:  # built before markers held one: computed once per process
                if (folder.name, built) not in self._legacy:
                    self._legacy[folder.name, built] = _fingerprint(folder)
                other = self._legacy[folder.name, built]
            if other == installed:
                return folder.name
        return None

    def _write_alias(self, key: str, target: str, requirements: tuple[str, ...]) -> None:
        """Record `key` as an alias of `target`, atomically (written aside, then renamed)."""
        aliases = self.root / ALIASES
        aliases.mkdir(parents=True, exist_ok=True)
        # Aside in .building, named for its key: a killed write is a stale build (removed).
        handle, temporary = tempfile.mkstemp(prefix=f"{key}-", dir=self.root / ".building")
        with os.fdopen(handle, "w") as out:
            json.dump({"environment": target, "requirements": list(requirements)}, out)
            out.write("\n")
        os.replace(temporary, aliases / f"{key}.json")

    def _run_uv(self, argv: list[str], requirements: tuple[str, ...], indexes: IndexConfig) -> None:
        env = {**os.environ, **indexes.uv_env(), "NO_COLOR": "1", "UV_NO_PROGRESS": "1"}
        env.pop("VIRTUAL_ENV", None)  # the target is always given explicitly
        if self.offline is False:
            env.pop("UV_OFFLINE", None)
        try:
            # cwd is the cache root, so a project's own uv settings never leak into a build.
            done = subprocess.run(
                [*_die_with_parent(), *argv],
                cwd=self.root,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError as error:
            raise EnvironmentBuildError(
                f"cannot run uv ({argv[0]}): {error.strerror}",
                packages=list(requirements),
                hint="reinstall Pinnace so that its 'uv' dependency is present",
            ) from None
        if done.returncode != 0:
            raise _build_error(done.stdout + done.stderr, requirements, indexes, self.offline)

    def _offline_args(self) -> list[str]:
        return ["--offline"] if self.offline else []

    def _uv_binary(self, requirements: tuple[str, ...]) -> str:
        if self._uv:
            return self._uv
        try:
            from uv import find_uv_bin  # imported here: only a build needs it

            return find_uv_bin()
        except (ImportError, FileNotFoundError):
            raise EnvironmentBuildError(
                "cannot find the uv executable needed to build task environments",
                packages=list(requirements),
                hint="install it with 'pip install uv', or run with the current interpreter",
            ) from None

    def _interpreter_version(self) -> str:
        if self._python_version is None:
            if self.python == sys.executable:
                self._python_version = sys.version
            else:
                self._python_version = _query_version(self.python)
        return self._python_version

    def stale_builds(self) -> list[Path]:
        """Half-built environments (and alias files half written) whose build is not running
        (a killed `pinnace`)."""
        import fcntl

        stale = []
        for folder in sorted((self.root / ".building").glob("*-*")):
            key = folder.name.rsplit("-", 1)[0]
            lock = self.root / ".locks" / f"{key}.lock"
            if not lock.exists():  # no build ever held it
                stale.append(folder)
                continue
            try:
                with open(lock, "a+") as handle:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # nobody builds it
                    fcntl.flock(handle, fcntl.LOCK_UN)
            except OSError:
                continue
            stale.append(folder)
        return stale

    def remove_stale_builds(self) -> int:
        """Remove what `stale_builds` finds (at start-up: killed builds leave nothing)."""
        found = self.stale_builds()
        for folder in found:
            if folder.is_dir() and not folder.is_symlink():
                shutil.rmtree(folder, ignore_errors=True)
            else:  # an alias file whose write was killed
                folder.unlink(missing_ok=True)
        return len(found)

    @contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        import fcntl  # POSIX only; imported here so that importing this module stays cheap

        locks = self.root / ".locks"
        locks.mkdir(parents=True, exist_ok=True)
        with open(locks / f"{key}.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _die_with_parent() -> list[str]:
    """An argv prefix making uv die with the thread that started it (a killed `pinnace`
    leaves no build running), when util-linux's setpriv is there."""
    return ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []


def _fingerprint(venv: Path) -> str | None:
    """The environment's fingerprint; None when unreadable (never aliased then)."""
    try:
        return fingerprint(venv)
    except OSError:
        return None


def _venv_python(venv: Path) -> Path:
    if sys.platform == "win32":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _find_interpreter(python: str) -> str:
    found = shutil.which(python)
    if found is None:
        raise EnvironmentBuildError(
            f"Python interpreter {python!r} not found",
            hint="give a path to a python executable, or a name on PATH such as 'python3.11'",
        )
    return os.path.abspath(found)


def _query_version(python: str) -> str:
    try:
        done = subprocess.run(
            [python, "-c", "import sys; print(sys.version)"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise EnvironmentBuildError(
            f"cannot run the Python interpreter {python!r}: {error}",
            hint="check that it is a working python executable",
        ) from None
    return done.stdout.strip()


def _build_error(
    output: str, requirements: tuple[str, ...], indexes: IndexConfig, offline: bool | None
) -> EnvironmentBuildError:
    named = [r for r in requirements if _mentioned(r, output)] or list(requirements)
    if any(sign in output for sign in _NETWORK_FAILURES):
        hint = (
            "the package index could not be reached: check the network and the index URL "
            "(UV_INDEX_URL, PIP_INDEX_URL, pip.conf or pip_index_urls); "
            "--offline builds from packages already in uv's cache"
        )
    elif offline:
        hint = (
            "--offline installs only packages already in uv's cache: build this environment "
            "once without --offline, or check the package names and versions"
        )
    else:
        hint = (
            "check the package names and versions; --offline builds from uv's cache only; "
            "to use another index set UV_INDEX_URL or PIP_INDEX_URL (or pip_index_urls)"
        )
    return EnvironmentBuildError(
        f"cannot install {', '.join(named)} from {indexes.describe()}:\n{condense(output)}",
        packages=named,
        hint=hint,
    )


def _mentioned(requirement: str, output: str) -> bool:
    name = requirement_name(requirement)
    if name is None:
        return requirement in output
    text = output.lower()
    return any(variant in text for variant in {name, name.replace("-", "_")})


def condense(output: str) -> str:
    """uv's output cut to its error: from the first `error:` line, blank lines dropped."""
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if line.startswith("error")), 0)
    kept = lines[start:]
    if len(kept) > _MAX_ERROR_LINES:
        omitted = len(kept) - _MAX_ERROR_LINES
        kept = [*kept[:_MAX_ERROR_LINES], f"  ... ({omitted} more lines)"]
    return "\n".join("  " + line for line in kept)


__all__ = ["ALIASES", "MARKER", "Environment", "EnvironmentCache", "condense"]
