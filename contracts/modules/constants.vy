# pragma version ~=0.4.3
"""
@title constants
@notice The numbers every perpvault contract shares, typed once: units, sizes,
        and the hard bounds of the owner's parameters. `perpvault/model/maths.py`
        and `perpvault/model/clearinghouse.py` hold the same numbers;
        tests/unit/test_twins.py checks that they agree.
@dev Ratios are in ppm (10**6 = 100%); money in collateral atoms (6 decimals);
     size in 18 decimals of the base asset; price in 18 decimals of quote per
     whole base unit, so size * price / VALUE_UNIT is collateral atoms.
"""

PPM: constant(uint256) = 10**6
WAD: constant(int256) = 10**18
VALUE_UNIT: constant(uint256) = 10**30
FEE_UNIT: constant(uint256) = 10**36
FUNDING_UNIT: constant(int256) = 10**36
# ADL score components are clamped so the product stays far inside int256.
SCORE_CAP: constant(int256) = 10**24

MAX_MARKETS: constant(uint256) = 8
# The longest ADL list `liquidate` runs (bench/adl_list_bound.py: the worst case fits a 30M-gas block).
MAX_ADL: constant(uint256) = 128
# How much of a side the ADL queue's completeness check reads (adl.vy `_check_complete`), in
# position reads: a holder costs one, plus one per market it holds when it is scored.
# bench/adl_queue_scan.py: this many reads and a MAX_ADL list fit a 30M-gas block together.
QUEUE_SCAN_READS: constant(uint256) = 1_600
# The longest list `Clearinghouse.liquidate` decodes: up to it, a list beyond MAX_ADL is refused by its reason.
MAX_ADL_ARG: constant(uint256) = 4096
# Bounds on user input: beyond them notional maths could overflow.
MAX_SIZE: constant(uint256) = 10**36
MAX_AMOUNT: constant(uint256) = 2**128
# Prices above 10**36 (10**18 quote per base unit) overflow notional maths.
MAX_PRICE: constant(uint256) = 10**36
# A position's size and open notional are stored as int128 in one slot.
MAX_POSITION: constant(int256) = 2**127
# Funding: rate (WAD per second) * seconds * price (18 decimals) / 10**12 is the index's growth (atoms per whole base unit, scaled by 10**18).
FUNDING_PRICE_DIV: constant(int256) = 10**12

# Hard bounds of the owner's parameters (ppm unless noted).
MIN_MMR: constant(uint256) = 5_000  # 0.5%
MAX_MMR: constant(uint256) = 500_000  # 50%
MAX_IMR: constant(uint256) = 1_000_000  # 100%
MAX_FEE: constant(uint256) = 10_000  # 1%
MAX_PENALTY: constant(uint256) = 100_000  # 10%
MAX_BAND: constant(uint256) = 200_000  # 20%
MAX_FUNDING_RATE: constant(uint256) = 10**18 // 3600 // 100  # 1% an hour, WAD per second
# The smallest skew scale: one whole base unit (below it a dust trade with the vault sets funding's sign at the cap).
MIN_SKEW_SCALE: constant(uint256) = 10**18
MAX_MIN_NOTIONAL: constant(uint256) = 10**12  # atoms: 1M USDC, the largest minimum position notional
MIN_BUFFER: constant(uint256) = 10_000  # 1%: absorbs the atoms requirements round up by
MAX_BUFFER: constant(uint256) = 1_000_000  # 100%
MAX_KEEPER_SHARE: constant(uint256) = 500_000  # 50%
MAX_WINDOW: constant(uint256) = 30 * 86400
MAX_SPREAD: constant(uint256) = 50_000  # 5%, the LiquidityVault's quote spread
# The LiquidityVault's virtual shares, 10**VAULT_DECIMALS_OFFSET (ERC-4626 inflation guard); the loss cap prices a share with them.
VAULT_DECIMALS_OFFSET: constant(uint256) = 6
MAX_AGE_BOUND: constant(uint256) = 86400 * 7  # oracles: the longest staleness bound
# Timelock on the owner's changes: the delay's bounds, and how long an announced change stays applicable.
MIN_DELAY: constant(uint256) = 86400  # 1 day
MAX_DELAY: constant(uint256) = 30 * 86400
GRACE_PERIOD: constant(uint256) = 14 * 86400

# Packing: an oracle address in the low 160 bits of a word; ppm rates in 24-bit lanes.
ORACLE_BITS: constant(uint256) = 2**160 - 1
LANE: constant(uint256) = 2**24 - 1
