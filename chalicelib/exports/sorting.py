"""The table path's rows in the Clients Table's order, in constant memory.

The table path reads the organisation in account-id order (the cheapest read:
1 MB pages of the base table). Each row carries its sort key (reader.sort_key).

- Small selections are sorted in memory (`in_order`).
- Larger ones are an external merge sort through S3:
  - runs: rows are read until RUN_BYTES of records are held, sorted, and stored
    as one object each (`put_run`), a line per row: `[sort key, CSV record]`
    as JSON (a record may hold newlines; JSON escapes them);
  - merge (`merged`): every run is read from its offset in WINDOW-byte ranges
    and the runs are merged (heapq.merge) until a part of the file is full;
    the offsets say where the next part continues, so a step can stop and a
    re-run of it reads the same bytes again.
Memory: one run while reading (RUN_BYTES of records, about three times that
in Python objects while sorted), then MERGE_BYTES of windows plus a part while
merging: flat in the row count (bench/exports.py prints the peak).
"""
import heapq
import json
from typing import Iterator, List, Tuple

RUN_BYTES = 4 * 1024 * 1024  # records held before a run is sorted and stored (~18,000 rows)
MERGE_BYTES = 8 * 1024 * 1024  # what the merge holds of all runs together: a window of each
WINDOW = 1024 * 1024  # the largest window of one run (fewer runs: fewer ranged GETs)
SMALLEST_WINDOW = 64 * 1024  # with very many runs (millions of rows) windows shrink to this


def window(runs: int) -> int:
    """Bytes of each run read per ranged GET: MERGE_BYTES shared by the runs, within bounds."""
    return max(min(WINDOW, MERGE_BYTES // max(runs, 1)), SMALLEST_WINDOW)


def in_order(keys: list, records: list, descending: bool) -> list:
    """The records sorted by their keys (ties cannot happen: every key ends with the account id)."""
    return [record for _key, record in sorted(zip(keys, records), reverse=descending)]


def encode_run(keys: list, records: list, descending: bool) -> bytearray:
    body = bytearray()
    for pair in sorted(zip(keys, records), reverse=descending):
        body += (json.dumps(pair, ensure_ascii=False) + "\n").encode("utf-8")
    return body


def put_run(s3, bucket: str, key: str, keys: list, records: list, descending: bool) -> int:
    """Store one sorted run; returns its size in bytes. The same run put again overwrites it."""
    body = encode_run(keys, records, descending)
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(body), ContentType="application/x-ndjson")
    return len(body)


def _lines(s3, bucket: str, key: str, start: int, size: int, width: int) -> Iterator[Tuple[str, str, int]]:
    """(sort key, record, offset after the line) of a run from `start`, `width` bytes at a time."""
    offset, pending = start, b""
    while offset < size:
        end = min(offset + width, size) - 1
        pending += s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={offset}-{end}")["Body"].read()
        read_to = end + 1
        lines = pending.split(b"\n")
        pending = lines.pop()  # a line cut by the window's end waits for the next window
        position = read_to - len(pending) - sum(len(line) + 1 for line in lines)
        for line in lines:
            position += len(line) + 1
            sort_key, record = json.loads(line)
            yield sort_key, record, position
        offset = read_to


def merged(s3, bucket: str, keys: List[str], sizes: List[int], offsets: List[int], descending: bool):
    """(run number, offset after the line, record), every run merged from its offset in sort order."""
    width = window(len(keys))

    def tagged(number: int):
        for sort_key, record, after in _lines(s3, bucket, keys[number], offsets[number], sizes[number], width):
            yield sort_key, number, after, record

    runs = [tagged(n) for n in range(len(keys)) if offsets[n] < sizes[n]]
    for _sort_key, number, after, record in heapq.merge(*runs, reverse=descending):
        yield number, after, record
