"""The README's "Python library" examples run as written: the ones followed by an output block
print exactly that output; the one that defines tests passes under pytest."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import ROOT

SECTION = re.search(r"^## Python library\n(.*?)^## ", (ROOT / "README.md").read_text(), re.S | re.M)
BLOCKS = re.findall(r"```python\n(.*?)```\n(?:\n```\n(.*?)```)?", SECTION.group(1) if SECTION else "", re.S)


def test_the_section_has_its_three_examples() -> None:
    assert SECTION is not None and len(BLOCKS) == 3
    assert sum(1 for _, out in BLOCKS if out) == 2 and sum("def test_" in code for code, _ in BLOCKS) == 1


@pytest.mark.parametrize("code, output", [b for b in BLOCKS if b[1]], ids=["loop", "pandas"])
def test_an_example_prints_what_the_readme_shows(code: str, output: str) -> None:
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout == output


def test_the_pytest_example_passes(tmp_path) -> None:  # noqa: ANN001
    [code] = [code for code, _ in BLOCKS if "def test_" in code]
    (tmp_path / "test_lab.py").write_text(code)
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                        str(tmp_path / "test_lab.py")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "1 passed" in p.stdout, p.stdout + p.stderr
