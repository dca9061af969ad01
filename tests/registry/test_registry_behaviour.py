"""One behaviour suite for both registries: the local one, and the Hub through the real client against a
loopback Hub server in both upload modes (big files as LFS, or every file regular)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from genehub.errors import RegistryError, UnsafeFileError, UntrustedSignerError, VerificationError
from genehub.gene import GENE_FILES, SIGNATURE, TrustStore, verify_gene
from genehub.registry import GeneStore, list_installed, pull, push, search

REPO = "alice/sort-gene"
GENE_SET = sorted([*GENE_FILES, SIGNATURE])


def _nothing_installed() -> None:
    store = GeneStore()
    assert store.list() == []
    assert not (store.root / "alice--sort-gene" / "current").exists()
    assert list((store.root / ".staging").glob("*")) == [] if (store.root / ".staging").exists() else True


def test_round_trip_bytes_identical_and_verified(backend, registry_genes, trust_alice):
    result = push(registry_genes.v1, REPO, registry=backend.registry)
    assert result.tag == "v0.1.0" and len(result.revision) == 40
    assert result.uploaded == GENE_SET
    assert backend.registry.tags(REPO) == {"v0.1.0": result.revision}
    if backend.kind == "hub-lfs":  # the adapter is over the server's 1 KiB LFS threshold: it went by LFS PUT
        assert any(u["kind"] == "lfs-put" for u in backend.server.uploads)

    hits = search(skill="sort", registry=backend.registry)
    assert [(h.repo_id, h.card.version, h.signer, h.trusted, h.card.license) for h in hits] == [
        (REPO, "0.1.0", "alice", True, "Apache-2.0")]
    card = json.loads((registry_genes.v1 / "gene.json").read_text())
    assert hits[0].card.homology.aggregate == card["homology"]["aggregate"]
    assert hits[0].card.host.repo_id == card["host"]["repo_id"]
    assert search("nothing-like-this", registry=backend.registry) == []
    assert search(skill="upper", registry=backend.registry) == []
    assert search(license="MIT", registry=backend.registry) == []

    gene = pull(f"{REPO}@v0.1.0", registry=backend.registry)
    assert gene.revision == result.revision and gene.signer == "alice"
    assert sorted(p.name for p in gene.path.iterdir()) == GENE_SET
    for name in GENE_SET:
        assert (gene.path / name).read_bytes() == (registry_genes.v1 / name).read_bytes(), name
    assert verify_gene(gene.path).signer == "alice"
    assert [g.repo_id for g in list_installed()] == [REPO]


def test_repush_unchanged_sends_no_bytes(backend, registry_genes, trust_alice):
    first = push(registry_genes.v1, REPO, registry=backend.registry)
    before = backend.sent_bytes()
    assert before >= sum((registry_genes.v1 / n).stat().st_size for n in GENE_SET)
    again = push(registry_genes.v1, REPO, registry=backend.registry)
    assert (again.revision, again.uploaded) == (first.revision, [])
    assert backend.sent_bytes() == before


def test_new_version_uploads_only_changed_files(backend, registry_genes, trust_alice):
    push(registry_genes.v1, REPO, registry=backend.registry)
    before = backend.sent_bytes()
    second = push(registry_genes.v2, REPO, registry=backend.registry)
    assert second.tag == "v0.2.0"
    assert "adapter_model.safetensors" not in second.uploaded and "adapter_config.json" not in second.uploaded
    assert {"examples.jsonl", "gene.json", SIGNATURE} <= set(second.uploaded)
    assert backend.sent_bytes() - before == sum((registry_genes.v2 / n).stat().st_size for n in second.uploaded)
    for tag, source in (("v0.1.0", registry_genes.v1), ("v0.2.0", registry_genes.v2)):
        gene = pull(f"{REPO}@{tag}", registry=backend.registry)
        assert (gene.path / "examples.jsonl").read_bytes() == (source / "examples.jsonl").read_bytes()
    assert len(list_installed()) == 1  # one installed copy: the last pulled


def test_same_version_with_other_content_is_refused(backend, registry_genes, trust_alice, tmp_path):
    push(registry_genes.v1, REPO, registry=backend.registry)
    with pytest.raises(RegistryError, match="bump|Bump") as err:
        push(registry_genes.mallory, REPO, registry=backend.registry,
             trust=_trusting(tmp_path, registry_genes, "mallory"))
    assert err.value.status == 409


def _trusting(tmp_path: Path, genes, name: str) -> TrustStore:
    store = TrustStore(tmp_path / f"trust-{name}")
    store.add(name, genes.keys[name].public)
    return store


@pytest.mark.parametrize("case", ["unsigned", "tampered"])
def test_push_refuses_a_gene_that_does_not_verify(backend, registry_genes, trust_alice, tmp_path, case):
    import shutil

    gene = Path(shutil.copytree(registry_genes.v1, tmp_path / "gene"))
    if case == "unsigned":
        (gene / SIGNATURE).unlink()
    else:
        (gene / "examples.jsonl").write_text('{"prompt": "x", "answer": "y"}\n')
    with pytest.raises(VerificationError):
        push(gene, REPO, registry=backend.registry)
    assert search(registry=backend.registry) == []
    assert backend.sent_bytes() == 0


UPSTREAM_ATTACKS = [
    # (case, files planted upstream after an honest push, pull options, error, match)
    ("tampered", {"examples.jsonl": b'{"prompt": "rm -rf", "answer": "/"}\n'}, {}, VerificationError, "examples.jsonl"),
    ("pickle", {"extra.bin": b"\x80\x04pickled"}, {}, UnsafeFileError, "pickle"),
    ("traversal", {"../escape.txt": b"outside"}, {}, UnsafeFileError, "escape"),
    ("oversize", {}, {"max_file_bytes": 1000}, UnsafeFileError, "1000-byte bound"),
]


@pytest.mark.parametrize(("case", "planted", "options", "error", "match"), UPSTREAM_ATTACKS,
                         ids=[a[0] for a in UPSTREAM_ATTACKS])
def test_pull_refuses_and_installs_nothing(backend, registry_genes, trust_alice, case, planted, options, error, match):
    push(registry_genes.v1, REPO, registry=backend.registry)
    if planted:
        backend.plant(REPO, planted)
    with pytest.raises(error, match=match):
        pull(REPO, registry=backend.registry, **options)
    _nothing_installed()
    if case in ("pickle", "traversal", "oversize"):  # refused from the listing: not a byte downloaded
        assert backend.downloads() == []


def test_pull_refuses_untrusted_signer(backend, registry_genes, trust_alice, tmp_path):
    push(registry_genes.mallory, REPO, registry=backend.registry, trust=_trusting(tmp_path, registry_genes, "mallory"))
    with pytest.raises(UntrustedSignerError, match="genehub trust add"):
        pull(REPO, registry=backend.registry)
    _nothing_installed()
    assert search(registry=backend.registry)[0].trusted is False


_SLOW_LOCAL = """
import sys, time
from genehub.registry import LocalRegistry, pull
class Slow(LocalRegistry):
    def download(self, snapshot, names, dest):
        super().download(snapshot, names[:2], dest)
        print("STARTED", flush=True)
        time.sleep(120)
pull(sys.argv[1], registry=Slow(sys.argv[2]))
"""
_HUB = "import sys\nfrom genehub.registry import pull\npull(sys.argv[1], registry=sys.argv[2])\n"


def test_interrupted_pull_leaves_nothing_and_retry_succeeds(backend, registry_genes, trust_alice):
    push(registry_genes.v1, REPO, registry=backend.registry)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])}
    if backend.server is not None:
        backend.server.throttle(2000)  # bytes/s: the download takes seconds
    proc = subprocess.Popen([sys.executable, "-c", _HUB if backend.server else _SLOW_LOCAL, REPO, backend.spec],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        if backend.server is not None:
            while not any(r.startswith("BODY-START") for r in backend.server.requests):
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr and proc.stderr.read()
                time.sleep(0.05)
            time.sleep(0.3)
        else:
            assert proc.stdout.readline().strip() == "STARTED", proc.stderr.read()
        assert proc.poll() is None  # still downloading when killed
    finally:
        proc.kill()
        proc.wait()
    _nothing_installed()
    if backend.server is not None:
        backend.server.throttle(None)
    gene = pull(REPO, registry=backend.registry)
    assert verify_gene(gene.path).signer == "alice"
    assert list((GeneStore().root / ".staging").iterdir()) == []


def test_two_concurrent_pulls_end_with_one_consistent_copy(backend, registry_genes, trust_alice):
    push(registry_genes.v1, REPO, registry=backend.registry)
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run() -> None:
        try:
            barrier.wait()
            results.append(pull(REPO, registry=backend.registry))
        except Exception as err:  # noqa: BLE001  surfaced below
            errors.append(err)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert results[0].path == results[1].path
    repo_dir = GeneStore().root / "alice--sort-gene"
    assert sorted(p.name for p in repo_dir.iterdir() if not p.name.startswith(".")) == sorted(
        ["current", results[0].revision, f"{results[0].revision}.json"])
    assert verify_gene(results[0].path).signer == "alice"
    assert list((GeneStore().root / ".staging").iterdir()) == []


def test_pulled_gene_works_offline(backend, registry_genes, trust_alice, monkeypatch):
    from huggingface_hub import constants
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    push(registry_genes.v1, REPO, registry=backend.registry)
    online = pull(REPO, registry=backend.registry)
    if backend.server is not None:
        backend.server.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    offline = pull(REPO, registry=backend.registry)
    assert offline.path == online.path
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(registry_genes.host), offline.path)
    assert any("lora_A" in name for name, _ in model.named_parameters())
    if backend.server is not None:
        with pytest.raises(RegistryError, match="HF_HUB_OFFLINE"):
            pull("alice/other-gene", registry=backend.registry)
    else:  # a local registry is a folder on this disk: offline means no network, not no registry
        push(registry_genes.signed_for("alice/other-gene"), "alice/other-gene", registry=backend.registry)
        assert pull("alice/other-gene", registry=backend.registry).signer == "alice"
