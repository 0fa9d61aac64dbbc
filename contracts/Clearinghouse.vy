# pragma version ~=0.4.3
# pragma optimize codesize
"""
@title Clearinghouse
@notice The perpetual vault of perpvault: it holds every trader's margin, the
        markets, the positions, funding, signed-order fills, vault trades, and
        the risk waterfall (liquidation -> LiquidityVault -> InsuranceFund ->
        ADL). See SPEC.md and docs/mechanism.md; `perpvault.model` is its
        executable twin.
@dev Accounting (docs/mechanism.md, "Accounting"): each account has a
     `margin` (collateral atoms: deposits - withdrawals + realized PnL - fees
     + settled funding) and per market a position (size, open_notional, the
     funding index at its last settlement). open_notional is the signed cost
     basis (long > 0), so entry = open_notional / size and
     unrealized PnL = value(size, mark) - open_notional.
     I2 (exact): token balance == sum(margin) - sum(open_notional)
                 + insurance_due + sum(funding_pool).
"""

from ethereum.ercs import IERC20
from snekmate.auth import ownable

initializes: ownable

from snekmate.utils import pausable

initializes: pausable

from .modules import perp_math
from .interfaces import IOracle
from .interfaces import IInsuranceFund

exports: (
    ownable.owner,
    ownable.transfer_ownership,
    pausable.paused,
)


MAX_MARKETS: constant(uint256) = 8
MAX_ADL: constant(uint256) = 64
PPM: constant(uint256) = 10**6
WAD: constant(int256) = 10**18
# Bounds on user input: beyond them notional maths could overflow.
MAX_SIZE: constant(uint256) = 10**36
MAX_AMOUNT: constant(uint256) = 2**128
# A position's size and open notional are stored as int128 in one slot.
MAX_POSITION: constant(int256) = 2**127
# Funding: the premium is paid over this period; the index scale is 10**36.
FUNDING_PERIOD: constant(int256) = 28_800
FUNDING_PRICE_DIV: constant(int256) = 10**12

# Hard bounds of the owner's parameters (ppm unless noted).
MIN_MMR: constant(uint256) = 5_000  # 0.5%
MAX_MMR: constant(uint256) = 500_000  # 50%
MAX_IMR: constant(uint256) = 1_000_000  # 100%
MAX_FEE: constant(uint256) = 10_000  # 1%
MAX_PENALTY: constant(uint256) = 100_000  # 10%
MAX_BAND: constant(uint256) = 200_000  # 20%
MAX_FUNDING_RATE: constant(uint256) = 10**18 // 3600 // 100  # 1% an hour, WAD per second
MAX_EMA_WEIGHT: constant(uint256) = 1_000_000
MIN_BUFFER: constant(uint256) = 10_000  # 1%: absorbs the atoms requirements round up by
MAX_BUFFER: constant(uint256) = 1_000_000  # 100%
MAX_KEEPER_SHARE: constant(uint256) = 500_000  # 50%
MAX_WINDOW: constant(uint256) = 30 * 86400
ORACLE_BITS: constant(uint256) = 2**160 - 1
LANE: constant(uint256) = 2**24 - 1


struct MarketParams:
    imr: uint256
    mmr: uint256
    maker_fee: uint256
    taker_fee: uint256
    liquidation_penalty: uint256
    price_band: uint256
    vault_max_notional: uint256
    max_funding_rate: uint256
    ema_weight: uint256


# A market's rates as `_rates` unpacks them from one storage word.
struct Rates:
    imr: uint256
    mmr: uint256
    maker_fee: uint256
    taker_fee: uint256
    liquidation_penalty: uint256
    price_band: uint256
    ema_weight: uint256
    max_funding_rate: uint256


struct RiskParams:
    liquidation_buffer: uint256
    keeper_share: uint256
    fund_fee_share: uint256
    vault_max_drawdown: uint256
    vault_window: uint256


struct MarketState:
    oracle: address
    funding_index: int256
    last_funding_time: uint256
    mark_ema: uint256
    funding_pool: int256
    funding_weight: int256
    open_interest: uint256


# MarketState as stored (`markets` reads it): the oracle and the last funding
# time share one slot, both read and written by every accrual.
struct MarketStore:
    oracle_time: uint256  # oracle address (low 160 bits) | last_funding_time << 160
    funding_index: int256
    mark_ema: uint256
    funding_pool: int256
    funding_weight: int256
    open_interest: uint256


struct Position:
    size: int256
    open_notional: int256
    funding_index: int256


struct Health:
    equity: int256
    initial: uint256
    maintenance: uint256
    notional: uint256


# --- storage -----------------------------------------------------------------

collateral: public(immutable(IERC20))
insurance_fund: public(immutable(IInsuranceFund))
vault: public(address)

market_count: public(uint256)
market_store: HashMap[uint256, MarketStore]
# MarketParams in two slots (`params` reads them): the seven ppm rates in
# 24-bit lanes and max_funding_rate above them (the hard bounds keep each in
# its lane: 10**6 < 2**24, MAX_FUNDING_RATE < 2**64), and vault_max_notional.
rate_word: HashMap[uint256, uint256]
vault_limit: HashMap[uint256, uint256]
# RiskParams in one slot (`risk` reads it), 24-bit lanes in declaration
# order; the hard bounds keep each below 2**24 (MAX_WINDOW < 2**22).
risk_word: uint256

margin: public(HashMap[address, int256])
# A position in two slots (`positions` reads it): size (low 128 bits) and
# open_notional (high 128 bits), two's complement int128 each; and the funding
# index at its last settlement.
position_word: HashMap[address, HashMap[uint256, int256]]
position_index: HashMap[address, HashMap[uint256, int256]]
market_mask: public(HashMap[address, uint256])

# Every account that ever held margin, for the keeper's and users' views.
account_count: public(uint256)
account_at: public(HashMap[uint256, address])
is_known: public(HashMap[address, bool])

# Penalties, the fund's share of fees, and rounding dust owed to the fund.
insurance_due: public(uint256)

# The OrderBook verifies signed orders and is the only caller of `fill`.
order_book: public(address)

vault_peak_equity: public(int256)
vault_peak_time: public(uint256)


# --- events ------------------------------------------------------------------

event Deposited:
    account: indexed(address)
    amount: uint256


event Withdrawn:
    account: indexed(address)
    amount: uint256


event Filled:
    maker: indexed(address)
    taker: indexed(address)
    market: indexed(uint256)
    taker_size: int256
    price: uint256
    maker_fee: uint256
    taker_fee: uint256


event FundingSettled:
    account: indexed(address)
    market: indexed(uint256)
    amount: int256


event Liquidated:
    account: indexed(address)
    keeper: indexed(address)
    market: indexed(uint256)
    size: int256
    price: uint256
    penalty: uint256
    keeper_reward: uint256
    to_vault: bool


event BadDebtCovered:
    account: indexed(address)
    amount: uint256


event ShortfallSocialized:
    account: indexed(address)
    amount: uint256


event Deleveraged:
    bankrupt: indexed(address)
    counterparty: indexed(address)
    market: indexed(uint256)
    size: int256
    price: uint256
    haircut: uint256


event InsuranceSwept:
    amount: uint256


event MarketAdded:
    market: indexed(uint256)
    oracle: address


event MarketParamsSet:
    market: indexed(uint256)


event RiskParamsSet:
    keeper_share: uint256


event VaultSet:
    vault: indexed(address)


event OrderBookSet:
    order_book: indexed(address)


# --- construction and owner --------------------------------------------------


@deploy
def __init__(collateral_: IERC20, insurance_fund_: IInsuranceFund, risk_: RiskParams):
    """
    @notice Deploys the clearinghouse over a 6-decimal collateral token.
    @param collateral_ The collateral token (USDC-like).
    @param insurance_fund_ The InsuranceFund bound to this clearinghouse.
    @param risk_ Liquidation buffer, keeper share, fund fee share, vault loss cap.
    """
    ownable.__init__()
    pausable.__init__()
    collateral = collateral_
    insurance_fund = insurance_fund_
    self._set_risk(risk_)
    # The fund pulls what `sweep_to_insurance` owes it.
    extcall collateral_.approve(insurance_fund_.address, max_value(uint256))


@external
def set_vault(vault_: address):
    """
    @notice Binds the LiquidityVault, once (owner only).
    @param vault_ The vault; its margin account here is its assets.
    """
    ownable._check_owner()
    assert self.vault == empty(address), "ch: vault already set"
    self._check_address(vault_)
    self.vault = vault_
    self._remember(vault_)
    log VaultSet(vault=vault_)


@external
def set_order_book(order_book_: address):
    """
    @notice Binds the OrderBook, once (owner only).
    @param order_book_ The only address allowed to call `fill`.
    """
    ownable._check_owner()
    assert self.order_book == empty(address), "ch: order book already set"
    self._check_address(order_book_)
    self.order_book = order_book_
    log OrderBookSet(order_book=order_book_)


@external
def add_market(oracle: address, params_: MarketParams) -> uint256:
    """
    @notice Lists a market priced by `oracle` (owner only).
    @param oracle An IOracle; its `price(id)` is this market's mark and index.
    @param params_ Margin ratios, fees, bands and vault limits, within hard bounds.
    @return uint256 The new market id.
    """
    ownable._check_owner()
    self._check_address(oracle)
    market: uint256 = self.market_count
    assert market < MAX_MARKETS, "ch: too many markets"
    self._check_params(params_)
    price: uint256 = staticcall IOracle(oracle).price(market)
    self.market_store[market] = MarketStore(
        oracle_time=convert(oracle, uint256) | block.timestamp << 160,
        funding_index=0,
        mark_ema=price,
        funding_pool=0,
        funding_weight=0,
        open_interest=0,
    )
    self._set_params(market, params_)
    self.market_count = market + 1
    log MarketAdded(market=market, oracle=oracle)
    log MarketParamsSet(market=market)
    return market


@external
def set_market_params(market: uint256, params_: MarketParams):
    """
    @notice Changes a market's parameters inside their hard bounds (owner only).
    @param market The market id.
    @param params_ The new parameters.
    """
    ownable._check_owner()
    self._check_market(market)
    self._check_params(params_)
    self._accrue(market)
    self._set_params(market, params_)
    log MarketParamsSet(market=market)


@external
def set_risk_params(risk_: RiskParams):
    """
    @notice Changes the waterfall's global parameters inside their bounds (owner only).
    @param risk_ The new parameters.
    """
    ownable._check_owner()
    self._set_risk(risk_)


@external
def pause():
    """
    @notice Stops new risk: fills and vault trades that grow a position (owner only).
            Deposits, withdrawals of healthy accounts, reductions and liquidations go on.
    """
    ownable._check_owner()
    pausable._pause()


@external
def unpause():
    """
    @notice Lifts the pause (owner only).
    """
    ownable._check_owner()
    pausable._unpause()


# --- margin ------------------------------------------------------------------


@external
@nonreentrant
def deposit(amount: uint256):
    """
    @notice Adds `amount` of collateral to the caller's margin.
    @param amount Collateral atoms, pulled from the caller.
    """
    self._check_amount(amount)
    before: uint256 = staticcall collateral.balanceOf(self)
    self._check_transfer(extcall collateral.transferFrom(msg.sender, self, amount, default_return_value=True))
    assert staticcall collateral.balanceOf(self) == before + amount, "ch: token took a fee"
    self._remember(msg.sender)
    self.margin[msg.sender] += convert(amount, int256)
    log Deposited(account=msg.sender, amount=amount)


@external
@nonreentrant
def withdraw(amount: uint256):
    """
    @notice Sends `amount` of the caller's collateral back, if equity stays at
            or above the initial requirement. Works while paused.
    @param amount Collateral atoms.
    """
    self._check_amount(amount)
    self._settle_all(msg.sender, MAX_MARKETS)
    self.margin[msg.sender] -= convert(amount, int256)
    h: Health = self._health(msg.sender)
    self._check_enough(h.equity >= convert(h.initial, int256))
    self._check_transfer(extcall collateral.transfer(msg.sender, amount, default_return_value=True))
    log Withdrawn(account=msg.sender, amount=amount)


# --- trading -----------------------------------------------------------------


@external
@nonreentrant
def fill(maker: address, taker: address, market: uint256, taker_size: int256, price: uint256):
    """
    @notice Settles a fill: two signed orders the OrderBook has verified, or a
            vault trade the LiquidityVault quotes (then `maker` is the vault).
            `taker` trades `taker_size` against `maker` at `price`.
    @dev The price must lie within the market's band around the oracle price;
         both accounts must pass the margin rule; the maker pays the maker fee
         (the vault none), the taker the taker fee. A vault trade must keep the
         vault's notional within its limit unless it shrinks it.
    @param maker The resting order's account.
    @param taker The incoming order's account.
    @param market The market id.
    @param taker_size Signed base size the taker trades (> 0 buys).
    @param price The fill price (the maker's limit), 18 decimals.
    """
    v: address = self.vault
    assert msg.sender == self.order_book or (msg.sender == v and maker == v), "ch: only order book or vault"
    self._check_market(market)
    assert taker_size != 0, "ch: zero fill"
    # Compared signed: abs(min_value(int256)) would revert without a reason.
    assert taker_size <= convert(MAX_SIZE, int256) and taker_size >= -convert(MAX_SIZE, int256), "ch: size too large"
    assert maker != taker, "ch: self-match"
    oracle_price: uint256 = self._price(market)
    gap: uint256 = price - oracle_price if price > oracle_price else oracle_price - price
    r: Rates = self._rates(market)
    assert gap * PPM <= r.price_band * oracle_price, "ch: price outside band"
    # The vault quotes with a spread and pays no fee of its own.
    maker_fee_rate: uint256 = 0 if maker == v else r.maker_fee
    taker_fee_rate: uint256 = r.taker_fee
    vault_before: int256 = self._size(v, market)
    maker_fee: uint256 = 0
    taker_fee: uint256 = 0
    if taker_size > 0:
        taker_fee, maker_fee = self._trade(taker, maker, market, taker_size, price, taker_fee_rate, maker_fee_rate, True)
    else:
        maker_fee, taker_fee = self._trade(maker, taker, market, -taker_size, price, maker_fee_rate, taker_fee_rate, True)
    if maker == v:
        after: int256 = self._size(v, market)
        if abs(after) > abs(vault_before) or (after > 0) != (vault_before > 0):
            assert perp_math._notional(after, oracle_price) <= self.vault_limit[market], "ch: vault limit"
    self._update_ema(market, price, r.ema_weight)
    log Filled(
        maker=maker,
        taker=taker,
        market=market,
        taker_size=taker_size,
        price=price,
        maker_fee=maker_fee,
        taker_fee=taker_fee,
    )


@external
@nonreentrant
def settle_funding(account: address):
    """
    @notice Settles `account`'s funding in every market it trades (anyone may call).
    @param account The account.
    """
    self._settle_all(account, MAX_MARKETS)


@external
@nonreentrant
def sweep_to_insurance() -> uint256:
    """
    @notice Sends the insurance fund what it is owed: penalties, its share of
            fees, trade rounding dust, and funding dust that no future
            settlement can claim (anyone may call).
    @return uint256 Atoms swept.
    """
    amount: uint256 = self.insurance_due
    self.insurance_due = 0
    for market: uint256 in range(MAX_MARKETS):
        if market >= self.market_count:
            break
        pool: int256 = self.market_store[market].funding_pool
        # Future settlements move the pool by at most -funding_weight / 10**36.
        surplus: int256 = perp_math._floor_div(pool * 10**36 - self.market_store[market].funding_weight, 10**36)
        if surplus > 0:
            self.market_store[market].funding_pool = pool - surplus
            amount += convert(surplus, uint256)
    if amount != 0:
        extcall insurance_fund.receive_revenue(amount)
    log InsuranceSwept(amount=amount)
    return amount


# --- the risk waterfall --------------------------------------------------------


@external
@nonreentrant
def liquidate(account: address, counterparties: DynArray[address, MAX_ADL]):
    """
    @notice Runs the risk waterfall on `account` if its equity is below its
            maintenance requirement (permissionless).
    @dev 1. Solvent: close the largest-risk position partially (to restore
            maintenance with a buffer) or every position, at mark, against the
            LiquidityVault within its limits; the account pays the taker fee and
            the penalty (capped at its equity) to the fund, a share to the keeper.
         2. Bad debt: the fund covers the shortfall up to its balance.
         3. ADL: the rest, S, is socialized by closing the positions against the
            keeper's ordered counterparties at the ADL price, so the account ends
            at exactly zero and the haircuts sum to exactly S.
         Where the vault cannot take a position, step 3's lists are used at
         mark (S = 0).
    @param account The account to liquidate.
    @param counterparties For every position closed by ADL, in market-id
           order, its opposite-side counterparties in ADL rank order (empty
           where the vault takes every position).
    """
    assert self.is_known[account], "ch: unknown account"
    self._settle_all(account, MAX_MARKETS)
    h: Health = self._health(account)
    assert h.maintenance != 0 and h.equity < convert(h.maintenance, int256), "ch: not liquidatable"
    self._remember(msg.sender)
    cursor: uint256 = 0
    # First a partial liquidation where one can restore maintenance; if the
    # account is still below it afterwards, everything closes.
    for attempt: uint256 in range(2):
        cursor = self._liquidate(account, h, counterparties, cursor, attempt == 0)
        h = self._health(account)
        if h.equity >= convert(h.maintenance, int256):
            break
    # I4: the waterfall never leaves the account with debt.
    assert h.equity >= 0, "ch: waterfall left debt"


# --- views -------------------------------------------------------------------


@external
@view
def equity(account: address) -> int256:
    """
    @notice Equity at mark, funding included: margin + unrealized PnL - funding owed.
    @param account The account.
    @return int256 Collateral atoms.
    """
    return self._health(account).equity


@external
@view
def margin_requirements(account: address) -> (uint256, uint256):
    """
    @notice Initial and maintenance requirements at mark.
    @param account The account.
    @return uint256 Initial requirement, atoms.
    @return uint256 Maintenance requirement, atoms.
    """
    h: Health = self._health(account)
    return h.initial, h.maintenance


@external
@view
def health(account: address) -> Health:
    """
    @notice Equity, initial and maintenance requirements and notional at mark.
    @param account The account.
    @return Health The four numbers, atoms.
    """
    return self._health(account)


@external
@view
def free_collateral(account: address) -> uint256:
    """
    @notice What the account could withdraw now: equity above its initial requirement.
    @param account The account.
    @return uint256 Collateral atoms.
    """
    h: Health = self._health(account)
    return convert(max(h.equity - convert(h.initial, int256), 0), uint256)


@external
@view
def is_liquidatable(account: address) -> bool:
    """
    @notice Whether `liquidate(account, ...)` would pass its first check.
    @param account The account.
    @return bool True if equity < maintenance requirement.
    """
    h: Health = self._health(account)
    return h.maintenance != 0 and h.equity < convert(h.maintenance, int256)


@external
@view
def risk() -> RiskParams:
    """
    @notice The waterfall's global parameters.
    @return RiskParams Liquidation buffer, keeper share, fund fee share, vault loss cap.
    """
    return self._risk()


@external
@view
def markets(market: uint256) -> MarketState:
    """
    @notice A market's state as stored (zero for an unlisted market).
    @param market The market id.
    @return MarketState Oracle, funding index, last funding time, traded-price EMA,
            funding pool and weight, open interest.
    """
    m: MarketStore = self.market_store[market]
    return MarketState(
        oracle=convert(m.oracle_time & ORACLE_BITS, address),
        funding_index=m.funding_index,
        last_funding_time=m.oracle_time >> 160,
        mark_ema=m.mark_ema,
        funding_pool=m.funding_pool,
        funding_weight=m.funding_weight,
        open_interest=m.open_interest,
    )


@external
@view
def params(market: uint256) -> MarketParams:
    """
    @notice A market's parameters as set (zero for an unlisted market).
    @param market The market id.
    @return MarketParams Margin ratios, fees, band, vault limit, funding cap, EMA weight.
    """
    r: Rates = self._rates(market)
    return MarketParams(
        imr=r.imr,
        mmr=r.mmr,
        maker_fee=r.maker_fee,
        taker_fee=r.taker_fee,
        liquidation_penalty=r.liquidation_penalty,
        price_band=r.price_band,
        vault_max_notional=self.vault_limit[market],
        max_funding_rate=r.max_funding_rate,
        ema_weight=r.ema_weight,
    )


@external
@view
def positions(account: address, market: uint256) -> Position:
    """
    @notice A position as stored: size, open notional and funding index.
    @param account The account.
    @param market The market id.
    @return Position Signed size (18 decimals), signed cost basis (atoms),
            funding index at its last settlement.
    """
    return self._pos(account, market)


@external
@view
def position(account: address, market: uint256) -> (int256, int256, uint256):
    """
    @notice A position: size, open notional (cost basis) and entry price.
    @param account The account.
    @param market The market id.
    @return int256 Signed size, 18 decimals.
    @return int256 Signed cost basis, atoms.
    @return uint256 Entry price, 18 decimals (0 when flat).
    """
    pos: Position = self._pos(account, market)
    entry: uint256 = 0
    if pos.size != 0:
        entry = convert(abs(pos.open_notional * 10**30 // pos.size), uint256)
    return pos.size, pos.open_notional, entry


@external
@view
def mark_price(market: uint256) -> uint256:
    """
    @notice The oracle price used as mark (reverts when stale).
    @param market The market id.
    @return uint256 18 decimals.
    """
    self._check_market(market)
    return self._price(market)


@external
@view
def funding_index(market: uint256) -> int256:
    """
    @notice The cumulative funding index as it would be after accrual now.
    @param market The market id.
    @return int256 Atoms per whole base unit, scaled by 10**18.
    """
    self._check_market(market)
    return self._current_index(market)


@external
@view
def adl_score(account: address, market: uint256) -> int256:
    """
    @notice The ADL score of a position at mark (higher is deleveraged first).
    @param account The account.
    @param market The market id.
    @return int256 WAD; 0 when flat.
    """
    return self._score(account, market)


# --- internal: markets and prices ----------------------------------------------


@internal
@pure
def _check_transfer(ok: bool):
    assert ok, "ch: transfer failed"


@internal
@pure
def _check_enough(ok: bool):
    assert ok, "ch: insufficient margin"


@internal
@pure
def _check_address(a: address):
    assert a != empty(address), "ch: zero address"


@internal
@pure
def _check_amount(amount: uint256):
    assert amount != 0, "ch: zero amount"
    assert amount <= MAX_AMOUNT, "ch: amount too large"


@internal
@view
def _check_market(market: uint256):
    assert market < self.market_count, "ch: unknown market"


@internal
@view
def _price(market: uint256) -> uint256:
    return staticcall IOracle(convert(self.market_store[market].oracle_time & ORACLE_BITS, address)).price(market)


@internal
@view
def _current_index(market: uint256) -> int256:
    last: uint256 = self.market_store[market].oracle_time >> 160
    index: int256 = self.market_store[market].funding_index
    if block.timestamp == last:
        return index
    ip: int256 = convert(self._price(market), int256)
    premium: int256 = (convert(self.market_store[market].mark_ema, int256) - ip) * WAD // ip
    cap: int256 = convert(self._rates(market).max_funding_rate, int256)
    rate: int256 = min(max(premium // FUNDING_PERIOD, -cap), cap)
    dt: int256 = convert(block.timestamp - last, int256)
    return index + perp_math._floor_div(rate * dt * ip, FUNDING_PRICE_DIV)


@internal
def _accrue(market: uint256) -> int256:
    index: int256 = self._current_index(market)
    self.market_store[market].funding_index = index
    self.market_store[market].oracle_time = self.market_store[market].oracle_time & ORACLE_BITS | block.timestamp << 160
    return index


@internal
def _update_ema(market: uint256, price: uint256, weight: uint256):
    ema: int256 = convert(self.market_store[market].mark_ema, int256)
    ema += (convert(price, int256) - ema) * convert(weight, int256) // convert(PPM, int256)
    self.market_store[market].mark_ema = convert(ema, uint256)


# --- internal: accounts ----------------------------------------------------------


@internal
def _remember(account: address):
    if not self.is_known[account]:
        self.is_known[account] = True
        n: uint256 = self.account_count
        self.account_at[n] = account
        self.account_count = n + 1


@internal
@view
def _size(account: address, market: uint256) -> int256:
    """
    @dev A position's size: the low int128 of its word, sign-extended.
    """
    return (self.position_word[account][market] << 128) >> 128


@internal
@view
def _pos(account: address, market: uint256) -> Position:
    w: int256 = self.position_word[account][market]
    return Position(size=(w << 128) >> 128, open_notional=w >> 128, funding_index=self.position_index[account][market])


@internal
def _settle(account: address, market: uint256) -> int256:
    """
    @dev Settles funding of one position into margin; returns the index.
    """
    index: int256 = self._accrue(market)
    last: int256 = self.position_index[account][market]
    if last != index:
        size: int256 = self._size(account, market)
        if size != 0:
            delta: int256 = index - last
            credit: int256 = perp_math._funding_credit(size, delta)
            self.margin[account] += credit
            self.market_store[market].funding_pool -= credit
            self.market_store[market].funding_weight += size * delta
            log FundingSettled(account=account, market=market, amount=credit)
        self.position_index[account][market] = index
    return index


@internal
def _settle_all(account: address, skip: uint256):
    """
    @dev Settles every position of `account` except in market `skip` (settled already).
    """
    mask: uint256 = self.market_mask[account]
    for market: uint256 in range(MAX_MARKETS):
        if mask >> market == 0:
            break
        if (mask >> market) & 1 == 1 and market != skip:
            self._settle(account, market)


@internal
@view
def _health(account: address) -> Health:
    """
    @dev Equity and requirements at mark; pending funding counted exactly as
         `_settle` would settle it.
    """
    h: Health = Health(equity=self.margin[account], initial=0, maintenance=0, notional=0)
    mask: uint256 = self.market_mask[account]
    for market: uint256 in range(MAX_MARKETS):
        if mask >> market == 0:
            break
        if (mask >> market) & 1 == 0:
            continue
        pos: Position = self._pos(account, market)
        price: uint256 = self._price(market)
        index: int256 = self._current_index(market)
        h.equity += perp_math._value(pos.size, price) - pos.open_notional
        h.equity += perp_math._funding_credit(pos.size, index - pos.funding_index)
        h.notional += perp_math._notional(pos.size, price)
        r: Rates = self._rates(market)
        h.initial += perp_math._requirement(pos.size, price, r.imr)
        h.maintenance += perp_math._requirement(pos.size, price, r.mmr)
    return h


@internal
def _change_position(account: address, market: uint256, delta: int256, cash: int256):
    """
    @dev Moves `account`'s position by `delta`, paying `cash` (signed: > 0
         pays, < 0 receives) for it. Funding must be settled. The cost basis
         of what remains keeps its entry price; realized PnL goes to margin.
         margin - open_notional moves by exactly -cash.
    """
    pos: Position = self._pos(account, market)
    q: int256 = pos.size
    q_new: int256 = q + delta
    on_new: int256 = 0
    if q == 0 or (q > 0) == (delta > 0):
        on_new = pos.open_notional + cash
    elif abs(delta) <= abs(q):
        on_new = pos.open_notional * q_new // q
    else:
        on_new = cash * q_new // delta
    self.margin[account] += on_new - pos.open_notional - cash
    assert q_new < MAX_POSITION and q_new >= -MAX_POSITION and on_new < MAX_POSITION and on_new >= -MAX_POSITION, "ch: position too large"
    self.position_word[account][market] = (on_new << 128) | (q_new & (2**128 - 1))
    self.market_store[market].funding_weight += delta * pos.funding_index
    self.market_store[market].open_interest = self.market_store[market].open_interest + convert(max(q_new, 0), uint256) - convert(max(q, 0), uint256)
    bit: uint256 = 1 << market
    if q_new == 0:
        self.market_mask[account] &= ~bit
    else:
        self.market_mask[account] |= bit


@internal
def _trade(
    buyer: address,
    seller: address,
    market: uint256,
    size: int256,
    price: uint256,
    buyer_fee_rate: uint256,
    seller_fee_rate: uint256,
    check: bool,
) -> (uint256, uint256):
    """
    @dev `buyer` buys `size` (> 0) from `seller` at `price`. The buyer pays the
         value rounded up, the seller receives it rounded down; the atom of
         dust goes to the fund. Fees go to the fund and the vault. With
         `check`, both accounts must pass the margin rule and, while paused,
         only reductions pass.
    """
    # No `_remember` here: an unknown account has no margin and no position,
    # so with `check` its trade fails the margin rule; without it (liquidation)
    # both sides are known. Funding is settled before the trade (`check`: in
    # every market, so the margin rule sees no pending funding).
    self._settle(buyer, market)
    self._settle(seller, market)
    if check:
        self._settle_all(buyer, market)
        self._settle_all(seller, market)
    # margin - open_notional before the trade: with the sizes, it gives the
    # pre-trade equity and requirement exactly (see `_check_margin`).
    pb: Position = self._pos(buyer, market)
    ps: Position = self._pos(seller, market)
    q_buyer: int256 = pb.size
    q_seller: int256 = ps.size
    k_buyer: int256 = self.margin[buyer] - pb.open_notional
    k_seller: int256 = self.margin[seller] - ps.open_notional
    pays: uint256 = perp_math._notional(size, price)
    gets: uint256 = convert(perp_math._value(size, price), uint256)
    self._change_position(buyer, market, size, convert(pays, int256))
    self._change_position(seller, market, -size, -convert(gets, int256))
    bf: uint256 = perp_math._fee(size, price, buyer_fee_rate)
    sf: uint256 = perp_math._fee(size, price, seller_fee_rate)
    self.margin[buyer] -= convert(bf, int256)
    self.margin[seller] -= convert(sf, int256)
    fees: uint256 = bf + sf
    to_fund: uint256 = fees
    v: address = self.vault
    if v != empty(address):
        to_fund = fees * self._risk().fund_fee_share // PPM
        self.margin[v] += convert(fees - to_fund, int256)
    self.insurance_due += to_fund + pays - gets
    if check:
        self._check_margin(buyer, q_buyer, k_buyer, market)
        self._check_margin(seller, q_seller, k_seller, market)
    return bf, sf


@internal
@view
def _check_margin(account: address, q_before: int256, k_before: int256, market: uint256):
    """
    @dev A trade that grows risk must leave equity >= initial requirement. A
         reduction (no flip) that leaves less must not raise the maintenance
         requirement nor lower equity / maintenance (dYdX's rule, I8).
         The pre-trade equity and maintenance are not recomputed: funding is
         settled, so only this market's value and margin - open_notional
         (`k_before` before the trade) changed, and both are exact integers.
    """
    pos: Position = self._pos(account, market)
    q_after: int256 = pos.size
    reduced: bool = abs(q_after) < abs(q_before) and (q_after == 0 or (q_after > 0) == (q_before > 0))
    if pausable.paused:
        assert reduced, "ch: paused"
    h: Health = self._health(account)
    if h.equity >= convert(h.initial, int256):
        return
    p: uint256 = self._price(market)
    mmr: uint256 = self._rates(market).mmr
    e_before: int256 = h.equity - perp_math._value(q_after, p) + perp_math._value(q_before, p) - self.margin[account] + pos.open_notional + k_before
    m_before: uint256 = h.maintenance - perp_math._requirement(q_after, p, mmr) + perp_math._requirement(q_before, p, mmr)
    self._check_enough(reduced and h.maintenance <= m_before)
    assert h.equity * convert(m_before, int256) >= e_before * convert(h.maintenance, int256), "ch: margin ratio worsened"


# --- internal: orders --------------------------------------------------------------


# --- internal: liquidation and ADL -------------------------------------------------


@internal
@view
def _partial_close(account: address, h: Health) -> (uint256, int256):
    """
    @dev The largest-risk position and the size to close of it so that equity
         reaches maintenance * (1 + buffer) after fee and penalty; (MAX_MARKETS, 0)
         when that would take the whole position or cannot help.
         Closing notional x lowers equity by x * (taker + penalty) and the
         target by x * mmr * buffer, so x >= (MM * buffer - E) / (mmr * buffer - cost).
    """
    market: uint256 = MAX_MARKETS
    worst: uint256 = 0
    price: uint256 = 0
    mask: uint256 = self.market_mask[account]
    for m: uint256 in range(MAX_MARKETS):
        if mask >> m == 0:
            break
        if (mask >> m) & 1 == 1:
            p: uint256 = self._price(m)
            req: uint256 = perp_math._requirement(self._size(account, m), p, self._rates(m).mmr)
            if req > worst:
                worst = req
                market = m
                price = p
    if market == MAX_MARKETS:
        return MAX_MARKETS, 0
    buffer: uint256 = PPM + self._risk().liquidation_buffer
    r: Rates = self._rates(market)
    gain: uint256 = r.mmr * buffer
    cost: uint256 = (r.taker_fee + r.liquidation_penalty) * PPM
    if gain <= cost:
        return MAX_MARKETS, 0
    need: uint256 = convert(convert(h.maintenance * buffer, int256) - h.equity * convert(PPM, int256), uint256)
    notional: uint256 = (need * PPM + gain - cost - 1) // (gain - cost)
    size_abs: uint256 = (notional * 10**30 + price - 1) // price
    q: int256 = self._size(account, market)
    if size_abs >= convert(abs(q), uint256):
        return MAX_MARKETS, 0
    close: int256 = convert(size_abs, int256)
    if q > 0:
        close = -close
    return market, close


@internal
def _liquidate(account: address, h: Health, cps: DynArray[address, MAX_ADL], cursor: uint256, allow_partial: bool) -> uint256:
    """
    @dev One pass of the waterfall over a set of closes (one partial close, or
         every position): charge fee and penalty (in market order, each capped
         at the equity left; the keeper gets its share of the penalty), cover
         any bad debt from the fund, split what the fund cannot cover over the
         closes in proportion to notional (the last takes the remainder), and
         close each at mark to the vault or at the ADL price against `cps`.
    """
    mask: uint256 = self.market_mask[account]
    closes: int256[MAX_MARKETS] = empty(int256[MAX_MARKETS])
    prices: uint256[MAX_MARKETS] = empty(uint256[MAX_MARKETS])
    penalties: uint256[MAX_MARKETS] = empty(uint256[MAX_MARKETS])
    last: uint256 = 0
    partial_market: uint256 = MAX_MARKETS
    partial_size: int256 = 0
    if allow_partial and h.equity > 0:
        partial_market, partial_size = self._partial_close(account, h)
    if partial_market != MAX_MARKETS:
        closes[partial_market] = partial_size
        last = partial_market
    else:
        for m: uint256 in range(MAX_MARKETS):
            if mask >> m == 0:
                break
            if (mask >> m) & 1 == 1:
                closes[m] = -self._size(account, m)
                last = m

    room: uint256 = convert(max(h.equity, 0), uint256)
    charged: uint256 = 0
    total: uint256 = 0
    # Liquidating yourself earns no keeper reward.
    keeper_share: uint256 = 0 if msg.sender == account else self._risk().keeper_share
    for m: uint256 in range(MAX_MARKETS):
        if m > last:
            break
        if closes[m] == 0:
            continue
        price: uint256 = self._price(m)
        prices[m] = price
        total += perp_math._notional(closes[m], price)
        r: Rates = self._rates(m)
        fee: uint256 = min(perp_math._fee(closes[m], price, r.taker_fee), room)
        room -= fee
        penalty: uint256 = min(perp_math._fee(closes[m], price, r.liquidation_penalty), room)
        room -= penalty
        penalties[m] = penalty
        reward: uint256 = penalty * keeper_share // PPM
        self.margin[msg.sender] += convert(reward, int256)
        self.insurance_due += fee + penalty - reward
        charged += fee + penalty
    self.margin[account] -= convert(charged, int256)

    shortfall: uint256 = 0
    after: int256 = h.equity - convert(charged, int256)
    if after < 0:
        need: uint256 = convert(-after, uint256)
        covered: uint256 = extcall insurance_fund.cover(need)
        if covered != 0:
            self.margin[account] += convert(covered, int256)
            log BadDebtCovered(account=account, amount=covered)
        shortfall = need - covered
        if shortfall != 0:
            log ShortfallSocialized(account=account, amount=shortfall)

    left: uint256 = shortfall
    next_cursor: uint256 = cursor
    for m: uint256 in range(MAX_MARKETS):
        if m > last:
            break
        if closes[m] == 0:
            continue
        part: uint256 = left
        if m != last:
            part = shortfall * perp_math._notional(closes[m], prices[m]) // total
        left -= part
        taken: bool = False
        taken, next_cursor = self._close(account, m, closes[m], prices[m], part, cps, next_cursor)
        log Liquidated(
            account=account,
            keeper=msg.sender,
            market=m,
            size=closes[m],
            price=prices[m],
            penalty=penalties[m],
            keeper_reward=penalties[m] * keeper_share // PPM,
            to_vault=taken,
        )
    return next_cursor


@internal
def _close(account: address, market: uint256, close: int256, price: uint256, haircut: uint256, cps: DynArray[address, MAX_ADL], cursor: uint256) -> (bool, uint256):
    """
    @dev Moves `close` (signed, opposite to the position) of `account`'s
         position out at mark: to the vault when there is no haircut and the
         vault can take it (True), otherwise against the counterparties from
         `cursor` on at the ADL price (False). Returns the next cursor.
    """
    v: address = self.vault
    if haircut == 0 and account != v and v != empty(address) and self._vault_can_take(market, -close, price):
        self._settle(v, market)
        buyer: address = v
        seller: address = account
        if close > 0:
            buyer = account
            seller = v
        self._trade(buyer, seller, market, abs(close), price, 0, 0, False)
        return True, cursor
    return False, self._deleverage(account, market, close, price, haircut, cps, cursor)


@internal
def _vault_can_take(market: uint256, take: int256, price: uint256) -> bool:
    """
    @dev The vault takes `take` (its position grows by it) only within its
         notional limit, its initial margin, and its loss cap: equity must not
         have fallen more than `vault_max_drawdown` below its peak in the window.
         Taking a position that shrinks the vault's is always within limits.
    """
    v: address = self.vault
    self._settle_all(v, MAX_MARKETS)
    vh: Health = self._health(v)
    rp: RiskParams = self._risk()
    if block.timestamp > self.vault_peak_time + rp.vault_window or vh.equity > self.vault_peak_equity:
        self.vault_peak_equity = vh.equity
        self.vault_peak_time = block.timestamp
    before: int256 = self._size(v, market)
    after: int256 = before + take
    if abs(after) <= abs(before) and (after == 0 or (after > 0) == (before > 0)):
        return True
    if vh.equity * convert(PPM, int256) < self.vault_peak_equity * convert(PPM - rp.vault_max_drawdown, int256):
        return False
    if perp_math._notional(after, price) > self.vault_limit[market]:
        return False
    imr: uint256 = self._rates(market).imr
    initial: uint256 = vh.initial - perp_math._requirement(before, price, imr) + perp_math._requirement(after, price, imr)
    return vh.equity >= convert(initial, int256)


@internal
def _deleverage(account: address, market: uint256, close: int256, price: uint256, haircut: uint256, cps: DynArray[address, MAX_ADL], cursor: uint256) -> uint256:
    """
    @dev Closes `close` of `account`'s position against opposite positions in
         the keeper's order. The account receives value(-close) + haircut in
         total (the ADL price); each counterparty pays its pro-rata part of the
         mark value and of the haircut, the last one the remainders, so the
         parts sum exactly. Counterparties pay the maker fee.
    """
    total_abs: int256 = abs(close)
    # What the account receives for the closed size, signed (< 0: it pays).
    mark_leg: int256 = perp_math._value(-close, price)
    left: int256 = total_abs
    mark_left: int256 = mark_leg
    haircut_left: int256 = convert(haircut, int256)
    prev_score: int256 = max_value(int256)
    prev: address = empty(address)
    maker_fee: uint256 = self._rates(market).maker_fee
    i: uint256 = cursor
    for _: uint256 in range(MAX_ADL):
        if left == 0:
            break
        if i >= len(cps):
            break
        cp: address = cps[i]
        i += 1
        assert cp != account, "ch: adl bankrupt as counterparty"
        self._settle_all(cp, MAX_MARKETS)
        cq: int256 = self._size(cp, market)
        assert cq != 0, "ch: adl counterparty has no position"
        assert (cq > 0) == (close > 0), "ch: adl counterparty same side"
        score: int256 = self._score(cp, market)
        assert prev == empty(address) or self._ahead(prev_score, prev, score, cp), "ch: adl order"
        prev = cp
        prev_score = score
        take: int256 = min(abs(cq), left)
        left -= take
        cp_mark: int256 = mark_left
        cp_haircut: int256 = haircut_left
        if left != 0:
            cp_mark = mark_leg * take // total_abs
            cp_haircut = convert(haircut, int256) * take // total_abs
        mark_left -= cp_mark
        haircut_left -= cp_haircut
        # The counterparty's position moves toward zero by `take`; it pays
        # (receives, if negative) the mark leg plus its haircut.
        cp_delta: int256 = -take if cq > 0 else take
        self._change_position(cp, market, cp_delta, cp_mark + cp_haircut)
        self._change_position(account, market, -cp_delta, -(cp_mark + cp_haircut))
        fee: uint256 = perp_math._fee(take, price, maker_fee)
        self.margin[cp] -= convert(fee, int256)
        self.insurance_due += fee
        # A counterparty that cannot absorb its share is not eligible (dYdX skips
        # such accounts too): ADL never leaves a new account in debt.
        assert self._health(cp).equity >= 0, "ch: adl counterparty would go bankrupt"
        adl_price: uint256 = convert(abs((cp_mark + cp_haircut) * 10**30 // take), uint256)
        log Deleveraged(
            bankrupt=account,
            counterparty=cp,
            market=market,
            size=cp_delta,
            price=adl_price,
            haircut=convert(cp_haircut, uint256),
        )
    assert left == 0, "ch: adl list too short"
    return i


@internal
@view
def _score(account: address, market: uint256) -> int256:
    pos: Position = self._pos(account, market)
    if pos.size == 0:
        return 0
    return perp_math._adl_score(pos.size, pos.open_notional, self._price(market), self._health(account).equity)


@internal
@pure
def _ahead(score_a: int256, a: address, score_b: int256, b: address) -> bool:
    """
    @dev Whether (score_a, a) goes strictly before (score_b, b): higher score
         first, ties by lower address. Strictness rejects duplicates.
    """
    if score_a != score_b:
        return score_a > score_b
    return convert(a, uint256) < convert(b, uint256)


# --- internal: parameters ----------------------------------------------------------


@internal
@pure
def _check_params(p: MarketParams):
    assert p.mmr >= MIN_MMR and p.mmr <= MAX_MMR, "ch: mmr out of bounds"
    assert p.imr > p.mmr and p.imr <= MAX_IMR, "ch: imr out of bounds"
    assert p.maker_fee <= MAX_FEE and p.taker_fee <= MAX_FEE, "ch: fee out of bounds"
    assert p.liquidation_penalty <= MAX_PENALTY, "ch: penalty out of bounds"
    assert p.price_band != 0 and p.price_band <= MAX_BAND, "ch: band out of bounds"
    assert p.vault_max_notional <= MAX_AMOUNT, "ch: vault limit out of bounds"
    assert p.max_funding_rate <= MAX_FUNDING_RATE, "ch: funding cap out of bounds"
    assert p.ema_weight != 0 and p.ema_weight <= MAX_EMA_WEIGHT, "ch: ema weight out of bounds"


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
        | p.ema_weight << 144
        | p.max_funding_rate << 168
    )
    self.vault_limit[market] = p.vault_max_notional


@internal
@view
def _rates(market: uint256) -> Rates:
    w: uint256 = self.rate_word[market]
    return Rates(
        imr=w & LANE,
        mmr=(w >> 24) & LANE,
        maker_fee=(w >> 48) & LANE,
        taker_fee=(w >> 72) & LANE,
        liquidation_penalty=(w >> 96) & LANE,
        price_band=(w >> 120) & LANE,
        ema_weight=(w >> 144) & LANE,
        max_funding_rate=w >> 168,
    )


@internal
@view
def _risk() -> RiskParams:
    w: uint256 = self.risk_word
    return RiskParams(
        liquidation_buffer=w & LANE,
        keeper_share=(w >> 24) & LANE,
        fund_fee_share=(w >> 48) & LANE,
        vault_max_drawdown=(w >> 72) & LANE,
        vault_window=w >> 96,
    )


@internal
def _set_risk(r: RiskParams):
    assert r.liquidation_buffer >= MIN_BUFFER and r.liquidation_buffer <= MAX_BUFFER, "ch: buffer out of bounds"
    assert r.keeper_share <= MAX_KEEPER_SHARE, "ch: keeper share out of bounds"
    assert r.fund_fee_share <= PPM, "ch: fee share out of bounds"
    assert r.vault_max_drawdown != 0 and r.vault_max_drawdown < PPM, "ch: drawdown out of bounds"
    assert r.vault_window != 0 and r.vault_window <= MAX_WINDOW, "ch: window out of bounds"
    self.risk_word = r.liquidation_buffer | r.keeper_share << 24 | r.fund_fee_share << 48 | r.vault_max_drawdown << 72 | r.vault_window << 96
    log RiskParamsSet(keeper_share=r.keeper_share)
