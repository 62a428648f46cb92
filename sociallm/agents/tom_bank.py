"""The theory-of-mind state bank: one SSM state per (observer, target) pair, all in one tensor.

Every agent models itself and each interlocutor with the *same* selective-SSM weights (the
proposal's inductive bias toward self–other overlap); only the states differ. A message from X is
one input: it steps every observer's state of X, and X's own self state (observer == target == X),
in one batched call. The input projection depends on the message alone, so it is computed once per
message and shared by all the pairs it steps.

Read-outs (all from states, no model call):
- surprise: how badly the state of X predicted X's next message (1 − cosine), measured before the
  state takes that message in — the proposal's "energy";
- overlap(X): how similar others' states of X are to X's own self state;
- duplicity(X): how much the states different observers hold of X disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sociallm.backbone.ssm import SelectiveSSM, SSMConfig


class ToMModel(nn.Module):
    """The shared SSM plus the heads that read expectations out of a state.

    The next-message prediction is compared in a learned d_inner-wide space rather than the
    encoder's: contracting a state with one learned vector costs d_inner·d_state per pair, while a
    full linear head from the flattened state to d_model costs d_inner·d_state·d_model — per pair,
    and there can be 10⁴ pairs per round.
    """

    def __init__(self, config: SSMConfig | None = None) -> None:
        super().__init__()
        self.ssm = SelectiveSSM(config)
        c = self.ssm.config
        self.expect = nn.Parameter(torch.randn(c.d_state) / c.d_state**0.5)
        self.embed = nn.Linear(c.d_model, c.d_inner, bias=False)
        # Supervised read-outs of the target from its state: valence, arousal (affect events) and a
        # logit of a scripted hidden intent (the deception scenario's ground truth).
        self.probe = nn.Linear(c.d_inner, 3)

    def expectation(self, h: torch.Tensor) -> torch.Tensor:
        """What the state expects its target to say next, in the comparison space (..., d_inner)."""
        return h @ self.expect

    def probes(self, h: torch.Tensor) -> torch.Tensor:
        """(..., 3): valence and arousal in [-1, 1] / [0, 1] after tanh / sigmoid, and the intent logit."""
        raw = self.probe(self.expectation(h))
        return torch.stack([torch.tanh(raw[..., 0]), torch.sigmoid(raw[..., 1]), raw[..., 2]], dim=-1)

    def surprise(self, h: torch.Tensor, embedded: torch.Tensor) -> torch.Tensor:
        """1 − cosine between the expectation and the (embedded) message that actually came."""
        return 1.0 - F.cosine_similarity(self.expectation(h), embedded, dim=-1)


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


def _apply(h: torch.Tensor, which: torch.Tensor, decay: torch.Tensor, inject: torch.Tensor) -> torch.Tensor:
    """decay[which] ⊙ h + inject[which], without materialising the gathered (P, d_inner, d_state) copies.

    Pairs come grouped by message (each message's observers are consecutive), so runs of equal
    length can be viewed as (messages, observers, ...) and broadcast against one decay per message;
    at 10⁴ pairs the two gathered copies would cost more than the update itself.
    """
    counts = torch.unique_consecutive(which, return_counts=True)[1]
    if len(counts) and bool((counts == counts[0]).all()):
        first = which[:: int(counts[0])]
        k = int(counts[0])
        view = h.view(len(first), k, *h.shape[1:])
        return view.mul_(decay[first].unsqueeze(1)).add_(inject[first].unsqueeze(1)).view_as(h)
    return torch.addcmul(inject[which], decay[which], h)


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
            # A pair may be missing twice in one call (two messages from a new speaker): dedupe first.
            keys = torch.unique(obs[missing] * self._rows.shape[1] + tgt[missing])
            new = torch.arange(self.pairs, self.pairs + len(keys))
            self._rows[keys // self._rows.shape[1], keys % self._rows.shape[1]] = new
            self.pairs += len(keys)
            while self.pairs > self.states.shape[0]:
                self.states = torch.cat([self.states, torch.zeros_like(self.states)])
                self.steps = torch.cat([self.steps, torch.zeros_like(self.steps)])
            rows = self._rows[obs, tgt]
        return rows

    @torch.no_grad()
    def step(self, messages: list[tuple[str, list[str]]], embeddings: torch.Tensor) -> StepResult:
        """Step every pair a batch of messages touches, in as few batched calls as order allows.

        `messages[i] = (speaker, observers)` with `embeddings[i]` its embedding; the speaker's self
        state is stepped too. Surprise is the prediction error of the observer's state of the
        speaker *before* the message. A speaker with several messages in the batch is stepped once
        per message, in order (one wave per repeat).
        """
        emb = F.normalize(embeddings.float(), dim=-1)
        # Everything that depends on the message alone, once per message, shared by the pairs it steps.
        decay, inject = self.model.ssm.transition(self.model.ssm.project(emb))
        embedded = self.model.embed(emb)
        msg, obs, tgt, wave_of_msg, seen = [], [], [], [], {}
        for i, (speaker, observers) in enumerate(messages):
            s = self.agent_id(speaker)
            ids = [s, *(self.agent_id(o) for o in observers if o != speaker)]
            msg += [i] * len(ids)
            obs += ids
            tgt += [s] * len(ids)
            wave_of_msg.append(seen.get(s, 0))
            seen[s] = wave_of_msg[-1] + 1
        msg_t, obs_t = torch.tensor(msg), torch.tensor(obs)
        rows = self._ensure_rows(obs_t, torch.tensor(tgt))
        surprise = torch.full((len(msg),), float("nan"))
        waves = torch.tensor(wave_of_msg)[msg_t]
        for w in range(max(wave_of_msg, default=-1) + 1):
            sel = (waves == w).nonzero().squeeze(1) if w or len(seen) < len(messages) else None
            idx = rows if sel is None else rows[sel]
            which = msg_t if sel is None else msg_t[sel]
            h = self.states.index_select(0, idx)
            s = self.model.surprise(h, embedded.index_select(0, which))
            s[self.steps.index_select(0, idx) == 0] = float("nan")
            if sel is None:
                surprise = s
            else:
                surprise[sel] = s
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

    def overlap(self, agent: str) -> float | None:
        """Mean cosine similarity between the agent's self state and every other observer's state of it."""
        me, others = self.state_of(agent, agent), self.views_of(agent)
        if me is None or len(others) == 0:
            return None
        return float(F.cosine_similarity(others.flatten(1), me.flatten().unsqueeze(0), dim=-1).mean())

    def duplicity(self, agent: str) -> float | None:
        """Mean pairwise cosine distance between the states different observers hold of the agent."""
        views = self.views_of(agent)
        n = len(views)
        if n < 2:
            return None
        v = F.normalize(views.flatten(1), dim=-1)
        return float(1.0 - ((v @ v.T).sum() - n) / (n * (n - 1)))

    def state(self) -> dict[str, Any]:
        n = len(self.names)
        return {
            "names": list(self.names),
            "rows": self._rows[:n, :n].tolist(),
            "states": self.states[: self.pairs].tolist(),
            "steps": self.steps[: self.pairs].tolist(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        c = self.model.ssm.config
        self.names = list(state["names"])
        self._ids = {n: i for i, n in enumerate(self.names)}
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
            self.states[: self.pairs] = torch.tensor(state["states"])
            self.steps[: self.pairs] = torch.tensor(state["steps"])
