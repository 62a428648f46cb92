"""Per-agent summaries of the cognitive sections that ran (affect, memory, theory of mind, information
content), folded from the event log by event kind.

`summarise_sections(events)` gives a dict with a key for each section that logged anything; the run
writes it into `metrics.json` under `sections` when it ends, and `sociallm.reports.sections` renders it
(report.md tables, plots, the TUI's agent panel).

Theory of mind has two views that are never mixed:
- `analyst`: per speaker, the run-wide duplicity (conflicts between what the speaker claimed to
  different audiences) and self–other overlap; nobody in the run sees these figures.
- `agents`: per observer, the surprise each speaker caused it (what that agent itself perceived).

Events are read by kind (`tom`, `info`, `memory`, `affect`), never by channel, so a section that moves
its events to another channel is still summarised.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any

from sociallm.runtime.events import Event


def _num(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _r(x: float, nd: int = 4) -> float:
    return round(x, nd) + 0.0  # + 0.0: never a "-0.0" in a report


def _stats(xs: list[float]) -> dict[str, Any]:
    return {"n": len(xs), "mean": _r(statistics.fmean(xs)), "min": _r(min(xs)), "max": _r(max(xs)), "last": _r(xs[-1])}


def affect_summary(events: list[Event]) -> dict[str, Any]:
    """agent -> valence and arousal (mean, min, max, last over every state the agent passed through),
    the number of changes and the most frequent feeling word."""
    vs: dict[str, list[float]] = defaultdict(list)
    ars: dict[str, list[float]] = defaultdict(list)
    words: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    changes: dict[str, int] = defaultdict(int)
    for ev in events:
        if ev.kind != "affect" or not isinstance(ev.payload.get("after"), dict):
            continue
        if not vs[ev.source] and isinstance(ev.payload.get("before"), dict):
            b = ev.payload["before"]
            if (v := _num(b.get("valence"))) is not None:
                vs[ev.source].append(v)
                ars[ev.source].append(_num(b.get("arousal")) or 0.0)
        a = ev.payload["after"]
        if (v := _num(a.get("valence"))) is None:
            continue
        vs[ev.source].append(v)
        ars[ev.source].append(_num(a.get("arousal")) or 0.0)
        changes[ev.source] += 1
        if a.get("word"):
            words[ev.source][str(a["word"])] += 1
    out: dict[str, Any] = {}
    for agent in sorted(vs):
        if not vs[agent]:
            continue
        w = words.get(agent) or {}
        out[agent] = {
            "changes": changes[agent],
            "valence": _stats(vs[agent]),
            "arousal": _stats(ars[agent]),
            "most_felt": max(sorted(w), key=lambda k: w[k]) if w else None,
        }
    return out


def memory_summary(events: list[Event]) -> dict[str, Any]:
    """agent -> records written, reflections (and the insights they stored), retrievals (and records
    returned), forgotten on resume, mean importance of what was written."""
    out: dict[str, dict[str, Any]] = {}
    importance: dict[str, list[float]] = defaultdict(list)
    for ev in events:
        if ev.kind != "memory":
            continue
        p = ev.payload
        s = out.setdefault(
            ev.source, {"records": 0, "reflections": 0, "insights": 0, "retrievals": 0, "retrieved": 0, "forgotten": 0}
        )
        ids = p.get("ids") if isinstance(p.get("ids"), list) else []
        op = p.get("op")
        if op == "add":
            s["records"] += len(ids)
            importance[ev.source] += [x for v in p.get("importance") or [] if (x := _num(v)) is not None]
        elif op == "reflection":
            s["reflections"] += 1
            s["insights"] += len(ids)
        elif op == "retrieve":
            s["retrievals"] += 1
            s["retrieved"] += len(ids)
        elif op == "forget":
            s["forgotten"] += len(ids)
    for agent, xs in importance.items():
        out[agent]["mean_importance"] = _r(statistics.fmean(xs), 2) if xs else None
    return dict(sorted(out.items()))


def tom_summary(events: list[Event]) -> dict[str, Any]:
    """The analyst's view per speaker (duplicity and overlap across all observers: last, mean, max) and
    each observer's own view (mean surprise per speaker it heard). Messages counted per speaker."""
    dup: dict[str, list[float]] = defaultdict(list)
    ovl: dict[str, list[float]] = defaultdict(list)
    messages: dict[str, int] = defaultdict(int)
    surprise: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    self_surprise: dict[str, list[float]] = defaultdict(list)
    # One observer's own read-out ({"observer", "target" or "speaker", "surprise": x}), should the
    # section publish the agent view per observer: used where no per-message event gives it.
    felt: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for ev in events:
        if ev.kind != "tom":
            continue
        p = ev.payload
        if (x := _num(p.get("surprise"))) is not None:
            observer, target = p.get("observer") or ev.source, p.get("target") or p.get("speaker")
            if isinstance(observer, str) and isinstance(target, str) and observer != target:
                felt[observer][target].append(x)
            continue
        speaker = p.get("speaker") or ev.source
        if not isinstance(speaker, str) or not isinstance(p.get("surprise"), dict):
            continue  # not a per-message read-out (e.g. a future analyst summary event)
        messages[speaker] += 1
        if (d := _num(p.get("duplicity"))) is not None:
            dup[speaker].append(d)
        if (o := _num(p.get("overlap"))) is not None:
            ovl[speaker].append(o)
        if (s := _num(p.get("self_surprise"))) is not None:
            self_surprise[speaker].append(s)
        for observer, value in (p.get("surprise") or {}).items():
            if (x := _num(value)) is not None:
                surprise[observer][speaker].append(x)
    if not surprise:
        surprise = felt
    if not messages and not surprise:
        return {}
    analyst: dict[str, Any] = {}
    for speaker in sorted(messages):
        row: dict[str, Any] = {"messages": messages[speaker]}
        for key, xs in (
            ("duplicity", dup[speaker]),
            ("overlap", ovl[speaker]),
            ("self_surprise", self_surprise[speaker]),
        ):
            row[key] = _stats(xs) if xs else None
        heard = [x for obs in surprise.values() for x in obs.get(speaker, [])]
        row["surprise"] = _stats(heard) if heard else None  # over every observer who heard it
        analyst[speaker] = row
    agents = {
        obs: {spk: {"mean": _r(statistics.fmean(xs)), "n": len(xs)} for spk, xs in sorted(by.items()) if xs}
        for obs, by in sorted(surprise.items())
    }
    return {"analyst": analyst, "agents": agents}


def info_summary(events: list[Event]) -> dict[str, Any]:
    """Bits per message (and per token) by speaker, over all observers, and by observer, over all speakers;
    plus the (observer, speaker) pairs."""
    pairs: dict[tuple[str, str], list[tuple[float, float | None]]] = defaultdict(list)
    for ev in events:
        if ev.kind != "info":
            continue
        p = ev.payload
        bits = _num(p.get("bits"))
        speaker, observer = p.get("speaker"), p.get("observer") or ev.source
        if bits is None or not isinstance(speaker, str) or not isinstance(observer, str):
            continue
        pairs[(observer, speaker)].append((bits, _num(p.get("bits_per_token"))))
    if not pairs:
        return {}

    def row(items: list[tuple[float, float | None]]) -> dict[str, Any]:
        bpt = [b for _, b in items if b is not None]
        return {
            "scores": len(items),
            "bits_per_message": _r(statistics.fmean(b for b, _ in items), 3),
            "bits_per_token": _r(statistics.fmean(bpt), 3) if bpt else None,
        }

    by_speaker: dict[str, list[tuple[float, float | None]]] = defaultdict(list)
    by_observer: dict[str, list[tuple[float, float | None]]] = defaultdict(list)
    for (obs, spk), items in pairs.items():
        by_speaker[spk] += items
        by_observer[obs] += items
    return {
        "by_speaker": {k: row(v) for k, v in sorted(by_speaker.items())},
        "by_observer": {k: row(v) for k, v in sorted(by_observer.items())},
        "pairs": {f"{obs}>{spk}": row(v) for (obs, spk), v in sorted(pairs.items())},
    }


def summarise_sections(events: list[Event]) -> dict[str, Any]:
    """Every section that logged something: {"affect": ..., "memory": ..., "tom": ..., "info": ...}."""
    out = {
        "affect": affect_summary(events),
        "memory": memory_summary(events),
        "tom": tom_summary(events),
        "info": info_summary(events),
    }
    return {k: v for k, v in out.items() if v}
