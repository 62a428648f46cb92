"""`sociallm sweep`, `sociallm resume` and `sociallm replay` (hooked into the CLI by `register(app)`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from sociallm.backbone.base import BackendError
from sociallm.cli.common import LivePrinter, err, exit_interrupted, fail, out, warn_unfinished
from sociallm.orchestration.experiment import Condition, ConditionError, grid, parse_interventions
from sociallm.runtime.lifecycle import Interrupted, run_main
from sociallm.runtime.rundir import RunDirError, open_run_dir, read_checkpoint
from sociallm.runtime.scenario import ScenarioError


def split_values(raw: str) -> list[str]:
    """Split `a,b,[1, 2],"x, y"` at top-level commas (brackets and quotes keep theirs)."""
    parts, depth, quote, cur = [], 0, "", ""
    for ch in raw:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def parse_axes(pairs: list[str]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """`--set k=v` (one value: all runs) and `--set k=a,b,c` (an axis of the condition grid)."""
    base: dict[str, Any] = {}
    axes: dict[str, list[Any]] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConditionError(f"--set {pair!r}: expected KEY=VALUE or KEY=V1,V2,... (e.g. --set comm=none,public)")
        try:
            values = [yaml.safe_load(v) if v else "" for v in split_values(raw)]
        except yaml.YAMLError:
            raise ConditionError(f"--set {pair!r}: a value is not valid YAML") from None
        if len(values) == 1:
            base[key] = values[0]
        else:
            axes[key] = values
    return base, axes


def _progress_reporter(progress: Progress, runs: int) -> Any:
    task = progress.add_task("sweep", total=None)
    finished = {"n": 0}

    def report(kind: str, entry: Any, done: int, total: int) -> None:
        if kind == "end":
            finished["n"] += 1
            if entry.error:
                progress.console.print(
                    f"[red]failed[/] {entry.condition.name} seed {entry.seed}: {entry.error}", highlight=False
                )
        progress.update(task, total=total, completed=done, description=f"runs {finished['n']}/{runs}")

    return report


def register(app: typer.Typer) -> None:
    @app.command()
    def sweep(
        scenario: Annotated[str | None, typer.Argument(help="A built-in name or a YAML file.")] = None,
        seeds: Annotated[int, typer.Option(help="Seeds per condition (scenario seed, +1, ...).", min=1)] = 5,
        set_: Annotated[
            list[str] | None,
            typer.Option("--set", help="KEY=V (all runs) or KEY=V1,V2 (a condition axis); shortcuts comm, n"),
        ] = None,
        rounds: Annotated[int | None, typer.Option(help="Rounds per run.", min=1)] = None,
        out_dir: Annotated[Path | None, typer.Option("--out", help="Sweep folder (default sweeps/NAME-TIME).")] = None,
        jobs: Annotated[int, typer.Option(help="Runs in flight at once (they share one backend).", min=1)] = 4,
        interventions: Annotated[
            Path | None, typer.Option(help="YAML list of interventions (see README: Experiments).")
        ] = None,
        resume: Annotated[Path | None, typer.Option(help="Finish a half-done sweep folder.")] = None,
        backend: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL; default embedded.")] = None,
        model: Annotated[str | None, typer.Option(help="Model name on the server.")] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    ) -> None:
        """Run every condition × seed of a scenario concurrently; tidy results in results.parquet/.csv."""
        from sociallm.orchestration.api import Experiment
        from sociallm.orchestration.sweep import load_plan, run_sweep, validate_plan

        try:
            if resume is not None:
                if scenario is not None:
                    fail("give either a SCENARIO or --resume SWEEP_DIR, not both")
                plan = load_plan(resume)
            else:
                if scenario is None:
                    fail("name a scenario (see `sociallm scenarios`) or give --resume SWEEP_DIR")
                base, axes = parse_axes(set_ or [])
                if rounds is not None:
                    base["rounds"] = rounds
                if backend:
                    base.update({"backbone.kind": "openai", "backbone.url": backend})
                if model:
                    base["backbone.model"] = model
                exp = Experiment(scenario, seeds=seeds, base=base)  # type: ignore[arg-type]
                exp.conditions = grid(axes) if axes else [Condition(name="base")]
                if interventions is not None:
                    if not interventions.exists():
                        fail(f"--interventions {interventions}: file not found")
                    raw = yaml.safe_load(interventions.read_text(encoding="utf-8")) or []
                    if not isinstance(raw, list):
                        fail(f"{interventions}: expected a YAML list of interventions")
                    exp.interventions = parse_interventions(raw, str(interventions))
                stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
                plan = exp.plan(out_dir or Path("sweeps") / f"{Path(scenario).stem}-{stamp}")  # type: ignore[arg-type]
            entries = validate_plan(plan)
        except (ConditionError, RunDirError) as exc:
            fail(str(exc))
        names = ", ".join(c.name for c in plan.conditions)
        out.print(
            f"[bold]{plan.scenario}[/]: {len(plan.conditions)} conditions ({names}) × {len(plan.seeds)} seeds "
            f"= {len(entries)} runs → {plan.out}",
            highlight=False,
        )
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rounds"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=out,
            # Sweeps never print transcripts; -q, or output that is not a terminal, drops the bar too.
            disable=quiet or not out.is_terminal,
        )
        try:
            with progress:
                result = run_main(run_sweep(plan, jobs=jobs, progress=_progress_reporter(progress, len(entries))))
        except (KeyboardInterrupt, Interrupted) as exc:
            exit_interrupted(exc, f"finish it with: sociallm sweep --resume {plan.out}")
        except (ConditionError, RunDirError) as exc:
            fail(str(exc), 2)  # the plan or folder was refused before any run started: its own hint says what works
        except BackendError as exc:
            fail(f"{exc}; once the model server works, finish it with: sociallm sweep --resume {plan.out}", 1)
        failed = [e for e in result.runs if e.error]
        skipped = sum(e.status == "completed" for e in result.runs)
        out.print(
            f"[green]done[/]: {len(result.runs) - len(failed)}/{len(result.runs)} runs completed "
            f"({skipped} already done), {len(result.rows)} rows → {plan.out / 'results.parquet'} and .csv",
            highlight=False,
        )
        _print_summary(result.rows, entries[0].spec.environment.kind if entries else "")
        if failed:
            err.print(f"{len(failed)} runs failed; retry them with: sociallm sweep --resume {plan.out}")
            raise typer.Exit(1)

    @app.command("resume")
    def resume_cmd(
        run_dir: Annotated[Path, typer.Argument(help="A run folder (or a sweep folder) left unfinished.")],
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live transcript.")] = False,
    ) -> None:
        """Continue a run killed mid-way from its last completed round (no event lost or duplicated)."""
        if run_dir.is_dir() and (run_dir / "sweep.json").exists():
            sweep(resume=run_dir, quiet=True)
            return
        from sociallm.orchestration.resume import resume_run

        try:
            r = resume_run(run_dir)
            checkpoint = read_checkpoint(r.run_dir)
        except ScenarioError as exc:
            fail("\n".join(f"{exc.source}: {line}" for line in exc.lines))
        except (RunDirError, ConditionError, ValueError) as exc:
            fail(str(exc))
        done = checkpoint["rounds_completed"] if checkpoint else 0
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=out,
            disable=not out.is_terminal,  # as `sociallm run`: a bar on a terminal only
        )
        task = progress.add_task(r.spec.name, total=r.spec.rounds, completed=done)
        r.add_round_listener(lambda d, total: progress.update(task, completed=d))
        if not quiet:
            r.add_tap(LivePrinter(progress.console, r.spec.agent_names))
        out.print(f"resuming {run_dir} after round {done} of {r.spec.rounds}")
        try:
            with progress:
                result = run_main(r.execute())
        except (KeyboardInterrupt, Interrupted) as exc:
            warn_unfinished(r)
            exit_interrupted(exc, f"continue with: sociallm resume {run_dir}" if r.owns_folder else None)
        except (BackendError, RunDirError, RuntimeError, OSError) as exc:
            warn_unfinished(r)
            fail(" ".join(str(exc).split()), 1)
        warn_unfinished(r)
        out.print(f"[green]{result.status}[/]: {result.rounds_completed} rounds, {result.events} events → {run_dir}")

    @app.command()
    def replay(
        run_dir: Annotated[Path, typer.Argument(help="A recorded run folder.")],
        out_dir: Annotated[Path | None, typer.Option("--out", help="Where to write (default RUN_DIR-replay).")] = None,
    ) -> None:
        """Re-run a recorded run with its recorded model replies and check the log comes out identical."""
        from sociallm.orchestration.replay import ReplayMismatch, compare_logs, replay_run

        try:
            open_run_dir(run_dir)
        except RunDirError as exc:
            fail(str(exc))
        target = out_dir or run_dir.with_name(run_dir.name + "-replay")
        if (target / "manifest.json").exists():
            fail(f"{target} already holds a replay; remove it or choose another --out")
        try:
            result, llm = run_main(replay_run(run_dir, target))
        except (ReplayMismatch, RunDirError, ValueError) as exc:
            fail(str(exc), 1)
        diff = compare_logs(run_dir, target)
        if diff:
            fail(f"replay differs from the recording: {diff}", 1)
        out.print(
            f"[green]identical[/]: {result.events} events, {llm.served} recorded replies served; "
            f"normalised log matches byte for byte → {target}",
            highlight=False,
        )


def _print_summary(rows: list[dict[str, Any]], environment: str) -> None:
    """Mean of each headline run-level metric the game declares, per condition."""
    from sociallm.environments import environment_view
    from sociallm.reports.stats import mean_ci

    for metric in environment_view(environment).headline:
        by: dict[str, list[float]] = {}
        for r in rows:
            if r["metric"] == metric.key and r["round"] is None and not r["agent"]:
                by.setdefault(r["condition"], []).append(r["value"])
        for cond, values in by.items():
            m, lo, hi = mean_ci(values)
            flag = "" if metric.comparable else " (scale depends on the condition's parameters; see the report)"
            out.print(
                f"  {cond}: {metric.key} {m:.3f} (95% CI {lo:.3f}..{hi:.3f}, n={len(values)}){flag}", highlight=False
            )
