"""Random tokens, their stored hashes, ids and HMAC signatures."""
import base64
import hashlib
import hmac
import json
import secrets
import uuid
from typing import Any, Optional

from chalicelib.core import config


def new_token() -> str:
    """256 random bits, URL-safe. Only `hash_token(token)` is ever stored."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_id() -> str:
    return uuid.uuid4().hex


def sign(purpose: str, message: str) -> str:
    mac = hmac.new(config.secret_key(), f"{purpose}:{message}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def verify(purpose: str, message: str, signature: str) -> bool:
    return hmac.compare_digest(sign(purpose, message), signature or "")


def seal(purpose: str, payload: Any) -> str:
    """An opaque, tamper-evident string carrying `payload` (cursors, for one)."""
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{body}.{sign(purpose, body)}"


def unseal(purpose: str, sealed: str) -> Optional[Any]:
    """The payload of a `seal`ed string, or None when it was altered or made for another purpose."""
    body, _, signature = (sealed or "").partition(".")
    if not body or not verify(purpose, body, signature):
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None
