"""
MkDocs hook: the committed results (reports, figures, experiment files) and the experiment files become files of the
site under their repository paths, so that a page links ``results/quick/report.md`` or ``experiments/quick.toml`` as
the README does. The run records (``results/*/runs/``) stay out.
"""

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
SHARED = {"results": (".md", ".png", ".svg", ".toml"), "experiments": (".toml",)}


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """
    Add the shared files of ``SHARED`` to the site.

    :param files: the documentation files
    :param config: the site's configuration
    :return: the files with the shared ones
    """
    for folder, suffixes in SHARED.items():
        for path in sorted((ROOT / folder).rglob("*")):
            relative = path.relative_to(ROOT)
            if path.is_file() and path.suffix in suffixes and "runs" not in relative.parts:
                files.append(File.generated(config, relative.as_posix(), abs_src_path=str(path)))
    return files
