"""The exceptions the client raises.

Every one is a :class:`KairosError` carrying ``status`` (the HTTP status, ``None`` when no
response came), ``code`` (the envelope's ``error.code``), ``request_id`` (quote it to the
operator) and ``message``::

    KairosError
    ├── AuthenticationError      401: no, invalid or revoked key; another organization's simulation
    ├── PermissionDeniedError    403: the key lacks a scope (not the builtin PermissionError)
    ├── NotFoundError            404: no such simulation, scenario, domain, trace or route
    ├── RateLimitError           429 after every retry; ``retry_after`` seconds
    ├── ValidationError          pre-flight (status None) or 400 VALIDATION_ERROR; ``issues``
    ├── EngineVersionError       400 ENGINE_VERSION_UNAVAILABLE; ``requested``, ``available``
    ├── IdempotencyError         409 IDEMPOTENCY_KEY_REUSE, or still IN_PROGRESS after retries
    ├── SimulationError          5xx after retries, 413, any other status, stream error frames
    ├── APIConnectionError       no usable answer: refused, dropped, timed out, unreadable
    │   ├── APITimeoutError
    │   └── DigestMismatchError  the steps received do not hash to the digest the server sent
    └── ConfigurationError       the client's own arguments (also a ValueError)
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional, Sequence

__all__ = [
    "KairosError", "AuthenticationError", "PermissionDeniedError", "NotFoundError", "RateLimitError",
    "ValidationError", "ValidationIssue", "EngineVersionError", "IdempotencyError", "SimulationError",
    "APIConnectionError", "APITimeoutError", "DigestMismatchError", "ConfigurationError",
]


class KairosError(Exception):
    """Base of every client error."""

    def __init__(self, message: str, *, status: Optional[int] = None, code: Optional[str] = None,
                 request_id: Optional[str] = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.details = details

    def __str__(self) -> str:
        parts = []
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code:
            parts.append(self.code)
        if self.request_id:
            parts.append(f"request {self.request_id}")
        return self.message + (f" ({', '.join(parts)})" if parts else "")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class AuthenticationError(KairosError):
    """401: the API key or token is missing, invalid or revoked, or the simulation belongs to
    another organization."""


class PermissionDeniedError(KairosError):
    """403 FORBIDDEN: the credential lacks the scope the route needs."""


class NotFoundError(KairosError):
    """404: no such simulation, scenario, domain adapter, trace or route."""


class RateLimitError(KairosError):
    """429 RATE_LIMITED after every retry was spent; ``retry_after`` is the server's
    ``Retry-After`` in seconds (``None`` when it did not say)."""

    def __init__(self, message: str, *, retry_after: Optional[float] = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ValidationIssue:
    """One bad field: its JSON path (``input.models[0].alignment_score``) and what is wrong."""

    __slots__ = ("path", "message")

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def __repr__(self) -> str:
        return f"ValidationIssue(path={self.path!r}, message={self.message!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ValidationIssue) and (self.path, self.message) == (other.path, other.message)

    def __hash__(self) -> int:
        return hash((self.path, self.message))


class ValidationError(KairosError, ValueError):
    """A request the API refuses: found by the client's pre-flight check before anything was
    sent (``status`` is ``None``), or a 400 VALIDATION_ERROR. ``issues`` names each bad field."""

    def __init__(self, issues: Sequence[ValidationIssue], *, status: Optional[int] = None,
                 request_id: Optional[str] = None, details: Any = None, message: Optional[str] = None,
                 code: str = "VALIDATION_ERROR") -> None:
        self.issues: List[ValidationIssue] = list(issues)
        listing = "; ".join(str(i) for i in self.issues)
        if message is None:
            prefix = "invalid scenario (checked before sending)" if status is None else "invalid request"
            message = f"{prefix}: {listing}"
        super().__init__(message, status=status, code=code, request_id=request_id, details=details)


class EngineVersionError(KairosError):
    """The pinned engine version is not offered (400 ENGINE_VERSION_UNAVAILABLE):
    ``requested`` and ``available`` (the versions the server offers)."""

    def __init__(self, requested: str, available: Sequence[str], *, status: Optional[int] = None,
                 request_id: Optional[str] = None, details: Any = None) -> None:
        self.requested = requested
        self.available: List[str] = list(available)
        offered = ", ".join(self.available) if self.available else "none"
        super().__init__(f"engine version {requested} is not available; the server offers {offered}",
                         status=status, code="ENGINE_VERSION_UNAVAILABLE", request_id=request_id, details=details)


class IdempotencyError(KairosError):
    """409: IDEMPOTENCY_KEY_REUSE (the key was used with another body; never retried) or
    IDEMPOTENCY_REQUEST_IN_PROGRESS still after every retry."""

    def __init__(self, message: str, *, idempotency_key: Optional[str] = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.idempotency_key = idempotency_key


class SimulationError(KairosError):
    """The server could not compute the simulation or answer: 5xx (after the retries of 502
    and 503), 413, an error frame on a stream, or any status without a type of its own."""


class APIConnectionError(KairosError):
    """No usable answer: the server could not be reached, the connection dropped, the
    response could not be read."""


class APITimeoutError(APIConnectionError):
    """A request attempt took longer than the client's ``timeout``."""


class DigestMismatchError(APIConnectionError):
    """The steps received do not hash to the digest the server sent with them."""

    def __init__(self, message: str, *, expected: str, computed: str, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.expected = expected
        self.computed = computed


class ConfigurationError(KairosError, ValueError):
    """The client was given something it cannot use (a bad URL, timeout or engine version)."""


def error_from_response(status: int, body: bytes, *, request_id: Optional[str], retry_after: Optional[float],
                        requested_engine: Optional[str], idempotency_key: Optional[str]) -> KairosError:
    """The typed error for a non-2xx answer (the error envelope ``{"error": {...}}``)."""
    envelope: Optional[Mapping[str, Any]] = None
    try:
        parsed = json.loads(body) if body else None
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
            envelope = parsed["error"]
    except ValueError:
        pass
    code = envelope.get("code") if envelope else None
    code = code if isinstance(code, str) else None
    env_rid = envelope.get("requestId") if envelope else None
    rid = env_rid if isinstance(env_rid, str) and env_rid else request_id
    details = envelope.get("details") if envelope else None
    message = envelope.get("message") if envelope else None
    if not isinstance(message, str):
        text = body[:200].decode("utf-8", "replace") if body else ""
        message = f"HTTP {status}" + (f": {text}" if text else "")
    common: Dict[str, Any] = dict(status=status, code=code, request_id=rid, details=details)
    if code == "ENGINE_VERSION_UNAVAILABLE":
        available = details.get("available") if isinstance(details, dict) else None
        available = [v for v in available if isinstance(v, str)] if isinstance(available, list) else []
        return EngineVersionError(requested_engine or "?", available, status=status, request_id=rid, details=details)
    if code == "VALIDATION_ERROR" or (status == 400 and code is None):
        issues = []
        raw = details.get("issues") if isinstance(details, dict) else None
        if isinstance(raw, list):
            for item in raw:
                if isinstance(item, dict):
                    issues.append(ValidationIssue(str(item.get("path", "")), str(item.get("message", ""))))
        if not issues:
            issues = [ValidationIssue("", message)]
        return ValidationError(issues, status=status, request_id=rid, details=details)
    if status == 400:
        return ValidationError([ValidationIssue("", message)], status=status, request_id=rid, details=details,
                               message=message, code=code or "VALIDATION_ERROR")
    if status == 401:
        return AuthenticationError(message, **common)
    if status == 403:
        return PermissionDeniedError(message, **common)
    if status == 404:
        return NotFoundError(message, **common)
    if status == 409:
        return IdempotencyError(message, idempotency_key=idempotency_key, **common)
    if status == 429:
        return RateLimitError(message, retry_after=retry_after, **common)
    return SimulationError(message, **common)
