"""Export CSV: the Clients Table as its filters select it, as a file.

- `csvfile`: the file's format (pure): columns, RFC 4180, UTF-8 with BOM,
  dates in the organisation's time zone, formula-looking cells defused.
- `reader`: every row the filters select, in batches from a resumable position.
- `exports`: starting an export (answered directly when small, otherwise written
  to S3 part by part in the background), the list, downloads, the time zone.
- `schedules`: daily or weekly exports, run by one scheduled function.
"""
