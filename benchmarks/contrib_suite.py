"""
sb3-contrib's own tests of MaskablePPO and RecurrentPPO, run with the class swapped for a variant on that base.

The tests are those of the installed sb3-contrib version, from its source distribution on PyPI (``pip download
--no-binary :all:``): ``tests/test_invalid_actions.py`` for MaskablePPO and ``tests/test_lstm.py`` for RecurrentPPO,
its ``slow`` test included. A ``conftest.py`` written beside them replaces ``sb3_contrib.MaskablePPO`` and
``sb3_contrib.RecurrentPPO``, the names the modules import, with ``get_variant(objective, base=...)`` before the
modules are collected, and fails the collection if a module holds another class. Each module runs once with the
original class (the baseline) and once per objective, one pytest process at a time; the table prints the counts of
passed, failed (failures and errors) and skipped tests, and the names of the failed ones.

Run: ``OMP_NUM_THREADS=1 python benchmarks/contrib_suite.py [--objectives clip logclip kl] [--dir DIR]``
"""

import argparse
import importlib.metadata
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

MODULES = {"maskable": "test_invalid_actions.py", "recurrent": "test_lstm.py"}
BASES = {"maskable": "MaskablePPO", "recurrent": "RecurrentPPO"}
OBJECTIVE_VARIABLE = "CONTRIB_SUITE_OBJECTIVE"
CONFTEST = f'''
import os

import sb3_contrib

from sb3_ppo_variants import get_variant

OBJECTIVE = os.environ.get("{OBJECTIVE_VARIABLE}")
if OBJECTIVE:
    sb3_contrib.MaskablePPO = get_variant(OBJECTIVE, base="maskable")
    sb3_contrib.RecurrentPPO = get_variant(OBJECTIVE, base="recurrent")


def pytest_report_header(config):
    return f"classes under test: {{sb3_contrib.MaskablePPO.__name__}}, {{sb3_contrib.RecurrentPPO.__name__}}"


def pytest_collection_modifyitems(items):
    for module in {{item.module for item in items}}:
        for name in ("MaskablePPO", "RecurrentPPO"):
            if hasattr(module, name) and getattr(module, name) is not getattr(sb3_contrib, name):
                raise RuntimeError(f"{{module.__name__}}.{{name}} is not the class under test")
'''


def fetch_tests(version: str, directory: Path) -> Path:
    """
    Download sb3-contrib's source distribution (unless already in ``directory``) and extract its ``tests/``.

    :param version: the sb3-contrib version
    :param directory: where the archive and the tests go
    :return: the tests' directory, with the swapping ``conftest.py`` written into it
    """
    archive = directory / f"sb3_contrib-{version}.tar.gz"
    if not archive.exists():
        command = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps"]
        subprocess.run([*command, f"sb3-contrib=={version}", "-d", str(directory)], check=True, stdout=subprocess.DEVNULL)
    prefix = f"sb3_contrib-{version}/tests/"
    with tarfile.open(archive) as tar:
        members = [member for member in tar.getmembers() if member.name.startswith(prefix)]
        if not members:
            raise FileNotFoundError(f"{archive} holds no {prefix}")
        tar.extractall(directory, members=members, filter="data")
    tests = directory / prefix
    (tests / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    return tests


def run_module(tests: Path, module: str, objective: str | None) -> dict[str, object]:
    """
    Run one test module with pytest in a new process, the classes swapped for ``objective``'s (None: the originals).

    :param tests: the tests' directory
    :param module: the module's file name
    :param objective: a registered objective, or None
    :return: the counts ``passed``, ``failed``, ``skipped``, the ``failures``' names and the wall time ``seconds``
    """
    report = tests / f"{module}.{objective or 'original'}.xml"
    environment = {**os.environ, OBJECTIVE_VARIABLE: objective or ""}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", module]
    start = time.perf_counter()
    subprocess.run(command, cwd=tests, env=environment, check=False, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    suite = ET.parse(report).getroot().find("testsuite")
    failed = int(suite.get("failures")) + int(suite.get("errors"))
    skipped = int(suite.get("skipped"))
    failures = [
        case.get("name")
        for case in suite.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    passed = int(suite.get("tests")) - failed - skipped
    return {"passed": passed, "failed": failed, "skipped": skipped, "failures": failures, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objectives", nargs="+", default=["clip", "logclip", "kl"], help="the objectives to swap in")
    parser.add_argument("--dir", type=Path, default=None, help="where to download and run (default: a new temp dir)")
    args = parser.parse_args()
    version = importlib.metadata.version("sb3-contrib")
    directory = args.dir or Path(tempfile.mkdtemp(prefix="contrib-suite-"))
    directory.mkdir(parents=True, exist_ok=True)
    tests = fetch_tests(version, directory)
    from sb3_ppo_variants import get_variant

    print(f"sb3-contrib {version}, tests in {tests}")
    print("| module | class | passed | failed | skipped | seconds | failed tests |")
    print("|---|---|---|---|---|---|---|")
    for base, module in MODULES.items():
        for objective in [None, *args.objectives]:
            name = BASES[base] if objective is None else get_variant(objective, base=base).__name__
            counts = run_module(tests, module, objective)
            failures = ", ".join(counts["failures"]) or "-"
            row = [module, name, counts["passed"], counts["failed"], counts["skipped"], f"{counts['seconds']:.0f}", failures]
            print("| " + " | ".join(str(cell) for cell in row) + " |", flush=True)


if __name__ == "__main__":
    main()
