"""What a step sees: its environment variables (an allowlist) and its sandbox (bubblewrap).

Variables: a step gets PATH, locale, proxy and CA settings, its own HOME and TMPDIR (in its
task folder), its accelerator assignment, thread settings and the variables its task
declares (`set_env_variable`), plus the names listed in `PINNACE_STEP_ENV`. Nothing else of
the process that starts it (a server's admin password, cloud credentials) reaches it.

Sandbox (Linux, `bwrap` from Debian's `bubblewrap` package): the step runs in new mount,
PID, IPC and UTS namespaces with no capabilities and no new privileges; started by root, it
runs as `nobody`, with at most `max_processes` processes for all such steps together (a step
forked from a sandboxed fork server runs as a host uid of its own, executors/_enclosure.py:
the limit then holds for it alone and, as the kernel also counts a user namespace's
processes for its creator, nobody, still for all sandboxed steps together). Its
file system is a fresh root holding only: the system (/usr and its links, a short list of
/etc files, /sys read-only, a private /proc and minimal /dev), its interpreter and Python
environment (read-only), the Pinnace runtime (read-only), its input artifacts (read-only),
and its task folder (read-write), with a private /tmp. The Pinnace home, the metadata
database, other runs' artifacts and folders, other users' homes and the server's sockets do
not exist there. It cannot use the kernel's keyrings (a seccomp filter, executors/_seccomp.py:
it would read its server's session keys, and leave keys for other steps of the same uid).

Network (`step_network`): "isolated" (the default) gives the step its own network namespace
with outbound access through slirp4netns (Debian's `slirp4netns`) started with
`--disable-host-loopback`: it reaches other hosts, never a service listening on this
machine's loopback (the server's API, a PostgreSQL/MariaDB metadata store on 127.0.0.1);
"none" gives it no network at all; "host" shares this machine's network (unsafe on a
multi-user server: steps reach every local service).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..errors import ExecutorError
from ._seccomp import keyring_filter
from .base import Mount

#: variables of the starting process a step may see (exact names; LC_* too)
ALLOWED_VARIABLES = frozenset(
    {
        "PATH",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TERM",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_TRUSTED_HOST",
        "UV_INDEX_URL",
        "UV_EXTRA_INDEX_URL",
        "PYTHONDONTWRITEBYTECODE",
    }
)
#: more names to pass, comma-separated (e.g. "AWS_PROFILE,WANDB_API_KEY"), set by whoever
#: starts Pinnace: an explicit choice, never a default
PASS_VARIABLE = "PINNACE_STEP_ENV"
#: variables that differ per task (a fork server's identity leaves them out)
PER_TASK_VARIABLES = ("HOME", "TMPDIR", "TMP", "TEMP")

_ETC = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "pki",
    "resolv.conf",
    "hosts",
    "host.conf",
    "gai.conf",
    "nsswitch.conf",
    "services",
    "protocols",
    "passwd",
    "group",
    "localtime",
    "timezone",
    "alternatives",
    "mime.types",
    "os-release",
    "fonts",
    "matplotlibrc",
)
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_SANDBOX_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install "
    "bubblewrap), or run steps unsandboxed explicitly (server: --unsandboxed), knowing "
    "that every step can then read and change the Pinnace home and database"
)


#: `step_network` values (see the module docstring)
ISOLATED, NO_NETWORK, HOST_NETWORK = "isolated", "none", "host"
STEP_NETWORKS = (ISOLATED, NO_NETWORK, HOST_NETWORK)
_SLIRP_HINT = (
    "install slirp4netns (Debian/Ubuntu: apt-get install slirp4netns; Fedora: dnf install "
    "slirp4netns), or choose another step network: --step-network none (no network for "
    "steps) or host (steps reach every service on this machine's loopback)"
)
_LAUNCHER = str(Path(__file__).with_name("_netns.py"))


def task_folders(workdir: Path) -> tuple[Path, Path]:
    """A task's own HOME and TMPDIR, inside its task folder (created here)."""
    home, tmp = workdir / ".home", workdir / ".tmp"
    for folder in (home, tmp):
        folder.mkdir(mode=0o700, exist_ok=True)
    return home, tmp


def allowed_variables(source: Mapping[str, str]) -> dict[str, str]:
    """The variables of `source` a step may see (see the module docstring)."""
    passed = {n.strip() for n in source.get(PASS_VARIABLE, "").split(",") if n.strip()}
    env = {
        k: v
        for k, v in source.items()
        if k in ALLOWED_VARIABLES or k.startswith("LC_") or k in passed
    }
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return env


class SandboxUnavailable(ExecutorError):
    """Steps must be sandboxed but no sandbox can be made on this machine."""


@lru_cache(maxsize=4)
def _probe(bwrap: str) -> str | None:
    """None when `bwrap` can make a sandbox here, else why not."""
    try:
        done = subprocess.run(
            [
                bwrap,
                *_BASE_FLAGS,
                "--cap-drop",
                "ALL",
                *_system_binds(),
                "--",
                "/bin/sh",
                "-c",
                "exit 0",
            ],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{bwrap} does not run: {exc}"
    if done.returncode != 0:
        return f"{bwrap} cannot make a sandbox here: {done.stderr.decode(errors='replace')[:300]}"
    return None


_BASE_FLAGS = (
    "--die-with-parent",
    "--new-session",
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--hostname",
    "pinnace-step",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
)


def _system_binds() -> list[str]:
    args: list[str] = []
    for folder in _SYSTEM_DIRS:
        if os.path.islink(folder):
            args += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            args += ["--ro-bind", folder, folder]
    # /etc made traversable first (bwrap run by root would make it 0700: the step, `nobody`,
    # could then read no certificate, resolver or user file)
    args += ["--perms", "0755", "--dir", "/etc"]
    for name in _ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    return [*args, "--ro-bind-try", "/sys", "/sys"]


@dataclass(frozen=True)
class Sandbox:
    """Wraps a step's command in bubblewrap (see the module docstring).

    `protected` are paths no bind may contain (the Pinnace home, the database, the artifact
    root): a step's binds are refused if one of them would become visible.
    """

    bwrap: str
    protected: tuple[Path, ...] = field(default_factory=tuple)
    #: folders every step sees read-only (shared datasets); never one holding a protected path
    shares: tuple[Path, ...] = field(default_factory=tuple)
    #: processes the step user may have at once, all sandboxed steps together (started by
    #: root only: the limit counts a user's processes machine-wide): a fork bomb stops there
    max_processes: int = 4096
    #: "isolated", "none" or "host" (see the module docstring)
    network: str = ISOLATED
    #: the slirp4netns program ("isolated" only)
    slirp: str | None = None

    @classmethod
    def require(
        cls,
        protected: Iterable[Path] = (),
        shares: Iterable[str | Path] = (),
        network: str = ISOLATED,
    ) -> Sandbox:
        """The sandbox of this machine, or SandboxUnavailable saying what to install."""
        if network not in STEP_NETWORKS:
            raise SandboxUnavailable(
                f"unknown step network {network!r}", hint=f"one of {', '.join(STEP_NETWORKS)}"
            )
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise SandboxUnavailable(
                "steps must run sandboxed, but bwrap is not installed", hint=_SANDBOX_HINT
            )
        problem = _probe(bwrap)
        if problem:
            raise SandboxUnavailable(problem, hint=_SANDBOX_HINT)
        slirp = None
        if network == ISOLATED:
            slirp = shutil.which("slirp4netns")
            if slirp is None:
                raise SandboxUnavailable(
                    "steps get an isolated network (step_network=isolated), but slirp4netns "
                    "is not installed",
                    hint=_SLIRP_HINT,
                )
        sandbox = cls(
            bwrap,
            tuple(Path(os.path.abspath(p)) for p in protected),
            tuple(Path(os.path.abspath(p)) for p in shares),
            network=network,
            slirp=slirp,
        )
        for share in sandbox.shares:
            sandbox._check_visible(share)  # at start-up: a share holding the home is refused
        return sandbox

    def wrap(
        self,
        argv: Sequence[str],
        *,
        workdir: Path,
        read_only: Iterable[str | Path] = (),
        devices: Iterable[str] = (),
        mounts: Iterable[Mount] = (),
    ) -> list[str]:
        """`argv` run inside the sandbox: `workdir` read-write, `read_only` paths
        (interpreter, environment, runtime, inputs) read-only, `devices` passed, `mounts`
        (volumes) bound at their targets, a private /tmp. Started by root, the step runs as
        `nobody` (the task folder and the volumes are handed to it)."""
        workdir = Path(os.path.abspath(workdir))
        as_root = os.geteuid() == 0
        if as_root:
            _hand_over(workdir)
        args = [self.bwrap, *_BASE_FLAGS, *_capabilities(as_root), *_system_binds()]
        if self.network != HOST_NETWORK:
            args += ["--unshare-net"]
        if self.network == ISOLATED and self.slirp:  # see _netns.py: its pipes' fds
            # (without slirp4netns, which `require` insists on, the step has no network)
            from ._netns import BLOCK_FD, DNS_FD, INFO_FD

            args += ["--info-fd", str(INFO_FD), "--block-fd", str(BLOCK_FD)]
            args += ["--perms", "0644", "--ro-bind-data", str(DNS_FD), "/etc/resolv.conf"]
        args += ["--perms", "1777", "--tmpfs", "/tmp"]
        made: set[str] = set()
        args += self._read_only_binds(read_only, made)
        self._check_visible(workdir)
        args += [*_parents(str(workdir), made), "--bind", str(workdir), str(workdir)]
        for device in devices:
            args += ["--dev-bind-try", device, device]
        for mount in mounts:  # Pinnace's own folders (volumes/ of the home): no visibility check
            if as_root:
                _hand_over(Path(mount.source))
            kind = "--ro-bind" if mount.read_only else "--bind"
            args += [*_parents(mount.target, made), kind, mount.source, mount.target]
        # The sandbox's own root (a tmpfs holding the mount points) is read-only too.
        args += ["--remount-ro", "/", "--chdir", str(workdir), "--", *self._become(as_root)]
        if self.network == ISOLATED and self.slirp:
            launcher = [sys.executable, "-I", "-S", _LAUNCHER, self.slirp, "--"]
            return [*launcher, *_filtered(args), *argv]
        return [*_filtered(args), *argv]

    def wrap_server(
        self,
        argv: Sequence[str],
        *,
        read_only: Iterable[str | Path],
        bases: Iterable[Path],
        resolv_fd: int | None = None,
    ) -> list[str]:
        """`argv` (a fork server) inside a sandbox of its own (docs/fork-servers.md,
        "Sandboxed attempts"): a step's sandbox that shows no attempt's files, only
        `read_only` (its interpreter and environment, the runtime), the shares, and empty
        folders at `bases` where its children mount their own task folders and inputs; a
        private /tmp (its HOME); no network unless steps share the host's (`resolv_fd`, a
        readable descriptor, becomes its /etc/resolv.conf: what its children see with
        slirp4netns). `--die-with-parent` as every sandbox: a stopped server reads no end
        of its socket, so only that kills it with this process; it must therefore be started
        from a thread that lives as long as the process (executors/_lifeline.py)."""
        as_root = os.geteuid() == 0
        args = [self.bwrap, *_BASE_FLAGS, *_capabilities(as_root), *_system_binds()]
        if self.network != HOST_NETWORK:
            args += ["--unshare-net"]
        if self.network == ISOLATED and resolv_fd is not None:
            args += ["--perms", "0644", "--ro-bind-data", str(resolv_fd), "/etc/resolv.conf"]
        args += ["--perms", "1777", "--tmpfs", "/tmp"]
        made: set[str] = set()
        shown = [*read_only, *self.shares]
        bases = [Path(os.path.abspath(b)) for b in bases]
        conflict = bases_conflict(bases, shown)
        if conflict is not None:
            raise ExecutorError(f"cannot sandbox a fork server: {conflict}")
        args += self._read_only_binds(read_only, made)
        for base in sorted(bases):
            args += [*_parents(str(base), made), "--perms", "0755", "--dir", str(base)]
            made.add(str(base))
        args += ["--remount-ro", "/", "--chdir", "/tmp", "--", *self._become(as_root)]
        return [*_filtered(args), *argv]

    def _read_only_binds(self, read_only: Iterable[str | Path], made: set[str]) -> list[str]:
        args: list[str] = []
        for path in sorted({os.path.abspath(p) for p in (*read_only, *self.shares) if p}):
            if not os.path.exists(path) or _under_system(path):
                continue
            self._check_visible(Path(path))
            args += [*_parents(path, made), "--ro-bind", path, path]
        return args

    def _become(self, as_root: bool) -> list[str]:
        """Started by root: the process limit, then `nobody` without any capability."""
        if not as_root:
            return []
        limit = f"--nproc={self.max_processes}:{self.max_processes}"
        return ["prlimit", limit, *_BECOME_NOBODY]

    def _check_visible(self, path: Path) -> None:
        for secret in self.protected:
            if secret == path or path in secret.parents:
                raise ExecutorError(
                    f"the sandbox would show {str(secret)!r} to the step (through {str(path)!r})",
                    hint="keep the Pinnace home and artifact root outside the folders of "
                    "Python environments and task inputs",
                )


#: the step's user when Pinnace runs as root: no capability, no way back
STEP_UID = STEP_GID = 65534
_BECOME_NOBODY = (
    "setpriv",
    f"--reuid={STEP_UID}",
    f"--regid={STEP_GID}",
    "--clear-groups",
    "--inh-caps=-all",
    "--bounding-set=-all",
    "--no-new-privs",
)


#: the descriptor bwrap reads the seccomp filter from (opened by `sh` just before it starts)
_FILTER_FD = 9
_OPEN_FILTER = f'exec {_FILTER_FD}<"$0" && exec "$@"'


def _filtered(args: list[str]) -> list[str]:
    """bwrap `args` (bwrap first) that load the keyring filter (executors/_seccomp.py)."""
    path = keyring_filter()
    if path is None:
        return args
    bwrap, *rest = args
    return ["/bin/sh", "-c", _OPEN_FILTER, str(path), bwrap, "--seccomp", str(_FILTER_FD), *rest]


def _capabilities(as_root: bool) -> list[str]:
    caps = ["--cap-drop", "ALL"]
    if as_root:  # only what `setpriv` needs to become nobody, and then drops
        caps += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        caps += ["--cap-add", "CAP_SETPCAP"]
    return caps


def bases_conflict(bases: Iterable[Path], shown: Iterable[str | Path]) -> str | None:
    """Why a sandboxed fork server cannot have empty folders at `bases` beside the `shown`
    paths (a base would be a shown path, or lie inside one: a read-only bind), else None.
    A shown path inside a base is fine: each child shows it again on its own base."""
    for base in bases:
        base = Path(os.path.abspath(base))
        if base == Path("/") or _under_system(str(base)) or str(base) == "/tmp":
            return f"{str(base)!r} cannot hold task folders"
        for path in shown:
            path = Path(os.path.abspath(path))
            if path == base or path in base.parents:
                return f"{str(path)!r} holds the task folders' base {str(base)!r}"
    return None


def _hand_over(workdir: Path) -> None:
    """Make the task folder the step user's (it writes its outputs there)."""
    os.chown(workdir, STEP_UID, STEP_GID)
    # bwrap enters it as root without capabilities: it needs the others' search bit. (The
    # folder lies in the 0700 home: no one else on the machine reaches it.)
    os.chmod(workdir, 0o755)
    for folder, dirs, files in os.walk(workdir):
        for name in (*dirs, *files):
            os.chown(os.path.join(folder, name), STEP_UID, STEP_GID, follow_symlinks=False)


_MOUNTED = frozenset({"/tmp", "/etc", "/sys", "/proc", "/dev", "/usr"})


def _parents(path: str, made: set[str]) -> list[str]:
    """bwrap arguments creating `path`'s missing parents traversable (0755), once each."""
    args: list[str] = []
    parts = Path(path).parents
    for parent in reversed(list(parts)[:-1]):  # without "/"
        name = str(parent)
        if name not in made and name not in _MOUNTED and not _under_system(name):
            made.add(name)
            args += ["--perms", "0755", "--dir", name]
    return args


def _under_system(path: str) -> bool:
    return any(path == d or path.startswith(d + "/") for d in ("/usr", "/proc", "/dev"))


def python_paths(python: str | Path) -> list[Path]:
    """What an interpreter needs to run: its virtual environment (when it is one) and the
    installation of the interpreter it is based on."""
    python = Path(os.path.abspath(python))
    paths = []
    venv = python.parent.parent
    if (venv / "pyvenv.cfg").is_file():
        paths.append(venv)
        home = _pyvenv_home(venv / "pyvenv.cfg")
        if home is not None:
            paths.append(Path(os.path.realpath(home)).parent)
    real = Path(os.path.realpath(python))
    paths.append(real.parent.parent if real.parent.name == "bin" else real.parent)
    return paths


_PYTHON_NAME = re.compile(r"^python(\d+(\.\d+)?)?$")


def host_program(name: str, path: str | None) -> tuple[str, list[Path]]:
    """How a host command's program runs in the sandbox: its path and what to show of it.

    `python` (a container's interpreter, run on this machine) is resolved to the real
    interpreter behind any shim (pyenv's, asdf's), which the sandbox does not hold."""
    found = shutil.which(name, path=path)
    if found is None:
        return name, []
    if _PYTHON_NAME.match(Path(name).name):
        real = _real_python(found)
        if real:
            return real, python_paths(real)
    real_path = Path(os.path.realpath(found))
    return found, [real_path.parent]


@lru_cache(maxsize=16)
def _real_python(found: str) -> str | None:
    try:
        done = subprocess.run(
            [found, "-c", "import sys; print(sys.executable)"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    real = done.stdout.strip()
    return real if done.returncode == 0 and os.path.isabs(real) else None


def _pyvenv_home(cfg: Path) -> str | None:
    for line in cfg.read_text(encoding="utf-8", errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip():
            return value.strip()
    return None


def gpu_devices(gpus: Sequence[str]) -> list[str]:
    """The device files GPU tasks need (NVIDIA's control devices and the assigned cards)."""
    if not gpus:
        return []
    devices = ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"]
    devices += [f"/dev/nvidia{g}" for g in gpus if g.isdigit()]
    if any(not g.isdigit() for g in gpus):  # UUIDs: which card is which is not known here
        devices += sorted(str(p) for p in Path("/dev").glob("nvidia[0-9]*"))
    return devices
