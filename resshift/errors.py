"""User-facing errors: one line naming the file, the reason and the fix (exit code 2)."""


class ResShiftError(Exception):
    """An error caused by user input or a missing resource, reported without a traceback."""


def run_cli(parser, argv, prog: str) -> int:
    """Parse ``argv`` and run the chosen command; user errors print one line and exit 2."""
    import sys

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ResShiftError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
