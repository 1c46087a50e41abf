"""Users, passwords and API tokens: scrypt hashes with a per-user salt, tokens stored hashed.

Example:
    >>> user = add_user(store, "alice", "s3cret-pass")          # doctest: +SKIP
    >>> token = create_token(store, "alice")                     # printed once, never stored
    >>> principal_for_token(store, token).name
    'alice'
"""

from __future__ import annotations

import functools
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
#: a disabled user's password hash starts with this (as a locked account in /etc/shadow)
_DISABLED = "!"
_DURATION = re.compile(r"^(\d{1,6})\s*([mhdw])$")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: tokens created without an expiry given last this long; "never" must be asked for
DEFAULT_TOKEN_LIFETIME = "90d"


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


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash checked for unknown users, so that timing does not tell which names exist."""
    return hash_password(secrets.token_urlsafe(16))


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


def token_hash(token: str) -> str:
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
    _check_password(password)
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


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserInputError(f"the password is shorter than {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 1024:
        raise UserInputError("the password is longer than 1024 characters")


def is_disabled(user: UserRecord) -> bool:
    return user.password_hash.startswith(_DISABLED)


def _existing_user(store: MetadataStore, name: str) -> UserRecord:
    user = find_user(store, name)
    if user is None:
        raise NotFoundError(f"user {name!r} not found", hint="list users with `pinnace users list`")
    return user


def list_users(store: MetadataStore) -> list[UserRecord]:
    return list(store.query_records(UserRecord, ListQuery(sort_by="name", limit=100_000)).records)


def set_password(store: MetadataStore, name: str, password: str) -> int:
    """Change a user's password (a disabled user stays disabled) and end their login
    sessions; API tokens stay. Returns how many sessions ended."""
    user = _existing_user(store, name)
    _check_password(password)
    prefix = _DISABLED if is_disabled(user) else ""
    store.update_record(UserRecord, name, password_hash=prefix + hash_password(password))
    return _delete_tokens(store, name, sessions_only=True)


def set_disabled(store: MetadataStore, name: str, disabled: bool) -> int:
    """Disable a user (no login, every token revoked) or enable them again.
    Returns how many tokens were revoked."""
    user = _existing_user(store, name)
    if disabled and user.is_admin and not is_disabled(user) and _active_admins(store) <= 1:
        raise UserInputError(f"{name!r} is the last active admin", hint="add another admin first")
    stored = user.password_hash.lstrip(_DISABLED)
    store.update_record(UserRecord, name, password_hash=(_DISABLED if disabled else "") + stored)
    return _delete_tokens(store, name, sessions_only=False) if disabled else 0


def _active_admins(store: MetadataStore) -> int:
    return sum(1 for u in list_users(store) if u.is_admin and not is_disabled(u))


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


def parse_lifetime(text: str | None) -> timedelta | None:
    """ "90m", "12h", "30d", "2w" → a timedelta; "never" → None (no expiry)."""
    text = (text or DEFAULT_TOKEN_LIFETIME).strip().lower()
    if text == "never":
        return None
    match = _DURATION.match(text)
    if not match or int(match[1]) == 0:
        raise UserInputError(
            f"invalid token lifetime {text!r}",
            hint="use a count and a unit: 90m, 12h, 30d, 2w, or 'never'",
        )
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


def create_token(
    store: MetadataStore,
    user_name: str,
    *,
    description: str = "",
    expires_in: timedelta | None = None,
) -> str:
    """A new API token for `user_name`; only its hash is stored, so show it now."""
    return issue_token(store, user_name, description=description, expires_in=expires_in)[0]


def issue_token(
    store: MetadataStore,
    user_name: str,
    *,
    description: str = "",
    expires_in: timedelta | None = None,
) -> tuple[str, ApiTokenRecord]:
    """`create_token`, also answering the stored record (its id, expiry)."""
    user = find_user(store, user_name)
    if user is None:
        raise NotFoundError(
            f"user {user_name!r} not found", hint="create it with `pinnace users add NAME`"
        )
    if is_disabled(user):
        raise UserInputError(f"user {user_name!r} is disabled", hint="enable it first")
    if len(description) > 200:
        raise UserInputError("the token description is longer than 200 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = _now()
    record = ApiTokenRecord(
        token_id=uuid.uuid4().hex,
        token_hash=token_hash(token),
        user_name=user_name,
        created_at=now,
        description=description,
        expires_at=now + expires_in if expires_in else None,
    )
    store.insert_record(record)
    return token, record


def _principal(user: UserRecord) -> Principal:
    return Principal(name=user.name, namespace=user.namespace, is_admin=user.is_admin)


def principal_for_token(store: MetadataStore, token: str) -> Principal:
    """The user a bearer token belongs to; AuthenticationError when it is not valid."""
    page = store.query_records(
        ApiTokenRecord,
        ListQuery(predicates=(Predicate("token_hash", "eq", token_hash(token)),), limit=1),
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
    if user is None or is_disabled(user):
        raise AuthenticationError("the token's user no longer exists or is disabled")
    if record.last_used_at is None or now - record.last_used_at > _TOUCH_EVERY:
        store.update_record(ApiTokenRecord, record.token_id, last_used_at=now)
    return _principal(user)


def revoke_token(store: MetadataStore, token: str) -> bool:
    """Delete the stored token `token` (a logout); False when it was not there."""
    page = store.query_records(
        ApiTokenRecord,
        ListQuery(predicates=(Predicate("token_hash", "eq", token_hash(token)),), limit=1),
    )
    for record in page.records:
        store.delete_record(ApiTokenRecord, record.token_id)
    return bool(page.records)


def list_tokens(store: MetadataStore, user_name: str | None = None) -> list[ApiTokenRecord]:
    """The tokens of `user_name` (all users' when None), newest first; expired ones too."""
    predicates = (Predicate("user_name", "eq", user_name),) if user_name else ()
    query = ListQuery(predicates=predicates, sort_by="created_at", descending=True, limit=100_000)
    return list(store.query_records(ApiTokenRecord, query).records)


def revoke_token_id(store: MetadataStore, token_id: str, *, user_name: str | None = None) -> None:
    """Revoke (delete) the token `token_id`; with `user_name`, only if it is theirs (else
    NotFoundError, so another user's token ids are not confirmed)."""
    try:
        record = store.get_record(ApiTokenRecord, token_id)
    except NotFoundError:
        record = None
    if record is None or (user_name is not None and record.user_name != user_name):
        raise NotFoundError(
            f"token {token_id!r} not found", hint="list token ids with `pinnace tokens list`"
        )
    store.delete_record(ApiTokenRecord, token_id)


def _delete_tokens(store: MetadataStore, user_name: str, *, sessions_only: bool) -> int:
    gone = 0
    for record in list_tokens(store, user_name):
        if not sessions_only or record.description == "login":
            store.delete_record(ApiTokenRecord, record.token_id)
            gone += 1
    return gone


def login_check(store: MetadataStore, name: str, password: str) -> UserRecord:
    """The user `name` if `password` is theirs and they are enabled, else
    AuthenticationError (the same for every reason, in about the same time)."""
    user = find_user(store, name)
    stored = user.password_hash.lstrip(_DISABLED) if user else _dummy_hash()
    correct = verify_password(password, stored)
    if user is None or is_disabled(user) or not correct:
        raise AuthenticationError("wrong user name or password")
    return user


def login(store: MetadataStore, name: str, password: str) -> tuple[Principal, str]:
    """Check a user's password and hand out a 24-hour token."""
    user = login_check(store, name, password)
    token = create_token(store, name, description="login", expires_in=timedelta(hours=24))
    return _principal(user), token
