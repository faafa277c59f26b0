"""The layering of docs/architecture.md is a test: the import-linter contracts in pyproject.toml hold,
they do break when a module imports across a layer, and no import cycle runs through the packages."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("study", "search_spaces", "analysis")


def lint_imports(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(pythonpath))
    # The console script lives beside the interpreter; `-m importlinter.cli` would need no PATH either.
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(lint), "--config", str(cwd / "pyproject.toml"), "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_layering_contracts_hold():
    done = lint_imports(REPO, REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout and "3 kept" in done.stdout


def test_an_upward_or_sideways_import_breaks_the_layers(tmp_path):
    # The repository's own contracts over a copy of its own tree, with three planted imports: the data
    # layer importing the runner (upward), analysis importing the trial (a sibling) and the data layer
    # importing torch. The first two break the layers contract, the third the pure-Python one.
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    for name, line in (("study/data/__init__.py", "import study.run\n"), ("analysis/roles.py", "import study.trial\n"),
                       ("study/data/split.py", "import torch\n")):
        path = tmp_path / name
        path.write_text(path.read_text() + line)
    done = lint_imports(tmp_path, tmp_path)
    assert done.returncode != 0
    assert "1 kept, 2 broken" in done.stdout, done.stdout + done.stderr
    assert "study.data -> study.run" in done.stdout
    assert "analysis.roles -> study.trial" in done.stdout
    assert "study.data.split -> torch" in done.stdout


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Each direct import a -> b that b leads back from: the chain b -> ... -> a closes a circle."""
    cycles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back:
                cycles.append([module, *back])
    return cycles


def test_no_import_cycles():
    assert import_cycles(grimp.build_graph(*PACKAGES, cache_dir=None)) == []


def test_the_cycle_check_finds_a_cycle(tmp_path, monkeypatch):
    pkg = tmp_path / "circle"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from circle import b\n")
    (pkg / "b.py").write_text("import circle.a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles(grimp.build_graph("circle", cache_dir=None)) == [["circle.a", "circle.b", "circle.a"],
                                                                          ["circle.b", "circle.a", "circle.b"]]
