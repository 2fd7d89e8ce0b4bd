"""
Execute runs and yield their records as they finish: in this process, in a local process pool, or on Ray.

Workers only compute; the driver (the caller iterating over the records) writes them, so a Ray cluster needs no
shared file system and an interrupted run never leaves a file behind.
"""

import contextlib
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing import forkserver, resource_tracker
from multiprocessing.connection import Connection, wait
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import Any

from sb3_ppo_variants.engine import DEFAULT_BATCH_RUNS, plan_batches, run_task
from sb3_ppo_variants.records import RunRecord
from sb3_ppo_variants.runner.plan import RunConfig
from sb3_ppo_variants.runner.run import start_record
from sb3_ppo_variants.validation import is_integer

Task = tuple[list[RunConfig], str, str | None]
"""Runs executed together by one worker (a batch of the engine, or one run), the engine setting, the checkpoint dir."""

BACKENDS = ("local", "ray")
# Imported once by the fork server, so that each worker starts with them loaded; torch._dynamo is what torch imports
# (about a second) the first time an optimizer is built. Importing starts no thread, so forking stays safe.
PRELOAD = ["numpy", "pandas", "torch", "torch._dynamo", "gymnasium", "stable_baselines3"]


def default_workers() -> int:
    """
    Return the number of cores available to this process.

    :return: one worker per core
    """
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def local_workers(workers: int | None) -> int:
    """
    Return the number of runs to execute at once on this machine: ``workers``, at most one per core.

    :param workers: the number asked for, or None for one per core
    :return: the number of worker processes
    """
    return min(workers or default_workers(), default_workers())


def _run_serial(tasks: list[Task]) -> Iterator[RunRecord]:
    for task in tasks:
        yield from run_task(*task)


def _exit_with_driver(alive: Connection) -> None:
    """Wait for the end of the pipe the driver holds to close (the driver closed the pool, or died), then exit."""
    with contextlib.suppress(EOFError, OSError):
        alive.recv()
    os._exit(0)


def _work(tasks: Connection, alive: Connection) -> None:
    """A worker: run the tasks received on ``tasks`` one at a time and send back their records."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the driver stops workers
    threading.Thread(target=_exit_with_driver, args=(alive,), daemon=True).start()
    with contextlib.suppress(EOFError, OSError):  # the driver is gone
        while True:
            tasks.send(run_task(*tasks.recv()))


@dataclass
class _Worker:
    process: BaseProcess
    tasks: Connection
    alive: Connection
    task: Task | None = None


def _start_context() -> BaseContext:
    """
    A fork server that has imported ``PRELOAD`` (started now, once per process, while the driver goes on), or spawn
    where there is no fork server. SIGINT is blocked while the server starts, as multiprocessing's resource tracker does:
    the server inherits the mask, so a Ctrl-C during its imports stays pending until it ignores SIGINT (which discards
    it), and its children, the workers, have SIGINT blocked from their first instant and ignore it once they run. A
    Ctrl-C then interrupts the driver alone (which stops the workers), with no worker traceback; in the driver it is
    delivered when the mask is restored.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    resource_tracker.ensure_running()  # first: it unblocks SIGINT once it has started
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        forkserver.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    return context


def _death(process: BaseProcess) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class LocalPool:
    """
    A local process pool of ``workers`` processes, each executing one task (a run, or a batch of runs) at a time.

    Workers come from a fork server that preloads torch and SB3 (started when the pool is made, so it loads them
    while the driver validates the experiment). A worker that dies (killed, out of memory) fails only the runs it was
    executing (one run, or the runs of its batch) and is replaced. Workers exit as soon as the driver closes the pool
    or dies (even by SIGKILL).

    :param workers: number of worker processes
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._context = _start_context()
        self._pool: list[_Worker] = []

    def _start_worker(self) -> _Worker:
        tasks, child_tasks = self._context.Pipe()
        child_alive, alive = self._context.Pipe(duplex=False)
        process = self._context.Process(target=_work, args=(child_tasks, child_alive), daemon=True)
        process.start()
        child_tasks.close()
        child_alive.close()
        worker = _Worker(process, tasks, alive)
        self._pool.append(worker)
        return worker

    def _stop_worker(self, worker: _Worker) -> None:
        self._pool.remove(worker)
        worker.alive.close()
        worker.process.terminate()
        worker.process.join()
        worker.tasks.close()

    def _idle_worker(self) -> _Worker | None:
        """A live idle worker, a new one when the pool has room, else None; dead idle workers are replaced."""
        for worker in [w for w in self._pool if w.task is None and not w.process.is_alive()]:
            self._stop_worker(worker)
        idle = [w for w in self._pool if w.task is None]
        if idle:
            return idle[0]
        return self._start_worker() if len(self._pool) < self.workers else None

    def _result(self, worker: _Worker) -> list[RunRecord]:
        """The records of a worker's task, or their ``failed`` records when the worker died."""
        (configs, *_), worker.task = worker.task, None
        try:
            return worker.tasks.recv()
        except (EOFError, OSError):
            worker.process.join()
            death = _death(worker.process)
            self._stop_worker(worker)
            where = "this run" if len(configs) == 1 else f"this run's batch of {len(configs)} runs"
            error = f"worker process died ({death}) while executing {where}"
            return [start_record(config).failed(error) for config in configs]

    def run(self, tasks: list[Task]) -> Iterator[RunRecord]:
        """
        Execute tasks on the pool.

        :param tasks: the runs, as tasks (see ``Executor.run``)
        :return: their records as their tasks finish
        """
        todo = deque(tasks)
        while todo or any(worker.task is not None for worker in self._pool):
            while todo and (worker := self._idle_worker()) is not None:
                worker.task = todo.popleft()
                with contextlib.suppress(OSError):  # a worker that died meanwhile is found by wait() below
                    worker.tasks.send(worker.task)
            busy = [worker for worker in self._pool if worker.task is not None]
            ready = wait([worker.tasks for worker in busy] + [worker.process.sentinel for worker in busy])
            for worker in busy:
                if worker.tasks in ready or worker.process.sentinel in ready:
                    yield from self._result(worker)

    def close(self) -> None:
        """Stop the workers now, finished or not (on completion, Ctrl-C, or when the consumer stops early)."""
        for worker in list(self._pool):
            self._stop_worker(worker)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise ImportError('--backend ray needs Ray: pip install "sb3-ppo-variants[ray]"') from error
    return ray


def _run_ray(tasks: list[Task], workers: int | None, address: str | None) -> Iterator[RunRecord]:
    ray = _import_ray()
    started = not ray.is_initialized()
    if started:
        ray.init(
            address=address,
            num_cpus=local_workers(workers) if address is None else None,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    remote = ray.remote(num_cpus=1, max_retries=0)(run_task)
    refs = {remote.remote(*task): task[0] for task in tasks}
    waiting = list(refs)
    try:
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            try:
                yield from ray.get(done[0])
            except ray.exceptions.RayError as error:
                yield from (start_record(config).failed(f"Ray task failed: {error}") for config in refs[done[0]])
    finally:
        for ref in waiting:
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def check_backend(backend: str, workers: int | None, address: str | None) -> None:
    """
    Check the backend arguments, before anything is created.

    :param backend: ``local`` or ``ray``
    :param workers: None or a positive integer
    :param address: None, or a Ray cluster address with backend ``ray``
    :raises ValueError: naming the argument and its allowed values
    :raises ImportError: for backend ``ray`` when Ray is not installed
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if workers is not None and (not is_integer(workers) or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if address is not None and backend != "ray":
        raise ValueError("address is only used by backend 'ray'")
    if backend == "ray":
        _import_ray()


class Executor:
    """
    Where runs execute, chosen once from the backend options and handed every batch of a command: this process, a
    local pool of worker processes (started now, so that its workers warm up while the experiment is checked), or Ray.
    Use it as a context manager, or call ``close``.

    Every backend runs torch with one thread per worker (see ``run_one``), so a run's record does not depend on it.

    :param backend: ``local`` (a process pool; one worker runs in this process) or ``ray``
    :param workers: parallel tasks, at most one per core (``local_workers``); default one per core (for Ray: the cores
        of the local Ray instance it starts, ignored with ``address``, where the cluster's CPUs decide)
    :param address: address of a running Ray cluster (``ray start --head`` prints it); None starts Ray locally
    :raises ValueError: for bad backend options, naming them (``check_backend``)
    """

    def __init__(self, backend: str = "local", workers: int | None = None, address: str | None = None) -> None:
        check_backend(backend, workers, address)
        self.backend, self.workers, self.address = backend, workers, address
        self._pool = LocalPool(local_workers(workers)) if backend == "local" and local_workers(workers) > 1 else None

    def run(
        self,
        configs: list[RunConfig],
        engine: str = "sb3",
        batch_runs: int = DEFAULT_BATCH_RUNS,
        checkpoint_dir: str | None = None,
    ) -> Iterator[RunRecord]:
        """
        Run ``configs`` and yield each record as soon as its run (or its batch) finishes (not in plan order when
        parallel). With the batched engine, the runs are packed into batches (``sb3_ppo_variants.engine.plan_batches``),
        each a task.

        :param configs: the runs
        :param engine: ``sb3``, ``batched`` or ``auto`` (``sb3_ppo_variants.engine``)
        :param batch_runs: the largest batch of the engine
        :param checkpoint_dir: where the engine's batches checkpoint (local backend only: a Ray worker may not see it)
        :return: an iterator over the records
        """
        batches = plan_batches(configs, engine, batch_runs)
        if self.backend == "ray":
            return _run_ray([(task, engine, None) for task in batches], self.workers, self.address)
        tasks = [(task, engine, checkpoint_dir) for task in batches]
        return self._pool.run(tasks) if self._pool is not None else _run_serial(tasks)

    def close(self) -> None:
        """Stop the local pool's workers, finished or not."""
        if self._pool is not None:
            self._pool.close()

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
