"""Settings from the environment, read when asked for, never cached across calls.

Table names are the one exception: pynamodb needs them on the model classes, so
`TABLE_PREFIX` must be set before `chalicelib.core.models` is imported (the local
runner, the tests and the Lambda environment all do).
"""
import ipaddress
import os

from chalicelib.core.errors import ConfigError


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(name)
    return value


def stage() -> str:
    return os.environ.get("CASELOAD_STAGE", "local")


def is_local() -> bool:
    return stage() == "local"


def table_prefix() -> str:
    return os.environ.get("CASELOAD_TABLE_PREFIX", "caseload-local-")


def secret_key() -> bytes:
    """Key for HMACs (cursors, CSRF tokens). Rotating it signs everyone out."""
    return _required("CASELOAD_SECRET_KEY").encode()


def bucket() -> str:
    return _required("CASELOAD_BUCKET")


def upload_queue_url() -> str:
    return _required("CASELOAD_UPLOAD_QUEUE_URL")


def jobs_queue_url() -> str:
    return _required("CASELOAD_JOBS_QUEUE_URL")


def mail_queue_url() -> str:
    return _required("CASELOAD_MAIL_QUEUE_URL")


def mail_sender() -> str:
    return _required("CASELOAD_MAIL_SENDER")


def public_url() -> str:
    """Base URL that emails link to, e.g. https://caseload.example.org."""
    return _required("CASELOAD_PUBLIC_URL").rstrip("/")


# Sent with every answer: the app's (chalicelib.web.guard) and API Gateway's own (deploy.functions).
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=63072000; includeSubDomains"  # over https only


def secure_cookies() -> bool:
    return public_url().startswith("https://")


def static_url() -> str:
    """Where browsers fetch static files in production (the stack's CloudFront address,
    e.g. https://d111111abcdef8.cloudfront.net). Empty locally: the app serves /static/."""
    return os.environ.get("CASELOAD_STATIC_URL", "").strip().rstrip("/")


def upload_origin() -> str:
    """Where browsers send CSV uploads (the bucket's origin), allowed by the pages'
    Content-Security-Policy. Set per stage; locally it is the emulator's endpoint."""
    origin = os.environ.get("CASELOAD_UPLOAD_ORIGIN", "").strip()
    if not origin and is_local():
        origin = os.environ.get("AWS_ENDPOINT_URL", "").strip()
    return origin.rstrip("/")


def trusted_proxies() -> list:
    """Networks whose X-Forwarded-For we believe (CASELOAD_TRUSTED_PROXIES, comma-separated
    addresses or CIDRs). Empty by default: API Gateway's sourceIp is the caller. Set it only when
    a proxy or CDN you run sits in front and appends the caller's address."""
    networks = []
    for part in os.environ.get("CASELOAD_TRUSTED_PROXIES", "").split(","):
        if part.strip():
            try:
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                raise ConfigError("CASELOAD_TRUSTED_PROXIES") from None
    return networks
