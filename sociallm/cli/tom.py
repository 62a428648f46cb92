"""`sociallm tom train` and `sociallm tom eval`: the theory-of-mind model on recorded runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sociallm.cli.common import fail, out

tom_app = typer.Typer(no_args_is_help=True, help="Train and evaluate the SSM theory-of-mind model.")


# Both commands embed messages; they take the encoder the same way.
EncoderOption = Annotated[
    str, typer.Option(help="minilm, or backbone: a server's /v1/embeddings (the embedded Gemma without a URL).")
]
EmbeddingsUrlOption = Annotated[
    str | None, typer.Option(help="With --encoder backbone: an OpenAI-compatible server with /v1/embeddings.")
]


def _runs(run_dirs: list[Path]):
    from sociallm.agents.tom_data import read_run

    runs = []
    for d in run_dirs:
        if not (d / "events.jsonl").exists():
            fail(f"{d}: no events.jsonl; give run folders made by `sociallm run`")
        try:
            runs.append(read_run(d))
        except ValueError as exc:
            fail(str(exc))
    return runs


def _embedder(encoder: str, url: str | None):
    """The texts -> vectors function for training or evaluation; the caller closes it."""
    from sociallm.agents.tom_data import Embedder
    from sociallm.backbone.encoders import ENCODERS, EncoderError, make_encoder

    if encoder not in ENCODERS:
        fail(f"--encoder {encoder!r}: known encoders are {', '.join(ENCODERS)}")
    if url and encoder != "backbone":
        fail("--embeddings-url goes with --encoder backbone")
    try:
        return Embedder(make_encoder(encoder, **({"url": url} if url else {})))
    except EncoderError as exc:
        fail(str(exc))


def _close(embed) -> None:
    close = getattr(embed.encoder, "close", None)
    if close:
        close()


@tom_app.command()
def train(
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the checkpoint (.pt).")],
    run_dirs: Annotated[list[Path] | None, typer.Argument(help="Recorded run folders to learn from.")] = None,
    synthetic: Annotated[
        int, typer.Option(min=0, help="Also learn from N scripted deception runs on procedural stories (seeds 1000+).")
    ] = 0,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the data.")] = 30,
    seed: Annotated[int, typer.Option(help="Seed: the same data and seed give the same checkpoint.")] = 0,
    forget: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Intermittent forgetting: chance a state is reset at a step.")
    ] = 0.05,
    init: Annotated[
        str | None, typer.Option(help="Start from this checkpoint ('default': the shipped one) instead of scratch.")
    ] = None,
    affect_input: Annotated[
        bool, typer.Option(help="Also feed the model each message's visible affect (lexicon valence, arousal).")
    ] = False,
    encoder: EncoderOption = "minilm",
    embeddings_url: EmbeddingsUrlOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No line per epoch; only the result.")] = False,
) -> None:
    """Self-supervised next-message prediction (+ affect and intent probes where the log has labels)."""
    from dataclasses import asdict

    import torch

    from sociallm.agents.tom import load_model
    from sociallm.agents.tom_bank import ToMModel
    from sociallm.agents.tom_data import synthetic_runs
    from sociallm.agents.tom_train import DEFAULT_CONFIG, save_checkpoint
    from sociallm.agents.tom_train import train as fit
    from sociallm.backbone.ssm import SSMConfig

    if not run_dirs and not synthetic:
        fail("give RUN_DIRS and/or --synthetic N")
    runs = _runs(run_dirs or [])
    if synthetic:
        if not quiet:
            out.print(f"scripting {synthetic} deception runs on procedural stories…")
        runs += synthetic_runs(range(1000, 1000 + synthetic), procedural=True)
    torch.manual_seed(seed)
    try:
        model = load_model(init)[0].requires_grad_(True) if init else ToMModel(DEFAULT_CONFIG, affect_input)
    except (ValueError, OSError) as exc:
        fail(f"--init {init}: {exc}")
    embed = _embedder(encoder, embeddings_url)
    try:
        dim = int(embed(["dimension probe"]).shape[1])
        if init is None and dim != model.encoder_dim:
            extra = ToMModel.AFFECT_DIMS if affect_input else 0
            model = ToMModel(SSMConfig(**{**asdict(DEFAULT_CONFIG), "d_model": dim + extra}), affect_input)
        elif dim != model.encoder_dim:
            fail(f"--init {init}: it takes {model.encoder_dim}-d vectors, encoder {encoder!r} gives {dim}-d")
        elif init and affect_input and not model.affect_input:
            fail(f"--init {init}: that checkpoint does not take affect; train without --init to add it")
        # The claim read-out is trained on the contrast sets (`--make-default`), not on runs: carry the
        # shipped one (or --init's) over, with the gate and threshold chosen for it on validation data.
        claims_from = load_model(init or "default")
        if claims_from[0].claims.role.in_features == model.claims.role.in_features:
            model.claims.load_state_dict(claims_from[0].claims.state_dict())
            claims_meta = {k: v for k, v in claims_from[1].items() if k.startswith(("duplicity_threshold", "claim"))}
        else:
            claims_meta = {}
            out.print(
                f"note: no claim read-out trained for {dim}-d vectors; duplicity from this checkpoint uses the lexical "
                "fallback (function words are surface, words match only when equal) with untuned gates"
            )
        log = None if quiet else out.print
        stats = fit(model, runs, embed, epochs=epochs, seed=seed, forget=forget, log=log)
    except ValueError as exc:
        fail(str(exc))
    finally:
        _close(embed)
    meta = {
        "seed": seed,
        "epochs": epochs,
        "forget": forget,
        "encoder": encoder,
        "affect_input": model.affect_input,
        "runs": [str(d) for d in run_dirs or []] + ([f"{synthetic} procedural synthetic runs"] if synthetic else []),
        "messages_per_s": round(stats.throughput, 1),
        "final_loss": round(stats.losses[-1], 4),
        **claims_meta,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, out_path, meta)
    out.print(
        f"wrote {out_path}: {stats.messages} messages, {stats.throughput:.0f} messages/s, loss {meta['final_loss']}"
    )


@tom_app.command("eval")
def evaluate(
    run_dirs: Annotated[
        list[Path] | None, typer.Argument(help="Recorded runs (e.g. of the deception scenario).")
    ] = None,
    checkpoint: Annotated[
        str, typer.Option(help="'default' (shipped) or a .pt from `sociallm tom train`.")
    ] = "default",
    synthetic: Annotated[
        int, typer.Option(min=0, help="Also score N scripted deception runs (held-out seeds 0..N-1).")
    ] = 0,
    facts: Annotated[
        int,
        typer.Option(
            min=0, help="Per-shift table on contrast sets: N generated runs per class and shift (unseen vocabulary)."
        ),
    ] = 0,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds per generated contrast-set run (with --facts).")] = 6,
    judge: Annotated[
        int,
        typer.Option(
            min=0, help="With --facts: also ask the serving model about K same-round pairs per run (yes/no baseline)."
        ),
    ] = 0,
    backend: Annotated[
        str | None, typer.Option(help="With --judge: an OpenAI-compatible server URL (default: the embedded model).")
    ] = None,
    model_name: Annotated[str | None, typer.Option("--model", help="With --judge --backend: the model name.")] = None,
    encoder: EncoderOption = "minilm",
    embeddings_url: EmbeddingsUrlOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress line; only the table.")] = False,
) -> None:
    """Duplicity AUC against baselines (recorded runs, scripted runs, per-shift contrast sets), and surprise."""
    from sociallm.agents.tom import load_model
    from sociallm.agents.tom_data import synthetic_runs
    from sociallm.agents.tom_eval import evaluate as score
    from sociallm.agents.tom_eval import format_table

    if not run_dirs and not synthetic and not facts:
        fail("give RUN_DIRS and/or --synthetic N and/or --facts N")
    try:
        model, meta = load_model(checkpoint)
    except (ValueError, OSError) as exc:
        fail(f"--checkpoint {checkpoint}: {exc}")
    if meta.get("encoder", "minilm") != encoder:
        fail(f"--encoder {encoder}: checkpoint {checkpoint} was trained on {meta.get('encoder', 'minilm')!r} vectors")
    from sociallm.agents.tom_shift import evaluate_shifts, format_shift_table

    if judge and not facts:
        fail("--judge goes with --facts N")
    runs = _runs(run_dirs or []) + synthetic_runs(range(synthetic))
    embed = _embedder(encoder, embeddings_url)
    from sociallm.runtime.progress import ProgressLine

    title = f"checkpoint {checkpoint} ({meta.get('runs', '?')})"
    loop, llm, judge_fn = None, None, None
    line = ProgressLine("tom eval", len(runs), unit="runs scored", enabled=False if quiet else None)
    try:
        if judge:
            import asyncio

            from sociallm.agents.tom_judge import judge_runs
            from sociallm.backbone import make_backbone

            loop = asyncio.new_event_loop()
            kind = "openai" if backend else "embedded"
            llm = loop.run_until_complete(make_backbone(kind, backend, model_name))
            judge_fn = lambda rs: loop.run_until_complete(judge_runs(llm, rs, judge))  # noqa: E731
        if runs:
            line.update(0)
            result = score(model, runs, embed, progress=lambda done, total: line.update(done))
            line.close()
            out.print(format_table(result, title), highlight=False)
        if facts:
            table = evaluate_shifts(model, embed, facts, rounds, judge=judge_fn)
            out.print(format_shift_table(table, title), highlight=False)
    except ValueError as exc:
        fail(str(exc))
    finally:
        line.close()
        _close(embed)
        if loop is not None:
            if llm is not None:
                loop.run_until_complete(llm.aclose())
            loop.close()


def register(app: typer.Typer) -> None:
    app.add_typer(tom_app, name="tom")
