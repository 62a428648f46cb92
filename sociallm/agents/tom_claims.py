"""Claim-level duplicity: did a speaker tell different listeners *conflicting* things about one topic?

Each message gets two small unit vectors from its encoding:
- `topic`: the pooled sentence embedding itself. The encoder already tells topics apart on unseen
  vocabulary (pairwise AUC 0.99 same topic vs other topic); a learned topic read-out did better on
  the training topics and worse on unseen ones, which is what matters;
- `value`: an attention-pooled read-out of the encoder's contextual *token* vectors (MiniLM), trained
  so that paraphrases of one fact coincide and conflicting values of one attribute separate. Pooling
  tokens with a learned weight lets the read-out attend to the words that carry the value and skip
  openers, addresses and filler; a read-out of the pooled sentence vector alone memorised the
  training values and did not carry to unseen ones (measured: 0.54 AUC against paraphrase).

conflict(a, b) = gate(topic cos) × (1 − value cos) / 2: zero for another topic (a topic shift between
listeners is not a conflict), small for a paraphrase, large for a conflicting value.

A speaker's duplicity compares its messages that went to *different audiences* (two messages with
one audience are one listener's view, not a disagreement between views): the mean of the `top`
largest conflicts among such pairs. The `ClaimLedger` keeps each speaker's last messages' vectors and
its top conflicts, updated only for the speaker of a new message (no recomputation per turn). The
same ledger, fed only with the messages one agent observed, is that agent's own impression of the
speaker (tom.py).

What it cannot see: a consistent liar (one false value told to everyone) conflicts with nothing; a
conflict between a message and what a listener *repeats* of it is not tracked; and with an encoder
other than MiniLM the value read-out falls back to the pooled vector as a single token.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sociallm.agents import tensor_state


class ClaimReader(nn.Module):
    def __init__(self, d_model: int = 384, dim: int = 32, gate: float = 0.5, sharpness: float = 0.05) -> None:
        super().__init__()
        self.attend = nn.Linear(d_model, 1)
        self.value = nn.Linear(d_model, dim)
        # topic cosine above `gate` counts as one topic (soft, over `sharpness`); chosen on the validation split
        self.register_buffer("gate", torch.tensor(float(gate)))
        self.register_buffer("sharpness", torch.tensor(float(sharpness)))

    def read(self, pooled: torch.Tensor, tokens: list[torch.Tensor] | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(topic, value) unit vectors, (n, dim) each, from pooled embeddings and each text's token vectors."""
        topic = F.normalize(pooled.float(), dim=-1)
        if tokens is None:
            x, mask = pooled.float().unsqueeze(1), torch.ones(len(pooled), 1, dtype=torch.bool)
        else:
            x, mask = pad(tokens)
        w = self.attend(x).squeeze(-1).masked_fill(~mask, float("-inf")).softmax(-1)
        value = F.normalize(self.value((w.unsqueeze(-1) * x).sum(1)), dim=-1)
        return topic, value

    def conflict(self, ta: torch.Tensor, va: torch.Tensor, tb: torch.Tensor, vb: torch.Tensor) -> torch.Tensor:
        """(len(a), len(b)) conflict of every pair: same-topic gate × value distance, in [0, 1]."""
        same = torch.sigmoid((ta @ tb.T - self.gate) / self.sharpness)
        return same * (1.0 - va @ vb.T) / 2.0


def pad(tokens: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(1, max(len(t) for t in tokens))
    x = torch.zeros(len(tokens), length, tokens[0].shape[-1] if tokens else 1)
    mask = torch.zeros(len(tokens), length, dtype=torch.bool)
    for i, t in enumerate(tokens):
        x[i, : len(t)] = t
        mask[i, : len(t)] = True
    return x, mask


_TOKEN_LOCK = threading.Lock()
_TOKENS: dict[str, torch.Tensor] = {}  # text -> token vectors, bounded (cleared when full)


def token_vectors(texts: list[str]) -> list[torch.Tensor]:
    """MiniLM's contextual token vectors of each text (the model the `minilm` encoder shares), cached."""
    from sociallm.backbone.encoders import _minilm_model

    todo = sorted({t for t in texts if t not in _TOKENS})
    if todo:
        model = _minilm_model()
        with _TOKEN_LOCK, torch.no_grad():
            out = model.encode(todo, output_value="token_embeddings", convert_to_numpy=False, batch_size=64)
        if len(_TOKENS) + len(todo) > 50_000:
            _TOKENS.clear()
        # clone: each is a view of one padded batch, and would keep all of it alive
        _TOKENS.update(zip(todo, (o.float().cpu().clone() for o in out), strict=True))
    return [_TOKENS[t] for t in texts]


def pooled_of(tokens: list[torch.Tensor]) -> torch.Tensor:
    """MiniLM's sentence vector from its token vectors (mean pooling, unit norm), without a second pass."""
    return F.normalize(torch.stack([t.mean(0) for t in tokens]), dim=-1)


def wants_tokens(encoder: Any) -> bool:
    """Whether `tokens_for` does any work for this encoder (callers skip the worker thread when not)."""
    from sociallm.backbone.encoders import MiniLMEncoder

    return isinstance(encoder, MiniLMEncoder)


def tokens_for(encoder: Any, texts: list[str]) -> list[torch.Tensor] | None:
    """Token vectors where the encoder is MiniLM itself; None (pooled vector as one token) otherwise."""
    from sociallm.backbone.encoders import MiniLMEncoder

    return token_vectors(texts) if isinstance(encoder, MiniLMEncoder) else None


def train_reader(
    reader: ClaimReader,
    tokens: list[torch.Tensor],
    topics: list[Any],
    facts: list[Any],
    epochs: int = 20,
    lr: float = 2e-3,
    seed: int = 0,
    tau: float = 0.1,
    group: int = 9,
    batch: int = 12,
) -> list[float]:
    """Supervised contrastive: one fact's messages share a value vector; a conflicting value is a negative.

    Examples come in groups of `group` (tom_facts.claim_examples: one fact in several wordings and a
    conflicting value of it); a batch holds whole groups, so each one's hard negative is in it.
    """
    g = torch.Generator().manual_seed(seed)
    x, mask = pad(tokens)
    ids_v = torch.tensor([hash(f) for f in facts])
    opt = torch.optim.AdamW(reader.parameters(), lr=lr, weight_decay=1e-2)
    groups = len(tokens) // group
    losses = []
    reader.train()
    for _ in range(epochs):
        total = 0.0
        order = torch.randperm(groups, generator=g)
        for i in range(0, groups, batch):
            idx = torch.cat([torch.arange(j * group, (j + 1) * group) for j in order[i : i + batch].tolist()])
            keep = mask[idx] & (torch.rand(mask[idx].shape, generator=g) >= 0.1)  # token dropout
            keep[:, 0] = True
            w = reader.attend(x[idx]).squeeze(-1).masked_fill(~keep, float("-inf")).softmax(-1)
            v = F.normalize(reader.value((w.unsqueeze(-1) * x[idx]).sum(1)), dim=-1)
            loss = _supcon(v, ids_v[idx], tau)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach())
        losses.append(total)
    reader.eval()
    return losses


def _supcon(z: torch.Tensor, labels: torch.Tensor, tau: float) -> torch.Tensor:
    sim = (z @ z.T / tau).masked_fill(torch.eye(len(z), dtype=torch.bool), float("-inf"))
    pos = (labels.unsqueeze(0) == labels.unsqueeze(1)).fill_diagonal_(False)
    logp = sim.log_softmax(1).masked_fill(~pos, 0.0)
    return -(logp.sum(1) / pos.sum(1).clamp_min(1)).mean()


@dataclass
class _Said:
    key: str  # the message's id
    audience: frozenset[str]
    topic: torch.Tensor
    value: torch.Tensor
    # The vectors as a checkpoint holds them and their digest, made once: a claim stays in the ledger for
    # many checkpoints.
    saved: tuple[dict[str, Any], dict[str, Any], str] | None = field(default=None, compare=False, repr=False)

    def encoded(self) -> tuple[dict[str, Any], dict[str, Any], str]:
        if self.saved is None:
            t, v = tensor_state.encode(self.topic), tensor_state.encode(self.value)
            digest = hashlib.blake2b((t["b64"] + v["b64"]).encode("ascii"), digest_size=12).hexdigest()
            self.saved = (t, v, digest)
        return self.saved


@dataclass
class _Speaker:
    said: list[_Said] = field(default_factory=list)
    top: list[float] = field(default_factory=list)  # largest conflicts so far, descending


class ClaimLedger:
    """Per speaker: its last `keep` messages' claim vectors and its `top` largest cross-audience conflicts."""

    def __init__(self, reader: ClaimReader, keep: int = 64, top: int = 3) -> None:
        self.reader = reader
        self.keep = keep
        self.topn = top
        self.speakers: dict[str, _Speaker] = {}

    @torch.no_grad()
    def add(self, speaker: str, key: str, audience: frozenset[str], topic: torch.Tensor, value: torch.Tensor) -> None:
        s = self.speakers.setdefault(speaker, _Speaker())
        others = [r for r in s.said if r.audience != audience]
        if others:
            c = self.reader.conflict(
                topic.unsqueeze(0),
                value.unsqueeze(0),
                torch.stack([r.topic for r in others]),
                torch.stack([r.value for r in others]),
            )[0]
            s.top = sorted([*s.top, *c.tolist()], reverse=True)[: self.topn]
        s.said.append(_Said(key, audience, topic, value))
        if len(s.said) > self.keep:
            s.said.pop(0)

    def duplicity(self, speaker: str) -> float | None:
        """Mean of the speaker's largest conflicts between audiences; None before two audiences heard it."""
        s = self.speakers.get(speaker)
        if s is None or not s.top:
            return None
        return sum(s.top) / len(s.top)

    def state(self, table: dict[str, list[Any]] | None = None) -> dict[str, Any]:
        """With `table` (shared by the ledgers of one checkpoint): each claim's vectors go into it once under
        their digest, and the ledger names the digest. Every observer's ledger holds the same message's
        vectors, so without it a checkpoint repeated them once per observer (2.6 of 3.5 MB at 32 agents)."""

        def said(r: _Said) -> list[Any]:
            t, v, digest = r.encoded()
            if table is None:
                return [r.key, sorted(r.audience), t, v]
            table.setdefault(digest, [t, v])
            return [r.key, sorted(r.audience), digest]

        return {name: {"said": [said(r) for r in s.said], "top": list(s.top)} for name, s in self.speakers.items()}

    def load_state(self, state: dict[str, Any], table: dict[str, list[Any]] | None = None) -> None:
        decoded: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

        def said(entry: list[Any]) -> _Said:
            if len(entry) == 3:  # a digest into the checkpoint's table
                key, audience, digest = entry
                if digest not in decoded:
                    t, v = (table or {})[digest]
                    decoded[digest] = (tensor_state.decode(t), tensor_state.decode(v))
                topic, value = decoded[digest]
            else:
                key, audience, t, v = entry
                topic, value = tensor_state.decode(t), tensor_state.decode(v)
            return _Said(key, frozenset(audience), topic, value)

        self.speakers = {
            name: _Speaker([said(e) for e in s["said"]], [float(x) for x in s["top"]]) for name, s in state.items()
        }


def audience_of(speaker: str, observers: list[str]) -> frozenset[str]:
    return frozenset(o for o in observers if o != speaker)
