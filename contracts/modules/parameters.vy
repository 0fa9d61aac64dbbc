# pragma version ~=0.4.3
"""
@title params
@notice The owner's parameters: each market's margin ratios, fees, band, vault
        limit, funding cap and skew scale, and the waterfall's global risk parameters, each
        checked against its hard bound (`constants.vy`) before it is stored.
@dev Packed for gas: a market's six ppm rates share one word in 24-bit lanes
     with max_funding_rate above them (the hard bounds keep each in its lane:
     10**6 < 2**24, MAX_FUNDING_RATE < 2**64), and the five risk parameters
     share another (MAX_WINDOW < 2**22). The rate word's top lane (bits 232
     and up) holds the initial ratio of an announced change (`param_changes`):
     `_rates` returns the stricter of the two, `_params` the one in force.
"""

from . import constants

# The rate word's lanes above the six rates (bits 144-167 are unused): max_funding_rate (64 bits), then a pending imr.
FUNDING_LANE: constant(uint256) = 2**64 - 1
PENDING_IMR_SHIFT: constant(uint256) = 232
PENDING_IMR_MASK: constant(uint256) = 2**232


struct MarketParams:
    imr: uint256
    mmr: uint256
    maker_fee: uint256
    taker_fee: uint256
    liquidation_penalty: uint256
    price_band: uint256
    vault_max_notional: uint256
    max_funding_rate: uint256
    skew_scale: uint256
    min_notional: uint256


# A market's rates as `_rates` unpacks them from one storage word.
struct Rates:
    imr: uint256
    mmr: uint256
    maker_fee: uint256
    taker_fee: uint256
    liquidation_penalty: uint256
    price_band: uint256
    max_funding_rate: uint256


struct RiskParams:
    liquidation_buffer: uint256
    keeper_share: uint256
    fund_fee_share: uint256
    vault_max_drawdown: uint256
    vault_window: uint256


# @dev Per market: the six ppm rates in 24-bit lanes, max_funding_rate above them,
#      a pending change's imr in the top lane.
rate_word: HashMap[uint256, uint256]
# @dev Per market: the LiquidityVault's largest notional, atoms.
vault_limit: HashMap[uint256, uint256]
# @dev Per market: the vault position (base units, 18 decimals, either sign) at which funding reaches max_funding_rate.
skew_scale: HashMap[uint256, uint256]
# @dev Per market: the smallest notional a voluntary trade may leave a position at, atoms (zero is always allowed).
min_notional: HashMap[uint256, uint256]
# @dev RiskParams in 24-bit lanes, in declaration order.
risk_word: uint256


# @dev A market's parameters changed (or were first set).
event MarketParamsSet:
    market: indexed(uint256)


# @dev The waterfall's global parameters changed.
event RiskParamsSet:
    keeper_share: uint256


@internal
@pure
def _check_params(p: MarketParams):
    assert p.mmr >= constants.MIN_MMR and p.mmr <= constants.MAX_MMR, "ch: mmr out of bounds"
    assert p.imr > p.mmr and p.imr <= constants.MAX_IMR, "ch: imr out of bounds"
    assert p.maker_fee <= constants.MAX_FEE and p.taker_fee <= constants.MAX_FEE, "ch: fee out of bounds"
    assert p.liquidation_penalty <= constants.MAX_PENALTY, "ch: penalty out of bounds"
    assert p.price_band != 0 and p.price_band <= constants.MAX_BAND, "ch: band out of bounds"
    assert p.vault_max_notional <= constants.MAX_AMOUNT, "ch: vault limit out of bounds"
    assert p.max_funding_rate <= constants.MAX_FUNDING_RATE, "ch: funding cap out of bounds"
    assert p.skew_scale >= constants.MIN_SKEW_SCALE and p.skew_scale <= constants.MAX_SIZE, "ch: skew scale out of bounds"
    assert p.min_notional <= constants.MAX_MIN_NOTIONAL, "ch: min notional out of bounds"


@internal
def _set_params(market: uint256, p: MarketParams):
    """
    @dev Stores checked parameters: each rate fits its lane (`_check_params`).
    """
    self.rate_word[market] = (
        p.imr
        | p.mmr << 24
        | p.maker_fee << 48
        | p.taker_fee << 72
        | p.liquidation_penalty << 96
        | p.price_band << 120
        | p.max_funding_rate << 168
    )
    self.vault_limit[market] = p.vault_max_notional
    self.skew_scale[market] = p.skew_scale
    self.min_notional[market] = p.min_notional


@internal
@view
def _rates(market: uint256) -> Rates:
    """
    @dev The rates the margin rule applies: `imr` is the stricter of the one in
         force and an announced one (E4: risk opened while a change is pending
         meets the stricter setting).
    """
    w: uint256 = self.rate_word[market]
    return Rates(
        imr=max(w & constants.LANE, w >> PENDING_IMR_SHIFT),
        mmr=(w >> 24) & constants.LANE,
        maker_fee=(w >> 48) & constants.LANE,
        taker_fee=(w >> 72) & constants.LANE,
        liquidation_penalty=(w >> 96) & constants.LANE,
        price_band=(w >> 120) & constants.LANE,
        max_funding_rate=(w >> 168) & FUNDING_LANE,
    )


@internal
@view
def _params(market: uint256) -> MarketParams:
    r: Rates = self._rates(market)
    return MarketParams(
        imr=self.rate_word[market] & constants.LANE,
        mmr=r.mmr,
        maker_fee=r.maker_fee,
        taker_fee=r.taker_fee,
        liquidation_penalty=r.liquidation_penalty,
        price_band=r.price_band,
        vault_max_notional=self.vault_limit[market],
        max_funding_rate=r.max_funding_rate,
        skew_scale=self.skew_scale[market],
        min_notional=self.min_notional[market],
    )


@internal
@view
def _risk() -> RiskParams:
    w: uint256 = self.risk_word
    return RiskParams(
        liquidation_buffer=w & constants.LANE,
        keeper_share=(w >> 24) & constants.LANE,
        fund_fee_share=(w >> 48) & constants.LANE,
        vault_max_drawdown=(w >> 72) & constants.LANE,
        vault_window=w >> 96,
    )


@internal
def _set_pending_imr(market: uint256, imr: uint256):
    """
    @dev Writes an announced change's imr (0: none) into the top lane.
    """
    w: uint256 = self.rate_word[market] & (PENDING_IMR_MASK - 1)
    self.rate_word[market] = w | imr << PENDING_IMR_SHIFT


@internal
@pure
def _check_risk(r: RiskParams):
    assert r.liquidation_buffer >= constants.MIN_BUFFER and r.liquidation_buffer <= constants.MAX_BUFFER, "ch: buffer out of bounds"
    assert r.keeper_share <= constants.MAX_KEEPER_SHARE, "ch: keeper share out of bounds"
    assert r.fund_fee_share <= constants.PPM, "ch: fee share out of bounds"
    assert r.vault_max_drawdown != 0 and r.vault_max_drawdown < constants.PPM, "ch: drawdown out of bounds"
    assert r.vault_window != 0 and r.vault_window <= constants.MAX_WINDOW, "ch: window out of bounds"


@internal
def _set_risk(r: RiskParams):
    self._check_risk(r)
    self.risk_word = r.liquidation_buffer | r.keeper_share << 24 | r.fund_fee_share << 48 | r.vault_max_drawdown << 72 | r.vault_window << 96
    log RiskParamsSet(keeper_share=r.keeper_share)
