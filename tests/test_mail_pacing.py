"""Paced mail (pure): recipients per second never above the rate, the rate read from
SES at run time and capped by the setting."""
import random

import pytest

from bench.invites import FakeClock, largest_burst
from chalicelib.invitations import mailer


@pytest.mark.parametrize("rate", [1, 7, 14, 50, 200])
def test_no_one_second_window_holds_more_recipients_than_the_rate(rate):
    clock, sends, rng = FakeClock(), [], random.Random(rate)
    pacer = mailer.Pacer(rate, clock=clock.now, sleep=clock.sleep)
    assert pacer.chunk == min(rate, mailer.BULK_LIMIT)
    for _ in range(500):
        count = pacer.take(rng.randint(1, pacer.chunk))
        sends.append((clock.now(), count))
        clock.t += rng.random() * 0.2
    assert largest_burst(sends) <= rate
    assert sum(n for _t, n in sends) <= rate * (clock.t + 1)  # the last second may be a full one


def test_a_steady_stream_runs_at_the_rate():
    clock, sent = FakeClock(), 0
    pacer = mailer.Pacer(14, clock=clock.now, sleep=clock.sleep)
    while sent < 14 * 100:
        sent += pacer.take(pacer.chunk)
    assert 98 <= clock.t <= 100  # 1,400 recipients at 14 a second


def test_the_rate_is_read_from_ses_at_run_time_and_capped(monkeypatch):
    class Quota:
        rate = 40.0

        def get_send_quota(self):
            return {"MaxSendRate": self.rate, "Max24HourSend": 50000.0, "SentLast24Hours": 0.0}

    monkeypatch.delenv("CASELOAD_MAIL_SIMULATED_RATE", raising=False)
    monkeypatch.setattr(mailer, "_ses_with_retries", lambda: Quota())
    monkeypatch.setitem(mailer._quota, "rate", None)
    monkeypatch.setenv("CASELOAD_MAIL_MAX_RATE", "100")
    assert mailer.sending_rate() == 40.0
    monkeypatch.setenv("CASELOAD_MAIL_MAX_RATE", "10")
    assert mailer.sending_rate() == 10.0  # the configured cap wins
    monkeypatch.delenv("CASELOAD_MAIL_MAX_RATE")
    assert mailer.sending_rate() == mailer.DEFAULT_MAX_RATE


@pytest.mark.parametrize("rate", [3, 7, 14, 50])
def test_messages_of_fifty_go_out_at_the_full_rate_never_above_it(rate):
    """`take` lets a call fill what a message's last partial call left free: no second is lost
    per message, and no one-second window holds more recipients than the rate."""
    clock, sends = FakeClock(), []
    pacer = mailer.Pacer(rate, clock=clock.now, sleep=clock.sleep)
    for _message in range(40):
        left = mailer.BULK_LIMIT
        while left:
            count = pacer.take(left)
            assert 1 <= count <= min(left, pacer.chunk)
            sends.append((clock.now(), count))
            left -= count
    assert sum(n for _t, n in sends) == 40 * mailer.BULK_LIMIT
    assert largest_burst(sends) <= rate
    assert clock.t <= 40 * mailer.BULK_LIMIT / rate  # the floor: recipients / rate


def test_the_50000_row_figure_is_computed_from_the_real_pacer():
    from bench.invites import simulate_mail
    figure = simulate_mail(50_000, 14)
    assert figure["recipients"] == 50_000 and figure["largest_burst"] <= 14
    assert 50_000 / 14 - 1 <= figure["seconds"] <= 50_000 / 14 + 1
