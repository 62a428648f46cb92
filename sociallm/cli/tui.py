"""CLI glue for the TUI: the `watch` command and `run_with_tui`, kept out of `sociallm/cli.py`.

Textual is imported inside the commands so that `sociallm --help` and plain runs stay fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sociallm.cli.common import fail
from sociallm.cli.worker import BusCa, BusCert, BusCertKey, KeyFile
from sociallm.runtime.rundir import not_a_run

if TYPE_CHECKING:
    from sociallm.orchestration.run import Run, RunResult


def run_with_tui(run: Run, *, refresh_hz: float = 15.0) -> RunResult:
    """Play `run` inside the TUI (same process, same event loop) and return its result.

    A run that failed re-raises its error after the UI closes, so the caller reports it as usual; a
    run quit with `k` comes back as "interrupted" and resumes from its last completed round.
    """
    from sociallm.tui.app import SocietyApp
    from sociallm.tui.feed import LiveFeed

    feed = LiveFeed()
    run.add_tap(feed.tap)
    backend = run.spec.backbone.kind if run.spec.backbone.kind == "embedded" else str(run.spec.backbone.url)
    app = SocietyApp(feed, run=run, backend=backend, refresh_hz=refresh_hz)
    app.run()
    if app.run_error is not None:
        raise app.run_error
    return app.result or run.result("interrupted", "stopped by the user")


def watch_app(
    run_dir: Path, *, speed: float | None = 50.0, follow: bool | None = None, refresh_hz: float = 15.0
):  # -> SocietyApp, kept lazy
    """Build the app for a run folder: replay it, or follow it while it is being written."""
    from sociallm.runtime.eventlog import EVENTS_FILE
    from sociallm.tui.app import SocietyApp, describe_backend
    from sociallm.tui.feed import FollowFeed, ReplayFeed

    manifest: dict = {}
    if (run_dir / "manifest.json").exists():
        try:
            manifest = json.loads((run_dir / "manifest.json").read_text())
        except (OSError, ValueError):
            manifest = {}
    if follow is None:
        follow = manifest.get("status") == "running"
    path = run_dir / EVENTS_FILE
    feed = FollowFeed(path) if follow else ReplayFeed(path, speed)
    agents = [a.get("name") for a in (manifest.get("scenario") or {}).get("agents", []) if a.get("name")]
    return SocietyApp(
        feed,
        run_dir=run_dir,
        backend=describe_backend(manifest.get("backend")),
        rounds_total=manifest.get("rounds"),
        agents=agents or None,
        refresh_hz=refresh_hz,
    )


def bus_app(
    url: str,
    run_id: str,
    *,
    key_file: Path | None = None,
    bus_ca: Path | None = None,
    bus_cert: Path | None = None,
    bus_cert_key: Path | None = None,
    refresh_hz: float = 15.0,
):  # -> SocietyApp, kept lazy
    """Build the app for a live run heard over its MQTT broker (a one-line error for a bad URL or key)."""
    from sociallm.cli.worker import broker_options
    from sociallm.runtime.mqtt_security import SecurityError, resolve_credential
    from sociallm.tui.app import SocietyApp
    from sociallm.tui.feed import BusFeed

    config = broker_options(url, bus_ca, bus_cert, bus_cert_key)
    try:
        credential = resolve_credential(key_file, run_id)
    except SecurityError as exc:
        fail(str(exc))
    feed = BusFeed(config, run_id, credential)
    return SocietyApp(feed, backend=f"bus {feed.config.url}", refresh_hz=refresh_hz)


def register(app: typer.Typer) -> None:
    @app.command()
    def watch(
        run_dir: Annotated[Path | None, typer.Argument(help="A run folder (finished, or still being written).")] = None,
        speed: Annotated[float, typer.Option(help="Replay speed in events per second.", min=0.1)] = 50.0,
        instant: Annotated[bool, typer.Option("--instant", help="Load the whole log at once.")] = False,
        follow: Annotated[
            bool | None,
            typer.Option("--follow/--no-follow", help="Tail the log as it grows (default: if the run is running)."),
        ] = None,
        bus: Annotated[str | None, typer.Option(help="Watch a run on a message bus: mqtt://host:port.")] = None,
        run_id: Annotated[str | None, typer.Option("--run", help="The run id on the bus.")] = None,
        key_file: KeyFile = None,
        bus_ca: BusCa = None,
        bus_cert: BusCert = None,
        bus_cert_key: BusCertKey = None,
    ) -> None:
        """Watch a run in the terminal UI: replay a finished run folder, or follow one being written."""
        if bus is not None:
            if not run_id:
                fail("--bus needs --run RUN_ID (printed by `sociallm run`; the run folder's name)")
            bus_app(bus, run_id, key_file=key_file, bus_ca=bus_ca, bus_cert=bus_cert, bus_cert_key=bus_cert_key).run()
            return
        if run_dir is None:
            fail("give a RUN_DIR (a folder made by `sociallm run`), or --bus URL --run RUN_ID")
        if not (run_dir / "events.jsonl").exists() and not (follow and run_dir.is_dir()):
            fail(not_a_run(run_dir))
        watch_app(run_dir, speed=None if instant else speed, follow=follow).run()
