"""The layering of docs/architecture.md is a test: the import-linter contracts in pyproject.toml hold,
they do break when a module imports across a layer, and no import cycle runs through the packages."""

import os
import subprocess
import sys
import tomllib
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
    assert "0 broken" in done.stdout and "4 kept" in done.stdout


def test_a_layer_crossing_import_breaks_its_contract(tmp_path):
    # The repository's own contracts, over a miniature tree of the same packages in which the trial
    # layer imports Ray and a study declaration imports the trial: both contracts must report broken.
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    lines = ['[tool.importlinter]', 'root_packages = ["study", "search_spaces", "analysis"]',
             "include_external_packages = true"]
    for contract in config["contracts"]:
        lines += ["", "[[tool.importlinter.contracts]]"]
        lines += [f"{key} = {value!r}".replace("'", '"') for key, value in contract.items()]
    (tmp_path / "pyproject.toml").write_text("\n".join(lines) + "\n")
    modules = {
        "study/__init__.py": "", "study/config.py": "", "study/contract.py": "", "study/data/__init__.py": "",
        "study/run/__init__.py": "",
        "study/trial/__init__.py": "", "study/trial/engine.py": "import ray\n",
        "search_spaces/__init__.py": "", "search_spaces/bad.py": "from study.trial import engine\n",
        "analysis/__init__.py": "",
    }
    for name, text in modules.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    done = lint_imports(tmp_path, tmp_path)
    assert done.returncode != 0
    assert "2 broken" in done.stdout, done.stdout + done.stderr
    assert "study.trial.engine -> ray" in done.stdout
    assert "search_spaces.bad -> study.trial.engine" in done.stdout


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
