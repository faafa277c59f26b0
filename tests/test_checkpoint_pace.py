"""The checkpoint pace (study/run/checkpoint_pace.py): checkpoints never take more than their share of a
trial's time, whatever the epochs and checkpoints cost, and share=1 checkpoints every epoch."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from study.run.checkpoint_pace import DEFAULT_SHARE, CheckpointPace


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def simulate(share: float, epochs: list[float], cost: float) -> tuple[list[bool], float, float]:
    """Which epochs a trial checkpoints; the seconds spent training and checkpointing."""
    clock = Clock()
    pace = CheckpointPace(share, clock=clock)
    chosen, spent = [], 0.0
    for seconds in epochs:
        clock.now += seconds
        chosen.append(pace.due())
        if chosen[-1]:
            started = clock.now
            clock.now += cost
            spent += cost
            pace.done(started)
    return chosen, sum(epochs), spent


@settings(max_examples=200, deadline=None)
@given(share=st.floats(0.01, 1.0), cost=st.floats(0.001, 100.0),
       epochs=st.lists(st.floats(0.001, 100.0), min_size=1, max_size=60))
def test_checkpoints_take_at_most_their_share_beyond_the_first(share, cost, epochs):
    chosen, trained, spent = simulate(share, epochs, cost)
    assert chosen[0]  # the first epoch is always checkpointed: that is how the cost is learnt
    if share == 1.0:
        assert all(chosen)
    # every checkpoint after the first follows at least cost * (1 - share) / share seconds of training
    assert spent - cost <= share * (trained + spent) + 1e-6 * (trained + spent)


@given(epoch=st.floats(0.001, 100.0), cost=st.floats(0.001, 100.0))
def test_epochs_much_longer_than_a_checkpoint_are_all_checkpointed(epoch, cost):
    epoch = max(epoch, 50 * cost)  # the default share, 2%, wants 49 checkpoint-costs of training in between
    chosen, _, _ = simulate(DEFAULT_SHARE, [epoch] * 10, cost)
    assert all(chosen)


def test_short_epochs_are_checkpointed_every_so_often():
    chosen, _, _ = simulate(0.05, [1.0] * 60, 1.0)  # 5%, a checkpoint as long as an epoch: one epoch in 19
    assert [i + 1 for i, c in enumerate(chosen) if c] == [1, 20, 39, 58]
    chosen, _, _ = simulate(DEFAULT_SHARE, [1.0] * 120, 1.0)  # 2%: one in 49
    assert [i + 1 for i, c in enumerate(chosen) if c] == [1, 50, 99]


@pytest.mark.parametrize("share", [0, -0.1, 1.5, float("nan")])
def test_a_share_outside_zero_to_one_is_refused(share):
    with pytest.raises(ValueError, match="fraction"):
        CheckpointPace(share)
