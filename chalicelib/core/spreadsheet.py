"""What a spreadsheet must never run: the one rule for every CSV the app writes
(exports, the CSV import's error report) and the one check the import reads with."""

# A cell starting with one of these is read as a formula by Excel, LibreOffice
# or Google Sheets (tab and carriage return hide a formula behind whitespace).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def defuse(value) -> str:
    """The cell as text, with a leading ' when a spreadsheet would run it: the
    ' makes it text and is not shown in the cell."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text
