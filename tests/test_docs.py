"""The documentation site (the docs extra) builds with every warning an error, and a broken reference fails it."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings")

ROOT = Path(__file__).resolve().parents[1]


def build(root: Path, site: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=120)


def test_the_site_builds_strict_with_the_api_reference_and_the_committed_results(tmp_path):
    result = build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    api = (tmp_path / "site" / "api.html").read_text(encoding="utf-8")
    assert 'id="sb3_ppo_variants.variants.LogClipPPO"' in api and "clip_range" in api
    for module in ("contrib", "engine", "engine.update", "analysis.intervals", "analysis.coverage", "analysis.scoring"):
        assert f'id="sb3_ppo_variants.{module}"' in api, module
    assert (tmp_path / "site" / "results" / "surrogates.png").is_file()
    assert not (tmp_path / "site" / "results" / "quick" / "runs").exists()


def test_a_broken_link_fails_the_build(tmp_path):
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "docs", copy / "docs")
    shutil.copy(ROOT / "mkdocs.yml", copy)
    for folder in ("sb3_ppo_variants", "results", "experiments"):
        (copy / folder).symlink_to(ROOT / folder)
    with (copy / "docs" / "engine.md").open("a", encoding="utf-8") as page:
        page.write("\nSee [the missing page](missing.md).\n")
    result = build(copy, tmp_path / "site")
    assert result.returncode != 0 and "missing.md" in result.stderr
