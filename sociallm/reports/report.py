"""Reports drawn from a run's event log: affect over time (one PNG) and a per-agent summary.

`sociallm report` also writes a Markdown report with the game's plots (see report_md.py), for a run or a sweep.

Reads `events.jsonl` and nothing else, so it works on finished, failed and interrupted runs alike.
The x axis is the round, with the changes inside one round spread evenly across it in log order, so
an appraisal, a self-label and the next round's decay stay apart and in sequence.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from sociallm.runtime.eventlog import EVENTS_FILE, read_events
from sociallm.runtime.events import Event

AFFECT_PNG = "affect.png"


class ReportError(ValueError):
    """The run folder cannot be reported on; the message says why."""


def affect_series(events: list[Event]) -> dict[str, list[tuple[float, float, float, str]]]:
    """agent -> [(x, valence, arousal, cause)], starting from the first event's `before` state."""
    by_tick: dict[int, list[Event]] = defaultdict(list)
    for ev in events:
        if ev.kind == "affect" and "after" in ev.payload:
            by_tick[ev.tick].append(ev)
    series: dict[str, list[tuple[float, float, float, str]]] = defaultdict(list)
    for tick in sorted(by_tick):
        group = by_tick[tick]
        for k, ev in enumerate(group):
            x = tick + (k + 1) / (len(group) + 1)  # round t spans [t, t + 1)
            points = series[ev.source]
            if not points:
                before = ev.payload.get("before") or ev.payload["after"]
                points.append((float(tick), float(before["valence"]), float(before["arousal"]), "start"))
            after = ev.payload["after"]
            points.append((x, float(after["valence"]), float(after["arousal"]), str(ev.payload.get("cause", ""))))
    return dict(series)


def summarize(series: dict[str, list[tuple[float, float, float, str]]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for agent, pts in sorted(series.items()):
        vs, ars = [p[1] for p in pts], [p[2] for p in pts]
        out[agent] = {
            "changes": len(pts) - 1,
            "valence": {"min": min(vs), "max": max(vs), "std": statistics.pstdev(vs), "last": vs[-1]},
            "arousal": {"min": min(ars), "max": max(ars), "std": statistics.pstdev(ars), "last": ars[-1]},
        }
    return out


def plot_affect(run_dir: Path, out: Path | None = None) -> tuple[Path, dict[str, dict[str, Any]]]:
    """Write the valence/arousal plot of every agent; return its path and the per-agent summary."""
    run_dir = Path(run_dir)
    path = run_dir / EVENTS_FILE
    if not path.exists():
        raise ReportError(f"{path}: no event log; is {run_dir} a run folder?")
    series = affect_series(read_events(path).events)
    if not series:
        raise ReportError(f"{path}: no affect events; run a scenario with `sections: {{emotion: {{}}}}`")

    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    fig, (ax_v, ax_a) = plt.subplots(2, 1, sharex=True, figsize=(9.5, 5.5))
    end = max(p[0] for pts in series.values() for p in pts)
    end = float(int(end) + 1)
    for k, (agent, pts) in enumerate(sorted(series.items())):
        # Hold the last state to the end of its round, so the last change shows as a step.
        pts = [*pts, (end, pts[-1][1], pts[-1][2], "end")]
        xs = [p[0] for p in pts]
        dash = ["-", "--", "-.", ":"][k % 4]  # agents with the same trajectory stay visible
        ax_v.step(xs, [p[1] for p in pts], where="post", label=agent, linestyle=dash, alpha=0.85)
        ax_a.step(xs, [p[2] for p in pts], where="post", label=agent, linestyle=dash, alpha=0.85)
    ax_v.set(ylabel="valence", ylim=(-1.05, 1.05), title=f"Affect over time: {run_dir.name}")
    ax_v.axhline(0.0, color="grey", linewidth=0.5)
    ax_a.set(ylabel="arousal", ylim=(-0.05, 1.05), xlabel="round")
    ax_v.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    for ax in (ax_v, ax_a):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    target = Path(out) if out is not None else run_dir / AFFECT_PNG
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target, summarize(series)
