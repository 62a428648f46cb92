"""Tensors in checkpoints: raw little-endian bytes in base64, not JSON lists of floats.

The theory-of-mind bank's states and the claim ledgers' vectors were most of a checkpoint (1 MB of
JSON at 8 agents, ~18 ms to encode each round); their bytes are exact, a third of the size and cost
a copy to encode. Checkpoints written before this stored nested lists: `decode` still reads them.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import torch


def encode(t: torch.Tensor) -> dict[str, Any]:
    a = t.detach().cpu().contiguous().numpy()
    return {"dtype": a.dtype.str, "shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode("ascii")}


def decode(data: Any, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    if isinstance(data, dict) and "b64" in data:
        a = np.frombuffer(base64.b64decode(data["b64"]), dtype=np.dtype(data["dtype"])).reshape(data["shape"])
        return torch.from_numpy(a.copy())
    return torch.tensor(data, dtype=dtype)  # an older checkpoint's nested list
