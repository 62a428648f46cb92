"""Sweeps: concurrent runs on one shared backend, the tidy table, resuming a half-finished sweep."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from sociallm import Experiment
from sociallm.cli.sweep import parse_axes, register, split_values
from sociallm.orchestration.experiment import Condition
from sociallm.orchestration.sweep import COLUMNS, SweepPlan, run_sweep
from tests.fakes import FakeLLM


class CountingLLM(FakeLLM):
    closed = 0

    async def aclose(self) -> None:
        self.closed += 1


def test_set_values_split_at_top_level_commas() -> None:
    assert split_values("none,public,private") == ["none", "public", "private"]
    assert split_values('[1, 2],"a, b",3') == ["[1, 2]", '"a, b"', "3"]
    base, axes = parse_axes(["comm=none,public", "rounds=2", "alpha=1,3.2"])
    assert base == {"rounds": 2} and axes == {"comm": ["none", "public"], "alpha": [1, 3.2]}


async def test_sweep_runs_every_condition_and_seed_and_writes_a_tidy_table(tmp_path: Path) -> None:
    llm = CountingLLM()
    exp = Experiment("bertrand", seeds=2, rounds=2).condition("silent", comm="none").condition("chat", comm="public")
    result = await exp.arun(tmp_path / "s", llm=llm, jobs=3)
    assert [(e.condition.name, e.seed, e.status, e.error) for e in result.runs] == [
        ("silent", 7, "started", None), ("silent", 8, "started", None),
        ("chat", 7, "started", None), ("chat", 8, "started", None),
    ]  # fmt: skip
    assert llm.closed == 0  # a backend handed in is shared, never closed by the runs
    table = pq.read_table(tmp_path / "s" / "results.parquet")
    assert table.column_names == COLUMNS
    rows = table.to_pylist()
    deltas = [r for r in rows if r["metric"] == "delta" and r["agent"] == ""]
    assert len(deltas) == 2 * 2 * 2 and {r["round"] for r in deltas} == {1, 2}
    run_level = [r for r in rows if r["metric"] == "mean_delta"]
    assert len(run_level) == 4 and all(r["round"] is None for r in run_level)
    assert {r["agent"] for r in rows if r["metric"] == "prices"} == {"Alice", "Bob"}
    csv = (tmp_path / "s" / "results.csv").read_text().splitlines()
    assert csv[0] == ",".join(f'"{c}"' for c in COLUMNS) and len(csv) == len(rows) + 1
    for e in result.runs:
        assert json.loads((e.run_dir / "metrics.json").read_text())["rounds_completed"] == 2
    silent = [r for r in llm.requests if r.purpose == "talk"]
    assert len(silent) == 2 * 2 * 2  # only the chat condition talks: 2 seeds × 2 rounds × 2 firms


async def test_a_half_finished_sweep_resumes_skipping_completed_runs(tmp_path: Path) -> None:
    plan = Experiment("bertrand", seeds=2, rounds=3).condition("a", comm="none").plan(tmp_path / "s")
    # A crashed first attempt: the backend dies at call 5, in seed 7's round 3 (2 price calls a round).
    first = await run_sweep(plan, llm=FakeLLM(fail_at=5), jobs=1)
    assert all(e.error and "fake server went away" in e.error for e in first.runs)
    done = [json.loads((e.run_dir / "checkpoint.json").read_text())["rounds_completed"] for e in first.runs]
    assert done == [2, 0]
    llm = FakeLLM()
    second = await run_sweep(plan, llm=llm, jobs=2)
    assert all(e.error is None for e in second.runs)
    assert [e.status for e in second.runs] == ["resumed", "resumed"]
    assert len(llm.requests) == 2 * 1 + 2 * 3  # seed 7 plays only round 3
    for e in second.runs:
        rounds = [ev for ev in map(json.loads, (e.run_dir / "events.jsonl").read_text().splitlines())
                  if ev["payload"].get("event") == "round_start"]  # fmt: skip
        assert [r["tick"] for r in rounds] == [1, 2, 3]  # nothing played twice, nothing lost
    # A different plan in the same folder is refused in one line.
    other = plan.model_copy(update={"seeds": [1]})
    with pytest.raises(Exception, match="holds a different sweep"):
        await run_sweep(other, llm=FakeLLM())


def test_cli_rejects_bad_conditions_before_anything_runs(tmp_path: Path) -> None:
    app = typer.Typer()

    @app.command()
    def other() -> None:
        pass

    register(app)
    runner = CliRunner()
    out = tmp_path / "s"
    for args, message in [
        (["--set", "comm=none,loud"], "condition comm=loud: comm: must be one of none, public, private"),
        (["--set", "colour=red,blue"], "colour: unknown condition key"),
        (["--set", "rounds=x,2"], "condition rounds=x: rounds: Input should be a valid integer"),
        (["--set", "environment.kind=casino"], "unknown environment 'casino'"),
    ]:
        result = runner.invoke(app, ["sweep", "bertrand", "--seeds", "1", "--out", str(out), *args])
        assert result.exit_code == 2, result.output
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()  # nothing ran, nothing was written


def test_plan_round_trips_through_sweep_json(tmp_path: Path) -> None:
    plan = SweepPlan(scenario="ipd", conditions=[Condition(name="x", overrides={"rounds": 2})], seeds=[1], out=tmp_path)
    assert SweepPlan.model_validate({**plan.saved(), "out": tmp_path}) == plan


def test_cli_sweep_with_interventions_file_then_resume(tmp_path: Path, monkeypatch) -> None:
    import sociallm.orchestration.run as run_module

    async def fake_backbone(spec):
        return FakeLLM()

    monkeypatch.setattr(run_module, "default_backbone", fake_backbone)
    app = typer.Typer()
    app.command()(lambda: None)
    register(app)
    runner = CliRunner()
    ivs = tmp_path / "ivs.yaml"
    ivs.write_text("- {kind: warn, at: 2, text: Stop coordinating prices., conditions: [comm=public]}\n")
    out = tmp_path / "s"
    args = ["sweep", "bertrand", "--seeds", "2", "--set", "comm=none,public", "--rounds", "2", "--out", str(out)]
    result = runner.invoke(app, [*args, "--interventions", str(ivs)])
    assert result.exit_code == 0, result.output
    assert "4/4 runs completed (0 already done)" in result.stdout and "comm=public: mean_delta" in result.stdout
    warned = (out / "runs" / "comm-public" / "seed-8" / "events.jsonl").read_text()
    assert "Stop coordinating prices." in warned
    assert "Stop coordinating" not in (out / "runs" / "comm-none" / "seed-8" / "events.jsonl").read_text()
    again = runner.invoke(app, ["resume", str(out)])
    assert again.exit_code == 0 and "4/4 runs completed (4 already done)" in again.stdout

    ivs.write_text("- {kind: warn, at: 2}\n")
    bad = runner.invoke(app, [*args, "--out", str(tmp_path / "t"), "--interventions", str(ivs)])
    assert bad.exit_code == 2 and f"{ivs}[0]: a warning needs text" in bad.stderr
