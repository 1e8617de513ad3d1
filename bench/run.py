"""`make bench`: what each operation costs in AWS requests and memory, printed
against the bounds the issues set, on moto's server in this process (no
network). BENCH_QUICK=1 seeds 5,000 accounts instead of 100,000 and invites fewer."""
import subprocess
import sys
import time

from bench.harness import Meter, quick


def main() -> int:
    meter = Meter()  # before any AWS client exists, so every request is counted
    from tools.local import emulator

    _server, endpoint = emulator.start_moto_server()
    emulator.configure_environment("http://127.0.0.1:8000", endpoint)
    emulator.create_resources()
    import app  # noqa: F401  (the handlers the stream bench calls)
    from bench import actions, clients_table, exports, groups, invites

    started = time.perf_counter()
    big = clients_table.run(meter)
    print("\nSign-in and page loads (own process: its peak memory is the app's alone)", flush=True)
    subprocess.run([sys.executable, "-m", "bench.pages", big.org_id, big.admin.account_id], check=True)
    print("\nExport CSV (the same organisation)", flush=True)
    exports.run(meter, big)
    print("\nRow actions (10,000 accounts)", flush=True)
    actions.run(meter)
    print("\nManage Groups: delete a group (10,000 members)", flush=True)
    groups.main([])
    print("\nInvitations")
    invites.main(["100", "1000", "csv=5000"] if quick() else [])
    print("\nPackage", flush=True)
    # Its own process: packaging imports the app with the prod stage's table names.
    subprocess.run([sys.executable, "-m", "bench.package"], check=True)
    print(f"\nDone in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
