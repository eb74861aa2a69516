"""The rate after a throttle: cut once per generation of requests, then grown back (CUBIC)."""

from __future__ import annotations

import pytest

from batch_uploader.throttling import BETA, MIN_RATE, CubicRate, SendRateMeter


def test_no_limit_until_the_first_throttle() -> None:
    rate = CubicRate()
    rate.on_success(now=10.0, sending_rate=100.0)
    assert rate.limit is None


def test_a_throttle_cuts_to_beta_times_the_sending_rate() -> None:
    rate = CubicRate()
    assert rate.on_throttle(now=1.0, sent_at=0.9, sending_rate=100.0)
    assert rate.limit == pytest.approx(100.0 * BETA)


def test_answers_to_requests_sent_before_the_cut_do_not_cut_again() -> None:
    rate = CubicRate()
    rate.on_throttle(now=1.0, sent_at=0.99, sending_rate=100.0)
    assert not rate.on_throttle(now=1.01, sent_at=0.995, sending_rate=100.0)
    assert rate.limit == pytest.approx(70.0)
    assert rate.on_throttle(now=1.5, sent_at=1.2, sending_rate=100.0)
    assert rate.limit == pytest.approx(70.0 * BETA)


def test_the_rate_grows_back_flat_near_the_old_maximum_then_beyond() -> None:
    rate = CubicRate()
    rate.on_throttle(now=0.0, sent_at=0.0, sending_rate=50.0)
    limits = []
    for second in range(1, 9):
        rate.on_success(now=float(second), sending_rate=1000.0)
        assert rate.limit is not None
        limits.append(rate.limit)
    assert limits == sorted(limits)
    assert limits[0] < 50.0
    # Flat near 50 around the curve's zero point (about 3.3 s), past it later.
    assert 45.0 < limits[2] < 51.0
    assert limits[-1] > 60.0


def test_the_rate_never_runs_far_ahead_of_what_is_sent() -> None:
    rate = CubicRate()
    rate.on_throttle(now=0.0, sent_at=0.0, sending_rate=50.0)
    rate.on_success(now=100.0, sending_rate=10.0)
    assert rate.limit == pytest.approx(20.0)


def test_the_rate_has_a_floor() -> None:
    rate = CubicRate()
    rate.on_throttle(now=0.0, sent_at=0.0, sending_rate=0.0)
    assert rate.limit == MIN_RATE


def test_the_meter_smooths_the_send_rate() -> None:
    meter = SendRateMeter(now=0.0)
    for step in range(50):
        meter.record(now=step * 0.01)  # 100 a second for half a second
    assert meter.rate(now=0.5) == pytest.approx(100.0)
    assert meter.rate(now=1.0) == pytest.approx(0.8 * 0.0 + 0.2 * 100.0)
