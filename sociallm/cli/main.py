"""`sociallm`: the one command-line entry point."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from sociallm.backbone.base import BackendError
from sociallm.cli.common import (
    LivePrinter,
    err,
    exit_interrupted,
    fail,
    out,
    parse_sets,
    report_scenario_error,
    warn_unfinished,
)
from sociallm.cli.report import register as register_report
from sociallm.cli.reproduce import register as register_reproduce
from sociallm.cli.serve import register as register_serve
from sociallm.cli.serve import usage_lines
from sociallm.cli.sweep import register as register_experiments
from sociallm.cli.tom import register as register_tom
from sociallm.cli.tui import register as register_tui
from sociallm.cli.worker import distribution_options
from sociallm.cli.worker import register as register_worker
from sociallm.environments.base import EnvironmentConfigError
from sociallm.runtime.eventlog import EVENTS_FILE, read_events
from sociallm.runtime.lifecycle import Interrupted, run_main
from sociallm.runtime.rundir import RunDirError, not_a_run
from sociallm.runtime.scenario import (
    ScenarioError,
    builtin_scenarios,
    load_raw,
    load_scenario,
    parse_scenario,
    resolve,
)

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Run and inspect LLM agent societies.")


@app.command()
def scenarios(
    name: Annotated[
        str | None, typer.Argument(help="Print this built-in's YAML (to copy: sociallm scenarios NAME > my.yaml).")
    ] = None,
) -> None:
    """List the built-in scenarios, one line each; or print one's file."""
    builtins = builtin_scenarios()
    if name is not None:
        if name not in builtins:
            fail(f"no built-in scenario {name!r}; known: {', '.join(builtins)}", 2)
        sys.stdout.write(builtins[name].read_text(encoding="utf-8"))
        return
    for name, path in builtins.items():
        try:
            spec = parse_scenario(load_raw(path), str(path))
            out.print(
                f"[bold]{name:<18}[/] {len(spec.agents)} agents, {spec.rounds:>3} rounds  {spec.description}",
                highlight=False,
            )
        except ScenarioError as exc:
            out.print(f"[bold]{name:<18}[/] [red]invalid: {exc.lines[0]}[/]")


@app.command()
def check(
    scenario: Annotated[str, typer.Argument(help="A built-in name or a YAML file.")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Check with overrides, as `run --set` applies them.")
    ] = None,
) -> None:
    """Validate a scenario file: a summary, or one line per problem (exit 2) — whatever `run` would refuse."""
    try:
        spec = load_scenario(scenario, parse_sets(set_ or []))
    except ScenarioError as exc:
        report_scenario_error(exc)
    phases = ", ".join(f"{p.name} ({p.kind}, {p.mode})" for p in spec.schedule)
    out.print(f"{resolve(scenario)}: ok — {len(spec.agents)} agents, {spec.rounds} rounds, phases: {phases}")


@app.command()
def run(
    scenario: Annotated[str | None, typer.Argument(help="A built-in name or a YAML file.")] = None,
    rounds: Annotated[int | None, typer.Option(help="Override the scenario's number of rounds.", min=1)] = None,
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Run folder (default runs/<scenario>-<time>).")] = None,
    backend: Annotated[
        str | None, typer.Option(help="OpenAI-compatible server URL (vLLM, llama.cpp…); default: embedded model.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model name on the server (default: the first it serves).")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override any scenario field: --set environment.params.mu=0.5")
    ] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue an interrupted run from its last completed round.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live transcript, only the progress bar.")] = False,
    tui: Annotated[bool, typer.Option("--tui", help="Watch and steer the run in the terminal UI.")] = False,
    bus: Annotated[
        str | None, typer.Option(help="Also carry the run over an MQTT broker: mqtt://[user@]host:port.")
    ] = None,
    workers: Annotated[int, typer.Option(help="With --bus: host the agents in N local worker processes.", min=0)] = 0,
    remote_agents: Annotated[
        str | None, typer.Option(help="With --bus: agents hosted by workers you start (comma-separated).")
    ] = None,
    turn_timeout: Annotated[float, typer.Option(help="With --bus: seconds a remote agent has per turn.")] = 60.0,
    on_no_show: Annotated[str, typer.Option(help="With --bus: `record` a no-show and go on, or `abort`.")] = "record",
    bus_ca: Annotated[Path | None, typer.Option(help="With --bus: CA file for a TLS broker (mqtts://).")] = None,
    bus_cert: Annotated[
        Path | None, typer.Option(help="With --bus: client certificate, if the broker wants one.")
    ] = None,
    bus_cert_key: Annotated[Path | None, typer.Option(help="With --bus: the private key of --bus-cert.")] = None,
) -> None:
    """Run a scenario; everything that happens is written to the run folder."""
    from sociallm.orchestration.experiment import ConditionError
    from sociallm.orchestration.resume import resume_run
    from sociallm.orchestration.run import Run, new_run_id

    overrides = parse_sets(set_ or [])
    if rounds is not None:
        overrides["rounds"] = rounds
    if seed is not None:
        overrides["seed"] = seed
    if backend:
        overrides["backbone.kind"] = "openai"
        overrides["backbone.url"] = backend
    if model:
        overrides["backbone.model"] = model

    dist = distribution_options(bus, workers, remote_agents, turn_timeout, on_no_show, bus_ca, bus_cert, bus_cert_key)
    r: Any = None
    try:
        if resume is not None:
            if scenario is not None:
                fail("give either a SCENARIO or --resume RUN_DIR, not both", 2)
            r = resume_run(resume, distribution=dist, overrides=overrides)
            spec = r.spec
        else:
            if scenario is None:
                fail("name a scenario (see `sociallm scenarios`) or give --resume RUN_DIR", 2)
            spec = load_scenario(scenario, overrides)  # type: ignore[arg-type]
            run_id = new_run_id(spec.name)
            r = Run(spec, out_dir or Path("runs") / run_id, run_id=run_id, distribution=dist)
    except ScenarioError as exc:
        report_scenario_error(exc)
    except (RunDirError, EnvironmentConfigError, ConditionError, ValueError) as exc:
        fail(str(exc), 2)

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=out,
        transient=False,
        disable=not out.is_terminal,  # a pipe or a log file gets the transcript and the result, no bar
    )
    # A resumed run starts its bar where it stopped, so the time left is not estimated from a jump.
    task = progress.add_task(spec.name, total=spec.rounds, completed=r.manifest.get("rounds_completed", 0))
    if not quiet and not tui:  # the TUI owns the screen: nothing else may print during the run
        r.add_tap(LivePrinter(progress.console, spec.agent_names))
    r.add_round_listener(lambda done, total: progress.update(task, completed=done))
    where = "embedded model (Gemma 3 270M via llama.cpp)" if spec.backbone.kind == "embedded" else spec.backbone.url
    where = where or f"vLLM launched for {spec.backbone.model}"
    out.print(f"[bold]{spec.name}[/]: {len(spec.agents)} agents, {spec.rounds} rounds, seed {spec.seed}, {where}")
    out.print(f"run folder: {r.run_dir}")
    if dist is not None:
        out.print(f"bus: {dist.bus.url}, run id {r.run_id}; workers and watchers need the key {r.run_dir}/bus.key")
    try:
        if tui:
            from sociallm.cli.tui import run_with_tui

            result = run_with_tui(r)
        else:
            with progress:
                result = run_main(r.execute())
    except (KeyboardInterrupt, Interrupted) as exc:
        warn_unfinished(r)
        exit_interrupted(exc, f"continue with: sociallm run --resume {r.run_dir}" if r.owns_folder else None)
    except (BackendError, RunDirError, EnvironmentConfigError, RuntimeError, OSError) as exc:
        err.print("[bold red]error:[/] " + escape(" ".join(str(exc).split())), highlight=False)
        warn_unfinished(r)
        # Only about a folder this process wrote: the loser of a race for one must not point at the winner's run.
        if r.owns_folder and (r.run_dir / EVENTS_FILE).exists():
            err.print(
                f"what ran is kept in {r.run_dir}; once the cause is fixed, continue with: "
                f"sociallm run --resume {r.run_dir}"
            )
        raise typer.Exit(1) from None
    warn_unfinished(r)
    env = result.metrics.get("environment", {})
    summary = ", ".join(
        f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in env.items() if not isinstance(v, dict)
    )
    out.print(f"[green]{result.status}[/]: {result.rounds_completed} rounds, {result.events} events → {r.run_dir}")
    if summary:
        out.print(f"metrics: {summary}", highlight=False)
    for line in ["model usage per agent:", *usage] if (usage := usage_lines(result.metrics)) else []:
        out.print(line, highlight=False)


@app.command()
def show(
    run_dir: Annotated[Path, typer.Argument(help="A run folder.")],
    llm: Annotated[bool, typer.Option(help="Also list model calls.")] = False,
) -> None:
    """Print a run's transcript and outcomes from its event log."""
    path = run_dir / EVENTS_FILE
    if not path.exists():
        fail(not_a_run(run_dir), 2)
    result = read_events(path)
    printer = LivePrinter(out, sorted({e.source for e in result.events if e.kind == "message"}))
    for ev in result.events:
        if ev.kind == "llm_call" and llm:
            p = ev.payload
            out.print(
                f"  [dim]llm {ev.source}/{p.get('purpose')}: {p.get('prompt_tokens')}+{p.get('completion_tokens')} "
                f"tokens, {p.get('latency_s')} s → {p.get('text')!r}[/]",
                highlight=False,
            )
        else:
            printer(ev)
    for problem in result.problems:
        err.print(f"[yellow]warning:[/] {problem}", highlight=False)


register_tui(app)


register_report(app)
register_worker(app)
register_tom(app)
register_experiments(app)  # sweep, resume, replay
register_serve(app)
register_reproduce(app)  # reproduce calvano / fish / govsim


def main() -> None:  # pragma: no cover - console script shim
    app(prog_name="sociallm")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
