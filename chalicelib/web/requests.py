"""Reading what a request carries: forms, cookies, query strings, the caller's address."""
import ipaddress
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, quote, urlparse

from chalicelib.core import config
from chalicelib.core.errors import ValidationError

FORM_TYPE = "application/x-www-form-urlencoded"
# Pages and the JSON API take small bodies; files go straight to S3 (presigned POST).
MAX_BODY_BYTES = 256 * 1024
MAX_FORM_FIELDS = 500


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
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("The form could not be read.", code="unreadable_form") from None
    if text.count("&") + text.count(";") >= MAX_FORM_FIELDS:
        raise ValidationError(f"The form has more than {MAX_FORM_FIELDS} fields, the most a form may send. "
                              "Send fewer at once.", code="too_many_fields")
    try:
        fields = parse_qs(text, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise ValidationError("The form could not be read.", code="unreadable_form") from None
    return {name: values[-1] for name, values in fields.items()}


def form_list(request, name: str) -> list:
    raw = (request.raw_body or b"")[:MAX_BODY_BYTES]
    try:
        return parse_qs(raw.decode("utf-8"), keep_blank_values=False).get(name, [])
    except (UnicodeDecodeError, ValueError):
        return []


def query(request) -> dict:
    return dict(request.query_params or {})


UNKNOWN_IP = "unknown"
# More hops than any real chain of proxies: the rest of a longer header is not read.
MAX_FORWARDED_HOPS = 20


def _address(raw: str):
    try:
        return ipaddress.ip_address((raw or "").strip()[:45])
    except ValueError:
        return None


def client_ip(request) -> str:
    """The caller's address: API Gateway's sourceIp, which the client cannot choose. Only when that
    is a configured trusted proxy is X-Forwarded-For read, right to left, and the first hop that is
    not itself a trusted proxy is the caller. Always a valid address (at most 39 characters) or
    "unknown", so it is safe as a key."""
    source = _address(((request.context or {}).get("identity") or {}).get("sourceIp"))
    if source is None:
        return UNKNOWN_IP
    trusted = config.trusted_proxies()

    def is_trusted(address) -> bool:
        return any(address in network for network in trusted if network.version == address.version)

    if not trusted or not is_trusted(source):
        return str(source)
    forwarded = (request.headers.get("x-forwarded-for") or "")[-MAX_FORWARDED_HOPS * 46:]
    hops = [hop for hop in forwarded.split(",") if hop.strip()]
    for raw in reversed(hops[-MAX_FORWARDED_HOPS:]):
        hop = _address(raw)
        if hop is None:
            return UNKNOWN_IP  # a forged or broken entry: refuse to guess past it
        if not is_trusted(hop):
            return str(hop)
    return str(source)


def wants_json(request) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("accept", "").split(",")[0]


MAX_NEXT = 2000


def safe_next(raw) -> str:
    """Where to go after a form: only a path of our own (never an open redirect), without control
    characters, percent-encoded to ASCII so it is always a valid Location header; else ""."""
    raw = raw if isinstance(raw, str) else ""
    if not raw or len(raw) > MAX_NEXT or any(ord(c) < 32 or ord(c) == 127 for c in raw):
        return ""
    if not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return ""
    target = quote(raw, safe="/?&=%#:@!$'()*+,;~-._")
    try:
        if urlparse(target).netloc:
            return ""
    except ValueError:
        return ""
    return target
