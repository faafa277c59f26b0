"""`python -m study.data`: the summary object and table, the demo command, and one-line errors with exit code 2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from study.data import DROP_KEYS, DataError, format_summary, prepare_task, read_collection, summarize
from study.data.__main__ import main

REPO = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "study.data", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def test_summary_object_matches_the_design(demo_root, tmp_path):
    summary = summarize(read_collection("rijksmuseum", demo_root), cache_dir=tmp_path)
    assert summary["collection"] == "rijksmuseum" and summary["root"] == str(demo_root.resolve())
    assert list(summary["tasks"]) == ["material", "type", "artist"]
    for entry in summary["tasks"].values():
        assert list(entry) == ["images", "classes", "train", "val", "test", "dropped"]
        assert list(entry["dropped"]) == list(DROP_KEYS)
        assert entry["images"] == entry["train"] + entry["val"] + entry["test"]
        assert entry["images"] + sum(entry["dropped"].values()) == 300  # every record counted once
    assert json.loads(json.dumps(summary)) == summary
    one = summarize(read_collection("rijksmuseum", demo_root), "type", top_k=3, cache_dir=tmp_path)
    assert list(one["tasks"]) == ["type"] and one["tasks"]["type"]["classes"] == 3
    assert one["tasks"]["type"]["dropped"]["pruned"] > 0


def test_summary_table_is_readable(demo_root, tmp_path):
    text = format_summary(summarize(read_collection("rijksmuseum", demo_root), cache_dir=tmp_path))
    lines = text.splitlines()
    assert lines[0] == f"rijksmuseum at {demo_root.resolve()}: 300 records"
    assert lines[1].split()[:6] == ["task", "images", "classes", "train", "val", "test"]
    assert "rare class" in lines[1] and [line.split()[0] for line in lines[3:]] == ["material", "type", "artist"]


def test_summary_of_an_emptied_task_is_refused(demo_root, tmp_path):
    with pytest.raises(DataError, match="nothing is left"):
        summarize(read_collection("rijksmuseum", demo_root), "artist", min_per_class=10_000, cache_dir=tmp_path)


def test_demo_then_summary_json_prints_three_tasks(tmp_path):
    made = cli("demo", "--out", str(tmp_path / "d"), "--images", "60", "--seed", "3")
    assert made.returncode == 0, made.stderr
    shown = cli("summary", "--collection", "rijksmuseum", "--root", str(tmp_path / "d"), "--json",
                "--cache-dir", str(tmp_path / "cache"))
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert list(summary["tasks"]) == ["material", "type", "artist"]
    assert summary == summarize(read_collection("rijksmuseum", tmp_path / "d"), cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("args, message", [
    (["summary", "--collection", "wikiart", "--root", "."], "unknown collection 'wikiart'; choose one of"),
    (["summary", "--collection", "rijksmuseum", "--root", "study"], "is not a rijksmuseum collection"),
    (["summary", "--collection", "folder", "--root", "/nonexistent/x"], "does not exist"),
    (["summary", "--collection", "demo", "--root", "{demo}", "--task", "colour"],
     "has no task 'colour'; its tasks: material, type, artist"),
    (["summary", "--collection", "demo", "--root", "{demo}", "--min-per-class", "100000"], "nothing is left"),
    (["summary", "--collection", "demo", "--root", "{demo}", "--split", "0.9,0.2,0.1"], "three fractions"),
    (["demo", "--out", "{tmp}"], "exists and is not an artstudy demo"),
    (["demo", "--out", "{tmp}/new", "--images", "0"], "--images must be at least 1 and --seed at least 0"),
])
def test_bad_input_is_one_error_line_and_exit_code_2(args, message, demo_root, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    (tmp_path / "precious.txt").write_text("a user's file")
    code = main([a.replace("{demo}", str(demo_root)).replace("{tmp}", str(tmp_path)) for a in args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    assert (tmp_path / "precious.txt").read_text() == "a user's file"


def test_an_error_in_a_real_process_is_one_line_no_traceback(tmp_path):
    done = cli("summary", "--collection", "imet", "--root", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr == f"error: {tmp_path} is not an imet collection: expected train.csv (id,attribute_ids), " \
                          f"labels.csv (attribute_id,attribute_name) and images train/<id>.png in it\n"


def test_help_explains_each_command(capsys):
    top = cli("--help")
    assert top.returncode == 0 and "demo" in top.stdout and "summary" in top.stdout
    for command, words in (("summary", ["--min-per-class", "rare_class", "--json"]),
                           ("demo", ["byte-identical", "--images", "--seed"])):
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0
        shown = capsys.readouterr().out
        assert all(word in shown for word in words)


def test_summary_top_k_and_split_seed_reach_the_summary(demo_root, tmp_path, capsys):
    argv = ["summary", "--collection", "rijksmuseum", "--root", str(demo_root), "--task", "type",
            "--cache-dir", str(tmp_path), "--json"]
    assert main(argv) == 0
    whole = json.loads(capsys.readouterr().out)["tasks"]["type"]
    assert main([*argv, "--top-k", "3", "--split-seed", "1"]) == 0
    kept = json.loads(capsys.readouterr().out)["tasks"]["type"]
    assert kept["classes"] == 3 < whole["classes"]  # the three most frequent types
    # another split seed deals the same images out otherwise: the split's rows, not its sizes, differ
    frames = {seed: prepare_task(read_collection("rijksmuseum", demo_root), "type", top_k=3, split_seed=seed,
                                 cache_dir=tmp_path).frame for seed in (0, 1)}
    assert frames[0].sort_index()["split"].tolist() != frames[1].sort_index()["split"].tolist()
    assert (kept["train"], kept["val"], kept["test"]) == tuple(int((frames[1]["split"] == s).sum())
                                                               for s in ("train", "val", "test"))
