"""Gas of every perpvault operation against its storage floor, and its scaling.

    .venv/bin/python bench/gas.py                 # everything; writes bench/results/gas.json and gas.md
    .venv/bin/python bench/gas.py --scaling 10    # a quicker scaling run
    .venv/bin/perpvault bench gas                 # the same

The measuring code lives in perpvault/bench.py (shared with tests/bench/test_gas_regression.py).
"""

import sys

from perpvault.bench import main

if __name__ == "__main__":
    sys.exit(main())
