"""Signing, trust and verification of genes: a table of tampering cases, and model_signing's own CLI."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from _tiny import tiny_gene, tiny_host
from genehub.errors import (
    CardValidationError,
    NotFoundError,
    SigningKeyError,
    UnsafeFileError,
    UsageError,
    UntrustedSignerError,
    VerificationError,
)
from genehub.gene import (
    GENE_FILES,
    SIGNATURE,
    TrustStore,
    dump_card,
    fingerprint,
    hashing_config,
    new_key,
    sign_gene,
    verify_gene,
)


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("keys")
    return {"alice": new_key("alice", directory=root), "mallory": new_key("mallory", directory=root)}


@pytest.fixture(scope="session")
def signed_template(tmp_path_factory: pytest.TempPathFactory, keys: dict) -> Path:
    """One real tiny gene (random Llama host + LoRA), signed by alice; tests work on copies."""
    root = tmp_path_factory.mktemp("gene")
    host = tiny_host(root / "host")
    gene = tiny_gene(root / "sort-gene", host)
    sign_gene(gene, key=keys["alice"].private)
    return gene


@pytest.fixture
def gene(signed_template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(signed_template, tmp_path / "sort-gene"))


@pytest.fixture
def trust(tmp_path: Path, keys: dict) -> TrustStore:
    store = TrustStore(tmp_path / "trust")
    store.add("alice", keys["alice"].public)
    return store


def _raw_sign(gene: Path, private_key: Path) -> None:
    """Sign with model_signing directly, skipping genehub's checks (to build signed-but-bad genes)."""
    from model_signing import signing

    signing.Config().use_elliptic_key_signer(private_key=private_key).set_hashing_config(hashing_config()).sign(
        gene, gene / SIGNATURE
    )


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _edit_card(gene: Path, edit: Callable[[dict], None]) -> None:
    card = json.loads((gene / "gene.json").read_text())
    edit(card)
    (gene / "gene.json").write_text(dump_card(card))


def test_signed_gene_verifies(gene: Path, trust: TrustStore, keys: dict) -> None:
    result = verify_gene(gene, trust=trust)
    assert result.signer == "alice"
    assert result.fingerprint == keys["alice"].fingerprint == fingerprint(keys["alice"].public)
    assert result.card["name"] == "sort-gene"
    # The README names the signer, and the signature covers every file but itself.
    assert keys["alice"].fingerprint in (gene / "README.md").read_text()
    from genehub._signing import bundle_digests

    bundle = json.loads((gene / SIGNATURE).read_text())
    assert sorted(bundle_digests(bundle)) == sorted(GENE_FILES)


# (case id, how to damage the gene, expected error, message regex, files the error must list)
TAMPERING = [
    *[(f"flip-byte-{name}", (lambda n: lambda g, k: _flip_byte(g / n))(name), VerificationError,
       rf"does not match its signature: {name} differs", [name]) for name in GENE_FILES],
    ("added-file", lambda g, k: (g / "extra.txt").write_text("hi"), VerificationError,
     r"extra\.txt differs", ["extra.txt"]),
    ("removed-file", lambda g, k: (g / "examples.jsonl").unlink(), VerificationError,
     r"examples\.jsonl differs", ["examples.jsonl"]),
    ("renamed-file", lambda g, k: (g / "examples.jsonl").rename(g / "examples2.jsonl"), VerificationError,
     r"examples\.jsonl, examples2\.jsonl differ", ["examples.jsonl", "examples2.jsonl"]),
    ("edited-card-field", lambda g, k: _edit_card(g, lambda c: c["fidelity"]["skill"].update(gene=0.99)),
     VerificationError, r"gene\.json differs", ["gene.json"]),
    ("missing-signature", lambda g, k: (g / SIGNATURE).unlink(), VerificationError, r"is not signed", [SIGNATURE]),
    ("untrusted-signer", lambda g, k: _raw_sign(g, k["mallory"].private), UntrustedSignerError,
     r"signed by key sha256:[0-9a-f]{64}, which is not in the trust store.*genehub trust add", []),
    ("tampered-then-resigned-by-stranger",
     lambda g, k: (_flip_byte(g / "adapter_model.safetensors"), _raw_sign(g, k["mallory"].private)),
     UntrustedSignerError, r"not in the trust store", []),
    ("signature-bytes-flipped", lambda g, k: _corrupt_signature_value(g), VerificationError,
     r"signature of .* is invalid for the trusted key alice", [SIGNATURE]),
    ("forged-key-hint", lambda g, k: _forge_hint(g, k), VerificationError,
     r"signature of .* is invalid for the trusted key alice", [SIGNATURE]),
    ("signature-not-json", lambda g, k: (g / SIGNATURE).write_text("{not json"), VerificationError,
     r"not a readable model_signing key bundle", [SIGNATURE]),
    ("signed-invalid-card", lambda g, k: (_edit_card(g, lambda c: c["adapter"].update(rank=0)),
                                          _raw_sign(g, k["alice"].private)),
     CardValidationError, r"\$\.adapter\.rank: 0 is less than the minimum of 1", []),
    ("signed-malformed-card", lambda g, k: ((g / "gene.json").write_text('{"name": '), _raw_sign(g, k["alice"].private)),
     CardValidationError, r"not valid JSON", []),
    ("signed-incomplete-gene", lambda g, k: ((g / "README.md").unlink(), _raw_sign(g, k["alice"].private)),
     VerificationError, r"not a complete gene: missing README\.md", ["README.md"]),
    ("signed-pickle", lambda g, k: ((g / "extra.bin").write_bytes(b"\x80\x04"), _raw_sign(g, k["alice"].private)),
     UnsafeFileError, r"pickle-format files \(extra\.bin\)", []),
    ("signed-stale-digests", lambda g, k: ((g / "examples.jsonl").write_text('{"prompt": "x"}\n'),
                                           _raw_sign(g, k["alice"].private)),
     VerificationError, r"examples\.jsonl differ from the digests in its card", ["examples.jsonl"]),
]


def _corrupt_signature_value(gene: Path) -> None:
    bundle = json.loads((gene / SIGNATURE).read_text())
    sig = bundle["dsseEnvelope"]["signatures"][0]["sig"]
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = ("A" if sig[10] != "A" else "B").join([sig[:10], sig[11:]])
    (gene / SIGNATURE).write_text(json.dumps(bundle))


def _forge_hint(gene: Path, keys: dict) -> None:
    """A stranger signs a tampered gene, then claims to be alice by copying her key hint."""
    hint = json.loads((gene / SIGNATURE).read_text())["verificationMaterial"]["publicKey"]["hint"]
    _flip_byte(gene / "adapter_model.safetensors")
    _raw_sign(gene, keys["mallory"].private)
    bundle = json.loads((gene / SIGNATURE).read_text())
    bundle["verificationMaterial"]["publicKey"]["hint"] = hint
    (gene / SIGNATURE).write_text(json.dumps(bundle))


@pytest.mark.parametrize(("mutate", "error", "match", "files"), [c[1:] for c in TAMPERING],
                         ids=[c[0] for c in TAMPERING])
def test_tampering_is_refused(gene: Path, trust: TrustStore, keys: dict, mutate, error, match, files) -> None:
    verify_gene(gene, trust=trust)  # the copy is good before we damage it
    mutate(gene, keys)
    with pytest.raises(error, match=match) as info:
        verify_gene(gene, trust=trust)
    if isinstance(info.value, VerificationError):
        assert info.value.files == files
    if isinstance(info.value, CardValidationError):
        assert info.value.errors and info.value.errors[0][0].startswith("$")


def test_removed_trust_means_untrusted(gene: Path, trust: TrustStore) -> None:
    trust.remove("alice")
    with pytest.raises(UntrustedSignerError, match="genehub trust add"):
        verify_gene(gene, trust=trust)


def test_git_metadata_from_the_hub_is_ignored(gene: Path, trust: TrustStore) -> None:
    (gene / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    assert verify_gene(gene, trust=trust).signer == "alice"


@pytest.mark.parametrize(("mutate", "error", "match"), [
    (lambda g: _edit_card(g, lambda c: c.pop("license")), CardValidationError, r"\$\.license: is required"),
    (lambda g: (g / "examples.jsonl").write_text('{"prompt": "changed"}\n'), VerificationError,
     r"examples\.jsonl differ from the digests in gene\.json"),
    (lambda g: (g / "README.md").unlink(), VerificationError, r"not a complete gene: missing README\.md"),
    (lambda g: (g / "pytorch_model.bin").write_bytes(b"\x80\x04"), UnsafeFileError, r"pickle-format files \(pytorch_model\.bin\)"),
], ids=["invalid-card", "stale-digest", "missing-file", "pickle"])
def test_sign_refuses_bad_genes(gene: Path, keys: dict, mutate, error, match) -> None:
    mutate(gene)
    before = (gene / SIGNATURE).read_bytes()
    with pytest.raises(error, match=match):
        sign_gene(gene, key=keys["alice"].private)
    assert (gene / SIGNATURE).read_bytes() == before


def test_resigning_by_another_key_updates_readme(gene: Path, trust: TrustStore, keys: dict) -> None:
    sign_gene(gene, key=keys["mallory"].private)
    assert keys["mallory"].fingerprint in (gene / "README.md").read_text()
    trust.add("mallory", keys["mallory"].public)
    assert verify_gene(gene, trust=trust).signer == "mallory"


def _model_signing_cli(gene: Path, public_key: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("model_signing")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "model_signing"]
    return subprocess.run([*cmd, "verify", "key", str(gene), "--signature", str(gene / SIGNATURE),
                           "--public_key", str(public_key)], capture_output=True, text=True, timeout=120)


def test_model_signing_cli_verifies_a_genehub_gene(gene: Path, trust: TrustStore, keys: dict) -> None:
    assert verify_gene(gene, trust=trust).signer == "alice"
    ok = _model_signing_cli(gene, keys["alice"].public)
    assert ok.returncode == 0, ok.stderr
    assert "Verification succeeded" in ok.stdout
    wrong_key = _model_signing_cli(gene, keys["mallory"].public)
    assert wrong_key.returncode == 1
    _flip_byte(gene / "examples.jsonl")
    tampered = _model_signing_cli(gene, keys["alice"].public)
    assert tampered.returncode == 1 and "examples.jsonl" in tampered.stderr


def test_plain_peft_loads_a_gene(gene: Path, signed_template: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(signed_template.parent / "host")
    model = PeftModel.from_pretrained(base, str(gene))
    assert model.peft_config["default"].r == json.loads((gene / "gene.json").read_text())["adapter"]["rank"]


def test_keys_and_trust_store(tmp_path: Path, keys: dict) -> None:
    key = new_key("bob", directory=tmp_path)
    assert key.private.stat().st_mode & 0o777 == 0o600
    assert key.fingerprint == fingerprint(key.public) != keys["alice"].fingerprint
    with pytest.raises(SigningKeyError, match="already exists"):
        new_key("bob", directory=tmp_path)
    store = TrustStore(tmp_path / "trust")
    assert store.list() == []
    store.add("bob", key.public.read_text())
    store.add("bob", key.public)  # same key again is fine
    with pytest.raises(SigningKeyError, match="already trusted as 'bob'"):
        store.add("bob", keys["alice"].public)
    assert [(k.name, k.fingerprint) for k in store.list()] == [("bob", key.fingerprint)]
    assert store.find(key.fingerprint).name == "bob"
    assert store.find(keys["alice"].fingerprint) is None
    store.remove("bob")
    assert store.list() == []
    with pytest.raises(NotFoundError, match="genehub trust list"):
        store.remove("bob")


@pytest.mark.parametrize(("pem", "match"), [
    (b"not a key", "Not a PEM public key"),
    ("ed25519", "Unsupported public key type"),
], ids=["garbage", "ed25519"])
def test_trust_store_refuses_unusable_keys(tmp_path: Path, pem, match) -> None:
    if pem == "ed25519":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        pem = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(SigningKeyError, match=match):
        TrustStore(tmp_path).add("x", pem)


def test_default_trust_store_follows_genehub_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENEHUB_CONFIG", str(tmp_path / "cfg"))
    assert TrustStore().path == tmp_path / "cfg" / "trust"
    key = new_key("carol")
    assert key.private == tmp_path / "cfg" / "keys" / "carol.pem"


# ---- issue 22: one list of refused files, links, identity, one-line errors ----------------------------

@pytest.mark.parametrize("name", ["sub/model.PT", "extra.joblib", "arr.npy", "weights.Pickle", "x.NPZ"])
def test_pickle_like_files_are_refused_by_sign_verify_and_push(gene: Path, trust: TrustStore, keys: dict,
                                                               tmp_path: Path, name: str) -> None:
    from genehub.registry import LocalRegistry, push

    path = gene / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x80\x04pickled")
    _raw_sign(gene, keys["alice"].private)  # a trusted signer signed it anyway
    pattern = rf"pickle-format files \({re.escape(name)}\)"
    with pytest.raises(UnsafeFileError, match=pattern):
        verify_gene(gene, trust=trust)
    with pytest.raises(UnsafeFileError, match=pattern):
        push(gene, "alice/sort-gene", registry=LocalRegistry(tmp_path / "registry"), trust=trust)
    assert not (tmp_path / "registry" / "alice").exists()
    before = (gene / SIGNATURE).read_bytes()
    with pytest.raises(UnsafeFileError, match=pattern):
        sign_gene(gene, key=keys["alice"].private)
    assert (gene / SIGNATURE).read_bytes() == before


def _snapshot(gene: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in gene.iterdir() if p.is_file() and not p.is_symlink()}


@pytest.mark.parametrize("target", ["inside", "outside"])
def test_sign_refuses_a_link_before_writing_anything(gene: Path, trust: TrustStore, keys: dict, tmp_path: Path,
                                                     target: str) -> None:
    (tmp_path / "secret.txt").write_text("outside the gene")
    (gene / "link.txt").symlink_to(gene / "examples.jsonl" if target == "inside" else tmp_path / "secret.txt")
    before = _snapshot(gene)
    with pytest.raises(UnsafeFileError, match=r"holds symbolic links \(link\.txt\); genehub accepts regular files"):
        sign_gene(gene, key=keys["mallory"].private)  # another key: README would change if it were re-rendered
    assert _snapshot(gene) == before
    (gene / "link.txt").unlink()
    assert verify_gene(gene, trust=trust).signer == "alice"  # alice's signature still holds


def test_verify_names_a_link_as_a_link(gene: Path, trust: TrustStore) -> None:
    (gene / "examples.jsonl").rename(gene / "real.jsonl")
    (gene / "examples.jsonl").symlink_to(gene / "real.jsonl")
    with pytest.raises(UnsafeFileError, match=r"symbolic links \(examples\.jsonl\)"):
        verify_gene(gene, trust=trust)


def test_verify_follows_a_link_to_the_gene_itself(gene: Path, trust: TrustStore, tmp_path: Path) -> None:
    (tmp_path / "current").symlink_to(gene)  # the gene store's `current` is such a link
    assert verify_gene(tmp_path / "current", trust=trust).signer == "alice"


def test_a_corrupt_media_type_is_one_line(gene: Path, trust: TrustStore) -> None:
    bundle = json.loads((gene / SIGNATURE).read_text())
    bundle["mediaType"] = "application/vnd.dev.sigstore.bundle.v9+json"
    (gene / SIGNATURE).write_text(json.dumps(bundle))
    with pytest.raises(VerificationError, match=r"signature of .* is invalid") as err:
        verify_gene(gene, trust=trust)
    assert "\n" not in str(err.value) and err.value.files == [SIGNATURE]


def test_signing_binds_the_repo_id(gene: Path, trust: TrustStore, keys: dict, tmp_path: Path) -> None:
    from genehub.gene import load_card

    assert verify_gene(gene, trust=trust).repo_id == "alice/sort-gene"  # default: <key name>/<gene name>
    sign_gene(gene, key=keys["alice"].private, repo_id="team/sort-gene")
    result = verify_gene(gene, trust=trust, repo_id="Team/Sort-Gene")  # repo ids compare like the Hub's
    assert load_card(gene)["identity"] == {"repo_id": "team/sort-gene"} and result.repo_id == "team/sort-gene"
    assert "binds it to the repo `team/sort-gene`" in (gene / "README.md").read_text()
    with pytest.raises(VerificationError, match="signed for team/sort-gene, not alice/sort-gene"):
        verify_gene(gene, trust=trust, repo_id="alice/sort-gene")
    sign_gene(gene, key=keys["alice"].private)  # re-signing keeps the bound repo
    assert verify_gene(gene, trust=trust).repo_id == "team/sort-gene"
    before = _snapshot(gene)
    for bad in ("no-owner", "a/b/c", "alice/x--y", "../x"):
        with pytest.raises(UsageError, match="not a Hub repo id"):
            sign_gene(gene, key=keys["alice"].private, repo_id=bad)
    assert _snapshot(gene) == before


def test_signing_binds_the_previous_version(gene: Path, trust: TrustStore, keys: dict, tmp_path: Path) -> None:
    from genehub.gene import load_card, write_gene
    from genehub.gene.signing import gene_digest

    card = load_card(gene)
    card["version"] = "0.2.0"
    card.pop("identity")
    v2 = write_gene(tmp_path / "v2", peft_model_or_adapter_dir=gene, card=card,
                    examples=[{"prompt": "sort: 2 1", "answer": "1 2"}])
    sign_gene(v2, key=keys["alice"].private, previous=gene)
    result = verify_gene(v2, trust=trust)
    assert result.card["identity"]["previous"] == {"version": "0.1.0", "digest": gene_digest(gene)}
    assert result.digest == gene_digest(v2) != gene_digest(gene)
    with pytest.raises(UsageError, match="is not older than 0.1.0"):
        sign_gene(gene, key=keys["alice"].private, previous=v2)
