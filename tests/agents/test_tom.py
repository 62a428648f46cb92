"""The theory-of-mind section in a run, its checkpoint, the train/eval CLI and the deception ground truth."""

from __future__ import annotations

import json
import random

import pytest
import torch
from typer.testing import CliRunner

from sociallm.agents.tom import DEFAULT_CHECKPOINT, load_model
from sociallm.agents.tom_data import Embedder
from sociallm.agents.tom_eval import score_run
from sociallm.environments.deception import scripted_events
from sociallm.orchestration.run import Run
from sociallm.runtime.eventlog import read_events
from sociallm.runtime.scenario import load_scenario
from tests.fakes import FakeLLM

pytestmark = pytest.mark.integration  # the real MiniLM encoder


def varied(req) -> str:
    return f" I, {req.agent}, heard {len((req.prompt or '').splitlines())} lines today."


@pytest.fixture(scope="module")
def embed() -> Embedder:
    return Embedder()


def test_the_shipped_checkpoint_loads_and_is_small():
    model, meta = load_model("default")
    assert DEFAULT_CHECKPOINT.stat().st_size < 1_000_000
    assert meta["seed"] == 5 and "synthetic" in meta["runs"]
    assert model.ssm.config.d_inner * model.ssm.config.d_state * 4 == 1024  # bytes of state per pair


def test_bad_checkpoint_is_a_one_line_error(tmp_path):
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"sections.tom.checkpoint: .* is not a ToM checkpoint"):
        load_model(bad)


async def test_tom_section_in_a_run_emits_reads_out_renders_and_resumes(tmp_path):
    # Opted in to the run-wide view (Mallory talks to each villager alone: no villager sees a conflict).
    tom = {"duplicity_threshold": 0.0, "analyst_in_prompt": True}
    spec = load_scenario("deception", {"rounds": 4, "sections": {"tom": tom}})
    llm = FakeLLM(varied, fail_at=9)  # dies in round 3: the run is resumed below
    with pytest.raises(Exception, match="went away"):
        await Run(spec, tmp_path / "r", llm=llm).execute()
    result = await Run.resume(tmp_path / "r", llm=FakeLLM(varied)).execute()
    assert result.status == "completed"
    events = read_events(tmp_path / "r" / "events.jsonl").events
    tom = [e for e in events if e.kind == "tom"]
    assert tom, "no tom events"
    mallory = [e for e in tom if e.payload["speaker"] == "Mallory"]
    assert mallory and all(set(e.payload["surprise"]) <= {"Alice", "Bob", "Carol"} for e in mallory)
    assert any(e.payload["duplicity"] is not None for e in mallory)
    assert all(e.to == ["@analyst"] for e in tom)  # the analyst's read-out: no agent observes it
    checkpoint = json.loads((tmp_path / "r" / "checkpoint.json").read_text())
    hub = next(a["sections"]["tom"]["hub"] for a in checkpoint["agents"].values() if a["sections"]["tom"])
    assert "Mallory" in hub["bank"]["names"]  # the shared bank round-trips through the checkpoint
    talk = [e for e in events if e.kind == "llm_call" and e.payload.get("purpose") == "talk"]
    assert any("impressions: Mallory" in (e.payload.get("prompt") or "") for e in talk)


def test_conflicting_claims_score_above_honest_tailoring_and_topic_shift_on_unseen_vocabulary(embed):
    # A few fixed runs of the test vocabulary (names, templates, topics never trained on): the order
    # holds; how many liars the validation threshold catches there is in the README's figures
    # (`sociallm tom eval --facts N`), not asserted here.
    from sociallm.agents.tom_facts import make_run
    from sociallm.environments.facts import vocab

    model, meta = load_model("default")
    cut = meta["duplicity_threshold"]
    v = vocab("test", "test", "test")
    for seed in (1, 2, 3):
        lie = score_run(model, make_run(seed, "conflict_same", v, rounds=4, lie_rate=1.0), embed).ssm
        same = score_run(model, make_run(seed, "verbatim", v, rounds=4), embed).ssm
        shift = score_run(model, make_run(seed, "topics", v, rounds=4), embed).ssm
        # a consistent speaker scores low, not NaN (it was before); not 0: two true facts about one subject
        # told in different rounds share some words
        assert 0.0 <= same < 0.25, seed
        assert shift < lie and same < lie, seed
        assert cut > same, seed  # the validation threshold flags no consistent speaker


def test_surprise_peaks_when_the_hidden_intent_changes(embed):
    from sociallm.agents.tom_data import synthetic_runs
    from sociallm.agents.tom_eval import evaluate

    model, _ = load_model("default")
    around = evaluate(model, synthetic_runs(range(40)), embed)["around_change"]["surprise"]
    assert around[0] > max(around[-2], around[-1], around[1]), around


def test_train_cli_writes_a_checkpoint_that_eval_reads(tmp_path):
    from sociallm.cli import app
    from sociallm.runtime.eventlog import EventLog

    for i, deceptive in enumerate((True, False)):
        d = tmp_path / f"run{i}"
        d.mkdir()
        log = EventLog(d / "events.jsonl")
        for seq, ev in enumerate(scripted_events(i, ["Alice", "Bob", "Carol"], 6, deceptive=deceptive), 1):
            ev.seq, ev.run = seq, f"run{i}"
            log.write(ev)
        log.close()
    out = tmp_path / "tom.pt"
    runs = [str(tmp_path / "run0"), str(tmp_path / "run1")]
    r = CliRunner().invoke(app, ["tom", "train", *runs, "--out", str(out), "--epochs", "2", "--seed", "3"])
    assert r.exit_code == 0, r.output
    assert out.exists() and "messages/s" in r.output
    assert "epoch 1/2: loss" in r.output and "elapsed, ~" in r.output  # progress with the time left
    r = CliRunner().invoke(app, ["tom", "eval", *runs, "--checkpoint", str(out)])
    assert r.exit_code == 0, r.output
    assert "claim read-out (duplicity)" in r.output and "held-out runs: 2 (1 deceptive)" in r.output
    r = CliRunner().invoke(app, ["tom", "eval", str(tmp_path)])
    assert r.exit_code == 2 and "no events.jsonl" in r.output


def test_train_cli_on_scripted_runs_with_affect_input(tmp_path):
    from sociallm.agents.tom_train import read_checkpoint
    from sociallm.cli import app

    out = tmp_path / "aff.pt"
    args = ["tom", "train", "--synthetic", "2", "--epochs", "1", "--affect-input", "--out", str(out)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    model, meta = read_checkpoint(out)
    assert model.affect_input and model.encoder_dim == 384 and meta["affect_input"] is True
    assert meta["runs"] == ["2 procedural synthetic runs"] and meta["encoder"] == "minilm"
    r = CliRunner().invoke(app, ["tom", "train", "--out", str(out)])
    assert r.exit_code == 2 and "give RUN_DIRS and/or --synthetic N" in r.output


def test_same_seed_same_checkpoint(tmp_path):
    from sociallm.agents.tom_bank import ToMModel
    from sociallm.agents.tom_data import synthetic_runs
    from sociallm.agents.tom_train import DEFAULT_CONFIG, train

    runs = synthetic_runs(range(2000, 2004), rounds=6)
    weights = []
    for _ in range(2):
        torch.manual_seed(9)
        random.seed(9)
        m = ToMModel(DEFAULT_CONFIG)
        train(m, runs, Embedder(), epochs=1, seed=9)
        weights.append(torch.cat([p.detach().flatten() for p in m.parameters()]))
    assert torch.equal(weights[0], weights[1])


def test_encoder_must_match_the_checkpoint(tmp_path):
    from sociallm.cli import app

    r = CliRunner().invoke(app, ["tom", "eval", "--synthetic", "2", "--encoder", "backbone"])
    assert r.exit_code == 2 and "trained on 'minilm' vectors" in r.output
    r = CliRunner().invoke(app, ["tom", "train", "--synthetic", "2", "--out", str(tmp_path / "x.pt"), "--encoder", "x"])
    assert r.exit_code == 2 and "known encoders are minilm, backbone" in r.output


async def test_a_run_whose_encoder_does_not_fit_the_checkpoint_stops_with_one_line(tmp_path):
    from sociallm.agents.sections import SectionError

    spec = load_scenario("deception", {"rounds": 1, "sections": {"tom": {"encoder": "backbone"}}})
    with pytest.raises(SectionError, match=r"sections.tom.encoder: .*trained on 'minilm' vectors.*--encoder backbone"):
        await Run(spec, tmp_path / "r", llm=FakeLLM(varied)).execute()


def test_eval_cli_prints_the_per_shift_table(tmp_path):
    from sociallm.cli import app

    r = CliRunner().invoke(app, ["tom", "eval", "--facts", "1", "--rounds", "2"])
    assert r.exit_code == 0, r.output
    for shift in ("names", "templates", "topics", "all"):
        assert f"shift: unseen {shift}" in r.output
    assert "shift: hand-written" in r.output  # the held-out set of tom_wild.py, its own block
    assert "baseline: same-round distance" in r.output and "vs paraphrase" in r.output
    r = CliRunner().invoke(app, ["tom", "eval", "--judge", "2", "--synthetic", "1"])
    assert r.exit_code == 2 and "--judge goes with --facts N" in r.output
