"""The export file's format, pure: no AWS.

RFC 4180 (the csv module, CRLF line ends, quotes doubled), UTF-8 with a BOM so
spreadsheet programs read accents, ISO 8601 dates with the offset of the
organisation's time zone (named in the header), every cell defused
(chalicelib.core.spreadsheet) so a spreadsheet never runs one as a formula.
"""
import csv
import io
from datetime import datetime
from typing import Iterable, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from chalicelib.core.errors import ValidationError
from chalicelib.core.models import ROLE_LABELS, STATUS_LABELS
from chalicelib.core.spreadsheet import defuse

BOM = "\ufeff"
DEFAULT_ZONE = "UTC"


def check_zone(raw: str, field: str = "time_zone") -> str:
    """An IANA time zone name (Europe/London), validated with zoneinfo."""
    name = (raw or "").strip()
    if not name:
        raise ValidationError("Choose a time zone.", field=field, code="invalid_time_zone")
    if name not in zone_names():
        raise ValidationError(f"Unknown time zone '{name[:60]}'. Use an IANA name such as Europe/London.",
                              field=field, code="invalid_time_zone")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"Unknown time zone '{name[:60]}'.", field=field, code="invalid_time_zone") from None
    return name


_ZONES = None


def zone_names() -> list:
    """Every IANA zone name this runtime knows, sorted (the settings form's choices)."""
    global _ZONES
    if _ZONES is None:
        _ZONES = sorted(z for z in available_timezones() if "/" in z or z == "UTC")
    return _ZONES


def header(zone: str) -> list:
    return ["Name", "Email", "Role", "Status", "Group", "Assigned staff email", f"Last visit ({zone})",
            f"Date created ({zone})", "Account id", "Invitation state"]


def local_time(moment: Optional[datetime], zone: str) -> str:
    """ISO 8601 with the zone's offset at that moment (summer and winter differ)."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(zone)).isoformat(timespec="seconds")


def cells(row, group_names: dict, zone: str) -> list:
    """One account's cells, in header order. `row` is a chalicelib.table.listing.Row."""
    return [row.name, row.email, ROLE_LABELS.get(row.role, row.role), STATUS_LABELS.get(row.status, row.status),
            group_names.get(row.group_id, "") if row.group_id else "", row.staff_email or "",
            local_time(row.last_visit, zone), local_time(row.created_at, zone), row.account_id, row.invite or ""]


class Writer:
    """CSV lines, encoded as UTF-8 batch by batch into a byte buffer the caller drains (`take`).

    Rows go through a small text buffer that is encoded and dropped after every
    `write`: a large StringIO rewound for reuse switches to 4 bytes a character,
    so the part held in memory stays ~1 byte a character (bench/exports.py).
    """

    def __init__(self, zone: str, with_header: bool = True):
        self.zone = zone
        self._bytes = bytearray()
        self.rows = 0
        if with_header:
            self._bytes += BOM.encode("utf-8")
            self._encode([header(zone)])

    def _encode(self, lines: list) -> None:
        text = io.StringIO()
        csv.writer(text, lineterminator="\r\n").writerows(lines)
        self._bytes += text.getvalue().encode("utf-8")

    def write(self, rows: Iterable, group_names: dict) -> None:
        lines = [[defuse(cell) for cell in cells(row, group_names, self.zone)] for row in rows]
        self._encode(lines)
        self.rows += len(lines)

    def add(self, records: list) -> None:
        """Records already formatted by `record` (the sorted path)."""
        self._bytes += "".join(records).encode("utf-8")
        self.rows += len(records)

    def pending(self) -> int:
        """Bytes waiting to be taken."""
        return len(self._bytes)

    def take(self) -> bytearray:
        """The bytes so far (handed over, not copied: a part is the largest thing held)."""
        data, self._bytes = self._bytes, bytearray()
        return data


def record(row, group_names: dict, zone: str) -> str:
    """One row as one CSV record (CRLF at the end), every cell defused: what a sort moves around."""
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerow([defuse(cell) for cell in cells(row, group_names, zone)])
    return text.getvalue()


def file_name(created: datetime, zone: str) -> str:
    """A dated file name: clients-2026-11-30.csv (the day in the organisation's zone)."""
    return f"clients-{created.astimezone(ZoneInfo(zone)).date().isoformat()}.csv"
