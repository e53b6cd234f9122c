"""`python -m benchmarks`: see benchmarks/run.py (nothing but the standard library loads before --threads)."""
import sys

from benchmarks.run import main

sys.exit(main())
