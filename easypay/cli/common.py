"""What the ``easypay`` subcommands share: settings, output, one database transaction, ids."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, Awaitable, Callable, Coroutine

import click

from engine.outages import unreachable_dependency
from engine.settings import Settings
from engine.settings_from_env import SettingsError, load_settings

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


def settings_or_exit() -> Settings:
    """The settings, or a one-line ``configuration error`` (exit status 1) instead of a traceback."""
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None


def emit(as_json: bool, document: dict[str, Any], text: str) -> None:
    click.echo(json.dumps(document) if as_json else text)


def run_async(coro_factory: Callable[[Settings], Coroutine[Any, Any, Any]]) -> Any:
    settings = settings_or_exit()
    return asyncio.run(coro_factory(settings))


def in_transaction(work: Callable[[Any, Settings], Awaitable[Any]]) -> Any:
    """Run ``work(conn, settings)`` in one database transaction and return its result."""
    from engine.db.session import make_engine

    async def go(settings: Settings) -> Any:
        engine = make_engine(settings.database)
        try:
            async with engine.begin() as conn:
                return await work(conn, settings)
        finally:
            await engine.dispose()

    return run_async(go)


def uuid_arg(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise click.BadParameter(f"not an id: {value}", param_hint=name) from None


def parse_merchant_id(merchant_id: str, param_hint: str = "--merchant") -> uuid.UUID:
    try:
        return uuid.UUID(merchant_id)
    except ValueError:
        raise click.BadParameter("not a merchant id", param_hint=param_hint) from None


def _postgres_address() -> str:
    from sqlalchemy.engine import make_url

    try:
        url = make_url(load_settings().database.url)
    except Exception:  # noqa: BLE001 - the address is a courtesy; the reason below is what matters
        return "the configured DATABASE_URL"
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def _innermost(exc: BaseException) -> BaseException:
    while (inner := exc.__cause__ or getattr(exc, "orig", None)) is not None and inner is not exc:
        exc = inner
    return exc


class Commands(click.Group):
    """The ``easypay`` group: a dependency that cannot be reached is one line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            dependency = unreachable_dependency(exc)
            if dependency is None:
                raise
            where = f" at {_postgres_address()}" if dependency == "PostgreSQL" else ""
            reason = _innermost(exc)
            raise click.ClickException(f"cannot reach {dependency}{where}: {type(reason).__name__}: {reason}") from None
