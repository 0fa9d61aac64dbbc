"""Twin of `contracts/modules/constants.vy`: the numbers every part of the model shares.

Same names, same values; ``tests/unit/test_twins.py`` evaluates the Vyper file and checks
each constant here against it.
"""

from __future__ import annotations

PPM = 10**6
WAD = 10**18
VALUE_UNIT = 10**30
FEE_UNIT = 10**36
FUNDING_UNIT = 10**36
# ADL score components are clamped so the product stays far inside int256.
SCORE_CAP = 10**24

MAX_MARKETS = 8
MAX_ADL = 128
QUEUE_SCAN_READS = 1_600
MAX_ADL_ARG = 4096
# Bounds on user input: beyond them notional maths could overflow.
MAX_SIZE = 10**36
MAX_AMOUNT = 2**128
MAX_PRICE = 10**36
# A position's size and open notional are stored as int128 in one slot.
MAX_POSITION = 2**127
# Funding: rate (WAD per second) * seconds * price / 10**12 is the index's growth.
FUNDING_PRICE_DIV = 10**12

# Hard bounds of the owner's parameters (ppm unless noted).
MIN_MMR = 5_000
MAX_MMR = 500_000
MAX_IMR = 1_000_000
MAX_FEE = 10_000
MAX_PENALTY = 100_000
MAX_BAND = 200_000
MAX_FUNDING_RATE = 10**18 // 3600 // 100
MIN_SKEW_SCALE = 10**18
MAX_MIN_NOTIONAL = 10**12
MIN_BUFFER = 10_000
MAX_BUFFER = 1_000_000
MAX_KEEPER_SHARE = 500_000
MAX_WINDOW = 30 * 86400
MAX_SPREAD = 50_000
VAULT_DECIMALS_OFFSET = 6
MAX_AGE_BOUND = 86400 * 7
MIN_DELAY = 86400
MAX_DELAY = 30 * 86400
GRACE_PERIOD = 14 * 86400

# Packing (the model stores unpacked values; kept for the twin check).
ORACLE_BITS = 2**160 - 1
LANE = 2**24 - 1
