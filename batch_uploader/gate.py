"""The run's one view of the API: every attempt passes through here, so the run reacts once,
for all its rows, to what the API says as a whole.

- A spent quota (429 Limit Exceeded) stops the run, or pauses all sending and probes with
  one request every `quota_probe_interval` seconds until the quota is back.
- A throttle (any other 429) cuts the run's rate, which then grows back (`throttling`).
- An outage (`OUTAGE_AFTER` retryable failures in a row, from more than one row: 5xx,
  dropped connections, timeouts) stops new attempts; one probe goes out at growing intervals and the
  first answer from the API restores full speed. Past `max_outage` seconds without an answer
  from the API, the run stops.
- A Retry-After pauses every attempt, for at most `max_outage` seconds.
- A certificate that does not verify or a name that does not resolve stops the run at once,
  and so does an answer after which no row can succeed (403, invalid_project).

Attempts that met a spent quota, a throttle, or an outage are not charged to their row's
`max_attempts`: the row did nothing wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from batch_uploader.answers import AnswerKind, classify
from batch_uploader.client import DNS_ERROR, TLS_ERROR, Answer
from batch_uploader.control import RunControl
from batch_uploader.errors import RunStoppedError
from batch_uploader.events import ApiCondition, ApiState, RunObserver
from batch_uploader.pacing import RequestPacer
from batch_uploader.results import StopReason
from batch_uploader.settings import QuotaPolicy, RunSettings
from batch_uploader.stats import ApiTally
from batch_uploader.throttling import CubicRate, SendRateMeter

logger = logging.getLogger(__name__)

# Retryable failures in a row, across rows, that make an outage. One in a few hundred
# requests failing is normal weather; five in a row with no answer between is not. One row
# failing again and again, alone, is that row's problem: its attempts are charged.
OUTAGE_AFTER = 5
FIRST_PROBE_SECONDS = 1.0
MAX_PROBE_SECONDS = 60.0


class Ticket(NamedTuple):
    """One admitted attempt: when it was sent, whether it is the run's probe, and the number
    of the API state it was sent in. (A tuple: one is made per request, made from its
    positions in a fifth of the time a frozen dataclass takes.)"""

    sent_at: float
    probe: bool
    state_number: int
    row: int


class ApiGate:
    """Admits attempts and learns from their answers; see the module's description."""

    def __init__(
        self,
        settings: RunSettings,
        *,
        control: RunControl,
        observer: RunObserver,
        tally: ApiTally,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._settings = settings
        self._control = control
        self._observer = observer
        self._tally = tally
        self._clock = clock
        self._sleep = sleep
        now = clock()
        self._condition = ApiCondition.NORMAL
        self._since = now
        # Counts changes of condition: an answer to a request sent before the latest change
        # says nothing about the state the run is in now.
        self._state_number = 0
        self._changed = asyncio.Event()
        self._paused_until = now
        self._probe_in_flight = False
        self._next_probe_at = now
        self._probe_interval = FIRST_PROBE_SECONDS
        self._unavailable_in_a_row = 0
        self._rows_in_streak: set[int] = set()
        # The run's start counts as an answer: an API down from the start gets max_outage too.
        self._last_api_answer = now
        self._meter = SendRateMeter(now)
        self._cubic = CubicRate()
        self._pacer = RequestPacer(settings.rate, clock=clock, sleep=sleep)

    async def admit(self, row: int) -> Ticket:
        """Wait until an attempt of `row` may go out; raise `RunStoppedError` if the run
        stops first."""
        while True:
            if self._control.stopped:
                raise RunStoppedError
            now = self._clock()
            if self._paused_until > now:
                await self._wait(self._paused_until - now)
                continue
            if self._condition is ApiCondition.PAUSED:
                self._change(ApiCondition.NORMAL, now)
            probe = self._probing()
            if not probe:
                break
            if self._condition is ApiCondition.OUTAGE and now >= self._deadline():
                self._give_up()
                raise RunStoppedError
            if not self._probe_in_flight and now >= self._next_probe_at:
                self._probe_in_flight = True
                break
            await self._wait(None if self._probe_in_flight else self._next_probe_at - now)
        # Without a rate, nothing to wait for: no wrapper tasks on every request's path.
        if self._pacer.limited:
            try:
                await self._control.unless_stopped(self._pacer.wait_turn())
            except RunStoppedError:
                self._end_probe(probe)
                raise
            now = self._clock()
        self._meter.record(now)
        return Ticket(now, probe, self._state_number, row)

    def release(self, ticket: Ticket) -> None:
        """The attempt ended without an answer to learn from (the run stopped, or aborted)."""
        self._end_probe(ticket.probe)

    def record(self, ticket: Ticket, answer: Answer) -> bool:
        """Learn from an attempt's answer; return whether it is charged to its row."""
        self._end_probe(ticket.probe)
        kind = classify(answer)
        now = self._clock()
        if kind.from_the_api:
            # Nearly every answer: the API itself answered, so the way to it works.
            self._api_answered(now, ticket)
            return True
        if answer.retry_after is not None and kind in _MAY_ASK_TO_WAIT:
            self._pause(now, answer.retry_after)
        if kind is AnswerKind.UNREACHABLE:
            reason = _UNREACHABLE_REASONS.get(answer.error_code, StopReason.PROXY_REFUSED)
            self._control.stop(reason, answer.message)
            return False
        if kind is AnswerKind.QUOTA_SPENT:
            self._quota_spent(now, ticket)
            return False
        if kind is AnswerKind.THROTTLED:
            self._throttled(now, ticket)
            return False
        if kind is AnswerKind.UNAVAILABLE:
            return self._unavailable(now, ticket)
        if kind is AnswerKind.RUN_REFUSED:
            detail = f"HTTP {answer.http_status}: {answer.message}"
            self._control.stop(StopReason.CREDENTIALS_REFUSED, detail)
        self._end_streak()
        self._last_api_answer = now
        return True

    def _api_answered(self, now: float, ticket: Ticket) -> None:
        self._end_streak()
        self._last_api_answer = now
        # Until the first throttle there is no rate of our own to grow back.
        if self._cubic.limit is not None:
            self._cubic.on_success(now, self._meter.rate(now))
            self._apply_rate()
        if self._probing() and self._sent_in_this_state(ticket):
            self._recover(now)

    def close(self) -> None:
        """The run ended: count the time of the condition it ended in."""
        self._count_time(self._clock())

    def _quota_spent(self, now: float, ticket: Ticket) -> None:
        self._tally.quota_refusals += 1
        # The gateway answered: the way to the API works, however long the quota takes.
        self._last_api_answer = now
        self._end_streak()
        if self._settings.on_quota is QuotaPolicy.STOP:
            self._control.stop(StopReason.QUOTA_SPENT)
            return
        entering = self._condition is not ApiCondition.QUOTA_SPENT
        if not (entering or ticket.probe):
            return  # sent before the pause began: says nothing new
        if entering:
            self._change(ApiCondition.QUOTA_SPENT, now)
        self._next_probe_at = now + self._settings.quota_probe_interval
        self._tell(next_probe_in=self._settings.quota_probe_interval)

    def _throttled(self, now: float, ticket: Ticket) -> None:
        self._tally.throttled += 1
        self._end_streak()
        if self._cubic.on_throttle(now, ticket.sent_at, self._meter.rate(now)):
            self._apply_rate()
            self._tell()
        if self._condition is ApiCondition.OUTAGE and self._sent_in_this_state(ticket):
            self._recover(now)  # the gateway answers: the way to the API is open again
        self._stop_if_silent_too_long(now)

    def _unavailable(self, now: float, ticket: Ticket) -> bool:
        self._tally.unavailable += 1
        self._unavailable_in_a_row += 1
        self._rows_in_streak.add(ticket.row)
        if self._condition is ApiCondition.OUTAGE:
            if ticket.probe:
                self._probe_interval = min(self._probe_interval * 2, MAX_PROBE_SECONDS)
                self._schedule_probe(now)
            return False
        if self._unavailable_in_a_row >= OUTAGE_AFTER and len(self._rows_in_streak) > 1:
            self._change(ApiCondition.OUTAGE, now)
            self._probe_interval = FIRST_PROBE_SECONDS
            self._schedule_probe(now)
            return False
        self._stop_if_silent_too_long(now)
        return True

    def _end_streak(self) -> None:
        if self._unavailable_in_a_row:
            self._unavailable_in_a_row = 0
            self._rows_in_streak.clear()

    def _schedule_probe(self, now: float) -> None:
        self._next_probe_at = min(now + self._probe_interval, self._deadline())
        self._tell(next_probe_in=self._next_probe_at - now)

    def _pause(self, now: float, seconds: float) -> None:
        until = now + min(seconds, self._settings.max_outage)
        if until <= self._paused_until:
            return
        starting = self._paused_until <= now
        self._paused_until = until
        if starting and self._condition is ApiCondition.NORMAL:
            self._change(ApiCondition.PAUSED, now)
            self._tell(resume_in=until - now)

    def _recover(self, now: float) -> None:
        self._change(ApiCondition.NORMAL, now)
        self._probe_interval = FIRST_PROBE_SECONDS
        self._tell()

    def _probing(self) -> bool:
        return self._condition in _PROBED_CONDITIONS

    def _sent_in_this_state(self, ticket: Ticket) -> bool:
        return ticket.state_number == self._state_number

    def _deadline(self) -> float:
        return self._last_api_answer + self._settings.max_outage

    def _stop_if_silent_too_long(self, now: float) -> None:
        if now >= self._deadline():
            self._give_up()

    def _give_up(self) -> None:
        self._control.stop(
            StopReason.API_UNAVAILABLE,
            f"the API has not answered for {self._settings.max_outage:g} s",
        )
        self._notify()

    def _apply_rate(self) -> None:
        limits = [rate for rate in (self._settings.rate, self._cubic.limit) if rate is not None]
        self._pacer.rate = min(limits) if limits else None

    def _change(self, condition: ApiCondition, now: float) -> None:
        self._count_time(now)
        self._condition = condition
        self._since = now
        self._state_number += 1
        self._notify()

    def _count_time(self, now: float) -> None:
        spent = now - self._since
        if self._condition is ApiCondition.OUTAGE:
            self._tally.outage_seconds += spent
        elif self._condition is ApiCondition.QUOTA_SPENT:
            self._tally.quota_wait_seconds += spent
        elif self._condition is ApiCondition.PAUSED:
            self._tally.paused_seconds += spent
        self._since = now

    def _tell(self, *, next_probe_in: float | None = None, resume_in: float | None = None) -> None:
        self._observer.on_api_state(
            ApiState(
                condition=self._condition,
                failing_for=self._clock() - self._last_api_answer,
                next_probe_in=next_probe_in,
                resume_in=resume_in,
                rate_limit=self._pacer.rate,
            )
        )

    def _end_probe(self, probe: bool) -> None:
        if probe:
            self._probe_in_flight = False
            self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait(self, seconds: float | None) -> None:
        """Until the state changes, `seconds` pass, or the run stops."""
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._changed.wait())]
        if seconds is not None:
            waits.append(asyncio.ensure_future(self._sleep(seconds)))
        try:
            await self._control.unless_stopped(
                asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            )
        finally:
            for wait in waits:
                if not wait.done():
                    wait.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await wait


_PROBED_CONDITIONS = frozenset({ApiCondition.OUTAGE, ApiCondition.QUOTA_SPENT})
_UNREACHABLE_REASONS = {
    TLS_ERROR: StopReason.TLS_NOT_TRUSTED,
    DNS_ERROR: StopReason.NAME_NOT_RESOLVED,
}
# Retry-After comes with 429 and 503 (RFC 9110); elsewhere it is ignored.
_MAY_ASK_TO_WAIT = frozenset({AnswerKind.THROTTLED, AnswerKind.QUOTA_SPENT, AnswerKind.UNAVAILABLE})
