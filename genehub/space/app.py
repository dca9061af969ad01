"""The Space's page: Browse, a gene page and Try, over a :class:`Catalog` and a :class:`Playground`.

Every event handler has an explicit ``api_name``, so everything the page does is also an endpoint that
``gradio_client`` can call, from a fresh client: the pickers are built with the catalog's genes and hosts
and accept any value (the handlers refuse an unknown one with a message), so no endpoint depends on
another having run first. Handlers never raise: a :class:`~genehub.errors.GenehubError` (or anything
unexpected) becomes a readable message in the page's message box, never a stack trace or a server path.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from ..errors import GenehubError
from . import genepage, views
from .catalog import Catalog
from .tryout import Gallery, Playground, example_text

log = logging.getLogger(__name__)

ANY = "(any)"
ZOO_PREFIX = "genehub-zoo/"  # the repo ids of the zoo's synthetic hosts (genehub.zoo)
TITLE = "genehub: browse genes and try them"
SETUP_NOTE = ("The first run with a host and a set of genes loads the host and trains the router that picks a "
              "gene per prompt: a few seconds. Later runs reuse both.")


def _clean(value: str | None) -> str | None:
    return None if value in (None, "", ANY) else value


def _safe(n_outputs: int, *, message_at: int = 0) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Turn any exception of a handler into a message in output ``message_at`` (other outputs unchanged)."""
    import gradio as gr

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def handler(*args: Any) -> Any:
            try:
                return fn(*args)
            except GenehubError as err:
                message = views.error_markdown(err)
            except Exception as err:  # a bug: log it for the operator, show one line to the visitor
                log.exception("Space handler %s failed", fn.__name__)
                message = (f"**⚠️ Unexpected error** ({type(err).__name__}): {genepage.scrub(str(err))}. "
                           "Please report it.")
            outputs: list[Any] = [gr.skip()] * n_outputs
            outputs[message_at] = message
            return tuple(outputs) if n_outputs > 1 else outputs[0]

        return handler

    return wrap


class _Defaults:
    """What the pickers offer and start on: the catalog's genes and a host they fit.

    The page opens on a verified gene that runs in this Space, preferring one made for a pretrained host
    (real English) over one made for the zoo's synthetic host, and Try starts on a host that gene fits.
    """

    def __init__(self, catalog: Catalog, playground: Playground) -> None:
        entries = catalog.entries()
        self.choices = catalog.choices()
        self.genes = [e.gene_id for e in entries]
        # the page opens on a gene that runs here, on a pretrained host before the zoo's synthetic ones
        self.verified = sorted((e.gene_id for e in entries if e.trust == "verified"),
                               key=lambda g: _preference(playground, catalog.get(g)))
        self.gene = (self.verified or self.genes or [None])[0]
        self.picked = self.verified[:1]
        self.host = playground.default_host(self.picked) if self.picked else None
        fits = {label: sum(label in playground.fitting_hosts(e) for e in entries) for label in playground.host_labels()}
        self.hosts = [(f"{label} (fits {n} gene{'s' if n != 1 else ''} here)", label) for label, n in fits.items()]
        self.examples = _example_choices(catalog, self.picked)
        self.message = f"{len(self.genes)} genes from `{catalog.source.label}` ({len(self.verified)} verified)."
        if self.picked and self.host is None:
            self.message += f" No host in this Space fits {self.picked[0]}: Try needs one (start it with --host)."


def _preference(playground: Playground, entry: Any) -> int:
    """0: the gene fits a served host that is a pretrained model; 1: only a zoo host; 2: no served host."""
    hosts = playground.fitting_hosts(entry)
    return 0 if any(not h.startswith(ZOO_PREFIX) for h in hosts) else 1 if hosts else 2


def _example_choices(catalog: Catalog, picked: list[str] | None) -> list[tuple[str, str]]:
    """``(prompt → expected, prompt)`` for the first examples of each picked gene."""
    found = []
    for gene_id in picked or []:
        for row in catalog.get(gene_id).examples[:5]:
            text = example_text(row)
            found.append((f"{text}  →  {row['answer']}", text))
    return found


def _expected(catalog: Catalog, picked: list[str], prompt: str) -> str | None:
    """The expected answer of ``prompt`` when it is one of the picked genes' examples."""
    for gene_id in picked:
        for row in catalog.get(gene_id).examples:
            if prompt.strip() in (row["prompt"].strip(), example_text(row).strip()):
                return str(row["answer"])
    return None


def build_app(catalog: Catalog, playground: Playground | None = None, *, title: str = TITLE) -> Any:
    """Build the Space's ``gr.Blocks``.

    Args:
        catalog: the genes to browse and inspect.
        playground: the hosts for Try (default: none; Try then says to start the Space with a host).
        title: the page title.

    Returns:
        A ``gradio.Blocks`` ready to ``launch()``.
    """
    import gradio as gr

    playground = playground or Playground(catalog, {})
    try:
        start = _Defaults(catalog, playground)
        first_message = start.message
    except GenehubError as err:  # the registry is down: the page still opens, and says why
        start, first_message = None, views.error_markdown(err)

    def pickers() -> tuple[Any, ...]:
        now = _Defaults(catalog, playground)
        return (
            gr.Dropdown(choices=[ANY, *now.choices["host"]], value=ANY),
            gr.Dropdown(choices=[ANY, *now.choices["skill"]], value=ANY),
            gr.Dropdown(choices=[ANY, *now.choices["license"]], value=ANY),
            gr.Dropdown(choices=[ANY, *now.choices["trust"]], value=ANY),
            gr.Dropdown(choices=now.genes, value=now.gene),
            gr.Dropdown(choices=now.hosts, value=now.host),
            gr.Dropdown(choices=now.genes, value=now.picked),
            gr.Dropdown(choices=now.examples, value=None),
            views.browse_table(catalog.entries()),
            now.message,
        )

    def choices(key: str) -> list[Any]:
        return [ANY, *start.choices[key]] if start else [ANY]

    with gr.Blocks(title=title) as demo:
        gr.Markdown(f"# {title}\nGenes are LoRA adapters that add one skill to a host model; each is signed. "
                    "Browse them, open a gene's page, and try genes on a host.")
        message = gr.Markdown(first_message, elem_id="message")
        with gr.Tabs() as tabs:
            with gr.Tab("Browse", id="browse"):
                with gr.Row():
                    query = gr.Textbox(label="Search", placeholder="name, skill, host...", elem_id="query", scale=2)
                    f_host = gr.Dropdown(choices("host"), value=ANY, label="Host", elem_id="f-host")
                    f_skill = gr.Dropdown(choices("skill"), value=ANY, label="Skill", elem_id="f-skill")
                    f_license = gr.Dropdown(choices("license"), value=ANY, label="License", elem_id="f-license")
                    f_trust = gr.Dropdown(choices("trust"), value=ANY, label="Signature", elem_id="f-trust")
                table = gr.Dataframe(views.browse_table(catalog.entries()) if start else None,
                                     headers=views.BROWSE_COLUMNS, interactive=False, elem_id="genes", wrap=True,
                                     label="Genes (click a row to open its page)")
                refresh = gr.Button("Reload genes from the registry", size="sm", elem_id="refresh")
            with gr.Tab("Gene page", id="inspect"):
                with gr.Row():
                    gene = gr.Dropdown(start.genes if start else [], value=start.gene if start else None,
                                       allow_custom_value=True, label="Gene", elem_id="gene", scale=3)
                    to_try = gr.Button("Try this gene", elem_id="to-try", scale=1)
                header = gr.Markdown(elem_id="gene-header")
                pull = gr.Code(label="Install it (checks the signature and the host)", language="shell",
                               interactive=False, elem_id="pull")
                use = gr.Markdown(elem_id="use")
                caption = gr.Markdown(elem_id="gallery-caption")
                gallery = gr.Dataframe(interactive=False, wrap=True, elem_id="gallery", label="Gallery")
                with gr.Row():
                    homology = gr.Plot(label="Homology per layer", elem_id="homology")
                    fidelity = gr.Dataframe(label="Fidelity: host vs donor vs host + gene", interactive=False,
                                            elem_id="fidelity")
                versions = gr.Dataframe(label="Version history", interactive=False, wrap=True, elem_id="versions")
                files = gr.Dataframe(label="Files", interactive=False, wrap=True, elem_id="files")
                signer = gr.Markdown(elem_id="signer")
                lineage = gr.HTML(label="Lineage", elem_id="lineage")
                card = gr.Markdown(elem_id="card")
            with gr.Tab("Try", id="try"):
                with gr.Row():
                    host = gr.Dropdown(start.hosts if start else [], value=start.host if start else None,
                                       allow_custom_value=True, label="Host", elem_id="host")
                    genes = gr.Dropdown(start.genes if start else [], value=start.picked if start else [],
                                        multiselect=True, allow_custom_value=True, label="Genes",
                                        elem_id="genes-picked", scale=2)
                    example = gr.Dropdown(start.examples if start else [], value=None, allow_custom_value=True,
                                          label="Examples from the genes (prompt → expected answer)",
                                          elem_id="example")
                prompt = gr.Textbox(label="Prompt", elem_id="prompt",
                                    placeholder=f"for example: {start.examples[0][1]}" if start and start.examples
                                    else "type a prompt for the picked genes")
                gr.Markdown(SETUP_NOTE, elem_id="setup-note")
                run = gr.Button("Run", variant="primary", elem_id="run")
                router = gr.Label(label="Router decision: probability per gene", elem_id="router")
                with gr.Row():
                    base_out = gr.Textbox(label="Host alone", interactive=False, elem_id="base-out")
                    composed_out = gr.Textbox(label="Host + genes (routed)", interactive=False, elem_id="composed-out")
                latency = gr.Markdown(elem_id="latency")

        # -- handlers: plain functions over views/genepage/tryout, wrapped so errors land in `message` --
        @_safe(10, message_at=9)
        def on_refresh() -> tuple[Any, ...]:
            return pickers()

        @_safe(10, message_at=9)
        def on_reload() -> tuple[Any, ...]:
            catalog.refresh()
            return pickers()

        @_safe(2, message_at=1)
        def on_browse(q: str, h: str, s: str, lic: str, t: str) -> tuple[Any, str]:
            found = catalog.search(q or "", host=_clean(h), skill=_clean(s), license=_clean(lic), trust=_clean(t))
            return views.browse_table(found), f"{len(found)} of {len(catalog.entries())} genes match."

        @_safe(3, message_at=2)
        def on_select(evt: gr.SelectData, shown: Any) -> tuple[Any, Any, str]:
            # The clicked row's own values when the browser sends them: the row index alone could point
            # into a table that was filtered again between the click and this handler.
            if isinstance(evt.row_value, list | tuple) and len(evt.row_value) == len(views.BROWSE_COLUMNS):
                gene_id = evt.row_value[views.BROWSE_COLUMNS.index("gene")]
            else:
                row = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
                gene_id = shown.iloc[row]["gene"] if hasattr(shown, "iloc") else shown["data"][row][0]
            # the banner names the clicked gene now: its page may already be the one shown (no change event)
            return gr.Dropdown(value=gene_id), gr.Tabs(selected="inspect"), views.status_markdown(catalog.get(gene_id))

        # gradio finds the event-data parameter by its type; `gr` is imported here, not at module level.
        on_select.__annotations__["evt"] = gr.SelectData
        page_outputs = 13

        @_safe(page_outputs, message_at=page_outputs - 1)
        def on_inspect(gene_id: str | None) -> tuple[Any, ...]:
            if not gene_id:
                return (*[None] * (page_outputs - 1), "Pick a gene to open its page.")
            entry = catalog.get(gene_id)
            history = catalog.versions(gene_id)
            try:
                shelf = playground.gallery(gene_id)
            except GenehubError as err:  # e.g. the files changed since the catalog verified them
                shelf = Gallery([], None, f"No gallery: {err}")
            from_registry = hasattr(catalog.source, "versions")
            return (genepage.header_markdown(entry, registry=from_registry, downloads=catalog.downloads(gene_id),
                                             versions=history),
                    genepage.pull_command(entry), genepage.use_markdown(entry),
                    genepage.gallery_caption(shelf, playground.max_new_tokens), genepage.gallery_table(shelf),
                    views.homology_figure(entry), views.fidelity_table(entry), genepage.versions_table(entry, history),
                    genepage.files_table(entry), views.signer_markdown(entry), views.lineage_svg(entry, catalog),
                    views.card_markdown(entry), views.status_markdown(entry))

        @_safe(4, message_at=3)
        def on_to_try(gene_id: str | None) -> tuple[Any, Any, Any, str]:
            if not gene_id:
                return gr.skip(), gr.skip(), gr.skip(), "Pick a gene first."
            entry = catalog.get(gene_id)
            host_value = playground.default_host([gene_id])
            if host_value is None:
                return (gr.Dropdown(value=[gene_id]), gr.skip(), gr.Tabs(selected="try"),
                        f"No host in this Space fits `{gene_id}` (it was made for `{entry.host}`).")
            return (gr.Dropdown(value=[gene_id]), gr.Dropdown(value=host_value), gr.Tabs(selected="try"),
                    f"Trying `{gene_id}` on `{host_value}`.")

        @_safe(2, message_at=1)
        def on_genes(picked: list[str] | None) -> tuple[Any, str]:
            return gr.Dropdown(choices=_example_choices(catalog, list(picked or [])), value=None), ""

        def on_example(chosen: str | None) -> Any:
            return chosen if chosen else gr.skip()

        @_safe(5, message_at=4)
        def on_try(h: str | None, picked: list[str] | None, text: str | None,
                   progress: Any = gr.Progress()) -> tuple[Any, ...]:
            picked = list(picked or [])
            result = playground.run(h or "", picked, text or "", on_setup=lambda why: progress(0, desc=why))
            summary = [f"**Router:** `{result.routed_to}`. **Latency:** host alone {result.base_ms:.0f} ms, "
                       f"host + genes {result.composed_ms:.0f} ms (routing included)."]
            if result.setup_seconds is not None:
                summary.append(f"**Set up in {result.setup_seconds:.1f} s** for this run: the host was loaded and "
                               "the router trained for these genes (once; later runs reuse them).")
            expected = _expected(catalog, picked, text or "")
            if expected is not None:
                marks = {who: genepage.RIGHT if genepage.is_right(out, expected) else genepage.WRONG
                         for who, out in (("host alone", result.base_output), ("host + genes", result.composed_output))}
                summary.append(f"**Expected:** `{expected}`: host alone {marks['host alone']}, "
                               f"host + genes {marks['host + genes']}.")
            return (views.router_label(result.probabilities), genepage.shown(result.base_output),
                    genepage.shown(result.composed_output), "  \n".join(summary), "")

        # -- wiring; every listener has an api_name --
        picker_outputs = [f_host, f_skill, f_license, f_trust, gene, host, genes, example, table, message]
        page = [header, pull, use, caption, gallery, homology, fidelity, versions, files, signer, lineage, card,
                message]
        demo.load(on_refresh, outputs=picker_outputs, api_name="refresh").then(
            on_inspect, inputs=[gene], outputs=page, api_visibility="private")
        refresh.click(on_reload, outputs=picker_outputs, api_name="reload")
        gr.on([query.submit, f_host.input, f_skill.input, f_license.input, f_trust.input], on_browse,
              inputs=[query, f_host, f_skill, f_license, f_trust], outputs=[table, message], api_name="browse")
        table.select(on_select, inputs=[table], outputs=[gene, tabs, message], api_name="select_gene")
        gene.change(on_inspect, inputs=[gene], outputs=page, api_name="inspect")
        to_try.click(on_to_try, inputs=[gene], outputs=[genes, host, tabs, message], api_name="try_gene")
        genes.change(on_genes, inputs=[genes], outputs=[example, message], api_name="examples")
        example.input(on_example, inputs=[example], outputs=[prompt], api_name="use_example")
        gr.on([run.click, prompt.submit], on_try, inputs=[host, genes, prompt],
              outputs=[router, base_out, composed_out, latency, message], api_name="try")
    return demo
