"""genehub's zoo: tiny real transformers models with synthetic skills, built in seconds, cached.

The tests, the benchmarks and the demo need real hosts and donors without any download. A zoo is a
Llama-architecture host pre-trained on a general mix of skills in which ``sort`` and ``add`` stay weak,
donors fine-tuned from the host that master one skill each, and a heterologous host (same shape, its
own seed and data order). All are ``save_pretrained`` directories with a character-level tokenizer, so
``AutoModelForCausalLM.from_pretrained(zoo.host)`` loads them like any Hub model.

The zoo also supplies the data genehub's core takes as arguments on these models: a skill's splits with
the zoo as its library of other skills (:func:`skill_data`, :data:`LIBRARY`, for extraction) and the
router's "none" prompts (:func:`none_prompts`).

Example:
    >>> from genehub import zoo
    >>> z = zoo.build("tiny")                      # ~1 minute the first time, instant after
    >>> z.accuracies["donor-sort"]["sort"] > z.accuracies["host"]["sort"]
    True
"""

from .build import PRESETS, ModelSpec, Preset, Zoo, build, load, train_donor
from .skills import (
    GENERAL_SKILLS,
    HOST_SKILLS,
    LIBRARY,
    SKILLS,
    Skill,
    ZooSkills,
    general_dataset,
    get_skill,
    none_prompts,
    none_rows,
    search_tasks,
    skill_data,
    split_rows,
    skill_dataset,
)
from .tokenizer import build_tokenizer


def routing_prompts(host: object) -> list[str] | None:
    """The prompts a zoo host answers by itself, on which its genes' routing is centered and calibrated (one
    fixed list per host, so every gene's prototypes share a space): the tiny zoo's general skills, or the
    chat families that calibrate routing on the real preset's host; None for a host of neither."""
    from ..hosts import model_meta
    from . import general, real

    meta = model_meta(host)
    if str(meta.get("repo_id", "")).startswith("genehub-zoo/"):
        return [str(r["prompt"]) for r in general_dataset(n=256, split="train")]
    if meta.get("name") == real.HOST:
        rows = general.general_prompts(4000, families=general.CALIBRATION_FAMILIES, seed=1)
        return sorted({str(r["messages"][-1]["content"]) for r in rows})
    return None

__all__ = [
    "GENERAL_SKILLS", "HOST_SKILLS", "LIBRARY", "PRESETS", "SKILLS", "ModelSpec", "Preset", "Skill", "Zoo",
    "ZooSkills", "build", "build_tokenizer", "routing_prompts", "general_dataset", "get_skill", "load", "none_prompts", "none_rows",
    "search_tasks", "skill_data", "skill_dataset", "split_rows", "train_donor",
]
