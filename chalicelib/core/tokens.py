"""Random tokens, their stored hashes, ids and HMAC signatures."""
import base64
import hashlib
import hmac
import json
import os
import secrets
import uuid
from typing import Any, Optional

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

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
    if not isinstance(signature, str):
        return False
    return hmac.compare_digest(sign(purpose, message).encode(), signature.encode("utf-8", "replace"))


def _cipher() -> AESGCM:
    """AES-256-GCM under a key derived from the secret key (never the HMAC key itself)."""
    return AESGCM(hashlib.sha256(b"caseload-seal-v1:" + config.secret_key()).digest())


def seal(purpose: str, payload: Any) -> str:
    """An opaque, tamper-evident string carrying `payload` (cursors, for one): encrypted and
    authenticated with AES-GCM, the purpose bound as associated data, so nothing in it can be read
    (no names in URLs or logs) or moved to another use."""
    nonce = os.urandom(12)
    body = _cipher().encrypt(nonce, json.dumps(payload, separators=(",", ":")).encode(), purpose.encode())
    return base64.urlsafe_b64encode(nonce + body).decode().rstrip("=")


# A sealed string longer than this is not ours (cursors are a few hundred characters).
MAX_SEALED = 4096


def unseal(purpose: str, sealed: str) -> Optional[Any]:
    """The payload of a `seal`ed string, or None when it was altered or made for another purpose."""
    if not sealed or len(sealed) > MAX_SEALED:
        return None
    try:
        raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        if len(raw) < 12 + 16:
            return None
        return json.loads(_cipher().decrypt(raw[:12], raw[12:], purpose.encode()))
    except (ValueError, InvalidTag, TypeError):
        return None
