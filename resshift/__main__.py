"""``python -m resshift``: the ``resshift`` command."""
import sys

from .cli import main

sys.exit(main())
