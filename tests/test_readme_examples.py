"""README examples are executable documentation: every fenced block of README.md whose first line is
`$ tls-analyzer ARGS...` is run as `python3 cli.py ARGS...` from the repository root, and what it
prints (stdout, then stderr) must be the rest of the block. Elapsed times like `(0.01s)` are the
only thing normalised. Blocks may be fenced with ``` or ~~~ (the latter can show output that
itself holds ``` lines)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from conftest import ROOT

PROMPT = "$ tls-analyzer "
ELAPSED = re.compile(r"\(\d+\.\d+s\)")
FENCE = re.compile(r"^(```|~~~)")


def examples(text: str) -> list[tuple[int, str, str]]:
    """(line number, arguments, expected output) of every example block in `text`."""
    found, block, start, fence = [], [], 0, ""
    for number, line in enumerate(text.splitlines(), 1):
        if not fence:
            m = FENCE.match(line)
            if m:
                fence, start, block = m.group(1), number, []
        elif line.startswith(fence):
            if block and block[0].startswith(PROMPT):
                found.append((start + 1, block[0][len(PROMPT):], "\n".join(block[1:])))
            fence = ""
        else:
            block.append(line)
    return found


EXAMPLES = examples((ROOT / "README.md").read_text())


def test_the_readme_has_examples_to_run() -> None:
    assert len(EXAMPLES) >= 5  # (a parser that finds none would pass every example vacuously)


def test_the_parser_finds_blocks_with_either_fence() -> None:
    text = "x\n```\n$ tls-analyzer a b\nout\n```\n~~~\n$ tls-analyzer c\n```mermaid\n~~~\n```sh\nls\n```\n"
    assert examples(text) == [(3, "a b", "out"), (7, "c", "```mermaid")]


@pytest.mark.parametrize("line, args, expected", EXAMPLES, ids=[f"README.md:{e[0]}" for e in EXAMPLES])
def test_readme_example(line: int, args: str, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SSLKEYLOGFILE", "NO_COLOR")}
    p = subprocess.run([sys.executable, str(ROOT / "cli.py"), *shlex.split(args)], cwd=ROOT, capture_output=True,
                       text=True, timeout=120, env={**env, "COLUMNS": "100"})
    got = ELAPSED.sub("(0.00s)", p.stdout + p.stderr).rstrip("\n")
    assert got == ELAPSED.sub("(0.00s)", expected).rstrip("\n"), f"README.md line {line}: `tls-analyzer {args}`"
