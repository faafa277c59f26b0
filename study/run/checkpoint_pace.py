"""Which epochs a trial checkpoints: enough to resume after any crash, cheap enough not to slow training.

A fine-tuned trial's epoch state is its whole training state (model, optimiser, the best weights):
for resnet18 85 MB written and then copied into the trial folder by Ray, for vgg19 1.6 GB. On a GPU,
where an epoch of a real collection takes minutes, that is a few percent of the epoch and every
epoch is checkpointed; on short epochs (the demo, a small collection, a head on cached features)
the same write can cost more than the epoch. So a trial checkpoints an epoch only once the time
trained since its last checkpoint is large enough that checkpoints take at most `share` of the
trial's time:  cost / (cost + trained) <= share,  i.e.  trained >= cost * (1 - share) / share.

A crash then loses at most that much training, which the restarted trial replays from its last
checkpoint (exactly: a seeded CPU run repeats bit for bit; the replayed epochs' result rows are
reported again and analysis keeps the last of each epoch). The default, 2%, weighs a cost paid on
every epoch against one paid only on a crash: at most 49 times what one checkpoint costs is lost
(vgg19's 1.6 GB state written in ~10 s: 8 minutes of a week's run), while every checkpoint skipped
is time saved (measured with resnet18 on 2 CPU cores, 6 s epochs: a checkpoint every epoch cost 5%
of the trial's pace; `python -m study.bench --only b`). `share=1` checkpoints every epoch. The first
epoch is always checkpointed: that is how the cost is learnt.
"""

from __future__ import annotations

import time
from collections.abc import Callable

DEFAULT_SHARE = 0.02


def check_share(share: float) -> None:
    """ValueError unless 0 < share <= 1 (NaN included): the runner checks --checkpoint-share with it
    before Ray starts, each trial's pace again."""
    if not 0 < share <= 1:
        raise ValueError("give a fraction in (0, 1], e.g. 0.02 (1: a checkpoint every epoch)")


class CheckpointPace:
    def __init__(self, share: float = DEFAULT_SHARE, clock: Callable[[], float] = time.monotonic) -> None:
        check_share(share)
        self.share, self.clock = share, clock
        self.cost: float | None = None  # seconds the last checkpoint took (save, persist, report)
        self.since = clock()  # when the last checkpoint was done (or the trial started)

    def due(self) -> bool:
        """Whether the epoch just trained should be checkpointed."""
        if self.cost is None or self.share >= 1:
            return True
        return (self.clock() - self.since) * self.share >= self.cost * (1 - self.share)

    def done(self, started: float) -> None:
        """A checkpoint that began at clock() == started has been written and reported."""
        now = self.clock()
        self.cost, self.since = now - started, now
