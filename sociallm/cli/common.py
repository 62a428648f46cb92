"""What every command group shares: the consoles, the one fail-and-exit helper, scenario errors, the live printer."""

from __future__ import annotations

from typing import Any, NoReturn

import typer
import yaml
from rich.console import Console
from rich.markup import escape

from sociallm.runtime.events import Event
from sociallm.runtime.lifecycle import Interrupted
from sociallm.runtime.scenario import ScenarioError

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

_COLORS = ["cyan", "magenta", "green", "yellow", "blue", "red", "bright_cyan", "bright_magenta"]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print `error: ...` (one line per line of the message) and exit: 2 for bad input, 1 for a failure."""
    for line in str(message).splitlines() or [""]:
        err.print("[bold red]error:[/] " + escape(line), highlight=False)
    raise typer.Exit(code)


def report_scenario_error(exc: ScenarioError) -> NoReturn:
    for line in exc.lines:
        err.print(f"{exc.source}: {line}", highlight=False, markup=False)
    raise typer.Exit(2)


def warn_unfinished(run: Any) -> None:
    """What the run could not write or close at its end (e.g. its manifest on a disk that stayed full)."""
    for problem in getattr(run, "finish_problems", []):
        err.print("[yellow]warning:[/] " + escape(problem), highlight=False)


def exit_interrupted(exc: BaseException, hint: str | None) -> NoReturn:
    """Ctrl-C or a signal: one line with what continues the work (none when this process owns nothing to
    continue), then exit 128+N (130 for Ctrl-C)."""
    if hint:
        why = f" by {exc.name}" if isinstance(exc, Interrupted) else ""
        err.print(f"interrupted{why}; {hint}")
    raise typer.Exit(exc.exit_code if isinstance(exc, Interrupted) else 130) from None


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            fail(f"--set {pair!r}: expected KEY=VALUE, e.g. --set environment.params.mu=0.5", 2)
        values[key.strip()] = yaml.safe_load(raw) if raw else ""
    return values


class LivePrinter:
    """Prints the conversation and outcomes as they happen (a tap on the bus)."""

    def __init__(self, console: Console, names: list[str]) -> None:
        self.console = console
        self.colors = {n: _COLORS[i % len(_COLORS)] for i, n in enumerate(names)}

    def __call__(self, ev: Event) -> None:
        if ev.kind == "message":
            color = self.colors.get(ev.source, "white")
            where = f" → {', '.join(ev.to)}" if ev.to else ""
            self.console.print(f"  [{color}]{ev.source}{where}:[/] {ev.text}", highlight=False)
        elif ev.kind == "outcome":
            self.console.print(f"  [dim]{ev.source}: {ev.text}[/]", highlight=False)
        elif ev.kind == "system" and ev.payload.get("event") == "round_start":
            self.console.print(f"[bold]round {ev.tick}[/]")
