"""`sociallm reproduce ...`: published results re-run in our environments, printed next to the paper's."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from sociallm.cli.common import err, fail, out


def register(app: typer.Typer) -> None:
    group = typer.Typer(no_args_is_help=True, help="Reproduce published results (paper figures side by side).")
    app.add_typer(group, name="reproduce")

    @group.command("calvano")
    def calvano_cmd(
        variant: Annotated[
            list[str] | None,
            typer.Option(help="baseline (α=0.15, β=4e-6), n3 (three firms), fast (β=2e-5), test (tiny); repeatable."),
        ] = None,
        sessions: Annotated[
            int | None, typer.Option(help="Sessions per variant (default: the variant's).", min=1)
        ] = None,
        seed: Annotated[int, typer.Option(help="Random seed of the sessions.")] = 0,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Also write the figures to this JSON file.")
        ] = None,
    ) -> None:
        """Calvano et al. (2020): Q-learning firms in logit Bertrand, vectorised over sessions (numpy)."""
        from sociallm.agents.strategies.calvano import VARIANTS, reproduce, table_lines, within_paper

        names = variant or ["baseline"]
        unknown = [v for v in names if v not in VARIANTS]
        if unknown:
            fail(f"--variant {unknown[0]!r}: unknown; known: {', '.join(VARIANTS)}")
        results = []
        for name in names:
            v = VARIANTS[name]
            count = sessions or v.sessions
            out.print(f"[bold]{name}[/]: {v.note}; {count} sessions, n={v.n}, α={v.alpha}, β={v.beta:g}")
            last = [0.0]

            def progress(t: int, active: int, count: int = count, last: list[float] = last) -> None:
                now = time.monotonic()
                if now - last[0] >= 10:
                    last[0] = now
                    out.print(f"  period {t:>10,}: {active}/{count} sessions still learning", highlight=False)

            res = reproduce(v, sessions=count, seed=seed, progress=progress)
            results.append(res)
            out.print(f"  done in {res['seconds']:.0f} s")
            out.print("\n".join(table_lines(res, v)), highlight=False)
            verdict = "within" if within_paper(res, v) else "OUTSIDE"
            out.print(f"[bold]Δ {res['delta_mean']:.3f}: {verdict} the paper's figure (±0.05 or its range)[/]\n")
        if json_out:
            json_out.write_text(json.dumps(results, indent=1))
            out.print(f"figures written to {json_out}")

    def _run_published(
        scenario: str,
        conditions: dict,
        seeds: int,
        rounds: int | None,
        backend: str | None,
        model: str | None,
        out_dir: Path | None,
        jobs: int,
    ) -> tuple[Path, list]:
        from sociallm import Experiment

        base: dict = {}
        if backend:
            base.update({"backbone.kind": "openai", "backbone.url": backend})
        if model:
            base["backbone.model"] = model
        exp = Experiment(scenario, seeds=seeds, rounds=rounds, base=base)
        for name, overrides in conditions.items():
            exp.condition(name, **overrides)
        out_dir = out_dir or Path("sweeps") / f"{scenario}-{time.strftime('%Y%m%d-%H%M%S')}"
        out.print(f"[bold]{scenario}[/]: {len(conditions)} condition(s) × {seeds} seeds → {out_dir}")
        result = exp.run(out_dir, jobs=jobs)
        failed = [e for e in result.runs if e.error]
        for e in failed:
            err.print(f"[yellow]run {e.run_dir} failed:[/] {e.error}")
        return out_dir, result.runs

    def _finish(out_dir: Path, lines: list[str]) -> None:
        text = "\n".join(lines) + "\n"
        (out_dir / "comparison.md").write_text(text)
        out.print(text, highlight=False)
        out.print(f"written to {out_dir / 'comparison.md'}; `sociallm report {out_dir}` for the full report")

    @group.command("fish")
    def fish_cmd(
        seeds: Annotated[int, typer.Option(help="Runs per prompt prefix.", min=1)] = 3,
        rounds: Annotated[int | None, typer.Option(help="Periods per run (paper: 300).", min=2)] = None,
        backend: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL; default embedded.")] = None,
        model: Annotated[str | None, typer.Option(help="Model name on the server.")] = None,
        out_dir: Annotated[Path | None, typer.Option("--out", help="Sweep folder.")] = None,
        jobs: Annotated[int, typer.Option(help="Runs at once.", min=1)] = 4,
    ) -> None:
        """Fish et al. (2024): prompt prefixes P1 vs P2 for two LLM pricing agents (scenario bertrand-fish)."""
        from sociallm.environments.published import fish_conditions, fish_summary

        out_dir, runs = _run_published("bertrand-fish", fish_conditions(), seeds, rounds, backend, model, out_dir, jobs)
        _finish(out_dir, fish_summary(runs))

    @group.command("govsim")
    def govsim_cmd(
        seeds: Annotated[int, typer.Option(help="Runs.", min=1)] = 5,
        backend: Annotated[str | None, typer.Option(help="OpenAI-compatible server URL; default embedded.")] = None,
        model: Annotated[str | None, typer.Option(help="Model name on the server.")] = None,
        out_dir: Annotated[Path | None, typer.Option("--out", help="Sweep folder.")] = None,
        jobs: Annotated[int, typer.Option(help="Runs at once.", min=1)] = 4,
    ) -> None:
        """GovSim (Piatti et al. 2024) fishery: survival time and rate, efficiency, equality, over-usage."""
        from sociallm.environments.published import govsim_summary

        out_dir, runs = _run_published("commons", {"govsim": {}}, seeds, None, backend, model, out_dir, jobs)
        _finish(out_dir, govsim_summary(runs))
