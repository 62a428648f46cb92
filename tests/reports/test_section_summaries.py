"""Per-agent section summaries (sociallm/reports/sections.py): from hand-made events, and from a real
deception run (fake model, real encoder and ToM model) into metrics.json, report.md and the TUI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sociallm.orchestration.run import Run
from sociallm.orchestration.section_summary import summarise_sections
from sociallm.reports.markdown import run_report
from sociallm.reports.sections import SectionTally, markdown_lines, plot_sections
from sociallm.runtime.events import Event
from sociallm.runtime.scenario import load_scenario
from tests.fakes import FakeLLM


def _tom(speaker: str, tick: int, surprise: dict[str, float], dup: float | None) -> Event:
    payload = {"speaker": speaker, "surprise": surprise, "self_surprise": 0.5, "duplicity": dup, "overlap": 0.9}
    # On an unusual channel: summaries read events by kind, wherever the section publishes them.
    return Event(kind="tom", source=speaker, channel="analyst", tick=tick, payload=payload)


def test_tom_keeps_the_analyst_and_agent_views_apart() -> None:
    events = [
        _tom("Mallory", 1, {"Ann": 0.8, "Bob": 0.6}, 0.1),
        _tom("Mallory", 2, {"Ann": 0.4, "Bob": 0.2}, 0.3),
        _tom("Ann", 2, {"Mallory": 0.9}, None),
    ]
    tom = summarise_sections(events)["tom"]
    mal = tom["analyst"]["Mallory"]
    assert mal["messages"] == 2
    assert mal["duplicity"] == {"n": 2, "mean": 0.2, "min": 0.1, "max": 0.3, "last": 0.3}
    assert mal["surprise"]["mean"] == pytest.approx(0.5)  # over both observers and both messages
    assert tom["analyst"]["Ann"]["duplicity"] is None
    # The agent view: what each observer itself felt, per speaker.
    assert tom["agents"]["Ann"]["Mallory"] == {"mean": pytest.approx(0.6), "n": 2}
    assert tom["agents"]["Bob"]["Mallory"]["mean"] == pytest.approx(0.4)
    assert tom["agents"]["Mallory"] == {"Ann": {"mean": 0.9, "n": 1}}


def test_affect_memory_and_info_per_agent() -> None:
    st = lambda v, a: {"valence": v, "arousal": a, "word": "calm"}  # noqa: E731
    events = [
        Event(kind="affect", source="A", tick=1, payload={"before": st(0.0, 0.2), "after": st(-0.4, 0.6)}),
        Event(kind="affect", source="A", tick=2, payload={"before": st(-0.4, 0.6), "after": st(0.2, 0.4)}),
        Event(kind="memory", source="A", tick=1, payload={"op": "add", "ids": ["m1", "m2"], "importance": [3, 5]}),
        Event(kind="memory", source="A", tick=1, payload={"op": "retrieve", "ids": ["m1"]}),
        Event(kind="memory", source="A", tick=2, payload={"op": "reflection", "ids": ["r1", "r2", "r3"]}),
        Event(
            kind="info",
            source="B",
            tick=1,
            payload={"speaker": "A", "observer": "B", "bits": 10.0, "bits_per_token": 2.0},
        ),
        Event(
            kind="info",
            source="C",
            tick=1,
            payload={"speaker": "A", "observer": "C", "bits": 20.0, "bits_per_token": 4.0},
        ),
    ]
    s = summarise_sections(events)
    a = s["affect"]["A"]
    assert a["changes"] == 2 and a["valence"]["min"] == -0.4 and a["valence"]["max"] == 0.2
    assert a["valence"]["mean"] == pytest.approx(-0.0667, abs=1e-4) and a["arousal"]["last"] == 0.4
    m = s["memory"]["A"]
    assert (m["records"], m["reflections"], m["insights"], m["retrievals"], m["retrieved"]) == (2, 1, 3, 1, 1)
    assert m["mean_importance"] == 4.0
    assert s["info"]["by_speaker"]["A"] == {"scores": 2, "bits_per_message": 15.0, "bits_per_token": 3.0}
    assert s["info"]["by_observer"]["C"]["bits_per_message"] == 20.0
    assert "tom" not in s  # a section that logged nothing is left out
    tally = SectionTally()
    for ev in events:
        tally.add(ev)
    lines = tally.lines("A")
    assert lines[0].startswith("affect: valence -0.07 [-0.40, 0.20]")
    assert "2 records, 1 reflections (3 insights), 1 retrievals" in lines[1]
    assert lines[2] == "info: 15.0 bits/message said"


def test_no_negative_zero_in_reports() -> None:
    md = "\n".join(markdown_lines(summarise_sections([_tom("M", 1, {"A": -0.00001}, -0.00001)])))
    assert "-0.00" not in md and "0.000" in md


@pytest.mark.integration
async def test_a_deception_run_reports_per_speaker_tom(tmp_path: Path) -> None:
    run_dir = tmp_path / "dec"
    await Run(load_scenario("deception", {"rounds": 2}), run_dir, llm=FakeLLM()).execute()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    tom = metrics["sections"]["tom"]
    assert "Mallory" in tom["analyst"] and tom["analyst"]["Mallory"]["duplicity"]["n"] > 0
    villagers = [a for a in tom["agents"] if a != "Mallory"]
    assert villagers and all("Mallory" in tom["agents"][v] for v in villagers)
    assert "affect" in metrics["sections"]  # deception turns emotion on too
    path, plots = run_report(run_dir)
    md = path.read_text()
    assert "## Theory of mind" in md and "| Mallory |" in md and "Agent view" in md
    assert "tom.png" in plots and (run_dir / "tom.png").stat().st_size > 0
    dup = tom["analyst"]["Mallory"]["duplicity"]["last"]
    assert f"| Mallory | {tom['analyst']['Mallory']['messages']} | {dup:.3f} |" in md


def test_a_plot_for_each_section_that_ran(tmp_path: Path) -> None:
    events = [
        _tom("Mallory", 1, {"Ann": 0.8}, 0.2),
        Event(kind="memory", source="Ann", tick=1, payload={"op": "add", "ids": ["m1"], "importance": [4]}),
        Event(kind="info", source="Ann", tick=1, payload={"speaker": "Mallory", "observer": "Ann", "bits": 9.0}),
    ]
    plots = plot_sections(tmp_path, events, summarise_sections(events))
    assert plots == ["memory.png", "tom.png", "info.png"]
    assert all((tmp_path / p).stat().st_size > 1000 for p in plots)
    assert plot_sections(tmp_path / "none", [], {}) == []


def test_agent_view_from_per_observer_tom_events() -> None:
    # Should the ToM section publish each observer's read-out on its own (the agent view), it is
    # summarised the same way; the per-message events, when present, are the source instead.
    own = [
        Event(kind="tom", source="Ann", tick=1, payload={"observer": "Ann", "target": "Mallory", "surprise": 0.7}),
        Event(kind="tom", source="Ann", tick=2, payload={"observer": "Ann", "target": "Mallory", "surprise": 0.9}),
    ]
    assert summarise_sections(own)["tom"]["agents"] == {"Ann": {"Mallory": {"mean": 0.8, "n": 2}}}
    both = summarise_sections([*own, _tom("Mallory", 1, {"Ann": 0.1}, 0.2)])["tom"]
    assert both["agents"]["Ann"]["Mallory"] == {"mean": 0.1, "n": 1}  # not counted twice
