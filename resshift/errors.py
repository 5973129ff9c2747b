"""User-facing errors: one line naming the file, the reason and the fix (exit code 2)."""
import argparse


class ResShiftError(Exception):
    """An error caused by user input or a missing resource, reported without a traceback."""


def _add_quiet(parser: argparse.ArgumentParser) -> None:
    """``-q/--quiet`` on the parser and on every sub-command, so it may stand anywhere."""
    if not any("--quiet" in a.option_strings for a in parser._actions):
        parser.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                            help="no progress bars")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _add_quiet(sub)


def run_cli(parser, argv, prog: str) -> int:
    """Parse ``argv`` and run the chosen command; user errors print one line and exit 2."""
    import sys

    from .progress import set_quiet

    _add_quiet(parser)
    args = parser.parse_args(argv)
    set_quiet(getattr(args, "quiet", False))
    try:
        return args.func(args)
    except ResShiftError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader stopped early (`resshift-bench data list | head`): nothing more to say; stdout
        # goes to devnull so that the interpreter's final flush does not fail again
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
