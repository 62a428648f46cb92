"""Replay: the recorded replies reproduce the normalised event log byte for byte; mismatches are clear."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sociallm.backbone.base import GenerationRequest
from sociallm.cli.sweep import register
from sociallm.orchestration.api import arun
from sociallm.orchestration.experiment import Intervention
from sociallm.orchestration.replay import ReplayMismatch, compare_logs, normalised_log, replay_run
from tests.fakes import FakeLLM, default_reply


class RacingLLM(FakeLLM):
    """Answers simultaneous calls in a shuffled order (as a real server may), so log order is not call order."""

    async def generate(self, requests: list[GenerationRequest]) -> list:
        delay = (hash((requests[0].agent, requests[0].seed)) % 7) / 1000
        await asyncio.sleep(delay)
        return await super().generate(requests)


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def other() -> None:
        pass

    register(app)
    return app


async def test_replay_reproduces_the_log_byte_for_byte(tmp_path: Path) -> None:
    ivs = [Intervention(kind="warn", at=2, text="The regulator is watching."), Intervention(kind="mute", at=3)]
    await arun("bertrand-emotion", tmp_path / "orig", llm=RacingLLM(), interventions=ivs, rounds=4)
    result, llm = await replay_run(tmp_path / "orig", tmp_path / "copy")
    assert result.status == "completed" and llm.served == llm.recorded > 0 and llm.unused() == 0
    assert normalised_log(tmp_path / "orig") == normalised_log(tmp_path / "copy")
    assert compare_logs(tmp_path / "orig", tmp_path / "copy") is None
    assert (tmp_path / "copy" / "manifest.json").read_text().count('"kind": "replay"') == 1


def _folding(req: GenerationRequest) -> str:
    text = default_reply(req)
    if req.constraint is not None and req.constraint.kind == "suffix_choice":
        # Every other talk reply misses its suffix, so the replay also serves the fallback label calls.
        return text if req.seed is not None and req.seed % 2 else f'{text}" [feeling: calm]'
    return text


async def test_a_run_with_folded_labels_replays_with_its_talk_grammar_and_fallbacks(tmp_path: Path) -> None:
    folded = {"sections.emotion.self_label": "folded"}
    await arun("bertrand-emotion", tmp_path / "orig", llm=FakeLLM(_folding), rounds=4, **folded)
    result, llm = await replay_run(tmp_path / "orig", tmp_path / "copy")
    assert result.status == "completed" and llm.served == llm.recorded > 0 and llm.unused() == 0
    assert "suffix_choice" in llm.kinds
    assert compare_logs(tmp_path / "orig", tmp_path / "copy") is None


def test_replay_command_and_a_changed_scenario_is_a_clear_mismatch(tmp_path: Path) -> None:
    asyncio.run(arun("ipd", tmp_path / "orig", llm=FakeLLM(), rounds=2))
    runner = CliRunner()
    ok = runner.invoke(_cli(), ["replay", str(tmp_path / "orig")])
    assert ok.exit_code == 0, ok.output
    assert "identical" in ok.stdout and (tmp_path / "orig-replay" / "events.jsonl").exists()
    again = runner.invoke(_cli(), ["replay", str(tmp_path / "orig")])
    assert again.exit_code == 2 and "already holds a replay" in again.stderr

    # Edit the recorded scenario: the replay asks with a different prompt and stops at once, in one line.
    manifest = tmp_path / "orig" / "manifest.json"
    manifest.write_text(manifest.read_text().replace("Alice is friendly but not naive.", "Alice is cunning."))
    bad = runner.invoke(_cli(), ["replay", str(tmp_path / "orig"), "--out", str(tmp_path / "r2")])
    assert bad.exit_code == 1
    assert "different prompt than recorded" in bad.stderr and "Traceback" not in bad.stderr


async def test_missing_recordings_are_reported(tmp_path: Path) -> None:
    await arun("ipd", tmp_path / "orig", llm=FakeLLM(), rounds=1)
    log = tmp_path / "orig" / "events.jsonl"
    lines = [ln for ln in log.read_text().splitlines() if '"purpose":"move"' not in ln or '"Bob"' not in ln]
    log.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReplayMismatch, match="no recorded reply left for Bob's 'move' call"):
        await replay_run(tmp_path / "orig", tmp_path / "copy")


def test_normalisation_maps_ids_built_on_event_ids_in_values_and_keys():
    """Memory records are named `<agent>:<event id>` and repairs are keyed by them: both carry the id's randomness."""
    from sociallm.orchestration.replay import normalise_events
    from sociallm.runtime.events import Event

    def log(first_id: str) -> list[str]:
        src = Event(id=first_id, kind="message", source="Bob", seq=1, payload={"text": "hi"})
        mem = Event(
            kind="memory",
            source="Bob",
            seq=2,
            payload={"ids": [f"Bob:{first_id}"], "repairs": {f"Bob:{first_id}": ["x"]}},
        )
        return normalise_events([src, mem])

    a, b = log("a" * 32), log("b" * 32)
    assert a == b and '"Bob:@1"' in a[1]
