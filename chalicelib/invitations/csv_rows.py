"""Bulk-invite CSV files, read as a stream: pure functions, no AWS.

Columns: email (required), name or first_name/last_name, role, group (by
name), staff_email. The header row is optional and matched case-insensitively;
without one the columns are taken in that order. UTF-8 with or without BOM;
comma or semicolon delimiter (whichever the first line has more of).

Excel's `sep=;` first line names the delimiter; CR LF, LF and CR-only line
endings are all read. File-level problems (empty, binary, not UTF-8, an
unreadable header, a repeated column, too many rows) raise `FileProblem`: the
import stops before anything is written. Row-level problems (a formula, no
email, a quote left open) are reported per row and the row is skipped.
"""
import codecs
import csv
import io
from dataclasses import dataclass, field
from typing import Dict, Iterable, Iterator, List, Optional

from chalicelib.core.spreadsheet import FORMULA_START, defuse

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000
POSITIONAL = ("email", "name", "role", "group", "staff_email")
ALIASES = {
    "email": "email", "e-mail": "email", "email address": "email", "e-mail address": "email", "mail": "email",
    "name": "name", "full name": "name", "full_name": "name",
    "first_name": "first_name", "first name": "first_name", "firstname": "first_name", "given name": "first_name",
    "last_name": "last_name", "last name": "last_name", "lastname": "last_name", "surname": "last_name",
    "family name": "last_name",
    "role": "role", "group": "group", "group name": "group",
    "staff_email": "staff_email", "staff email": "staff_email", "staff e-mail": "staff_email", "staff": "staff_email",
}


class FileProblem(Exception):
    """The file as a whole cannot be imported; `message` says why, for a person."""

    def __init__(self, message: str, code: str = "bad_file"):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class Row:
    number: int  # 1-based line of the file's data as a spreadsheet shows it (header = row 1)
    email: str = ""
    name: str = ""
    role: str = ""
    group: str = ""
    staff_email: str = ""
    problem: Optional[str] = None  # set when the row's cells cannot be read as given


@dataclass
class Layout:
    columns: Dict[str, int] = field(default_factory=dict)
    header: bool = False
    delimiter: str = ","


def _text_lines(chunks: Iterable[bytes], size: Optional[int]) -> Iterator[str]:
    """Decoded text from byte chunks (BOM dropped), refusing binary and non-UTF-8 content."""
    if size is not None and size > MAX_BYTES:
        raise FileProblem(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB. Split it into smaller files.",
                          "too_large")
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > MAX_BYTES:
            raise FileProblem(f"The file is larger than {MAX_BYTES // (1024 * 1024)} MB. "
                              "Split it into smaller files.", "too_large")
        if total == len(chunk) and any(b < 9 or 13 < b < 32 and b != 27 for b in chunk[:4096]):
            raise FileProblem("This is not a CSV file: it contains binary data. Save it from your spreadsheet "
                              "as “CSV UTF-8”.", "binary")
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError:
            raise FileProblem("The file is not UTF-8 text. Save it from your spreadsheet as “CSV UTF-8”.",
                              "not_utf8") from None
        if text:
            yield text
    if total == 0:
        raise FileProblem("The file is empty.", "empty")
    try:
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise FileProblem("The file is not UTF-8 text. Save it from your spreadsheet as “CSV UTF-8”.",
                          "not_utf8") from None
    if tail:
        yield tail


class _Lines(io.TextIOBase):
    """A text stream over decoded pieces, for the csv module (which wants lines)."""

    def __init__(self, pieces: Iterator[str]):
        self._pieces = pieces
        self._buffer = ""

    def readable(self) -> bool:
        return True

    def readline(self, size: int = -1) -> str:
        while "\n" not in self._buffer:
            piece = next(self._pieces, None)
            if piece is None:
                line, self._buffer = self._buffer, ""
                return line
            self._buffer += piece
        line, _, self._buffer = self._buffer.partition("\n")
        return line + "\n"

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


def _layout(first: List[str], delimiter: str) -> Layout:
    names = [" ".join(cell.strip().lower().replace("_", " ").split()) for cell in first]
    keys = [ALIASES.get(n) or ALIASES.get(n.replace(" ", "_")) for n in names]
    if "email" not in keys:
        if any("@" in cell for cell in first) or not any(keys):
            return Layout({name: i for i, name in enumerate(POSITIONAL)}, False, delimiter)
        raise FileProblem("The header row has no email column. Name a column “email”.", "no_email_column")
    columns: Dict[str, int] = {}
    for index, key in enumerate(keys):
        if key is None:
            continue  # columns we do not use are ignored
        if key in columns:
            raise FileProblem(f"The column “{first[index].strip()}” appears twice in the header row: "
                              "keep one.", "duplicate_column")
        columns[key] = index
    return Layout(columns, True, delimiter)


def _cell(cells: List[str], layout: Layout, key: str) -> str:
    index = layout.columns.get(key)
    return cells[index].strip() if index is not None and index < len(cells) else ""


def _unix_newlines(pieces: Iterator[str]) -> Iterator[str]:
    """CR LF and a lone CR (old Mac, some exports) both end a line."""
    pending_cr = False
    for piece in pieces:
        if pending_cr:
            piece = "\r" + piece
        pending_cr = piece.endswith("\r")
        if pending_cr:
            piece = piece[:-1]
        yield piece.replace("\r\n", "\n").replace("\r", "\n")
    if pending_cr:
        yield "\n"


def _excel_separator(line: str) -> Optional[str]:
    """Excel's optional first line `sep=;` names the delimiter; it is not data."""
    text = line.strip()
    return text[4] if len(text) == 5 and text[:4].lower() == "sep=" else None


UNCLOSED_QUOTE = "A quote (\") in this row is not closed: fix the row and upload it again."
# A quoted cell may hold line breaks; a quote still open this many lines later was never closed.
MAX_CELL_LINES = 5


def _records(lines: Iterator[str]) -> Iterator[tuple]:
    """(first line number, text of one record or None when its quote is never closed). A quote left
    open spoils only its own line: the lines read ahead to look for the closing quote are read again."""
    pushed: List[str] = []
    number = 0

    def next_line() -> Optional[str]:
        return pushed.pop() if pushed else next(lines, None)

    while True:
        line = next_line()
        if line is None:
            return
        number += 1
        record, ahead = line, []
        while record.count('"') % 2 and len(ahead) < MAX_CELL_LINES:
            following = next_line()
            if following is None:
                break
            ahead.append(following)
            record += following
        if record.count('"') % 2:
            pushed.extend(reversed(ahead))
            yield number, None
            continue
        yield number, record
        number += len(ahead)


def rows(chunks: Iterable[bytes], size: Optional[int] = None) -> Iterator[Row]:
    """Every data row of the file, in order, streamed (constant memory in the row count).
    A row whose quote is never closed is reported as that row's problem; the others are read."""
    lines = _Lines(_unix_newlines(_text_lines(iter(chunks), size)))
    first_line = lines.readline()
    delimiter = _excel_separator(first_line)
    if delimiter:
        first_line = lines.readline()
    else:
        delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    layout: Optional[Layout] = None
    count = 0
    for number, record in _records(iter(_prepend(first_line, lines))):
        cells = None
        if record is not None:
            try:
                cells = next(csv.reader(io.StringIO(record), delimiter=delimiter, strict=True), [])
            except csv.Error:
                cells = None
        if layout is None:
            if cells is None:
                raise FileProblem("Row 1: the header row cannot be read as CSV. Check for a quote (\") that is "
                                  "not closed.", "malformed")
            layout = _layout(cells, delimiter)
            if layout.header:
                continue
        if cells is not None and not any(cell.strip() for cell in cells):
            continue  # blank lines are not rows
        count += 1
        if count > MAX_ROWS:
            raise FileProblem(f"The file has more than {MAX_ROWS:,} rows. Split it into smaller files.",
                              "too_many_rows")
        yield _row(number, cells, layout) if cells is not None else Row(number, problem=UNCLOSED_QUOTE)


def _prepend(first: str, rest) -> Iterator[str]:
    if first:
        yield first
    yield from rest


def _row(number: int, cells: List[str], layout: Layout) -> Row:
    name = _cell(cells, layout, "name") or " ".join(
        p for p in (_cell(cells, layout, "first_name"), _cell(cells, layout, "last_name")) if p)
    row = Row(number, _cell(cells, layout, "email"), name, _cell(cells, layout, "role").lower(),
              _cell(cells, layout, "group"), _cell(cells, layout, "staff_email"))
    formula = [c for c in (row.email, row.name, row.role, row.group, row.staff_email) if c.startswith(FORMULA_START)]
    if formula:
        row.problem = (f"A cell starts with “{formula[0][0]}”: spreadsheet formulas are not accepted. "
                       "Remove the formula or the leading character.")
    elif not row.email:
        row.problem = "The email cell is empty."
    return row


# A value for the error report CSV, defused so a spreadsheet never runs it (the rule every CSV we write follows).
report_cell = defuse
