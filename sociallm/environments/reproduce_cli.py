"""`sociallm reproduce ...`: published results re-run in our environments, printed next to the paper's."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def register(app: typer.Typer) -> None:
    group = typer.Typer(no_args_is_help=True, help="Reproduce published results (paper figures side by side).")
    app.add_typer(group, name="reproduce")

    @group.command("calvano")
    def calvano_cmd(
        variant: Annotated[
            list[str] | None,
            typer.Option(help="baseline (α=0.15, β=4e-6), n3 (three firms), fast (β=2e-5), test (tiny); repeatable."),
        ] = None,
        sessions: Annotated[int | None, typer.Option(help="Sessions per variant (default: the variant's).", min=1)] = None,
        seed: Annotated[int, typer.Option(help="Random seed of the sessions.")] = 0,
        json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures to this JSON file.")] = None,
    ) -> None:
        """Calvano et al. (2020): Q-learning firms in logit Bertrand, vectorised over sessions (numpy)."""
        from sociallm.environments.calvano import VARIANTS, reproduce, table_lines, within_paper

        names = variant or ["baseline"]
        unknown = [v for v in names if v not in VARIANTS]
        if unknown:
            err.print(f"[bold red]error:[/] --variant {unknown[0]!r}: unknown; known: {', '.join(VARIANTS)}")
            raise typer.Exit(2)
        results = []
        for name in names:
            v = VARIANTS[name]
            count = sessions or v.sessions
            out.print(f"[bold]{name}[/]: {v.note}; {count} sessions, n={v.n}, α={v.alpha}, β={v.beta:g}")
            last = [0.0]

            def progress(t: int, active: int, count: int = count) -> None:
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
