"""`session-audit simulate`: serve the Tradovate API simulator on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import signal
import time
from types import FrameType
from typing import Annotated

import typer

from session_audit.cli.app import app


@app.command("simulate")
def simulate(
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port; 0 picks a free one")] = 0,
    users: Annotated[int, typer.Option(min=1, help="user accounts")] = 2000,
    sessions: Annotated[int, typer.Option(min=0, help="login sessions")] = 50_000,
    seed: Annotated[int, typer.Option(help="data seed (same seed, same data)")] = 0,
    fault_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="share of data requests given a random fault")
    ] = 0.0,
    max_ids: Annotated[
        int | None, typer.Option(min=1, help="ids per userSession/items call (404 above)")
    ] = None,
    token_ttl: Annotated[float, typer.Option(min=1.0, help="token lifetime in seconds")] = 85 * 60,
    rate_limit: Annotated[
        int | None,
        typer.Option(min=1, help="requests per trailing hour per user before a 429 lockout"),
    ] = None,
    p_ticket_logins: Annotated[
        int, typer.Option(min=0, help="first login attempts answered with a p-ticket")
    ] = 0,
    foreign_share: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=0.999999,
            help="share of the global session-id sequence used by other firms (0 = dense ids)",
        ),
    ] = 0.95,
    quiet_ids: Annotated[
        int,
        typer.Option(min=0, help="ids other firms take each weekend (Sat 00:00 UTC); 0 = none"),
    ] = 50_000,
    advance_every: Annotated[
        float,
        typer.Option(
            min=0.0, help="every S seconds the data moves S seconds on: sessions close, new arrive"
        ),
    ] = 0.0,
) -> None:
    """Serve a seeded simulator of the Tradovate API and print the settings that reach it."""
    from session_audit.simulator import Simulator, SimulatorConfig, start_background_server

    config = SimulatorConfig(
        users=users,
        sessions=sessions,
        seed=seed,
        fault_rate=fault_rate,
        max_ids=max_ids,
        token_ttl=token_ttl,
        rate_limit_per_hour=rate_limit,
        p_ticket_logins=p_ticket_logins,
        foreign_share=foreign_share,
        quiet_ids=quiet_ids,
    )
    typer.echo(f"# generating {sessions} sessions of {users} users (seed {seed}) ...", err=True)
    sim = Simulator(config)
    base_url, stop = start_background_server(sim, port=port)
    typer.echo("# Tradovate API simulator; paste these lines into your shell or .env:")
    for key, value in sim.settings_overrides(base_url).items():
        typer.echo(f"SESSION_AUDIT_{key.upper()}={value}")
    typer.echo("# Ctrl-C stops the simulator.", err=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while True:
            time.sleep(advance_every or 3600)
            if advance_every:
                sim.advance(advance_every)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        stats = sim.stats
        typer.echo(f"# served {stats.total} requests: {dict(stats.by_status)}", err=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the simulator like Ctrl-C does."""
    raise KeyboardInterrupt
