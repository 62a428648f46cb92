"""`sociallm report`: a run's or a sweep's report.md with its plots, and the affect summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sociallm.cli.common import fail
from sociallm.reports.markdown import run_report, sweep_report
from sociallm.reports.report import ReportError, plot_affect
from sociallm.reports.sections import SectionTally
from sociallm.runtime.eventlog import EVENTS_FILE, read_events
from sociallm.runtime.rundir import not_a_run


def register(app: typer.Typer) -> None:
    """Add `sociallm report RUN_DIR` to the CLI's typer app."""

    @app.command()
    def report(
        run_dir: Annotated[Path, typer.Argument(help="A run folder or a sweep folder.")],
        out: Annotated[
            Path | None, typer.Option(help="Where to write the affect PNG (default RUN_DIR/affect.png).")
        ] = None,
    ) -> None:
        """Write a Markdown report with PNG plots (report.md) for a run or a sweep; print the affect summary."""
        if (run_dir / "sweep.json").exists():
            if not (run_dir / "results.parquet").exists():
                fail(f"{run_dir}: no results.parquet yet; finish the sweep first")
            path, plots = sweep_report(run_dir)
            typer.echo(f"wrote {path} and {', '.join(plots) or 'no plots'}")
            return
        if not (run_dir / EVENTS_FILE).exists():
            fail(not_a_run(run_dir))
        path, plots = run_report(run_dir)
        try:
            target, summary = plot_affect(run_dir, out)
        except ReportError as exc:
            typer.echo(f"note: {exc}")
            summary, target = {}, None
        for agent, s in summary.items():
            v, a = s["valence"], s["arousal"]
            typer.echo(
                f"{agent}: {s['changes']} changes; valence {v['min']:+.2f}..{v['max']:+.2f} (sd {v['std']:.2f}), "
                f"arousal {a['min']:.2f}..{a['max']:.2f} (sd {a['std']:.2f})"
            )
        tally = SectionTally()
        events = read_events(run_dir / EVENTS_FILE).events
        for ev in events:
            if ev.kind in SectionTally.KINDS and ev.kind != "affect":  # affect: the lines above
                tally.add(ev)
        for agent in sorted({ev.source for ev in events if ev.kind == "message"} | set(tally.memory)):
            for line in tally.lines(agent):
                typer.echo(f"{agent}: {line}")
        if target is not None:
            typer.echo(f"wrote {target}")
        typer.echo(f"wrote {path} and {', '.join(plots) or 'no plots'}")
