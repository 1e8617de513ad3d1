"""Reading what a request carries: forms, cookies, query strings, the caller's address."""
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

from chalicelib.core.errors import ValidationError

FORM_TYPE = "application/x-www-form-urlencoded"
# Pages and the JSON API take small bodies; files go straight to S3 (presigned POST).
MAX_BODY_BYTES = 256 * 1024


def cookies(request) -> dict:
    jar = SimpleCookie()
    try:
        jar.load(request.headers.get("cookie", ""))
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def form(request) -> dict:
    """The url-encoded body as {name: last value}. Oversized or undecodable bodies are refused."""
    raw = request.raw_body or b""
    if len(raw) > MAX_BODY_BYTES:
        raise ValidationError("The form is too large.", code="too_large")
    try:
        fields = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=500)
    except (UnicodeDecodeError, ValueError):
        raise ValidationError("The form could not be read.") from None
    return {name: values[-1] for name, values in fields.items()}


def form_list(request, name: str) -> list:
    raw = (request.raw_body or b"")[:MAX_BODY_BYTES]
    try:
        return parse_qs(raw.decode("utf-8"), keep_blank_values=False).get(name, [])
    except (UnicodeDecodeError, ValueError):
        return []


def query(request) -> dict:
    return dict(request.query_params or {})


def client_ip(request) -> str:
    forwarded = request.headers.get("x-forwarded-for", "")
    if forwarded:
        return forwarded.split(",")[0].strip()
    return ((request.context or {}).get("identity") or {}).get("sourceIp") or "unknown"


def wants_json(request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("accept", "").split(",")[0]
