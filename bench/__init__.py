"""The benchmark harness: test sets, metrics, tables, figures, timing."""
__version__ = "0.1.0"
