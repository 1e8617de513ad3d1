"""`make run` as a newcomer uses it: the whole system starts, serves the demo, and stops on Ctrl-C."""
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from chalice.test import Client

from app import app
from tests.conftest import _free_port

ROOT = Path(__file__).resolve().parents[1]


def test_local_run_seeds_the_demo_serves_it_and_stops_cleanly():
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CASELOAD_"))}
    env.update(CASELOAD_PORT=str(port), CASELOAD_DEMO_CLIENTS="40", PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-m", "tools.local.run"], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            line = process.stdout.readline()
            output.append(line)
            if "Press Ctrl-C to stop." in line or process.poll() is not None:
                break
        printed = "".join(output)
        assert f"Caseload is running at http://127.0.0.1:{port}" in printed, printed
        admin = re.search(r"Admin:\s+(\S+)", printed).group(1)
        password = re.search(r"Password \(both\):\s+(\S+)", printed).group(1)
        assert admin.endswith("@northside.example.org") and len(password) >= 8
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/signin", timeout=10) as reply:
            assert reply.status == 200 and b"Sign in" in reply.read()
        join = re.search(r"sign-up link: (\S+)", printed).group(1)
        with urllib.request.urlopen(join, timeout=10) as reply:
            assert b"Join Northside Employment Centre" in reply.read()
    finally:
        process.send_signal(signal.SIGINT)
        stopping = _lines_until(process, "Stopping...")
        process.send_signal(signal.SIGINT)  # an impatient second Ctrl-C while it stops
        rest, _ = process.communicate(timeout=90)  # a pump step in flight finishes first; slow on a loaded machine
    printed = stopping + rest
    # 130: the second Ctrl-C came before the cleanup ended; -2: as Python exited, after the cleanup.
    assert process.returncode in (0, 130, -signal.SIGINT), printed
    assert "Stopping..." in printed and "Traceback" not in printed, printed


def _lines_until(process, text: str) -> str:
    lines = []
    while not lines or (text not in lines[-1] and lines[-1]):
        lines.append(process.stdout.readline())
    return "".join(lines)


def test_outbox_exists_only_in_the_local_stage(http):
    assert http.get("/dev/outbox").status_code == 200
    with Client(app, stage_name="prod") as prod:
        assert prod.http.get("/dev/outbox").status_code == 404
