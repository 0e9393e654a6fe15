"""`python -m benchmarks`: see benchmarks/run.py, or run it with --help."""

from benchmarks.run import main

raise SystemExit(main())
