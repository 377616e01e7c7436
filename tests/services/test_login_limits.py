"""The failed-login throttle: per account, per address, sliding window."""

import pytest

from backend.errors import TooManyAttempts
from backend.services.login_limits import ADDRESS_FACTOR, LoginLimiter


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_account_limit_slides_and_success_resets():
    clock = Clock()
    limiter = LoginLimiter(3, 60, clock)
    for _ in range(3):
        limiter.check("a@x.org", "1.2.3.4")
        limiter.failed("A@x.org ", "1.2.3.4")
    with pytest.raises(TooManyAttempts) as caught:
        limiter.check("a@x.org", "5.6.7.8")  # another address does not help
    assert caught.value.extra["retry_after"] == 61
    clock.now += 30
    with pytest.raises(TooManyAttempts) as caught:
        limiter.check("a@x.org", "1.2.3.4")
    assert caught.value.extra["retry_after"] == 31
    clock.now += 31
    limiter.check("a@x.org", "1.2.3.4")  # the window slid past the failures
    limiter.failed("a@x.org", "1.2.3.4")
    limiter.succeeded("a@x.org")
    limiter.check("a@x.org", "1.2.3.4")


def test_one_address_guessing_many_accounts_is_stopped():
    limiter = LoginLimiter(2, 60, Clock())
    for i in range(2 * ADDRESS_FACTOR):
        limiter.check(f"user{i}@x.org", "9.9.9.9")
        limiter.failed(f"user{i}@x.org", "9.9.9.9")
    with pytest.raises(TooManyAttempts):
        limiter.check("fresh@x.org", "9.9.9.9")
    limiter.check("fresh@x.org", "8.8.8.8")
