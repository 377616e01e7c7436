"""The failed-login throttle: per account, per address, sliding window, shared via the DB."""

from datetime import timedelta

import pytest

from backend.db import make_engine, make_sessionmaker
from backend.errors import TooManyAttempts
from backend.models.base import utcnow
from backend.services.login_limits import ADDRESS_FACTOR, LoginLimiter


class Clock:
    def __init__(self):
        self.now = utcnow()

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def session(settings):
    engine = make_engine(settings.effective_database_url)
    with make_sessionmaker(engine)() as session:
        yield session
    engine.dispose()


def test_account_limit_slides_and_success_resets(session):
    clock = Clock()
    limiter = LoginLimiter(3, 60, clock)
    for _ in range(3):
        limiter.check(session, "a@x.org", "1.2.3.4")
        limiter.failed(session, "A@x.org ", "1.2.3.4")
    with pytest.raises(TooManyAttempts) as caught:
        limiter.check(session, "a@x.org", "5.6.7.8")  # another address does not help
    assert caught.value.extra["retry_after"] == 61
    # Another web process (another limiter on the same database) sees the same failures.
    with pytest.raises(TooManyAttempts):
        LoginLimiter(3, 60, clock).check(session, "a@x.org", "1.2.3.4")
    clock.advance(30)
    with pytest.raises(TooManyAttempts) as caught:
        limiter.check(session, "a@x.org", "1.2.3.4")
    assert caught.value.extra["retry_after"] == 31
    clock.advance(31)
    limiter.check(session, "a@x.org", "1.2.3.4")  # the window slid past the failures
    limiter.failed(session, "a@x.org", "1.2.3.4")
    limiter.succeeded(session, "a@x.org")
    limiter.check(session, "a@x.org", "1.2.3.4")


def test_one_address_guessing_many_accounts_is_stopped(session):
    limiter = LoginLimiter(2, 60, Clock())
    for i in range(2 * ADDRESS_FACTOR):
        limiter.check(session, f"user{i}@x.org", "9.9.9.9")
        limiter.failed(session, f"user{i}@x.org", "9.9.9.9")
    with pytest.raises(TooManyAttempts):
        limiter.check(session, "fresh@x.org", "9.9.9.9")
    limiter.check(session, "fresh@x.org", "8.8.8.8")
