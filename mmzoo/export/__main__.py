"""`python -m mmzoo.export export RUN --out PATH` / `python -m mmzoo.export verify PATH`."""

import sys

from mmzoo.export.cli import main

sys.exit(main())
