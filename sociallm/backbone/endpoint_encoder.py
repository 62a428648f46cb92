"""The "backbone" encoder: the serving model's own embedding of a message, via `/v1/embeddings`.

`EndpointEncoder` asks any OpenAI-compatible server (llama.cpp started with embeddings on, vLLM
started as a pooling / embedding model); `embedded_encoder` starts a second, embedding-only
in-process llama.cpp server on the embedded Gemma GGUF the first time it is asked. Selected with
`make_encoder("backbone", ...)` in encoders.py.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import numpy as np

from sociallm.backbone.text_cache import EncoderError, TextCache

T = TypeVar("T")

# Replies meaning "no embeddings here" (llama.cpp without --embeddings: 501; a vLLM generate model or a
# plain proxy: 404/405): asking again cannot help, so they fail at once with the fix.
_NO_EMBEDDINGS_STATUS = frozenset({404, 405, 501})
# Worth a short retry: overload and a server still loading its model (llama.cpp answers 503 then).
_RETRY_STATUS = frozenset({408, 429, 502, 503, 504})
_NO_EMBEDDINGS_FIX = (
    "start llama.cpp with --embeddings --pooling mean or vLLM as an embedding model (--runner pooling), "
    "point backbone.embeddings_url at such a server, or use encoder: minilm"
)


def _error_text(response: httpx.Response, limit: int = 240) -> str:
    try:
        body = response.json()
        err = body.get("error", body) if isinstance(body, dict) else body
        text = str(err.get("message", err)) if isinstance(err, dict) else str(err)
    except ValueError:
        text = response.text or response.reason_phrase
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _says_no_embeddings(text: str) -> bool:
    low = text.lower()
    return "embedding" in low and any(k in low for k in ("not support", "not enabled", "unsupported", "--embedding"))


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion from blocking code, whether or not this thread already runs a loop."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=target, name="encoder-sync", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class EndpointEncoder:
    """Message embeddings from the serving model itself, via an OpenAI-compatible `/v1/embeddings`.

    Give it a `url` (any such server), or a `server` to start on first use (an object with async
    `start()`, `url` and async `stop()`, e.g. an embedding-mode `EmbeddedServer`); `aclose()` stops a
    server it started. `dim` is 0 until the first reply, which fixes it. Rows come back L2-normalised
    whatever the server does; a per-text LRU cache means N agents seeing one line cost one lookup.
    Texts longer than `max_chars` are cut, since llama.cpp refuses a pooled input longer than its batch.
    """

    name = "backbone"

    def __init__(
        self,
        url: str | None = None,
        model: str | None = None,
        *,
        server: Any = None,
        api_key: str | None = None,
        batch_size: int = 32,
        max_in_flight: int = 2,
        cache_size: int = 4096,
        max_chars: int = 2000,
        timeout_s: float = 60.0,
        retries: int = 2,
        backoff_s: float = 0.25,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if (url is None) == (server is None):
            raise ValueError("EndpointEncoder needs either a url or a server to start (exactly one)")
        if batch_size < 1 or max_in_flight < 1 or max_chars < 1:
            raise ValueError("batch_size, max_in_flight and max_chars must be ≥ 1")
        from sociallm.backbone.openai_compat import normalise_base_url

        self.base_url = normalise_base_url(url) if url else None  # ".../v1"
        self.model = model
        self.server = server
        self.dim = 0
        self.batch_size = batch_size
        self.max_in_flight = max_in_flight
        self.max_chars = max_chars
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._transport = transport
        self.cache = TextCache(cache_size)
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._model_probed = model is not None
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self.requests = 0

    @property
    def hits(self) -> int:
        return self.cache.hits

    @property
    def encoded(self) -> int:
        return self.cache.encoded  # texts that went to the server (cache misses)

    @property
    def endpoint(self) -> str:
        return f"{self.base_url or '<not started>'}/embeddings"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.base_url, "model": self.model, "dim": self.dim}

    # -- public API -----------------------------------------------------------------------------------
    async def encode(self, texts: list[str]) -> np.ndarray:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            # A client is bound to its loop; a run has one loop, so this happens once.
            self._client, self._client_loop = self._new_client(), loop
        return await self._encode(texts, self._client)

    def encode_sync(self, texts: list[str]) -> np.ndarray:
        """Blocking, cached: for training code and benchmarks outside (or inside) an event loop."""

        async def once() -> np.ndarray:
            async with self._new_client() as client:
                return await self._encode(texts, client)

        return _run_sync(once())

    async def probe(self) -> int:
        """Start the server if needed and learn `dim` with one tiny request."""
        if not self.dim:
            await self.encode(["dimension probe"])
        return self.dim

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                if self._client_loop is asyncio.get_running_loop():
                    await client.aclose()
            finally:
                self._client_loop = None
        if self.server is not None and self.base_url is not None:
            self.base_url = None  # a later encode starts the server again
            await self.server.stop()

    def close(self) -> None:
        """`aclose()` for blocking code (the async client, if any, is dropped with its loop)."""
        self._client = self._client_loop = None
        _run_sync(self.aclose())

    # -- internals ------------------------------------------------------------------------------------
    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.timeout_s, headers=self._headers, transport=self._transport)

    async def _encode(self, texts: list[str], client: httpx.AsyncClient) -> np.ndarray:
        return await self.cache.get(texts, lambda todo: self._fetch(todo, client), lambda: self.dim)

    async def _fetch(self, texts: list[str], client: httpx.AsyncClient) -> np.ndarray:
        await self._ensure_started()
        await self._ensure_model(client)
        gate = asyncio.Semaphore(self.max_in_flight)

        async def one(batch: list[str]) -> np.ndarray:
            async with gate:
                return await self._post(client, batch)

        chunks = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        return np.concatenate(await asyncio.gather(*(one(c) for c in chunks)))

    async def _ensure_started(self) -> None:
        if self.base_url is None:
            # In a thread with its own loop, so encode() and encode_sync() from any loop share one start.
            await asyncio.to_thread(self._start_blocking)

    def _start_blocking(self) -> None:
        from sociallm.backbone.openai_compat import normalise_base_url

        with self._start_lock:
            if self.base_url is not None:
                return
            try:
                asyncio.run(self.server.start())
            except Exception as exc:
                raise EncoderError(
                    f"encoder 'backbone': the embedding-mode model server failed to start: {exc}; "
                    "use encoder: minilm, or point backbone.embeddings_url at a running server"
                ) from exc
            self.base_url = normalise_base_url(self.server.url)

    async def _ensure_model(self, client: httpx.AsyncClient) -> None:
        # vLLM and hosted servers want a model name; llama.cpp takes any. Ask the server once.
        if self._model_probed:
            return
        self._model_probed = True
        try:
            response = await client.get(f"{self.base_url}/models")
            data = response.json().get("data") if response.status_code == 200 else None
            if data:
                self.model = str(data[0]["id"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
            pass  # send no model: servers with one model accept that

    async def _post(self, client: httpx.AsyncClient, batch: list[str]) -> np.ndarray:
        url = self.endpoint
        body: dict[str, Any] = {"input": [t[: self.max_chars] for t in batch], "encoding_format": "float"}
        if self.model:
            body["model"] = self.model
        for attempt in range(self.retries + 1):
            last_try = attempt == self.retries
            try:
                response = await client.post(url, json=body)
            except httpx.TransportError as exc:
                if not last_try:
                    await asyncio.sleep(self.backoff_s * 2**attempt)
                    continue
                what = (
                    f"no answer from {url} within {self.timeout_s:g} s"
                    if isinstance(exc, httpx.TimeoutException)
                    else f"cannot reach {url} ({type(exc).__name__})"
                )
                raise EncoderError(
                    f"encoder 'backbone': {what}; start the embeddings server, fix backbone.embeddings_url, "
                    "or use encoder: minilm"
                ) from exc
            self.requests += 1
            if response.status_code == 200:
                return self._parse(response, len(batch))
            text = _error_text(response)
            if response.status_code in _NO_EMBEDDINGS_STATUS or _says_no_embeddings(text):
                raise EncoderError(
                    f"encoder 'backbone': {url} has no embeddings endpoint "
                    f"(HTTP {response.status_code}: {text}); {_NO_EMBEDDINGS_FIX}"
                )
            if response.status_code in _RETRY_STATUS and not last_try:
                await asyncio.sleep(self.backoff_s * 2**attempt)
                continue
            raise EncoderError(f"encoder 'backbone': {url} answered HTTP {response.status_code}: {text}")
        raise AssertionError("unreachable")

    def _parse(self, response: httpx.Response, n: int) -> np.ndarray:
        url = self.endpoint
        try:
            rows = sorted(response.json()["data"], key=lambda d: d.get("index", 0))
            vecs = np.asarray([d["embedding"] for d in rows], dtype=np.float32)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise EncoderError(
                f"encoder 'backbone': {url} did not reply with OpenAI-style data[].embedding lists "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        if vecs.ndim != 2 or vecs.shape[0] != n or vecs.shape[1] == 0:
            raise EncoderError(
                f"encoder 'backbone': {url} returned shape {vecs.shape} for {n} texts; expected one pooled "
                "vector per text (llama.cpp: --pooling mean)"
            )
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        if not np.all(np.isfinite(norms)) or np.any(norms == 0):
            raise EncoderError(f"encoder 'backbone': {url} returned a zero or non-finite embedding")
        with self._lock:
            if not self.dim:
                self.dim = int(vecs.shape[1])
            elif vecs.shape[1] != self.dim:
                raise EncoderError(
                    f"encoder 'backbone': {url} returned {vecs.shape[1]}-d vectors after {self.dim}-d ones; "
                    "one run must keep one embedding model"
                )
        return vecs / norms


def embedded_encoder(
    *,
    n_parallel: int = 2,
    ctx_per_slot: int = 1024,
    threads: int | None = None,
    pooling: str = "last",
    **options: Any,
) -> EndpointEncoder:
    """The "backbone" encoder for the embedded Gemma: a second llama.cpp server in embedding mode.

    Why a second server: one llama.cpp server with --embeddings also answers completions, but then
    embedding requests share the generation slots' batches (a different batch changes the sampled text
    for a seed, which `backbone.deterministic` relies on) and the main server must be started knowing
    it. This one costs ~0.4 GB RSS and ~2 s, paid on the first encode only; `aclose()` stops it.
    Half the cores by default: it shares them with the generation server, and llama.cpp's threads spin
    badly when oversubscribed. Pooling "last" by default (see EmbeddedServer). Texts are cut at 1000
    characters: llama.cpp computes the 262k-word vocabulary logits for every token of a pooled input,
    so memory and time grow with its length.
    """
    from sociallm.backbone.embedded import MODEL_ALIAS, EmbeddedServer

    threads = threads or max(1, (os.cpu_count() or 2) // 2)
    server = EmbeddedServer(
        embeddings=True, pooling=pooling, n_parallel=n_parallel, ctx_per_slot=ctx_per_slot, threads=threads
    )
    options.setdefault("max_in_flight", n_parallel)
    options.setdefault("max_chars", 1000)
    options.setdefault("retries", 1)  # a local server that errors will not get better by waiting
    return EndpointEncoder(model=MODEL_ALIAS, server=server, **options)
