"""The one place where requests are authenticated, authorised and protected.

`middleware` (registered in app.py) loads the session, checks CSRF on every
state-changing request, sets cookies and security headers, and gives
Chalice's own errors (415, 405) our error shape. `view` wraps every route: it
checks the role and turns domain errors into JSON or an error page.
"""
import contextvars
import functools
import logging
from urllib.parse import quote
from typing import Optional

from chalice import Response

from chalicelib.core import config, logs, tokens
from chalicelib.core.errors import (
    CaseloadError,
    Forbidden,
    TooManyRequests,
    Unauthenticated,
    ValidationError,
)
from chalicelib.people import auth, sessions, throttle
from chalicelib.people.accounts import Viewer
from chalicelib.web import render
from chalicelib.web.requests import FORM_TYPE, MAX_BODY_BYTES, cookies, form, wants_json

log = logging.getLogger("caseload")
SESSION_COOKIE = "caseload_session"
ANON_COOKIE = "caseload_anon"
DEVICE_COOKIE = "caseload_device"
NOTICE_COOKIE = "caseload_notice"
NOTICE_SECONDS = 120
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
_current = contextvars.ContextVar("caseload_request")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


def content_security_policy() -> str:
    """CSV uploads go from the browser straight to S3 (a fetch, or a plain form without JavaScript):
    its origin is the one `connect-src` and `form-action` add."""
    policy = CSP
    static = config.static_url()  # production's static site (CloudFront): scripts, styles, the icon
    if static:
        for directive in ("script-src", "style-src", "img-src"):
            policy = policy.replace(f"{directive} 'self'", f"{directive} 'self' {static}")
    origin = config.upload_origin()
    if not origin:
        return policy
    return policy.replace("form-action 'self'", f"form-action 'self' {origin}") + f"; connect-src 'self' {origin}"


def request():
    """The request being handled (safe beside the local server's threads)."""
    return _current.get()


def viewer() -> Optional[Viewer]:
    return getattr(request(), "viewer", None)


def csrf_token(req=None) -> str:
    req = req or request()
    if req.viewer and req.viewer.csrf_secret:
        return tokens.sign("csrf", req.viewer.csrf_secret)
    return tokens.sign("csrf-anon", req.anon_id)


def _cookie(name: str, value: str, max_age: Optional[int] = None) -> str:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
    if config.secure_cookies():
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)


def set_session_cookie(cookie_value: str) -> None:
    request().set_cookies.append(_cookie(SESSION_COOKIE, cookie_value, int(sessions.ABSOLUTE_TIMEOUT.total_seconds())))


def set_device_cookie(value: str) -> None:
    """Marks this browser as one the account signed in with (the throttle's pass for its owner)."""
    request().set_cookies.append(_cookie(DEVICE_COOKIE, value, throttle.DEVICE_COOKIE_DAYS * 86400))


def device_cookie() -> str:
    return cookies(request()).get(DEVICE_COOKIE, "")


def flash(text: str) -> None:
    """A success banner for the next page: a sealed one-shot cookie, so no link can make Caseload
    show words it did not write (banners never come from the URL)."""
    request().set_cookies.append(_cookie(NOTICE_COOKIE, tokens.seal("notice", text[:300]), NOTICE_SECONDS))


def take_notice() -> str:
    """The banner left by `flash`, once: reading it clears it."""
    sealed = cookies(request()).get(NOTICE_COOKIE, "")
    if not sealed:
        return ""
    request().set_cookies.append(_cookie(NOTICE_COOKIE, "", 0))
    text = tokens.unseal("notice", sealed)
    return text if isinstance(text, str) else ""


def clear_session_cookie() -> None:
    request().set_cookies.append(_cookie(SESSION_COOKIE, "", 0))


def _submitted_csrf(req) -> str:
    header = req.headers.get("x-csrf-token")
    if header:
        return header
    if req.headers.get("content-type", "").startswith(FORM_TYPE):
        try:
            return form(req).get("csrf_token", "")
        except ValidationError:
            return ""
    return ""


def api_key_routes() -> frozenset:
    """The routes that authenticate by API key (declared with `security=API_KEY` in web/api.py): the
    only ones that skip CSRF, because a browser cannot be made to send the key. (method, route)"""
    from chalicelib.web import api  # api builds on this module

    return frozenset((op.method, op.path) for op in api.REGISTRY if op.security == api.API_KEY)


def _route(req) -> tuple:
    return req.method, (req.context or {}).get("resourcePath", "")


def _unreadable_form(req) -> Optional[ValidationError]:
    if not req.headers.get("content-type", "").startswith(FORM_TYPE):
        return None
    try:
        form(req)
    except ValidationError as error:
        if error.code == "too_many_fields":
            error.status = 413
        return error
    return None


def _uses_api_key(req) -> bool:
    return _route(req) in api_key_routes()


def middleware(event, get_response):
    """Every request's logs carry its id as the correlation id (API Gateway's request id)."""
    request_id = str((getattr(event, "context", None) or {}).get("requestId") or "")[:64] or tokens.new_token()[:16]
    with logs.correlated(request_id, path=event.path, method=event.method):
        return _guarded(event, get_response)


def _guarded(event, get_response):
    req = event
    token = _current.set(req)
    try:
        req.viewer, req.session, req.set_cookies, req.anon_id = None, None, [], ""
        if not req.path.startswith("/static/"):
            _authenticate(req)
        if len(req.raw_body or b"") > MAX_BODY_BYTES:
            error = CaseloadError("The request is too large.", code="too_large")
            error.status = 413
            response = error_response(error, req)
        elif req.method in UNSAFE and (unreadable := _unreadable_form(req)) is not None:
            response = error_response(unreadable, req)  # named (too many fields...), not "CSRF"
        elif req.method in UNSAFE and not _uses_api_key(req) and not tokens.verify(
            "csrf" if req.viewer else "csrf-anon",
            req.viewer.csrf_secret if req.viewer else req.anon_id,
            _submitted_csrf(req),
        ):
            response = error_response(Forbidden(
                "This form has expired or did not come from Caseload. Reload the page and try again.",
                code="csrf_failed"), req)
        else:
            response = _with_our_error_shape(get_response(req), req)
    finally:
        _current.reset(token)
    return _secure(response, req)


def _authenticate(req) -> None:
    jar = cookies(req)
    # A request that presents credentials of its own is never signed in by the cookie as well.
    session = None if "authorization" in req.headers else sessions.load(jar.get(SESSION_COOKIE, ""))
    if session:
        req.viewer = auth.viewer_for_session(session)
        req.session = session if req.viewer else None
    req.anon_id = jar.get(ANON_COOKIE, "")
    if not req.anon_id or len(req.anon_id) > 64:
        req.anon_id = tokens.new_token()
        req.set_cookies.append(_cookie(ANON_COOKIE, req.anon_id))


def _secure(response: Response, req) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", content_security_policy())
    framing = headers.get("X-Frame-Options")  # the local outbox frames its own emails (SAMEORIGIN)
    headers.update(config.SECURITY_HEADERS)
    if framing:
        headers["X-Frame-Options"] = framing
    if config.secure_cookies():
        headers["Strict-Transport-Security"] = config.HSTS
    if not req.path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")
    if getattr(req, "set_cookies", None):
        headers["Set-Cookie"] = req.set_cookies
    return response


def _with_our_error_shape(response: Response, req) -> Response:
    """Chalice answers some errors itself ({"Code", "Message"}); give them ours."""
    if response.status_code < 400 or not isinstance(response.body, dict) or "Code" not in response.body:
        return response
    known = {415: ("unsupported_media_type", "This content type is not accepted here."),
             405: ("method_not_allowed", "This method is not allowed here."),
             400: ("bad_request", "The request could not be read.")}
    code, message = known.get(response.status_code, ("internal_error", "Something went wrong on our side."))
    error = CaseloadError(message, code=code)
    error.status = response.status_code
    reply = error_response(error, req)
    if "Allow" in response.headers:
        reply.headers["Allow"] = response.headers["Allow"]
    return reply


def error_response(error: CaseloadError, req=None) -> Response:
    req = req or request()
    headers = {}
    if isinstance(error, TooManyRequests):
        headers["Retry-After"] = str(error.retry_after)
    if wants_json(req):
        return render.json_response(error.to_dict(), error.status, headers)
    return render.html("error.html", error.status, headers, error=error, **page_context())


def page_context() -> dict:
    req = request()
    return {"viewer": req.viewer, "csrf_token": csrf_token(req), "path": req.path, "here": here(req)}


def here(req=None) -> str:
    """The path this request asked for (Chalice's `path` is the route's pattern), ids quoted."""
    req = req or request()
    params = {name: quote(str(value), safe="") for name, value in (req.uri_params or {}).items()}
    try:
        return req.path.format(**params)
    except (KeyError, IndexError, ValueError):
        return req.path


def view(*roles: str):
    """Wrap a route: require a signed-in viewer with one of `roles` (none named:
    anyone, signed in or not), and answer domain errors in the request's language."""

    def decorate(handler):
        @functools.wraps(handler)
        def wrapped(*args, **kwargs):
            req = request()
            try:
                if roles:
                    if req.viewer is None:
                        raise Unauthenticated("Sign in to continue.")
                    if req.viewer.role not in roles:
                        raise Forbidden("Your role does not give access to this page.")
                return handler(*args, **kwargs)
            except Unauthenticated as error:
                if not wants_json(req) and req.method == "GET":
                    return render.redirect(render.url("/signin", next=here(req)))
                return error_response(error, req)
            except CaseloadError as error:
                if error.status >= 500:
                    log.error("configuration error: %s", error.message)
                return error_response(error, req)

        return wrapped

    return decorate


def json_ok(body, status: int = 200) -> Response:
    return render.json_response(body, status)


def page(template: str, status: int = 200, **context) -> Response:
    return render.html(template, status, **page_context(), **context)


FRAGMENT_HEADER = "X-Fragment"  # the one partial-page request header: `X-Fragment: 1`


def wants_fragment() -> bool:
    """A script asked for the page's part only (`X-Fragment: 1`)."""
    return request().headers.get(FRAGMENT_HEADER.lower()) == "1"


def page_or_fragment(whole: str, part: str, status: int = 200, **context) -> Response:
    """The whole page, or only its swappable part when a script asks with
    `X-Fragment: 1` (the Clients Table's results, the Invite Users window).
    `Vary` keeps caches from mixing the two answers."""
    response = page(part if wants_fragment() else whole, status, **context)
    response.headers["Vary"] = FRAGMENT_HEADER
    return response


def form_errors(error: ValidationError) -> dict:
    """Every bad field of a form (shown next to each), or the form's one error."""
    return dict(getattr(error, "problems", None) or {error.field or "form": error.message})

