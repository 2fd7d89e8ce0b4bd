"""
What a running command prints as it goes: one status line of runs done, failures, divergences, steps/s and ETA.
"""

import math
import sys
import time
from collections import Counter
from typing import TextIO

from sb3_ppo_variants.runner.plan import RunConfig


def duration(seconds: float) -> str:
    """
    A duration as the progress line and ``list`` print it.

    :param seconds: the duration, or infinity / NaN when unknown
    :return: e.g. ``4.2s``, ``3m07s``, ``2h05m``; ``?`` when unknown
    """
    if not math.isfinite(seconds):
        return "?"
    if seconds < 10:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


class Progress:
    """
    One status line on ``stream``: runs done out of total, failed and diverged counts, steps/s and ETA.
    Redrawn in place on a terminal, one line per finished run otherwise (logs, CI).

    :param configs: the runs about to execute
    :param stream: where to write (default: standard error)
    """

    def __init__(self, configs: list[RunConfig], stream: TextIO | None = None) -> None:
        self.total_runs = len(configs)
        self.total_steps = sum(config.total_timesteps for config in configs)
        self.stream = stream = stream if stream is not None else sys.stderr
        self.counts: Counter[str] = Counter()
        self.steps = 0
        self.start = time.perf_counter()
        self.tty = stream.isatty()

    def update(self, run_id: str, status: dict) -> None:
        """
        :param run_id: the run that finished
        :param status: its status (``status`` and ``timesteps``)
        """
        self.counts[status["status"]] += 1
        self.steps += status["timesteps"] or 0
        done = sum(self.counts.values())
        speed = self.steps / max(time.perf_counter() - self.start, 1e-9)
        # Runs that stop early (failed, diverged) still count for their full budget in the ETA denominator
        remaining = self.total_steps * (1 - done / self.total_runs) if self.total_runs else 0
        line = (
            f"[{done}/{self.total_runs}] failed {self.counts['failed']} diverged {self.counts['diverged']} | "
            f"{speed:,.0f} steps/s | ETA {duration(remaining / speed if speed > 0 else math.inf)} | "
            f"{run_id}: {status['status']}"
        )
        if self.tty:
            self.stream.write(f"\r\033[K{line}")
            if done == self.total_runs:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
