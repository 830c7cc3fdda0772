"""Allow ``python -m receval`` as an alias of the ``receval`` console script."""
from receval.cli import main

raise SystemExit(main())
