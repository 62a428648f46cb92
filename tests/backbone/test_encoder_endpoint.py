"""The "backbone" encoder: /v1/embeddings against a small real HTTP server, and the embedded Gemma for real."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from sociallm.backbone.embedded import free_port
from sociallm.backbone.encoders import (
    ENCODERS,
    EncoderError,
    close_shared_encoder,
    embeddings_options,
    make_encoder,
    shared_encoder,
)
from sociallm.backbone.endpoint_encoder import EndpointEncoder, embedded_encoder
from sociallm.runtime.scenario import BackboneSpec

DIM = 8
Reply = tuple[int, Any]


def raw_vector(text: str) -> list[float]:
    """Deterministic, deliberately not unit-norm (length 3..5), like a server that does not normalise."""
    digest = hashlib.sha256(text.encode()).digest()
    v = np.frombuffer(digest[: DIM * 2], dtype=np.uint16).astype(np.float64) - 32768.0
    return list(v / np.linalg.norm(v) * (3.0 + len(text) % 3))


def embeddings_reply(body: dict[str, Any]) -> Reply:
    rows = [{"object": "embedding", "index": i, "embedding": raw_vector(t)} for i, t in enumerate(body["input"])]
    # Out of order on purpose: clients must sort by index.
    return 200, {"object": "list", "data": rows[::-1], "model": body.get("model"), "usage": {"prompt_tokens": 1}}


class FakeServer:
    """An OpenAI-style server on a loopback port; `respond(path, body)` decides each reply."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.respond: Callable[[str, dict[str, Any]], Reply] = lambda path, body: embeddings_reply(body)
        self.models: Reply = (200, {"object": "list", "data": [{"id": "org/embedder"}]})
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path, {}))
                self._send(*fake.models) if self.path == "/v1/models" else self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(("POST", self.path, body))
                self._send(*fake.respond(self.path, body))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def posts(self) -> list[dict[str, Any]]:
        return [body for method, path, body in self.requests if method == "POST"]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    s = FakeServer()
    try:
        yield s
    finally:
        s.close()


def encoder(server: FakeServer, **kw: Any) -> EndpointEncoder:
    kw.setdefault("backoff_s", 0.001)
    return EndpointEncoder(server.url, **kw)


# ---- vectors ------------------------------------------------------------------------------------------


async def test_rows_are_unit_norm_in_input_order_and_dim_is_learnt(server: FakeServer) -> None:
    enc = encoder(server)
    assert enc.dim == 0 and enc.name == "backbone"
    texts = ["hello there", "the cat sat", "prices stay at 1.90"]
    vecs = await enc.encode(texts)
    assert vecs.shape == (3, DIM) and vecs.dtype == np.float32 and enc.dim == DIM
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-6)
    for v, t in zip(vecs, texts, strict=True):
        want = np.asarray(raw_vector(t))
        assert np.allclose(v, want / np.linalg.norm(want), atol=1e-6)
    [post] = server.posts
    assert post["input"] == texts and post["encoding_format"] == "float"
    assert post["model"] == "org/embedder"  # learnt once from /v1/models
    await enc.aclose()


async def test_explicit_model_skips_the_models_probe_and_long_texts_are_cut(server: FakeServer) -> None:
    enc = encoder(server, model="mine", max_chars=5)
    await enc.encode(["abcdefghij"])
    assert [r[0] for r in server.requests] == ["POST"]
    assert server.posts[0]["model"] == "mine" and server.posts[0]["input"] == ["abcde"]
    await enc.aclose()


async def test_url_forms_all_reach_v1_embeddings(server: FakeServer) -> None:
    for url in (server.url, server.url + "/", server.url + "/v1", server.url + "/v1/"):
        enc = EndpointEncoder(url, model="m")
        await enc.encode([url])
        assert server.requests[-1][1] == "/v1/embeddings"
        await enc.aclose()


async def test_empty_input_needs_no_server() -> None:
    enc = EndpointEncoder("http://127.0.0.1:9", model="m")
    out = await enc.encode([])
    assert out.shape[0] == 0


# ---- cache and batches --------------------------------------------------------------------------------


async def test_cache_and_duplicates_cost_one_request_per_distinct_text(server: FakeServer) -> None:
    enc = encoder(server, model="m")
    first = await enc.encode(["a", "b", "a"])
    assert server.posts[0]["input"] == ["a", "b"]  # a duplicate within a call is sent once
    assert np.allclose(first[0], first[2])
    again = await enc.encode(["b", "a"])
    assert len(server.posts) == 1 and enc.hits == 2 and enc.encoded == 2
    assert np.allclose(again, first[[1, 0]])
    await enc.encode(["a", "c"])
    assert server.posts[-1]["input"] == ["c"]
    await enc.aclose()


async def test_lru_evicts_the_oldest_text(server: FakeServer) -> None:
    enc = encoder(server, model="m", cache_size=2)
    await enc.encode(["a", "b"])
    await enc.encode(["a"])  # a is now newer than b
    await enc.encode(["c"])  # evicts b
    await enc.encode(["a", "b"])
    assert server.posts[-1]["input"] == ["b"]
    await enc.aclose()


async def test_batches_of_batch_size_keep_order(server: FakeServer) -> None:
    enc = encoder(server, model="m", batch_size=4, max_in_flight=2)
    texts = [f"line {i}" for i in range(10)]
    vecs = await enc.encode(texts)
    assert sorted(len(p["input"]) for p in server.posts) == [2, 4, 4]
    assert enc.requests == 3
    single = EndpointEncoder(server.url, model="m")
    for i in (0, 5, 9):
        assert np.allclose(vecs[i], (await single.encode([texts[i]]))[0])
    await enc.aclose()
    await single.aclose()


def test_encode_sync_outside_and_inside_a_loop(server: FakeServer) -> None:
    enc = encoder(server, model="m")
    vecs = enc.encode_sync(["x", "y"])
    assert vecs.shape == (2, DIM)

    async def inside() -> np.ndarray:
        return enc.encode_sync(["x", "z"])  # blocking by design; must not trip over the running loop

    both = asyncio.run(inside())
    assert np.allclose(both[0], vecs[0]) and len(server.posts) == 2  # "x" came from the cache
    enc.close()


def test_tom_training_embedder_accepts_it(server: FakeServer) -> None:
    from sociallm.agents.tom_data import Embedder

    embed = Embedder(encoder(server, model="m"))
    out = embed(["a", "b", "a"])
    assert tuple(out.shape) == (3, DIM)


# ---- errors -------------------------------------------------------------------------------------------

NO_EMBEDDINGS = [
    # llama.cpp started without --embeddings
    (
        501,
        {
            "error": {
                "code": 501,
                "message": "This server does not support embeddings. Start it with `--embeddings`",
                "type": "not_supported_error",
            }
        },
    ),
    (404, {"detail": "Not Found"}),  # vLLM serving a generate model, or any server without the route
    (400, {"error": {"message": "The model does not support Embeddings API", "type": "BadRequestError"}}),
]


@pytest.mark.parametrize(("status", "payload"), NO_EMBEDDINGS)
async def test_no_embeddings_endpoint_is_one_clear_line_without_retries(
    server: FakeServer, status: int, payload: Any
) -> None:
    server.respond = lambda path, body: (status, payload)
    enc = encoder(server, model="m", retries=3)
    with pytest.raises(EncoderError) as info:
        await enc.encode(["hi"])
    msg = str(info.value)
    assert "\n" not in msg
    assert f"{server.url}/v1/embeddings has no embeddings endpoint (HTTP {status}" in msg
    assert "--embeddings" in msg and "embeddings_url" in msg and "minilm" in msg
    assert len(server.posts) == 1
    await enc.aclose()


async def test_unreachable_server_fails_fast_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    enc = EndpointEncoder(url, model="m", retries=2, backoff_s=0.01)
    t0 = time.perf_counter()
    with pytest.raises(EncoderError, match=r"cannot reach http://127\.0\.0\.1:\d+/v1/embeddings \(ConnectError\)"):
        await enc.encode(["hi"])
    assert time.perf_counter() - t0 < 5
    await enc.aclose()


async def test_transient_errors_are_retried(server: FakeServer) -> None:
    calls = {"n": 0}

    def flaky(path: str, body: dict[str, Any]) -> Reply:
        calls["n"] += 1
        if calls["n"] <= 2:
            return 503, {"error": {"message": "Loading model", "code": 503}}
        return embeddings_reply(body)

    server.respond = flaky
    enc = encoder(server, model="m", retries=2)
    assert (await enc.encode(["hi"])).shape == (1, DIM)
    assert len(server.posts) == 3
    server.respond = lambda path, body: (503, {"error": {"message": "Loading model"}})
    with pytest.raises(EncoderError, match=r"answered HTTP 503: Loading model"):
        await enc.encode(["other"])
    await enc.aclose()


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (
            {"data": [{"index": 0, "embedding": [[0.1, 0.2], [0.3, 0.4]]}]},
            r"returned shape \(1, 2, 2\).*--pooling mean",
        ),
        ({"data": [{"index": 0, "embedding": [0.0, 0.0]}]}, "zero or non-finite"),
        ({"result": []}, "data\\[\\].embedding"),
        ({"data": []}, r"returned shape \(0,\) for 1 texts"),
    ],
)
async def test_malformed_replies(server: FakeServer, reply: Any, match: str) -> None:
    server.respond = lambda path, body: (200, reply)
    enc = encoder(server, model="m")
    with pytest.raises(EncoderError, match=match):
        await enc.encode(["hi"])
    await enc.aclose()


async def test_a_changing_dimension_is_an_error(server: FakeServer) -> None:
    enc = encoder(server, model="m")
    await enc.encode(["a"])
    server.respond = lambda path, body: (200, {"data": [{"index": 0, "embedding": [1.0, 2.0, 3.0]}]})
    with pytest.raises(EncoderError, match="returned 3-d vectors after 8-d ones"):
        await enc.encode(["b"])
    await enc.aclose()


def test_needs_exactly_one_of_url_and_server() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        EndpointEncoder()


# ---- lazily started server, run wiring ----------------------------------------------------------------


class LazyServer:
    """Stands in for an embedding-mode EmbeddedServer: "starts" by pointing at the fake HTTP server."""

    def __init__(self, target: FakeServer, fail: bool = False) -> None:
        self.target, self.fail = target, fail
        self.starts = self.stops = 0
        self.url: str | None = None

    async def start(self) -> LazyServer:
        self.starts += 1
        if self.fail:
            raise RuntimeError("no model file")
        self.url = self.target.url
        return self

    async def stop(self) -> None:
        self.stops += 1


async def test_server_starts_once_on_first_encode_and_stops_on_close(server: FakeServer) -> None:
    lazy = LazyServer(server)
    enc = EndpointEncoder(model="m", server=lazy, backoff_s=0.001)
    assert lazy.starts == 0 and enc.base_url is None
    await asyncio.gather(enc.encode(["a"]), enc.encode(["b"]), asyncio.to_thread(enc.encode_sync, ["c"]))
    assert lazy.starts == 1 and enc.base_url == server.url + "/v1"
    shared: dict[str, Any] = {"encoder": enc}
    await close_shared_encoder(shared)
    assert lazy.stops == 1 and "encoder" not in shared


async def test_a_server_that_cannot_start_is_a_clear_error(server: FakeServer) -> None:
    enc = EndpointEncoder(model="m", server=LazyServer(server, fail=True))
    with pytest.raises(EncoderError, match="embedding-mode model server failed to start: no model file"):
        await enc.encode(["a"])


def test_make_and_shared_encoder(server: FakeServer) -> None:
    assert "backbone" in ENCODERS
    by_url = make_encoder("backbone", url=server.url, model="m")
    assert isinstance(by_url, EndpointEncoder) and by_url.base_url == server.url + "/v1"
    embedded = make_encoder("backbone")  # nothing starts until the first encode
    assert isinstance(embedded, EndpointEncoder) and embedded.server is not None and embedded.base_url is None
    assert embedded.server.embeddings and embedded.model == "gemma3-270m"

    shared: dict[str, Any] = {"embeddings": {"url": server.url, "model": "m"}}
    enc = shared_encoder(shared, "backbone")
    assert shared_encoder(shared, "backbone") is enc and enc.base_url == server.url + "/v1"
    with pytest.raises(EncoderError, match="already uses encoder 'backbone'"):
        shared_encoder(shared, "minilm")


def test_tom_config_accepts_backbone() -> None:
    from sociallm.agents.tom import Config

    assert Config(encoder="backbone").encoder == "backbone"


class _LLM:
    base_url = "http://gpu-box:8000/v1"
    model = "org/chat-model"


def test_embeddings_options_for_a_run() -> None:
    assert embeddings_options(BackboneSpec(), _LLM()) == {}  # embedded: the encoder starts its own server
    spec = BackboneSpec(kind="openai", url="http://gpu-box:8000/v1")
    assert embeddings_options(spec, _LLM()) == {"url": "http://gpu-box:8000/v1", "model": "org/chat-model"}
    spec = BackboneSpec(kind="vllm", url="http://gpu-box:8000", embeddings_url="http://gpu-box:8001")
    assert embeddings_options(spec, _LLM()) == {"url": "http://gpu-box:8001", "model": None}
    spec = BackboneSpec(embeddings_url="http://127.0.0.1:8081", embeddings_model="e")
    assert embeddings_options(spec, None) == {"url": "http://127.0.0.1:8081", "model": "e"}


# ---- the embedded Gemma, for real ---------------------------------------------------------------------


@pytest.mark.integration
def test_embedded_gemma_embeddings() -> None:
    enc = embedded_encoder()
    try:
        texts = [
            "I will lower my price to take the whole market.",
            "I'm going to undercut you to win every customer.",
            "The weather in the mountains was cold and snowy.",
        ]
        vecs = enc.encode_sync(texts)
        assert enc.dim == 640 and vecs.shape == (3, 640) and vecs.dtype == np.float32
        assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
        assert float(vecs[0] @ vecs[1]) > float(vecs[0] @ vecs[2])
        assert float(vecs[0] @ vecs[1]) > float(vecs[1] @ vecs[2])
        again = enc.encode_sync(texts[:1])  # from the cache
        assert np.array_equal(again[0], vecs[0]) and enc.requests == 1
        assert enc.server.describe()["embeddings"] == "last"
    finally:
        enc.close()
    assert enc.base_url is None and enc.server._server is None
