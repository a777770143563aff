"""Every ``python`` code block of the README and of docs/ runs as written.

Each block runs in a fresh interpreter from the repository root, with a time limit, so a block
that needs a name it does not define, or hangs, fails here. Blocks that only show a shape
(a signature, a YAML file, a shell command) use another language tag.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks() -> list[tuple[str, str]]:
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{path.relative_to(ROOT)}:{line}", match.group(1)))
    return found


BLOCKS = _blocks()


def test_the_docs_have_python_blocks() -> None:
    """The collector itself finds blocks (a broken pattern would make every test vanish)."""
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_code_block_runs(where: str, code: str, tmp_path: Path) -> None:
    """The block runs to the end in a fresh interpreter and exits 0."""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )

    assert 0 == result.returncode, f"{where} failed:\n{result.stdout}\n{result.stderr}"
