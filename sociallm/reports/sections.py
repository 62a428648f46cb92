"""How the per-agent section summaries (`sociallm.orchestration.section_summary`) are shown: report.md
tables, one plot per section, and a running tally for the TUI's agent panel.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from sociallm.orchestration.section_summary import _num, _r
from sociallm.runtime.events import Event

# --------------------------------------------------------------------------------------------------
# Markdown


def _f(x: Any, nd: int = 2) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{_r(x, nd):.{nd}f}"
    return str(x)


def _mm(s: dict[str, Any] | None, nd: int = 2) -> str:
    """mean [min, max] of a _stats dict."""
    if not s:
        return "—"
    return f"{_f(s['mean'], nd)} [{_f(s['min'], nd)}, {_f(s['max'], nd)}]"


def markdown_lines(summary: dict[str, Any]) -> list[str]:
    """report.md's section summaries: one table per section that ran."""
    md: list[str] = []
    if aff := summary.get("affect"):
        md += [
            "## Affect by agent",
            "",
            "| agent | changes | valence mean [min, max] | arousal mean [min, max] | "
            "last (valence, arousal) | most felt |",
            "| -- | --: | --: | --: | --: | -- |",
        ]
        for agent, s in aff.items():
            md.append(
                f"| {agent} | {s['changes']} | {_mm(s['valence'])} | {_mm(s['arousal'])} | "
                f"{_f(s['valence']['last'])}, {_f(s['arousal']['last'])} | {s.get('most_felt') or '—'} |"
            )
        md.append("")
    if mem := summary.get("memory"):
        md += [
            "## Memory by agent",
            "",
            "| agent | records | mean importance | reflections (insights) | "
            "retrievals (records returned) | forgotten on resume |",
            "| -- | --: | --: | --: | --: | --: |",
        ]
        for agent, s in mem.items():
            md.append(
                f"| {agent} | {s['records']} | {_f(s.get('mean_importance'))} | {s['reflections']} ({s['insights']}) "
                f"| {s['retrievals']} ({s['retrieved']}) | {s['forgotten']} |"
            )
        md.append("")
    if tom := summary.get("tom"):
        md += [
            "## Theory of mind",
            "",
            "Analyst view (never shown to agents): each speaker's duplicity (how far the claims it made to "
            "different audiences conflict) and self–other overlap, over its messages; the surprise it caused, over "
            "every observer.",
            "",
            "| speaker | messages | duplicity last | duplicity mean [min, max] | overlap mean | surprise caused mean "
            "[min, max] |",
            "| -- | --: | --: | --: | --: | --: |",
        ]
        for spk, s in tom["analyst"].items():
            dup = s.get("duplicity")
            md.append(
                f"| {spk} | {s['messages']} | {_f(dup['last'], 3) if dup else '—'} | {_mm(dup, 3)} | "
                f"{_f(s['overlap']['mean'], 3) if s.get('overlap') else '—'} | {_mm(s.get('surprise'), 3)} |"
            )
        md.append("")
        if tom.get("agents"):
            speakers = sorted({spk for by in tom["agents"].values() for spk in by})
            md += [
                "Agent view: the mean surprise each observer felt at each speaker (what that agent perceived).",
                "",
                "| observer | " + " | ".join(speakers) + " |",
                "| -- |" + " --: |" * len(speakers),
            ]
            for obs, by in tom["agents"].items():
                md.append(f"| {obs} | " + " | ".join(_f(by[s]["mean"], 3) if s in by else "—" for s in speakers) + " |")
            md.append("")
    if info := summary.get("info"):
        md += [
            "## Information content",
            "",
            "Bits (−log2 P(text | context)) per message, and per token.",
            "",
            "| | agent | scores | bits / message | bits / token |",
            "| -- | -- | --: | --: | --: |",
        ]
        for role, key in (("speaker", "by_speaker"), ("observer", "by_observer")):
            for agent, s in info[key].items():
                md.append(
                    f"| {role} | {agent} | {s['scores']} | {_f(s['bits_per_message'], 1)} | {_f(s['bits_per_token'])} |"
                )
        md.append("")
    return md


# --------------------------------------------------------------------------------------------------
# Plots


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    return plt


def plot_sections(run_dir: Path, events: list[Event], summary: dict[str, Any]) -> list[str]:
    """One PNG per section with something to draw (affect.png is report.py's); returns the file names."""
    plots = []
    for name, fn in (("memory.png", _plot_memory), ("tom.png", _plot_tom), ("info.png", _plot_info)):
        if fn(Path(run_dir) / name, events, summary):
            plots.append(name)
    return plots


def _plot_memory(path: Path, events: list[Event], summary: dict[str, Any]) -> bool:
    mem = summary.get("memory")
    if not mem:
        return False
    plt = _plt()
    agents = list(mem)
    fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(agents) + 2), 3.6))
    width = 0.27
    for k, (key, label) in enumerate(
        (("records", "records"), ("insights", "reflection insights"), ("retrievals", "retrievals"))
    ):
        xs = [i + (k - 1) * width for i in range(len(agents))]
        ax.bar(xs, [mem[a][key] for a in agents], width, label=label)
    ax.set_xticks(range(len(agents)), agents)
    ax.set(ylabel="count", title=f"Memory: {path.parent.name}")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _plot_tom(path: Path, events: list[Event], summary: dict[str, Any]) -> bool:
    if not summary.get("tom"):
        return False
    dup: dict[str, list[tuple[int, float]]] = defaultdict(list)
    sur: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for ev in events:
        if ev.kind != "tom" or not isinstance(ev.payload.get("surprise"), dict):
            continue
        p = ev.payload
        speaker = p.get("speaker") or ev.source
        if (d := _num(p.get("duplicity"))) is not None:
            dup[speaker].append((ev.tick, d))
        xs = [x for v in (p.get("surprise") or {}).values() if (x := _num(v)) is not None]
        if xs:
            sur[speaker].append((ev.tick, statistics.fmean(xs)))
    plt = _plt()
    from matplotlib.ticker import MaxNLocator

    fig, (ax_d, ax_s) = plt.subplots(2, 1, sharex=True, figsize=(9, 5.5))
    speakers = sorted(set(dup) | set(sur))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, series, label in (
        (ax_d, dup, "duplicity (analyst view: all observers' beliefs about the speaker)"),
        (ax_s, sur, "surprise the speaker caused (mean over its observers)"),
    ):
        for k, speaker in enumerate(speakers):
            if speaker in series:  # one colour, marker and dash per speaker in both panels; equal lines stay visible
                style = {"marker": "osD^v<>px*"[k % 10], "linestyle": ["-", "--", "-.", ":"][k % 4], "alpha": 0.85}
                ax.plot(*_per_round(series[speaker]), color=colours[k % len(colours)], label=speaker, **style)
        ax.set_title(label, fontsize="small")
        ax.grid(alpha=0.3)
    ax_d.set(ylabel="duplicity")
    ax_s.set(ylabel="surprise", xlabel="round")
    fig.suptitle(f"Theory of mind per speaker: {path.parent.name}")
    ax_d.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax_s.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _per_round(pts: list[tuple[int, float]]) -> tuple[list[int], list[float]]:
    by: dict[int, list[float]] = defaultdict(list)
    for t, x in pts:
        by[t].append(x)
    ticks = sorted(by)
    return ticks, [statistics.fmean(by[t]) for t in ticks]


def _plot_info(path: Path, events: list[Event], summary: dict[str, Any]) -> bool:
    info = summary.get("info")
    if not info:
        return False
    pairs = info["pairs"]
    observers = sorted({k.split(">", 1)[0] for k in pairs})
    speakers = sorted({k.split(">", 1)[1] for k in pairs})
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(speakers) + 3), max(3, 0.6 * len(observers) + 2)))
    grid = [[pairs.get(f"{o}>{s}", {}).get("bits_per_message", math.nan) for s in speakers] for o in observers]
    im = ax.imshow(grid, cmap="magma", aspect="auto")
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            if not math.isnan(v):
                ax.text(
                    j,
                    i,
                    f"{v:.1f}",
                    ha="center",
                    va="center",
                    color="white" if v < max(map(max, grid)) * 0.6 else "black",
                    fontsize=8,
                )
    ax.set_xticks(range(len(speakers)), speakers)
    ax.set_yticks(range(len(observers)), observers)
    ax.set(xlabel="speaker", ylabel="observer", title=f"Bits per message: {path.parent.name}")
    fig.colorbar(im, ax=ax, label="bits / message")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------------------------------
# Live: the TUI folds events one at a time


class _Acc:
    __slots__ = ("last", "max", "min", "n", "total")

    def __init__(self) -> None:
        self.n, self.total, self.min, self.max, self.last = 0, 0.0, math.inf, -math.inf, 0.0

    def add(self, x: float) -> None:
        self.n += 1
        self.total += x
        self.min, self.max, self.last = min(self.min, x), max(self.max, x), x

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else math.nan


class SectionTally:
    """Running per-agent section figures for a live view (same definitions as `summarise_sections`)."""

    KINDS = frozenset({"affect", "memory", "tom", "info"})

    def __init__(self) -> None:
        self.valence: dict[str, _Acc] = defaultdict(_Acc)
        self.arousal: dict[str, _Acc] = defaultdict(_Acc)
        self.memory: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.duplicity: dict[str, _Acc] = defaultdict(_Acc)
        self.caused: dict[str, _Acc] = defaultdict(_Acc)  # surprise a speaker caused, all observers
        self.felt: dict[str, _Acc] = defaultdict(_Acc)  # surprise an observer felt, all speakers
        self.bits_said: dict[str, _Acc] = defaultdict(_Acc)
        self.bits_heard: dict[str, _Acc] = defaultdict(_Acc)

    def add(self, ev: Event) -> None:
        p = ev.payload
        if ev.kind == "affect" and isinstance(p.get("after"), dict):
            if ev.source not in self.valence and isinstance(p.get("before"), dict):
                if (v := _num(p["before"].get("valence"))) is not None:
                    self.valence[ev.source].add(v)
                    self.arousal[ev.source].add(_num(p["before"].get("arousal")) or 0.0)
            if (v := _num(p["after"].get("valence"))) is not None:
                self.valence[ev.source].add(v)
                self.arousal[ev.source].add(_num(p["after"].get("arousal")) or 0.0)
        elif ev.kind == "memory":
            ids = p.get("ids") if isinstance(p.get("ids"), list) else []
            key = {"add": "records", "reflection": "insights", "retrieve": "retrievals"}.get(str(p.get("op")))
            if key:
                self.memory[ev.source][key] += 1 if key == "retrievals" else len(ids)
            if p.get("op") == "reflection":
                self.memory[ev.source]["reflections"] += 1
        elif ev.kind == "tom" and isinstance(p.get("surprise"), dict):
            speaker = p.get("speaker") or ev.source
            if (d := _num(p.get("duplicity"))) is not None:
                self.duplicity[speaker].add(d)
            for observer, value in (p.get("surprise") or {}).items():
                if (x := _num(value)) is not None:
                    self.caused[speaker].add(x)
                    self.felt[observer].add(x)
        elif ev.kind == "info" and (bits := _num(p.get("bits"))) is not None:
            if isinstance(p.get("speaker"), str):
                self.bits_said[p["speaker"]].add(bits)
            self.bits_heard[str(p.get("observer") or ev.source)].add(bits)

    def lines(self, agent: str) -> list[str]:
        """One short line per section that has figures about this agent."""
        out = []
        if (v := self.valence.get(agent)) and v.n:
            a = self.arousal[agent]
            out.append(
                f"affect: valence {_f(v.mean)} [{_f(v.min)}, {_f(v.max)}], "
                f"arousal {_f(a.mean)} [{_f(a.min)}, {_f(a.max)}]"
            )
        if m := self.memory.get(agent):
            out.append(
                f"memory: {m['records']} records, {m['reflections']} reflections ({m['insights']} insights), "
                f"{m['retrievals']} retrievals"
            )
        d, c, f = self.duplicity.get(agent), self.caused.get(agent), self.felt.get(agent)
        if (d and d.n) or (c and c.n) or (f and f.n):
            parts = []
            if d and d.n:
                parts.append(f"duplicity {_f(d.last, 3)} (max {_f(d.max, 3)}; analyst view)")
            if c and c.n:
                parts.append(f"surprise caused {_f(c.mean, 2)}")
            if f and f.n:
                parts.append(f"felt {_f(f.mean, 2)}")
            out.append("theory of mind: " + ", ".join(parts))
        s, h = self.bits_said.get(agent), self.bits_heard.get(agent)
        if (s and s.n) or (h and h.n):
            parts = []
            if s and s.n:
                parts.append(f"{_f(s.mean, 1)} bits/message said")
            if h and h.n:
                parts.append(f"{_f(h.mean, 1)} heard")
            out.append("info: " + ", ".join(parts))
        return out
