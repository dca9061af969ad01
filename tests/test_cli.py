"""The CLI skeleton: groups listed, user mistakes as one line and exit code 1, --debug for tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from genehub.cli import _GROUPS, build_parser, main


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genehub", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_every_group():
    out = _run("--help")
    assert out.returncode == 0
    for group in ("zoo",):
        assert group in out.stdout
    # every group module registers without error
    assert build_parser().prog == "genehub" and len(_GROUPS) >= 8


def test_user_mistake_is_one_line_and_exit_1():
    out = _run("zoo", "build", "--preset", "no-such-preset")
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: Unknown zoo preset 'no-such-preset'.")
    assert "Choose one of" in lines[0]


def test_debug_shows_the_traceback():
    out = _run("--debug", "zoo", "build", "--preset", "no-such-preset")
    assert out.returncode == 1
    assert "Traceback" in out.stderr and "UsageError" in out.stderr


def test_commands_show_examples_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["zoo", "build", "--help"])
    assert "examples:" in capsys.readouterr().out


def test_zoo_skills_lists_templates(capsys):
    assert main(["zoo", "skills"]) == 0
    out = capsys.readouterr().out
    assert "alphabetize {x} =" in out and "reverse" in out
