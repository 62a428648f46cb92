"""The cognitive agent at society scale: what one agent action costs as the village grows.

Plays the `village` society (sociallm.environments.village.society: hamlets of 8 that talk on their
own square, a gossip pair per hamlet, everyone prices at once) through the real Run — bus, event log
on disk, checkpoints, ChromaDB (embedded, on disk), the theory-of-mind bank — with and without all
three cognitive sections (emotion, memory, theory of mind). The model answers instantly (a fake that
replies by purpose), and the sentence encoder is a hashed bag of words (no model load), so every
figure is the runtime's own time; a real model adds its latency on top, the calls per action stay.

Each configuration runs in a fresh child process, so peak RSS is its own.

    python bench/bench_scale.py                                   # 2..10,000 agents, sections off and on
    python bench/bench_scale.py --agents 2,8,32 --rounds 3 --sections on
    python bench/bench_scale.py --encoder minilm                  # the real MiniLM encoder instead

Columns: own_ms = wall ms per action over the rounds after the first (steady state; the first round
pays lazy set-up: Chroma, torch kernels), cpu_ms the same in process CPU; calls = model requests per
action (action = a talk turn or a price); chars = mean prompt characters per model call; setup_s =
from building the run to its first model request; rss = peak resident set of the process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


ACTIONS = ("talk", "price")
# Concordia 2.4 on this machine, instant model, stock play() (../shared/peers/concordia/README.md, table (a)).
CONCORDIA = {
    2: {"s_action": 0.089, "calls": 24.8, "chars": 1611, "rss": 79.6},
    8: {"s_action": 0.216, "calls": 45.6, "chars": 2536, "rss": 105.3},
    32: {"s_action": 1.497, "calls": 130.8, "chars": 5372, "rss": 838.2},
}


class InstantLLM:
    """Answers every request at once, by purpose, with text each parser accepts."""

    def __init__(self) -> None:
        self.calls = 0
        self.by_purpose: dict[str, int] = {}
        self.chars = 0
        self.action_chars = 0
        self.actions = 0
        self.first_at: float | None = None
        self.n = 0

    async def generate(self, requests: list[Any]) -> list[Any]:
        from sociallm.backbone.base import GenerationResult

        if self.first_at is None:
            self.first_at = time.perf_counter()
        out = []
        for req in requests:
            self.calls += 1
            self.n += 1
            self.by_purpose[req.purpose] = self.by_purpose.get(req.purpose, 0) + 1
            size = len(req.prompt or "")
            self.chars += size
            if req.purpose in ACTIONS:
                self.actions += 1
                self.action_chars += size
            out.append(GenerationResult(text=self.reply(req), prompt_tokens=size // 4, completion_tokens=4, model="x"))
        return out

    def reply(self, req: Any) -> str:
        c = req.constraint
        if req.purpose == "memory_reflection":
            return json.dumps([{"question": "Who sells cheaper than me?", "because": [1, 2], "insight": "Prices drop"}])
        if req.purpose == "memory_insight":
            return '{"because": [1], "insight": "Prices keep dropping"}'
        if req.purpose == "memory_questions":
            return " Who sells cheaper?\n2. Can I trust my neighbours?\n3. What should I charge?"
        if c is not None and c.kind == "number":
            return "5" if req.purpose == "memory_importance" else f"{3 + (self.n % 50) / 10:.2f}"
        if c is not None and c.kind == "choice":
            return c.options[self.n % len(c.options)]
        return f" My prices stay fair, neighbour number {self.n % 97}!"

    def describe(self) -> dict[str, Any]:
        return {"kind": "instant"}

    async def aclose(self) -> None:
        return None


async def child(n: int, rounds: int, sections: bool | list[str], encoder: str) -> dict[str, Any]:
    import sociallm.backbone.encoders as encoders
    from sociallm.environments.village import society
    from sociallm.orchestration.run import Run
    from sociallm.runtime.scenario import parse_scenario

    if encoder == "hash":
        from tests.runtime.all_sections_run import HashEncoder384  # the tests' hashed encoder: no model load

        encoders.make_encoder = lambda name="minilm", **options: HashEncoder384(name)  # type: ignore[assignment]
    t0 = time.perf_counter()
    spec = parse_scenario(society(n, rounds=rounds, sections=sections), f"village-{n}")
    llm = InstantLLM()
    marks: list[tuple[float, float, int]] = []

    def on_round(done: int, total: int) -> None:
        marks.append((time.perf_counter(), time.process_time(), llm.actions))

    with tempfile.TemporaryDirectory() as tmp:
        run = Run(spec, Path(tmp) / "run", llm=llm, on_round=on_round)
        result = await run.execute()
    wall = time.perf_counter() - t0
    assert result.status == "completed", result.error
    (w1, c1, a1), (w2, c2, a2) = marks[0], marks[-1]
    steady = max(1, a2 - a1)
    return {
        "agents": n,
        "sections": sections if isinstance(sections, bool) else ",".join(sections),
        "rounds": rounds,
        "actions": llm.actions,
        "calls": llm.calls,
        "calls_per_action": llm.calls / llm.actions,
        "own_ms": 1000 * (w2 - w1) / steady,
        "cpu_ms": 1000 * (c2 - c1) / steady,
        "chars_per_call": llm.chars / llm.calls,
        "action_chars": llm.action_chars / llm.actions,
        "setup_s": (llm.first_at or t0) - t0,
        "wall_s": wall,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "events": result.events,
        "by_purpose": llm.by_purpose,
    }


def run_child(n: int, rounds: int, sections: bool, encoder: str, timeout: float, parts: str) -> dict[str, Any] | None:
    cmd = [sys.executable, __file__, "--child", str(n), "--rounds", str(rounds), "--encoder", encoder]
    if sections:
        cmd += ["--with-sections", parts]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=os.environ.copy())
    except subprocess.TimeoutExpired:
        print(f"  {n} agents, sections {'on' if sections else 'off'}: over {timeout:.0f} s, skipped", flush=True)
        return None
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
        print(f"  {n} agents, sections {'on' if sections else 'off'}: failed: {' | '.join(tail)}", flush=True)
        return None
    return json.loads(lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", default="2,8,32,256,1000,10000")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--sections", choices=["off", "on", "both"], default="both")
    ap.add_argument("--max-sections-agents", type=int, default=1000, help="largest village run with sections on")
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration; the median own_ms is shown")
    ap.add_argument("--encoder", choices=["hash", "minilm"], default="hash")
    ap.add_argument("--timeout", type=float, default=1800.0)
    ap.add_argument("--json-out", type=Path)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--with-sections", default="", help=argparse.SUPPRESS)
    ap.add_argument("--parts", default="emotion,memory,tom", help="the sections 'on' turns on (an ablation)")
    args = ap.parse_args()
    if args.child:
        parts: bool | list[str] = args.with_sections.split(",") if args.with_sections else False
        print(json.dumps(asyncio.run(child(args.child, args.rounds, parts, args.encoder))))
        return
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.sections]
    print(
        f"{'agents':>6} {'sections':>8} {'actions':>7} {'own_ms':>7} {'cpu_ms':>7} {'calls':>5} {'chars':>6} "
        f"{'act_chars':>9} {'setup_s':>7} {'rss_MB':>7}   concordia (s/action, calls, chars, rss_MB)",
        flush=True,
    )
    rows = []
    for sections in modes:
        for n in [int(x) for x in args.agents.split(",")]:
            if sections and n > args.max_sections_agents:
                continue
            got = [
                run_child(n, args.rounds, sections, args.encoder, args.timeout, args.parts) for _ in range(args.repeat)
            ]
            ok = sorted((g for g in got if g), key=lambda g: g["own_ms"])
            if not ok:
                continue
            r = ok[len(ok) // 2]
            rows.append(r)
            c = CONCORDIA.get(n)
            peer = f"{c['s_action']:.3f}, {c['calls']}, {c['chars']:,}, {c['rss']}" if c else "-"
            print(
                f"{n:>6} {'on' if sections else 'off':>8} {r['actions']:>7} {r['own_ms']:>7.2f} {r['cpu_ms']:>7.2f} "
                f"{r['calls_per_action']:>5.2f} {r['chars_per_call']:>6.0f} {r['action_chars']:>9.0f} "
                f"{r['setup_s']:>7.2f} {r['rss_mb']:>7.0f}   {peer}",
                flush=True,
            )
    if args.json_out:
        args.json_out.write_text("\n".join(json.dumps(r) for r in rows) + "\n")


if __name__ == "__main__":
    main()
