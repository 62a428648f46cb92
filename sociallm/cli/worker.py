"""`sociallm worker`, `sociallm bus-key` and the `run --bus/--workers` options (MQTT imports stay lazy)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sociallm.cli.common import fail, out

if TYPE_CHECKING:
    from sociallm.orchestration.remote import Distribution
    from sociallm.runtime.mqtt import BrokerConfig


# The same TLS and key options on `run`, `worker` and `watch`.
BusCa = Annotated[Path | None, typer.Option(help="CA file that signed a TLS broker's certificate (mqtts://).")]
BusCert = Annotated[Path | None, typer.Option(help="Client certificate, for a broker that requires one.")]
BusCertKey = Annotated[Path | None, typer.Option(help="The private key of --bus-cert.")]
KeyFile = Annotated[
    Path | None,
    typer.Option(
        help="The run's bus key: RUN_DIR/bus.key, or one made by `sociallm bus-key` "
        "(default: $SOCIALLM_BUS_KEY_FILE; never put keys on a command line)."
    ),
]


def _names(value: str | None, flag: str) -> list[str]:
    names = [n.strip() for n in (value or "").split(",") if n.strip()]
    if value is not None and not names:
        fail(f"{flag} {value!r}: give agent names separated by commas, e.g. {flag} Alice,Bob")
    return names


def broker_options(
    bus: str, bus_ca: Path | None = None, bus_cert: Path | None = None, bus_cert_key: Path | None = None
) -> BrokerConfig:
    """--bus and its TLS files as a BrokerConfig, or a one-line error naming the flag."""
    from sociallm.runtime.mqtt import BusError, parse_bus_url

    for flag, path in (("--bus-ca", bus_ca), ("--bus-cert", bus_cert), ("--bus-cert-key", bus_cert_key)):
        if path is not None and not path.is_file():
            fail(f"{flag} {path}: no such file")
    try:
        return parse_bus_url(
            bus,
            ca_file=str(bus_ca) if bus_ca else None,
            cert_file=str(bus_cert) if bus_cert else None,
            key_file=str(bus_cert_key) if bus_cert_key else None,
        )
    except BusError as exc:
        fail(str(exc))
        raise  # unreachable: _fail exits


def distribution_options(
    bus: str | None,
    workers: int,
    remote_agents: str | None,
    turn_timeout: float,
    on_no_show: str,
    bus_ca: Path | None,
    bus_cert: Path | None = None,
    bus_cert_key: Path | None = None,
) -> Distribution | None:
    """The run's --bus options as a Distribution, or a one-line error naming the flag."""
    if bus is None:
        if workers or remote_agents or bus_ca or bus_cert or bus_cert_key:
            fail(
                "--workers/--remote-agents/--bus-ca/--bus-cert need --bus mqtt://host:port "
                "(agents in workers talk over MQTT)"
            )
        return None
    from sociallm.orchestration.remote import Distribution

    if on_no_show not in ("record", "abort"):
        fail(f"--on-no-show {on_no_show!r}: use `record` (log a no-show and go on) or `abort`")
    if turn_timeout <= 0:
        fail(f"--turn-timeout {turn_timeout}: must be a positive number of seconds")
    config = broker_options(bus, bus_ca, bus_cert, bus_cert_key)
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
        bus: Annotated[
            str,
            typer.Option(
                help="The run's broker: mqtt://[user@]host:port or mqtts://... (password: $SOCIALLM_BUS_PASSWORD)."
            ),
        ],
        backend: Annotated[
            str | None, typer.Option(help="Model server URL (default: the run's own, else the embedded model).")
        ] = None,
        model: Annotated[str | None, typer.Option(help="Model name on that server.")] = None,
        key_file: KeyFile = None,
        bus_ca: BusCa = None,
        bus_cert: BusCert = None,
        bus_cert_key: BusCertKey = None,
        worker_id: Annotated[str | None, typer.Option("--id", help="A name for this worker (host-pid).")] = None,
        wait: Annotated[float, typer.Option(help="Seconds to wait for the run to publish its scenario.")] = 120.0,
        exit_with_stdin: Annotated[
            bool, typer.Option("--exit-with-stdin", hidden=True, help="Stop when stdin closes (spawned workers).")
        ] = False,
    ) -> None:
        """Host some of a run's agents in this process; the run talks to them over the MQTT broker."""
        from sociallm.backbone.base import BackendError
        from sociallm.orchestration.worker import WorkerError, run_worker
        from sociallm.runtime.mqtt import BusError
        from sociallm.runtime.mqtt_security import SecurityError, resolve_credential

        logging.basicConfig(level=logging.WARNING, format="worker: %(message)s")
        config = broker_options(bus, bus_ca, bus_cert, bus_cert_key)
        try:
            credential = resolve_credential(key_file, run)
            run_worker(
                run,
                _names(agents, "--agents"),
                config,
                credential=credential,
                backend_url=backend,
                model=model,
                worker_id=worker_id,
                spec_timeout_s=wait,
                exit_with_stdin=exit_with_stdin,
            )
        except (BusError, WorkerError, BackendError, SecurityError) as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    @app.command("bus-key")
    def bus_key(
        run_dir: Annotated[Path, typer.Argument(help="The run folder (it holds the run's bus.key).")],
        output: Annotated[Path, typer.Option("--out", help="Where to write the new key file (made 0600).")],
        agents: Annotated[
            str | None, typer.Option(help="A worker's key: it may speak for and read only these agents.")
        ] = None,
        watch: Annotated[
            bool, typer.Option("--watch", help="A watcher's key: reads everything, speaks for nobody.")
        ] = False,
    ) -> None:
        """Make a narrower key from a run's bus.key: for a worker on another machine, or for a watcher."""
        from sociallm.runtime.mqtt_security import KEY_FILE, Credential, SecurityError

        if (agents is None) == (not watch):
            fail("give exactly one of --agents NAMES (a worker's key) or --watch (a watcher's key)")
        try:
            master = Credential.load(run_dir / KEY_FILE)
            if not master.is_run:
                fail(f"{run_dir / KEY_FILE}: not a run's own key (it cannot make other keys)")
            cred = master.for_watcher() if watch else master.for_agents(_names(agents, "--agents"))
        except SecurityError as exc:
            fail(str(exc))
            return
        if output.exists():
            fail(f"--out {output}: already exists; choose another name (keys are never overwritten)")
        cred.save(output)
        out.print(f"{output}: key for run {cred.run} ({'watcher' if watch else 'agents ' + str(agents)}), mode 0600")
