# pragma version ~=0.4.3
# pragma optimize codesize
"""
@title Clearinghouse
@notice The perpetual vault of perpvault: it holds every trader's margin, the
        markets, the positions and funding, and settles signed-order fills and
        vault trades. `liquidate` runs the risk waterfall (liquidation ->
        LiquidityVault -> InsuranceFund -> ADL) in the Liquidator's code on this
        contract's storage. See SPEC.md and docs/mechanism.md; `perpvault.model`
        is its executable twin.
@dev The mechanism's steps live in modules named by the spec: `ledger` (margin,
     positions, known accounts, markets), `params`, `funding`, `margin` (the
     margin rule), `trading`, `waterfall` and `adl`. This contract and the
     Liquidator initialize the same modules in the same order, so their storage
     layouts are identical (tests/unit/test_contract_layout.py checks it).
     @custom:security The Liquidator runs by DELEGATECALL: it is fixed at
     deploy (an immutable, no setter), holds no state or privilege of its own
     and refuses direct calls; `liquidate` keeps this contract's reentrancy lock
     around it.
"""

from ethereum.ercs import IERC20
from snekmate.auth import ownable

initializes: ownable

from snekmate.utils import pausable

initializes: pausable

from .modules import constants
from .modules import perp_math
from .modules import parameters

initializes: parameters

from .modules import ledger

initializes: ledger

from .modules import funding

initializes: funding[ledger := ledger, parameters := parameters]

from .modules import margin_rule

initializes: margin_rule[pausable := pausable, ledger := ledger, parameters := parameters, funding := funding]

from .modules import trading

initializes: trading[ledger := ledger, parameters := parameters, funding := funding, margin_rule := margin_rule]

from .modules import adl

initializes: adl[ledger := ledger, parameters := parameters, funding := funding, margin_rule := margin_rule]

from .modules import waterfall

initializes: waterfall[ledger := ledger, parameters := parameters, funding := funding, margin_rule := margin_rule, trading := trading, adl := adl]

from .modules import timelock

initializes: timelock

from .modules import param_changes

initializes: param_changes[timelock := timelock, parameters := parameters, ledger := ledger, funding := funding]

from .interfaces import IOracle
from .interfaces import IInsuranceFund
from .interfaces import ILiquidator
from .interfaces import IClearinghouse

implements: IClearinghouse

exports: (
    ownable.owner,
    ownable.transfer_ownership,
    pausable.paused,
    ledger.collateral,
    ledger.insurance_fund,
    ledger.vault,
    ledger.order_book,
    ledger.market_count,
    ledger.margin,
    ledger.account_count,
    ledger.account_at,
    ledger.is_known,
    ledger.side_count,
    ledger.side_at,
    ledger.insurance_due,
    waterfall.vault_peak_share_value,
    waterfall.vault_peak_time,
    timelock.delay,
    timelock.pending_delay,
    timelock.pending_delay_eta,
    param_changes.pending_params,
    param_changes.pending_params_eta,
    param_changes.pending_risk,
    param_changes.pending_risk_eta,
)


# @dev The waterfall engine whose code `liquidate` runs on this contract's storage.
liquidator: public(immutable(address))


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


# The Liquidator's events (`waterfall.vy`, `adl.vy`). Its code runs here by
# DELEGATECALL, so its logs carry this contract's address; declared here too so
# this contract's ABI decodes them (tests/unit/test_contract_layout.py checks
# that the two declarations agree).
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


event VaultSet:
    vault: indexed(address)


event OrderBookSet:
    order_book: indexed(address)


# --- construction and owner --------------------------------------------------


@deploy
def __init__(collateral_: IERC20, insurance_fund_: IInsuranceFund, liquidator_: ILiquidator, risk_: parameters.RiskParams, delay_: uint256):
    """
    @notice Deploys the clearinghouse over a 6-decimal collateral token.
    @param collateral_ The collateral token (USDC-like).
    @param insurance_fund_ The InsuranceFund bound to this clearinghouse.
    @param liquidator_ The waterfall engine, deployed over the same token and fund.
    @param risk_ Liquidation buffer, keeper share, fund fee share, vault loss cap.
    @param delay_ Seconds every later parameter change waits (MIN_DELAY..MAX_DELAY).
    """
    ownable.__init__()
    pausable.__init__()
    timelock._initialize(delay_)
    ledger.__init__(collateral_, insurance_fund_)
    assert staticcall liquidator_.collateral() == collateral_, "ch: liquidator for another token"
    assert staticcall liquidator_.insurance_fund() == insurance_fund_, "ch: liquidator for another fund"
    liquidator = liquidator_.address
    parameters._set_risk(risk_)
    # The fund pulls what `sweep_to_insurance` owes it.
    extcall collateral_.approve(insurance_fund_.address, max_value(uint256))


@external
def set_vault(vault_: address):
    """
    @notice Binds the LiquidityVault, once (owner only).
    @param vault_ The vault; its margin account here is its assets.
    """
    ownable._check_owner()
    assert ledger.vault == empty(address), "ch: vault already set"
    ledger._check_address(vault_)
    ledger.vault = vault_
    ledger._remember(vault_)
    log VaultSet(vault=vault_)


@external
def set_order_book(order_book_: address):
    """
    @notice Binds the OrderBook, once (owner only).
    @param order_book_ The only address allowed to call `fill`.
    """
    ownable._check_owner()
    assert ledger.order_book == empty(address), "ch: order book already set"
    ledger._check_address(order_book_)
    ledger.order_book = order_book_
    log OrderBookSet(order_book=order_book_)


@external
def add_market(oracle: address, params_: parameters.MarketParams) -> uint256:
    """
    @notice Lists a market priced by `oracle` (owner only).
    @param oracle An IOracle; its `price(id)` is this market's mark and index, and
           its `latest(id)` must answer with that price and a time not in the future
           (funding values each second at it, mechanism.md section 5).
    @param params_ Margin ratios, fees, bands and vault limits, within hard bounds.
    @return uint256 The new market id.
    """
    ownable._check_owner()
    ledger._check_address(oracle)
    market: uint256 = ledger.market_count
    assert market < constants.MAX_MARKETS, "ch: too many markets"
    parameters._check_params(params_)
    price: uint256 = staticcall IOracle(oracle).price(market)
    latest: uint256 = 0
    updated: uint256 = 0
    latest, updated = staticcall IOracle(oracle).latest(market)
    assert latest == price and updated <= block.timestamp, "ch: oracle latest() disagrees"
    ledger.market_store[market] = ledger.MarketStore(
        oracle_time=convert(oracle, uint256) | block.timestamp << 160,
        funding_index=0,
        funding_price=price,
        funding_pool=0,
        funding_weight=0,
        open_interest=0,
    )
    parameters._set_params(market, params_)
    ledger.market_count = market + 1
    log MarketAdded(market=market, oracle=oracle)
    log parameters.MarketParamsSet(market=market)
    return market


@external
def announce_market_params(market: uint256, params_: parameters.MarketParams):
    """
    @notice Announces new parameters for a market (owner only); they apply no
            sooner than `delay()` from now, through `apply_market_params`.
            Nothing in force changes now, except that risk opened from now on
            meets the stricter of the two initial margin ratios.
    @param market The market id.
    @param params_ The new parameters, checked against their hard bounds now.
    """
    ownable._check_owner()
    param_changes._announce_market_params(market, params_)


@external
def apply_market_params(market: uint256):
    """
    @notice Puts a market's announced parameters in force once the delay has
            passed and before its grace period ends (owner only).
    @param market The market id.
    """
    ownable._check_owner()
    param_changes._apply_market_params(market)


@external
def cancel_market_params(market: uint256):
    """
    @notice Withdraws a market's announced parameters (owner only).
    @param market The market id.
    """
    ownable._check_owner()
    param_changes._cancel_market_params(market)


@external
def announce_risk_params(risk_: parameters.RiskParams):
    """
    @notice Announces new waterfall parameters (owner only); they apply no
            sooner than `delay()` from now, through `apply_risk_params`.
    @param risk_ The new parameters, checked against their bounds now.
    """
    ownable._check_owner()
    param_changes._announce_risk_params(risk_)


@external
def apply_risk_params():
    """
    @notice Puts the announced waterfall parameters in force once the delay has
            passed and before its grace period ends (owner only).
    """
    ownable._check_owner()
    param_changes._apply_risk_params()


@external
def cancel_risk_params():
    """
    @notice Withdraws the announced waterfall parameters (owner only).
    """
    ownable._check_owner()
    param_changes._cancel_risk_params()


@external
def announce_delay(delay_: uint256):
    """
    @notice Announces a new delay (owner only); it applies after the delay in
            force now, through `apply_delay`.
    @param delay_ Seconds, within MIN_DELAY..MAX_DELAY.
    """
    ownable._check_owner()
    timelock._announce_delay(delay_)


@external
def apply_delay():
    """
    @notice Puts the announced delay in force once due (owner only).
    """
    ownable._check_owner()
    timelock._apply_delay()


@external
def cancel_delay():
    """
    @notice Withdraws the announced delay (owner only).
    """
    ownable._check_owner()
    timelock._cancel_delay()


@external
def pause():
    """
    @notice Stops new risk: fills and vault trades that grow a trader's position (owner
            only). Deposits, withdrawals of healthy accounts, reductions (against the
            vault too, whatever it does to the vault's position) and liquidations go on.
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
    ledger._check_amount(amount)
    before: uint256 = staticcall ledger.collateral.balanceOf(self)
    ledger._check_transfer(extcall ledger.collateral.transferFrom(msg.sender, self, amount, default_return_value=True))
    assert staticcall ledger.collateral.balanceOf(self) == before + amount, "ch: token took a fee"
    ledger._remember(msg.sender)
    ledger.margin[msg.sender] += convert(amount, int256)
    log Deposited(account=msg.sender, amount=amount)


@external
@nonreentrant
def withdraw(amount: uint256):
    """
    @notice Sends `amount` of the caller's collateral back, if equity stays at
            or above the initial requirement. Works while paused.
    @param amount Collateral atoms.
    """
    ledger._check_amount(amount)
    funding._settle_all(msg.sender, constants.MAX_MARKETS)
    ledger.margin[msg.sender] -= convert(amount, int256)
    h: margin_rule.Health = margin_rule._health(msg.sender)
    margin_rule._check_enough(h.equity >= convert(h.initial, int256))
    ledger._check_transfer(extcall ledger.collateral.transfer(msg.sender, amount, default_return_value=True))
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
         vault's notional within its limit unless it shrinks it. Neither trader's
         position may be left below the market's minimum notional, other than flat.
    @param maker The resting order's account.
    @param taker The incoming order's account.
    @param market The market id.
    @param taker_size Signed base size the taker trades (> 0 buys).
    @param price The fill price (the maker's limit), 18 decimals.
    """
    v: address = ledger.vault
    assert msg.sender == ledger.order_book or (msg.sender == v and maker == v), "ch: only order book or vault"
    ledger._check_market(market)
    assert taker_size != 0, "ch: zero fill"
    # Compared signed: abs(min_value(int256)) would revert without a reason.
    assert taker_size <= convert(constants.MAX_SIZE, int256) and taker_size >= -convert(constants.MAX_SIZE, int256), "ch: size too large"
    assert maker != taker, "ch: self-match"
    oracle_price: uint256 = ledger._price(market)
    gap: uint256 = price - oracle_price if price > oracle_price else oracle_price - price
    r: parameters.Rates = parameters._rates(market)
    assert gap * constants.PPM <= r.price_band * oracle_price, "ch: price outside band"
    # The vault quotes with a spread and pays no fee of its own.
    maker_fee_rate: uint256 = 0 if maker == v else r.maker_fee
    taker_fee_rate: uint256 = r.taker_fee
    vault_before: int256 = ledger._size(v, market)
    maker_fee: uint256 = 0
    taker_fee: uint256 = 0
    if taker_size > 0:
        taker_fee, maker_fee = trading._trade(taker, maker, market, taker_size, price, taker_fee_rate, maker_fee_rate, True)
    else:
        maker_fee, taker_fee = trading._trade(maker, taker, market, -taker_size, price, maker_fee_rate, taker_fee_rate, True)
    if maker == v:
        after: int256 = ledger._size(v, market)
        if abs(after) > abs(vault_before) or (after > 0) != (vault_before > 0):
            assert perp_math._notional(after, oracle_price) <= parameters.vault_limit[market], "ch: vault limit"
    # No voluntary trade leaves dust; the vault's own side is exempt.
    if maker != v:
        trading._check_min_notional(maker, market, oracle_price)
    if taker != v:
        trading._check_min_notional(taker, market, oracle_price)
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
    funding._settle_all(account, constants.MAX_MARKETS)


@external
@nonreentrant
def sweep_to_insurance() -> uint256:
    """
    @notice Sends the insurance fund what it is owed: penalties, its share of
            fees, trade rounding dust, and funding dust that no future
            settlement can claim (anyone may call).
    @return uint256 Atoms swept.
    """
    amount: uint256 = ledger.insurance_due
    ledger.insurance_due = 0
    for market: uint256 in range(constants.MAX_MARKETS):
        if market >= ledger.market_count:
            break
        pool: int256 = ledger.market_store[market].funding_pool
        # Future settlements move the pool by at most -funding_weight / 10**36.
        surplus: int256 = perp_math._floor_div(pool * 10**36 - ledger.market_store[market].funding_weight, 10**36)
        if surplus > 0:
            ledger.market_store[market].funding_pool = pool - surplus
            amount += convert(surplus, uint256)
    if amount != 0:
        extcall ledger.insurance_fund.receive_revenue(amount)
    log InsuranceSwept(amount=amount)
    return amount


# --- the risk waterfall --------------------------------------------------------


@external
@nonreentrant
def liquidate(account: address, counterparties: DynArray[address, constants.MAX_ADL_ARG]):
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
         mark (S = 0). The steps run in the Liquidator's code (DELEGATECALL) on
         this contract's storage, inside this function's reentrancy lock; its
         revert reasons come back unchanged.
    @param account The account to liquidate.
    @param counterparties For every position closed by ADL, in market-id
           order, its opposite-side counterparties in ADL rank order (empty
           where the vault takes every position); at most MAX_ADL. The ABI
           takes up to MAX_ADL_ARG so that a longer list gets its reason.
    """
    assert len(counterparties) <= constants.MAX_ADL, "ch: adl list too long"
    raw_call(liquidator, msg.data, is_delegate_call=True)


# --- views -------------------------------------------------------------------


@external
@view
def market_mask(account: address) -> uint256:
    """
    @notice The markets `account` holds a position in.
    @param account The account.
    @return uint256 Bit m set for market m.
    """
    return ledger._mask(account)


@external
@view
def equity(account: address) -> int256:
    """
    @notice Equity at mark, funding included: margin + unrealized PnL - funding owed.
    @param account The account.
    @return int256 Collateral atoms.
    """
    return margin_rule._health(account).equity


@external
@view
def margin_requirements(account: address) -> (uint256, uint256):
    """
    @notice Initial and maintenance requirements at mark.
    @param account The account.
    @return uint256 Initial requirement, atoms.
    @return uint256 Maintenance requirement, atoms.
    """
    h: margin_rule.Health = margin_rule._health(account)
    return h.initial, h.maintenance


@external
@view
def health(account: address) -> margin_rule.Health:
    """
    @notice Equity, initial and maintenance requirements and notional at mark.
    @param account The account.
    @return margin_rule.Health The four numbers, atoms.
    """
    return margin_rule._health(account)


@external
@view
def free_collateral(account: address) -> uint256:
    """
    @notice What the account could withdraw now: equity above its initial requirement.
    @param account The account.
    @return uint256 Collateral atoms.
    """
    h: margin_rule.Health = margin_rule._health(account)
    return convert(max(h.equity - convert(h.initial, int256), 0), uint256)


@external
@view
def is_liquidatable(account: address) -> bool:
    """
    @notice Whether `liquidate(account, ...)` would pass its first check.
    @param account The account.
    @return bool True if equity < maintenance requirement.
    """
    h: margin_rule.Health = margin_rule._health(account)
    return h.maintenance != 0 and h.equity < convert(h.maintenance, int256)


@external
@view
def risk() -> parameters.RiskParams:
    """
    @notice The waterfall's global parameters.
    @return parameters.RiskParams Liquidation buffer, keeper share, fund fee share, vault loss cap.
    """
    return parameters._risk()


@external
@view
def markets(market: uint256) -> ledger.MarketState:
    """
    @notice A market's state as stored (zero for an unlisted market).
    @param market The market id.
    @return MarketState Oracle, funding index, last funding time, funding price,
            funding pool and weight, open interest.
    """
    m: ledger.MarketStore = ledger.market_store[market]
    return ledger.MarketState(
        oracle=convert(m.oracle_time & constants.ORACLE_BITS, address),
        funding_index=m.funding_index,
        last_funding_time=m.oracle_time >> 160,
        funding_price=m.funding_price,
        funding_pool=m.funding_pool,
        funding_weight=m.funding_weight,
        open_interest=m.open_interest,
    )


@external
@view
def params(market: uint256) -> parameters.MarketParams:
    """
    @notice A market's parameters as set (zero for an unlisted market).
    @param market The market id.
    @return parameters.MarketParams Margin ratios, fees, band, vault limit, funding cap, skew scale, minimum notional.
    """
    return parameters._params(market)


@external
@view
def positions(account: address, market: uint256) -> ledger.Position:
    """
    @notice A position as stored: size, open notional and funding index.
    @param account The account.
    @param market The market id.
    @return ledger.Position Signed size (18 decimals), signed cost basis (atoms),
            funding index at its last settlement.
    """
    return ledger._pos(account, market)


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
    pos: ledger.Position = ledger._pos(account, market)
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
    ledger._check_market(market)
    return ledger._price(market)


@external
@view
def funding_index(market: uint256) -> int256:
    """
    @notice The cumulative funding index as it would be after accrual now (needs
            no fresh price: the seconds are valued at the prices the oracle wrote).
    @param market The market id.
    @return int256 Atoms per whole base unit, scaled by 10**18.
    """
    ledger._check_market(market)
    return funding._current_index(market)


@external
@view
def adl_score(account: address, market: uint256) -> int256:
    """
    @notice The ADL score of a position at mark (higher is deleveraged first).
    @param account The account.
    @param market The market id.
    @return int256 constants.WAD; 0 when flat.
    """
    return adl._score(account, market)


