"""study/contract.py: the study.json record reads back what it wrote and refuses what is not one; the final
checkpoint is the newest checkpoint folder holding final.json; a metric dict must match its declared names."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from study.contract import (EPOCH_METRICS, FINAL_FILE, ContractError, StudyRecord, StudyRecordError, checked,
                            final_checkpoint)
from study.errors import StudyError

text = st.text(max_size=12)
json_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | text
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner,
                                                                                                      max_size=3),
                          max_leaves=8)
strings = st.lists(text, max_size=4)


def maybe(strategy):
    return st.none() | strategy


FIELDS = {  # each field of study.json as the runner writes it (study/run/experiment.py, docs/contracts.md)
    "space": maybe(text), "question": maybe(text), "roles": maybe(st.dictionaries(text, strings, max_size=3)),
    "metric": maybe(text), "mode": maybe(st.sampled_from(["min", "max"])), "command": maybe(text),
    "argv": maybe(strings), "versions": maybe(st.dictionaries(text, text, max_size=3)),
    "collection": maybe(st.dictionaries(text, json_value, max_size=3)), "budget": maybe(text),
    "seeds": maybe(st.integers(1, 10)), "created": maybe(text), "stage": maybe(text), "search": maybe(text),
    "scheduler": maybe(text), "options": maybe(st.dictionaries(text, json_value, max_size=3)),
    "sampler": maybe(text), "distributions": maybe(st.dictionaries(text, text, max_size=3)),
    "source_experiment": maybe(text), "resumed": maybe(strings), "finished": maybe(text),
    "trials": maybe(st.dictionaries(text, json_value, max_size=3)),
    # keys a newer artstudy may add: kept as read
    "extra": st.dictionaries(text.filter(lambda k: k not in FIELDS and not k.startswith("_")), json_value,
                             max_size=2),
}


@given(st.fixed_dictionaries(FIELDS))
def test_a_record_reads_back_what_it_wrote(fields):
    record = StudyRecord(**fields)
    text = record.to_json()
    assert StudyRecord.from_json(text) == record
    written = json.loads(text)
    assert set(written) == {k for k, v in fields.items() if v is not None and k != "extra"} | set(fields["extra"])


def test_a_study_json_with_missing_fields_reads_as_none():
    record = StudyRecord.from_json('{"space": "smoke", "seeds": 2, "added_later": [1]}')
    assert (record.space, record.seeds, record.question, record.roles) == ("smoke", 2, None, None)
    assert record.extra == {"added_later": [1]}
    assert json.loads(record.to_json()) == {"space": "smoke", "seeds": 2, "added_later": [1]}
    assert StudyRecord.from_json("{}") == StudyRecord() and StudyRecord().to_dict() == {}


@pytest.mark.parametrize("text, said", [
    ("[1, 2]", "holds a JSON array, not an object"),
    ("null", "holds a JSON null, not an object"),
    ('"grid_paper"', "holds a JSON string, not an object"),
    ('{"space": "x"', "is not JSON"),
    ('{"seeds": "two"}', "'seeds' is a JSON string where integer belongs"),
    ('{"seeds": true}', "'seeds' is a JSON boolean where integer belongs"),
    ('{"roles": ["model"]}', "'roles' is a JSON array where object belongs"),
    ('{"argv": "--space smoke"}', "'argv' is a JSON string where array belongs"),
])
def test_what_is_not_a_record_is_refused_in_one_line(text, said):
    with pytest.raises(StudyRecordError) as err:
        StudyRecord.from_json(text)
    assert said in str(err.value) and "\n" not in str(err.value)
    assert isinstance(err.value, StudyError)  # a command line prints it as one error: line


def checkpoint(trial, name, final=False, state=False):
    folder = trial / name
    folder.mkdir(parents=True)
    if final:
        (folder / FINAL_FILE).write_text("{}")
    if state:
        (folder / "state.pt").write_bytes(b"")
    return folder


def test_the_final_checkpoint_is_the_one_holding_final_json(tmp_path):
    trial = tmp_path / "train_00000"
    checkpoint(trial, "checkpoint_000002", state=True)
    final = checkpoint(trial, "checkpoint_000003", final=True)
    checkpoint(trial, "checkpoint_000004", state=True)  # newer, but an epoch's: not final
    (trial / "checkpoint_000005").write_text("a file, not a checkpoint folder")
    assert final_checkpoint(trial) == final
    assert final_checkpoint(str(trial)) == final


def test_of_two_final_checkpoints_the_newest_counts(tmp_path):
    trial = tmp_path / "train_00000"
    checkpoint(trial, "checkpoint_000009", final=True)
    newest = checkpoint(trial, "checkpoint_000010", final=True)  # zero-padded: 10 sorts after 9
    assert final_checkpoint(trial) == newest


def test_a_running_or_missing_trial_has_no_final_checkpoint(tmp_path):
    trial = tmp_path / "train_00000"
    checkpoint(trial, "checkpoint_000000", state=True)
    checkpoint(trial, "checkpoint_000001", state=True)
    checkpoint(trial, "not_a_checkpoint", final=True)
    assert final_checkpoint(trial) is None
    assert final_checkpoint(tmp_path / "absent") is None


def test_a_metric_not_declared_or_not_reported_is_a_bug_at_once():
    epoch = {name: 0.0 for name in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_bacc",
                                    "epoch_time_s", "train_images_per_s")}  # docs/contracts.md's list
    assert checked(EPOCH_METRICS, dict(epoch)) == epoch
    with pytest.raises(ContractError, match="undeclared \\['val_top5'\\]"):
        checked(EPOCH_METRICS, {**epoch, "val_top5": 1.0})
    with pytest.raises(ContractError, match="missing \\['val_bacc'\\]"):
        checked(EPOCH_METRICS, {k: v for k, v in epoch.items() if k != "val_bacc"})
    assert checked(EPOCH_METRICS, {**epoch, "head_c": 1.0}, optional={"head_c"})["head_c"] == 1.0
