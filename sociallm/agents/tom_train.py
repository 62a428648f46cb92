"""Training and evaluation of the theory-of-mind model, and the shipped default checkpoint.

Data: the message events of recorded runs (or the deception scenario's script, generated without a
model). Each (observer, target) pair's messages, in order, are one sequence; the observer's own
messages form its self sequence (same weights).

Objectives:
- self-supervised next-message prediction: the state after message t must pick the embedding of
  message t+1 out of the batch's other messages (InfoNCE on the `expectation` read-out; a plain
  cosine loss would let `embed` collapse to a constant);
- supervised probes where the log has labels: the target's affect (valence, arousal) from `affect`
  events, the scripted speaker's hidden intent from `deception_truth` events;
- intermittent forgetting (option): at random steps the state is reset (its decay is zeroed), so the
  model cannot lean on remembering everything.

    python -m sociallm.agents.tom_train --make-default      # rebuilds sociallm/agents/tom_default.pt
    sociallm tom train RUN_DIRS... --out tom.pt
    sociallm tom eval [RUN_DIRS...] [--checkpoint tom.pt] [--synthetic 40]
"""

from __future__ import annotations

import argparse
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from sociallm.agents.tom_bank import StateBank, ToMModel
from sociallm.backbone.ssm import SSMConfig, linear_recurrence
from sociallm.runtime.events import Event

FORMAT = "sociallm-tom/1"
DEFAULT_PATH = Path(__file__).with_name("tom_default.pt")
# The default model: 32×8 floats of state per pair (1 KiB) — a 10⁴-pair round fits in 10 MiB.
DEFAULT_CONFIG = SSMConfig(d_model=384, d_inner=32, d_state=8)
DEFAULT_SEED = 5
PARTNER_NAMES = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi"]


# -- data ---------------------------------------------------------------------------------------------
@dataclass
class Message:
    speaker: str
    observers: list[str]
    text: str
    tick: int
    labels: tuple[float, float, float]  # valence, arousal, intent (NaN where unknown)


@dataclass
class RunData:
    name: str
    messages: list[Message] = field(default_factory=list)
    speaker: str | None = None  # the scripted speaker, where the log has the truth
    deceptive: bool | None = None
    change_round: int | None = None

    def sequences(self) -> list[tuple[str, str, list[Message]]]:
        seqs: dict[tuple[str, str], list[Message]] = {}
        for m in self.messages:
            for o in [m.speaker, *m.observers]:
                seqs.setdefault((o, m.speaker), []).append(m)
        return [(o, t, ms) for (o, t), ms in seqs.items()]


NAN = float("nan")


def run_data(events: list[Event], name: str = "run") -> RunData:
    """Messages with who saw them and the labels known at that moment; truth from the deception log."""
    data = RunData(name)
    sources = {e.source for e in events if e.kind == "message"}
    participants = sorted(sources | {n for e in events if e.kind == "message" for n in e.to})
    affect: dict[str, tuple[float, float]] = {}
    intent: dict[tuple[str, int], float] = {}
    for e in events:  # the truth of a round is logged after its messages: read it first
        p = e.payload
        if e.kind == "system" and p.get("event") == "deception_truth":
            data.speaker = p.get("speaker", data.speaker)
            data.deceptive = bool(p.get("deceptive"))
            hostile = p.get("intent") == "hostile"
            intent[(data.speaker or "", e.tick)] = float(hostile)
            if hostile and data.change_round is None:
                data.change_round = e.tick
    for e in events:  # affect labels as known when the message was said
        if e.kind == "affect" and isinstance(e.payload.get("after"), dict):
            after = e.payload["after"]
            affect[e.source] = (float(after.get("valence", 0.0)), float(after.get("arousal", 0.5)))
            continue
        if e.kind != "message" or not e.text or e.payload.get("silent"):
            continue
        observers = [n for n in (e.to or participants) if n != e.source]
        v, a = affect.get(e.source, (NAN, NAN))
        data.messages.append(Message(e.source, observers, e.text, e.tick, (v, a, intent.get((e.source, e.tick), NAN))))
    return data


def read_run(run_dir: Path) -> RunData:
    from sociallm.runtime.eventlog import EVENTS_FILE, read_events

    log = read_events(Path(run_dir) / EVENTS_FILE)
    if not log.events:
        raise ValueError(f"{run_dir}: no readable events ({'; '.join(log.problems) or 'empty log'})")
    return run_data(log.events, Path(run_dir).name)


def synthetic_runs(seeds: range, rounds: int = 10, lie_rate: float = 0.75) -> list[RunData]:
    """Scripted deception runs: half deceptive, a hidden intent change in most, 3-5 partners."""
    from sociallm.environments.deception import scripted_events

    out = []
    for seed in seeds:
        rng = random.Random(seed)
        partners = rng.sample(PARTNER_NAMES, rng.randint(3, 5))
        change = rng.choice([0, rng.randint(4, rounds - 2)])
        events = scripted_events(
            seed, partners, rounds, deceptive=seed % 2 == 0, change_round=change, lie_rate=lie_rate
        )
        out.append(run_data(events, f"synthetic-{seed}"))
    return out


class Embedder:
    """Texts -> unit vectors with the MiniLM encoder, each distinct text once."""

    def __init__(self, encoder: Any | None = None) -> None:
        if encoder is None:
            from sociallm.backbone.encoders import MiniLMEncoder

            encoder = MiniLMEncoder()
        self.encoder = encoder
        self.cache: dict[str, np.ndarray] = {}

    def __call__(self, texts: list[str]) -> torch.Tensor:
        todo = sorted({t for t in texts if t not in self.cache})
        if todo:
            if hasattr(self.encoder, "encode_sync"):
                vecs = self.encoder.encode_sync(todo)
            else:
                import asyncio

                vecs = asyncio.run(self.encoder.encode(todo))
            self.cache.update(zip(todo, np.asarray(vecs, dtype=np.float32), strict=True))
        return torch.from_numpy(np.stack([self.cache[t] for t in texts])) if texts else torch.zeros(0)


# -- checkpoints ----------------------------------------------------------------------------------------
def save_checkpoint(model: ToMModel, path: Path, meta: dict[str, Any]) -> None:
    # float16 weights: the shipped default stays far below 1 MB; read back as float32.
    state = {k: v.detach().half() for k, v in model.state_dict().items()}
    torch.save({"format": FORMAT, "config": asdict(model.ssm.config), "state_dict": state, "meta": meta}, path)


def read_checkpoint(path: Path) -> tuple[ToMModel, dict[str, Any]]:
    if not Path(path).exists():
        raise FileNotFoundError(f"sections.tom.checkpoint: {path} does not exist; train one with `sociallm tom train`")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"sections.tom.checkpoint: {path} is not a ToM checkpoint ({exc.__class__.__name__})") from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(
            f"sections.tom.checkpoint: {path} is not a {FORMAT} checkpoint; write it with `sociallm tom train`"
        )
    model = ToMModel(SSMConfig(**blob["config"]))
    model.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()})
    model.eval()
    return model, dict(blob.get("meta", {}))


# -- training -------------------------------------------------------------------------------------------
@dataclass
class TrainStats:
    steps: int = 0
    messages: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def _windows(runs: list[RunData], max_len: int) -> list[list[Message]]:
    out = []
    for run in runs:
        for _, _, msgs in run.sequences():
            for i in range(0, len(msgs), max_len):
                if len(msgs[i : i + max_len]) >= 2:
                    out.append(msgs[i : i + max_len])
    return out


def train(
    model: ToMModel,
    runs: list[RunData],
    embed: Embedder,
    epochs: int = 30,
    lr: float = 3e-3,
    seed: int = 0,
    forget: float = 0.05,
    batch: int = 64,
    max_len: int = 24,
    tau: float = 0.1,
    log: Any = None,
) -> TrainStats:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    windows = _windows(runs, max_len)
    if not windows:
        raise ValueError("no training sequences: the runs need at least two messages from one speaker to one observer")
    embed([m.text for w in windows for m in w])  # one encoder pass over every distinct text
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    stats = TrainStats()
    model.train()
    start = time.perf_counter()
    for epoch in range(epochs):
        rng.shuffle(windows)
        total, n = 0.0, 0
        for i in range(0, len(windows), batch):
            chunk = windows[i : i + batch]
            length = max(len(w) for w in chunk)
            x = torch.zeros(len(chunk), length, model.ssm.config.d_model)
            mask = torch.zeros(len(chunk), length, dtype=torch.bool)
            labels = torch.full((len(chunk), length, 3), NAN)
            for b, w in enumerate(chunk):
                x[b, : len(w)] = F.normalize(embed([m.text for m in w]), dim=-1)
                mask[b, : len(w)] = True
                labels[b, : len(w)] = torch.tensor([m.labels for m in w])
            loss = _loss(model, x, mask, labels, forget, tau)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            total += float(loss.detach()) * len(chunk)
            n += len(chunk)
            stats.steps += 1
            stats.messages += int(mask.sum())
        stats.losses.append(total / n)
        if log:
            log(f"epoch {epoch + 1}/{epochs}: loss {total / n:.4f}")
    stats.seconds = time.perf_counter() - start
    model.eval()
    return stats


def _loss(model: ToMModel, x: torch.Tensor, mask: torch.Tensor, labels: torch.Tensor, forget: float, tau: float):
    ssm = model.ssm
    decay, inject = ssm.transition(ssm.project(x))
    if forget > 0:  # intermittent forgetting: a reset step keeps only what the current message injects
        keep = (torch.rand(mask.shape) >= forget).float()[..., None, None]
        decay = decay * keep
    hs = linear_recurrence(decay, inject)  # (b, L, d_inner, d_state): the state after each message
    pred = model.expectation(hs[:, :-1])
    target = model.embed(x[:, 1:])
    valid = mask[:, 1:]
    p = F.normalize(pred[valid], dim=-1)
    t = F.normalize(target[valid], dim=-1)
    logits = p @ t.T / tau
    loss = F.cross_entropy(logits, torch.arange(len(p)))
    probes = model.probes(hs)
    for k, fn in ((0, F.mse_loss), (1, F.mse_loss)):
        sel = mask & ~torch.isnan(labels[..., k])
        if sel.any():
            loss = loss + fn(probes[..., k][sel], labels[..., k][sel])
    sel = mask & ~torch.isnan(labels[..., 2])
    if sel.any():
        loss = loss + 0.5 * F.binary_cross_entropy_with_logits(probes[..., 2][sel], labels[..., 2][sel])
    return loss


# -- evaluation -----------------------------------------------------------------------------------------
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
    ssm: float
    last_message: float
    mean_pooled: float
    surprise: dict[int, float]  # tick -> mean surprise of the observers of the scripted speaker
    novelty: dict[int, float]  # tick -> mean 1 − cos(previous message, this one), per observer
    change_round: int | None


@torch.no_grad()
def score_run(model: ToMModel, run: RunData, embed: Embedder) -> RunScores:
    """Replay a run's messages through a fresh state bank (one step per message, as the section does)."""
    speaker = run.speaker or max({m.speaker for m in run.messages}, key=[m.speaker for m in run.messages].count)
    bank = StateBank(model)
    surprise: dict[int, list[float]] = {}
    novelty: dict[int, list[float]] = {}
    received: dict[str, list[torch.Tensor]] = {}
    vecs = embed([m.text for m in run.messages])
    for m, v in zip(run.messages, vecs, strict=True):
        result = bank.step([(m.speaker, m.observers)], v.unsqueeze(0))
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
    return RunScores(
        run.name,
        run.deceptive,
        ssm=bank.duplicity(speaker) or NAN,
        last_message=_pairwise_distance([r[-1] for r in views]),
        mean_pooled=_pairwise_distance([torch.stack(r).mean(0) for r in views]),
        surprise={t: sum(s) / len(s) for t, s in surprise.items()},
        novelty={t: sum(s) / len(s) for t, s in novelty.items()},
        change_round=run.change_round,
    )


def auc(positive: list[float], negative: list[float]) -> float:
    """Probability that a positive outscores a negative (ties count half): the Mann–Whitney AUC."""
    if not positive or not negative:
        return NAN
    wins = sum((p > n) + 0.5 * (p == n) for p in positive for n in negative)
    return wins / (len(positive) * len(negative))


def evaluate(model: ToMModel, runs: list[RunData], embed: Embedder) -> dict[str, Any]:
    scores = [score_run(model, r, embed) for r in runs]
    labelled = [s for s in scores if s.deceptive is not None]
    out: dict[str, Any] = {"runs": len(scores), "deceptive": sum(bool(s.deceptive) for s in labelled)}
    for key in ("ssm", "last_message", "mean_pooled"):
        pos = [getattr(s, key) for s in labelled if s.deceptive and not math.isnan(getattr(s, key))]
        neg = [getattr(s, key) for s in labelled if not s.deceptive and not math.isnan(getattr(s, key))]
        out[f"auc_{key}"] = auc(pos, neg)
        out[f"mean_{key}"] = (
            sum(pos) / len(pos) if pos else NAN,
            sum(neg) / len(neg) if neg else NAN,
        )
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
    return out


def format_table(result: dict[str, Any], title: str = "") -> str:
    lines = [title] if title else []
    lines.append(f"held-out runs: {result['runs']} ({result['deceptive']} deceptive)")
    lines.append(f"{'duplicity score':<34} {'AUC':>6} {'mean deceptive':>15} {'mean control':>13}")
    names = {
        "ssm": "SSM states (duplicity)",
        "last_message": "baseline: last-message embeddings",
        "mean_pooled": "baseline: mean-pooled history",
    }
    for key, label in names.items():
        pos, neg = result[f"mean_{key}"]
        lines.append(f"{label:<34} {result[f'auc_{key}']:>6.3f} {pos:>15.4f} {neg:>13.4f}")
    around = result["around_change"]
    if around["surprise"]:
        ks = sorted(around["surprise"])
        lines.append("surprise around the hidden intent change (round − change round; control runs):")
        lines.append("  " + " ".join(f"{k:>+7d}" for k in ks))
        lines.append("  " + " ".join(f"{around['surprise'].get(k, NAN):>7.3f}" for k in ks) + "   SSM surprise")
        lines.append(
            "  " + " ".join(f"{around['novelty'].get(k, NAN):>7.3f}" for k in ks) + "   1 − cos(previous message)"
        )
    return "\n".join(lines)


# -- the shipped default --------------------------------------------------------------------------------
def make_default(path: Path = DEFAULT_PATH, seed: int = DEFAULT_SEED, epochs: int = 30, log: Any = print) -> None:
    torch.manual_seed(seed)
    model = ToMModel(DEFAULT_CONFIG)
    runs = synthetic_runs(range(1000, 1160))  # held-out evaluation uses seeds below 1000
    stats = train(model, runs, Embedder(), epochs=epochs, seed=seed, log=log)
    meta = {
        "seed": seed,
        "epochs": epochs,
        "runs": "synthetic deception seeds 1000-1159",
        "messages_per_s": round(stats.throughput, 1),
        "final_loss": round(stats.losses[-1], 4),
    }
    save_checkpoint(model, path, meta)
    log(f"wrote {path} ({path.stat().st_size} bytes); {stats.throughput:.0f} messages/s; {meta}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--make-default", action="store_true", help="Train and write the shipped default checkpoint.")
    ap.add_argument("--out", type=Path, default=DEFAULT_PATH)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args(argv)
    if not args.make_default:
        ap.error("nothing to do: pass --make-default (or use `sociallm tom train`)")
    torch.set_num_threads(2)
    make_default(args.out, args.seed, args.epochs)


if __name__ == "__main__":
    main()
