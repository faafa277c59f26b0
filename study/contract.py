"""The experiment folder's contract (docs/contracts.md): a placeholder in this branch, named here so the
layers contract in pyproject.toml can place it in the base layer."""
