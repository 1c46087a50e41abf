"""Local secrets and config maps: what `kubernetes.use_secret_as_env` reads on this machine.

`pinnace secrets set NAME KEY=VALUE ...` stores a secret as `<home>/secrets/NAME.json`
(folder 0700, file 0600, written atomically); config maps live beside them under
`configmaps/`. Values are never printed or logged: listings show names and keys only.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from ..errors import NotFoundError, UserInputError

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


class LocalSecretStore:
    """Named sets of key/value strings in one folder (`kind` "secret" or "config map")."""

    def __init__(self, root: Path, kind: str = "secret") -> None:
        self.root = Path(root)
        self.kind = kind

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise UserInputError(
                f"invalid {self.kind} name {name!r}",
                hint="use a Kubernetes name: lower-case letters, digits, '-' and '.'",
            )
        return self.root / f"{name}.json"

    def set(self, name: str, values: dict[str, str], *, replace: bool = False) -> None:
        """Add (or with `replace`, replace all) keys of `name`."""
        path = self._path(name)
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        current = {} if replace or not path.exists() else self.get(name)
        current.update({str(k): str(v) for k, v in values.items()})
        fd, temporary = tempfile.mkstemp(dir=self.root, prefix=".tmp-")  # created 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(current, handle)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, name: str) -> dict[str, str]:
        path = self._path(name)
        if not path.exists():
            raise NotFoundError(
                f"no {self.kind} {name!r} on this machine",
                hint=f"create it with `pinnace {self.kind.replace(' ', '')}s set {name} KEY=VALUE`",
            )
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data.items()}

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.stem for p in self.root.glob("*.json"))

    def delete(self, name: str) -> None:
        path = self._path(name)
        if not path.exists():
            raise NotFoundError(f"no {self.kind} {name!r} on this machine")
        path.unlink()
