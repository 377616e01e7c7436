"""The failed-login throttle: per account, per address, sliding window, shared via the DB."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from backend.db import make_engine, make_sessionmaker
from backend.errors import TooManyAttempts, Unauthenticated
from backend.models import LoginFailure
from backend.models.base import utcnow
from backend.services import auth
from backend.services.login_limits import ADDRESS_FACTOR, LoginLimiter
from tests.accounts import ADMIN_EMAIL, add_user


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
        limiter.reserve(session, "A@x.org ", "1.2.3.4")  # each one then failed
    with pytest.raises(TooManyAttempts) as caught:
        limiter.reserve(session, "a@x.org", "5.6.7.8")  # another address does not help
    assert caught.value.extra["retry_after"] == 61
    # Another web process (another limiter on the same database) sees the same attempts.
    with pytest.raises(TooManyAttempts):
        LoginLimiter(3, 60, clock).reserve(session, "a@x.org", "1.2.3.4")
    clock.advance(30)
    with pytest.raises(TooManyAttempts) as caught:
        limiter.reserve(session, "a@x.org", "1.2.3.4")
    assert caught.value.extra["retry_after"] == 31
    clock.advance(31)
    limiter.reserve(session, "a@x.org", "1.2.3.4")  # the window slid past the failures
    limiter.reserve(session, "a@x.org", "1.2.3.4")
    attempt = limiter.reserve(session, "a@x.org", "1.2.3.4")
    limiter.succeeded(session, "a@x.org", attempt)
    session.commit()
    limiter.reserve(session, "a@x.org", "1.2.3.4")


def test_one_address_guessing_many_accounts_is_stopped(session):
    limiter = LoginLimiter(2, 60, Clock())
    for i in range(2 * ADDRESS_FACTOR):
        limiter.reserve(session, f"user{i}@x.org", "9.9.9.9")
    with pytest.raises(TooManyAttempts):
        limiter.reserve(session, "fresh@x.org", "9.9.9.9")
    limiter.reserve(session, "fresh@x.org", "8.8.8.8")


def test_successful_sign_ins_do_not_use_up_the_address(session):
    limiter = LoginLimiter(1, 60, Clock())
    for i in range(3 * ADDRESS_FACTOR):
        email = f"user{i}@x.org"
        limiter.succeeded(session, email, limiter.reserve(session, email, "7.7.7.7"))
        session.commit()
    assert session.scalar(select(func.count()).select_from(LoginFailure)) == 0


def test_expired_attempts_are_swept(session):
    clock = Clock()
    limiter = LoginLimiter(5, 60, clock)
    limiter.reserve(session, "old@x.org", "1.1.1.1")
    clock.advance(61)
    limiter.reserve(session, "new@x.org", "2.2.2.2")
    keys = session.scalars(select(LoginFailure.key).order_by(LoginFailure.key)).all()
    assert keys == ["address:2.2.2.2", "email:new@x.org"]


def test_concurrent_wrong_guesses_reach_the_password_check_only_up_to_the_limit(
    settings, monkeypatch
):
    add_user(settings, ADMIN_EMAIL)
    checked, real = [], auth.authenticate

    def counting(session, email, password):
        checked.append(email)
        return real(session, email, password)

    monkeypatch.setattr(auth, "authenticate", counting)
    # Two engines, each with its own limiter, stand for two web processes.
    engines = [make_engine(settings.effective_database_url) for _ in range(2)]
    factories = [make_sessionmaker(engine) for engine in engines]
    limiters = [LoginLimiter(5, 300) for _ in engines]
    guesses = 25
    barrier = threading.Barrier(guesses)
    args = (ADMIN_EMAIL, "wrong guess", "10.0.0.1")

    def guess(i: int) -> int:
        with factories[i % 2]() as session:
            barrier.wait()
            try:
                auth.sign_in(session, settings, limiters[i % 2], *args)
            except Unauthenticated:
                return 401
            except TooManyAttempts as exc:
                assert exc.extra["retry_after"] > 0
                return 429
        return 200

    try:
        with ThreadPoolExecutor(guesses) as pool:
            answers = sorted(pool.map(guess, range(guesses)))
    finally:
        for engine in engines:
            engine.dispose()
    assert len(checked) == 5
    assert answers == [401] * 5 + [429] * 20
