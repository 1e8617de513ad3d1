"""`make bench`: what each operation costs in AWS requests and memory, printed
against the bounds the issues set. Runs on moto in this process (no network);
BENCH_QUICK=1 uses 5,000 accounts instead of 100,000 for a fast look."""
import os
import sys
import time

from bench.harness import Meter


def main() -> int:
    meter = Meter()  # before any AWS client exists, so every request is counted
    from chalicelib.local import emulator

    emulator.configure_environment("http://127.0.0.1:8000")
    emulator._make_moto_transactions_cheap()
    from moto import mock_aws

    started = time.perf_counter()
    with mock_aws():
        emulator.create_resources()
        import app  # noqa: F401  (registers the handlers the stream bench calls)
        from bench import clients_table

        clients_table.run(meter)
        for extra in ("bench.invites",):
            try:
                module = __import__(extra, fromlist=["run"])
            except ImportError:
                continue
            module.run(meter)
    if os.environ.get("BENCH_SKIP_PACKAGE") != "1":
        from bench import package

        print("\nPackage")
        package.report()
    print(f"\nDone in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
