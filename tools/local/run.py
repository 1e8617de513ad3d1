"""`make run`: the whole system on this machine, with demo data.

moto on loopback is the AWS endpoint; the app is served by Chalice's local
server; an event pump delivers stream records, queue messages and schedules
to the app's handlers as Lambda would. Ctrl-C stops it all.
"""
import logging
import os
import signal
import time

from tools.local import emulator


def start_demo(host: str, port: int, clients: int, moto_port: int = 0, threaded: bool = False):
    """moto, the demo organisation (seeded, its stream delivered), the event pump and the
    app's server: returns (moto, endpoint, seeded, pump, server)."""
    moto, endpoint = emulator.start_moto_server(moto_port)
    emulator.configure_environment(f"http://{host}:{port}", endpoint)
    emulator.create_resources()

    from app import app
    from tools.local import demo, outbox

    outbox.install(app)
    print(f"Seeding a demo organisation with {clients} clients...", flush=True)
    seeded = demo.seed(clients)
    pump = emulator.EventPump(app)
    pump.drain(rounds=1000)
    pump.start()
    server, _thread = emulator.local_server(app, host, port, threaded=threaded)
    return moto, endpoint, seeded, pump, server


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("werkzeug", "botocore", "pynamodb"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    host = os.environ.get("CASELOAD_HOST", "127.0.0.1")
    port = int(os.environ.get("CASELOAD_PORT", "8000"))
    moto_port = int(os.environ.get("CASELOAD_MOTO_PORT", "0"))
    clients = int(os.environ.get("CASELOAD_DEMO_CLIENTS", "500"))

    moto, endpoint, seeded, pump, server = start_demo(host, port, clients, moto_port)
    print(f"""
Caseload is running at http://{host}:{port}
  Admin:   {seeded.admin_email}
  Staff:   {seeded.staff_email}
  Password (both): {seeded.password}
  Organisation sign-up link: http://{host}:{port}/join/{seeded.join_token}
  Local outbox (emails "sent"): http://{host}:{port}/dev/outbox
  AWS emulator (moto): {endpoint}
Press Ctrl-C to stop.
""", flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops it as Ctrl-C does
    try:
        while True:
            # Short sleeps, not one long wait: the OS may hand Ctrl-C to another thread, and
            # Python runs the handler only once the main thread wakes (a bare wait() never did).
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    for stop in (signal.SIGINT, signal.SIGTERM):  # from here, a second Ctrl-C ends it at once
        signal.signal(stop, _stop_at_once)
    print("Stopping...", flush=True)
    pump.stop()
    server.shutdown()
    moto.stop()


def _stop_at_once(_signal, _frame) -> None:
    """The emulator's state is throwaway: nothing is lost by not cleaning up. os.write, not print:
    the signal may arrive while the main thread is inside print."""
    os.write(1, b"Stopped.\n")
    os._exit(130)


if __name__ == "__main__":
    main()
