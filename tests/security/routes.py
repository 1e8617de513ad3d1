"""The route table, read from the app: tests generated from it cover routes added later too."""
import re

from app import app

CATCH_ALL = re.compile(r"^(/\{p\d\})+$")
SAFE = {"GET"}


def routes(methods=None):
    """(path, method) for every route the app declares, except the catch-all 404s and static files."""
    found = []
    for path, by_method in sorted(app.routes.items()):
        if CATCH_ALL.match(path) or path.startswith("/static/"):
            continue
        for method in sorted(by_method):
            if methods is None or method in methods:
                found.append((path, method))
    return found


def fill(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


def has_id(path: str) -> bool:
    return "{" in path


def is_json(path: str) -> bool:
    return path.startswith("/api/")
