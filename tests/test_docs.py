"""The README's commands and example run word for word, and CI runs the README's tests."""

import os
import re
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT, SHARED

README = (ROOT / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, re.S)


def test_readme_starts_with_setup_and_test_commands():
    first = blocks("sh")[0].strip().splitlines()
    assert len(first) == 2
    assert "pip install torch==2.13.0" in first[0] and "pip install -e" in first[0]
    assert "pytest" in first[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert first[0] in ci and first[1] in ci  # CI runs exactly the README's commands
    assert "pip install torch==2.13.0" in ci


def _sandbox(tmp_path: Path) -> Path:
    """A working folder with ../shared beside it, as in the repository."""
    work = tmp_path / "repo"
    work.mkdir()
    (tmp_path / "shared").symlink_to(SHARED)
    return work


def test_readme_quick_start(tmp_path):
    work = _sandbox(tmp_path)
    script = blocks("sh")[1]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert (work / "kodim23.sdc").stat().st_size < 20_000
    assert '"width": 768' in run.stdout
    from PIL import Image

    assert Image.open(work / "kodim23.decoded.png").size == (768, 512)


def test_readme_refine_example(tmp_path):
    """The --refine command of the quick start: a full 768×512 refinement (≈20 s)."""
    work = _sandbox(tmp_path)
    (script,) = [b for b in blocks("sh") if "--refine" in b]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert (work / "kodim23-refined.sdc").stat().st_size <= 0.1 * 768 * 512 / 8


def test_readme_python_example(tmp_path, monkeypatch):
    work = _sandbox(tmp_path)
    monkeypatch.chdir(work)
    (code,) = blocks("python")
    exec(compile(code, "README.md", "exec"), {})
