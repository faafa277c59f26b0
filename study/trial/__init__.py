"""One trial in plain PyTorch: backbones, weights, the two transfer modes, the feature cache, the epoch loop.

Nothing here imports Ray or knows of a scheduler: `run_trial.run_trial(config, on_epoch, state)` is the
whole interface, and study/run/trainable.py is the only caller that talks to Ray (docs/architecture.md).
"""
