"""Run folders and event streams for the TUI tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sociallm.backbone.base import GenerationRequest, GenerationResult
from sociallm.orchestration.run import Run
from sociallm.runtime.events import Event
from sociallm.runtime.scenario import load_scenario
from tests.fakes import FakeLLM


class SlowLLM(FakeLLM):
    """FakeLLM that takes `delay` seconds per call, so a test can act between rounds."""

    def __init__(self, delay: float = 0.02) -> None:
        super().__init__()
        self.delay = delay

    async def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        await asyncio.sleep(self.delay)
        return await super().generate(requests)


async def make_run_folder(path: Path, rounds: int = 3) -> Path:
    await Run(load_scenario("bertrand", {"rounds": rounds}), path, llm=FakeLLM()).execute()
    return path


def synthetic_events(rounds: int, agents: tuple[str, ...] = ("Alice", "Bob")) -> list[Event]:
    """A bertrand-like stream with every subsystem: messages, labels, memory, tom, prices."""
    out: list[Event] = [
        Event(
            kind="system",
            source="scheduler",
            channel="system",
            payload={"event": "run_start", "scenario": "bertrand", "environment": "bertrand"},
        ),
        Event(
            kind="system",
            source="market",
            channel="system",
            payload={"event": "benchmarks", "nash_price": 1.4729, "monopoly_price": 1.925},
        ),
    ]
    for t in range(1, rounds + 1):
        out.append(Event(kind="system", source="scheduler", channel="system", tick=t, payload={"event": "round_start"}))
        for i, name in enumerate(agents):
            msg = Event(kind="message", source=name, tick=t, payload={"text": f"{name} says hello in round {t}"})
            out.append(msg)
            out.append(
                Event(
                    kind="llm_call",
                    source=name,
                    channel="llm",
                    to=[name],
                    tick=t,
                    payload={"prompt_tokens": 100, "completion_tokens": 10},
                )
            )
            v = round(0.1 * t, 2) * (1 if i == 0 else -1)
            out.append(
                Event(
                    kind="affect",
                    source=name,
                    channel="affect",
                    to=[name],
                    tick=t,
                    payload={
                        "cause": "self_label",
                        "event": msg.id,
                        "details": {"label": "calm"},
                        "after": {"valence": v, "arousal": 0.3, "word": "calm"},
                    },
                )
            )
            out.append(Event(kind="memory", source=name, tick=t, payload={"op": "add", "text": f"memo {t}"}))
            other = agents[(i + 1) % len(agents)]
            out.append(Event(kind="tom", source=name, tick=t, payload={"target": other, "surprise": round(0.1 * t, 2)}))
            out.append(
                Event(
                    kind="action",
                    source=name,
                    to=[name],
                    tick=t,
                    payload={"action": "price", "value": 1.8, "shown": "$1.80"},
                )
            )
        out.append(
            Event(
                kind="outcome",
                source="market",
                tick=t,
                payload={
                    "text": f"round {t} cleared",
                    "prices": {a: 1.8 + 0.01 * t for a in agents},
                    "profits": dict.fromkeys(agents, 0.2),
                    "delta": 0.5,
                    "nash_price": 1.4729,
                    "monopoly_price": 1.925,
                },
            )
        )
    for seq, ev in enumerate(out, 1):
        ev.seq = seq
    return out


def log_text(log) -> str:
    """The text a RichLog shows."""
    return "\n".join(strip.text for strip in log.lines)
