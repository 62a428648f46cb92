"""Training and evaluation of the theory-of-mind model, and the shipped default checkpoint.

Data (tom_data.py): the message events of recorded runs, or scripted deception runs made without a
model. Each (observer, target) pair's messages, in order, are one sequence; the observer's own
messages form its self sequence (same weights).

Objectives, all self-supervised except the probes:
- next message: the state after message t must pick the embedding of message t+1 out of the batch's
  other messages (InfoNCE on the `expectation` read-out; a plain cosine loss would let `embed`
  collapse to a constant). This is what surprise measures;
- what the target told the others: the `belief` read-out of an observer's state must pick the mean
  embedding of everything the target has said so far to *other* observers (for the self state: to
  anyone). What is shared between observers is the story, not the address, so the belief keeps the
  story; duplicity compares beliefs;
- in both, a target's retelling of the same round to someone else is never a negative: it differs
  mostly in the address, and learning to tell those apart would teach the state the address;
- supervised probes where the log has labels: the target's affect (valence, arousal) from `affect`
  events, the scripted speaker's hidden intent from `deception_truth` events;
- intermittent forgetting (option): at random steps the state is reset (its decay is zeroed), so the
  model cannot lean on remembering everything.

    python -m sociallm.agents.tom_train --make-default      # rebuilds sociallm/agents/tom_default.pt
    sociallm tom train RUN_DIRS... --out tom.pt
    sociallm tom eval [RUN_DIRS...] [--checkpoint tom.pt] [--synthetic 40]   (tom_eval.py)
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from sociallm.agents.tom_bank import ToMModel
from sociallm.agents.tom_data import NAN, Embedder, Message, RunData, synthetic_runs
from sociallm.backbone.ssm import SSMConfig, linear_recurrence

FORMAT = "sociallm-tom/4"  # 2: the `believe` read-out; 3: the claim read-out; 4: claims by word pieces
DEFAULT_PATH = Path(__file__).with_name("tom_default.pt")
# The default model: 32×8 floats of state per pair (1 KiB) — a 10⁴-pair round fits in 10 MiB.
DEFAULT_CONFIG = SSMConfig(d_model=384, d_inner=32, d_state=8)
DEFAULT_SEED = 5


# -- checkpoints ----------------------------------------------------------------------------------------
def save_checkpoint(model: ToMModel, path: Path, meta: dict[str, Any]) -> None:
    # float16 weights: the shipped default stays far below 1 MB; read back as float32.
    state = {k: v.detach().half() for k, v in model.state_dict().items()}
    blob = {"format": FORMAT, "config": asdict(model.ssm.config), "affect_input": model.affect_input}
    torch.save({**blob, "state_dict": state, "meta": meta}, path)


def read_checkpoint(path: Path) -> tuple[ToMModel, dict[str, Any]]:
    if not Path(path).exists():
        raise FileNotFoundError(f"sections.tom.checkpoint: {path} does not exist; train one with `sociallm tom train`")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"sections.tom.checkpoint: {path} is not a ToM checkpoint ({exc.__class__.__name__})") from exc
    if isinstance(blob, dict) and str(blob.get("format", "")).startswith("sociallm-tom/"):
        if blob["format"] != FORMAT:
            raise ValueError(
                f"sections.tom.checkpoint: {path} is a {blob['format']} checkpoint, this version reads {FORMAT}; "
                "retrain it with `sociallm tom train`"
            )
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(
            f"sections.tom.checkpoint: {path} is not a {FORMAT} checkpoint; write it with `sociallm tom train`"
        )
    model = ToMModel(SSMConfig(**blob["config"]), affect_input=bool(blob.get("affect_input", False)))
    model.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()})
    model.eval()
    model.requires_grad_(False)  # inference only; `sociallm tom train --init` turns it back on
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


@dataclass
class Window:
    """One observer's run of messages from one speaker, with what the speaker told the others meanwhile.

    `others[i]`: the speaker's messages of the same round that someone other than this observer saw
    (for the speaker's self sequence: all of them). `keys[i]` names the round (run, speaker, tick):
    two targets with one key are the same story in other words, so neither is the other's negative.
    """

    messages: list[Message]
    others: list[list[Message]]
    keys: list[int]


def _windows(runs: list[RunData], max_len: int) -> list[Window]:
    out = []
    key_ids: dict[tuple[int, str, int], int] = {}
    for r, run in enumerate(runs):
        said: dict[tuple[str, int], list[Message]] = {}
        for m in run.messages:
            said.setdefault((m.speaker, m.tick), []).append(m)
        for observer, _, msgs in run.sequences():
            others = [
                [o for o in said[(m.speaker, m.tick)] if observer == m.speaker or set(o.observers) - {observer}]
                for m in msgs
            ]
            keys = [key_ids.setdefault((r, m.speaker, m.tick), len(key_ids)) for m in msgs]
            for i in range(0, len(msgs), max_len):
                if len(msgs[i : i + max_len]) >= 2:
                    out.append(Window(msgs[i : i + max_len], others[i : i + max_len], keys[i : i + max_len]))
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
    cross: float = 1.0,
    log: Any = None,
) -> TrainStats:
    torch.manual_seed(seed)
    rng = random.Random(seed)
    windows = _windows(runs, max_len)
    if not windows:
        raise ValueError("no training sequences: the runs need at least two messages from one speaker to one observer")
    embed([m.text for w in windows for m in w.messages])  # one encoder pass over every distinct text
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    stats = TrainStats()
    model.train()
    start = time.perf_counter()
    d = model.ssm.config.d_model
    for epoch in range(epochs):
        rng.shuffle(windows)
        total, n = 0.0, 0
        for i in range(0, len(windows), batch):
            chunk = windows[i : i + batch]
            length = max(len(w.messages) for w in chunk)
            x = torch.zeros(len(chunk), length, d)
            told = torch.zeros(len(chunk), length, d)
            mask = torch.zeros(len(chunk), length, dtype=torch.bool)
            has_told = torch.zeros(len(chunk), length, dtype=torch.bool)
            keys = torch.full((len(chunk), length), -1, dtype=torch.long)
            labels = torch.full((len(chunk), length, 3), NAN)
            for b, w in enumerate(chunk):
                k = len(w.messages)
                texts = [m.text for m in w.messages]
                x[b, :k] = model.inputs(embed(texts), texts)
                seen = 0  # rounds in the running mean of what the target told the others
                for t, others in enumerate(w.others):
                    if others:
                        said = [m.text for m in others]
                        now = model.inputs(embed(said), said).mean(0)
                        told[b, t] = (told[b, t - 1] * seen + now) / (seen + 1) if seen else now
                        seen += 1
                        has_told[b, t] = True
                    elif seen:
                        told[b, t] = told[b, t - 1]
                mask[b, :k] = True
                keys[b, :k] = torch.tensor(w.keys)
                labels[b, :k] = torch.tensor([m.labels for m in w.messages])
            loss = _loss(model, x, mask, labels, forget, tau, told=told, has_told=has_told, keys=keys, cross=cross)
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
            from sociallm.runtime.progress import eta, fmt_duration

            elapsed = time.perf_counter() - start
            left = eta(start, 0, epoch + 1, epochs, now=time.perf_counter())
            log(
                f"epoch {epoch + 1}/{epochs}: loss {total / n:.4f}  ({fmt_duration(elapsed)} elapsed"
                + (f", ~{fmt_duration(left)} left)" if left else ")")
            )
    stats.seconds = time.perf_counter() - start
    model.eval()
    return stats


def _info_nce(pred: torch.Tensor, target: torch.Tensor, keys: torch.Tensor, tau: float) -> torch.Tensor:
    """Each prediction must pick its own target out of the batch's; same-round retellings are not negatives."""
    logits = F.normalize(pred, dim=-1) @ F.normalize(target, dim=-1).T / tau
    same = keys.unsqueeze(0) == keys.unsqueeze(1)
    same.fill_diagonal_(False)
    return F.cross_entropy(logits.masked_fill(same, float("-inf")), torch.arange(len(pred)))


def _loss(
    model: ToMModel,
    x: torch.Tensor,
    mask: torch.Tensor,
    labels: torch.Tensor,
    forget: float,
    tau: float,
    told: torch.Tensor,
    has_told: torch.Tensor,
    keys: torch.Tensor,
    cross: float,
):
    ssm = model.ssm
    decay, inject = ssm.transition(ssm.project(x))
    if forget > 0:  # intermittent forgetting: a reset step keeps only what the current message injects
        keep = (torch.rand(mask.shape) >= forget).float()[..., None, None]
        decay = decay * keep
    hs = linear_recurrence(decay, inject)  # (b, L, d_inner, d_state): the state after each message
    valid = mask[:, 1:]
    # Next message: what will the target say to me next?
    loss = _info_nce(model.expectation(hs[:, :-1])[valid], model.embed(x[:, 1:])[valid], keys[:, 1:][valid], tau)
    if cross > 0 and bool(has_told.any()):
        # What did the target tell the others this round? (Only the story is shared, not my address.)
        loss = loss + cross * _info_nce(model.belief(hs)[has_told], model.embed(told)[has_told], keys[has_told], tau)
    probes = model.probes(hs)
    for k, fn in ((0, F.mse_loss), (1, F.mse_loss)):
        sel = mask & ~torch.isnan(labels[..., k])
        if sel.any():
            loss = loss + fn(probes[..., k][sel], labels[..., k][sel])
    sel = mask & ~torch.isnan(labels[..., 2])
    if sel.any():
        loss = loss + 0.5 * F.binary_cross_entropy_with_logits(probes[..., 2][sel], labels[..., 2][sel])
    return loss


# -- the shipped default --------------------------------------------------------------------------------
def fit_claims(
    model: ToMModel, seed: int, examples: int = 6000, per_class: int = 50, log: Any = print
) -> dict[str, Any]:
    """Train the claim read-out's roles on the train vocabulary; choose its match power, gates and
    duplicity threshold on the validation vocabulary (names, templates and topics all unseen in training)."""
    from sociallm.agents.tom_claims import token_pieces, train_roles
    from sociallm.agents.tom_facts import make_runs, role_examples
    from sociallm.backbone.encoders import _minilm_model

    data = role_examples(random.Random(seed), examples)
    texts = [t for t, _ in data]
    start = time.perf_counter()
    pieces = token_pieces(texts)
    offsets = _minilm_model().tokenizer(texts, return_offsets_mapping=True, truncation=True)["offset_mapping"]
    vecs, labels = [], []
    for (_, spans), (_ids, v), off in zip(data, pieces, offsets, strict=True):
        for (a, b), x in zip(off[1:-1], v, strict=False):
            vecs.append(x)
            labels.append(max([r for s0, e0, r in spans if a >= s0 and b <= e0], default=0))
    took = time.perf_counter() - start
    log(f"claim read-out: {len(texts)} messages, {len(vecs)} word pieces encoded in {took:.0f} s")
    losses = train_roles(model.claims, torch.stack(vecs), torch.tensor(labels), seed=seed)
    log(f"  role loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    val = make_runs(per_class, "val", "val", "val", seed=seed + 1, rounds=5)
    return choose_claim_settings(model, val, log=log)


GRID = {"power": (2.0, 4.0), "coverage_gate": (0.3, 0.4, 0.5), "topic_gate": (0.4, 0.5, 0.6)}


def choose_claim_settings(model: ToMModel, val: list[RunData], log: Any = print) -> dict[str, Any]:
    """The grid point whose *worst* AUC against any honest class on the validation runs is highest (a
    setting must not buy paraphrase at the price of topic shift), and the threshold that flags at most
    MAX_FALSE_FLAGS of the honest validation runs there."""
    import itertools

    import numpy as np

    from sociallm.agents.tom_claims import ClaimLedger, audience_of, pieces_for
    from sociallm.agents.tom_facts import DECEPTIVE, HONEST
    from sociallm.agents.tom_shift import MAX_FALSE_FLAGS, auc, flag_threshold

    embed = Embedder()
    said = []
    for r in val:
        ms = [m for m in r.messages if m.speaker == r.speaker]
        texts = [m.text for m in ms]
        claims = model.claims.read(embed(texts), pieces_for(embed.encoder, texts), texts, [m.observers for m in ms])
        said.append([(audience_of(m.speaker, m.observers), c, m.tick) for m, c in zip(ms, claims, strict=True)])
    best: tuple[float, dict[str, float], float] | None = None
    for values in itertools.product(*GRID.values()):
        setting = dict(zip(GRID, values, strict=True))
        for name, value in setting.items():
            getattr(model.claims, name).fill_(value)
        scores: dict[str, list[float]] = {}
        for r, msgs in zip(val, said, strict=True):
            ledger = ClaimLedger(model.claims)
            for i, (audience, claim, tick) in enumerate(msgs):
                ledger.add(r.speaker or "", str(i), audience, claim, tick)
            scores.setdefault(str(r.kind), []).append(ledger.duplicity(r.speaker or "") or 0.0)
        pos = np.asarray([x for k in DECEPTIVE for x in scores[k]])
        worst = min(auc(pos, np.asarray(scores[h])) for h in HONEST)
        if best is None or worst > best[0]:
            neg = np.asarray([x for h in HONEST for x in scores[h]])
            best = (worst, setting, flag_threshold(neg))
    assert best is not None
    worst, setting, threshold = best
    for name, value in setting.items():
        getattr(model.claims, name).fill_(value)
    log(
        f"  chosen on validation: {setting}, worst AUC against an honest class {worst:.3f}, threshold "
        f"{threshold:.3f} (flags at most {MAX_FALSE_FLAGS:.0%} of honest validation runs)"
    )
    return {
        **{f"claim_{k}": v for k, v in setting.items()},
        "validation_worst_auc": round(worst, 4),
        "duplicity_threshold": round(threshold, 4),
    }


def make_default(
    path: Path = DEFAULT_PATH, seed: int = DEFAULT_SEED, epochs: int = 30, claims_only: bool = False, log: Any = print
) -> None:
    """Train on procedurally generated data only: the scenario's village stories and the contrast sets'
    validation and test vocabularies stay unseen. `claims_only`: keep the SSM of the checkpoint at
    `path` (any sociallm-tom format) and refit the claim read-out alone (~3 min instead of ~12)."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = ToMModel(DEFAULT_CONFIG)
    if claims_only:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        kept = {k: v.float() for k, v in blob["state_dict"].items() if not k.startswith("claims.")}
        model.load_state_dict(kept, strict=False)
        meta = {k: v for k, v in blob.get("meta", {}).items() if not k.startswith(("claim", "validation", "duplicity"))}
    else:
        runs = synthetic_runs(range(1000, 1160), procedural=True)  # held-out evaluation uses seeds below 1000
        stats = train(model, runs, Embedder(), epochs=epochs, seed=seed, log=log)
        meta = {
            "seed": seed,
            "epochs": epochs,
            "runs": "synthetic deception seeds 1000-1159, procedural stories",
            "encoder": "minilm",
            "messages_per_s": round(stats.throughput, 1),
            "final_loss": round(stats.losses[-1], 4),
            "train_seconds": round(time.perf_counter() - start),
        }
    claims = fit_claims(model, seed, log=log)
    meta |= {**claims, "claims": "roles on tom_facts train split, settings on val", "claims_seed": seed}
    save_checkpoint(model, path, meta)
    log(f"wrote {path} ({path.stat().st_size} bytes) in {time.perf_counter() - start:.0f} s; {meta}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--make-default", action="store_true", help="Train and write the shipped default checkpoint.")
    ap.add_argument("--out", type=Path, default=DEFAULT_PATH)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--claims-only", action="store_true", help="Keep the SSM in --out; refit the claim read-out.")
    args = ap.parse_args(argv)
    if not args.make_default:
        ap.error("nothing to do: pass --make-default (or use `sociallm tom train`)")
    torch.set_num_threads(2)
    make_default(args.out, args.seed, args.epochs, args.claims_only)


if __name__ == "__main__":
    main()
