"""The README's Python block runs as written (in a fresh process, with an isolated genehub home)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_one_python_block_and_two_commands():
    text = README.read_text()
    assert len(_python_blocks()) == 1
    assert "make demo" in text and "make test" in text


@pytest.mark.slow
def test_readme_python_block_runs(tmp_path, tiny_zoo):
    env = {**os.environ, "GENEHUB_HOME": str(tmp_path / "home"), "GENEHUB_CONFIG": str(tmp_path / "config")}
    proc = subprocess.run([sys.executable, "-c", _python_blocks()[0]], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if "->" in line]
    assert len(lines) == 2 and lines[0].startswith("sort dcba: ->")
