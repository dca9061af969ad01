"""The Space's page: Browse, Inspect and Try tabs over a :class:`Catalog` and a :class:`Playground`.

Every event handler has an explicit ``api_name``, so everything the page does is also an endpoint that
``gradio_client`` can call. Handlers never raise: a :class:`~genehub.errors.GenehubError` (or anything
unexpected) becomes a readable message in the page's message box, never a stack trace.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from ..errors import GenehubError
from . import views
from .catalog import Catalog
from .tryout import Playground

log = logging.getLogger(__name__)

ANY = "(any)"
TITLE = "genehub: browse genes and try them"


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
                message = f"**⚠️ Unexpected error** ({type(err).__name__}): {err}. Please report it."
            outputs: list[Any] = [gr.skip()] * n_outputs
            outputs[message_at] = message
            return tuple(outputs) if n_outputs > 1 else outputs[0]

        return handler

    return wrap


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

    def filter_choices() -> tuple[Any, ...]:
        choices = catalog.choices()
        genes = [e.gene_id for e in catalog.entries()]
        verified = [e.gene_id for e in catalog.entries() if e.trust == "verified"]
        hosts = playground.host_labels()
        return (
            gr.Dropdown(choices=[ANY, *choices["host"]], value=ANY),
            gr.Dropdown(choices=[ANY, *choices["skill"]], value=ANY),
            gr.Dropdown(choices=[ANY, *choices["license"]], value=ANY),
            gr.Dropdown(choices=[ANY, *choices["trust"]], value=ANY),
            gr.Dropdown(choices=genes, value=genes[0] if genes else None),
            gr.Dropdown(choices=hosts, value=hosts[0] if hosts else None),
            gr.Dropdown(choices=genes, value=verified[:1]),
            views.browse_table(catalog.entries()),
            f"{len(genes)} genes from `{catalog.source.label}` ({len(verified)} verified).",
        )

    with gr.Blocks(title=title) as demo:
        gr.Markdown(f"# {title}\nGenes are LoRA adapters that add one skill to a host model; each is signed. "
                    "Browse them, inspect their cards, and try them on a host.")
        message = gr.Markdown(elem_id="message")
        with gr.Tabs() as tabs:
            with gr.Tab("Browse", id="browse"):
                with gr.Row():
                    query = gr.Textbox(label="Search", placeholder="name, skill, host...", elem_id="query", scale=2)
                    f_host = gr.Dropdown([ANY], value=ANY, label="Host", elem_id="f-host")
                    f_skill = gr.Dropdown([ANY], value=ANY, label="Skill", elem_id="f-skill")
                    f_license = gr.Dropdown([ANY], value=ANY, label="License", elem_id="f-license")
                    f_trust = gr.Dropdown([ANY], value=ANY, label="Signature", elem_id="f-trust")
                table = gr.Dataframe(headers=views.BROWSE_COLUMNS, interactive=False, elem_id="genes", wrap=True,
                                     label="Genes (click a row to inspect it)")
                refresh = gr.Button("Reload genes from the registry", size="sm", elem_id="refresh")
            with gr.Tab("Inspect", id="inspect"):
                with gr.Row():
                    gene = gr.Dropdown([], label="Gene", elem_id="gene", scale=3)
                    to_try = gr.Button("Try this gene", elem_id="to-try", scale=1)
                pull = gr.Code(label="Pull it", language="shell", interactive=False, elem_id="pull")
                signer = gr.Markdown(elem_id="signer")
                with gr.Row():
                    homology = gr.Plot(label="Homology per layer", elem_id="homology")
                    fidelity = gr.Dataframe(label="Fidelity: host vs donor vs host + gene", interactive=False,
                                            elem_id="fidelity")
                lineage = gr.HTML(label="Lineage", elem_id="lineage")
                card = gr.Markdown(elem_id="card")
            with gr.Tab("Try", id="try"):
                with gr.Row():
                    host = gr.Dropdown([], label="Host", elem_id="host")
                    genes = gr.Dropdown([], multiselect=True, label="Genes", elem_id="genes-picked", scale=2)
                    example = gr.Dropdown([], label="Examples from the genes", elem_id="example")
                prompt = gr.Textbox(label="Prompt", placeholder="for example: sort dcba:", elem_id="prompt")
                run = gr.Button("Run", variant="primary", elem_id="run")
                router = gr.BarPlot(x="choice", y="probability", label="Router decision", y_lim=[0, 1],
                                    elem_id="router", sort="-y")
                with gr.Row():
                    base_out = gr.Textbox(label="Host alone", interactive=False, elem_id="base-out")
                    composed_out = gr.Textbox(label="Host + genes (routed)", interactive=False, elem_id="composed-out")
                latency = gr.Markdown(elem_id="latency")

        # -- handlers: plain functions over views/tryout, wrapped so errors land in `message` --
        @_safe(9, message_at=8)
        def on_refresh() -> tuple[Any, ...]:
            catalog.refresh()
            return filter_choices()

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
            return gr.Dropdown(value=gene_id), gr.Tabs(selected="inspect"), ""

        # gradio finds the event-data parameter by its type; `gr` is imported here, not at module level.
        on_select.__annotations__["evt"] = gr.SelectData

        @_safe(7, message_at=6)
        def on_inspect(gene_id: str | None) -> tuple[Any, ...]:
            if not gene_id:
                return "", "", None, None, "", "Pick a gene to inspect.", ""
            entry = catalog.get(gene_id)
            return (entry.pull_command, views.signer_markdown(entry), views.homology_figure(entry),
                    views.fidelity_table(entry), views.lineage_svg(entry, catalog), views.card_markdown(entry),
                    views.status_markdown(entry))

        @_safe(4, message_at=3)
        def on_to_try(gene_id: str | None) -> tuple[Any, Any, Any, str]:
            if not gene_id:
                return gr.skip(), gr.skip(), gr.skip(), "Pick a gene first."
            entry = catalog.get(gene_id)
            labels = playground.host_labels()
            fitting = [h for h in labels if playground.host_info(h).repo_id == entry.host]
            host_value = fitting[0] if fitting else (labels[0] if labels else None)
            return (gr.Dropdown(value=[gene_id]), gr.Dropdown(value=host_value), gr.Tabs(selected="try"),
                    f"Trying `{gene_id}` on `{host_value}`.")

        @_safe(2, message_at=1)
        def on_genes(picked: list[str] | None) -> tuple[Any, str]:
            prompts = [row["prompt"] for g in picked or [] for row in catalog.get(g).examples[:5]]
            return gr.Dropdown(choices=prompts, value=None), ""

        def on_example(chosen: str | None) -> Any:
            return chosen if chosen else gr.skip()

        @_safe(5, message_at=4)
        def on_try(h: str | None, picked: list[str] | None, text: str | None) -> tuple[Any, ...]:
            result = playground.run(h or "", list(picked or []), text or "")
            summary = (f"**Router:** `{result.routed_to}`. **Latency:** host alone {result.base_ms:.0f} ms, "
                       f"host + genes {result.composed_ms:.0f} ms (routing included).")
            return (views.router_frame(result.probabilities), result.base_output, result.composed_output,
                    summary, "")

        # -- wiring; every listener has an api_name --
        filter_outputs = [f_host, f_skill, f_license, f_trust, gene, host, genes, table, message]
        demo.load(on_refresh, outputs=filter_outputs, api_name="refresh")
        refresh.click(on_refresh, outputs=filter_outputs, api_name="reload")
        gr.on([query.submit, f_host.input, f_skill.input, f_license.input, f_trust.input], on_browse,
              inputs=[query, f_host, f_skill, f_license, f_trust], outputs=[table, message], api_name="browse")
        table.select(on_select, inputs=[table], outputs=[gene, tabs, message], api_name="select_gene")
        inspect_outputs = [pull, signer, homology, fidelity, lineage, card, message]
        gene.change(on_inspect, inputs=[gene], outputs=inspect_outputs, api_name="inspect")
        to_try.click(on_to_try, inputs=[gene], outputs=[genes, host, tabs, message], api_name="try_gene")
        genes.change(on_genes, inputs=[genes], outputs=[example, message], api_name="examples")
        example.input(on_example, inputs=[example], outputs=[prompt], api_name="use_example")
        gr.on([run.click, prompt.submit], on_try, inputs=[host, genes, prompt],
              outputs=[router, base_out, composed_out, latency, message], api_name="try")
    return demo
