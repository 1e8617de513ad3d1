"""What the local emulator's SES "sent": the local stage's /dev/outbox page reads it."""
import json
import os
import urllib.request


def sent_messages() -> list:
    """Newest first: [{id, source, to, subject, text, html}]."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=5) as reply:
            raw = json.load(reply).get("ses", {}).get("sent_messages", [])
    else:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        backend = ses_backends[DEFAULT_ACCOUNT_ID][os.environ.get("AWS_DEFAULT_REGION", "us-east-1")]
        raw = [vars(m) for m in backend.sent_messages]
    return [_shape(m) for m in reversed(raw)]


def _shape(message: dict) -> dict:
    body = message.get("body") or {}
    destinations = message.get("destinations") or {}
    return {
        "id": message.get("id"),
        "source": message.get("source"),
        "to": ", ".join(destinations.get("ToAddresses", []) if isinstance(destinations, dict) else destinations),
        "subject": message.get("subject", ""),
        "text": body.get("text", "") if isinstance(body, dict) else str(body),
        "html": body.get("html", "") if isinstance(body, dict) else "",
        "raw": message.get("raw_data", ""),
    }
