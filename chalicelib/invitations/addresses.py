"""Email address lists as people type or paste them: pure functions, no AWS.

The chips input (static/invites.js) and the page without JavaScript send what
the person entered; these functions turn it into checked entries, each
valid (normalised) or invalid with a reason a person understands.
"""
import re
from dataclasses import dataclass
from typing import List, Optional, Sequence

from chalicelib.core.errors import ValidationError
from chalicelib.people.accounts import normalise_email

MAX_ADDRESSES = 5000  # per request; larger lists go through the CSV upload
_SEPARATORS = re.compile(r"[,;\s]+")
# A line that looks like a mail header ("Bcc: x@y.org") is one invalid entry,
# never split into a harmless-looking "Bcc:" and an address that gets mailed.
_HEADER_LINE = re.compile(r"^\s*(bcc|cc|to|from|reply-to|subject|sender)\s*:", re.IGNORECASE)
_HEADER_ANYWHERE = re.compile(r"(^|[\s,;<])(bcc|cc|to|from|reply-to|subject|sender)\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class Entry:
    """One address as entered: `email` is the normalised form when valid, else `reason` says why not."""

    raw: str
    email: Optional[str] = None
    reason: str = ""
    duplicate: bool = False

    @property
    def valid(self) -> bool:
        return self.email is not None


def split_addresses(text: str) -> List[str]:
    """A typed or pasted list: commas, semicolons, spaces and newlines separate entries."""
    entries: List[str] = []
    for line in (text or "").splitlines():
        if _HEADER_LINE.match(line):
            entries.append(line.strip())
        else:
            entries.extend(part for part in _SEPARATORS.split(line) if part)
    return entries


def check_address(raw: str) -> Entry:
    """Syntax only (email-validator, no DNS): the address people will be mailed at, or why not."""
    if "\r" in raw or "\n" in raw:
        return Entry(raw, reason="An address cannot contain a line break.")
    if _HEADER_ANYWHERE.search(raw):
        return Entry(raw, reason="An address cannot contain a mail header such as “Bcc:”.")
    try:
        return Entry(raw, normalise_email(raw))
    except ValidationError as error:  # one short sentence per problem
        return Entry(raw, reason=error.message.removeprefix("This is not a valid email address: "))


def check_addresses(raws: Sequence, limit: int = MAX_ADDRESSES) -> List[Entry]:
    """Every entry checked, in order; later copies of an address (case-insensitive) are marked duplicate.

    Raises ValidationError for an empty list, more than `limit` entries, or an entry that is not text.
    """
    if not isinstance(raws, (list, tuple)) or any(not isinstance(raw, str) for raw in raws):
        raise ValidationError("Send the addresses as a list of text entries.", "emails")
    if len(raws) > limit:  # the list as sent, blank entries included (as documented: maxItems)
        raise ValidationError(f"{len(raws):,} addresses is more than {limit:,} at once. "
                              "Upload them as a CSV file instead.", "emails", code="too_many_addresses")
    raws = [raw.strip() for raw in raws if raw.strip()]
    if not raws:
        raise ValidationError("Enter at least one email address.", "emails", code="no_addresses")
    seen, entries = set(), []
    for raw in raws:
        entry = check_address(raw)
        if entry.valid and entry.email in seen:
            entry = Entry(raw, entry.email, "Already in the list.", duplicate=True)
        elif entry.valid:
            seen.add(entry.email)
        entries.append(entry)
    return entries
