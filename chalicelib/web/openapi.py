"""The OpenAPI 3 document of /api/v1. A test checks it against the app's routes.

Each routes module describes its own paths in a module-level `OPENAPI` dict
(and may add `SCHEMAS`); `document()` merges them.
"""
import importlib

ROUTE_MODULES = ("api", "system", "table", "invitations", "activity")

ERROR = {"$ref": "#/components/schemas/Error"}


def errors(*statuses: int) -> dict:
    return {str(s): {"description": "Error", "content": {"application/json": {"schema": ERROR}}} for s in statuses}


def json_schema(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


SCHEMAS = {
    "Error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}},
}


def document() -> dict:
    paths, schemas = {}, dict(SCHEMAS)
    for name in ROUTE_MODULES:
        module = importlib.import_module(f"chalicelib.routes.{name}")
        paths.update(getattr(module, "OPENAPI", {}))
        schemas.update(getattr(module, "SCHEMAS", {}))
    return {
        "openapi": "3.0.3",
        "info": {"title": "Caseload API", "version": "1.0.0",
                 "description": "Every call made from the pages is here. Errors are JSON with a stable `code`."},
        "servers": [{"url": "/"}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "caseload_session",
                            "description": "State-changing calls also need the X-CSRF-Token header."},
                "apiKey": {"type": "http", "scheme": "bearer", "description": "Organisation API key"},
            },
        },
        "security": [{"session": []}],
        "paths": paths,
    }
