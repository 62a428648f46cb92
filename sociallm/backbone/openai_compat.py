"""An `LLM` over any OpenAI-compatible HTTP server: llama.cpp / xllamacpp, vLLM, or a hosted API.

A batch is sent as concurrent requests (bounded by `max_in_flight`) rather than one by one, because
both llama.cpp (`n_parallel` slots) and vLLM batch whatever is in flight at the same moment.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Self

import httpx

from sociallm.backbone.base import (
    BackendError,
    ChoiceConstraint,
    GenerationRequest,
    GenerationResult,
    NumberConstraint,
)
from sociallm.backbone.dialects import DIALECTS, MAX_STOPS, Dialect

# Rate limits, overload and server faults pass; 501/505 say "never", so retrying them only adds delay.
_RETRY_STATUS = frozenset({408, 429}) | (frozenset(range(500, 600)) - {501, 505})
_MAX_BACKOFF_S = 30.0
_MAX_RETRY_AFTER_S = 60.0
_ERROR_TEXT_CHARS = 300


def normalise_base_url(url: str) -> str:
    """`http://host:port`, `.../`, `.../v1` and `.../v1/` all become `.../v1`."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        url = "http://" + url
    return url if url.endswith("/v1") else url + "/v1"


def _one_line(text: str, limit: int = _ERROR_TEXT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return _one_line(response.text) or response.reason_phrase
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return _one_line(str(err["message"]))
        if isinstance(err, str):
            return _one_line(err)
    return _one_line(response.text)


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER_S)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(when.timestamp() - time.time(), 0.0), _MAX_RETRY_AFTER_S)


def detect_dialect(models_body: Any) -> str:
    """Guess the server from its /v1/models reply: vLLM and llama.cpp both label `owned_by`."""
    data = models_body.get("data", []) if isinstance(models_body, dict) else []
    owners = {str(m.get("owned_by", "")).lower() for m in data if isinstance(m, dict)}
    if "vllm" in owners:
        return "vllm"
    if "llamacpp" in owners or "llama.cpp" in owners:
        return "llamacpp"
    # Older llama.cpp builds: an Ollama-style "models" list beside "data", or GGUF metadata per model.
    if isinstance(models_body, dict) and "models" in models_body:
        return "llamacpp"
    if any(isinstance(m, dict) and "n_ctx_train" in (m.get("meta") or {}) for m in data):
        return "llamacpp"
    return "openai"


def _served_names(models_body: Any) -> list[str]:
    names: list[str] = []
    for m in models_body.get("data", []) if isinstance(models_body, dict) else []:
        if isinstance(m, dict):
            names.extend(str(n) for n in [m.get("id"), *(m.get("aliases") or [])] if n)
    return list(dict.fromkeys(names))


def _token_logprobs(logprobs: Any) -> list[float] | None:
    """Chosen-token logprobs from either the chat shape (`content`) or the legacy completions shape."""
    if not isinstance(logprobs, dict):
        return None
    if isinstance(logprobs.get("content"), list):
        return [float(t["logprob"]) for t in logprobs["content"] if t.get("logprob") is not None]
    if isinstance(logprobs.get("token_logprobs"), list):
        return [float(x) for x in logprobs["token_logprobs"] if x is not None]
    return None


def _has_choices(reply: Any) -> str | None:
    """None for a reply with a usable first choice, else what is wrong with it (for the error line)."""
    choices = reply.get("choices") if isinstance(reply, dict) else None
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        return f"a reply without choices: {_one_line(str(reply), 120)}"
    return None


def _cached_tokens(body: dict[str, Any]) -> int | None:
    details = (body.get("usage") or {}).get("prompt_tokens_details") or {}
    if details.get("cached_tokens") is not None:
        return int(details["cached_tokens"])
    timings = body.get("timings") or {}
    if timings.get("cache_n") is not None:
        return int(timings["cache_n"])
    return None


@dataclass
class TextScore:
    """How probable a text was after a context: `logprob` is the natural-log sum over its `tokens`."""

    logprob: float
    tokens: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int | None = None
    latency_s: float = 0.0
    model: str = ""
    exact: bool = True  # False: one forced tokenization path (a lower bound), see OpenAICompatLLM.score

    @property
    def bits(self) -> float:
        return -self.logprob / math.log(2)


class OpenAICompatLLM:
    """The `LLM` protocol over /v1/completions (prompt) and /v1/chat/completions (messages).

    `cache_prompt` (llama.cpp only): keep it on for speed; turn it off, and send requests one at a
    time, when the same seed must give the same text (measured on xllamacpp: a prompt-cache hit or
    a different batch changes the sampled text for the same seed).
    """

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        max_in_flight: int = 16,
        timeout_s: float = 120.0,
        retries: int = 4,
        backoff_s: float = 0.5,
        dialect: str = "auto",
        transport: httpx.AsyncBaseTransport | None = None,
        cache_prompt: bool = True,
        required_models: dict[str, str] | None = None,
    ) -> None:
        if dialect != "auto" and dialect not in DIALECTS:
            raise ValueError(f"dialect must be 'auto' or one of {', '.join(DIALECTS)}, not {dialect!r}")
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.base_url = normalise_base_url(base_url)
        self.model = model
        self.dialect = dialect  # the name ("auto" until start() asks the server); `server` is its object
        self.max_in_flight = max_in_flight
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        self.served_models: list[str] = []
        self.serves_lora = False
        self.cache_prompt = cache_prompt
        self.send_seed = True  # per-request seeds; VLLMLLM turns them off where the server crashes on them
        # Where in the scenario a model name came from -> the name; checked against /v1/models at start.
        self.required_models = dict(required_models or {})
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout_s,
            transport=transport,
            limits=httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight),
        )
        self._slots = asyncio.Semaphore(max_in_flight)
        self._started = False
        self._start_lock = asyncio.Lock()
        # Injectable so tests can observe back-off without waiting.
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    async def __aenter__(self) -> OpenAICompatLLM:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> OpenAICompatLLM:
        """Check the server answers, pick the default model and the constraint dialect."""
        async with self._start_lock:
            if self._started:
                return self
            body, _ = await self._request("GET", "/models")
            self.served_models = _served_names(body)
            # vLLM lists LoRA adapters with their base model as `parent`.
            self.serves_lora = any(isinstance(m, dict) and m.get("parent") for m in (body or {}).get("data", []))
            if self.dialect == "auto":
                self.dialect = detect_dialect(body)
            if self.model is None:
                if not self.served_models:
                    raise BackendError(f"model server at {self.base_url} lists no models at /v1/models")
                self.model = self.served_models[0]
            elif self.served_models and self.model not in self.served_models:
                raise BackendError(
                    f"model {self.model!r} is not served at {self.base_url}; served: {', '.join(self.served_models)}"
                )
            served = set(self.served_models)
            missing = [f"{where}: {name!r}" for where, name in self.required_models.items() if name not in served]
            if missing and self.served_models:
                raise BackendError(
                    f"{'; '.join(missing)} not served at {self.base_url}; served: {', '.join(self.served_models)} "
                    "(add it to the server, e.g. --served-model-name or --lora-modules, or fix the name)"
                )
            self._started = True
        return self

    async def open(self) -> Self:
        """start(), closing everything this client holds if it fails."""
        try:
            await self.start()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def aclose(self) -> None:
        await self._client.aclose()

    def describe(self) -> dict[str, Any]:
        return {"kind": "openai", "url": self.base_url, "model": self.model, "dialect": self.dialect}

    def supports(self, constraint: Any) -> bool:
        """Whether this server's dialect can enforce `constraint` (a generic server, or one whose dialect is
        not known yet, says no: an unenforced grammar would be ignored, not refused)."""
        try:
            self.server_dialect.constraint_fields(constraint, chat=False)
        except ValueError:
            return False
        return True

    # ---- generation -----------------------------------------------------------------------------

    async def generate(self, requests: list[GenerationRequest]) -> list[GenerationResult]:
        if not self._started:
            await self.start()
        tasks = [asyncio.create_task(self._generate_one(r)) for r in requests]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            # One failure fails the batch; do not leave siblings retrying in the background.
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    def build_body(self, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
        """The endpoint path and JSON body for one request (public so tests and tools can inspect it)."""
        chat = request.messages is not None
        if chat == (request.prompt is not None):
            raise ValueError("a GenerationRequest needs exactly one of prompt or messages")
        body: dict[str, Any] = {
            "model": request.model or self.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
        }
        if chat:
            body["messages"] = [m.model_dump() for m in request.messages or []]
        else:
            body["prompt"] = request.prompt
        if request.seed is not None and self.send_seed:
            body["seed"] = request.seed
        if request.stop:
            # vLLM and OpenAI accept at most 4 stop strings (HTTP 400 beyond); the rest are cut client-side.
            body["stop"] = self.server_dialect.stops(request.stop)
        if request.logprobs:
            if chat:
                body["logprobs"] = True
                body["top_logprobs"] = request.logprobs
            else:
                body["logprobs"] = request.logprobs
        body.update(self.server_dialect.cache_fields(self.cache_prompt))
        if request.repetition_guard > 0:
            body.update(self.server_dialect.repetition_fields(request.repetition_guard))
        body.update(self.server_dialect.constraint_fields(request.constraint, chat=chat))
        return ("/chat/completions" if chat else "/completions"), body

    async def _generate_one(self, request: GenerationRequest) -> GenerationResult:
        path, body = self.build_body(request)
        async with self._slots:
            started = time.perf_counter()
            reply, attempts = await self._request("POST", path, body, check=_has_choices)
            latency = time.perf_counter() - started
        choice = reply["choices"][0]
        if "message" in choice:
            text = (choice.get("message") or {}).get("content") or ""
        else:
            text = choice.get("text") or ""
        finish = choice.get("finish_reason")
        if len(request.stop) > len(body.get("stop", request.stop)):
            text, cut = _cut_at_stops(text, request.stop[MAX_STOPS:])
            finish = "stop" if cut else finish
        text = _tidy_constrained(text, request)
        usage = reply.get("usage") or {}
        return GenerationResult(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cached_tokens=_cached_tokens(reply),
            latency_s=latency,
            finish_reason=finish,
            model=str(reply.get("model") or body.get("model") or ""),
            attempts=attempts,
            logprobs=_token_logprobs(choice.get("logprobs")) if request.logprobs else None,
        )

    # ---- information content --------------------------------------------------------------------

    async def score(self, items: list[tuple[str, str]], model: str | None = None) -> list[TextScore]:
        """Log-probability of each `text` continuing its `context`: [(context, text), ...], sent concurrently.

        vLLM: the prompt's own logprobs (`echo` + `logprobs: 0`, one token generated), so the text's own
        tokenization is scored (`exact`). llama.cpp has no prompt logprobs; decoding is forced through a
        grammar that spells the text at temperature 0 and the raw (pre-grammar) logprob of each forced
        token is summed: one tokenization path of the text, so a lower bound on its probability. Generic
        OpenAI servers have neither and raise BackendError.
        """
        if not self._started:
            await self.start()
        if not self.server_dialect.can_score:
            raise BackendError(f"server at {self.base_url} ({self.dialect}) offers no prompt logprobs to score text")
        return list(await asyncio.gather(*(self._score_one(c, t, model) for c, t in items)))

    async def _score_one(self, context: str, text: str, model: str | None) -> TextScore:
        body: dict[str, Any] = {"model": model or self.model, "temperature": 0.0}
        body.update(self.server_dialect.score_fields(context, text, self.cache_prompt))
        async with self._slots:
            started = time.perf_counter()
            reply, _ = await self._request("POST", "/completions", body, check=_has_choices)
            latency = time.perf_counter() - started
        try:
            choice = reply["choices"][0]
            usage = reply.get("usage") or {}
            logprob, tokens = self.server_dialect.read_score(choice, usage, context, text)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise BackendError(f"server at {self.base_url} gave no usable logprobs for scoring: {exc}") from exc
        return TextScore(
            logprob=logprob,
            tokens=tokens,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cached_tokens=_cached_tokens(reply),
            latency_s=latency,
            model=str(reply.get("model") or body["model"] or ""),
            exact=self.server_dialect.exact_scores,
        )

    @property
    def server_dialect(self) -> Dialect:
        """What this server's dialect accepts (constraints, samplers, stops, scoring): one object per dialect."""
        return DIALECTS[self.dialect if self.dialect != "auto" else "openai"]

    # ---- transport ------------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        check: Callable[[Any], str | None] | None = None,
    ) -> tuple[Any, int]:
        """JSON reply and the number of attempts it took; retries what a retry can fix.

        A 2xx reply that is not JSON, or that `check` finds unusable (no choices), is retried like a
        5xx: an overloaded or restarting server, or a proxy in front of it, sends such replies now and
        then, and one must not end a run that a second attempt would have carried on."""
        url = self.base_url + path
        attempts = 0
        while True:
            attempts += 1
            last_try = attempts > self.retries
            try:
                response = await self._client.request(method, path, json=body)
            except httpx.TransportError as exc:  # connect/read errors and timeouts
                if await self._recover(exc):
                    attempts -= 1  # the fault was fixed (e.g. a crashed server restarted): not the request's fault
                    continue
                if last_try:
                    raise BackendError(
                        f"cannot reach model server at {url} ({type(exc).__name__}: "
                        f"{_one_line(str(exc), 120) or 'no detail'}) after {attempts} attempt(s): "
                        "start it, or check --backend"
                    ) from exc
                await self._sleep(self._backoff(attempts))
                continue
            if response.status_code < 400:
                try:
                    reply = response.json()
                    problem = check(reply) if check is not None else None
                except ValueError:
                    reply, problem = None, f"a reply that is not JSON: {_one_line(response.text, 120) or 'empty'}"
                if problem is None:
                    return reply, attempts
                if last_try:
                    raise BackendError(f"model server at {url} sent {problem} ({attempts} attempt(s))")
                await self._sleep(self._backoff(attempts))
                continue
            if response.status_code not in _RETRY_STATUS:
                raise BackendError(
                    f"model server at {url} rejected the request: HTTP {response.status_code}: {_error_text(response)}"
                )
            if last_try:
                raise BackendError(
                    f"model server at {url} failed after {attempts} attempt(s): "
                    f"HTTP {response.status_code}: {_error_text(response)}"
                )
            delay = _retry_after_s(response)
            await self._sleep(self._backoff(attempts) if delay is None else delay)

    async def _recover(self, exc: httpx.TransportError) -> bool:
        """A chance to fix the server after a transport error (True = fixed, retry now). Subclasses that
        own their server restart it here; a plain client cannot."""
        return False

    def _backoff(self, attempt: int) -> float:
        # Full jitter: concurrent requests that failed together do not come back together.
        return random.uniform(0.0, min(_MAX_BACKOFF_S, self.backoff_s * 2 ** (attempt - 1)))


def repetition_fields(strength: float, dialect: str) -> dict[str, Any]:
    """The anti-repetition sampler of the `dialect` server (see backbone/dialects.py)."""
    return DIALECTS[dialect].repetition_fields(strength)


def _cut_at_stops(text: str, stops: list[str]) -> tuple[str, bool]:
    """`text` up to the earliest of `stops` (excluded), and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


def _tidy_constrained(text: str, request: GenerationRequest) -> str:
    """Drop the optional leading space the choice/number grammars allow (see constraints.py)."""
    constraint = request.constraint
    if isinstance(constraint, NumberConstraint):
        return text.strip()
    if isinstance(constraint, ChoiceConstraint) and text not in constraint.options:
        stripped = text.strip()
        if stripped in constraint.options:
            return stripped
    return text
