"""A gene's page, as a Hub model page or a LoRA page shows one: facts, versions, files, a gallery, how to use it.

Plain values again (Markdown strings and DataFrames), so the page is tested without a browser. Whatever a
card or a registry says is shown as text, never as markup: names, summaries and dates pass through
:func:`text` first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .._digest import file_digest
from .catalog import GeneEntry, Version
from .tryout import Gallery

#: what the page shows for an answer that is the empty string (a model that ended its answer at once)
EMPTY = "(no output: the model ended its answer at once)"
RIGHT, WRONG = "✓", "✗"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


_PATH = re.compile(r"(?<![\w.:/~-])/(?:[\w.@+~-]+/)+([\w.@+~-]*)")


def scrub(message: str) -> str:
    """``message`` without the server's absolute paths (``/srv/cache/genes/x`` becomes ``…/x``).

    A visitor of a Space has no use for where its files live, and should not learn it from an error.
    """
    return _PATH.sub(lambda m: "…/" + m.group(1), message)


def text(value: Any, limit: int = 300) -> str:
    """``value`` as inline Markdown text: no markup, no table breaks, no server paths, at most ``limit`` characters."""
    flat = scrub(" ".join(str(value).split()))[:limit]
    return re.sub(r"([\\`*_{}\[\]<>|#!])", r"\\\1", flat)


def code(value: Any, limit: int = 200) -> str:
    """``value`` as an inline code span (what a code span cannot hold, a backtick or a line break, removed)."""
    flat = " ".join(str(value).split())[:limit].replace("`", "'").replace("|", "/")
    return f"`{flat}`"


def shown(answer: str) -> str:
    """An answer as the page shows it: :data:`EMPTY` when there is none, so a blank box never looks broken."""
    return answer if answer.strip() else EMPTY


def is_right(output: str, expected: str) -> bool:
    """The exact-match rule every table on the page uses: the output is the expected answer."""
    return output.strip() == expected.strip()


def human_size(count: int) -> str:
    """Bytes in the Hub's decimal units (``142.8 kB``)."""
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000  # type: ignore[assignment]
    return f"{count} B"


def _files(entry: GeneEntry) -> list[Any]:
    if not entry.path.is_dir():
        return []
    return sorted(p for p in entry.path.iterdir() if p.is_file() and not p.is_symlink() and not p.name.startswith("."))


def files_table(entry: GeneEntry) -> Any:
    """Every file of the gene as fetched: name, size and sha256 (what a visitor compares a download with)."""
    import pandas as pd

    rows = [{"file": p.name, "size": human_size(p.stat().st_size), "bytes": p.stat().st_size,
             "sha256": file_digest(p).removeprefix("sha256:")} for p in _files(entry)]
    return pd.DataFrame(rows, columns=["file", "size", "bytes", "sha256"])


def tags(entry: GeneEntry) -> list[str]:
    """The tags the Hub shows for the gene (its README metadata: skill, library, licence, base model)."""
    from ..gene.modelcard import card_data
    from ..registry.local import hub_tags

    return hub_tags(card_data(entry.card).to_dict()) if entry.gene is not None else []


def _created(entry: GeneEntry) -> str:
    created = str(entry.card.get("lineage", {}).get("created", "")) if entry.gene is not None else ""
    return created[:10] if re.match(r"^\d{4}-\d\d-\d\d", created) else created


def facts(entry: GeneEntry, *, registry: bool = False, downloads: int | None = None,
          versions: Sequence[Version] = ()) -> dict[str, str]:
    """The gene's facts at a glance, as Markdown cells: signature, version, host, skill, size, date, licence,
    downloads, revision.

    Args:
        registry: whether the gene comes from a registry (which keeps versions and may count downloads)
            rather than a folder.
        downloads: the registry's download count (None: it does not count them).
        versions: its released versions.
    """
    files = _files(entry)
    badge = {"verified": "✓ verified", "untrusted": "! untrusted", "invalid": "✗ invalid"}[entry.trust]
    found = {"signature": badge + (f", signed by {code(entry.signer)}" if entry.signer else "")}
    if entry.gene is None:
        return found
    gene = entry.gene
    if downloads is not None:
        counts = f"{downloads:,} (last 30 days, as the registry counts them)"
    else:
        counts = "not counted by this registry" if registry else "not counted (a folder of genes)"
    if versions:
        released = f"{len(versions)} released version{'s' if len(versions) != 1 else ''}"
    else:
        released = "no release tag in the registry" if registry else "a folder keeps no history"
    found.update({
        "version": f"{text(gene.version)} ({released})",
        "host": code(entry.host),
        "skill": code(entry.skill),
        "size": f"{human_size(sum(p.stat().st_size for p in files))} in {len(files)} files "
                f"(adapter weights {human_size(gene.adapter.size_bytes)})",
        "created": text(_created(entry)) or "-",
        "license": text(entry.license),
        "downloads": counts,
    })
    if entry.revision:
        found["revision"] = code(entry.revision[:12])
    return found


def header_markdown(entry: GeneEntry, **options: Any) -> str:
    """The top of the page: the gene's name, its one-line summary, its :func:`facts` in a row, and its tags.

    Args:
        **options: passed to :func:`facts` (``registry=``, ``downloads=``, ``versions=``).
    """
    shown = facts(entry, **options)
    if entry.gene is None:
        return (f"## {text(entry.gene_id)}\n\n**Signature:** {shown['signature']}. This gene's card cannot be read, "
                f"so there is nothing to show but why: {text(entry.reason, 500)}\n")
    gene = entry.gene
    table = ("| " + " | ".join(shown) + " |\n|" + "---|" * len(shown) + "\n| " + " | ".join(shown.values()) + " |\n")
    tag_line = " ".join(code(t, 80) for t in tags(entry))
    return (f"## {text(entry.gene_id)}\n\n**{text(gene.name)} {text(gene.version)}**: {text(gene.summary)}\n\n"
            f"{table}\n**Tags:** {tag_line}\n")


def versions_table(entry: GeneEntry, versions: Sequence[Version]) -> Any:
    """The released versions, newest first, the one on this page marked; a folder's gene is its only version."""
    import pandas as pd

    columns = ["version", "created", "commit", "summary", "on this page"]
    if not versions and entry.gene is not None:
        rows = [{"version": entry.gene.version, "created": _created(entry), "commit": "-",
                 "summary": entry.gene.summary, "on this page": "yes"}]
    else:
        rows = [{"version": v.version, "created": v.created[:10], "commit": v.commit[:12], "summary": v.summary,
                 "on this page": "yes" if v.commit == entry.revision else ""} for v in versions]
    return pd.DataFrame(rows, columns=columns)


def gallery_table(gallery: Gallery) -> Any:
    """The gene's examples: the prompt, the expected answer, the host's and the gene's outputs, and a mark."""
    import pandas as pd

    columns = ["prompt", "expected", "host alone", "host + gene", "gene right?"]
    rows = []
    for r in gallery.rows:
        ran = "gene" in r
        rows.append({"prompt": r["prompt"], "expected": r["expected"],
                     "host alone": shown(r["host"]) if ran else "-", "host + gene": shown(r["gene"]) if ran else "-",
                     "gene right?": (RIGHT if is_right(r["gene"], r["expected"]) else WRONG) if ran else "-"})
    return pd.DataFrame(rows, columns=columns)


def gallery_caption(gallery: Gallery, max_new_tokens: int) -> str:
    """One line over the gallery: which host answered, how, and how many the gene got right."""
    if gallery.host is None:
        return f"**Gallery.** {text(gallery.note, 400)}"
    right = sum(is_right(r["gene"], r["expected"]) for r in gallery.rows)
    return (f"**Gallery.** The gene's own examples, answered greedily (up to {max_new_tokens} tokens) by "
            f"{code(gallery.host)} alone and with the gene, in this Space: the gene answers {right} of "
            f"{len(gallery.rows)} exactly.")


def _zoo_preset(repo_id: str) -> str | None:
    """The zoo preset that builds ``repo_id`` (``genehub-zoo/<preset>-host``), if it is one."""
    from .. import zoo

    match = re.match(r"^genehub-zoo/(\w+)-(?:host|heterologous)$", repo_id)
    return match.group(1) if match and match.group(1) in zoo.PRESETS else None


def pull_command(entry: GeneEntry) -> str:
    """The command that installs this revision, checked against the host it will run on (``--host``)."""
    host = entry.host
    preset = _zoo_preset(host)
    folder = "./zoo/host" if preset else f"PATH/TO/{host.split('/')[-1]}"
    lines = [f"genehub zoo build --preset {preset} --out ./zoo   # writes {host} to ./zoo/host"] if preset else [
        f"# --host: the folder that holds {host}; pull refuses a host the gene does not fit"]
    lines.append(f"{entry.pull_command} --host {folder}")
    return "\n".join(lines)


def use_markdown(entry: GeneEntry) -> str:
    """How to use the gene without genehub: plain PEFT on the host its card names, said for a folder host too."""
    if entry.gene is None:
        return ""
    host = entry.gene.host
    preset = _zoo_preset(host.repo_id)
    if _COMMIT.match(host.revision):
        load = f'base = AutoModelForCausalLM.from_pretrained("{host.repo_id}", revision="{host.revision}")'
        where = f"The host is {code(host.repo_id)} on the Hub, at the commit the card pins."
    else:
        folder = "./zoo/host" if preset else f"PATH/TO/{host.repo_id.split('/')[-1]}"
        load = f'base = AutoModelForCausalLM.from_pretrained("{folder}")  # {host.repo_id}'
        how = (f"`genehub zoo build --preset {preset} --out ./zoo` writes it to `./zoo/host`" if preset
               else "pass the folder that holds it")
        where = (f"The host {code(host.repo_id)} is a model folder, not a Hub repo (the card pins it by content, "
                 f"{code(host.revision[:19] + '…')}): {how}.")
    snippet = "\n".join([
        "from transformers import AutoModelForCausalLM", "from peft import PeftModel", "", load,
        'model = PeftModel.from_pretrained(base, "PATH/TO/GENE")  # the folder `genehub pull` printed',
    ])
    return (f"**Use it with plain PEFT.** {where} Install the gene with the pull command above (it verifies "
            f"the signature and checks the host), then:\n\n```python\n{snippet}\n```\n")
