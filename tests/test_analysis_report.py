"""analysis.report: the report folder, its HTML and notebook, the command line, and no torch or Ray."""

import base64
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from analysis import load_experiment
import fake_experiment as fake
from analysis.report import main, write_report

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def paper_report(tmp_path_factory):
    exp_dir = fake.paper_grid(tmp_path_factory.mktemp("exp") / "grid_paper")
    return exp_dir, write_report(exp_dir)


def test_report_folder_contents(paper_report):
    exp_dir, out = paper_report
    assert out == exp_dir / "report"
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    for stem in ("dataset", "paper_table", "isolation", "trials"):
        assert {f"tables/{stem}.csv", f"tables/{stem}.md", f"tables/{stem}.tex"} <= names
    for stem in ("learning_curves", "grid"):
        assert {f"figures/{stem}.png", f"figures/{stem}.svg"} <= names
    assert {"report.md", "report.html", "report.ipynb", "data/trials.csv", "data/history.csv"} <= names
    # the exported Table 2 holds each cell's mean test accuracy, recomputed here from the trials by groupby
    exp = load_experiment(exp_dir)
    finished = exp.trials[exp.trials["status"] == "finished"]
    means = (100 * finished.groupby(["task", "model", "mode"])["test_acc"].mean()).to_dict()
    exported = pd.read_csv(out / "tables" / "paper_table.csv")
    cells = {(r["task"], r["model"], m): r[f"{m}_mean"] for _, r in exported.iterrows() for m in ("fine_tune", "off_the_shelf")
             if not pd.isna(r[f"{m}_mean"])}
    assert cells == pytest.approx(means)


def test_report_md_tells_the_story(paper_report):
    exp_dir, out = paper_report
    md = (out / "report.md").read_text()
    assert md.startswith("# grid_paper\n")
    assert "How well do ImageNet CNNs classify" in md
    assert "**scientific** (compared): `task`" in md and "**fixed**" in md and "**replicates**" in md
    assert "python -m study.run --space grid_paper" in md
    assert f"python -m analysis.report {exp_dir}" in md
    assert "22 trial(s): 21 finished, 1 errored." in md
    for link in re.findall(r"\]\(((?:tables|figures)/[^)]+)\)", md):
        assert (out / link).exists(), link


class StrictHTML(HTMLParser):
    VOID = {"meta", "img", "br", "hr", "link", "input", "col"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.images, self.tables, self.cells = [], [], [], 0, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "table":
            self.tables += 1
        if tag in ("script", "link", "iframe") or (attrs.get("href") or "").startswith("http"):
            self.errors.append(f"external or active content: <{tag}>")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_data(self, data):
        if self.stack and self.stack[-1] in ("th", "td"):
            self.cells.append(data.strip())

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()


def test_html_is_valid_and_self_contained(paper_report):
    _, out = paper_report
    text = (out / "report.html").read_text()
    assert text.startswith("<!DOCTYPE html>")
    parser = StrictHTML()
    parser.feed(text)
    parser.close()
    assert not parser.errors and not parser.stack
    assert len(parser.images) == len(list((out / "figures").glob("*.png")))
    assert all(src.startswith("data:image/png;base64,") for src in parser.images)
    assert parser.tables == len(list((out / "tables").glob("*.csv")))


def test_html_renders_a_markdown_table_and_embeds_its_image(tmp_path):
    from analysis.html import render_html

    png = b"\x89PNG\r\n\x1a\n not a real picture, only its bytes"
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "curve.png").write_bytes(png)
    markdown = ("# t\n\n| model | acc |\n|:--|--:|\n| resnet50 | 0.81 |\n| vgg16 | 0.7 |\n\n"
                "![a curve](figures/curve.png)\n")
    parser = StrictHTML()
    parser.feed(render_html(markdown, "t <b>", tmp_path))
    parser.close()
    assert not parser.errors and not parser.stack
    assert parser.tables == 1 and parser.cells == ["model", "acc", "resnet50", "0.81", "vgg16", "0.7"]
    assert parser.images == ["data:image/png;base64," + base64.b64encode(png).decode("ascii")]


def test_notebook_validates(paper_report):
    exp_dir, out = paper_report
    nb = nbformat.read(out / "report.ipynb", as_version=4)
    nbformat.validate(nb)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "load_experiment" in code and str(exp_dir) in code
    assert "figures.learning_curves(exp.history" in code and "tables.paper_table(exp.trials" in code


def test_the_kernel_thread_imports_no_ipython_module_the_figures_could_see_half_done():
    """write_report draws its figures while another thread runs the notebook's kernel; matplotlib's savefig
    reads sys.modules["IPython"], so that thread must find IPython already imported (a report failed once
    on a half-imported one). In a fresh process: after import_kernel_client, executing a notebook imports
    no IPython module."""
    script = (
        "import sys; from pathlib import Path; from nbformat.v4 import new_code_cell, new_notebook\n"
        "from analysis.notebook import execute, import_kernel_client\n"
        "import_kernel_client(); before = set(sys.modules)\n"
        "assert 'IPython' in before\n"
        "assert execute(new_notebook(cells=[new_code_cell('1 + 1')]), Path('.')) is None\n"
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] == 'IPython'))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"


def test_notebook_executes(paper_report):
    """write_report executes report.ipynb in a fresh python3 kernel (analysis/notebook.py): the notebook on
    disk holds every cell's outputs, no error among them; running it a second time here would only repeat that."""
    _, out = paper_report
    nb = nbformat.read(out / "report.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code), "report.ipynb was written unexecuted"
    assert not [o for c in code for o in c.outputs if o.get("output_type") == "error"]
    figure_cells = [c for c in code if c.source.startswith("figures.")]
    assert figure_cells and all(any("image/png" in o.get("data", {}) for o in c.outputs) for c in figure_cells)
    table_cells = [c for c in code if c.source.startswith("tables.")]
    assert table_cells and all(any("text/html" in o.get("data", {}) for o in c.outputs) for c in table_cells)


def test_partial_run_is_reported_not_crashed(tmp_path, capsys):
    exp_dir = fake.partial_run(tmp_path / "asha")
    assert main([str(exp_dir), "--out", str(tmp_path / "r")]) == 0
    captured = capsys.readouterr()
    assert f"wrote the report to {tmp_path / 'r'}" in captured.out
    assert "warning:" in captured.err and "cut off" in captured.err
    md = (tmp_path / "r" / "report.md").read_text()
    assert ("2 finished, 1 stopped early by the scheduler, 1 errored, 1 unfinished (running, or the run was "
            "interrupted), 1 pending") in md
    assert "CUDA out of memory" in md and "cut off" in md
    assert "--out" in md  # the command that produced it


def test_mixed_spaces_and_study_only_are_reported(tmp_path):
    out = write_report(fake.mixed_spaces(tmp_path / "mixed"))
    md = (out / "report.md").read_text()
    assert "different config keys" in md and "roles guessed" in md
    only = tmp_path / "only"
    fake.write_study(only.mkdir() or only, {"space": "grid_paper", "question": "Which model?"})
    md = (write_report(only) / "report.md").read_text()
    assert "Which model?" in md and "no trials have started yet" in md


def test_cli_help_and_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    help_text = capsys.readouterr().out
    assert "EXPERIMENT_DIR" in help_text and "--out" in help_text and "report.ipynb" in help_text
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is empty" in err and err.count("\n") == 1


def test_no_torch_or_ray_imported(tmp_path):
    # Every module of analysis, then a whole report (a small folder: the point is the imports, not the drawing).
    exp_dir = tmp_path / "exp"
    fake.write_experiment(exp_dir, [fake.FakeTrial({"model": "resnet50", "lr": 1e-3},
                                                         fake.epochs_from([1.0, 0.9], [0.3, 0.4]),
                                                         {"best_epoch": 2, "test_acc": 0.4, "num_classes": 3})],
                             {"space": "tiny", "question": "q"})
    script = (
        "import sys\n"
        "import analysis\n"
        "import analysis.blocks, analysis.export, analysis.figures, analysis.html, analysis.load\n"
        "import analysis.notebook, analysis.reference, analysis.roles, analysis.tables\n"
        "from analysis.report import write_report\n"
        "write_report(sys.argv[1], sys.argv[2])\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'ray', 'torchvision', 'timm'))\n"
        "assert not bad, bad\n"
        "print('clean')\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", script, str(exp_dir), str(tmp_path / "r")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "clean" in done.stdout and (tmp_path / "r" / "report.html").exists()
