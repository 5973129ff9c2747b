"""``python -m bench``: the ``resshift-bench`` command."""
import sys

from .cli import main

sys.exit(main())
