"""The per-person sliding window behind /stats: the limit, the wait it names, and bounded memory."""

from __future__ import annotations

from bot.telegram_io.rate_limiter import SlidingWindowLimiter


class Ticks:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limit_holds_within_the_window_and_frees_up_as_it_slides():
    ticks = Ticks()
    limiter = SlidingWindowLimiter(3, 60.0, clock=ticks)
    for second in (0, 10, 20):
        ticks.now = 1000.0 + second
        assert limiter.check("ann").allowed
    ticks.now = 1030.0
    refused = limiter.check("ann")
    assert not refused.allowed and refused.retry_after == 30 and refused.first_refusal
    assert not limiter.check("ann").first_refusal  # told once; the rest of a flood is quiet
    assert limiter.check("bob").allowed  # somebody else is not held up
    ticks.now = 1060.0  # the first question has left the window
    assert limiter.check("ann").allowed
    assert not limiter.check("ann").allowed
    ticks.now = 1061.0
    again = limiter.check("ann")
    assert not again.allowed and again.first_refusal is False


def test_a_refusal_is_told_again_after_an_allowed_question():
    ticks = Ticks()
    limiter = SlidingWindowLimiter(1, 60.0, clock=ticks)
    assert limiter.check(1).allowed
    assert limiter.check(1).first_refusal
    ticks.now += 60
    assert limiter.check(1).allowed
    assert limiter.check(1).first_refusal


def test_only_people_who_asked_within_the_window_are_remembered():
    ticks = Ticks()
    limiter = SlidingWindowLimiter(5, 60.0, clock=ticks)
    for person in range(1000):
        limiter.check(person)
    assert len(limiter) == 1000
    ticks.now += 61
    limiter.check("latecomer")
    assert len(limiter) == 1


def test_memory_is_capped_even_when_everyone_is_active():
    limiter = SlidingWindowLimiter(5, 60.0, max_keys=100, clock=Ticks())
    for person in range(1000):
        assert limiter.check(person).allowed
    assert len(limiter) <= 100
