"""genehub's built-in breeding methods, registered once: every name, reference, parameter and constraint.

Adding a method is one more entry here (or a :func:`~genehub.breeding.methods.register` call of your own):
the breeding, the search, the planner and ``genehub breed`` / ``genehub methods`` all read the registry.
"""

from __future__ import annotations

from ._adapters import AdapterMerge, Fold
from ._extract import LoraExtraction
from ._models import ModelMerge
from .methods import Param, register

_WEIGHT = Param("weights", 1.0, 0.0, 1.5, "coefficient of each parent", per_parent=True)
_DENSITY = Param("density", 0.5, 0.1, 1.0, "share of each task vector's entries kept")
_PEFT = "peft LoraModel.add_weighted_adapter"
_MK = "mergekit run_merge"

for _name, _ref, _summary, _params, _constraints, _strategies in (
    ("linear", f"{_PEFT}; Ilharco et al. 2023 (task arithmetic)", "weighted sum of LoRA A and B (rough)",
     (_WEIGHT,), ("same_rank",), ()),
    ("cat", _PEFT, "concatenate LoRA ranks: exact sum of the weighted deltas", (_WEIGHT,), (), ()),
    ("svd", _PEFT, "SVD of the weighted sum of deltas, truncated to svd_rank",
     (_WEIGHT, Param("svd_rank", None, doc="rank of the child (default: the largest parent rank)", type=int)), (), ()),
    ("ties", f"{_PEFT}; Yadav et al. 2023 (TIES-Merging)", "trim, elect sign, disjoint mean",
     (_WEIGHT, _DENSITY), ("same_rank",), ("activation_informed",)),
    ("dare_ties", f"{_PEFT}; Yu et al. 2024 (DARE) + TIES", "random drop and rescale, then TIES sign election",
     (_WEIGHT, _DENSITY), ("same_rank",), ("ties_dare",)),
    ("dare_linear", f"{_PEFT}; Yu et al. 2024 (DARE)", "random drop and rescale, then weighted sum",
     (_WEIGHT, _DENSITY), ("same_rank",), ()),
    ("magnitude_prune", _PEFT, "keep the largest entries of each delta, then weighted sum",
     (_WEIGHT, _DENSITY), ("same_rank",), ()),
    ("dare_ties_svd", f"{_PEFT}; DARE + TIES on full deltas, SVD back to low rank",
     "DARE-TIES on the full deltas, SVD to svd_rank (any ranks)",
     (_WEIGHT, _DENSITY, Param("svd_rank", None, doc="rank of the child", type=int)), (), ()),
):
    register(AdapterMerge(_name, "adapter", _name, _ref, _summary, _params, _constraints, _strategies))

register(ModelMerge("model:linear", "model", "linear", f"{_MK}; Wortsman et al. 2022 (model soups)",
                    "weighted average of full models", (_WEIGHT,)))
register(ModelMerge("model:slerp", "model", "slerp", f"{_MK}; Shoemake 1985 (SLERP)",
                    "spherical interpolation of two models",
                    (Param("t", 0.5, 0.0, 1.0, "0 = first parent, 1 = second"),), ("two_parents",), ("slerp",)))
register(ModelMerge("model:task_arithmetic", "model", "task_arithmetic", f"{_MK}; Ilharco et al. 2023",
                    "base + weighted sum of task vectors", (_WEIGHT,), ("base_model",), ("activation_informed",)))
register(ModelMerge("model:ties", "model", "ties", f"{_MK}; Yadav et al. 2023 (TIES-Merging)",
                    "TIES on task vectors against the base", (_WEIGHT, _DENSITY), ("base_model",)))
register(ModelMerge("model:dare_ties", "model", "dare_ties", f"{_MK}; Yu et al. 2024 (DARE)",
                    "DARE-TIES on task vectors against the base", (_WEIGHT, _DENSITY), ("base_model",), ("ties_dare",)))
# fold is not searched: its one parameter only scales the gene it folds in.
register(Fold("fold", "adapter", "merge_and_unload", "peft PeftModel.merge_and_unload",
              "fold one gene into its host's weights (integrated, no longer detachable)",
              (Param("scale", 1.0, 0.0, 1.5, "multiplier of the gene's delta"),), ("one_parent",), ("lorafication",)))
register(LoraExtraction("extract:lora", "extract", "svd", "mergekit-extract-lora (truncated SVD of W - W_base)",
                        "a gene from a merged or fine-tuned model: SVD of its delta to the base",
                        (Param("rank", 8, doc="LoRA rank of the extracted gene", type=int),), ("one_parent", "base_model"),
                        ("lorafication",)))
