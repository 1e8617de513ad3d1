"""Sign in, sign out, sign up through the organisation's link, and the client's home."""

from chalice import Blueprint

from chalicelib.core.errors import CaseloadError, Gone, NotFound, TooManyRequests, ValidationError
from chalicelib.invitations import links, signup
from chalicelib.people import accounts, auth, organisations, recovery
from chalicelib.web import render
from chalicelib.web.guard import (
    clear_session_cookie,
    device_cookie,
    flash,
    form_errors,
    page,
    request,
    set_device_cookie,
    set_session_cookie,
    take_notice,
    view,
    viewer,
)
from chalicelib.web.requests import FORM_TYPE, client_ip, form, safe_next

bp = Blueprint(__name__)


def _landing(role: str) -> str:
    return render.url("/clients") if role in ("admin", "staff") else render.url("/home")


@bp.route("/")
@view()
def index():
    me = viewer()
    return render.redirect(_landing(me.role) if me else render.url("/signin"))


@bp.route("/signin")
@view()
def signin_form():
    me = viewer()
    if me:
        return render.redirect(_landing(me.role))
    return page("auth/signin.html", values={}, errors={}, notice=take_notice(),
                next=safe_next(request().query_params and request().query_params.get("next")))


@bp.route("/signin", methods=["POST"], content_types=[FORM_TYPE])
@view()
def signin():
    req = request()
    fields = form(req)
    target = safe_next(fields.get("next", ""))
    try:
        cookie_value, _session, account = auth.sign_in(
            fields.get("email", ""), fields.get("password", ""), client_ip(req), req.headers.get("user-agent", ""),
            device_cookie=device_cookie())
    except CaseloadError as error:
        if error.status not in (400, 401, 429):
            raise
        return _refused(error, page("auth/signin.html", error.status, values={"email": fields.get("email", "")},
                                    errors=form_errors(error) if error.status == 400 else {"form": error.message},
                                    next=target))
    return _signed_in(cookie_value, account, target)


@bp.route("/signout", methods=["POST"], content_types=[FORM_TYPE])
@view()
def signout():
    req = request()
    if req.session:
        auth.sign_out(req.session)
    clear_session_cookie()
    target = safe_next(form(req).get("next", ""))
    return render.redirect(target or render.url("/signin", signed_out=1))


def _refused(error: CaseloadError, response):
    """A refused sign-in's page; a throttled one also says when to try again."""
    if isinstance(error, TooManyRequests):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _signed_in(cookie_value: str, account, target: str = ""):
    """The new session's cookies (this browser now known to the account), on the way to `target`
    or the person's landing page."""
    _switching_account()
    set_session_cookie(cookie_value)
    set_device_cookie(auth.device_cookie(account))
    return render.redirect(target or _landing(account.role))


def _switching_account() -> None:
    """A link for a new person, used while someone else is signed in: that session ends first, so
    the browser never holds two people's sessions (the page already said who was signed in)."""
    req = request()
    if req.session:
        auth.sign_out(req.session)


@bp.route("/join/{token}")
@view()
def join_form(token):
    org = links.join_link(token).org
    return page("auth/join.html", org=org, token=token, values={}, errors={}, mode="signup")


@bp.route("/join/{token}", methods=["POST"], content_types=[FORM_TYPE])
@view()
def join(token):
    link = links.join_link(token)
    org = link.org
    req = request()
    fields = form(req)
    mode = "signin" if fields.get("mode") == "signin" else "signup"
    try:
        if mode == "signup":
            email = signup.start_sign_up(link, token, fields.get("name", ""), fields.get("email", ""),
                                         fields.get("password", ""), client_ip(req))
            return page("auth/check_email.html", email=email, purpose=f"finish joining {org.name}",
                        hours=int(signup.VERIFY_FOR.total_seconds() // 3600))
        cookie_value, _session, account = auth.sign_in(
            fields.get("email", ""), fields.get("password", ""), client_ip(req),
            req.headers.get("user-agent", ""), org_id=org.org_id, device_cookie=device_cookie())
    except CaseloadError as error:
        if error.status not in (400, 401, 429):
            raise
        values = {k: fields.get(k, "") for k in ("name", "email")}
        return _refused(error, page("auth/join.html", error.status, org=org, token=token, values=values,
                                    errors=form_errors(error), mode=mode))
    return _signed_in(cookie_value, account)


@bp.route("/signup/confirm/{token}")
@view()
def confirm_signup_form(token):
    """GET only shows the page (mail scanners open links): the button below confirms."""
    try:
        pending = signup.open_pending(token)
    except (Gone, NotFound) as error:
        return page("auth/link_problem.html", error.status, error=error)
    return page("auth/confirm_signup.html", pending=pending, token=token)


@bp.route("/signup/confirm/{token}", methods=["POST"], content_types=[FORM_TYPE])
@view()
def confirm_signup(token):
    req = request()
    try:
        cookie_value, _session, account = signup.confirm(token, client_ip(req), req.headers.get("user-agent", ""))
    except (Gone, NotFound, ValidationError) as error:
        return page("auth/link_problem.html", error.status, error=error)
    _switching_account()
    set_session_cookie(cookie_value)
    return render.redirect(_landing(account.role))


@bp.route("/forgot")
@view()
def forgot_form():
    return page("auth/forgot.html", values={}, errors={})


@bp.route("/forgot", methods=["POST"], content_types=[FORM_TYPE])
@view()
def forgot():
    req = request()
    fields = form(req)
    try:
        email = recovery.request_reset(fields.get("email", ""), client_ip(req))
    except (ValidationError, TooManyRequests) as error:
        return _refused(error, page("auth/forgot.html", error.status, values={"email": fields.get("email", "")},
                                    errors=form_errors(error)))
    return page("auth/check_email.html", email=email, purpose="choose a new password (if an account uses this "
                "address)", hours=int(recovery.RESET_FOR.total_seconds() // 3600))


@bp.route("/reset/{token}")
@view()
def reset_form(token):
    try:
        recovery.open_reset(token)
    except (Gone, NotFound) as error:
        return page("auth/link_problem.html", error.status, error=error)
    return page("auth/reset.html", token=token, errors={})


@bp.route("/reset/{token}", methods=["POST"], content_types=[FORM_TYPE])
@view()
def reset(token):
    try:
        recovery.reset_password(token, form(request()).get("password", ""))
    except (Gone, NotFound) as error:
        return page("auth/link_problem.html", error.status, error=error)
    except ValidationError as error:
        return page("auth/reset.html", 400, token=token, errors=form_errors(error))
    _switching_account()
    clear_session_cookie()
    flash("Your password was changed and every session was signed out. Sign in with the new password.")
    return render.redirect(render.url("/signin"))


@bp.route("/home")
@view("client", "staff", "admin")
def home():
    me = viewer()
    return page("home/index.html", org=organisations.get_organisation(me.org_id),
                account=accounts.get_account(me.org_id, me.account_id), errors={},
                saved=bool(request().query_params and request().query_params.get("saved")))


@bp.route("/home", methods=["POST"], content_types=[FORM_TYPE])
@view("client", "staff", "admin")
def rename_self():
    me = viewer()
    try:
        accounts.rename_self(me, form(request()).get("name", ""))
    except ValidationError as error:
        return page("home/index.html", 400, org=organisations.get_organisation(me.org_id),
                    account=accounts.get_account(me.org_id, me.account_id), errors=form_errors(error))
    return render.redirect(render.url("/home", saved=1))
