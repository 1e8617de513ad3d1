"""The OpenAPI 3 document of /api/v1. A test checks it against the app's routes."""

ERROR = {"$ref": "#/components/schemas/Error"}


def _errors(*statuses: int) -> dict:
    return {str(s): {"description": "Error", "content": {"application/json": {"schema": ERROR}}} for s in statuses}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


PATHS = {
    "/api/v1/openapi.json": {
        "get": {"summary": "This document", "security": [], "responses": {"200": _json({"type": "object"})}},
    },
    "/api/v1/me": {
        "get": {"summary": "The signed-in account", "responses": {
            "200": _json({"$ref": "#/components/schemas/Me"}), **_errors(401)}},
        "patch": {"summary": "Change your own name", "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"type": "object", "required": ["name"], "additionalProperties": False,
                                            "properties": {"name": {"type": "string", "maxLength": 120}}}}}},
                  "responses": {"200": _json({"$ref": "#/components/schemas/Me"}), **_errors(400, 401, 403)}},
    },
}

SCHEMAS = {
    "Error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}},
    "Me": {"type": "object", "properties": {
        "account_id": {"type": "string"}, "org_id": {"type": "string"}, "name": {"type": "string"},
        "email": {"type": "string", "format": "email"}, "role": {"type": "string", "enum": ["admin", "staff", "client"]},
        "status": {"type": "string"}}},
}


def document() -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Caseload API", "version": "1.0.0",
                 "description": "Every call made from the pages is here. Errors are JSON with a stable `code`."},
        "servers": [{"url": "/"}],
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "caseload_session",
                            "description": "State-changing calls also need the X-CSRF-Token header."},
                "apiKey": {"type": "http", "scheme": "bearer", "description": "Organisation API key"},
            },
        },
        "security": [{"session": []}],
        "paths": PATHS,
    }
