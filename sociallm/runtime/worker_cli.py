"""`sociallm worker` and the `run --bus/--workers` options (MQTT imports stay lazy: most runs never need them)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from sociallm.runtime.remote import Distribution

err = Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)


def _names(value: str | None, flag: str) -> list[str]:
    names = [n.strip() for n in (value or "").split(",") if n.strip()]
    if value is not None and not names:
        _fail(f"{flag} {value!r}: give agent names separated by commas, e.g. {flag} Alice,Bob")
    return names


def distribution_options(
    bus: str | None,
    workers: int,
    remote_agents: str | None,
    turn_timeout: float,
    on_no_show: str,
    bus_ca: Path | None,
) -> Distribution | None:
    """The run's --bus options as a Distribution, or a one-line error naming the flag."""
    if bus is None:
        if workers or remote_agents or bus_ca:
            _fail("--workers/--remote-agents/--bus-ca need --bus mqtt://host:port (agents in workers talk over MQTT)")
        return None
    from sociallm.runtime.mqtt import BusError, parse_bus_url
    from sociallm.runtime.remote import Distribution

    if on_no_show not in ("record", "abort"):
        _fail(f"--on-no-show {on_no_show!r}: use `record` (log a no-show and go on) or `abort`")
    if turn_timeout <= 0:
        _fail(f"--turn-timeout {turn_timeout}: must be a positive number of seconds")
    if bus_ca is not None and not bus_ca.is_file():
        _fail(f"--bus-ca {bus_ca}: no such file")
    try:
        config = parse_bus_url(bus, ca_file=str(bus_ca) if bus_ca else None)
    except BusError as exc:
        _fail(str(exc))
    return Distribution(
        bus=config,
        remote_agents=_names(remote_agents, "--remote-agents"),
        spawn=workers,
        timeout_s=turn_timeout,
        on_no_show=on_no_show,  # type: ignore[arg-type]
    )


def register(app: typer.Typer) -> None:
    @app.command()
    def worker(
        run: Annotated[str, typer.Option(help="The run id (printed by `sociallm run`; the run folder's name).")],
        agents: Annotated[str, typer.Option(help="The agents this worker hosts, comma-separated: Alice,Bob.")],
        bus: Annotated[str, typer.Option(help="The run's broker: mqtt://[user:pass@]host:port or mqtts://...")],
        backend: Annotated[
            str | None, typer.Option(help="Model server URL (default: the run's own, else the embedded model).")
        ] = None,
        model: Annotated[str | None, typer.Option(help="Model name on that server.")] = None,
        bus_ca: Annotated[Path | None, typer.Option(help="CA file for a TLS broker.")] = None,
        worker_id: Annotated[str | None, typer.Option("--id", help="A name for this worker (host-pid).")] = None,
        wait: Annotated[float, typer.Option(help="Seconds to wait for the run to publish its scenario.")] = 120.0,
    ) -> None:
        """Host some of a run's agents in this process; the run talks to them over the MQTT broker."""
        from sociallm.backbone.base import BackendError
        from sociallm.runtime.mqtt import BusError, parse_bus_url
        from sociallm.runtime.worker import WorkerError, run_worker

        logging.basicConfig(level=logging.WARNING, format="worker: %(message)s")
        try:
            config = parse_bus_url(bus, ca_file=str(bus_ca) if bus_ca else None)
            run_worker(
                run,
                _names(agents, "--agents"),
                config,
                backend_url=backend,
                model=model,
                worker_id=worker_id,
                spec_timeout_s=wait,
            )
        except (BusError, WorkerError, BackendError) as exc:
            _fail(str(exc))
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
