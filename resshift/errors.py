"""User-facing errors: one line naming the file, the reason and the fix (exit code 2)."""


class ResShiftError(Exception):
    """An error caused by user input or a missing resource, reported without a traceback."""
