"""Sweeps: every condition × seed of a scenario, run concurrently on one shared backend, resumable.

SWEEP_DIR/
  sweep.json                    the plan (scenario, base overrides, conditions, seeds, interventions)
  runs/<condition>/seed-<s>/    one run folder each (events.jsonl, manifest.json, metrics.json, ...)
  results.parquet, results.csv  the tidy table: run, condition, seed, round, agent, metric, value

Running the same sweep again (or `sociallm sweep --resume SWEEP_DIR`) skips completed runs, resumes
interrupted ones from their last checkpoint, and starts the rest.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sociallm.orchestration import run as run_module
from sociallm.orchestration.experiment import (
    Condition,
    ConditionError,
    Intervention,
    attach_interventions,
    build_spec,
    save_interventions,
    slug,
)
from sociallm.orchestration.resume import resume_run
from sociallm.orchestration.run import Run
from sociallm.runtime.eventlog import EVENTS_FILE, read_events
from sociallm.runtime.rundir import MANIFEST, METRICS, RunDirError, read_json, run_hint, write_json_atomic

PLAN_FILE = "sweep.json"
RESULTS = "results"
COLUMNS = ["run", "condition", "seed", "round", "agent", "metric", "value"]


class SweepPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    scenario: str
    base: dict[str, Any] = Field(default_factory=dict)
    conditions: list[Condition]
    seeds: list[int]
    interventions: list[Intervention] = Field(default_factory=list)
    out: Path

    def run_dir(self, condition: Condition, seed: int) -> Path:
        return self.out / "runs" / slug(condition.name) / f"seed-{seed}"

    def saved(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"out"})


@dataclass
class RunEntry:
    condition: Condition
    seed: int
    run_dir: Path
    spec: Any
    status: str = "pending"  # pending | completed (already) | resumed | started
    result: Any = None
    error: str | None = None


@dataclass
class SweepResult:
    out: Path
    runs: list[RunEntry] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def table(self) -> Any:
        """The tidy table as a pandas DataFrame when pandas is installed, else a pyarrow Table."""
        import pyarrow.parquet as pq

        t = pq.read_table(self.out / f"{RESULTS}.parquet")
        try:
            return t.to_pandas()
        except ImportError:
            return t


def validate_plan(plan: SweepPlan) -> list[RunEntry]:
    """Build every run's spec before anything runs: a bad condition fails the sweep in one line."""
    if not plan.seeds:
        raise ConditionError("seeds: give at least one seed (--seeds N)")
    names = [c.name for c in plan.conditions]
    if len(set(map(slug, names))) != len(names):
        raise ConditionError(f"conditions: names must be unique (got {names})")
    known = set(names)
    for i, iv in enumerate(plan.interventions):
        for c in iv.conditions or []:
            if c not in known:
                raise ConditionError(f"interventions[{i}].conditions: unknown condition {c!r}; known: {sorted(known)}")
    entries = []
    for cond in plan.conditions:
        spec = build_spec(plan.scenario, {**plan.base, **cond.overrides}, f"condition {cond.name}")
        for i, iv in enumerate(plan.interventions):
            if iv.conditions is None or cond.name in iv.conditions:
                iv.check_against(spec, f"interventions[{i}]")
        for seed in plan.seeds:
            entries.append(RunEntry(cond, seed, plan.run_dir(cond, seed), spec.model_copy(update={"seed": seed})))
    return entries


def load_plan(out: Path) -> SweepPlan:
    if not (Path(out) / PLAN_FILE).exists():
        if (Path(out) / MANIFEST).exists():
            raise RunDirError(f"{out} is a run folder, not a sweep: {run_hint(Path(out))}")
        raise RunDirError(f"{out}: no {PLAN_FILE}; not a sweep folder (`sociallm sweep ... --out DIR` makes one)")
    data = read_json(Path(out) / PLAN_FILE)
    return SweepPlan.model_validate({**data, "out": Path(out)})


def _check_or_write_plan(plan: SweepPlan) -> None:
    path = plan.out / PLAN_FILE
    if path.exists():
        old = read_json(path)
        if old != json.loads(json.dumps(plan.saved())):
            raise ConditionError(
                f"{plan.out}: holds a different sweep (see {PLAN_FILE}); resume it with "
                f"`sociallm sweep --resume {plan.out}` or choose another --out"
            )
        return
    plan.out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, plan.saved())


def run_status(run_dir: Path) -> str | None:
    path = run_dir / MANIFEST
    if not path.exists():
        return None
    try:
        return str(read_json(path).get("status"))
    except Exception:
        return "damaged"


async def run_sweep(
    plan: SweepPlan,
    *,
    jobs: int = 4,
    llm: Any = None,
    progress: Callable[[str, RunEntry, int, int], None] | None = None,
) -> SweepResult:
    """Run (or finish) a sweep. `progress(event, entry, done_rounds, total_rounds)` reports along the way."""

    entries = validate_plan(plan)
    _check_or_write_plan(plan)
    todo = [e for e in entries if run_status(e.run_dir) != "completed"]
    for e in entries:
        if e not in todo:
            e.status = "completed"
    total = sum(e.spec.rounds for e in entries)
    done = {"rounds": sum(e.spec.rounds for e in entries if e.status == "completed")}

    def tick(entry: RunEntry, kind: str) -> None:
        if progress:
            progress(kind, entry, done["rounds"], total)

    shared = llm
    own = False
    if todo and shared is None:
        # ONE backend for every run of the sweep; looked up at call time, so that whoever replaces the
        # run's default backbone (an embedding host, the tests' instant model) replaces the sweep's too.
        shared = await run_module.default_backbone(todo[0].spec)
        own = True
    sem = asyncio.Semaphore(max(1, jobs))

    async def one(entry: RunEntry) -> None:
        async with sem:
            on_round = _round_counter(entry, done, tick)
            if (entry.run_dir / MANIFEST).exists():
                # The one resume path: the run's own interventions.json comes back with it.
                r = resume_run(entry.run_dir, llm=shared, on_round=on_round)
                entry.status = "resumed"
                on_round.base = r.manifest.get("rounds_completed", 0)  # type: ignore[attr-defined]
                done["rounds"] += on_round.base  # type: ignore[attr-defined]
            else:
                run_id = f"{slug(entry.condition.name)}-s{entry.seed}"
                r = Run(entry.spec, entry.run_dir, llm=shared, on_round=on_round, run_id=run_id)
                save_interventions(entry.run_dir, plan.interventions, entry.condition.name)
                attach_interventions(r, plan.interventions, entry.condition.name)
                entry.status = "started"
            tick(entry, "start")
            try:
                entry.result = await r.execute()
            except Exception as exc:  # one failed run must not sink the sweep; it stays resumable
                entry.error = f"{type(exc).__name__}: {exc}"
            tick(entry, "end")

    try:
        await asyncio.gather(*(one(e) for e in todo))
    finally:
        if own and shared is not None:
            await shared.aclose()
    result = SweepResult(plan.out, entries)
    result.rows = collect(plan, entries)
    write_results(plan.out, result.rows)
    return result


def _round_counter(entry: RunEntry, done: dict[str, int], tick: Callable[[RunEntry, str], None]) -> Any:
    def on_round(t: int, total: int) -> None:
        done["rounds"] += 1
        tick(entry, "round")

    on_round.base = 0  # type: ignore[attr-defined]
    return on_round


# --------------------------------------------------------------------------------------------------
# The tidy table.


def _num(x: Any) -> float | None:
    if isinstance(x, bool):
        return float(x)
    if isinstance(x, int | float) and math.isfinite(x):
        return float(x)
    return None


def run_rows(run_dir: Path, run: str, condition: str, seed: int) -> list[dict[str, Any]]:
    """Per-round rows from the environment's outcome events, then run-level rows (round empty)."""
    rows: list[dict[str, Any]] = []

    def add(rnd: int | None, agent: str, metric: str, value: Any) -> None:
        v = _num(value)
        if v is not None:
            rows.append(
                {"run": run, "condition": condition, "seed": seed, "round": rnd, "agent": agent, "metric": metric}
                | {"value": v}
            )

    events = read_events(run_dir / EVENTS_FILE).events if (run_dir / EVENTS_FILE).exists() else []
    agents = set()
    for ev in events:
        if ev.kind == "system" and ev.payload.get("event") == "run_start":
            agents = set()
        if ev.kind in ("message", "action") and ev.source not in ("moderator", "regulator"):
            agents.add(ev.source)
    for ev in events:
        if ev.kind != "outcome":
            continue
        for key, value in ev.payload.items():
            if isinstance(value, dict):
                if key.startswith("previous"):
                    continue
                for who, x in value.items():
                    add(ev.tick, str(who), key, x)
            elif key not in ("text",):
                add(ev.tick, "", key, value)
    if (run_dir / METRICS).exists():
        metrics = read_json(run_dir / METRICS)
        for key, value in (metrics.get("environment") or {}).items():
            if isinstance(value, dict):
                for who, x in value.items():
                    add(None, str(who), key, x)
            else:
                add(None, "", key, value)
        add(None, "", "rounds_completed", metrics.get("rounds_completed"))
        llm = metrics.get("llm") or {}
        for key in ("calls", "prompt_tokens", "completion_tokens"):
            add(None, "", f"llm_{key}", llm.get(key))
    return rows


def collect(plan: SweepPlan, entries: list[RunEntry]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for e in entries:
        rel = str(e.run_dir.relative_to(plan.out))
        rows += run_rows(e.run_dir, rel, e.condition.name, e.seed)
    return rows


def write_results(out: Path, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("run", pa.string()),
            ("condition", pa.string()),
            ("seed", pa.int64()),
            ("round", pa.int64()),
            ("agent", pa.string()),
            ("metric", pa.string()),
            ("value", pa.float64()),
        ]
    )
    table = pa.Table.from_pylist(rows, schema=schema)
    tmp = out / f"{RESULTS}.parquet.tmp"
    pq.write_table(table, tmp)
    tmp.replace(out / f"{RESULTS}.parquet")
    tmp = out / f"{RESULTS}.csv.tmp"
    pacsv.write_csv(table, tmp)
    tmp.replace(out / f"{RESULTS}.csv")


def read_results(out: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(Path(out) / f"{RESULTS}.parquet").to_pylist()
