"""The CLI skeleton: groups listed, user mistakes as one line and exit code 1, --debug for tracebacks."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from genehub.cli import build_parser, main


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genehub", *args], capture_output=True, text=True, timeout=120)


# Every command a user has, in the order `genehub --help` lists them (each group module adds its own).
COMMANDS = ["hosts", "zoo", "keys", "trust", "sign", "verify", "card", "push", "pull", "search", "info", "list", "remove",
            "extract", "router", "run", "serve", "export", "breed", "plan", "methods", "space", "demo"]


def test_help_lists_every_group():
    out = _run("--help")
    assert out.returncode == 0
    section = out.stdout.split("COMMAND\n", 1)[1].split("\noptions:", 1)[0]
    listed = [m.group(1) for m in re.finditer(r"^    (\S+)\s", section, flags=re.M)]
    assert listed == COMMANDS
    for command in COMMANDS:  # each one's own help works and shows its examples
        with pytest.raises(SystemExit) as done:
            build_parser().parse_args([command, "--help"])
        assert done.value.code == 0


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
