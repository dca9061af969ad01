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

__all__ = [
    "GENERAL_SKILLS", "HOST_SKILLS", "LIBRARY", "PRESETS", "SKILLS", "ModelSpec", "Preset", "Skill", "Zoo",
    "ZooSkills", "build", "build_tokenizer", "general_dataset", "get_skill", "load", "none_prompts", "none_rows",
    "search_tasks", "skill_data", "skill_dataset", "split_rows", "train_donor",
]
