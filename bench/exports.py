"""Issue 11's figures: Export CSV of the seeded organisation (every account),
as the background job writes it to S3, and the direct answer's threshold.

- DynamoDB requests, against ceil(bytes read / 1 MB) + c: the bytes are every
  item of the organisation's partition sized as DynamoDB sizes items (names +
  values); c is the start (organisation, counters, record) plus, per 5 MiB S3
  part, the step's record read, group names and record save.
- S3 requests: one multipart upload, one part per 5 MiB.
- time in moto, rows per second, bytes per row (the direct threshold's inputs).
- peak memory, each in a process of its own (moto's server threads share the
  bench's): the CSV writer at 10,000 and 100,000 rows (flat: it drains every
  5 MiB part), and the whole background export of the seeded organisation.

`python -m bench.exports` alone seeds its own organisation (EXPORT_BENCH_SIZE,
default 10,000); `make bench` exports the Clients Table bench's organisation.
"""
import json
import math
import os
import subprocess
import sys
import time

from bench.harness import line

ONE_MB = 1024 * 1024


def item_bytes(item: dict) -> int:
    """An item's size as DynamoDB counts it for reads: attribute names plus values."""
    def value_size(value: dict) -> int:
        (kind, data), = value.items()
        if kind == "S":
            return len(data.encode())
        if kind == "N":
            return len(data.lstrip("-").replace(".", "")) // 2 + 2
        if kind == "BOOL" or kind == "NULL":
            return 1
        if kind in ("SS", "NS"):
            return sum(value_size({kind[0]: v}) for v in data)
        if kind == "L":
            return 3 + sum(1 + value_size(v) for v in data)
        if kind == "M":
            return 3 + sum(len(k.encode()) + 1 + value_size(v) for k, v in data.items())
        return len(str(data))
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def partition_bytes(org_id: str) -> tuple:
    """(items, bytes) of the organisation's accounts, read outside the meter."""
    from chalicelib.core import aws
    from chalicelib.core.models import Account

    paginator = aws.client("dynamodb").get_paginator("query")
    items = total = 0
    for page in paginator.paginate(TableName=Account.Meta.table_name, KeyConditionExpression="org_id = :o",
                                   ExpressionAttributeValues={":o": {"S": org_id}}):
        for item in page["Items"]:
            items += 1
            total += item_bytes(item)
    return items, total


def export_all(org_id: str, account_id: str) -> dict:
    """The background export of every account, step after step as the queue runs them."""
    from chalicelib.core.models import Account, Export
    from chalicelib.exports import exports
    from chalicelib.people.accounts import Viewer

    viewer = Viewer.of(Account.get(org_id, account_id))
    started = time.perf_counter()
    record = exports.start(viewer, {}, kind="scheduled")  # always the background path
    steps = 1
    while exports.run_step(org_id, record.export_id):
        steps += 1
    seconds = time.perf_counter() - started
    done = Export.get(org_id, record.export_id)
    return {"rows": done.rows, "bytes": done.bytes, "parts": len(done.etags), "steps": steps,
            "seconds": seconds, "status": done.status}


def _job_peak(org_id: str, account_id: str) -> dict:
    """The export's own peak: modules imported and AWS clients made first (botocore's
    service models are tens of MiB that any warm Lambda already holds)."""
    import tracemalloc

    from chalicelib.core import aws
    from chalicelib.core.models import Account, Export
    from chalicelib.exports import exports  # noqa: F401

    for service in ("s3", "sqs", "dynamodb"):
        aws.client(service)
    Account.get(org_id, account_id)
    Export.count(org_id, limit=1)
    tracemalloc.start()
    result = export_all(org_id, account_id)
    result["peak_mib"] = round(tracemalloc.get_traced_memory()[1] / 2 ** 20, 1)
    tracemalloc.stop()
    return result


def _writer_peak(rows: int) -> float:
    """Peak memory of the CSV writer over `rows` synthetic rows, drained per part as the job does."""
    import tracemalloc
    from datetime import datetime, timedelta, timezone

    from chalicelib.exports import csvfile, exports
    from chalicelib.table.listing import Row

    now = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
    groups = {f"g{i}": f"Group {i}" for i in range(10)}
    tracemalloc.start()
    writer, written = csvfile.Writer("Europe/London"), 0
    for start in range(0, rows, 1000):
        batch = [Row(f"{i:032x}", f"Person Number{i} Surname", f"person{i}@example.net", "client", "activated",
                     f"g{i % 10}", f"staff{i % 20}@example.org", now - timedelta(days=i % 90), now, None)
                 for i in range(start, min(rows, start + 1000))]
        writer.write(batch, groups)
        if writer.pending() >= exports.PART_BYTES:
            written += len(writer.take())
    written += len(writer.take())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert written > rows * 100
    return round(peak / 2 ** 20, 2)


AWS_PAGE_SECONDS = 0.05  # a 1 MB Query page on DynamoDB: tens of ms (generous)


def _format_seconds(rows: int) -> float:
    """The app's own time to turn `rows` rows into CSV (no AWS)."""
    from datetime import datetime, timezone

    from chalicelib.exports import csvfile
    from chalicelib.table.listing import Row

    now = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
    batch = [Row(f"{i:032x}", f"Person Number{i} Surname", f"person{i}@example.net", "client", "activated",
                 "g1", "staff@example.org", now, now, None) for i in range(1000)]
    writer, started = csvfile.Writer("Europe/London"), time.perf_counter()
    for _ in range(math.ceil(rows / 1000)):
        writer.write(batch, {"g1": "Group 1"})
        writer.take()
    return time.perf_counter() - started


def _in_own_process(call: str) -> str:
    return subprocess.run([sys.executable, "-c", f"import json, bench.exports as b; print(json.dumps({call}))"],
                          capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]


def run(meter, org) -> None:
    from chalicelib.exports import exports, reader

    items, stored = partition_bytes(org.org_id)
    with meter.measure() as cost:
        result = export_all(org.org_id, org.admin.account_id)
    dynamodb, s3 = cost.count("dynamodb"), cost.count("s3")
    reads = cost.requests["dynamodb.Query"]
    c = 8 + 4 * result["parts"]  # start: organisation, groups, counters, record; per part: record, groups, saves
    bound = math.ceil(stored / ONE_MB) + c
    per_item = stored / max(items, 1)
    rows_per_s = result["rows"] / result["seconds"]
    per_row = result["bytes"] / max(result["rows"], 1)
    print(f"  the organisation's partition: {items:,} items, {stored / ONE_MB:.1f} MB "
          f"({per_item:.0f} bytes an item; reader.ITEM_BYTES assumes {reader.ITEM_BYTES})")
    line(f"export every account ({result['rows']:,} rows, {result['parts']} parts)",
         f"{dynamodb} DynamoDB requests ({reads} Query)",
         f"<= ceil({stored / ONE_MB:.1f} MB / 1 MB) + {c} = {bound}", dynamodb <= bound)
    s3_calls = ", ".join(f"{name[3:]} {n}" for name, n in sorted(cost.requests.items()) if name.startswith("s3."))
    line("  S3 requests", f"{s3} ({s3_calls})", f"<= parts + 2 = {result['parts'] + 2}", s3 <= result["parts"] + 2)
    line("  time in moto", f"{result['seconds']:.1f} s, {rows_per_s:,.0f} rows/s")
    line("  file", f"{result['bytes'] / ONE_MB:.1f} MB, {per_row:.0f} bytes a row")
    direct_rows = exports.DIRECT_MAX_ROWS
    direct_mb = direct_rows * per_row / ONE_MB
    format_s = _format_seconds(direct_rows)
    pages = math.ceil(direct_rows * per_item / ONE_MB)
    aws_s = pages * AWS_PAGE_SECONDS + format_s
    line(f"  direct answer up to {direct_rows:,} rows: size", f"~{direct_mb:.1f} MB", "6 MB", direct_mb < 6)
    line("    time: moto / AWS estimate", f"~{direct_rows / rows_per_s:.0f} s (moto serves items slowly) / "
         f"~{aws_s:.1f} s ({pages} pages x {AWS_PAGE_SECONDS * 1000:.0f} ms + {format_s:.1f} s formatting)",
         "29 s on AWS", aws_s < 29)
    small = json.loads(_in_own_process("b._writer_peak(10_000)"))
    large = json.loads(_in_own_process("b._writer_peak(100_000)"))
    part_mib = exports.PART_BYTES / 2 ** 20
    line("  CSV writer peak memory, 10,000 / 100,000 rows", f"{small} / {large} MiB",
         f"flat: <= one {part_mib:g} MiB part + 2", max(small, large) <= part_mib + 2)
    job = json.loads(_in_own_process(f"b._job_peak({org.org_id!r}, {org.admin.account_id!r})"))
    line(f"  whole background export peak memory ({job['rows']:,} rows)", f"{job['peak_mib']} MiB",
         "django-import-export: 140 MiB at 100,000")


def main() -> int:
    from bench.harness import Meter

    meter = Meter()
    from tools.local import emulator

    _server, endpoint = emulator.start_moto_server()
    emulator.configure_environment("http://127.0.0.1:8000", endpoint)
    emulator.create_resources()
    from bench.seed import seed_org

    size = int(os.environ.get("EXPORT_BENCH_SIZE", "10000"))
    print(f"Seeding {size:,} accounts...")
    org = seed_org(size, seed=21)
    print("Export CSV")
    run(meter, org)
    return 0


if __name__ == "__main__":
    sys.exit(main())
