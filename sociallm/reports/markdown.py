"""Markdown reports with PNG plots, for one run folder or a whole sweep folder.

A run's report reads `events.jsonl`, `manifest.json` and `metrics.json`; a sweep's reads
`results.parquet` (the tidy table), `sweep.json` and each condition's benchmarks event. What is
plotted is what the run's game declares in its `view` (environments/view.py): its plots with
reference lines from the run's own benchmarks event, its per-round tables, its headline metrics and
curves; affect trajectories when the run has emotion. Sweeps: headline metrics by condition with 95%
confidence intervals (Student t over seeds), per-round curves by condition, each condition's
reference lines from its own runs; a metric whose scale depends on the parameters is normalised per
run and flagged where the conditions' scales differ.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from sociallm.environments import environment_view
from sociallm.environments.view import EMPTY, Axis, GameView, Plot, benchmarks_of
from sociallm.orchestration.section_summary import summarise_sections
from sociallm.reports.sections import markdown_lines, plot_sections
from sociallm.reports.stats import mean_ci
from sociallm.runtime.eventlog import EVENTS_FILE, read_events
from sociallm.runtime.events import Event

REPORT_MD = "report.md"


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


def game_view(manifest: dict[str, Any]) -> GameView:
    """The view the run's game declares (found through the registry, plug-ins included)."""
    kind = ((manifest.get("scenario") or {}).get("environment") or {}).get("kind")
    return environment_view(kind) if kind else EMPTY


def _values(e: Event, key: str) -> dict[str, float]:
    """`payload[key]` as owner -> number ("" for a market-level number); non-numbers are left out."""
    v = e.payload.get(key)
    if isinstance(v, dict):
        return {str(k): float(x) for k, x in v.items() if isinstance(x, int | float) and not isinstance(x, bool)}
    if isinstance(v, int | float):  # bools too: a yes/no outcome counts as 1/0
        return {"": float(v)}
    return {}


def _draw_axis(ax: Any, axis: Axis, rows: list[Event], bench: dict[str, Any]) -> None:
    from matplotlib.ticker import MaxNLocator

    ticks = [e.tick for e in rows]
    # Agents often play the same value: distinct markers, dashes and a slight offset keep every line visible.
    markers, dashes = "osD^v<>px*", ["-", "--", "-.", ":"]
    for series in axis.series:
        owners = list(dict.fromkeys(k for e in rows for k in _values(e, series.key)))
        for k, owner in enumerate(owners):
            ys = [_values(e, series.key).get(owner, math.nan) for e in rows]
            label = owner if series.per_agent else series.name
            if series.style == "cumulative_rate":
                total, out = 0.0, []
                for i, y in enumerate(ys, start=1):
                    total += 0.0 if math.isnan(y) else y
                    out.append(total / i)
                ax.plot(ticks, out, marker="o", label=f"{series.name} (cumulative rate)")
                ax.set_ylim(-0.05, 1.05)
            elif series.style == "step":
                ax.step(ticks, ys, where="mid", color="black", linestyle="--", label=label)
            elif series.per_agent:
                dx = (k - (len(owners) - 1) / 2) * 0.06
                ax.plot([t + dx for t in ticks], ys, marker=markers[k % 10], linestyle=dashes[k % 4], alpha=0.85,
                        label=label)  # fmt: skip
            else:
                ax.plot(ticks, ys, marker="o", label=label)
    for ref, style in zip(axis.lines, ("--", ":", "-."), strict=False):
        x = ref.resolve(bench)
        if x is not None:
            label = f"{ref.label or ref.key} {x:.3f}" if ref.key else (ref.label or f"{x:g}")
            ax.axhline(x, color="grey" if style == "--" else "black", linestyle=style, label=label)
    ax.set(ylabel=axis.ylabel)
    # Outside the axes: inside, the legend covered the reference lines.
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # rounds are whole numbers
    ax.grid(alpha=0.3)


def plot_declared(run_dir: Path, plot: Plot, outs: list[Event], bench: dict[str, Any]) -> str | None:
    """One declared plot of a run; None when the run has no outcome carrying its series."""
    keys = {s.key for axis in plot.axes for s in axis.series}
    rows = [e for e in outs if keys & set(e.payload)]
    if not rows:
        return None
    plt = _plt()
    fig, axes = plt.subplots(len(plot.axes), 1, sharex=True, figsize=(9.5, 1.5 + 2.5 * len(plot.axes)), squeeze=False)
    for ax, axis in zip(axes[:, 0], plot.axes, strict=True):
        _draw_axis(ax, axis, rows, bench)
    axes[0, 0].set(title=f"{plot.title}: {run_dir.name}")
    axes[-1, 0].set(xlabel="round")
    fig.tight_layout()
    fig.savefig(run_dir / plot.file, dpi=100)
    plt.close(fig)
    return plot.file


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
    bench = benchmarks_of(events)
    view = game_view(manifest)
    plots = [p for p in (plot_declared(run_dir, plot, outs, bench) for plot in view.plots) if p]
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
    for table in view.tables:
        lines = _round_table(outs, table.keys)
        if lines:
            md += [f"## {table.title}", "", *lines, ""]
    try:
        plot_affect(run_dir)
        plots.append(AFFECT_PNG)
        md += ["## Affect", "", f"![affect]({AFFECT_PNG})", ""]
    except ReportError:
        md += ["(No affect events: the run had no emotion section.)", ""]
    summary = summarise_sections(events)
    md += markdown_lines(summary)
    for p in plot_sections(run_dir, events, summary):
        plots.append(p)
        md += [f"![{p}]({p})", ""]
    if log.problems:
        md += ["## Log problems", "", *[f"- {p}" for p in log.problems], ""]
    path = run_dir / REPORT_MD
    path.write_text("\n".join(md), encoding="utf-8")
    return path, plots


# --------------------------------------------------------------------------------------------------
# A sweep.


def _condition_benchmarks(sweep_dir: Path, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each condition's reference values, from the benchmarks event of its first run: computed by the game
    from that condition's own parameters (another α or n gives other lines)."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        cond = r["condition"]
        if cond in out:
            continue
        path = sweep_dir / r["run"] / EVENTS_FILE
        out[cond] = benchmarks_of(read_events(path).events) if path.exists() else {}
    return out


def _normalised(metric: Any, rows: list[dict[str, Any]]) -> tuple[dict[str, list[float]], bool]:
    """Per condition, each run's (x − lo)/(hi − lo) from that run's own lo and hi metrics, and whether
    lo/hi differ between conditions (then the raw values are not comparable)."""
    lo_key, hi_key = metric.normalise
    by_run: dict[str, dict[str, Any]] = defaultdict(dict)
    for r in rows:
        if r["round"] is None and not r["agent"] and r["metric"] in (metric.key, lo_key, hi_key):
            by_run[r["run"]][r["metric"]] = r["value"]
            by_run[r["run"]]["condition"] = r["condition"]
    out: dict[str, list[float]] = defaultdict(list)
    scales: dict[str, set[tuple[float, float]]] = defaultdict(set)
    for vals in by_run.values():
        x, lo, hi = vals.get(metric.key), vals.get(lo_key), vals.get(hi_key)
        if x is None or lo is None or hi is None or abs(hi - lo) < 1e-12:
            continue
        out[vals["condition"]].append((x - lo) / (hi - lo))
        scales[vals["condition"]].add((round(lo, 9), round(hi, 9)))
    differ = len({sc for v in scales.values() for sc in v}) > 1
    return out, differ


def sweep_report(sweep_dir: Path) -> tuple[Path, list[str]]:
    from sociallm.orchestration.sweep import read_results

    sweep_dir = Path(sweep_dir)
    rows = read_results(sweep_dir)
    plan = json.loads((sweep_dir / "sweep.json").read_text(encoding="utf-8"))
    conditions = [c["name"] for c in plan.get("conditions", [])]
    first = next((Path(sweep_dir) / r["run"] for r in rows), None)
    manifest = _manifest(first) if first else {}
    view = game_view(manifest)
    curve_keys = {s.key for axis in view.curves for s in axis.series}
    run_level: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    curves: dict[str, dict[str, dict[int, list[float]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    per_run_round: dict[tuple[str, str, str, int], list[float]] = defaultdict(list)
    for r in rows:
        if r["round"] is None and not r["agent"]:
            run_level[r["metric"]][r["condition"]].append(r["value"])
        elif r["round"] is not None and r["metric"] in curve_keys:
            per_run_round[(r["metric"], r["condition"], r["run"], r["round"])].append(r["value"])
    for (metric, cond, _run, rnd), values in per_run_round.items():
        curves[metric][cond][rnd].append(sum(values) / len(values))  # mean over agents within a run
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
    headline = [m for m in view.headline if m.key in run_level]
    notes: list[str] = []
    table: list[tuple[str, dict[str, list[float]]]] = []
    for m in headline:
        name = m.key
        if not m.comparable and m.normalise is not None:
            normalised, differ = _normalised(m, rows)
            if differ:
                name = f"{m.key} ⚠"
                notes.append(
                    f"⚠ `{m.key}` is on a scale that differs between these conditions (each has its own "
                    f"{m.normalise[0]} and {m.normalise[1]}): compare `{m.key} (normalised)`, which puts each "
                    f"run's value at 0 for its own {m.normalise[0]} and 1 for its own {m.normalise[1]}."
                )
            table.append((name, run_level[m.key]))
            if normalised:
                table.append((f"{m.key} (normalised)", normalised))
            continue
        table.append((name, run_level[m.key]))
    plots: list[str] = []
    if table:
        md += ["## Results by condition (mean over seeds, 95% CI)", "",
               "| metric | " + " | ".join(conditions) + " |", "| -- |" + " --: |" * len(conditions)]  # fmt: skip
        for name, by_condition in table:
            cells = []
            for c in conditions:
                vals = by_condition.get(c, [])
                mean, lo, hi = mean_ci(vals)
                cells.append(f"{_fmt(mean)} [{_fmt(lo)}, {_fmt(hi)}] (n={len(vals)})" if vals else "—")
            md.append(f"| {name} | " + " | ".join(cells) + " |")
        md += ["", *notes, ""] if notes else [""]
        plotted = [(name, by, view.metric(name.split(" ")[0])) for name, by in table][:4]
        plots.append(_plot_by_condition(sweep_dir, plotted, conditions))
        md += [f"![by condition]({plots[-1]})", ""]
    drawn = [axis for axis in view.curves if any(s.key in curves for s in axis.series)][:3]
    if drawn:
        bench = _condition_benchmarks(sweep_dir, rows)
        plots.append(_plot_curves(sweep_dir, drawn, curves, conditions, bench))
        md += ["## Per-round curves (mean over seeds, 95% CI band)", ""]
        if any(axis.lines for axis in drawn):
            md += ["Reference lines are each condition's own (from its runs' parameters), in its colour.", ""]
        md += [f"![curves]({plots[-1]})", ""]
    path = sweep_dir / REPORT_MD
    path.write_text("\n".join(md), encoding="utf-8")
    return path, plots


def _plot_by_condition(
    sweep_dir: Path, metrics: list[tuple[str, dict[str, list[float]], Any]], conditions: list[str]
) -> str:
    plt = _plt()
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3.8), squeeze=False)
    for ax, (name, by_condition, metric) in zip(axes[0], metrics, strict=True):
        stats = [mean_ci(by_condition.get(c, [])) for c in conditions]
        means = [s[0] for s in stats]
        err = [[s[0] - s[1] for s in stats], [s[2] - s[0] for s in stats]]
        ax.errorbar(range(len(conditions)), means, yerr=err, fmt="o", capsize=5)
        for k, c in enumerate(conditions):
            vals = by_condition.get(c, [])
            ax.scatter([k] * len(vals), vals, alpha=0.35, s=12, color="grey")
        normalised = name.endswith("(normalised)")
        lo, hi = (0.0, 1.0) if normalised else ((metric.lo, metric.hi) if metric is not None else (None, None))
        if lo is not None:
            ax.axhline(lo, color="grey", linestyle="--", linewidth=0.8, label=f"{lo:g}")
        if hi is not None:
            ax.axhline(hi, color="black", linestyle=":", linewidth=0.8, label=f"{hi:g}")
        if lo is not None or hi is not None:
            ax.legend(fontsize="x-small")
        ax.set_xticks(range(len(conditions)), conditions, rotation=20, fontsize=8)
        title = metric.name if metric is not None and not normalised and not name.endswith("⚠") else name
        ax.set(title=title)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(sweep_dir / "by_condition.png", dpi=100)
    plt.close(fig)
    return "by_condition.png"


def _plot_curves(
    sweep_dir: Path,
    drawn: list[Axis],
    curves: dict[str, dict[str, dict[int, list[float]]]],
    conditions: list[str],
    bench: dict[str, dict[str, Any]],
) -> str:
    plt = _plt()
    fig, axes = plt.subplots(len(drawn), 1, figsize=(8, 3 * len(drawn)), sharex=True, squeeze=False)
    colours = {c: f"C{k % 10}" for k, c in enumerate(conditions)}
    for ax, axis in zip(axes[:, 0], drawn, strict=True):
        for series in axis.series:
            for c in conditions:
                by_round = curves.get(series.key, {}).get(c)
                if not by_round:
                    continue
                ticks = sorted(by_round)
                stats = [mean_ci(by_round[t]) for t in ticks]
                label = c if len(axis.series) == 1 else f"{series.name}, {c}"
                ax.plot(ticks, [s[0] for s in stats], marker="o", label=label, color=colours[c])
                ax.fill_between(ticks, [s[1] for s in stats], [s[2] for s in stats], alpha=0.2, color=colours[c])
        for ref, style in zip(axis.lines, ("--", ":", "-."), strict=False):
            for c in conditions:
                x = ref.resolve(bench.get(c, {}))
                if x is not None:
                    ax.axhline(x, color=colours[c], linestyle=style, linewidth=0.9, label=f"{ref.label} ({c})")
        ax.set(ylabel=axis.ylabel)
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    axes[-1, 0].set(xlabel="round")
    fig.tight_layout()
    fig.savefig(sweep_dir / "curves.png", dpi=100)
    plt.close(fig)
    return "curves.png"
