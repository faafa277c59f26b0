"""The report's tables, each a pure function of the trials frame (and study.json) returning a `Table`.

    >>> exp = load_experiment(folder)
    >>> paper_table(exp.trials, nuisance=exp.roles.nuisance, metric=exp.metric, mode=exp.mode).display

A `Table` holds the numbers (`frame`, what the CSV export holds: accuracies in %, mean/std/n as separate
columns) and their formatted view (`display`, what Markdown and LaTeX show: "87.12 ± 0.34 (n=3)").
Spread over seeds is the sample standard deviation (ddof=1; empty when n=1).
"""

from __future__ import annotations

import html as _html
import math
from dataclasses import dataclass

import pandas as pd

from analysis import reference
from analysis.intervals import CAPTION as INTERVAL_CAPTION
from analysis.intervals import fmt_interval, wilson
from analysis.roles import optimise_away, varied_keys
from study import spreadsheet
from study.config import MODES, PAPER_MODELS  # the paper's row orders
from study.formatting import format_value

TASK_ORDER = ("material", "type", "artist")
MODE_LABEL = {"off_the_shelf": "off-the-shelf", "fine_tune": "fine-tune"}


@dataclass
class Table:
    name: str  # file stem of the exports
    title: str
    frame: pd.DataFrame  # numbers: the CSV
    display: pd.DataFrame  # formatted strings: Markdown and LaTeX
    caption: str

    def to_csv(self) -> str:
        return spreadsheet.to_csv(self.frame, index=False)  # labels beginning with = stay text

    def to_markdown(self) -> str:
        if self.display.empty:
            return "_(no rows)_"
        return self.display.to_markdown(index=False)

    def to_latex(self) -> str:
        body = self.display.to_latex(index=False, escape=True, caption=latex_escape(self.caption),
                                     label=f"tab:{self.name}", position="htbp")
        for char, tex in (("±", r"$\pm$"), ("Δ", r"$\Delta$"), ("—", "--"), ("−", "$-$"), ("…", r"\ldots{}")):
            body = body.replace(char, tex)
        return body

    def __repr__(self) -> str:
        return f"{self.title}\n{self.display.to_string(index=False)}\n({self.caption})"

    def _repr_html_(self) -> str:  # Jupyter shows the formatted table with its caption
        return (f"<p><b>{_html.escape(self.title)}</b></p>" + self.display.to_html(index=False)
                + f"<p><i>{_html.escape(self.caption)}</i></p>")


# ---------------------------------------------------------------- helpers


def latex_escape(text: str) -> str:
    """Plain text for LaTeX: its ten special characters escaped (pandas escapes cells, not the caption)."""
    special = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
               "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
    return "".join(special.get(c, c) for c in str(text))


def is_accuracy(metric: str) -> bool:
    """Accuracy-like metrics are fractions in results and shown in %; losses are shown as they are."""
    return "loss" not in metric and metric.split("_")[-1] in ("acc", "bacc", "f1", "top5")


def scale(metric: str) -> float:
    return 100.0 if is_accuracy(metric) else 1.0


def summarize(values: pd.Series, factor: float = 100.0) -> tuple[float, float, int]:
    """(mean, sample std with ddof=1, n) of the non-missing values, times `factor`."""
    values = pd.to_numeric(values, errors="coerce").dropna() * factor
    n = int(len(values))
    mean = float(values.mean()) if n else math.nan
    std = float(values.std(ddof=1)) if n > 1 else math.nan
    return mean, std, n


def fmt_mean(mean: float, std: float, n: int) -> str:
    if not n:
        return "—"
    if n == 1 or math.isnan(std):
        return f"{mean:.2f} (n={n})"
    return f"{mean:.2f} ± {std:.2f} (n={n})"


def n_test_of(group: pd.DataFrame) -> float:
    """The test split's size of a group of trials (one split: the same for all), NaN when not reported."""
    if "n_test" not in group:
        return math.nan
    values = pd.to_numeric(group["n_test"], errors="coerce").dropna()
    return float(values.median()) if len(values) else math.nan


def interval(mean_percent: float, n_test: float) -> tuple[float, float]:
    """The 95% Wilson interval, in %, of a mean test accuracy given in %."""
    low, high = wilson(mean_percent / 100.0, n_test)
    return low * 100.0, high * 100.0


def fmt_accuracy(mean: float, std: float, n: int, low: float, high: float) -> str:
    """"73.17 [58.1, 84.3] (n=1)": the mean, its 95% interval for n_test, the spread over seeds."""
    text = fmt_mean(mean, std, n)
    if not n:
        return text
    head, _, tail = text.partition(" (n=")
    return f"{head}{fmt_interval(low / 100.0, high / 100.0)} (n={tail}"


def used_weights(trials: pd.DataFrame) -> list[str]:
    """["weights_used"] when the trials report it: every table shows the weights a number came from."""
    return ["weights_used"] if "weights_used" in trials.columns else []


def fmt_num(value, digits: int = 2, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, (float, int)) and not isinstance(value, bool):
        return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return str(value)


def ordered(values, preferred) -> list:
    values = list(dict.fromkeys(values))
    known = [v for v in preferred if v in values]
    return known + sorted((v for v in values if v not in preferred), key=str)


def _sort(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows in the paper's order: tasks material, type, artist; models as in its Table 2; others sorted."""
    if frame.empty:
        return frame
    preferred = {"task": TASK_ORDER, "model": PAPER_MODELS, "mode": MODES}
    sort_cols = []
    frame = frame.copy()
    for key in keys:
        order = ordered(frame[key].tolist(), preferred.get(key, ()))
        position = {v: i for i, v in enumerate(order)}
        frame[f"_o_{key}"] = frame[key].map(lambda v, p=position: p.get(v, len(p)))
        sort_cols.append(f"_o_{key}")
    return frame.sort_values(sort_cols, kind="stable").drop(columns=sort_cols).reset_index(drop=True)


def _scientific(trials: pd.DataFrame, scientific, base=("task", "model", "mode")) -> list[str]:
    keys = list(base) + [k for k in scientific if k not in base]
    return [k for k in keys if k in trials.columns]


def _comparable(group: pd.DataFrame) -> bool:
    """The paper's setting: the full Rijksmuseum collection, ImageNet weights (asked for and used), no pruning."""
    def all_are(key, ok):
        return key not in group or group[key].map(lambda v: v is None or v in ok or v != v).all()
    return (len(group) > 0 and all_are("collection", ("rijksmuseum",)) and "collection" in group
            and all_are("weights", ("imagenet",)) and all_are("weights_used", ("imagenet",))
            and all_are("head_fit", ("optimizer",)) and all_are("top_k", (0,)) and all_are("min_per_class", (0,)))


# ---------------------------------------------------------------- tables


def paper_table(trials: pd.DataFrame, *, scientific=("task", "model", "mode"), nuisance=(),
                metric: str = "val_loss", mode: str = "min") -> Table:
    """Sabatelli et al. (2018) Table 2's layout: task x model rows; off-the-shelf and fine-tune columns.

    Each cell: test accuracy (%) mean ± std over seeds with n, the published value beside it and the
    difference. Varied nuisance hyperparameters are first optimised away on `metric` (validation).
    """
    sci = _scientific(trials, scientific)
    chosen = optimise_away(trials, sci, nuisance, metric, mode)
    done = chosen[(chosen["status"] == "finished")] if len(chosen) else chosen
    extra = [k for k in varied_keys(trials, sci) if k not in ("task", "model", "mode")]
    row_keys = [k for k in ("task", "model") if k in trials.columns] + extra
    row_keys += [k for k in used_weights(trials) if k not in row_keys]
    found = trials["mode"].dropna().tolist() if "mode" in trials else []
    modes = ordered(list(MODES) + found, MODES)  # the paper's two columns always, then any other
    published = reference.sabatelli2018_rijksmuseum()
    lookup = {(r.challenge, r.model): r for r in published.itertuples()}

    rows = []
    groups = done.groupby(row_keys, dropna=False, sort=False) if len(done) else []
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(row_keys, key))
        ref = lookup.get((row.get("task"), row.get("model")))
        for m in modes:
            cell = group[group["mode"] == m] if "mode" in group else group.iloc[0:0]
            mean, std, n = summarize(cell["test_acc"] if "test_acc" in cell else pd.Series(dtype=float))
            # the paper's number only beside the same collection, task and weights: never a demo or random-init row
            same = ref is not None and m in MODES and _comparable(cell)
            paper = float(getattr(ref, m)) if same else math.nan
            n_test = n_test_of(cell)
            low, high = interval(mean, n_test)
            row.update({f"{m}_mean": mean, f"{m}_std": std, f"{m}_n": n, f"{m}_n_test": n_test,
                        f"{m}_ci_low": low, f"{m}_ci_high": high, f"{m}_published": paper,
                        f"{m}_diff": mean - paper if n and same else math.nan})
        rows.append(row)
    columns = row_keys + [f"{m}_{s}" for m in modes
                          for s in ("mean", "std", "n", "n_test", "ci_low", "ci_high", "published", "diff")]
    frame = _sort(pd.DataFrame(rows, columns=columns), row_keys)

    display = frame[row_keys].astype(str).copy()
    for m in modes:
        label = MODE_LABEL.get(m, m)
        display[f"{label} (%)"] = [fmt_accuracy(a, b, n, lo, hi) for a, b, n, lo, hi in
                                   zip(frame[f"{m}_mean"], frame[f"{m}_std"], frame[f"{m}_n"],
                                       frame[f"{m}_ci_low"], frame[f"{m}_ci_high"])]
        if frame[f"{m}_published"].notna().any():  # the paper's columns only where its number applies
            display[f"paper {label} (%)"] = [fmt_num(v) for v in frame[f"{m}_published"]]
            display[f"Δ {label} (pp)"] = [fmt_num(v, signed=True) for v in frame[f"{m}_diff"]]
    collections = sorted({str(c) for c in done.get("collection", pd.Series(dtype=object)).dropna()})
    caption = ("Test accuracy (%) of each trial's best epoch (by its monitored metric), mean ± sample std "
               f"(ddof=1) over seeds; n = finished trials; {INTERVAL_CAPTION}. weights_used = the weights each "
               "trial actually started from. paper = Sabatelli et al. 2018, Table 2 (Rijksmuseum), and "
               "Δ = ours − paper in percentage points, both given only beside the same setting: the full "
               "Rijksmuseum collection, ImageNet weights used, the paper's head and no label pruning.")
    if collections and collections != ["rijksmuseum"]:
        caption += (f" This experiment used collection {', '.join(collections)}, not the paper's, so no published "
                    "number stands beside its rows.")
    nui = varied_keys(trials, [k for k in nuisance if k in trials.columns])
    if nui:
        caption += (f" {', '.join(nui)} varied: each cell uses the setting with the best mean {metric} "
                    "(see the isolation table).")
    return Table("paper_table", "Test accuracy, as in Sabatelli et al. (2018) Table 2", frame, display, caption)


def isolation_table(trials: pd.DataFrame, *, scientific=(), nuisance=(), metric: str = "val_loss",
                    mode: str = "min") -> Table:
    """For each scientific combination, its best nuisance setting (the tuning playbook's isolation plot, as a table).

    The setting is chosen on `metric` averaged over seeds (a validation metric, never the test one);
    the table gives that setting's config, how many settings were tried, and its test accuracy.
    """
    sci = [k for k in scientific if k in trials.columns]
    nui = [k for k in nuisance if k in trials.columns]
    chosen = optimise_away(trials, sci, nui, metric, mode)
    factor = scale(metric)
    used = [k for k in used_weights(trials) if k not in sci + nui]
    rows = []
    groups = chosen.groupby(sci, dropna=False, sort=False) if sci and len(chosen) else (
        [((), chosen)] if len(chosen) else [])
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(sci, key))
        for k in nui:
            values = group[k].drop_duplicates().tolist()
            row[k] = values[0] if len(values) == 1 else values
        for k in used:
            row[k] = ", ".join(map(str, group[k].drop_duplicates()))
        row["settings_tried"] = int(group["settings_tried"].iloc[0])
        row[f"{metric}_selection"] = float(group["selection_value"].iloc[0]) * factor
        mean, std, n = summarize(group["test_acc"] if "test_acc" in group else pd.Series(dtype=float))
        low, high = interval(mean, n_test_of(group))
        row.update({"test_acc_mean": mean, "test_acc_std": std, "test_acc_n": n, "test_acc_ci_low": low,
                    "test_acc_ci_high": high, "trials": " ".join(map(str, group["trial_id"]))})
        rows.append(row)
    columns = sci + nui + used + ["settings_tried", f"{metric}_selection", "test_acc_mean", "test_acc_std",
                                  "test_acc_n", "test_acc_ci_low", "test_acc_ci_high", "trials"]
    frame = _sort(pd.DataFrame(rows, columns=columns), sci)
    display = pd.DataFrame({k: frame[k].map(format_value) for k in sci + nui + used})
    display["settings tried"] = frame["settings_tried"].astype(str)
    unit = " (%)" if factor == 100 else ""
    display[f"{metric}{unit}, selection"] = [fmt_num(v) for v in frame[f"{metric}_selection"]]
    display["test acc (%)"] = [fmt_accuracy(a, b, n, lo, hi) for a, b, n, lo, hi in
                               zip(frame["test_acc_mean"], frame["test_acc_std"], frame["test_acc_n"],
                                   frame["test_acc_ci_low"], frame["test_acc_ci_high"])]
    display["trials"] = frame["trials"]
    caption = (f"For each combination of the scientific hyperparameters ({', '.join(sci) or 'none'}), the "
               f"nuisance setting ({', '.join(nui) or 'none varied'}) with the best mean {metric} "
               f"({'highest' if mode == 'max' else 'lowest'}) over seeds, among trials that finished or were "
               "stopped by the scheduler; test accuracy is that setting's, mean ± std (ddof=1) over its "
               f"finished seeds; {INTERVAL_CAPTION}.")
    return Table("isolation", "Best setting per scientific value, nuisance hyperparameters optimised away",
                 frame, display, caption)


def dataset_table(study: dict, trials: pd.DataFrame | None = None) -> Table:
    """Images and classes per task, from study.json's collection summary (else from the trials' reports)."""
    summary = study.get("collection") if isinstance(study.get("collection"), dict) else {}
    tasks = summary.get("tasks") if isinstance(summary.get("tasks"), dict) else {}
    name = summary.get("collection", "")
    rows = []
    if tasks:
        for task, info in tasks.items():
            row = {"task": task, **{k: info.get(k) for k in ("images", "classes", "train", "val", "test")}}
            for reason, count in (info.get("dropped") or {}).items():
                row[f"dropped_{reason}"] = count
            rows.append(row)
        source = "study.json's collection summary"
    elif trials is not None and "num_classes" in trials and trials["num_classes"].notna().any():
        keys = [k for k in ("task", "top_k", "min_per_class") if k in trials]
        seen = trials.dropna(subset=["num_classes"]).drop_duplicates(keys)
        for r in seen.to_dict("records"):
            counts = [r.get(k) for k in ("n_train", "n_val", "n_test")]
            rows.append({**{k: r[k] for k in keys},
                         "images": sum(int(c) for c in counts) if all(pd.notna(c) for c in counts) else None,
                         "classes": int(r["num_classes"]), "train": r.get("n_train"), "val": r.get("n_val"),
                         "test": r.get("n_test")})
        source = "the trials' final reports (study.json has no collection summary)"
        name = name or ",".join(sorted({str(c) for c in trials.get("collection", pd.Series(dtype=object)).dropna()}))
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame = _sort(frame, ["task"])
    if name == "rijksmuseum" and not frame.empty:
        paper = reference.sabatelli2018_dataset().set_index("task")
        frame["paper_images"] = frame["task"].map(paper["images"])
        frame["paper_classes"] = frame["task"].map(paper["classes"])
    display = frame.copy()
    for col in display.columns:
        display[col] = display[col].map(lambda v: "—" if v is None or v != v else
                                        (f"{int(v):,}" if isinstance(v, (int, float)) and float(v).is_integer() else str(v)))
    caption = (f"Collection {name or '(unknown)'}: labelled images kept per task, classes, and the split, "
               f"from {source}" if rows else "No collection summary in study.json and no finished trial yet")
    caption += (". paper_* = Sabatelli et al. 2018 (the full collection, a class kept when it occurs in every split)."
                if "paper_images" in frame else ".")
    return Table("dataset", "Dataset: images and classes per task", frame, display, caption)


def labels_table(trials: pd.DataFrame, *, nuisance=(), metric: str = "val_loss", mode: str = "min") -> Table:
    """The numbers behind the accuracy-against-classes-kept figure: per task, model, mode and class count."""
    keys = [k for k in ("task", "model", "mode") if k in trials.columns]
    keys += [k for k in varied_keys(trials, ["weights", "head_fit"]) + used_weights(trials) if k not in keys]
    prune = [k for k in ("top_k", "min_per_class") if k in trials.columns]
    chosen = optimise_away(trials, keys + prune, nuisance, metric, mode)
    done = chosen[(chosen["status"] == "finished") & chosen["num_classes"].notna()] if "num_classes" in chosen \
        else chosen.iloc[0:0]
    rows = []
    for key, group in (done.groupby(keys + ["num_classes"], dropna=False, sort=False) if len(done) else []):
        row = dict(zip(keys + ["num_classes"], key))
        row["num_classes"] = int(row["num_classes"])
        for k in prune:
            row[k] = ",".join(format_value(v) for v in sorted(group[k].drop_duplicates()))
        for metric_name in ("test_acc", "test_bacc"):
            mean, std, n = summarize(group[metric_name] if metric_name in group else pd.Series(dtype=float))
            row.update({f"{metric_name}_mean": mean, f"{metric_name}_std": std, f"{metric_name}_n": n})
        row["n_test"] = n_test_of(group)
        row["test_acc_ci_low"], row["test_acc_ci_high"] = interval(row["test_acc_mean"], row["n_test"])
        rows.append(row)
    columns = keys + ["num_classes"] + prune + [f"{m}_{s}" for m in ("test_acc", "test_bacc")
                                               for s in ("mean", "std", "n")] + [
        "n_test", "test_acc_ci_low", "test_acc_ci_high"]
    frame = pd.DataFrame(rows, columns=columns)
    if not frame.empty:  # most classes first within each task, model and mode
        frame = _sort(frame.sort_values("num_classes", ascending=False, kind="stable"), keys)
    display = frame[keys + ["num_classes"] + prune].astype(str)
    display["n_test"] = frame["n_test"].map(format_value)
    display["test acc (%)"] = [fmt_accuracy(a, b, n, lo, hi) for a, b, n, lo, hi in
                               zip(frame["test_acc_mean"], frame["test_acc_std"], frame["test_acc_n"],
                                   frame["test_acc_ci_low"], frame["test_acc_ci_high"])]
    display["test MCA (%)"] = [fmt_mean(a, b, n) for a, b, n in
                               zip(frame["test_bacc_mean"], frame["test_bacc_std"], frame["test_bacc_n"])]
    caption = ("Test accuracy and balanced accuracy (mean class accuracy, MCA) in %, mean ± std (ddof=1) over "
               "seeds, against the number of classes kept after pruning (top_k / min_per_class); "
               f"{INTERVAL_CAPTION} (a pruned test split is smaller, so its interval is wider).")
    return Table("labels_kept", "Accuracy against the number of classes kept", frame, display, caption)


def trials_table(trials: pd.DataFrame, *, keys=(), metric: str = "val_loss") -> Table:
    """Every trial: status, the varied config, epochs run, best epoch, its validation metric, test accuracy."""
    keys = [k for k in keys if k in trials.columns]
    keys += [k for k in used_weights(trials) if k not in keys]
    cols = ["trial_id", "status", *keys, "epochs", "best_epoch", metric, "test_acc", "n_test", "test_bacc", "error"]
    frame = trials.reindex(columns=cols).copy()
    for col in (metric, "test_acc", "test_bacc"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce") * scale(col)
    display = pd.DataFrame({"trial": frame["trial_id"].astype(str), "status": frame["status"].astype(str)})
    for k in keys:
        display[k] = frame[k].map(format_value)
    display["epochs"] = frame["epochs"].map(format_value)
    display["best epoch"] = frame["best_epoch"].map(lambda v: "—" if v != v or v is None else str(int(v)))
    unit = " (%)" if scale(metric) == 100 else ""
    display[f"{metric}{unit}"] = frame[metric].map(fmt_num)
    display["test acc (%)"] = [fmt_num(a) + ("" if a != a else fmt_interval(*wilson(a / 100.0, n)))
                               for a, n in zip(frame["test_acc"], pd.to_numeric(frame["n_test"], errors="coerce"))]
    display["test MCA (%)"] = frame["test_bacc"].map(fmt_num)
    display["error"] = frame["error"].fillna("").astype(str).str.slice(0, 80)
    caption = (f"One row per trial; {metric} at its best epoch (by the trial's own monitor), test metrics from "
               f"its final report; {INTERVAL_CAPTION}. Status: finished; stopped (by the scheduler, e.g. "
               "ASHA); errored (Ray's "
               "error.txt); unfinished (running, or the run was interrupted); pending (nothing reported yet).")
    return Table("trials", "All trials", frame, display, caption)
