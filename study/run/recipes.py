"""README recipes, written from each space's own declaration so the two cannot drift apart.

    python -m study.run.recipes > recipes.md      # every space's recipe + the cluster section

One recipe per space (pytorch/vision's references README is the model): the question, the role
and values of each hyperparameter, the trial count and budget, the exact `python -m study.run`
commands and the `python -m analysis.report` command that reads the result.
"""

from __future__ import annotations

import sys

from search_spaces.registry import Space, get_space, list_spaces
from search_spaces.study_file import space_to_toml
from study.config import DEMO_BUDGET
from study.contract import DEFAULT_STORAGE
from study.run.experiment import default_name



def _values(space: Space, key: str) -> str:
    if key in space.scientific:
        values = space.scientific[key]
        if callable(values):  # computed from the collection: its docstring's first line says how
            return (values.__doc__ or "computed from the collection").strip().splitlines()[0]
        return ", ".join(map(str, values))
    if key in space.nuisance:
        return str(space.nuisance[key])
    value = space.fixed.get(key)
    shown = "the paper's for the mode" if value is None else value
    demo = f" (demo: {space.demo[key]})" if key in space.demo else ""
    return f"{shown}{demo}"


def commands(space: Space) -> list[str]:
    """The recipe's command lines: the demo run, a real-collection run, and the reports that read them."""
    def reports(name: str) -> list[str]:
        return [f"python -m analysis.report {DEFAULT_STORAGE}/{name}{suffix}" for suffix in space.reports]

    out = [f"python -m study.run --space {space.name}", *reports(default_name(space.name, "demo"))]
    if space.example:
        collection = space.example.split("--collection ", 1)[1].split()[0]
        out += [f"python -m study.run --space {space.name} {space.example}",
                *reports(default_name(space.name, collection))]
    return out + [f"python -m study.run --space {space.name} --write-study {space.name}.toml"]


def recipe(space: Space, demo_trials: int | None = None) -> str:
    roles = space.roles
    lines = [f"### `{space.name}`", "", f"**Question.** {space.question}", ""]
    lines += ["| hyperparameter | role | values | why |", "|---|---|---|---|"]
    for role in ("scientific", "nuisance", "fixed"):
        for key in roles[role]:
            if role == "fixed" and key not in space.why and key != "collection":
                continue  # the rest of the paper's recipe: listed once below
            value = "--data/--collection (demo: a synthetic one)" if key == "collection" else _values(space, key)
            lines.append(f"| `{key}` | {role} | {value} | {space.why.get(key, 'held constant')} |")
    rest = [k for k in roles["fixed"] if k not in space.why and k != "collection"]
    if rest:
        lines += ["", "Also fixed: " + ", ".join(f"`{k}={_values(space, k)}`" for k in rest) + "."]
    search = ("A grid (every combination)" if space.search == "grid"
              else f"Optuna, {space.samples_per_cell} samples per scientific cell "
                   f"({space.demo_samples_per_cell} on the demo)")
    sched = "ASHA within each scientific cell" if space.scheduler == "asha" else "every trial runs to early stopping"
    lines += ["", f"**Search.** {search}; {sched}; optimises `{space.metric}` ({space.mode}).", ""]
    budget = space.budget + (f" On the demo, `--dry-run` lists {demo_trials} trials." if demo_trials else "")
    lines += [f"**Trials and budget.** {budget}", ""]
    if space.notes:
        lines += [f"**Notes.** {space.notes}", ""]
    lines += ["```", *commands(space), "```", ""]
    lines += [f"<details><summary>Its study file, <code>{space.name}.toml</code> (the last command writes it; "
              f"edit it and run <code>--space {space.name}.toml</code>)</summary>", "", "```toml",
              space_to_toml(space).rstrip(), "```", "", "</details>", ""]
    return "\n".join(lines)


CLUSTER = """\
## From one machine to a Ray cluster

Everything above runs on one machine: without `--address`, `python -m study.run` starts a local
Ray bound to the loopback interface only (127.0.0.1; nothing on the network can reach it), one
trial per CPU core (`--cpus-per-trial 1`), each trial's torch limited to its share of cores.
With `pip install -e ".[dashboard]"` (ray[default]) the run also starts Ray's dashboard on
127.0.0.1 and prints its URL. Ray turns token authentication on for a local cluster: the
dashboard answers 401 until you paste the token, which `ray get-auth-token` prints (it is kept in
`~/.ray/auth_token`). Leave it on (`RAY_AUTH_MODE=disabled` turns it off, and the run warns).
From another machine, reach it through an SSH tunnel: `ssh -L 8265:127.0.0.1:8265 host`.

The same command runs on a cluster; only where things live changes:

1. **Start the cluster, with a token.** On the head node: `ray get-auth-token --generate`, then
   `ray start --head`; copy `~/.ray/auth_token` to every worker node (or set `RAY_AUTH_TOKEN` /
   `RAY_AUTH_TOKEN_PATH` there) and run `ray start --address HEAD:6379` on each. Install artstudy
   (same versions: `pip install -e .`) on every node.
2. **Share the data and the results.** Every node must see the collection at the same path
   (`--data` on NFS or another shared filesystem) and the experiment folder (`--storage` on a
   shared path, or `s3://bucket/prefix`). ImageNet weights go into each node's
   `$TORCH_HOME/hub/checkpoints` (or a shared `TORCH_HOME`); set `ARTSTUDY_CACHE` to a node-local
   disk for the image and feature caches, or to a shared folder for the demo collection.
3. **Run from the head node** (or any machine that reaches it and holds the token; with an explicit
   `--address HOST:PORT` the run turns `RAY_AUTH_MODE=token` on itself when it finds one):

   ```
   python -m study.run --space grid_paper --data /shared/rijksmuseum --collection rijksmuseum \\
       --storage /shared/artstudy-results --address auto --gpus-per-trial 1 --cpus-per-trial 4
   ```

   `--address auto` (or `RAY_ADDRESS`) joins the running cluster instead of starting one.
   `--gpus-per-trial 0.5` packs two off-the-shelf trials on one GPU; `--max-concurrent N` caps
   how many run at once. `--gpus-per-trial` above 0 on a cluster (or machine) without a GPU stops
   the run before any trial.
4. **Failures and resume.** Ray retries a failed trial twice from its last checkpoint
   (`FailureConfig`; `--checkpoint-share 1` checkpoints every epoch); each trial keeps its two
   newest checkpoints (a finished one: its last epoch's state and its model.pt), so the one a
   crashed driver's state names still exists.
   If the driver itself stops (Ctrl-C, a lost head node), rerun the same command with `--resume`:
   finished trials are kept, the others continue from their last checkpoint. On `s3://` storage the
   uploaded experiment state can lag behind the checkpoints; should a crash leave it naming one
   already rotated away, Ray reports that trial errored ("does not exist on storage anymore").
   `python -m analysis.report` reads the folder (copy it locally first when it is on s3).

Nothing here replaces what Ray does: scheduling, placement, retries and result storage are Ray
Tune's; artstudy only names the trials and reads the results.
"""


def readme(demo_counts: dict[str, int] | None = None) -> str:
    demo_counts = demo_counts or {}
    parts = ["## Recipes: one per study", "",
             "Each recipe below is generated from its space's declaration in `search_spaces/` "
             "(`python -m study.run.recipes`). Run a recipe's first command as is for the demo "
             f"({DEMO_BUDGET.images} synthetic images in the Rijksmuseum layout, and a demo budget it prints); point `--data` at a real "
             "collection for the paper's budget. `--dry-run` lists the trials without running them.", "",
             "Every recipe takes more axes from the command line: `--grid KEY=V1,V2,...` adds a scientific axis "
             "or replaces one (`--grid augment=false,true`, `--grid top_k=halving`); `--tune KEY=DIST` searches a "
             "nuisance key with Optuna inside every scientific cell (`--tune lr=loguniform:1e-5:1e-1`; also "
             "`uniform:A:B`, `int:A:B`, `choice:V1,V2`), with `--samples-per-cell N` and `--scheduler asha|fifo`. "
             "A key given a role leaves the others (a tuned `lr` is no longer fixed). For example, accuracy "
             "against the classes kept, with the learning rate tuned for every rung:", "",
             "```", "python -m study.run --space label_pruning --tune lr=loguniform:1e-4:1e-1 --samples-per-cell 2",
             "```", "",
             "Each recipe's study file (`--write-study`, below each recipe) is the same study as a file to edit "
             "(see \"Your own study\").", ""]
    for name in list_spaces(by_name=False):
        parts.append(recipe(get_space(name), demo_counts.get(name)))
    parts.append(CLUSTER)
    return "\n".join(parts)


def demo_trial_counts() -> dict[str, int]:
    """How many trials each space plans on the demo collection (what --dry-run prints)."""
    from study.run.planning import Collections, make_context, plan
    from study.run.cli import build_parser, experiment_options

    counts = {}
    for name in list_spaces():
        args = build_parser().parse_args(["--space", name, "--dry-run"])
        collections = Collections()
        ctx = make_context(experiment_options(args), collections, get_space(name).demo_images)
        counts[name] = sum(stage.num_trials for stage in plan(get_space(name), ctx, collections))
    return counts


if __name__ == "__main__":
    sys.stdout.write(readme(demo_trial_counts()))
