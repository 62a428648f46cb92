"""The per-shift duplicity table of `sociallm tom eval --facts N`: contrast sets with unseen vocabulary.

For each scorer (the claim read-out and the baselines of tom_eval.METHODS) a threshold is chosen on
the validation split (names, templates and topics all from `val`: the lowest that flags at most
MAX_FALSE_FLAGS of the honest runs there; a researcher reads a flag as "this speaker lies", so its
false-flag rate is what is held fixed). Then, on each shift of the test
vocabulary — unseen names only, unseen templates only, unseen topics only, all three — per honest
class against the deceptive runs: AUC with a 95% bootstrap interval, and the share of that honest
class flagged at the validation threshold (false flags); and each deceptive class's detection rate.
The same for each held-out set written by hand (`HELD_OUT`, tom_wild.py), at the same thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from sociallm.agents.tom_bank import ToMModel
from sociallm.agents.tom_data import Embedder, RunData
from sociallm.agents.tom_eval import METHODS, score_run
from sociallm.agents.tom_facts import DECEPTIVE, HONEST, make_runs
from sociallm.agents.tom_wild import scenes, wild_runs

LABELS = {**METHODS, "lm_judge": "baseline: LM contradiction judge"}

# shift name -> (names, templates, topics) splits
SHIFTS = {
    "names": ("test", "train", "train"),
    "templates": ("train", "test", "train"),
    "topics": ("train", "train", "test"),
    "all": ("test", "test", "test"),
}

# held-out sets built by hand: name -> (scene set of tom_wild.py, what the set is, for the table)
HELD_OUT_SETS = {
    "hand-written": ("a", "read while building the slot rules (tom_slots.py): a development set since"),
    "hand-written B": ("b", "written by someone who saw no read-out code or figure; never read while building"),
    "hand-written C": ("c", "written later the same way, in 17 other settings; never read while building"),
    "hand-written D": ("d", "written the same way, in 17 more settings; read while building the rules of 2026-11-30"),
    "hand-written E": ("e", "written last the same way, in 15 more settings; scored once, after the last change"),
}
# name -> (per_class, seed) -> runs; no training or threshold reads them
HELD_OUT: dict[str, Callable[[int, int], list[RunData]]] = {
    name: partial(wild_runs, scene_set=scene_set) for name, (scene_set, _) in HELD_OUT_SETS.items()
}


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    if len(pos) == 0 or len(neg) == 0:
        return math.nan
    gt = (pos[:, None] > neg[None, :]).mean()
    eq = (pos[:, None] == neg[None, :]).mean()
    return float(gt + 0.5 * eq)


def auc_ci(pos: np.ndarray, neg: np.ndarray, reps: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """AUC and its 95% percentile bootstrap interval (positives and negatives resampled separately)."""
    rng = np.random.default_rng(seed)
    point = auc(pos, neg)
    if math.isnan(point):
        return point, math.nan, math.nan
    boots = [auc(rng.choice(pos, len(pos)), rng.choice(neg, len(neg))) for _ in range(reps)]
    return point, float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


# A flag must be rare on honest speakers: the threshold lets at most this share of the validation
# split's honest runs through (Youden's J, the previous rule, let 35% of unseen paraphrasers through).
MAX_FALSE_FLAGS = 0.05


def flag_threshold(neg: np.ndarray, rate: float = MAX_FALSE_FLAGS) -> float:
    """The lowest cut that flags (score > cut) at most `rate` of the honest scores `neg`."""
    if len(neg) == 0:
        return 0.0
    values = np.sort(np.unique(neg))
    for v in values:
        if (neg > v).mean() <= rate:
            return float(v)
    return float(values[-1])


@dataclass
class ShiftResult:
    per_class: int
    rounds: int
    thresholds: dict[str, float]
    # shift -> method -> class -> scores
    scores: dict[str, dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)


def _scores(
    model: ToMModel,
    embed: Embedder,
    runs: list[RunData],
    judge: Callable[[list[RunData]], list[float]] | None = None,
):
    embed([m.text for r in runs for m in r.messages])  # one encoder pass
    out: dict[str, dict[str, list[float]]] = {m: {} for m in METHODS}
    for r in runs:
        s = score_run(model, r, embed)
        for m in METHODS:
            out[m].setdefault(str(r.kind), []).append(getattr(s, m))
    if judge is not None:
        out["lm_judge"] = {}
        for r, x in zip(runs, judge(runs), strict=True):
            out["lm_judge"].setdefault(str(r.kind), []).append(x)
    return {m: {k: np.nan_to_num(np.asarray(v), nan=0.0) for k, v in d.items()} for m, d in out.items()}


def evaluate_shifts(
    model: ToMModel,
    embed: Embedder,
    per_class: int = 30,
    rounds: int = 6,
    seed: int = 7,
    shifts=SHIFTS,
    judge: Callable[[list[RunData]], list[float]] | None = None,
    held_out=HELD_OUT,
) -> ShiftResult:
    """`judge` (optional): runs -> scores, e.g. tom_judge.judge_runs bound to a model."""
    val = _scores(model, embed, make_runs(per_class, "val", "val", "val", seed=seed, rounds=rounds), judge)
    thresholds = {}
    for m in val:
        thresholds[m] = flag_threshold(np.concatenate([val[m][k] for k in HONEST]))
    result = ShiftResult(per_class, rounds, thresholds)
    for i, (name, splits) in enumerate(shifts.items()):
        runs = make_runs(per_class, *splits, seed=seed + 1 + i, rounds=rounds)
        result.scores[name] = _scores(model, embed, runs, judge)
    for name, build in held_out.items():
        result.scores[name] = _scores(model, embed, build(per_class, seed), judge)
    return result


def summary(result: ShiftResult) -> dict[str, Any]:
    """shift -> method -> {"auc": {honest class: (auc, lo, hi)}, "false_flags": {...}, "detected": {...}}."""
    out: dict[str, Any] = {}
    for shift, by_method in result.scores.items():
        out[shift] = {}
        for m, by_class in by_method.items():
            pos = np.concatenate([by_class[k] for k in DECEPTIVE])
            cut = result.thresholds[m]
            out[shift][m] = {
                "auc": {h: auc_ci(pos, by_class[h]) for h in HONEST},
                "auc_by_deceptive": {
                    d: auc(by_class[d], np.concatenate([by_class[h] for h in HONEST])) for d in DECEPTIVE
                },
                "false_flags": {h: float((by_class[h] > cut).mean()) for h in HONEST},
                "detected": {d: float((by_class[d] > cut).mean()) for d in DECEPTIVE},
            }
    return out


def format_shift_table(result: ShiftResult, title: str = "") -> str:
    s = summary(result)
    lines = [title] if title else []
    lines.append(
        f"contrast sets (tom_facts.py): {result.per_class} runs per class per shift, {result.rounds} rounds, "
        "3-5 listeners; deceptive = conflict_same + conflict_diff; thresholds chosen on the validation split "
        f"(each flags at most {MAX_FALSE_FLAGS:.0%} of its honest runs)"
    )
    for shift, by_method in s.items():
        if shift in SHIFTS:
            lines.append(f"\nshift: unseen {shift}  (names/templates/topics from {'/'.join(SHIFTS[shift])})")
        else:
            scene_set, note = HELD_OUT_SETS.get(shift, ("a", "never trained on"))
            lines.append(
                f"\nshift: {shift}  (tom_wild.py: {result.per_class} runs per class on {len(scenes(scene_set))} "
                f"hand-written scenes, new names, topics and wording, 1-3 rounds; {note})"
            )
        head = f"  {'scorer':<31}" + "".join(f" {'vs ' + h:>20}" for h in HONEST) + f" {'thr':>6}"
        flags = "/".join(h[:4] for h in HONEST)
        lines.append(f"{head}   false flags {flags}   detected {'/'.join(DECEPTIVE)}")
        for m, r in by_method.items():
            cells = "".join(f" {a:>6.3f} [{lo:.2f},{hi:.2f}]" for a, lo, hi in (r["auc"][h] for h in HONEST))
            flags = "/".join(f"{r['false_flags'][h]:.2f}" for h in HONEST)
            det = "/".join(f"{r['detected'][d]:.2f}" for d in DECEPTIVE)
            lines.append(f"  {LABELS[m]:<31}{cells} {result.thresholds[m] + 0.0:>6.3f}   {flags:<23}   {det}")
    return "\n".join(lines)
