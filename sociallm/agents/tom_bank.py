"""The theory-of-mind state bank: one SSM state per (observer, target) pair, all in one tensor.

Every agent models itself and each interlocutor with the *same* selective-SSM weights (the
proposal's inductive bias toward self–other overlap); only the states differ. A message from X is
one input: it steps every observer's state of X, and X's own self state (observer == target == X),
in one batched call. The input projection depends on the message alone, so it is computed once per
message and shared by all the pairs it steps.

Read-outs (all from states, no model call):
- surprise: how badly the state of X predicted X's next message (1 − cosine), measured before the
  state takes that message in — the proposal's "energy";
- overlap(X): how similar others' beliefs about X are to X's own (the `belief` read-out of a state:
  what the state holds X to be telling everyone);
- belief_spread(X): how much the beliefs different observers hold of X disagree (the previous
  duplicity read-out; it moves with wording and topic, not with what was claimed, so duplicity is
  now claim-level: tom_claims.py).

Overlap compares `belief` read-outs, not raw states: a raw state also remembers how X addressed this
observer (name, opener), which differs between observers of an honest speaker too.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sociallm.agents import tensor_state
from sociallm.agents.tom_claims import ClaimReader
from sociallm.backbone.ssm import SelectiveSSM, SSMConfig


class ToMModel(nn.Module):
    """The shared SSM plus the heads that read expectations out of a state.

    The next-message prediction is compared in a learned d_inner-wide space rather than the
    encoder's: contracting a state with one learned vector costs d_inner·d_state per pair, while a
    full linear head from the flattened state to d_model costs d_inner·d_state·d_model — per pair,
    and there can be 10⁴ pairs per round.
    """

    AFFECT_DIMS = 2  # valence, arousal

    def __init__(self, config: SSMConfig | None = None, affect_input: bool = False) -> None:
        super().__init__()
        self.ssm = SelectiveSSM(config)
        c = self.ssm.config
        # Optionally the message's visible affect — what its words show, read by the emotion lexicon
        # (valence, arousal) — rides along with the embedding: d_model = encoder dim + 2.
        self.affect_input = affect_input
        self.expect = nn.Parameter(torch.randn(c.d_state) / c.d_state**0.5)
        # What the target stands for: trained to predict what the target tells *other* observers, so
        # it keeps what is said and drops how it is said to this observer (address, opener).
        self.believe = nn.Parameter(torch.randn(c.d_state) / c.d_state**0.5)
        self.embed = nn.Linear(c.d_model, c.d_inner, bias=False)
        # Supervised read-outs of the target from its state: valence, arousal (affect events) and a
        # logit of a scripted hidden intent (the deception scenario's ground truth).
        self.probe = nn.Linear(c.d_inner, 3)
        # Claim-level read-out of each message (topic, value) for duplicity: see tom_claims.py.
        self.claims = ClaimReader(c.d_model - (self.AFFECT_DIMS if affect_input else 0))

    @property
    def encoder_dim(self) -> int:
        return self.ssm.config.d_model - (self.AFFECT_DIMS if self.affect_input else 0)

    def inputs(self, embeddings: torch.Tensor, texts: list[str] | None = None) -> torch.Tensor:
        """SSM inputs for messages: unit-norm embeddings, plus their visible affect where the model takes it."""
        x = F.normalize(embeddings.float(), dim=-1)
        if not self.affect_input:
            return x
        if texts is None or len(texts) != len(x):
            raise ValueError("this ToM model takes the messages' affect: give their texts with the embeddings")
        return torch.cat([x, visible_affect(texts)], dim=-1)

    def expectation(self, h: torch.Tensor) -> torch.Tensor:
        """What the state expects its target to say next, in the comparison space (..., d_inner)."""
        return h @ self.expect

    def belief(self, h: torch.Tensor) -> torch.Tensor:
        """What the state holds the target to be saying to everyone, in the comparison space (..., d_inner)."""
        return h @ self.believe

    def probes(self, h: torch.Tensor) -> torch.Tensor:
        """(..., 3): valence and arousal in [-1, 1] / [0, 1] after tanh / sigmoid, and the intent logit."""
        raw = self.probe(self.expectation(h))
        return torch.stack([torch.tanh(raw[..., 0]), torch.sigmoid(raw[..., 1]), raw[..., 2]], dim=-1)

    def surprise(self, h: torch.Tensor, embedded: torch.Tensor) -> torch.Tensor:
        """1 − cosine between the expectation and the (embedded) message that actually came."""
        e = self.expectation(h)
        # A row-wise dot over norms: F.cosine_similarity's broadcasting path is ~3× slower at 10⁴ rows.
        dot = torch.einsum("...i,...i->...", e, embedded)
        return 1.0 - dot / (e.norm(dim=-1) * embedded.norm(dim=-1)).clamp_min(1e-8)


def visible_affect(texts: list[str]) -> torch.Tensor:
    """(n, 2): each text's lexicon valence in [-1, 1] and arousal less neutral, as the emotion section reads them."""
    return torch.tensor([_affect_of(t) for t in texts], dtype=torch.float32).view(len(texts), 2)


@functools.lru_cache(maxsize=65536)
def _affect_of(text: str) -> tuple[float, float]:
    # Cached: training reads every text once per epoch, and the lexicon costs ~50 µs a text.
    from sociallm.agents.affect import NEUTRAL_AROUSAL, appraise_text

    a = appraise_text(text)
    return a.compound, a.arousal - NEUTRAL_AROUSAL


@dataclass
class StepResult:
    """One entry per (message, observer) pair stepped; `surprise` is NaN where the pair was new."""

    message: torch.Tensor  # (P,) index into the step's messages
    observer: torch.Tensor  # (P,) agent id of the observer (see StateBank.names)
    surprise: torch.Tensor  # (P,)

    def per_message(self, names: list[str], count: int) -> list[dict[str, float]]:
        out: list[dict[str, float]] = [{} for _ in range(count)]
        for m, o, s in zip(self.message.tolist(), self.observer.tolist(), self.surprise.tolist(), strict=True):
            if s == s:  # not NaN
                out[m][names[o]] = s
        return out


def _apply(
    h: torch.Tensor, which: torch.Tensor, decay: torch.Tensor, inject: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """decay[which] ⊙ h + inject[which] (into `out` when given), without gathered (P, d_inner, d_state) copies.

    Pairs come grouped by message (each message's observers are consecutive), so runs of equal
    length can be viewed as (messages, observers, ...) and broadcast against one decay per message;
    at 10⁴ pairs the two gathered copies would cost more than the update itself. `h` is updated in
    place on that path.
    """
    counts = torch.unique_consecutive(which, return_counts=True)[1]
    if len(counts) and bool((counts == counts[0]).all()):
        first = which[:: int(counts[0])]
        k = int(counts[0])
        view = h.view(len(first), k, *h.shape[1:])
        return view.mul_(decay[first].unsqueeze(1)).add_(inject[first].unsqueeze(1)).view_as(h)
    if out is not None:
        return out.copy_(torch.addcmul(inject[which], decay[which], h))
    return torch.addcmul(inject[which], decay[which], h)


def _as_slice(idx: torch.Tensor) -> slice | None:
    """idx as a slice when it is one ascending run of consecutive rows."""
    if len(idx) == 0:
        return None
    start = int(idx[0])
    if len(idx) == 1 or bool((idx[1:] - idx[:-1] == 1).all()):
        return slice(start, start + len(idx))
    return None


class StateBank:
    """States of every (observer, target) pair; rows are found through an agent-id table, not per pair."""

    def __init__(self, model: ToMModel, capacity: int = 64) -> None:
        self.model = model
        c = model.ssm.config
        self.states = torch.zeros(capacity, c.d_inner, c.d_state)
        self.steps = torch.zeros(capacity, dtype=torch.long)
        self.names: list[str] = []
        self._ids: dict[str, int] = {}
        self._rows = torch.full((8, 8), -1, dtype=torch.long)  # [observer id, target id] -> row
        self._audiences: dict[tuple[str, ...], np.ndarray] = {}  # observer list -> their ids
        self.pairs = 0

    def agent_id(self, name: str) -> int:
        i = self._ids.get(name)
        if i is None:
            i = self._ids[name] = len(self.names)
            self.names.append(name)
            if i >= self._rows.shape[0]:
                grown = torch.full((2 * i, 2 * i), -1, dtype=torch.long)
                grown[: self._rows.shape[0], : self._rows.shape[1]] = self._rows
                self._rows = grown
        return i

    def _ensure_rows(self, obs: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        rows = self._rows[obs, tgt]
        missing = rows < 0
        if missing.any():
            # A pair may be missing twice in one call (two messages from a new speaker): dedupe, and
            # number new pairs in the order they are stepped, so that the next identical round finds
            # its rows as one slice.
            wanted = obs[missing] * self._rows.shape[1] + tgt[missing]
            uniq, inverse = torch.unique(wanted, return_inverse=True)
            first = torch.full((len(uniq),), len(wanted), dtype=torch.long)
            first.scatter_reduce_(0, inverse, torch.arange(len(wanted)), reduce="amin")
            keys = uniq[first.argsort()]
            new = torch.arange(self.pairs, self.pairs + len(keys))
            self._rows[keys // self._rows.shape[1], keys % self._rows.shape[1]] = new
            self.pairs += len(keys)
            while self.pairs > self.states.shape[0]:
                self.states = torch.cat([self.states, torch.zeros_like(self.states)])
                self.steps = torch.cat([self.steps, torch.zeros_like(self.steps)])
            rows = self._rows[obs, tgt]
        return rows

    def _pairs(
        self, messages: list[tuple[str, list[str]]]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray]:
        """(message index, observer id, target id) of every pair, grouped by message, and each message's wave.

        The speaker's self pair comes first in its group. Observer lists repeat (a channel's members),
        so their id arrays are cached: at 10⁴ pairs, per-pair Python work would cost milliseconds.
        """
        for speaker, observers in messages:  # first appearance fixes the id: the same on every replay
            for name in (speaker, *observers):
                if name not in self._ids:
                    self.agent_id(name)
        parts, counts, speakers, waves, seen = [], [], [], [], {}
        for speaker, observers in messages:
            s = self._ids[speaker]
            key = tuple(observers)
            base = self._audiences.get(key)
            if base is None:
                if len(self._audiences) >= 1024:
                    self._audiences.clear()
                ids = [self._ids[o] for o in dict.fromkeys(observers)]
                base = self._audiences[key] = np.asarray(ids, dtype=np.int64)
            part = base[base != s]
            parts += [np.array([s]), part]
            counts.append(len(part) + 1)
            speakers.append(s)
            waves.append(seen.get(s, 0))
            seen[s] = waves[-1] + 1
        count = np.asarray(counts, dtype=np.int64)
        msg = np.repeat(np.arange(len(messages)), count)
        obs = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        tgt = np.repeat(np.asarray(speakers, dtype=np.int64), count)
        return torch.from_numpy(msg), torch.from_numpy(obs), torch.from_numpy(tgt), np.asarray(waves, dtype=np.int64)

    @torch.no_grad()
    def step(
        self, messages: list[tuple[str, list[str]]], embeddings: torch.Tensor, texts: list[str] | None = None
    ) -> StepResult:
        """Step every pair a batch of messages touches, in as few batched calls as order allows.

        `messages[i] = (speaker, observers)` with `embeddings[i]` its embedding; the speaker's self
        state is stepped too. Surprise is the prediction error of the observer's state of the
        speaker *before* the message. A speaker with several messages in the batch is stepped once
        per message, in order (one wave per repeat). `texts` are needed by a model that takes the
        messages' affect.
        """
        emb = self.model.inputs(embeddings, texts)
        # Everything that depends on the message alone, once per message, shared by the pairs it steps.
        decay, inject = self.model.ssm.transition(self.model.ssm.project(emb))
        embedded = self.model.embed(emb)
        msg_t, obs_t, tgt_t, wave_of_msg = self._pairs(messages)
        rows = self._ensure_rows(obs_t, tgt_t)
        surprise = torch.full((len(msg_t),), float("nan"))
        waves = torch.from_numpy(wave_of_msg)[msg_t]
        top = int(wave_of_msg.max(initial=-1))
        for w in range(top + 1):
            sel = (waves == w).nonzero().squeeze(1) if top else None
            idx = rows if sel is None else rows[sel]
            which = msg_t if sel is None else msg_t[sel]
            # Rows made in the order they are stepped (the usual case: a society hearing each other
            # round after round) are one slice: update it in place instead of gathering and scattering.
            span = _as_slice(idx)
            h = self.states[span] if span is not None else self.states.index_select(0, idx)
            steps = self.steps[span] if span is not None else self.steps.index_select(0, idx)
            s = self.model.surprise(h, embedded.index_select(0, which))
            s[steps == 0] = float("nan")
            if sel is None:
                surprise = s
            else:
                surprise[sel] = s
            if span is not None:
                _apply(h, which, decay, inject, out=h)
                self.steps[span] += 1
            else:
                self.states.index_copy_(0, idx, _apply(h, which, decay, inject))
                self.steps.index_add_(0, idx, torch.ones_like(idx))
        return StepResult(msg_t, obs_t, surprise)

    def row(self, observer: str, target: str) -> int | None:
        i, j = self._ids.get(observer), self._ids.get(target)
        if i is None or j is None:
            return None
        r = int(self._rows[i, j])
        return None if r < 0 else r

    def state_of(self, observer: str, target: str) -> torch.Tensor | None:
        r = self.row(observer, target)
        return None if r is None else self.states[r]

    def views_of(self, target: str) -> torch.Tensor:
        """States that other agents hold of `target`, (k, d_inner, d_state)."""
        j = self._ids.get(target)
        if j is None:
            return self.states[:0]
        rows = self._rows[: len(self.names), j].clone()
        rows[j] = -1
        return self.states[rows[rows >= 0]]

    @torch.no_grad()
    def overlap(self, agent: str) -> float | None:
        """Mean cosine similarity between the agent's belief about itself and every other observer's belief about it."""
        me, others = self.state_of(agent, agent), self.views_of(agent)
        if me is None or len(others) == 0:
            return None
        mine = self.model.belief(me).unsqueeze(0)
        return float(F.cosine_similarity(self.model.belief(others), mine, dim=-1).mean())

    @torch.no_grad()
    def belief_spread(self, agent: str) -> float | None:
        """Mean pairwise cosine distance between the beliefs different observers hold of the agent."""
        views = self.views_of(agent)
        n = len(views)
        if n < 2:
            return None
        v = F.normalize(self.model.belief(views), dim=-1)
        return float(1.0 - ((v @ v.T).sum() - n) / (n * (n - 1)))

    def state(self) -> dict[str, Any]:
        n = len(self.names)
        return {
            "names": list(self.names),
            "rows": self._rows[:n, :n].tolist(),
            "states": tensor_state.encode(self.states[: self.pairs]),
            "steps": self.steps[: self.pairs].tolist(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        c = self.model.ssm.config
        self.names = list(state["names"])
        self._ids = {n: i for i, n in enumerate(self.names)}
        self._audiences = {}
        size = max(8, 2 * len(self.names))
        self._rows = torch.full((size, size), -1, dtype=torch.long)
        n = len(self.names)
        if n:
            self._rows[:n, :n] = torch.tensor(state["rows"], dtype=torch.long)
        self.pairs = len(state["steps"])
        capacity = max(64, self.pairs)
        self.states = torch.zeros(capacity, c.d_inner, c.d_state)
        self.steps = torch.zeros(capacity, dtype=torch.long)
        if self.pairs:
            self.states[: self.pairs] = tensor_state.decode(state["states"])
            self.steps[: self.pairs] = torch.tensor(state["steps"])
