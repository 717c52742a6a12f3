"""The README's Python examples run as written (each in a fresh interpreter, in a temp dir)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_examples() -> None:
    """The README carries the embedding and the retry policy examples."""
    assert len(BLOCKS) >= 2
    assert any("Runtime(" in block for block in BLOCKS)
    assert any("RetryPolicyManager(" in block for block in BLOCKS)
    assert any("app.run(" in block for block in BLOCKS)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int, tmp_path: Path) -> None:
    """Each example exits 0 and prints what its comments promise."""
    script = tmp_path / "example.py"
    script.write_text(BLOCKS[index])
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    if "Runtime(" in BLOCKS[index]:
        assert "resized img-1 to 640px (attempt 1)" in out
        assert "dead letters: 0" in out
        assert (tmp_path / "example.db").exists()
    elif "app.run(" in BLOCKS[index]:
        assert "app resized img-2" in out
        assert (tmp_path / "app.db").exists()
    else:
        assert "True early_retry" in out
        assert "False base 1800.0" in out
