"""
Execute runs and yield their records as they finish: in this process, in a local process pool, or on Ray.

Workers only compute; the driver (the caller iterating over the records) writes them, so a Ray cluster needs no
shared file system and an interrupted run never leaves a file behind.
"""

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Iterator

from sb3_ppo_variants.runner.run import Record, RunConfig, run_one

BACKENDS = ("local", "ray")


def default_workers() -> int:
    """
    :return: one worker per core available to this process
    """
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _run_serial(configs: list[RunConfig]) -> Iterator[Record]:
    for config in configs:
        yield run_one(config)


def _run_pool(configs: list[RunConfig], workers: int) -> Iterator[Record]:
    # spawn, not fork: forking a process that has started torch's thread pools can deadlock
    pool = cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    futures = {pool.submit(run_one, config): config for config in configs}
    try:
        for future in cf.as_completed(futures):
            try:
                yield future.result()
            except cf.process.BrokenProcessPool as error:
                yield Record.failed(futures[future], f"worker process died: {error}")
    finally:
        # Reached on completion, on Ctrl-C and when the consumer stops early: no worker outlives the driver
        processes = list(pool._processes.values()) if pool._processes else []
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join()


def _run_ray(configs: list[RunConfig], workers: int | None, address: str | None) -> Iterator[Record]:
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
                yield Record.failed(refs[done[0]], f"Ray task failed: {error}")
    finally:
        for ref in waiting:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def execute(
    configs: list[RunConfig], backend: str = "local", workers: int | None = None, address: str | None = None
) -> Iterator[Record]:
    """
    Run ``configs`` and yield each record as soon as its run finishes (not in plan order when parallel).

    Every backend runs torch with one thread per run (see ``run_one``), so a run's record does not depend on it.

    :param configs: the runs
    :param backend: ``local`` (a process pool; ``workers=1`` runs in this process) or ``ray``
    :param workers: parallel runs; default one per core (for Ray: the cores of the local Ray instance it starts,
        ignored with ``address``, where the cluster's CPUs decide)
    :param address: address of a running Ray cluster (``ray start --head`` prints it); None starts Ray locally
    :return: an iterator over the records
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if address is not None and backend != "ray":
        raise ValueError("address is only used by backend 'ray'")
    if backend == "ray":
        return _run_ray(configs, workers, address)
    workers = min(workers or default_workers(), max(len(configs), 1))
    return _run_serial(configs) if workers == 1 else _run_pool(configs, workers)
