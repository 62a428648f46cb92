"""Tiny random models, made offline, for exercising a real vLLM server in tests and benchmarks.

Nothing comes from a model hub: a byte-level BPE tokenizer is trained here on a small built-in
text, and the weights are random. The models answer nonsense, but every server feature (batching,
structured output, logprobs, prefix caching, the hybrid Mamba2+attention path) runs for real.

    python sociallm/backbone/tiny_models.py DEST   # DEST/tiny-llama, tiny-llama-lora, tiny-granite-hybrid

Needs `transformers`, `tokenizers` and `torch` (the vLLM venv has them). vLLM on CPU rejects
attention head sizes below 32, hence head_dim 64.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

VOCAB_SIZE = 1024
# The chat template: a plain transcript, so chat requests work on a model that was never tuned for chat.
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)
_CORPUS = """
Alice: I will set my price at 1.80 this round, the market looks stable.
Bob: That is too high, I think we should both keep prices near 1.50 to keep customers.
Carol: {"price": 1.75, "reason": "cover costs"} yes no maybe 0 1 2 3 4 5 6 7 8 9 . , ; : ! ? -
The fishery holds 100 tons; each month the stock doubles, capped at 100. Agents choose how much to catch.
Round 1 --- Round 2 --- Round 3. Profit, demand, cost, cooperate, defect, trust, promise, deceive.
"""
NAMES = ("tiny-llama", "tiny-llama-lora", "tiny-granite-hybrid")


def build_tokenizer(dest: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=["<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodable: any text, any grammar
        show_progress=False,
    )
    tok.train_from_iterator([_CORPUS] * 20, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", chat_template=CHAT_TEMPLATE
    )
    fast.save_pretrained(dest)


def _save(model: object, dest: Path) -> None:
    model.save_pretrained(dest, safe_serialization=True)  # type: ignore[attr-defined]
    build_tokenizer(dest)
    (dest / "chat_template.jinja").write_text(CHAT_TEMPLATE)


def make_llama(dest: Path) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,  # head_dim 64
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=2,
        tie_word_embeddings=False,
        torch_dtype="float32",
    )
    _save(LlamaForCausalLM(config), dest)
    return dest


def make_llama_lora(dest: Path, base: Path) -> Path:
    """A rank-8 LoRA adapter (q_proj, v_proj) for the tiny Llama, in PEFT's file layout, written by hand:
    served with `--enable-lora --lora-modules NAME=DIR` it changes the logits, so a test can tell which
    model a request reached."""
    import torch
    from safetensors.torch import save_file

    cfg = json.loads((base / "config.json").read_text())
    hidden, layers, rank = cfg["hidden_size"], cfg["num_hidden_layers"], 8
    gen = torch.Generator().manual_seed(1)
    tensors = {}
    for i in range(layers):
        for proj in ("q_proj", "v_proj"):
            prefix = f"base_model.model.model.layers.{i}.self_attn.{proj}"
            tensors[prefix + ".lora_A.weight"] = torch.randn(rank, hidden, generator=gen) * 0.5
            tensors[prefix + ".lora_B.weight"] = torch.randn(hidden, rank, generator=gen) * 0.5
    dest.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(dest / "adapter_model.safetensors"))
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": rank,
        "lora_alpha": 16,
        "lora_dropout": 0.0,
        "target_modules": ["q_proj", "v_proj"],
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "base_model_name_or_path": str(base),
    }
    (dest / "adapter_config.json").write_text(json.dumps(config, indent=1))
    return dest


def make_granite_hybrid(dest: Path) -> Path:
    """GraniteMoeHybrid (Granite-4.0-H's architecture): a Mamba2 layer, then an attention layer."""
    import torch
    from transformers import GraniteMoeHybridConfig, GraniteMoeHybridForCausalLM

    torch.manual_seed(0)
    config = GraniteMoeHybridConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=128,
        intermediate_size=256,
        shared_intermediate_size=256,
        num_local_experts=0,
        num_experts_per_tok=0,
        num_hidden_layers=2,
        layer_types=["linear_attention", "full_attention"],
        num_attention_heads=2,
        num_key_value_heads=2,
        mamba_n_heads=4,
        mamba_d_head=64,
        mamba_d_state=16,
        mamba_n_groups=1,
        mamba_expand=2,
        mamba_chunk_size=64,
        max_position_embeddings=4096,
        position_embedding_type="rope",
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=2,
        tie_word_embeddings=False,
        torch_dtype="float32",
    )
    _save(GraniteMoeHybridForCausalLM(config), dest)
    return dest


REPO = Path(__file__).resolve().parents[2]
DEFAULT_VENV = REPO / ".venv-vllm"
DEFAULT_ROOT = REPO / ".cache" / "tiny-models"


def find_vllm_python() -> str | None:
    """$SOCIALLM_VLLM_PYTHON, else the repo's .venv-vllm (built by `make vllm-env`), else None."""
    import os

    explicit = os.environ.get("SOCIALLM_VLLM_PYTHON")
    if explicit:
        return explicit
    candidate = DEFAULT_VENV / "bin" / "python"
    return str(candidate) if candidate.exists() else None


def build_with(python: str, root: Path = DEFAULT_ROOT) -> dict[str, Path]:
    """Build the tiny models with another interpreter (the vLLM venv has transformers; ours may not)."""
    import subprocess

    names = {name: root / name for name in NAMES}
    if all((p / ".complete").exists() for p in names.values()):
        return names
    subprocess.run([python, __file__, str(root)], check=True, capture_output=True, timeout=600)
    return names


def ensure_tiny_models(root: Path) -> dict[str, Path]:
    """Build the tiny models under `root` once; a marker file says a folder is complete."""
    out = {}
    makers = {
        "tiny-llama": make_llama,
        "tiny-llama-lora": lambda d: make_llama_lora(d, root / "tiny-llama"),
        "tiny-granite-hybrid": make_granite_hybrid,
    }
    for name, make in makers.items():
        dest = root / name
        marker = dest / ".complete"
        if not marker.exists():
            dest.mkdir(parents=True, exist_ok=True)
            make(dest)
            marker.write_text(json.dumps({"vocab_size": VOCAB_SIZE}))
        out[name] = dest
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".cache/tiny-models")
    for name, path in ensure_tiny_models(target).items():
        print(f"{name}: {path}")
