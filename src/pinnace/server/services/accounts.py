"""Users, passwords and API tokens: scrypt hashes with a per-user salt, tokens stored hashed.

Example:
    >>> user = add_user(store, "alice", "s3cret-pass")          # doctest: +SKIP
    >>> token = create_token(store, "alice")                     # printed once, never stored
    >>> principal_for_token(store, token).name
    'alice'
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ...errors import NotFoundError, UserInputError
from ...stores.base import ApiTokenRecord, ListQuery, MetadataStore, Predicate, UserRecord
from ..errors import AuthenticationError, ConflictError

ADMIN = "admin"
TOKEN_PREFIX = "pnc_"
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")
#: how stale `last_used_at` may get before a request writes it again (saves a write per call)
_TOUCH_EVERY = timedelta(minutes=1)
MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user, or the anonymous admin of a server without auth."""

    name: str
    namespace: str | None
    is_admin: bool

    def visible(self) -> frozenset[str | None] | None:
        """The namespaces whose objects this principal sees; None means all."""
        return None if self.is_admin else frozenset({self.namespace})


ANONYMOUS_ADMIN = Principal(name="anonymous", namespace=None, is_admin=True)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(digest) // 2,
        )
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def _token_hash(token: str) -> str:
    # Tokens are 256 random bits: a fast hash is enough (no dictionary to guess from).
    return hashlib.sha256(token.encode()).hexdigest()


def check_user_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise UserInputError(
            f"invalid user name {name!r}",
            hint="use 1-63 lowercase letters, digits, '.', '_' or '-', starting and ending "
            "with a letter or digit",
        )
    return name


def add_user(
    store: MetadataStore,
    name: str,
    password: str,
    *,
    is_admin: bool = False,
    namespace: str | None = None,
) -> UserRecord:
    """Create a user; the namespace defaults to the user name."""
    check_user_name(name)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserInputError(f"the password is shorter than {MIN_PASSWORD_LENGTH} characters")
    if find_user(store, name) is not None:
        raise ConflictError(f"user {name!r} already exists", hint="pick another name")
    record = UserRecord(
        name=name,
        password_hash=hash_password(password),
        created_at=_now(),
        is_admin=is_admin,
        namespace=namespace or name,
    )
    store.insert_record(record)
    return record


def find_user(store: MetadataStore, name: str) -> UserRecord | None:
    try:
        return store.get_record(UserRecord, name)
    except NotFoundError:
        return None


def count_admins(store: MetadataStore) -> int:
    query = ListQuery(predicates=(Predicate("is_admin", "eq", True),), limit=1)
    return store.query_records(UserRecord, query).total


def ensure_admin(store: MetadataStore, password: str | None) -> str | None:
    """Create the `admin` user when no admin exists; returns a generated password
    (to show once) or None when nothing was generated."""
    if count_admins(store) > 0:
        return None
    generated = None if password else secrets.token_urlsafe(18)
    try:
        add_user(store, ADMIN, password or generated or "", is_admin=True)
    except ConflictError:
        return None  # another process created it meanwhile
    return generated


def create_token(
    store: MetadataStore,
    user_name: str,
    *,
    description: str = "",
    expires_in: timedelta | None = None,
) -> str:
    """A new API token for `user_name`; only its hash is stored, so show it now."""
    if find_user(store, user_name) is None:
        raise NotFoundError(
            f"user {user_name!r} not found", hint="create it with `pinnace users add NAME`"
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = _now()
    store.insert_record(
        ApiTokenRecord(
            token_id=uuid.uuid4().hex,
            token_hash=_token_hash(token),
            user_name=user_name,
            created_at=now,
            description=description,
            expires_at=now + expires_in if expires_in else None,
        )
    )
    return token


def _principal(user: UserRecord) -> Principal:
    return Principal(name=user.name, namespace=user.namespace, is_admin=user.is_admin)


def principal_for_token(store: MetadataStore, token: str) -> Principal:
    """The user a bearer token belongs to; AuthenticationError when it is not valid."""
    page = store.query_records(
        ApiTokenRecord,
        ListQuery(predicates=(Predicate("token_hash", "eq", _token_hash(token)),), limit=1),
    )
    if not page.records:
        raise AuthenticationError(
            "the token is not valid", hint="create one with `pinnace tokens create`"
        )
    record: ApiTokenRecord = page.records[0]
    now = _now()
    if record.expires_at is not None and record.expires_at <= now:
        raise AuthenticationError("the token has expired", hint="create a new one")
    user = find_user(store, record.user_name)
    if user is None:
        raise AuthenticationError("the token's user no longer exists")
    if record.last_used_at is None or now - record.last_used_at > _TOUCH_EVERY:
        store.update_record(ApiTokenRecord, record.token_id, last_used_at=now)
    return _principal(user)


def revoke_token(store: MetadataStore, token: str) -> bool:
    """Delete the stored token `token` (a logout); False when it was not there."""
    page = store.query_records(
        ApiTokenRecord,
        ListQuery(predicates=(Predicate("token_hash", "eq", _token_hash(token)),), limit=1),
    )
    for record in page.records:
        store.delete_record(ApiTokenRecord, record.token_id)
    return bool(page.records)


def login(store: MetadataStore, name: str, password: str) -> tuple[Principal, str]:
    """Check a user's password and hand out a 24-hour token."""
    user = find_user(store, name)
    # Hash even for unknown users so timing does not tell which names exist.
    stored = user.password_hash if user else hash_password("not-a-user-password")
    if user is None or not verify_password(password, stored):
        raise AuthenticationError("wrong user name or password")
    token = create_token(store, name, description="login", expires_in=timedelta(hours=24))
    return _principal(user), token
