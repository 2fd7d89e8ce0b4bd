"""Helpers shared by the tests."""

from stable_baselines3.common.callbacks import BaseCallback


class StatsRecorder(BaseCallback):
    """Keeps ``model.last_update_stats`` of every policy update of a ``learn()``."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, float]] = []

    def _record(self) -> None:
        if self.model.n_policy_updates > len(self.rows):
            self.rows.append(dict(self.model.last_update_stats))

    def _on_rollout_start(self) -> None:
        self._record()

    def _on_training_end(self) -> None:
        self._record()

    def _on_step(self) -> bool:
        return True
