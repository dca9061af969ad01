"""The main job, end to end: the whole gene marketplace on this machine, from nothing.

zoo -> extract a gene per donor (circuit, homology, distillation) -> sign with a demo key it trusts ->
push to a registry -> search -> pull and verify -> train a router -> compose -> run the test prompts of
every skill. Every number it prints is measured in the run.

    >>> from genehub.demo import DemoConfig, run_demo
    >>> result = run_demo(DemoConfig(preset="tiny", out="demo-output"))   # doctest: +SKIP
    >>> result.report                                                      # doctest: +SKIP
    PosixPath('demo-output/report.md')
"""

from .report import DemoResult
from .run import DemoConfig, run_demo

__all__ = ["DemoConfig", "DemoResult", "run_demo"]
