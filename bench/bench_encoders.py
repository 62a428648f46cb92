"""Encoder figures: MiniLM vs the backbone's own embeddings (embedded Gemma 3 270M, /v1/embeddings).

The same N distinct game-like lines go through each encoder in one batched call (caches are cold: every
text is new), after a warm-up on other texts; then a quality check: mean cosine of paraphrase pairs
vs unrelated pairs.

    python bench/bench_encoders.py [--n 200] [--url http://127.0.0.1:8080]   # --url: any /v1/embeddings server
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sociallm.backbone.encoders import MiniLMEncoder
from sociallm.backbone.endpoint_encoder import EndpointEncoder, embedded_encoder

LINES = [
    'Bob: "I will cut my price to win the market."',
    'Alice: "Let us both keep prices at 1.90."',
    "Market: Alice: price $1.85, profit $0.33; Bob: price $1.20, profit $0.16",
    'Bob: "You broke our deal, I will not forget it."',
    "Carol: I caught 12 tons of fish this month; the lake has 40 left.",
]
PARAPHRASES = [
    ("I will lower my price to take the whole market.", "I'm going to undercut you to win every customer."),
    ("Let's both keep our prices high.", "We should agree to hold prices up together."),
    ("You betrayed me and I won't forget it.", "I will remember that you broke our agreement."),
]


def texts(n: int, tag: str) -> list[str]:
    return [f"Round {i} ({tag}): {LINES[i % len(LINES)]} variant {i * 7919 % 1000}" for i in range(n)]


def quality(encode: object) -> tuple[float, float]:
    flat = [t for pair in PARAPHRASES for t in pair]
    vecs = encode(flat)  # type: ignore[operator]
    same = [float(vecs[2 * i] @ vecs[2 * i + 1]) for i in range(len(PARAPHRASES))]
    other = [
        float(vecs[2 * i] @ vecs[2 * j + 1]) for i in range(len(PARAPHRASES)) for j in range(len(PARAPHRASES)) if i != j
    ]
    return float(np.mean(same)), float(np.mean(other))


def measure(label: str, encoder: MiniLMEncoder | EndpointEncoder, n: int) -> None:
    t0 = time.perf_counter()
    encoder.encode_sync(texts(8, "warm-up"))  # loads the model / starts the server
    start_s = time.perf_counter() - t0
    batch = texts(n, label)
    t0 = time.perf_counter()
    vecs = encoder.encode_sync(batch)
    dt = time.perf_counter() - t0
    same, other = quality(encoder.encode_sync)
    norms = np.linalg.norm(vecs, axis=1)
    print(
        f"{label}: dim {vecs.shape[1]}, {n} texts batched in {dt:.2f} s = {n / dt:.1f}/s "
        f"(start/warm-up {start_s:.1f} s); |v| in [{norms.min():.4f}, {norms.max():.4f}]; "
        f"cosine paraphrase {same:.3f} vs unrelated {other:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--url", default=None, help="an OpenAI-compatible server with /v1/embeddings")
    parser.add_argument("--skip-minilm", action="store_true")
    args = parser.parse_args()
    if not args.skip_minilm:
        measure("minilm", MiniLMEncoder(), args.n)
    encoder = EndpointEncoder(args.url) if args.url else embedded_encoder()
    try:
        measure("backbone" + (f" ({args.url})" if args.url else " (embedded Gemma 3 270M)"), encoder, args.n)
    finally:
        encoder.close()


if __name__ == "__main__":
    main()
