"""Static files, the OpenAPI document, and 404 for every unknown path."""
import mimetypes

from chalice import Blueprint, Response
from pydantic import ConfigDict

from chalicelib.core.assets import asset_dir
from chalicelib.core.errors import NotFound
from chalicelib.web import api
from chalicelib.web.guard import view

bp = Blueprint(__name__)
CATCH_ALL_DEPTH = 6
ANY_CONTENT = ["application/x-www-form-urlencoded", "application/json", "text/plain", "text/csv",
               "multipart/form-data", "application/octet-stream"]
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".svg": "image/svg+xml", ".ico": "image/x-icon"}


@bp.route("/static/{name}")
@view()
def static_file(name):
    folder = asset_dir("static")
    path = (folder / name).resolve()
    suffix = path.suffix.lower()
    if path.parent != folder.resolve() or suffix not in STATIC_TYPES or not path.is_file():
        raise NotFound("No such file.")
    return Response(body=path.read_text(encoding="utf-8"), status_code=200,
                    headers={"Content-Type": STATIC_TYPES.get(suffix) or mimetypes.guess_type(name)[0],
                             "Cache-Control": "public, max-age=300"})


class OpenAPIDocument(api.Reply):
    model_config = ConfigDict(extra="allow")
    openapi: str
    info: dict
    paths: dict
    components: dict


@api.route(bp, "/api/v1/openapi.json", security=api.PUBLIC, reply=OpenAPIDocument, summary="This document")
def openapi():
    return api.document()


def _not_found(**_path):
    raise NotFound("There is nothing at this address.")


# API Gateway (and chalice local) answer unknown paths with 403 "Missing
# Authentication Token"; these routes make every unknown path a real 404.
for depth in range(1, CATCH_ALL_DEPTH + 1):
    path = "/" + "/".join(f"{{p{i}}}" for i in range(1, depth + 1))
    bp.route(path, methods=["GET", "POST", "PUT", "PATCH", "DELETE"], name=f"not_found_{depth}",
             content_types=ANY_CONTENT)(
        view()(_not_found))
