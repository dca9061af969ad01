"""Tiny real models for tests: a random 2-layer Llama host and a LoRA on it (seconds on a CPU).

Reusable by every test module: ``tiny_host(dir)`` saves the host, ``tiny_lora(host_dir)`` returns a
``PeftModel`` with one random (non-zero) LoRA, ``tiny_gene(dir, host_dir)`` writes a complete unsigned gene.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TINY_CONFIG = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                   intermediate_size=64, vocab_size=64, max_position_embeddings=64)

EXAMPLES = [{"prompt": "sort: 3 1 2", "answer": "1 2 3"}, {"prompt": "sort: b a", "answer": "a b"}]


def tiny_host(out_dir: str | Path, *, seed: int = 0) -> Path:
    """Save a random ``LlamaForCausalLM`` (hidden 32, 2 layers, vocab 64) to ``out_dir``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**TINY_CONFIG))
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    return out_dir


def tiny_lora(host_dir: str | Path, *, rank: int = 4, seed: int = 0, target_modules: tuple[str, ...] = ("q_proj", "v_proj")) -> Any:
    """A ``PeftModel`` over the host with one LoRA whose B matrices are random (so it changes outputs)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(host_dir)
    model = get_peft_model(base, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=list(target_modules)))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.02)
    return model


def tiny_host_info(host_dir: str | Path | None = None) -> Any:
    """A ``HostInfo`` for the tiny host: described from ``host_dir``, or made up (no files) when None."""
    from genehub.hosts import HostInfo

    if host_dir is not None:
        return HostInfo(repo_id="local/tiny-host", revision=_content_hash(host_dir), architecture="LlamaForCausalLM",
                        model_type="llama", hidden_size=TINY_CONFIG["hidden_size"],
                        num_layers=TINY_CONFIG["num_hidden_layers"], vocab_size=TINY_CONFIG["vocab_size"],
                        tokenizer_fingerprint="sha256:" + "a" * 64)
    return HostInfo(repo_id="local/tiny-host", revision="sha256:" + "b" * 64, architecture="LlamaForCausalLM",
                    model_type="llama", hidden_size=32, num_layers=2, vocab_size=64,
                    tokenizer_fingerprint="sha256:" + "a" * 64)


def _content_hash(host_dir: str | Path) -> str:
    from genehub.hosts import content_hash

    return content_hash(host_dir)


def tiny_gene(out_dir: str | Path, host_dir: str | Path, *, name: str = "sort-gene", skill: str = "sort") -> Path:
    """Write a complete, unsigned gene for the tiny host with :func:`genehub.gene.write_gene`."""
    from genehub.gene import example_card, write_gene

    card = example_card(tiny_host_info(host_dir), name=name, skill=skill)
    return write_gene(out_dir, peft_model_or_adapter_dir=tiny_lora(host_dir), card=card, examples=EXAMPLES)
