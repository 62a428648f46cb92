"""The scripting API: `from sociallm import Experiment, load_scenario, run`.

exp = Experiment("bertrand", seeds=5, rounds=10)
exp.condition("silent", comm="none")
exp.condition("chat", comm="public")
exp.intervene(at=6, warn="The competition authority is watching prices.", conditions=["chat"])
result = exp.run("sweeps/demo")          # results.parquet, results.csv, one folder per run
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sociallm.orchestration.experiment import (
    Condition,
    ConditionError,
    Intervention,
    apply_condition,
    attach_interventions,
    build_spec,
    condition_name,
    grid,
    parse_interventions,
    save_interventions,
)
from sociallm.orchestration.run import Run, new_run_id
from sociallm.orchestration.sweep import SweepPlan, run_sweep
from sociallm.runtime.lifecycle import run_main
from sociallm.runtime.progress import ProgressLine, want_progress
from sociallm.runtime.scenario import ScenarioError, ScenarioSpec, parse_scenario

__all__ = ["Experiment", "arun", "load_scenario", "run"]


# --------------------------------------------------------------------------------------------------
# The scripting API.


class Experiment:
    """Conditions × seeds of one scenario; `run()` plays them concurrently on one shared backend."""

    def __init__(
        self,
        scenario: str | Path,
        *,
        seeds: int | list[int] = 5,
        rounds: int | None = None,
        base: dict[str, Any] | None = None,
    ) -> None:
        self.scenario = str(scenario)
        self.base = dict(base or {})
        if rounds is not None:
            self.base["rounds"] = rounds
        self.seeds = list(seeds) if isinstance(seeds, list) else None
        self.n_seeds = seeds if isinstance(seeds, int) else len(seeds)
        self.conditions: list[Condition] = []
        self.interventions: list[Intervention] = []

    def condition(self, name: str | None = None, /, **overrides: Any) -> Experiment:
        """Add a condition. Dotted paths go in as keyword arguments via a dict: condition("x", **{"a.b": 1})."""
        self.conditions.append(Condition(name=name or condition_name(overrides), overrides=overrides))
        return self

    def grid(self, **values: list[Any]) -> Experiment:
        self.conditions.extend(grid(values))
        return self

    def intervene(self, **fields: Any) -> Experiment:
        """Add an intervention: intervene(at=5, warn="..."), intervene(at=3, mute="public"),
        intervene(at=4, persona={"Bob": "..."}), intervene(warn="...", when=("last_delta", ">", 0.5))."""
        for kind in ("warn", "mute", "persona"):
            if kind in fields:
                value = fields.pop(kind)
                if kind == "warn":
                    fields.update(kind="warn", text=value)
                elif kind == "mute":
                    fields.update(kind="mute", channel=value)
                else:
                    ((agent, text),) = dict(value).items()
                    fields.update(kind="persona", agent=agent, text=text)
                break
        if isinstance(fields.get("when"), tuple):
            metric, op, value = fields["when"]
            fields["when"] = {"metric": metric, "op": op, "value": value}
        self.interventions += parse_interventions([fields], f"interventions[{len(self.interventions)}]")
        return self

    def plan(self, out: str | Path) -> SweepPlan:
        base_seed = build_spec(self.scenario, self.base, "every condition").seed
        seeds = self.seeds if self.seeds is not None else [base_seed + k for k in range(self.n_seeds)]
        return SweepPlan(
            scenario=self.scenario,
            base=self.base,
            conditions=self.conditions or [Condition(name="base")],
            seeds=seeds,
            interventions=self.interventions,
            out=Path(out),
        )

    async def arun(self, out: str | Path, *, jobs: int = 4, llm: Any = None, progress: Any = None) -> Any:
        """`progress`: a callback `(event, entry, done_rounds, total_rounds)`, or None / True / False for
        the line on the terminal (None: shown when stderr is a terminal)."""
        plan = self.plan(out)
        if callable(progress):
            return await run_sweep(plan, jobs=jobs, llm=llm, progress=progress)
        line = ProgressLine(f"{plan.out}", 0, enabled=want_progress(progress))
        runs = len(plan.conditions) * len(plan.seeds)
        ended = {"n": 0}

        def report(kind: str, entry: Any, done: int, total: int) -> None:
            ended["n"] += kind == "end"
            line.update(done, f"{ended['n']}/{runs} runs", total=total)

        try:
            return await run_sweep(plan, jobs=jobs, llm=llm, progress=report)
        finally:
            line.close()

    def run(self, out: str | Path, *, jobs: int = 4, llm: Any = None, progress: bool | None = None) -> Any:
        """Run every condition × seed (see `arun`); a progress line on a terminal unless `progress=False`."""
        return run_main(self.arun(out, jobs=jobs, llm=llm, progress=want_progress(progress)))


def load_scenario(name_or_path: str | Path, /, **overrides: Any) -> ScenarioSpec:
    """A scenario by built-in name or file, with condition overrides (shortcuts or dotted paths)."""
    return build_spec(name_or_path, overrides, "overrides")


async def arun(
    scenario: str | Path | ScenarioSpec,
    out: str | Path | None = None,
    *,
    llm: Any = None,
    interventions: list[Intervention | dict[str, Any]] | None = None,
    progress: bool | None = None,
    **overrides: Any,
) -> Any:
    """Play one scenario (see `run`). `progress`: the round line on a terminal (None: when stderr is one)."""
    if isinstance(scenario, ScenarioSpec):
        spec = scenario
        if overrides:  # a spec object takes overrides too, through the same validation as a file
            try:
                data = apply_condition(spec.model_dump(mode="json"), overrides)
                spec = parse_scenario(data, f"scenario {spec.name!r}")
            except ScenarioError as exc:
                raise ConditionError("\n".join(f"overrides: {line}" for line in exc.lines)) from None
            except ConditionError as exc:
                raise ConditionError(f"overrides: {exc}") from None
    else:
        spec = build_spec(scenario, overrides, "overrides")
    run_id = new_run_id(spec.name)
    run_dir = Path(out) if out is not None else Path("runs") / run_id
    ivs = parse_interventions(list(interventions or []))
    for i, iv in enumerate(ivs):
        iv.check_against(spec, f"interventions[{i}]")
    line = ProgressLine(f"{spec.name} → {run_dir}", spec.rounds, enabled=want_progress(progress))
    r = Run(spec, run_dir, llm=llm, run_id=run_id, on_round=lambda done, total: line.update(done, total=total))
    save_interventions(run_dir, ivs, None)
    attach_interventions(r, ivs)
    line.update(0)  # at once: starting the model takes a while, and the line says something is going on
    try:
        return await r.execute()
    finally:
        line.close()


def run(scenario: str | Path | ScenarioSpec, out: str | Path | None = None, **kw: Any) -> Any:
    """Play one scenario to the end and return its RunResult (run folder, status, metrics). SIGTERM and
    SIGHUP stop it like Ctrl-C (status `interrupted`, resumable) and raise lifecycle.Interrupted.
    On a terminal a line shows rounds done, time elapsed and left (`progress=False` hides it)."""
    return run_main(arun(scenario, out, **kw))
