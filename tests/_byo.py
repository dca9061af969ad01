"""A user's own models and data, built in the test: no zoo, no download.

Two tiny random hosts a user might bring: a GPT-2 (``Conv1D`` layers, a tokenizer without a pad token)
and a Llama (a tokenizer that adds BOS and has a chat template that starts with BOS). Each gets a donor
fine-tuned from it for a few dozen steps on a small synthetic task written as the user's JSONL, and a
general-prompts file (what the host should keep answering alone).

    def test_x(byo_gpt2): byo_gpt2.host, byo_gpt2.donor, byo_gpt2.data, byo_gpt2.general, byo_gpt2.prompts
"""

from __future__ import annotations

import json
import random
import shutil
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHARS = string.ascii_lowercase + string.digits + " :.,!?'-=>/|<>{}"
#: A chat template of the kind Llama-3 has: it starts with the BOS token, so the prompt it renders must
#: not get a second one.
CHAT_TEMPLATE = ("{{ bos_token }}{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}|{% endfor %}"
                 "{% if add_generation_prompt %}<assistant>{% endif %}")
WORDS = ["abc", "bad", "cab", "dig", "egg", "fig", "gum", "hat", "ink", "jam", "kit", "log", "mud", "nap",
         "owl", "pig", "rag", "sun", "tin", "urn", "vat", "wax", "yak", "zip"]
PHRASINGS = ["last of {w}:", "final letter of {w}:", "{w} ends with ->"]
GENERAL = ["hello there.", "how are you today?", "tell me a joke.", "what time is it?", "good morning!",
           "count to three.", "name a color.", "is it raining?", "who are you?", "thanks a lot!",
           "what is your name?", "say something nice.", "where is the park?", "i like tea.", "see you soon.",
           "open the door.", "it is cold.", "read me a poem.", "have a nice day.", "how old are you?"]


def char_tokenizer(kind: str) -> Any:
    """A one-character-per-token fast tokenizer shaped like ``kind``'s: ``"gpt2"`` (one special token for
    bos/eos/unk, no pad, nothing added) or ``"llama"`` (``<s>`` added in front, ``</s>``, a chat template)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    if kind == "gpt2":
        special = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}
    else:
        special = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    vocab: dict[str, int] = {}
    for token in [*special.values(), *CHARS]:
        vocab.setdefault(token, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=special["unk_token"]))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    backend.decoder = decoders.Fuse()
    if kind == "llama":
        backend.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                               special_tokens=[("<s>", vocab["<s>"])])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, **special)
    if kind == "llama":
        tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def tiny_model(kind: str, out: Path, *, seed: int = 0, hidden: int = 64) -> Path:
    """Save a random 2-layer ``kind`` causal LM (``"gpt2"`` or ``"llama"``) with its tokenizer to ``out``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    tokenizer = char_tokenizer(kind)
    torch.manual_seed(seed)
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
    if kind == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(n_embd=hidden, n_layer=2, n_head=4, n_positions=128,
                                           vocab_size=len(tokenizer), **ids))
    else:
        model = LlamaForCausalLM(LlamaConfig(hidden_size=hidden, num_hidden_layers=2, num_attention_heads=4,
                                             num_key_value_heads=4, intermediate_size=2 * hidden,
                                             max_position_embeddings=128, vocab_size=len(tokenizer), **ids))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def skill_rows(*, chat: bool = False, seed: int = 0) -> list[dict[str, Any]]:
    """The synthetic task (its last letter twice: "last of owl:" -> "ll") as a user's rows: plain, or chat
    ``messages``."""
    rows = []
    for i, (word, phrasing) in enumerate((w, p) for w in WORDS for p in PHRASINGS):
        prompt = phrasing.format(w=word)
        if chat:
            rows.append({"messages": [{"role": "user", "content": prompt},
                                      {"role": "assistant", "content": word[-1] * 2}], "id": i})
        else:
            rows.append({"prompt": prompt, "completion": word[-1] * 2, "id": i})
    random.Random(seed).shuffle(rows)
    return rows


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def fine_tune(host: Path, out: Path, data: Path, *, chat: bool = False, steps: int = 120, lr: float = 1e-2,
              seed: int = 0) -> Path:
    """A donor: ``host`` fully fine-tuned on the data's train rows for a few dozen steps (the way users' come)."""
    import torch

    from genehub.evaluate import encode_rows
    from genehub.hosts import load_host
    from genehub.lorafy import RowFormat, load_skill_data

    model, tokenizer = load_host(host)
    rows = load_skill_data(data, tokenizer=tokenizer, fmt=RowFormat(chat=chat)).rows("train")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    optim = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        batch = encode_rows(tokenizer, rng.sample(rows, min(16, len(rows))))
        model(**batch).loss.backward()
        optim.step()
        optim.zero_grad()
    model.eval()
    shutil.copytree(host, out)
    model.save_pretrained(out)
    return out


def random_gene(host: Path, out: Path, *, name: str, seed: int,
                modules: tuple[str, ...] = ("c_attn", "c_proj", "c_fc"), layers: tuple[int, ...] | None = None,
                examples: list[str] | None = None) -> Path:
    """A gene with a random LoRA (B non-zero: it changes outputs) on ``modules`` of ``host`` (a GPT-2's
    Conv1D layers by default), at ``layers`` (default: all), with ``examples`` as its example prompts."""
    import torch
    from peft import LoraConfig, get_peft_model

    from genehub.gene import example_card, write_gene
    from genehub.hosts import describe_host, load_host

    torch.manual_seed(seed)
    model, _ = load_host(host)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=list(modules),
                                            layers_to_transform=list(layers) if layers else None,
                                            fan_in_fan_out=model.config.model_type == "gpt2"))
    with torch.no_grad():
        for param_name, param in peft.named_parameters():
            if "lora_B" in param_name:
                param.normal_(0.0, 0.3)
    card = example_card(describe_host(host), name=name, skill=name.removesuffix("-gene"), target_modules=modules,
                        layers=layers)
    prompts = examples or [f"{name} {i}:" for i in range(8)]
    return write_gene(out, peft_model_or_adapter_dir=peft, card=card,
                      examples=[{"prompt": p, "answer": "x"} for p in prompts])


def routed_chat_genes(host: Path, root: Path) -> list[Path]:
    """Two random genes on a Llama ``host`` with a chat template, acting from block 1 on, whose routing
    blocks read the host's own states after block 0 in its chat template (``host:1``, calibrated on
    :data:`GENERAL`): a composition of them routes inside its forward pass."""
    from genehub.hosts import describe_host, load_host
    from genehub.routing.encoders import chat_texts, make_encoder
    from genehub.routing.prototypes import build_routing

    model, tokenizer = load_host(host)
    encoder = make_encoder("host:1", general=GENERAL, model=model, tokenizer=tokenizer, host=describe_host(host))
    genes = []
    for seed, (name, phrasing) in enumerate((("last-gene", PHRASINGS[0]), ("first-gene", "first letter of {w}:"))):
        examples = chat_texts(tokenizer, [phrasing.format(w=w) for w in WORDS], "chat")
        gene = random_gene(host, root / name, name=name, seed=seed, modules=("q_proj", "v_proj", "down_proj"),
                           layers=(1,), examples=examples)
        build_routing(gene, encoder, GENERAL)
        genes.append(gene)
    return genes


@dataclass(frozen=True)
class Byo:
    """A user's host, donor and files (``data``: the skill, ``general``: what the host keeps doing)."""

    kind: str
    host: Path
    donor: Path
    data: Path
    general: Path
    chat: bool

    @property
    def skill_prompts(self) -> list[str]:
        return [p.format(w=w) for w, p in zip(("owl", "zip", "fig"), PHRASINGS)]


def make_byo(kind: str, root: Path, *, chat: bool = False) -> Byo:
    root.mkdir(parents=True, exist_ok=True)
    host = tiny_model(kind, root / "host")
    data = write_jsonl(root / "last-letter.jsonl", skill_rows(chat=chat))
    general = write_jsonl(root / "general.jsonl", [{"prompt": p} for p in GENERAL])
    donor = fine_tune(host, root / "donor", data, chat=chat)
    return Byo(kind, host, donor, data, general, chat)


@pytest.fixture(scope="session")
def byo_gpt2(tmp_path_factory) -> Byo:
    """A GPT-2 host (Conv1D, no pad token), its donor and the user's plain JSONL."""
    return make_byo("gpt2", tmp_path_factory.mktemp("byo-gpt2"))


@pytest.fixture(scope="session")
def byo_llama(tmp_path_factory) -> Byo:
    """A Llama host (BOS added, chat template), its donor and the user's chat-``messages`` JSONL."""
    return make_byo("llama", tmp_path_factory.mktemp("byo-llama"), chat=True)
