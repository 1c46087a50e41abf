"""Errors only the server raises (they extend the tree in `pinnace.errors`)."""

from __future__ import annotations

from ..errors import PinnaceError, UserInputError


class AuthenticationError(PinnaceError):
    """No credentials, or credentials that are wrong, expired or revoked (HTTP 401)."""

    exit_code = 2


class PermissionDeniedError(UserInputError):
    """The caller is known but may not do this (HTTP 403)."""


class ConflictError(UserInputError):
    """The object exists already, e.g. a pipeline of that name (HTTP 409)."""


class PreconditionError(UserInputError):
    """The object is not in a state that allows this, e.g. retrying a running run (HTTP 400)."""


class PayloadTooLargeError(UserInputError):
    """A request body over the configured limit (HTTP 413)."""


class TooManyRequestsError(UserInputError):
    """Too many failed attempts, e.g. logins; retry after `retry_after` seconds (HTTP 429)."""

    def __init__(self, message: str, *, retry_after: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = max(1, int(retry_after))
