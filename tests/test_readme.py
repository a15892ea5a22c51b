"""The README's Python blocks run as written (in a fresh interpreter, in a scratch folder that
holds a copy of the repository's sweep files, as a clone's root does). A block that opens with
``# NAME.py: ...`` is a file the README asks the reader to write: it is written there too."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, tmp_path):
    code = BLOCKS[index]
    if "jax_enable_x64" not in code:
        code = 'import jax; jax.config.update("jax_enable_x64", True)\n' + code
    shutil.copytree(README.parent / "sweeps", tmp_path / "sweeps", ignore=shutil.ignore_patterns("atlas-*"))
    for block in BLOCKS:
        first = block.splitlines()[0]
        if re.match(r"# \w+\.py:", first):
            (tmp_path / first[2:].split(":")[0]).write_text(block)
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False,
                            env={"DISTLAW_CACHE_DIR": "", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
