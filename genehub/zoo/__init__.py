"""genehub's zoo: tiny real transformers models with synthetic skills, built in seconds, cached.

The tests, the benchmarks and the demo need real hosts and donors without any download. A zoo is a
Llama-architecture host pre-trained on a general mix of skills in which ``sort`` and ``add`` stay weak,
donors fine-tuned from the host that master one skill each, and a heterologous host (same shape, its
own seed and data order). All are ``save_pretrained`` directories with a character-level tokenizer, so
``AutoModelForCausalLM.from_pretrained(zoo.host)`` loads them like any Hub model.

Example:
    >>> from genehub import zoo
    >>> z = zoo.build("tiny")                      # ~1 minute the first time, instant after
    >>> z.accuracies["donor-sort"]["sort"] > z.accuracies["host"]["sort"]
    True
"""

from .build import PRESETS, ModelSpec, Preset, Zoo, build, load, train_donor
from .evaluate import accuracy, exact_match, greedy_answers, skill_accuracies
from .skills import GENERAL_SKILLS, HOST_SKILLS, SKILLS, Skill, general_dataset, get_skill, skill_dataset
from .tokenizer import build_tokenizer

__all__ = [
    "GENERAL_SKILLS", "HOST_SKILLS", "PRESETS", "SKILLS", "ModelSpec", "Preset", "Skill", "Zoo", "accuracy",
    "build", "build_tokenizer", "exact_match", "general_dataset", "get_skill", "greedy_answers", "load",
    "skill_accuracies", "skill_dataset", "train_donor",
]
