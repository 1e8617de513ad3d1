"""A chalice.test client that behaves like a browser (cookies, the page's CSRF
token): for the API and page tests, and for the bench's page loads."""
import re

from tests.html_check import assert_valid_html

PASSWORD = "correct-horse-battery-staple"


class Http:
    """A chalice.test client with a cookie jar and the page's CSRF token, like a browser."""

    def __init__(self, client, check_html: bool = True):
        self.client = client
        self.cookies = {}
        self.check_html = check_html  # the bench times page loads without the parser

    def _headers(self, headers=None):
        merged = {"user-agent": "pytest", "x-forwarded-for": "203.0.113.9"}
        if self.cookies:
            merged["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        merged.update(headers or {})
        return merged

    def _checked(self, response, path):
        """Every HTML answer must parse strictly, with unique ids (tests/html_check.py)."""
        content_type = response.headers.get("Content-Type") or response.headers.get("content-type") or ""
        if self.check_html and content_type.startswith("text/html") and response.body:
            assert_valid_html(response.body.decode("utf-8"), path)
        return response

    def _remember(self, response):
        values = response.headers.get("Set-Cookie") or response.headers.get("set-cookie")
        for value in (values if isinstance(values, list) else [values] if values else []):
            name, _, rest = value.partition("=")
            cookie_value = rest.split(";")[0]
            if "Max-Age=0" in value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = cookie_value
        return response

    def get(self, path, headers=None):
        return self._checked(self._remember(self.client.http.get(path, headers=self._headers(headers))), path)

    def request(self, method, path, body=b"", headers=None):
        return self._checked(self._remember(self.client.http.request(method, path, headers=self._headers(headers),
                                                                      body=body)), path)

    def csrf(self, path="/signin") -> str:
        response = self.get(path)
        if response.status_code != 200:
            response = self.get("/signin")
        page = response.body.decode()
        return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)

    def post_form(self, path, fields: dict, csrf: bool = True, headers=None):
        from urllib.parse import urlencode

        if csrf and "csrf_token" not in fields:
            fields = {**fields, "csrf_token": self.csrf(path if path.startswith("/join") else "/signin")
                      if not self.cookies.get("caseload_session") else self.csrf("/home")}
        return self.request("POST", path, urlencode(fields, doseq=True).encode(),
                            {"content-type": "application/x-www-form-urlencoded", **(headers or {})})

    def json(self, method, path, body=None, csrf: bool = True, headers=None):
        import json

        extra = {"content-type": "application/json", "accept": "application/json"}
        if csrf and method != "GET":
            extra["x-csrf-token"] = self.csrf("/home")
        return self.request(method, path, json.dumps(body).encode() if body is not None else b"",
                            {**extra, **(headers or {})})

    def sign_in(self, account, password: str = PASSWORD):
        response = self.post_form("/signin", {"email": account.email, "password": password})
        assert response.status_code == 303, response.body
        return response
