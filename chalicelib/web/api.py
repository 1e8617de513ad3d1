"""JSON API routes: one decorator registers the Chalice route and its OpenAPI operation.

How to add an API route
-----------------------
1. Describe the bodies as pydantic models in your routes module. Request bodies
   subclass `Body` (strict, unknown fields refused); replies subclass `Reply`.
   Take enums and limits from the domain's constants, never retype them::

       from typing import Literal
       from pydantic import Field
       from chalicelib.core.models import ROLES
       from chalicelib.people.accounts import NAME_MAX

       class Rename(Body):
           name: str = Field(max_length=NAME_MAX, description="The new name")

       class Person(Reply):
           account_id: str
           role: Literal[ROLES]
           last_visit: Optional[DateTime] = None   # an ISO 8601 text, documented as date-time

2. Register the route with `api.route` (instead of `bp.route` + `view`)::

       @api.route(bp, "/api/v1/people/{account_id}", "PATCH", roles=TEAM,
                  summary="Rename a person", body=Rename, reply=Person, errors=(404,))
       def rename_person(account_id, body: Rename):
           return accounts.rename(viewer(), account_id, body.name)

   The handler gets the path parameters, then `body=` (the validated model)
   when a body model is named. It returns the reply: a `Reply` instance, a dict
   (validated against `reply`), or `(reply, status)`. Domain errors are
   answered as JSON by `view`, as on every route.

   - `roles`: who may call it (session cookie + CSRF header); `roles=()` with
     `security=API_KEY, caller=<function of the request>` for the platform's
     API-key routes (the handler gets `caller=`, checked before the body is
     read), `security=PUBLIC` for documents anyone may read.
   - `status`: the success status (201 for creations); `replies={200: (Model,
     "Already recorded"), 201: (Model, "Recorded")}` when there are several.
   - `query=SomeQuery` (a `Query` model) documents the query string; the domain
     still reads `query(request())` and answers bad values with its own errors.
   - `headers=(Header("Idempotency-Key", "..."),)` documents request headers.
   - `errors`: the statuses the domain may answer besides the automatic ones
     (401 and 403 for `roles`, 422 for a body, 400 for bad JSON).

3. That is all: /api/v1/openapi.json is generated from the registry
   (`document()`), and tests/test_platform.py checks every /api/v1 route is
   in it. Add a test that a wrong type, a null and an unknown field answer 422.

A body that is not JSON, or not an object, answers 400 `malformed_json`; a
field of the wrong type (no conversion: "1" is not 1, null is not text), a
missing field or an unknown one answers 422 with `code`, `message` and `field`
(dotted for nested places: `emails.3`).
"""
from dataclasses import dataclass, field
from typing import Annotated, Callable, Optional

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticError
from pydantic.json_schema import models_json_schema

from chalicelib.core.errors import ValidationError
from chalicelib.web.guard import json_ok, request, view
from chalicelib.web.requests import MAX_BODY_BYTES

SESSION, API_KEY, PUBLIC = "session", "apiKey", None

DateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
Email = Annotated[str, Field(json_schema_extra={"format": "email"})]


class Body(BaseModel):
    """A request body: strict types, unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Reply(BaseModel):
    """A response body: what the domain returns, checked against what is documented."""

    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    """A query string, for the document (values arrive as text; the domain parses them)."""


class Error(BaseModel):
    code: str = Field(description="Stable, for programs: invalid, unknown_field, not_found, ...")
    message: str = Field(description="For people")
    field: Optional[str] = Field(default=None, description="The field at fault, dotted for nested places")


@dataclass(frozen=True)
class Header:
    name: str
    description: str
    required: bool = False


@dataclass
class Operation:
    path: str
    method: str
    summary: str
    security: Optional[str]
    body: Optional[type]
    replies: dict
    query: Optional[type]
    headers: tuple
    errors: tuple
    handler: Callable = field(repr=False, default=None)


REGISTRY: list = []

_MESSAGES = {
    "missing": "This field is required.",
    "extra_forbidden": "This field is not accepted here.",
    "string_type": "Send text.",
    "bool_type": "Send true or false.",
    "int_type": "Send a whole number.",
    "float_type": "Send a number.",
    "list_type": "Send a list.",
    "dict_type": "Send an object.",
    "model_type": "Send an object.",
    "literal_error": "Choose one of the listed values: {expected}.",
    "string_too_long": "At most {max_length} characters.",
    "string_too_short": "At least {min_length} characters.",
    "too_long": "At most {max_length} items.",
    "too_short": "At least {min_length} items.",
    "string_pattern_mismatch": "This does not have the expected form.",
}


def parse_body(model: type, raw: bytes):
    """The request body as `model`, or an error naming the field. Parsed from the raw JSON in
    pydantic's strict JSON mode: nothing is converted."""
    if len(raw or b"") > MAX_BODY_BYTES:
        raise ValidationError("The request body is too large.", code="too_large")
    try:
        return model.model_validate_json(raw or b"")
    except PydanticError as exc:
        raise _error(exc) from None


def _error(exc: PydanticError) -> ValidationError:
    found = exc.errors(include_url=False)
    first = next((e for e in found if e["type"] == "extra_forbidden"), found[0])  # unknown fields first
    kind, place = first["type"], ".".join(str(part) for part in first["loc"])
    if kind == "json_invalid" or (not place and kind in ("model_type", "model_attributes_type")):
        message = "The body is not valid JSON." if kind == "json_invalid" else "The body must be a JSON object."
        return ValidationError(message, code="malformed_json")
    try:
        message = _MESSAGES[kind].format(**(first.get("ctx") or {}))
    except KeyError:
        message = first["msg"] + "."
    error = ValidationError(f"{place}: {message}" if place else message, place or None,
                            code="unknown_field" if kind == "extra_forbidden" else "invalid")
    error.status = 422
    return error


def _dump(reply, model: Optional[type]):
    if isinstance(reply, BaseModel):
        return reply.model_dump(mode="json")
    if model is not None:
        return model.model_validate(reply).model_dump(mode="json")
    return reply


def route(bp, path: str, method: str = "GET", *, summary: str, roles: tuple = (), security: Optional[str] = SESSION,
          body: Optional[type] = None, reply: Optional[type] = None, status: int = 200,
          replies: Optional[dict] = None, query: Optional[type] = None, headers: tuple = (),
          errors: tuple = (), caller: Optional[Callable] = None, name: Optional[str] = None):
    """Register `path` on the blueprint `bp` and describe it in the OpenAPI document (see the module's text)."""
    replies = replies or {status: (reply, "OK")}
    statuses = {int(s) for s in errors} | ({401, 403} if roles else set()) | ({400, 422} if body else set())
    if security == API_KEY:
        statuses.add(401)
    operation = Operation(path, method.upper(), summary, security if (roles or security != SESSION) else PUBLIC,
                          body, replies, query, tuple(headers), tuple(sorted(statuses)))

    def decorate(handler):
        def api_call(**path_params):
            kwargs = dict(path_params)
            if caller is not None:  # authenticate before reading the body
                kwargs["caller"] = caller(request())
            if body is not None:
                kwargs["body"] = parse_body(body, request().raw_body)
            result = handler(**kwargs)
            code = status
            if isinstance(result, tuple):
                result, code = result
            return json_ok(_dump(result, replies.get(code, (None,))[0]), code)

        api_call.__name__ = api_call.__qualname__ = handler.__name__
        api_call.__doc__ = handler.__doc__
        operation.handler = handler
        REGISTRY.append(operation)
        bp.route(path, methods=[operation.method], name=name or handler.__name__)(view(*roles)(api_call))
        return handler

    return decorate


# --------------------------------------------------------------------------- the document

def _path_parameters(path: str) -> list:
    names = [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]


# A query parameter sent empty (`?dir=`, as a form's "Any" option sends it) is the same as leaving it out.
_LEFT_OUT = {"const": "", "description": "Empty: the same as leaving the parameter out"}


def _restricted(schema: dict) -> bool:
    """Whether the schema refuses the empty text."""
    return (any(key in schema for key in ("enum", "const", "pattern", "format", "minLength"))
            or schema.get("type") not in (None, "string"))


def _query_parameters(model: Optional[type]) -> list:
    if model is None:
        return []
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        if prop.get("default", 0) is None:
            prop.pop("default")
        if name not in required and _restricted(prop):
            prop = {"anyOf": [prop, _LEFT_OUT]}
        param = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        params.append(param)
    return params


def _content(ref: Optional[dict], description: str) -> dict:
    if ref is None:
        return {"description": description}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def _drop_null_defaults(node) -> None:
    """`x: str = None` means "may be left out", not "may be null": the document says only the former."""
    if isinstance(node, dict):
        if "default" in node and node["default"] is None and "anyOf" not in node and node.get("type") != "null":
            del node["default"]
        for value in node.values():
            _drop_null_defaults(value)
    elif isinstance(node, list):
        for value in node:
            _drop_null_defaults(value)


def document() -> dict:
    """The OpenAPI 3.1 document of every registered route, with the models' JSON Schemas."""
    used = [(Error, "serialization")]
    for op in REGISTRY:
        if op.body is not None:
            used.append((op.body, "validation"))
        used += [(model, "serialization") for model, _ in op.replies.values() if model is not None]
    refs, defs = models_json_schema(list(dict.fromkeys(used)), ref_template="#/components/schemas/{model}")
    _drop_null_defaults(defs)
    error = refs[(Error, "serialization")]
    paths: dict = {}
    for op in sorted(REGISTRY, key=lambda o: (o.path, o.method)):
        item = {"summary": op.summary, "operationId": op.handler.__name__,
                "security": [{op.security: []}] if op.security else []}
        parameters = _path_parameters(op.path) + _query_parameters(op.query) + [
            {"name": h.name, "in": "header", "required": h.required, "description": h.description,
             "schema": {"type": "string"}} for h in op.headers]
        if parameters:
            item["parameters"] = parameters
        if op.body is not None:
            item["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": refs[(op.body, "validation")]}}}
        responses = {str(code): _content(refs[(model, "serialization")] if model else None, description)
                     for code, (model, description) in sorted(op.replies.items())}
        responses.update({str(code): _content(error, "Error") for code in op.errors})
        item["responses"] = responses
        paths.setdefault(op.path, {})[op.method.lower()] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "Caseload API", "version": "1.0.0",
                 "description": "Every call made from the pages is here. Errors are JSON with a stable `code`; "
                                "a body field of the wrong type, missing or unknown answers 422 naming the field."},
        "servers": [{"url": "/"}],
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                SESSION: {"type": "apiKey", "in": "cookie", "name": "caseload_session",
                          "description": "State-changing calls also need the X-CSRF-Token header."},
                API_KEY: {"type": "http", "scheme": "bearer", "description": "Organisation API key"},
            },
        },
        "paths": paths,
    }
