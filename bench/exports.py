"""Issue 11's figures: Export CSV of the seeded organisation (every account),
as the background job writes it to S3, and the direct answer's threshold.

- DynamoDB requests, against ceil(bytes read / 1 MB) + c: the bytes are every
  item of the organisation's partition sized as DynamoDB sizes items (names +
  values); c is the start (organisation, counters, record, job) plus, per job
  step, the runner's read, lease and commit and the step's record and group names.
- S3 requests: the sorted runs (a PUT each, read back in 1 MB ranges), one
  multipart upload with one part per 5 MiB, the runs' deletion.
- time in moto, rows per second, bytes per row (the direct threshold's inputs).
- peak memory, each in a process of its own (moto's server threads share the
  bench's): the whole export job (records, sorted runs, merge, parts) at
  10,000 and 100,000 synthetic rows in random name order (flat: a run and a
  part at most), and the export of the seeded organisation.

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

# "1 MB" as the emulator cuts a Query page (moto: 1,000,000 bytes), so the bound counts the pages the
# bench's reads really take. DynamoDB cuts at 1 MiB: on AWS the same export reads ~5% fewer pages.
ONE_MB = 1_000_000


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
    """The background export of every account, its job's steps run one after another as the
    jobs queue would deliver them (chalicelib.jobs.runner.run_step). `status_reads` are the
    bench's own reads of the job between steps (not the export's: subtracted from its count).
    The messages the steps queue are left to the jobs queue: stale once their step ran, a no-op there."""
    from chalicelib.core.models import Account, Export, Job
    from chalicelib.exports import exports
    from chalicelib.jobs import runner
    from chalicelib.people.accounts import Viewer

    viewer = Viewer.of(Account.get(org_id, account_id))
    started = time.perf_counter()
    record = exports.start(viewer, {}, kind="scheduled")  # always the background path
    steps = status_reads = 0
    while True:
        job = Job.get(record.job_id, consistent_read=True)
        status_reads += 1
        if job.status != "running":
            break
        outcome = runner.run_step(job.job_id, int(job.step_seq))
        steps += 1
        assert outcome == runner.Outcome.RAN, outcome
    seconds = time.perf_counter() - started
    done = Export.get(org_id, record.export_id)
    return {"rows": done.rows, "bytes": done.bytes, "parts": len(job.cursor["etags"]),
            "runs": len(job.cursor["runs"]), "steps": steps, "status_reads": status_reads,
            "seconds": seconds, "status": done.status}


def _warm(org_id: str, account_id: str) -> None:
    """Modules imported and AWS clients made before measuring (botocore's service models
    are tens of MiB that any warm Lambda already holds)."""
    from chalicelib.core import aws
    from chalicelib.core.models import Account, Export
    from chalicelib.exports import exports  # noqa: F401

    for service in ("s3", "sqs", "dynamodb"):
        aws.client(service)
    Account.get(org_id, account_id)
    Export.count(org_id, limit=1)


def _job_peak(org_id: str, account_id: str) -> dict:
    """The export's own peak, in a process of its own."""
    import tracemalloc

    _warm(org_id, account_id)
    tracemalloc.start()
    result = export_all(org_id, account_id)
    result["peak_mib"] = round(tracemalloc.get_traced_memory()[1] / 2 ** 20, 1)
    tracemalloc.stop()
    return result


def _pipeline_peak(org_id: str, account_id: str, rows: int) -> dict:
    """Peak memory of the whole background export (records, sorted runs in S3, the merge, the parts)
    over `rows` synthetic rows read in account-id order, i.e. in random name order: the
    DynamoDB reads are replaced by a generator so any row count can be measured."""
    import random
    import tracemalloc
    from datetime import datetime, timedelta, timezone

    from chalicelib.exports import exports, reader
    from chalicelib.table.listing import Row

    now = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)
    names = [f"{first} {last}" for first in ("Ann", "Bob", "Chidi", "Dana", "Eve", "Femi", "Gus", "Hana")
             for last in ("Archer", "Brook", "Clarke", "Dunn", "Evans", "Ford", "Grey", "Hale")]

    def start(_org_id, _filters):
        return {"path": "table", "key": 0}

    def read(_org_id, _filters, position, min_rows):
        first = position["key"]
        last = min(rows, first + max(min_rows, 1000))
        rng = random.Random(first)
        batch = []
        for i in range(first, last):
            name = f"{rng.choice(names)} {i}"
            batch.append(Row(f"{i:032x}", name, f"person{i}@example.net", "client", "activated", "g1",
                             "staff@example.org", now - timedelta(days=i % 90), now, None))
        keys = [f"{row.name.casefold()}#{row.account_id}" for row in batch]
        return reader.Batch(batch, {"path": "table", "key": last} if last < rows else None, 1, keys)

    reader.start, reader.read = start, read
    _warm(org_id, account_id)
    wanted, rows = rows, 100
    export_all(org_id, account_id)  # a first, tiny export: what every call imports and caches is not the rows'
    rows = wanted
    tracemalloc.start()
    result = export_all(org_id, account_id)
    result["peak_mib"] = round(tracemalloc.get_traced_memory()[1] / 2 ** 20, 1)
    tracemalloc.stop()
    assert result["rows"] == rows, result
    return result


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
    done = subprocess.run([sys.executable, "-c", f"import json, bench.exports as b; print(json.dumps({call}))"],
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{call} failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


def run(meter, org) -> None:
    from chalicelib.exports import exports, reader

    items, stored = partition_bytes(org.org_id)
    with meter.measure() as cost:
        result = export_all(org.org_id, org.admin.account_id)
    dynamodb = cost.count("dynamodb") - result["status_reads"]  # the bench's own reads between steps
    s3 = cost.count("s3")
    reads = cost.requests["dynamodb.Query"]
    # The constant: the start (organisation, groups, counters, path, record, job) and, per step, the
    # runner's job read, lease and commit, the step's record read and group names, and the finish.
    c = 10 + 5 * result["steps"]
    bound = math.ceil(stored / ONE_MB) + c
    per_item = stored / max(items, 1)
    rows_per_s = result["rows"] / result["seconds"]
    per_row = result["bytes"] / max(result["rows"], 1)
    print(f"  the organisation's partition: {items:,} items, {stored / ONE_MB:.1f} MB "
          f"({per_item:.0f} bytes an item; reader.ITEM_BYTES assumes {reader.ITEM_BYTES})")
    line(f"export every account ({result['rows']:,} rows, {result['runs']} sorted runs, {result['parts']} parts, "
         f"{result['steps']} job steps)", f"{dynamodb} DynamoDB requests ({reads} Query)",
         f"<= ceil({stored / ONE_MB:.1f} MB / 1 MB) + 10 + 5 x steps = {bound}", dynamodb <= bound)
    s3_calls = ", ".join(f"{name[3:]} {n}" for name, n in sorted(cost.requests.items()) if name.startswith("s3."))
    s3_bound = 3 + 2 * result["runs"] + result["parts"] * (1 + result["runs"]) + math.ceil(
        result["bytes"] * 1.5 / (1024 * 1024))
    line("  S3 requests", f"{s3} ({s3_calls})", "runs put + read in 1 MB ranges, parts, complete, delete",
         s3 <= s3_bound)
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
    peaks = {n: json.loads(_in_own_process(f"b._pipeline_peak({org.org_id!r}, {org.admin.account_id!r}, {n})"))
             for n in (10_000, 100_000, 300_000)}
    small, large, larger = (peaks[n]["peak_mib"] for n in (10_000, 100_000, 300_000))
    line("  whole export job peak memory, 10,000 / 100,000 / 300,000 rows",
         f"{small} / {large} / {larger} MiB (1 / {peaks[100_000]['runs']} / {peaks[300_000]['runs']} sorted runs)",
         "flat above one run (300,000 <= 100,000 + 2 MiB); django-import-export: 140 MiB at 100,000",
         larger <= large + 2)
    job = json.loads(_in_own_process(f"b._job_peak({org.org_id!r}, {org.admin.account_id!r})"))
    line(f"  the export above, in a process of its own ({job['rows']:,} rows)",
         f"{job['peak_mib']} MiB peak (with what the first call imports)")


def main() -> int:
    from bench.harness import Meter

    meter = Meter()
    from tools.local import emulator

    _server, endpoint = emulator.start_moto_server()
    emulator.configure_environment("http://127.0.0.1:8000", endpoint)
    emulator.create_resources()
    from bench.seed import seed_org

    size = int(os.environ.get("EXPORT_BENCH_SIZE", "10000"))
    print(f"Seeding {size:,} accounts...", flush=True)
    started = time.perf_counter()
    org = seed_org(size, seed=21)
    print(f"  seeded in {time.perf_counter() - started:.0f} s", flush=True)
    print("Export CSV")
    run(meter, org)
    return 0


if __name__ == "__main__":
    sys.exit(main())
