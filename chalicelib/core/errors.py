"""Errors are values with a stable code, a human message and, for input, the field.

The domain raises them; `chalicelib.web` turns them into JSON or form errors in
one place. The HTTP status lives here so that the domain never imports HTTP.
"""
from typing import Optional


class CaseloadError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, field: Optional[str] = None, code: Optional[str] = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def to_dict(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


class ValidationError(CaseloadError):
    """Bad input. `problems` names every bad field at once (field -> message) when
    a form checks several; `field` and `message` are then the first of them."""
    status = 400
    code = "invalid"

    def __init__(self, message: str, field: Optional[str] = None, code: Optional[str] = None,
                 problems: Optional[dict] = None):
        super().__init__(message, field, code)
        self.problems = dict(problems or ({field: message} if field else {}))

    @classmethod
    def of(cls, problems: dict, code: Optional[str] = None) -> "ValidationError":
        field, message = next(iter(problems.items()))
        return cls(message, field, code, problems)

    def to_dict(self) -> dict:
        body = super().to_dict()
        if len(self.problems) > 1:
            body["fields"] = self.problems
        return body


class Problems:
    """A form's checks run one by one, every problem kept, so the person sees all of them at once:
    `check` returns the checked value (None when it has a problem); `raise_any` raises them together,
    with the first problem's code (one problem answers exactly as the check alone would)."""

    def __init__(self):
        self.found: dict = {}
        self.code: Optional[str] = None

    def check(self, check, *args, **kwargs):
        try:
            return check(*args, **kwargs)
        except ValidationError as error:
            if not self.found:
                self.code = error.code
            for field, message in (error.problems or {error.field or "form": error.message}).items():
                self.found.setdefault(field, message)
            return None

    def raise_any(self) -> None:
        if self.found:
            raise ValidationError.of(self.found, self.code)


class Unauthenticated(CaseloadError):
    status = 401
    code = "unauthenticated"


class Forbidden(CaseloadError):
    status = 403
    code = "forbidden"


class NotFound(CaseloadError):
    """Also what another organisation's data looks like: it does not exist for you."""
    status = 404
    code = "not_found"


class Conflict(CaseloadError):
    status = 409
    code = "conflict"


class StaleVersion(Conflict):
    """Someone else changed the record since it was read; `changes` says what
    ({label: {"was": ..., "now": ...}}) so the person can decide again."""
    code = "stale_version"

    def __init__(self, message: str, changes: dict):
        super().__init__(message)
        self.changes = changes

    def to_dict(self) -> dict:
        return {**super().to_dict(), "changes": self.changes}


class Gone(CaseloadError):
    status = 410
    code = "gone"


class TooManyRequests(CaseloadError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class ConfigError(CaseloadError):
    """A missing setting: named, so an operator knows what to set."""
    status = 500
    code = "misconfigured"

    def __init__(self, setting: str):
        super().__init__(f"The setting {setting} is missing: set it in .chalice/config.json for this stage.")
        self.setting = setting
