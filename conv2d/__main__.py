"""``python -m conv2d verify [TARGET]``: see :mod:`conv2d.gate.cli`."""

import sys

from conv2d.gate.cli import main

sys.exit(main(prog="python -m conv2d"))
