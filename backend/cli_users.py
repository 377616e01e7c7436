"""`segtune users ...`: accounts and personal API tokens from the server's shell."""

import sys

import typer

from backend.cli_jobs import console, local_deps
from backend.db import make_engine, make_sessionmaker, session_scope
from backend.errors import DomainError
from backend.services import auth, users

users_app = typer.Typer(help="Accounts and personal API tokens.")


def _password(given: str | None) -> str:
    """The password given, typed at a prompt, or (no terminal) read from stdin's first line."""
    if given:
        return given
    if sys.stdin.isatty():
        return typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\n")


def _fail(exc: DomainError) -> None:
    console.print(f"[red]{exc.message}[/red]")
    raise typer.Exit(1)


@users_app.command("create")
def create(
    email: str,
    password: str = typer.Option(None, help="Prompted for when left out."),
    name: str = typer.Option("", help="Display name."),
    admin: bool = typer.Option(False, "--admin", help="Make a site administrator."),
) -> None:
    """Create an account."""
    with local_deps() as (_settings, sessions, _storage):
        try:
            with session_scope(sessions) as session:
                user = users.create_user(session, email, _password(password), name, admin)
                email = user.email
        except DomainError as exc:
            _fail(exc)
    console.print(f"[green]created[/green] {email}{' (administrator)' if admin else ''}")


@users_app.command("set-password")
def set_password(
    email: str, password: str = typer.Option(None, help="Prompted for when left out.")
) -> None:
    """Set an account's password (its browser sessions end)."""
    with local_deps() as (_settings, sessions, _storage):
        try:
            with session_scope(sessions) as session:
                user = users.user_by_email(session, email)
                users.set_password(session, user, _password(password))
        except DomainError as exc:
            _fail(exc)
    console.print(f"[green]password set[/green] for {email}")


@users_app.command("token")
def token(email: str, name: str = typer.Option("cli", help="What the token is for.")) -> None:
    """Create a personal API token and print it (shown this once)."""
    with local_deps() as (_settings, sessions, _storage):
        try:
            with session_scope(sessions) as session:
                secret, _row = auth.create_token(session, users.user_by_email(session, email), name)
        except DomainError as exc:
            _fail(exc)
    print(secret)


@users_app.command("list")
def list_users() -> None:
    """Every account."""
    with local_deps() as (_settings, sessions, _storage):
        with session_scope(sessions) as session:
            for user in users.list_users(session):
                flags = ["admin"] if user.is_admin else []
                flags += [] if user.is_active else ["disabled"]
                console.print(f"{user.id:>4}  {user.email}  {' '.join(flags)}")


def _sign_in_url(settings) -> str:
    # A server listening on every interface is reached locally through the loopback address.
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}/login"


def admin_password_block(email: str, password: str, url: str) -> list[str]:
    """The framed lines that show a generated first password: each value on a line of its own."""
    lines = [
        "First administrator created. This password is shown only now.",
        "",
        f"  Email:     {email}",
        f"  Password:  {password}",
        "",
        "Sign in at:",
        f"  {url}",
        "Change the password on the Account page, or with:",
        f"  segtune users set-password {email}",
    ]
    width = max(len(line) for line in lines)
    rule = "+" + "-" * (width + 2) + "+"
    return [rule, *(f"| {line.ljust(width)} |" for line in lines), rule]


def ensure_admin(settings) -> None:
    """On first start, create the administrator and print a generated password once."""
    engine = make_engine(settings.effective_database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            created = users.ensure_first_admin(session, settings)
    finally:
        engine.dispose()
    if created is None:
        return
    user, generated = created
    if generated:
        # Plain print, not the rich console: it would re-wrap the block at the terminal width.
        block = admin_password_block(user.email, generated, _sign_in_url(settings))
        print("\n".join(["", *block, ""]), flush=True)
    else:
        console.print(f"[green]First administrator created[/green]: {user.email}")
