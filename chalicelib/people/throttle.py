"""Sign-in throttling that slows guessing without letting anyone lock the owner out.

Four counters, each in a fixed window, each changed by one atomic conditional
update (never a read followed by a write):

- the account at one address (`pair`): a few failures refuse only that address
  for that account, so an attacker elsewhere cannot keep the owner out;
- the address (`ip`): many failures, whatever the accounts, refuse that address;
- the account (`account`): guessing spread over many addresses is slowed by a
  growing delay between attempts once a few failures have been seen;
- a browser the owner signed in with before (`device`, a signed cookie): it is
  not held up by the account's delay, so the owner at home is never refused
  because of failures made elsewhere; its own failures are counted, and a
  browser that fails too often loses that pass for the window.

Emails that anyone may ask for without signing in (Forgot password?, sign-up through a link) are
counted too (`count_email`), per address mailed and per client address, in a window of their own.
They are counted before anything is looked up, so a known and an unknown address are refused alike.

Every refusal says when to try again (seconds, for Retry-After, and in words).
Keys are hashes or validated addresses: their length is bounded whatever is sent.
"""
import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Dict, Iterable, Optional

from pynamodb.exceptions import UpdateError

from chalicelib.core import tokens
from chalicelib.core.errors import TooManyRequests
from chalicelib.core.models import Throttle, utcnow

WINDOW = timedelta(minutes=15)
PAIR_LIMIT = 5  # failures for one account from one address
IP_LIMIT = 30  # failures from one address, any accounts
DEVICE_LIMIT = 5  # failures from a known browser before it loses its pass
ACCOUNT_FREE = 10  # failures for one account, from anywhere, before the delay starts
DELAY_BASE = timedelta(seconds=2)  # then 2 s, 4 s, 8 s ... between attempts
DELAY_MAX = timedelta(minutes=5)
DEVICE_COOKIE_DAYS = 365
EMAIL_WINDOW = timedelta(hours=1)
EMAILS_PER_ADDRESS = 5  # to one address: a person who asks again a few times never meets it
# From one client address, any addresses: a class signing up together behind one router stays well under it.
EMAILS_PER_CLIENT = 100
SIGN_IN_REFUSED = "Too many failed sign-ins."
EMAILS_REFUSED = "Too many emails were asked for."
MAX_KEY = 100


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Keys:
    pair: str
    ip: str
    account: str
    device: Optional[str]

    @classmethod
    def of(cls, email: str, ip: str, device: Optional[str]) -> "Keys":
        return cls(f"pair#{_digest(email, ip)}", f"ip#{ip[:45]}", f"account#{_digest(email)}",
                   f"device#{_digest(device)}" if device else None)

    def all(self) -> list:
        return [k for k in (self.pair, self.ip, self.account, self.device) if k]


def device_token(email: str) -> str:
    """The value of the known-browser cookie set after a successful sign-in."""
    nonce = tokens.new_token()[:22]
    return f"{nonce}.{tokens.sign('device', nonce + ':' + email)}"


def known_device(email: str, cookie_value: str) -> Optional[str]:
    """The browser's nonce when its cookie was issued for this account, else None."""
    nonce, _, signature = (cookie_value or "")[:MAX_KEY].partition(".")
    if nonce and tokens.verify("device", nonce + ":" + email, signature):
        return nonce
    return None


def account_delay(failures: int) -> timedelta:
    """How long to wait after the last failure once an account has seen `failures`."""
    if failures < ACCOUNT_FREE:
        return timedelta(0)
    return min(DELAY_BASE * (2 ** min(failures - ACCOUNT_FREE, 20)), DELAY_MAX)


def _words(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _refuse(until: datetime, now: datetime, what: str = SIGN_IN_REFUSED) -> None:
    seconds = max(1, math.ceil((until - now).total_seconds()))
    raise TooManyRequests(f"{what} Try again in {_words(seconds)}.", seconds)


def _live(items: Dict[str, Throttle], key: Optional[str], now: datetime) -> Optional[Throttle]:
    item = items.get(key) if key else None
    return item if item is not None and now - item.window_start < WINDOW else None


def check(email: str, ip: str, device: Optional[str] = None, now: Optional[datetime] = None) -> None:
    """Refuse (TooManyRequests with the seconds to wait) when this attempt must wait. One read."""
    now = now or utcnow()
    keys = Keys.of(email, ip, device)
    items = {item.key: item for item in Throttle.batch_get(keys.all())}
    for key, limit in ((keys.pair, PAIR_LIMIT), (keys.ip, IP_LIMIT)):
        item = _live(items, key, now)
        if item and item.failures >= limit:
            _refuse(item.window_start + WINDOW, now)
    device_item = _live(items, keys.device, now)
    trusted_device = keys.device is not None and (device_item is None or device_item.failures < DEVICE_LIMIT)
    account = _live(items, keys.account, now)
    if account and not trusted_device and account.last_failure:
        wait_until = account.last_failure + account_delay(account.failures)
        if wait_until > now:
            _refuse(min(wait_until, account.window_start + WINDOW), now)


def _count(key: str, now: datetime, window: timedelta = WINDOW) -> Optional[Throttle]:
    """Add one to `key` in one conditional update; a window that has ended starts again at 1.
    Returns the counter as stored after the update."""
    live = Throttle.window_start > now - window
    for _attempt in range(3):  # a concurrent reset between the two conditions: try again
        item = Throttle(key=key)
        try:
            item.update(actions=[Throttle.failures.add(1), Throttle.last_failure.set(now)], condition=live)
            return item
        except UpdateError as error:
            if not _condition_failed(error):
                raise
        item = Throttle(key=key)
        try:
            item.update(
                actions=[Throttle.failures.set(1), Throttle.window_start.set(now), Throttle.last_failure.set(now),
                         Throttle.expires_at.set(now + window * 2)],
                condition=Throttle.window_start.does_not_exist() | (Throttle.window_start <= now - window))
            return item
        except UpdateError as error:
            if not _condition_failed(error):
                raise
    return None


def _condition_failed(error: UpdateError) -> bool:
    return getattr(error, "cause_response_code", "") == "ConditionalCheckFailedException"


def record_failure(email: str, ip: str, device: Optional[str] = None, now: Optional[datetime] = None) -> None:
    now = now or utcnow()
    for key in Keys.of(email, ip, device).all():
        _count(key, now)


def success_keys(email: str, ip: str, device: Optional[str] = None) -> list:
    """The counters a success clears (sign-in deletes them in its own transaction)."""
    keys = Keys.of(email, ip, device)
    return [k for k in (keys.pair, keys.device) if k]


def clear(keys: Iterable[str]) -> None:
    for key in keys:
        Throttle(key=key).delete()


def count_email(email: str, ip: str, now: Optional[datetime] = None) -> None:
    """Count one email asked for anonymously (to `email`, from `ip`), whether or not the address is known;
    TooManyRequests once either has asked for more than its limit in the window. Counting first and
    deciding on the count it returns leaves no gap between a read and a write for a burst to slip through."""
    now = now or utcnow()
    counted = [(_count(f"mail#{_digest(email)}", now, EMAIL_WINDOW), EMAILS_PER_ADDRESS),
               (_count(f"mailip#{ip[:45]}", now, EMAIL_WINDOW), EMAILS_PER_CLIENT)]
    for item, limit in counted:
        if item is not None and item.failures > limit:
            _refuse(item.window_start + EMAIL_WINDOW, now, EMAILS_REFUSED)
