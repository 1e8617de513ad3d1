"""Sign-in throttling per e-mail and per client address, in fixed windows.

After too many failures within a window the key is refused until the window
ends (at most WINDOW), so an attacker cannot lock the owner out for long.
"""
from datetime import timedelta
from typing import Iterable

from pynamodb.exceptions import DoesNotExist

from chalicelib.core.errors import TooManyRequests
from chalicelib.core.models import Throttle, utcnow

WINDOW = timedelta(minutes=15)
LIMITS = {"email": 5, "ip": 30}


def _keys(email: str, ip: str) -> list:
    return [(f"email#{email}", LIMITS["email"]), (f"ip#{ip}", LIMITS["ip"])]


def check(email: str, ip: str) -> None:
    now = utcnow()
    keys = dict(_keys(email, ip))
    for item in Throttle.batch_get(list(keys)):
        elapsed = now - item.window_start
        if elapsed < WINDOW and item.failures >= keys[item.key]:
            retry_after = int((WINDOW - elapsed).total_seconds()) + 1
            raise TooManyRequests("Too many failed sign-ins. Wait a few minutes, then try again.", retry_after)


def record_failure(email: str, ip: str) -> None:
    now = utcnow()
    for key, _limit in _keys(email, ip):
        try:
            item = Throttle.get(key)
        except DoesNotExist:
            item = None
        if item is None or now - item.window_start >= WINDOW:
            Throttle(key=key, failures=1, window_start=now, expires_at=now + WINDOW * 2).save()
        else:
            item.update(actions=[Throttle.failures.add(1)])


def clear(keys: Iterable[str]) -> None:
    for key in keys:
        Throttle(key=key).delete()
