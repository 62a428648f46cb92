"""Replay: play a recorded run again with the recorded model replies instead of a model.

`ReplayLLM` serves each request the reply recorded in the original log's `llm_call` events, matched by
(agent, purpose) in order, and checks that the request is the one recorded (same prompt, seed). Replies
are handed out at once: the order of the log does not depend on which reply comes back first (agents of a
simultaneous phase publish in turn order, background measurements at fixed points; see scheduler.py), so
agents that raced in the original, e.g. two firms pricing at once, are logged in the same order again.

A faithful replay reproduces the event log exactly after `normalise`: event ids, timestamps and the
run id (random or wall-clock) are dropped, references to an event's id become its position, `resumed`
markers are removed and `seq` renumbered, since a resumed original was played in two sittings but the
replay plays in one.
"""

from __future__ import annotations

import json
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

from sociallm.backbone.base import GenerationRequest, GenerationResult
from sociallm.runtime.eventlog import EVENTS_FILE, read_events
from sociallm.runtime.events import Event
from sociallm.runtime.rundir import MANIFEST, read_json
from sociallm.runtime.scenario import parse_scenario

DROP = ("id", "ts", "run")


class ReplayMismatch(RuntimeError):
    """The replayed run asked for something the recording does not have; the message says where."""


def _first_difference(a: str, b: str) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def resume_bookkeeping(ev: Event) -> bool:
    """Events a resume adds that a run played in one go does not have: the `resumed` marker, and the
    memory section forgetting what it wrote in the discarded half round."""
    if ev.kind == "system" and ev.payload.get("event") == "resumed":
        return True
    return ev.kind == "memory" and ev.payload.get("op") == "forget" and ev.payload.get("why") == "resume"


class ReplayLLM:
    def __init__(self, events: list[Event], source: str = "") -> None:
        self.source = source
        kept = [e for e in events if not resume_bookkeeping(e)]
        self.recorded = 0
        # Per (agent, purpose), in order: (the call's position in the recorded log, the call).
        self._queues: dict[tuple[str, str], deque[tuple[int, Event]]] = defaultdict(deque)
        for pos, ev in enumerate(kept):
            if ev.kind == "llm_call" and "text" in ev.payload:
                self.recorded += 1
                self._queues[(ev.source, str(ev.payload.get("purpose", "")))].append((pos, ev))
        self.kinds = {str(e.payload["constraint"]) for e in kept if e.kind == "llm_call" and "constraint" in e.payload}
        self.served = 0

    def observe(self, event: Event) -> None:
        """A bus tap (kept for callers that add it); the order of the log needs no help from the replay."""
        return None

    def _match(self, req: GenerationRequest) -> tuple[int, Event]:
        agent, purpose = req.agent or "runtime", req.purpose
        queue = self._queues.get((agent, purpose))
        where = f"{agent}'s {purpose!r} call"
        if not queue:
            raise ReplayMismatch(
                f"{self.source}: no recorded reply left for {where} (request {self.served + 1}); "
                "the scenario or code changed since the recording"
            )
        k, ev = queue.popleft()
        p = ev.payload
        if "prompt" in p and req.prompt is not None and p["prompt"] != req.prompt:
            i = _first_difference(p["prompt"], req.prompt)
            raise ReplayMismatch(
                f"{self.source}: {where} in round {ev.tick} has a different prompt than recorded, from char {i}: "
                f"recorded {p['prompt'][i : i + 60]!r}, now {req.prompt[i : i + 60]!r}"
            )
        if p.get("seed") is not None and req.seed != p["seed"]:
            raise ReplayMismatch(f"{self.source}: {where} in round {ev.tick}: seed {req.seed}, recorded {p['seed']}")
        return k, ev

    async def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        matched = [self._match(r) for r in requests]
        self.served += len(matched)
        out = []
        for _, ev in matched:
            p = ev.payload
            out.append(
                GenerationResult(
                    text=p["text"],
                    prompt_tokens=p.get("prompt_tokens", 0),
                    completion_tokens=p.get("completion_tokens", 0),
                    cached_tokens=p.get("cached_tokens"),
                    latency_s=p.get("latency_s", 0.0),
                    finish_reason=p.get("finish_reason"),
                    model=p.get("model", ""),
                    attempts=p.get("attempts", 1),
                )
            )
        return out

    def supports(self, constraint: Any) -> bool:
        # The recording decides: a run that folded its labels into talk calls logged them with that kind.
        return constraint.kind in self.kinds

    def unused(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def describe(self) -> dict[str, Any]:
        return {"kind": "replay", "source": self.source, "recorded_calls": self.recorded}

    async def aclose(self) -> None:
        return None


def _refs(value: Any, ids: dict[str, str], seqs: dict[int, int] | None = None, key: str = "") -> Any:
    """Replace references to other events' ids (e.g. an affect event's cause) by their position, and
    references to their seq (`message_seq`) by the renumbered seq."""
    if seqs is not None and key.endswith("_seq") and isinstance(value, int) and not isinstance(value, bool):
        return seqs.get(value, value)
    if isinstance(value, str):
        if value in ids:
            return ids[value]
        # Ids built on an event id (memory records: "Alice:<event id>") carry its randomness too.
        owner, sep, rest = value.rpartition(":")
        return f"{owner}:{ids[rest]}" if sep and rest in ids else value
    if isinstance(value, dict):
        return {_refs(k, ids): _refs(v, ids, seqs, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_refs(v, ids, seqs, key) for v in value]
    return value


def normalise_events(events: list[Event]) -> list[str]:
    """Canonical JSON lines of a log: no ids, timestamps, run ids or resume bookkeeping; seq renumbered,
    references to another event's id written as `@<its renumbered seq>`, payload `*_seq` fields renumbered."""
    kept = [ev for ev in events if not resume_bookkeeping(ev)]
    ids = {ev.id: f"@{k}" for k, ev in enumerate(kept, start=1)}
    seqs = {ev.seq: k for k, ev in enumerate(kept, start=1)}
    out = []
    for seq, ev in enumerate(kept, start=1):
        data = ev.model_dump(mode="json", exclude=set(DROP))
        data["seq"] = seq
        data["payload"] = _refs(data["payload"], ids, seqs)
        out.append(json.dumps(data, sort_keys=True, ensure_ascii=False))
    return out


def normalised_log(run_dir: Path) -> bytes:
    events = read_events(Path(run_dir) / EVENTS_FILE).events
    return ("\n".join(normalise_events(events)) + "\n").encode()


async def replay_run(run_dir: Path, out: Path) -> tuple[Any, ReplayLLM]:
    """Replay `run_dir` into `out`; the rounds played are those the original completed."""
    from sociallm.orchestration.experiment import attach_interventions, load_interventions, save_interventions
    from sociallm.orchestration.run import Run

    run_dir, out = Path(run_dir), Path(out)
    manifest = read_json(run_dir / MANIFEST)
    spec = parse_scenario(manifest.get("scenario"), f"{run_dir / MANIFEST}: scenario")
    done = int(manifest.get("rounds_completed") or 0)
    if done < 1:
        raise ReplayMismatch(f"{run_dir}: no completed round to replay")
    spec = spec.model_copy(update={"rounds": done})
    log = read_events(run_dir / EVENTS_FILE)
    llm = ReplayLLM(log.events, str(run_dir))
    r = Run(spec, out, llm=llm, taps=[llm.observe], run_id=manifest.get("run_id"))
    interventions, condition = load_interventions(run_dir)
    save_interventions(out, interventions, condition)
    attach_interventions(r, interventions, condition)
    result = await r.execute()
    if llm.unused():
        raise ReplayMismatch(f"{run_dir}: the replay finished with {llm.unused()} recorded replies unused")
    return result, llm


def compare_logs(original: Path, replay: Path) -> str | None:
    """None when the normalised logs are byte-identical, else the first difference in one line."""
    a = normalised_log(original).split(b"\n")
    b = normalised_log(replay).split(b"\n")
    if a == b:
        return None
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"event {i + 1} differs: recorded {x[:160].decode()!r}, replayed {y[:160].decode()!r}"
    return f"the logs differ in length: recorded {len(a) - 1} events, replayed {len(b) - 1}"
