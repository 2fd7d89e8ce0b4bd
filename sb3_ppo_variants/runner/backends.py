"""
Execute runs and yield their records as they finish: in this process, in a local process pool, or on Ray.

Workers only compute; the driver (the caller iterating over the records) writes them, so a Ray cluster needs no
shared file system and an interrupted run never leaves a file behind.
"""

import concurrent.futures as cf
import contextlib
import importlib
import multiprocessing
import os
from collections.abc import Iterator

import torch as th

from sb3_ppo_variants.runner.run import RunConfig, RunRecord, run_one

BACKENDS = ("local", "ray")


def default_workers() -> int:
    """
    :return: one worker per core available to this process
    """
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _run_serial(configs: list[RunConfig]) -> Iterator[RunRecord]:
    for config in configs:
        yield run_one(config)


def _warm_up() -> None:
    importlib.import_module("sb3_ppo_variants.runner.run")
    # torch imports its compiler stack (about a second) the first time an optimizer is built: pay it while idle
    th.optim.Adam([th.zeros(1, requires_grad=True)])


class LocalPool:
    """
    A local process pool whose workers start at once: they import torch and SB3 and warm up (about 2 s) while the
    driver is still validating the experiment. Closing it terminates the workers.

    :param workers: number of worker processes
    """

    def __init__(self, workers: int) -> None:
        # spawn, not fork: forking a process that has started torch's thread pools can deadlock
        context = multiprocessing.get_context("spawn")
        self._pool = cf.ProcessPoolExecutor(workers, mp_context=context, initializer=_warm_up)
        for _ in range(workers):  # one task per worker makes the executor start them all now
            self._pool.submit(int)

    def run(self, configs: list[RunConfig]) -> Iterator[RunRecord]:
        """
        :param configs: the runs
        :return: their records as they finish
        """
        futures = {self._pool.submit(run_one, config): config for config in configs}
        for future in cf.as_completed(futures):
            try:
                yield future.result()
            except cf.process.BrokenProcessPool as error:
                yield RunRecord.failed(futures[future], f"worker process died: {error}")

    def close(self) -> None:
        """Stop the workers now, finished or not (on completion, Ctrl-C, or when the consumer stops early)."""
        processes = list(self._pool._processes.values()) if self._pool._processes else []
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join()


def _run_pool(configs: list[RunConfig], workers: int) -> Iterator[RunRecord]:
    with contextlib.closing(LocalPool(workers)) as pool:
        yield from pool.run(configs)


def _run_ray(configs: list[RunConfig], workers: int | None, address: str | None) -> Iterator[RunRecord]:
    try:
        import ray
    except ImportError as error:
        raise ImportError('--backend ray needs Ray: pip install "sb3-ppo-variants[ray]"') from error
    started = not ray.is_initialized()
    if started:
        ray.init(
            address=address,
            num_cpus=workers if address is None else None,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    remote = ray.remote(num_cpus=1, max_retries=0)(run_one)
    refs = {remote.remote(config): config for config in configs}
    waiting = list(refs)
    try:
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            try:
                yield ray.get(done[0])
            except ray.exceptions.RayError as error:
                yield RunRecord.failed(refs[done[0]], f"Ray task failed: {error}")
    finally:
        for ref in waiting:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def check_backend(backend: str, workers: int | None, address: str | None) -> None:
    """
    :param backend: ``local`` or ``ray``
    :param workers: None or a positive integer
    :param address: None, or a Ray cluster address with backend ``ray``
    :raises ValueError: naming the argument and its allowed values
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if address is not None and backend != "ray":
        raise ValueError("address is only used by backend 'ray'")


def execute(
    configs: list[RunConfig],
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    pool: LocalPool | None = None,
) -> Iterator[RunRecord]:
    """
    Run ``configs`` and yield each record as soon as its run finishes (not in plan order when parallel).

    Every backend runs torch with one thread per run (see ``run_one``), so a run's record does not depend on it.

    :param configs: the runs
    :param backend: ``local`` (a process pool; ``workers=1`` runs in this process) or ``ray``
    :param workers: parallel runs; default one per core (for Ray: the cores of the local Ray instance it starts,
        ignored with ``address``, where the cluster's CPUs decide)
    :param address: address of a running Ray cluster (``ray start --head`` prints it); None starts Ray locally
    :param pool: a started ``LocalPool`` to run on (backend ``local``; the caller closes it); overrides ``workers``
    :return: an iterator over the records
    """
    check_backend(backend, workers, address)
    if backend == "ray":
        return _run_ray(configs, workers, address)
    if pool is not None:
        return pool.run(configs)
    workers = min(workers or default_workers(), max(len(configs), 1))
    return _run_serial(configs) if workers == 1 else _run_pool(configs, workers)
