"""Gene merges with peft's ``add_weighted_adapter``, and folding a gene into its host.

One :class:`AdapterPool` loads the host once with every parent gene as a named adapter; each recipe then
adds one merged adapter, is scored, and is deleted, so an evolutionary search costs one merge and one
evaluation per trial and no disk I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import BreedingError
from .methods import BreedingMethod

CHILD = "default"  # the merged adapter's name: PEFT saves the "default" adapter at the directory's root


class AdapterPool:
    """A host with parent genes ``p0, p1, ...`` loaded as adapters.

    Args:
        host: the host model directory.
        genes: parent gene directories (PEFT adapter directories).
    """

    def __init__(self, host: str | Path, genes: Sequence[str | Path]) -> None:
        from peft import PeftModel

        from ..hosts import load_host

        base, self.tokenizer = load_host(host)
        self.names = [f"p{i}" for i in range(len(genes))]
        self.model = PeftModel.from_pretrained(base, str(genes[0]), adapter_name=self.names[0])
        for name, gene in zip(self.names[1:], genes[1:]):
            self.model.load_adapter(str(gene), adapter_name=name)
        self.model.eval()

    def mix(self, method: BreedingMethod, *, weights: Sequence[float], density: float | None = None,
            svd_rank: int | None = None, seed: int = 0, name: str = CHILD) -> str:
        """Add the merged adapter ``name`` and make it active; returns its name."""
        import torch

        if len(weights) != len(self.names):
            raise BreedingError(f"{method.name} got {len(weights)} weights for {len(self.names)} parents.",
                                hint="Pass one weight per parent (--weights).")
        if name in self.model.peft_config:
            self.model.delete_adapter(name)
        kwargs: dict[str, Any] = {}
        if method.param("density") is not None:
            kwargs["density"] = float(density if density is not None else method.param("density").default)
        if svd_rank is not None and method.param("svd_rank") is not None:
            kwargs["svd_rank"] = int(svd_rank)
        torch.manual_seed(seed)  # DARE drops entries at random
        try:
            self.model.add_weighted_adapter(self.names, [float(w) for w in weights], name,
                                            combination_type=method.backend, **kwargs)
        except (ValueError, TypeError, RuntimeError) as err:
            raise BreedingError(f"peft could not merge with {method.name}: {err}",
                                hint="Check the method's constraints with `genehub methods` (e.g. equal ranks).") from err
        self.model.set_adapter(name)
        return name

    def drop(self, name: str = CHILD) -> None:
        if name in self.model.peft_config:
            # peft refuses to delete the active adapter's last reference only if it is the only one left.
            self.model.set_adapter(self.names[0])
            self.model.delete_adapter(name)

    def keep_only(self, name: str = CHILD) -> Any:
        """Delete the parents' adapters so ``save_pretrained`` writes only ``name``; returns the PeftModel."""
        for parent in self.names:
            if parent in self.model.peft_config:
                self.model.delete_adapter(parent)
        self.names = []
        return self.model


def fold(host: str | Path, gene: str | Path, out: str | Path, *, scale: float = 1.0) -> tuple[Any, Any]:
    """Merge ``gene`` into the host's weights (``merge_and_unload``) and save the model to ``out``."""
    import torch
    from peft import PeftModel

    from ..hosts import load_host

    base, tokenizer = load_host(host)
    model = PeftModel.from_pretrained(base, str(gene))
    if scale != 1.0:
        with torch.no_grad():
            for pname, param in model.named_parameters():
                if "lora_B" in pname:
                    param.mul_(scale)
    merged = model.merge_and_unload()
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return merged, tokenizer
