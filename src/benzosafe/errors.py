"""The one exception tree of benzosafe.

Every error a user can cause or meet is a :class:`BenzosafeError`. Each class carries the
HTTP ``status`` it answers with, a stable ``code`` (the ``code`` of the web API's error
body) and the FHIR ``issue_type`` of the OperationOutcome the CDS Hooks service returns.
The faces read these attributes and nothing else: the command line prints the message and
exits 2, the web API returns its one JSON error shape, CDS Hooks an OperationOutcome.
Nothing else should reach a user as a traceback.

::

    BenzosafeError              400 error
     ├── InvalidInput           422 invalid-input     bad input: the field, and what is allowed
     │    ├── UnitError         422 invalid-input     a quantity without a unit, or absurd
     │    └── UnknownDrug       422 invalid-input     a drug the knowledge base does not hold
     ├── PlanInfeasible         422 plan-infeasible   a taper plan that cannot be made within bounds
     ├── KnowledgeError         500 knowledge-error   the knowledge data is broken (a bug of ours)
     ├── NotSignedIn            401 not-signed-in     no valid session in the web app
     ├── SignInRefused          401 sign-in-refused   wrong password, inactive or locked-out user
     ├── Forbidden              403 forbidden         signed in, but this role may not do this
     ├── CsrfRefused            403 csrf              an unsafe request without the CSRF token
     ├── NotFound               404 not-found         a record that does not exist
     ├── Conflict               409 conflict          a write based on a stale version
     ├── TooManyAttempts        429 too-many-attempts sign-in attempts over the rate limit
     ├── AuthError              401 security          a CDS client's token, missing or untrusted
     ├── Precondition           412 precondition      FHIR data neither prefetched nor obtainable
     ├── PayloadTooLarge        413 too-large         a request body over the configured limit
     └── Unavailable            503 unavailable       a store this service needs is down
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar


class BenzosafeError(Exception):
    """Root of every error benzosafe raises on purpose."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "error"
    issue_type: ClassVar[str] = "processing"  # FHIR OperationOutcome issue.code
    field: str | None = None
    allowed: tuple[str, ...] = ()


class InvalidInput(BenzosafeError):
    """Input that cannot be used as given. ``field`` names where, ``allowed`` what would do."""

    status = 422
    code = "invalid-input"
    issue_type = "invalid"

    def __init__(self, field: str, message: str, allowed: Iterable[str] | None = None) -> None:
        self.field = field
        self.allowed = tuple(allowed) if allowed is not None else ()
        self.reason = message
        text = f"{field}: {message}"
        if self.allowed:
            text += f" (allowed: {', '.join(self.allowed)})"
        super().__init__(text)


class UnitError(InvalidInput):
    """A quantity that is missing its unit, has a unit we do not accept, or is absurd."""


class UnknownDrug(InvalidInput):
    """A drug that is not in the knowledge base."""


class PlanInfeasible(BenzosafeError):
    """A taper plan that cannot be built within its bounds from the forms available."""

    status = 422
    code = "plan-infeasible"


class KnowledgeError(BenzosafeError):
    """The clinical knowledge data failed validation."""

    status = 500
    code = "knowledge-error"
    issue_type = "exception"


class NotSignedIn(BenzosafeError):
    """No valid session: sign in first."""

    status = 401
    code = "not-signed-in"
    issue_type = "login"


class SignInRefused(BenzosafeError):
    """Wrong username or password, an inactive user, or a locked-out user."""

    status = 401
    code = "sign-in-refused"
    issue_type = "login"


class Forbidden(BenzosafeError):
    """Signed in, but this role may not do this."""

    status = 403
    code = "forbidden"
    issue_type = "forbidden"


class CsrfRefused(BenzosafeError):
    """An unsafe request without the session's CSRF token."""

    status = 403
    code = "csrf"
    issue_type = "security"


class NotFound(BenzosafeError):
    """A record that does not exist (or that this user may not know exists)."""

    status = 404
    code = "not-found"
    issue_type = "not-found"


class Conflict(BenzosafeError):
    """A write based on a stale version of a record: reload and try again."""

    status = 409
    code = "conflict"
    issue_type = "conflict"


class TooManyAttempts(BenzosafeError):
    """Too many sign-in attempts for one account or from one address in the window; the
    password was not even checked. Wait and try again."""

    status = 429
    code = "too-many-attempts"
    issue_type = "throttled"


class AuthError(BenzosafeError):
    """A CDS client's token that is missing or not trusted; the message says why."""

    status = 401
    code = "security"
    issue_type = "security"


class Precondition(BenzosafeError):
    """Needed FHIR data is neither prefetched nor obtainable from the FHIR server.

    ``field`` is the FHIRPath-like place the data was needed (``prefetch.patient``, ...).
    """

    status = 412
    code = "precondition"
    issue_type = "processing"

    def __init__(self, message: str, expression: str) -> None:
        super().__init__(message)
        self.field = expression

    @property
    def expression(self) -> str | None:
        return self.field


class PayloadTooLarge(BenzosafeError):
    """A request body over the configured size limit; it is not read further."""

    status = 413
    code = "too-large"
    issue_type = "too-long"


class Unavailable(BenzosafeError):
    """A service this one depends on (the CDS Hooks state store) cannot be reached; nothing
    was changed, and the call may be retried."""

    status = 503
    code = "unavailable"
    issue_type = "transient"
