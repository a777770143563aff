"""The examples and the README's code type-check under ``mypy --strict`` against our public API,
as a user's code would (PEP 561: the package ships ``py.typed``)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("mypy", reason="mypy is in the test extra: pip install -e '.[test]'")


def test_examples_and_readme_type_check_strictly(tmp_path: Path) -> None:
    """Every example and every python block of the README passes ``mypy --strict``."""
    readme = (ROOT / "README.md").read_text()
    sources = [str(path) for path in sorted((ROOT / "examples").rglob("*.py"))]
    for index, block in enumerate(re.findall(r"^```python\n(.*?)^```", readme, re.MULTILINE | re.DOTALL)):
        path = tmp_path / f"readme_block_{index}.py"
        path.write_text(block)
        sources.append(str(path))
    command = [
        sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--no-incremental",
        "--cache-dir", str(tmp_path / "cache"), *sources,
    ]

    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert 0 == result.returncode, result.stdout + result.stderr
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)
