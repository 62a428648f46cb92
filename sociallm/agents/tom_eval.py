"""Evaluation of the theory-of-mind model against ground truth: recorded runs and contrast sets.

- duplicity: AUC of telling deceptive from honest speakers, for the claim read-out (shipped), the
  previous belief read-out of the SSM states, raw states (ablation) and baselines without a model —
  the mean distance between messages sent to different listeners in one round, between the last
  messages different observers got, and between their mean-pooled histories;
- `shift_table`: the same on the contrast sets of tom_facts.py, per kind of vocabulary shift (unseen
  names, templates, topics, all) and per honest class against the deceptive ones, with 95% bootstrap
  intervals and false-flag rates at thresholds chosen on the validation split;
- surprise around the round a hidden intent changes, next to the plain novelty of each message;
- probes, where the log has labels: the hidden intent (AUC) and the speaker's logged affect (Pearson
  r, next to the lexicon reading of the message itself).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sociallm.agents.affect import appraise_text
from sociallm.agents.tom_bank import StateBank, ToMModel
from sociallm.agents.tom_brief import check as brief_check
from sociallm.agents.tom_claims import ClaimLedger, audience_of, pieces_for
from sociallm.agents.tom_data import NAN, Embedder, Message, RunData

METHODS = {
    "ssm": "claim read-out (duplicity)",
    "lexical": "baseline: same claim rule on words",
    "learned": "ablation: learned content weights",
    "belief": "previous: SSM belief spread",
    "raw_state": "ablation: raw states",
    "same_round": "baseline: same-round distance",
    "last_message": "baseline: last-message embeddings",
    "mean_pooled": "baseline: mean-pooled history",
}


def _pairwise_distance(vecs: list[torch.Tensor]) -> float:
    if len(vecs) < 2:
        return NAN
    v = F.normalize(torch.stack(vecs).flatten(1), dim=-1)
    n = len(v)
    return float(1.0 - ((v @ v.T).sum() - n) / (n * (n - 1)))


@dataclass
class RunScores:
    name: str
    deceptive: bool | None
    ssm: float  # the shipped duplicity: claim conflicts between audiences (0.0: none seen)
    lexical: float  # the same ledger and gates on plain words (function words out, equal words match): no model
    learned: float  # the claim read-out without its plain-word half: the role read-out's content weights alone
    belief: float  # the previous read-out: spread of the SSM states' belief read-outs
    raw_state: float  # the ablation: spread of raw states
    same_round: float  # baseline: mean distance between messages of one round to different audiences
    last_message: float
    mean_pooled: float
    surprise: dict[int, float]  # tick -> mean surprise of the observers of the scripted speaker
    novelty: dict[int, float]  # tick -> mean 1 − cos(previous message, this one), per observer
    change_round: int | None
    # (probe prediction, label, text baseline) per labelled message and observer, after the message
    valence: list[tuple[float, float, float]] = field(default_factory=list)
    arousal: list[tuple[float, float, float]] = field(default_factory=list)
    intent: list[tuple[float, float]] = field(default_factory=list)


@torch.no_grad()
def score_run(model: ToMModel, run: RunData, embed: Embedder) -> RunScores:
    """Replay a run's messages through a fresh state bank (one step per message, as the section does)."""
    speaker = run.speaker or max({m.speaker for m in run.messages}, key=[m.speaker for m in run.messages].count)
    bank = StateBank(model)
    surprise: dict[int, list[float]] = {}
    novelty: dict[int, list[float]] = {}
    received: dict[str, list[torch.Tensor]] = {}
    probes: dict[str, list] = {"valence": [], "arousal": [], "intent": []}
    texts = [m.text for m in run.messages]
    vecs = embed(texts)
    addressed = [m.observers for m in run.messages]
    claims = model.claims.read(vecs, pieces_for(embed.encoder, texts), texts, addressed)
    ledger = ClaimLedger(model.claims)
    words = ClaimLedger(model.claims)  # the model-free baseline: every non-function word is content
    learned = ClaimLedger(model.claims)
    plain = model.claims.read(vecs, None, texts, addressed)
    said: dict[int, list[tuple[frozenset[str], torch.Tensor]]] = {}
    for i, (m, v) in enumerate(zip(run.messages, vecs, strict=True)):
        if m.speaker == speaker:
            audience = audience_of(m.speaker, m.observers)
            ledger.add(m.speaker, str(i), audience, claims[i], m.tick)
            words.add(m.speaker, str(i), audience, plain[i], m.tick)
            learned.add(m.speaker, str(i), audience, replace(claims[i], plain=None, saved=None), m.tick)
            said.setdefault(m.tick, []).append((audience, F.normalize(v, dim=0)))
        result = bank.step([(m.speaker, m.observers)], v.unsqueeze(0), [m.text])
        _probe(model, bank, m, probes)
        if m.speaker != speaker:
            continue
        for o, s in result.per_message(bank.names, 1)[0].items():
            if o != speaker:
                surprise.setdefault(m.tick, []).append(s)
        for o in m.observers:
            prev = received.setdefault(o, [])
            if prev:
                novelty.setdefault(m.tick, []).append(1.0 - float(F.cosine_similarity(prev[-1], v, dim=0)))
            prev.append(v)
    views = [r for r in received.values() if r]
    rounds = [
        1.0 - float(a @ b)
        for tick in said.values()
        for i, (x, a) in enumerate(tick)
        for y, b in tick[i + 1 :]
        if x != y
    ]
    dup, spread = ledger.duplicity(speaker), bank.belief_spread(speaker)
    return RunScores(
        run.name,
        run.deceptive,
        ssm=0.0 if dup is None else dup,  # `or NAN` would drop a perfectly consistent speaker's 0.0
        lexical=words.duplicity(speaker) or 0.0,
        learned=learned.duplicity(speaker) or 0.0,
        belief=NAN if spread is None else spread,
        raw_state=_pairwise_distance(list(bank.views_of(speaker))),
        same_round=sum(rounds) / len(rounds) if rounds else NAN,
        last_message=_pairwise_distance([r[-1] for r in views]),
        mean_pooled=_pairwise_distance([torch.stack(r).mean(0) for r in views]),
        surprise={t: sum(s) / len(s) for t, s in surprise.items()},
        novelty={t: sum(s) / len(s) for t, s in novelty.items()},
        change_round=run.change_round,
        **probes,
    )


def _probe(model: ToMModel, bank: StateBank, m: Message, out: dict[str, list]) -> None:
    """What each observer's state of the speaker says about the speaker's labelled affect and intent."""
    valence, arousal, intent = m.labels
    if math.isnan(valence) and math.isnan(arousal) and math.isnan(intent):
        return
    states = [h for o in m.observers if (h := bank.state_of(o, m.speaker)) is not None]
    if not states:
        return
    pred = model.probes(torch.stack(states)).mean(0).tolist()
    text = appraise_text(m.text)  # the baseline: what the message itself says, by the emotion lexicon
    if not math.isnan(valence):
        out["valence"].append((pred[0], valence, text.compound))
    if not math.isnan(arousal):
        out["arousal"].append((pred[1], arousal, text.arousal))
    if not math.isnan(intent):
        out["intent"].append((pred[2], intent))


def auc(positive: list[float], negative: list[float]) -> float:
    """Probability that a positive outscores a negative (ties count half): the Mann–Whitney AUC."""
    if not positive or not negative:
        return NAN
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return wins / (len(positive) * len(negative))


def evaluate(model: ToMModel, runs: list[RunData], embed: Embedder, progress: Any = None) -> dict[str, Any]:
    """`progress(done, total)` is called after each run is scored."""
    scores = []
    for r in runs:
        scores.append(score_run(model, r, embed))
        if progress is not None:
            progress(len(scores), len(runs))
    labelled = [s for s in scores if s.deceptive is not None]
    out: dict[str, Any] = {"runs": len(scores), "deceptive": sum(bool(s.deceptive) for s in labelled)}
    for key in METHODS:
        pos = [getattr(s, key) for s in labelled if s.deceptive and not math.isnan(getattr(s, key))]
        neg = [getattr(s, key) for s in labelled if not s.deceptive and not math.isnan(getattr(s, key))]
        out[f"auc_{key}"] = auc(pos, neg)
        out[f"mean_{key}"] = (
            sum(pos) / len(pos) if pos else NAN,
            sum(neg) / len(neg) if neg else NAN,
        )
    checks = {r.name: c for r in runs if (c := brief_check(r)) is not None}
    if checks:
        reached = {s.name for s in labelled if s.deceptive and checks.get(s.name) and checks[s.name].conflict_reached}
        out["brief"] = {
            "passed": sum(c.passed for c in checks.values()),
            "briefed": sum(c.briefed for c in checks.values()),
            "deceptive_runs": sum(bool(s.deceptive) for s in labelled if s.name in checks),
            "reached": len(reached),
            # deceptive runs whose lie reached two listeners, against every control run
            "auc": {
                key: auc(
                    [getattr(s, key) for s in labelled if s.name in reached and not math.isnan(getattr(s, key))],
                    [getattr(s, key) for s in labelled if not s.deceptive and not math.isnan(getattr(s, key))],
                )
                for key in METHODS
            },
        }
    # Surprise relative to the hidden intent change, in runs without lies (the change is the only shift).
    around: dict[str, dict[int, list[float]]] = {"surprise": {}, "novelty": {}}
    for s in scores:
        if not s.change_round or s.deceptive:
            continue
        for key in around:
            for tick, value in getattr(s, key).items():
                k = tick - s.change_round
                if -3 <= k <= 3:
                    around[key].setdefault(k, []).append(value)
    out["around_change"] = {key: {k: sum(v) / len(v) for k, v in sorted(d.items())} for key, d in around.items()}
    for key in ("valence", "arousal"):
        rows = [r for s in scores for r in getattr(s, key)]
        out[f"probe_{key}"] = (
            len(rows),
            _pearson([r[0] for r in rows], [r[1] for r in rows]),
            _pearson([r[2] for r in rows], [r[1] for r in rows]),
        )
    rows = [r for s in scores for r in s.intent]
    out["probe_intent"] = (len(rows), auc([p for p, y in rows if y > 0.5], [p for p, y in rows if y <= 0.5]))
    return out


def _pearson(x: list[float], y: list[float]) -> float:
    if len(x) < 3:
        return NAN
    a, b = np.asarray(x), np.asarray(y)
    if a.std() == 0 or b.std() == 0:
        return NAN
    return float(np.corrcoef(a, b)[0, 1])


def format_table(result: dict[str, Any], title: str = "") -> str:
    lines = [title] if title else []
    lines.append(f"held-out runs: {result['runs']} ({result['deceptive']} deceptive)")
    lines.append(f"{'duplicity score':<34} {'AUC':>6} {'mean deceptive':>15} {'mean control':>13}")
    for key, label in METHODS.items():
        pos, neg = result[f"mean_{key}"]
        lines.append(f"{label:<34} {result[f'auc_{key}']:>6.3f} {pos:>15.4f} {neg:>13.4f}")
    brief = result.get("brief")
    if brief:
        lines.append(
            f"manipulation check (tom_brief.py): the speaker stated its briefed value in {brief['passed']} of "
            f"{brief['briefed']} (round, listener) pairs; a conflict reached two listeners in {brief['reached']} of "
            f"{brief['deceptive_runs']} deceptive runs"
        )
        if brief["reached"]:
            lines.append(f"AUC, only those {brief['reached']} deceptive runs against every control run:")
            lines.extend(f"  {label:<34} {brief['auc'][key]:>6.3f}" for key, label in METHODS.items())
        else:
            lines.append("  no deceptive run holds a conflict that was said: the AUC above measures nothing")
    around = result["around_change"]
    if around["surprise"]:
        ks = sorted(around["surprise"])
        lines.append("surprise around the hidden intent change (round − change round; control runs):")
        lines.append("  " + " ".join(f"{k:>+7d}" for k in ks))
        lines.append("  " + " ".join(f"{around['surprise'].get(k, NAN):>7.3f}" for k in ks) + "   SSM surprise")
        lines.append(
            "  " + " ".join(f"{around['novelty'].get(k, NAN):>7.3f}" for k in ks) + "   1 − cos(previous message)"
        )
    n, r_auc = result["probe_intent"]
    if n:
        lines.append(f"hidden-intent probe (observers' states of the scripted speaker): AUC {r_auc:.3f} over {n}")
    for key in ("valence", "arousal"):
        n, r_probe, r_text = result[f"probe_{key}"]
        if n:
            lines.append(
                f"{key} probe vs the speaker's logged {key}: r = {r_probe:.3f} over {n} "
                f"(baseline, the message's own lexicon {key}: r = {r_text:.3f})"
            )
    return "\n".join(lines)
