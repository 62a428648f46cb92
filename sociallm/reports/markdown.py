"""Markdown reports with PNG plots, for one run folder or a whole sweep folder.

A run's report reads `events.jsonl`, `manifest.json` and `metrics.json`; a sweep's reads
`results.parquet` (the tidy table) and `sweep.json`. Plots per game: Bertrand prices against the Nash
and monopoly lines and Δ per round; auction winning bid against the competitive benchmark; commons
stock and catches against the sustainability threshold; overseer coordination and flags; prisoner's
dilemma cooperation; affect trajectories when the run has emotion. Sweeps: headline metrics by
condition with 95% confidence intervals (Student t over seeds) and per-round curves by condition.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from sociallm.reports.stats import mean_ci
from sociallm.runtime.eventlog import EVENTS_FILE, read_events
from sociallm.runtime.events import Event

REPORT_MD = "report.md"

# Run-level metrics worth a row in a sweep's condition table (first match per scenario wins the plot).
HEADLINE = [
    "mean_delta",
    "mean_price",
    "mean_suppression",
    "efficiency",
    "rotation_rate",
    "cover_bid_share",
    "survival_months",
    "overuse_share",
    "gini",
    "coordination_rate",
    "detection_rate",
    "false_flag_rate",
    "undetected_coordination_rate",
    "cooperation_rate",
    "mutual_cooperation_rate",
    "collusion_index",
]
# Per-round metrics drawn as curves by condition (market-level rows, or the mean over agents).
CURVES = ["delta", "prices", "winning_bid", "suppression", "stock_after", "catches", "cooperation", "coordinated"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    return plt


def _manifest(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return "—" if math.isnan(x) else f"{x:.4g}"
    if x is None:
        return "—"
    return str(x)


def provenance(manifest: dict[str, Any]) -> list[str]:
    """What produced the data: the report must say it."""
    backend = manifest.get("backend") or {}
    pk = manifest.get("packages") or {}
    return [
        f"- scenario: `{manifest.get('scenario_name', '?')}`, seed {manifest.get('seed')}, "
        f"{manifest.get('rounds_completed', '?')}/{manifest.get('rounds', '?')} rounds, status "
        f"`{manifest.get('status', '?')}`",
        f"- backend: {backend.get('kind', '?')}"
        + (f", model `{backend['model']}`" if backend.get("model") else "")
        + (f", GGUF sha256 `{backend['gguf_sha256'][:16]}…`" if backend.get("gguf_sha256") else ""),
        "- versions: " + ", ".join(f"{k} {v}" for k, v in pk.items()),
        f"- command: `{manifest.get('command', '')}`",
    ]


# --------------------------------------------------------------------------------------------------
# One run.


def _outcomes(events: list[Event]) -> list[Event]:
    return [e for e in events if e.kind == "outcome"]


def _benchmarks(events: list[Event]) -> dict[str, Any]:
    for e in events:
        if e.kind == "system" and e.payload.get("event") == "benchmarks":
            return e.payload
    return {}


def _plot_bertrand(run_dir: Path, outs: list[Event], bench: dict[str, Any]) -> str | None:
    rows = [e for e in outs if "prices" in e.payload and "delta" in e.payload]
    if not rows:
        return None
    plt = _plt()
    fig, (ax_p, ax_d) = plt.subplots(2, 1, sharex=True, figsize=(8, 5.5))
    ticks = [e.tick for e in rows]
    for firm in rows[0].payload["prices"]:
        ax_p.plot(ticks, [e.payload["prices"].get(firm) for e in rows], marker="o", label=firm)
    if bench.get("nash_price") is not None:
        ax_p.axhline(bench["nash_price"], color="grey", linestyle="--", label="Nash")
        ax_p.axhline(bench["monopoly_price"], color="black", linestyle=":", label="monopoly")
    ax_p.set(ylabel="price", title=f"Prices: {run_dir.name}")
    ax_p.legend(fontsize="small")
    ax_d.plot(ticks, [e.payload["delta"] for e in rows], marker="o", color="tab:red")
    ax_d.axhline(0, color="grey", linestyle="--")
    ax_d.axhline(1, color="black", linestyle=":")
    ax_d.set(ylabel="Δ (0 Nash, 1 monopoly)", xlabel="round")
    for ax in (ax_p, ax_d):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(run_dir / "prices.png", dpi=100)
    plt.close(fig)
    return "prices.png"


def _plot_auction(run_dir: Path, outs: list[Event]) -> str | None:
    rows = [e for e in outs if "winning_bid" in e.payload]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4))
    ticks = [e.tick for e in rows]
    ax.plot(ticks, [e.payload["winning_bid"] for e in rows], marker="o", label="winning bid")
    ax.plot(ticks, [e.payload["benchmark_bid"] for e in rows], linestyle="--", color="grey", label="competitive bid")
    for e in rows:
        ax.annotate(e.payload["winner"], (e.tick, e.payload["winning_bid"]), fontsize=7, xytext=(2, 4),
                    textcoords="offset points")  # fmt: skip
    ax.set(xlabel="round", ylabel="bid", title=f"Auction: {run_dir.name}")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(run_dir / "auction.png", dpi=100)
    plt.close(fig)
    return "auction.png"


def _plot_commons(run_dir: Path, outs: list[Event]) -> str | None:
    rows = [e for e in outs if "stock_before" in e.payload]
    if not rows:
        return None
    plt = _plt()
    fig, (ax_s, ax_c) = plt.subplots(2, 1, sharex=True, figsize=(8, 5.5))
    ticks = [e.tick for e in rows]
    ax_s.plot(ticks, [e.payload["stock_before"] for e in rows], marker="o", label="stock at month start")
    ax_s.plot(ticks, [e.payload["stock_left"] for e in rows], marker="x", label="left after fishing")
    ax_s.axhline(5, color="red", linestyle=":", label="collapse")
    ax_s.set(ylabel="tonnes", title=f"Commons: {run_dir.name}")
    ax_s.legend(fontsize="small")
    for agent in rows[0].payload["catches"]:
        ax_c.plot(ticks, [e.payload["catches"].get(agent) for e in rows], marker=".", label=agent)
    ax_c.step(ticks, [e.payload["threshold"] for e in rows], where="mid", color="black", linestyle="--",
              label="sustainable catch")  # fmt: skip
    ax_c.set(xlabel="month", ylabel="catch")
    ax_c.legend(fontsize="small", ncol=3)
    for ax in (ax_s, ax_c):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(run_dir / "commons.png", dpi=100)
    plt.close(fig)
    return "commons.png"


def _plot_rates(run_dir: Path, outs: list[Event], keys: list[str], name: str, title: str) -> str | None:
    """Cumulative rate of boolean/0..1 per-round outcomes (coordination, detection, cooperation)."""
    rows = [e for e in outs if all(k in e.payload for k in keys)]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.6))
    ticks = [e.tick for e in rows]
    for k in keys:
        total, series = 0.0, []
        for i, e in enumerate(rows, start=1):
            total += float(e.payload[k])
            series.append(total / i)
        ax.plot(ticks, series, marker="o", label=f"{k} (cumulative rate)")
    ax.set(xlabel="round", ylabel="rate", ylim=(-0.05, 1.05), title=f"{title}: {run_dir.name}")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(run_dir / name, dpi=100)
    plt.close(fig)
    return name


def _round_table(outs: list[Event], keys: list[str]) -> list[str]:
    rows = [e for e in outs if all(k in e.payload for k in keys)]
    if not rows:
        return []
    lines = ["| round | " + " | ".join(keys) + " |", "| --: | " + " | ".join("--" for _ in keys) + " |"]
    for e in rows:
        lines.append(f"| {e.tick} | " + " | ".join(_fmt(e.payload[k]) for k in keys) + " |")
    return lines


def run_report(run_dir: Path) -> tuple[Path, list[str]]:
    """Write RUN_DIR/report.md and its plots; return the report's path and the plot files."""
    from sociallm.reports.report import AFFECT_PNG, ReportError, plot_affect

    run_dir = Path(run_dir)
    log = read_events(run_dir / EVENTS_FILE)
    events = log.events
    manifest = _manifest(run_dir)
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        metrics = {}
    outs = _outcomes(events)
    bench = _benchmarks(events)
    plots = [p for p in (_plot_bertrand(run_dir, outs, bench), _plot_auction(run_dir, outs),
                         _plot_commons(run_dir, outs),
                         _plot_rates(run_dir, outs, ["coordinated", "detected", "false_flag"], "detection.png",
                                     "Coordination and detection"),
                         _plot_rates(run_dir, outs, ["cooperation", "mutual"], "cooperation.png", "Cooperation"))
             if p]  # fmt: skip
    md = [f"# Run report: {run_dir.name}", "", *provenance(manifest), ""]
    env_metrics = metrics.get("environment") or {}
    if env_metrics:
        md += ["## Metrics", "", "| metric | value |", "| -- | --: |"]
        for k, v in env_metrics.items():
            shown = ", ".join(f"{a}: {_fmt(x)}" for a, x in v.items()) if isinstance(v, dict) else _fmt(v)
            md.append(f"| {k} | {shown} |")
        md.append("")
    if bench:
        md += ["Benchmarks (logged, never shown to agents): "
               + ", ".join(f"{k} {_fmt(v)}" for k, v in bench.items() if k != "event" and not isinstance(v, dict)),
               ""]  # fmt: skip
    for p in plots:
        md += [f"![{p}]({p})", ""]
    detection = _round_table(outs, ["target", "votes", "flagged", "coordinated", "detected"])
    if detection:
        md += ["## Coordination and detection", "", *detection, ""]
    ipd = _round_table(outs, ["moves", "payoffs"])
    if ipd:
        md += ["## Moves", "", *ipd, ""]
    try:
        plot_affect(run_dir)
        plots.append(AFFECT_PNG)
        md += ["## Affect", "", f"![affect]({AFFECT_PNG})", ""]
    except ReportError:
        md += ["(No affect events: the run had no emotion section.)", ""]
    if log.problems:
        md += ["## Log problems", "", *[f"- {p}" for p in log.problems], ""]
    path = run_dir / REPORT_MD
    path.write_text("\n".join(md), encoding="utf-8")
    return path, plots


# --------------------------------------------------------------------------------------------------
# A sweep.


def sweep_report(sweep_dir: Path) -> tuple[Path, list[str]]:
    from sociallm.orchestration.sweep import read_results

    sweep_dir = Path(sweep_dir)
    rows = read_results(sweep_dir)
    plan = json.loads((sweep_dir / "sweep.json").read_text(encoding="utf-8"))
    conditions = [c["name"] for c in plan.get("conditions", [])]
    run_level: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    curves: dict[str, dict[str, dict[int, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    per_run_round: dict[tuple[str, str, str, int], list[float]] = defaultdict(list)
    for r in rows:
        if r["round"] is None and not r["agent"]:
            run_level[r["metric"]][r["condition"]].append(r["value"])
        elif r["round"] is not None and r["metric"] in CURVES:
            per_run_round[(r["metric"], r["condition"], r["run"], r["round"])].append(r["value"])
    for (metric, cond, _run, rnd), values in per_run_round.items():
        curves[metric][cond][rnd].append(sum(values) / len(values))  # mean over agents within a run
    first = next((Path(sweep_dir) / r["run"] for r in rows), None)
    manifest = _manifest(first) if first else {}
    n_runs = len({r["run"] for r in rows})
    md = [
        f"# Sweep report: {sweep_dir.name}",
        "",
        f"`{plan.get('scenario')}`: {len(conditions)} conditions × {len(plan.get('seeds', []))} seeds "
        f"({n_runs} runs with results); base overrides `{plan.get('base')}`.",
        "",
        *provenance(manifest),
        "",
        "## Conditions",
        "",
        "| condition | overrides |",
        "| -- | -- |",
        *[f"| {c['name']} | `{c.get('overrides')}` |" for c in plan.get("conditions", [])],
        "",
    ]
    if plan.get("interventions"):
        md += ["Interventions: " + "; ".join(f"`{iv}`" for iv in plan["interventions"]), ""]
    headline = [m for m in HEADLINE if m in run_level]
    plots: list[str] = []
    if headline:
        md += ["## Results by condition (mean over seeds, 95% CI)", "",
               "| metric | " + " | ".join(conditions) + " |", "| -- |" + " --: |" * len(conditions)]  # fmt: skip
        for m in headline:
            cells = []
            for c in conditions:
                vals = run_level[m].get(c, [])
                mean, lo, hi = mean_ci(vals)
                cells.append(f"{_fmt(mean)} [{_fmt(lo)}, {_fmt(hi)}] (n={len(vals)})" if vals else "—")
            md.append(f"| {m} | " + " | ".join(cells) + " |")
        md.append("")
        plots.append(_plot_by_condition(sweep_dir, headline[:4], run_level, conditions))
        md += [f"![by condition]({plots[-1]})", ""]
    curve_metrics = [m for m in CURVES if m in curves]
    if curve_metrics:
        plots.append(_plot_curves(sweep_dir, curve_metrics[:3], curves, conditions, manifest))
        md += ["## Per-round curves (mean over seeds, 95% CI band)", "", f"![curves]({plots[-1]})", ""]
    path = sweep_dir / REPORT_MD
    path.write_text("\n".join(md), encoding="utf-8")
    return path, plots


def _plot_by_condition(
    sweep_dir: Path, metrics: list[str], run_level: dict[str, dict[str, list[float]]], conditions: list[str]
) -> str:
    plt = _plt()
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.8), squeeze=False)
    for ax, m in zip(axes[0], metrics, strict=True):
        stats = [mean_ci(run_level[m].get(c, [])) for c in conditions]
        means = [s[0] for s in stats]
        err = [[s[0] - s[1] for s in stats], [s[2] - s[0] for s in stats]]
        ax.errorbar(range(len(conditions)), means, yerr=err, fmt="o", capsize=5)
        for k, c in enumerate(conditions):
            vals = run_level[m].get(c, [])
            ax.scatter([k] * len(vals), vals, alpha=0.35, s=12, color="grey")
        if m == "mean_delta":
            ax.axhline(0, color="grey", linestyle="--", linewidth=0.8)
            ax.axhline(1, color="black", linestyle=":", linewidth=0.8)
        ax.set_xticks(range(len(conditions)), conditions, rotation=20, fontsize=8)
        ax.set(title="Δ" if m == "mean_delta" else m)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(sweep_dir / "by_condition.png", dpi=100)
    plt.close(fig)
    return "by_condition.png"


def _plot_curves(
    sweep_dir: Path,
    metrics: list[str],
    curves: dict[str, dict[str, dict[int, list[float]]]],
    conditions: list[str],
    manifest: dict[str, Any],
) -> str:
    plt = _plt()
    fig, axes = plt.subplots(len(metrics), 1, figsize=(8, 3 * len(metrics)), sharex=True, squeeze=False)
    for ax, m in zip(axes[:, 0], metrics, strict=True):
        for c in conditions:
            by_round = curves[m].get(c)
            if not by_round:
                continue
            ticks = sorted(by_round)
            stats = [mean_ci(by_round[t]) for t in ticks]
            ax.plot(ticks, [s[0] for s in stats], marker="o", label=c)
            ax.fill_between(ticks, [s[1] for s in stats], [s[2] for s in stats], alpha=0.2)
        if m == "prices":
            env = (manifest.get("scenario") or {}).get("environment", {})
            if env.get("kind") == "bertrand":
                from sociallm.environments.bertrand import equilibrium_prices

                p = env.get("params", {})
                n = len((manifest.get("scenario") or {}).get("agents", [])) or 2
                try:  # symmetric firms only; per-firm parameter lists get no lines
                    nash, mono = equilibrium_prices(n, p.get("a", 2.0), p.get("a0", 0.0), p.get("c", 1.0),
                                                    p.get("mu", 0.25))  # fmt: skip
                    alpha = p.get("alpha", 1.0)
                    ax.axhline(alpha * nash, color="grey", linestyle="--", label="Nash (first run's n)")
                    ax.axhline(alpha * mono, color="black", linestyle=":", label="monopoly")
                except (TypeError, ValueError):
                    pass
        ax.set(ylabel="Δ" if m == "delta" else m)
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    axes[-1, 0].set(xlabel="round")
    fig.tight_layout()
    fig.savefig(sweep_dir / "curves.png", dpi=100)
    plt.close(fig)
    return "curves.png"
