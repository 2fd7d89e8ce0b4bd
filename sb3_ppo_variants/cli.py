"""
``ppo-variants`` (also ``python -m sb3_ppo_variants``): list, run, tune, compare, status and report experiments; draw
figures.
"""

import argparse
import contextlib
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType

EXIT_FAILED_RUNS = 1
EXIT_BAD_INPUT = 2
EXIT_SIGNAL = 128  # plus the signal's number when interrupted, as a shell reports it: 130 for SIGINT, 143 for SIGTERM
ONLY_HELP = "shell-style pattern on run ids, e.g. 'CartPole-v1__clip*'; repeat it or separate patterns with commas"


def _add_report_commands(commands: argparse._SubParsersAction) -> None:
    """Add the ``report`` and ``figure`` commands to the parser's subcommands."""
    from sb3_ppo_variants.analysis.intervals import DEFAULT_METHOD, METHODS

    report = commands.add_parser("report", help="tables (and figures) of an output directory of 'run' or 'tune'")
    report.add_argument("dir", help="output directory of 'run', or of 'tune' (its sweep report)")
    report.add_argument("--format", choices=("md", "csv", "latex", "json"), default="md", help="table format")
    report.add_argument("--out", help="file to write (default: stdout)")
    report.add_argument("--plots", action="store_true", help="also write the figures (PNG and SVG)")
    report.add_argument(
        "--paper-table1",
        action="store_true",
        help="score the runs as the PPO paper's Table 1 (last 100 training episodes; random 0, best setting 1)",
    )
    report.add_argument(
        "--diverged",
        choices=("worst", "hold"),
        default="worst",
        help="score the evaluations after a divergence as the lowest return of the environment (default) "
        "or as the run's last evaluation",
    )
    report.add_argument(
        "--interval",
        choices=METHODS,
        default=DEFAULT_METHOD,
        help="interval method of IQMs and means (default: %(default)s, chosen by the coverage measurement of "
        "docs/statistics.md)",
    )
    report.add_argument(
        "--select",
        choices=("auc", "final"),
        help="the selection metric a tune directory was tuned with (default: auc); only for the output of 'tune'",
    )
    report.add_argument(
        "--versus",
        metavar="OTHER",
        help="compare DIR (a) with the output directory OTHER (b) cell by cell: means, Welch and permutation tests, "
        "the smallest detectable difference (for example the same runs on the SB3 classes and on the batched engine)",
    )

    figure = commands.add_parser("figure", help="draw a figure that needs no experiment (needs torch)")
    figure.add_argument(
        "name",
        choices=("surrogates", "surrogates-family", "gradients"),
        help="the policy objectives for one sample against r: the package's first five (surrogates) or those published"
        " since the PPO paper (surrogates-family); or the gradient of every registered objective with respect to"
        " log π(a|s) against r (gradients)",
    )
    figure.add_argument("--out", default="results/surrogates", help="output path without suffix (default: %(default)s)")
    # ε = 0.5 rather than PPO's 0.2 makes the asymmetry of [1 - ε, 1 + ε] in log r visible at a glance
    figure.add_argument("--clip-range", type=float, default=0.5, help="ε (default: %(default)s)")
    figure.add_argument("--beta", type=float, default=1.0, help="β of the kl curve (default: %(default)s)")


def _add_run_commands(commands: argparse._SubParsersAction) -> None:
    """Add the ``list``, ``run``, ``tune`` and ``compare`` commands to the parser's subcommands."""
    listing = commands.add_parser("list", help="print the plan of an experiment: runs, steps, estimated time")
    listing.add_argument("file", help="experiment TOML file")
    listing.add_argument("--only", action="append", help=ONLY_HELP)
    listing.add_argument("--workers", type=int, help="parallel runs assumed by the estimate (default: one per core)")
    listing.add_argument("--no-estimate", action="store_true", help="skip the calibration runs that time the estimate")

    run = commands.add_parser("run", help="run an experiment (resumes: finished runs are skipped)")
    tune = commands.add_parser(
        "tune",
        help="tune on the tuning seeds, then run the best configuration of each environment and variant on the "
        "evaluation seeds (resumes)",
    )
    tune.add_argument(
        "--select",
        choices=("auc", "final"),
        default="auc",
        help="selection metric: IQM over the tuning seeds of the area under the curve (default) or of the final return",
    )
    for command in (run, tune):
        command.add_argument(
            "file", help="experiment TOML file" + (" with tuning_seeds and evaluation_seeds" if command is tune else "")
        )
        command.add_argument("--out", help="output directory (default: runs/<experiment name>)")
        command.add_argument("--workers", type=int, help="parallel runs (default: one per core)")
        command.add_argument("--backend", choices=("local", "ray"), default="local", help="local process pool or Ray")
        command.add_argument("--address", help="Ray cluster address (default: start Ray on this machine)")
        command.add_argument("--only", action="append", help=ONLY_HELP)
        command.add_argument("--retry-failed", action="store_true", help="re-run the runs recorded as failed")
        command.add_argument("--yes", action="store_true", help="start a plan of more than 10,000 runs")

    compare = commands.add_parser(
        "compare",
        help="compare variants on one environment at its default hyperparameters (rl-zoo3's where it has them): writes "
        "the experiment file beside the records, runs it (resumes) and prints the report",
    )
    compare.add_argument("--env", required=True, help="gymnasium id, e.g. CartPole-v1")
    compare.add_argument("--variants", required=True, help="registry names separated by commas, e.g. clip,logclip,kl")
    compare.add_argument("--seeds", type=int, default=10, help="number of seeds, 0 to N-1 (default: %(default)s)")
    compare.add_argument("--timesteps", required=True, help="steps per run, e.g. 100000, 100k or 1.5M")
    compare.add_argument("--out", help="output directory (default: runs/compare-<env>-<variants>)")
    compare.add_argument("--workers", type=int, help="parallel runs (default: one per core)")
    compare.add_argument("--backend", choices=("local", "ray"), default="local", help="local process pool or Ray")
    compare.add_argument("--address", help="Ray cluster address (default: start Ray on this machine)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ppo-variants", description="PPO objective variants: experiments and reports.")
    commands = parser.add_subparsers(dest="command", required=True)

    _add_run_commands(commands)
    status = commands.add_parser("status", help="show the done / failed / diverged / missing runs of an output directory")
    status.add_argument("dir", help="output directory of 'run'")
    status.add_argument("--verbose", "-v", action="store_true", help="list the run ids of every status")

    _add_report_commands(commands)

    references = commands.add_parser("references", help="measure the scores that normalise returns (needs gymnasium)")
    references.add_argument(
        "kind",
        choices=("random", "envpool"),
        help="random: the mean return of a uniformly random policy; envpool: evidence that envpool's task is gymnasium's",
    )
    references.add_argument("env_ids", nargs="+", metavar="ENV_ID", help="gymnasium ids")
    references.add_argument("--episodes", type=int, default=100, help="episodes per environment (default: %(default)s)")
    references.add_argument(
        "--out",
        help="random: JSON file to update (default: the package's sb3_ppo_variants/analysis/random_scores.json); "
        "envpool: the directory of envpool_evidence.md and .json (required)",
    )
    references.add_argument(
        "--train-steps", type=int, default=50_000, help="envpool: training steps of the trained policy (default: %(default)s)"
    )
    return parser


def _status(directory: str, verbose: bool) -> int:
    from sb3_ppo_variants.records import EVALUATION_DIR, TUNING_DIR, is_tune_directory, run_status
    from sb3_ppo_variants.runner import status_table

    if is_tune_directory(directory):
        stages = [Path(directory) / stage for stage in (TUNING_DIR, EVALUATION_DIR)]
        if not stages[1].is_dir():
            print(f"{stages[1]}: not started (stage 2 starts once every tuning run is finished)")
        return max(_status(str(stage), verbose) for stage in stages if stage.is_dir())
    table = status_table(directory)
    total = sum(len(run_ids) for run_ids in table.values())
    print(f"{directory}: {total} runs planned")
    for status, run_ids in table.items():
        print(f"  {status:<10} {len(run_ids)}")
        if verbose or status in ("failed", "diverged", "incomplete"):
            for run_id in run_ids:
                problem = run_status(directory, run_id)[1] if status == "incomplete" else None
                print(f"    {run_id}" + (f" ({problem})" if problem else ""))
    return EXIT_FAILED_RUNS if table["failed"] else 0


def _build_report(args: argparse.Namespace) -> object:
    """
    The report that ``ppo-variants report`` asks for: with ``--versus``, the two-sample comparison
    (``analysis.two_sample``); with ``--paper-table1``, the PPO paper's Table 1; for the output of ``tune``, its sweep
    report; otherwise the standard report, each with its builder's defaults.

    :param args: the parsed arguments of ``report``
    :return: the report (any report kind)
    """
    from sb3_ppo_variants.analysis import build_report, build_sweep_report, is_tune_directory

    if args.versus and args.paper_table1:
        raise ValueError("report takes one of --versus and --paper-table1, got both")
    if args.select is not None and (args.versus or args.paper_table1 or not is_tune_directory(args.dir)):
        raise ValueError(f"--select applies to the output directory of 'tune' (with tuning/), and {args.dir} is not one")
    if args.versus:
        from sb3_ppo_variants.analysis.two_sample import build_two_sample

        return build_two_sample(args.dir, args.versus, diverged=args.diverged)
    if args.paper_table1:
        from sb3_ppo_variants.analysis.paper import build_table1

        return build_table1(args.dir, interval=args.interval)
    if is_tune_directory(args.dir):
        return build_sweep_report(args.dir, select=args.select or "auc", diverged=args.diverged, interval=args.interval)
    return build_report(args.dir, diverged=args.diverged, interval=args.interval)


def _write_report(report: object, fmt: str, out: str | None, figures_dir: Path | None) -> int:
    """
    Export a report: the text to ``out`` (atomically) or stdout, the figures (``make_figures``) into ``figures_dir``.

    :param report: a report of any kind
    :param fmt: ``md``, ``csv``, ``latex`` or ``json``
    :param out: file to write; None prints to stdout
    :param figures_dir: where the figures go (their paths are printed to stderr), or None for no figures
    :return: exit status, 0
    """
    from sb3_ppo_variants.analysis import render
    from sb3_ppo_variants.fileio import write_atomic

    text = render(report, fmt)
    if out is None:
        sys.stdout.write(text)
    else:
        write_atomic(out, text)
    if figures_dir is not None:
        from sb3_ppo_variants.analysis.plots import make_figures  # matplotlib is imported only when figures are asked for

        for path in make_figures(report, figures_dir):
            print(path, file=sys.stderr)
    return 0


def _compare(args: argparse.Namespace) -> int:
    """
    ``ppo-variants compare``: write the comparison's experiment file, say where its settings come from, run it, print
    the report.

    :param args: the parsed arguments
    :return: exit status: 0, or 1 when runs failed
    """
    from sb3_ppo_variants.runner import run_experiment
    from sb3_ppo_variants.runner.backends import check_backend
    from sb3_ppo_variants.runner.compare import prepare_comparison

    check_backend(args.backend, args.workers, args.address)
    path, notes = prepare_comparison(args.env, args.variants, args.seeds, args.timesteps, args.out)
    print("\n".join(notes), flush=True)
    counts = run_experiment(path, out=path.parent, backend=args.backend, workers=args.workers, address=args.address)
    print(", ".join(f"{count} {status}" for status, count in sorted(counts.items())) or "nothing to run", flush=True)
    from sb3_ppo_variants.analysis import build_report

    _write_report(build_report(path.parent), "md", None, None)
    return EXIT_FAILED_RUNS if counts["failed"] else 0


def _figure(name: str, out: str, clip_range: float, beta: float) -> list[Path]:
    """
    Draw one of the figures of ``ppo-variants figure`` (they need torch).

    :param name: ``surrogates``, ``surrogates-family`` or ``gradients``
    :param out: output path without suffix
    :param clip_range: ε
    :param beta: β of the KL penalties
    :return: the files written
    """
    if name == "gradients":
        from sb3_ppo_variants.analysis.gradients import gradient_figure

        return gradient_figure(out, clip_range=clip_range, beta=beta)
    from sb3_ppo_variants.analysis.surrogates import family_surrogates, surrogate_figure

    curves = family_surrogates(clip_range, beta) if name == "surrogates-family" else None
    return surrogate_figure(out, clip_range=clip_range, beta=beta, surrogates=curves)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C."""


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def _file_error(error: OSError) -> str:
    """One line naming the path and the problem."""
    if error.filename is None:
        return str(error)
    return f"{error.filename}: {error.strerror or error}"


@contextlib.contextmanager
def _warnings_as_lines(command: str) -> Iterator[None]:
    """Print each warning as one line, ``ppo-variants COMMAND: warning: ...``, instead of Python's two with a source line."""

    def show(message: Warning | str, category: type[Warning], *args: object, **kwargs: object) -> None:
        print(f"ppo-variants {command}: warning: {' '.join(str(message).split())}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        yield


def _summary(command: str, stage: str, counts: dict[str, int], earlier: int) -> str:
    """The line that says what a stage of ``run`` or ``tune`` did; ``earlier``: its runs that failed before."""
    summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()) if count) or "nothing to run"
    if earlier:
        summary += f"; {earlier} failed earlier (--retry-failed runs them again)"
    return summary if command == "run" else f"{stage}: {summary}"


def _report_command(args: argparse.Namespace) -> int:
    """``ppo-variants report``."""
    figures_dir = Path(args.out).parent if args.out is not None else Path(args.dir) / "report"
    return _write_report(_build_report(args), args.format, args.out, figures_dir if args.plots else None)


def _figure_command(args: argparse.Namespace) -> int:
    """``ppo-variants figure``."""
    for path in _figure(args.name, args.out, args.clip_range, args.beta):
        print(path)
    return 0


def _references_command(args: argparse.Namespace) -> int:
    """``ppo-variants references``: random-policy scores, or the envpool evidence."""
    if args.kind == "envpool":
        from sb3_ppo_variants.analysis.envpool_evidence import write_evidence

        if args.out is None:
            raise ValueError("references envpool needs --out DIR")
        print(write_evidence(args.env_ids, args.out, args.episodes, args.train_steps))
        return 0
    from sb3_ppo_variants.analysis.references import RANDOM_SCORES_FILE, write_random_scores

    measured = write_random_scores(args.env_ids, args.episodes, args.out or RANDOM_SCORES_FILE)
    for env_id, entry in measured.items():
        print(f"{env_id}: {entry['mean']:.2f} ± {entry['std']:.2f} over {entry['episodes']} episodes")
    return 0


def _list_command(args: argparse.Namespace) -> int:
    """``ppo-variants list``."""
    from sb3_ppo_variants.runner import describe_plan

    print(describe_plan(args.file, only=args.only, workers=args.workers, calibrate=not args.no_estimate))
    return 0


def _run_command(args: argparse.Namespace) -> int:
    """``ppo-variants run`` and ``tune``: run, print each stage's summary; 1 when runs of the plan failed."""
    from sb3_ppo_variants.runner import run_experiment, tune_experiment
    from sb3_ppo_variants.runner.driver import FAILED_EARLIER

    options = dict(
        out=args.out,
        backend=args.backend,
        workers=args.workers,
        address=args.address,
        only=args.only,
        retry_failed=args.retry_failed,
        yes=args.yes,
    )
    if args.command == "tune":
        stages = tune_experiment(args.file, select=args.select, **options)
    else:
        stages = {"run": run_experiment(args.file, **options)}
    failed = False
    for stage, counts in stages.items():
        earlier = counts.pop(FAILED_EARLIER, 0)
        print(_summary(args.command, stage, counts, earlier))
        failed = failed or bool(counts["failed"] or earlier)
    return EXIT_FAILED_RUNS if failed else 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "list": _list_command,
    "run": _run_command,
    "tune": _run_command,
    "compare": _compare,
    "status": lambda args: _status(args.dir, args.verbose),
    "report": _report_command,
    "figure": _figure_command,
    "references": _references_command,
}


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run the ``ppo-variants`` command.

    SIGTERM is handled as Ctrl-C: the workers stop, finished runs stay recorded, the same command resumes.

    :param argv: arguments (default: ``sys.argv[1:]``)
    :return: exit status: 0 on success, 1 when runs of the plan failed (now or in an earlier invocation, and were not
        re-run), 2 on bad input or a file-system error, 130 when
        interrupted by Ctrl-C (SIGINT), 143 by SIGTERM
    """
    args = _parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    with _warnings_as_lines(args.command):
        try:
            return COMMANDS[args.command](args)
        except (ValueError, TypeError, ImportError) as error:
            print(f"ppo-variants {args.command}: error: {error}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except OSError as error:
            print(f"ppo-variants {args.command}: error: {_file_error(error)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except KeyboardInterrupt as interruption:
            resume = "finished runs are saved, run the same command again to resume"
            print(f"\nppo-variants: interrupted; {resume}", file=sys.stderr)
            return EXIT_SIGNAL + (signal.SIGTERM if isinstance(interruption, _Terminated) else signal.SIGINT)
        finally:
            signal.signal(signal.SIGTERM, previous)


def entry() -> None:
    """
    The ``ppo-variants`` process: exit with the status of ``main``, but when interrupted, die by the signal, as a
    process interrupted by Ctrl-C should, so that a calling shell script stops too (the shell shows 130 or 143).
    """
    code = main()
    signum = code - EXIT_SIGNAL
    if signum in (signal.SIGINT, signal.SIGTERM):
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    sys.exit(code)
