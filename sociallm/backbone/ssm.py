"""A selective state-space block (the S6 recurrence of Mamba), written from its equations.

For an input x_t (d_model) and a state h (d_inner × d_state):

    x', z   = split(in_proj(x_t))              x' = SiLU(x')
    Δ, B, C = dt_proj(·), ·, ·  of x_proj(x')  Δ = softplus(dt_proj(dt) )   (input-dependent: "selective")
    A       = −exp(A_log)                      (d_inner × d_state, negative real: a stable decay)
    h       ← exp(Δ·A) ⊙ h + (Δ·B) ⊗ x'
    y       = (C·h + D ⊙ x') ⊙ SiLU(z),        out = out_proj(y)

Two forms give the same numbers (tested): `step` advances a batch of states by one input each
(inference: one step per message), and `scan` runs whole sequences with a parallel associative scan
(training). On CUDA with the `mamba-ssm` package installed, `scan` uses its fused kernel on the same
parameters; everywhere else, this pure-torch path.

There is no causal convolution before the SSM (Mamba has one over neighbouring tokens): inputs here
are whole-message embeddings, one per step, and a state that is only h keeps checkpoints and the
per-pair state bank simple.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def _mamba_kernel():  # pragma: no cover - needs CUDA and the optional `gpu` extra
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception:  # ImportError, or its CUDA extension failing to load
        return None
    return selective_scan_fn


@dataclass
class SSMConfig:
    d_model: int = 384
    d_inner: int = 64
    d_state: int = 16
    dt_rank: int = 0  # 0: ceil(d_model / 16), as in Mamba
    dt_min: float = 1e-3
    dt_max: float = 1e-1

    @property
    def rank(self) -> int:
        return self.dt_rank or math.ceil(self.d_model / 16)


@dataclass
class Projection:
    """What the block computes from the input alone; shared by every state stepped on that input."""

    x: torch.Tensor  # (..., d_inner)   after SiLU
    z: torch.Tensor  # (..., d_inner)   gate
    delta: torch.Tensor  # (..., d_inner)   after softplus
    B: torch.Tensor  # (..., d_state)
    C: torch.Tensor  # (..., d_state)

    def select(self, index: torch.Tensor) -> Projection:
        """Rows of a batch of projections, e.g. one message's projection for each state it steps."""
        return Projection(self.x[index], self.z[index], self.delta[index], self.B[index], self.C[index])


class SelectiveSSM(nn.Module):
    def __init__(self, config: SSMConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or SSMConfig()
        self.in_proj = nn.Linear(c.d_model, 2 * c.d_inner)
        self.x_proj = nn.Linear(c.d_inner, c.rank + 2 * c.d_state, bias=False)
        self.dt_proj = nn.Linear(c.rank, c.d_inner)
        self.out_proj = nn.Linear(c.d_inner, c.d_model)
        # S4D-real initialisation: A_n = −(n+1), so state dimensions decay at different rates.
        a = torch.arange(1, c.d_state + 1, dtype=torch.float32).repeat(c.d_inner, 1)
        self.A_log = nn.Parameter(torch.log(a))
        self.D = nn.Parameter(torch.ones(c.d_inner))
        # Δ starts log-uniform in [dt_min, dt_max] (the bias is softplus⁻¹ of it), so memory spans
        # a range of time scales from the first step.
        dt = torch.exp(torch.rand(c.d_inner) * (math.log(c.dt_max) - math.log(c.dt_min)) + math.log(c.dt_min))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))

    # -- the parts ---------------------------------------------------------------------------------
    def project(self, x: torch.Tensor) -> Projection:
        c = self.config
        xs, z = self.in_proj(x).chunk(2, dim=-1)
        xs = F.silu(xs)
        dt, B, C = self.x_proj(xs).split([c.rank, c.d_state, c.d_state], dim=-1)
        return Projection(x=xs, z=z, delta=F.softplus(self.dt_proj(dt)), B=B, C=C)

    @property
    def A(self) -> torch.Tensor:
        return -torch.exp(self.A_log)

    def zero_state(self, batch: int, device: torch.device | None = None) -> torch.Tensor:
        c = self.config
        return torch.zeros(batch, c.d_inner, c.d_state, device=device or self.A_log.device)

    def transition(self, p: Projection) -> tuple[torch.Tensor, torch.Tensor]:
        """(exp(Δ·A), (Δ·B) ⊗ x'): the update h ← decay ⊙ h + inject depends on the input alone."""
        delta = p.delta.unsqueeze(-1)  # (..., d_inner, 1)
        return torch.exp(delta * self.A), delta * p.B.unsqueeze(-2) * p.x.unsqueeze(-1)

    def update(self, h: torch.Tensor, p: Projection) -> torch.Tensor:
        """h ← exp(Δ·A) ⊙ h + (Δ·B) ⊗ x' for a batch of states and matching projections."""
        decay, inject = self.transition(p)
        return torch.addcmul(inject, decay, h)

    def readout(self, h: torch.Tensor, p: Projection) -> torch.Tensor:
        y = (h * p.C.unsqueeze(-2)).sum(-1) + self.D * p.x
        return self.out_proj(y * F.silu(p.z))

    # -- the two forms -----------------------------------------------------------------------------
    def step(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One input per state: x (b, d_model), h (b, d_inner, d_state) -> (out (b, d_model), new h)."""
        p = self.project(x)
        h = self.update(h, p)
        return self.readout(h, p), h

    def scan(
        self, x: torch.Tensor, h0: torch.Tensor | None = None, use_kernel: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Whole sequences: x (b, L, d_model) -> (out (b, L, d_model), final h (b, d_inner, d_state))."""
        p = self.project(x)
        kernel = _mamba_kernel() if use_kernel and x.is_cuda and h0 is None else None
        if kernel is not None:  # pragma: no cover - CUDA only
            y, last = kernel(
                p.x.transpose(1, 2).contiguous(),
                p.delta.transpose(1, 2).contiguous(),
                self.A.contiguous(),
                p.B.transpose(1, 2).contiguous(),
                p.C.transpose(1, 2).contiguous(),
                self.D.float(),
                z=p.z.transpose(1, 2).contiguous(),
                delta_softplus=False,
                return_last_state=True,
            )
            return self.out_proj(y.transpose(1, 2)), last
        decay, inject = self.transition(p)  # (b, L, d_inner, d_state) each
        if h0 is not None:
            inject = torch.cat([inject[:, :1] + decay[:, :1] * h0.unsqueeze(1), inject[:, 1:]], dim=1)
        hs = linear_recurrence(decay, inject)  # every h_t, (b, L, d_inner, d_state)
        y = (hs * p.C.unsqueeze(-2)).sum(-1) + self.D * p.x
        return self.out_proj(y * F.silu(p.z)), hs[:, -1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scan(x)[0]


def linear_recurrence(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """All h_t of h_t = a_t ⊙ h_{t−1} + b_t (h_{−1} = 0) along dim 1, in log2(L) parallel steps.

    Hillis–Steele scan with the associative operator (a₁, b₁)∘(a₂, b₂) = (a₁a₂, a₂b₁ + b₂). It only
    multiplies decays in (0, 1], so unlike a cumulative-sum-in-log-space form it cannot overflow.
    """
    length = a.shape[1]
    shift = 1
    while shift < length:
        b = torch.cat([b[:, :shift], a[:, shift:] * b[:, :-shift] + b[:, shift:]], dim=1)
        a = torch.cat([a[:, :shift], a[:, shift:] * a[:, :-shift]], dim=1)
        shift *= 2
    return b
