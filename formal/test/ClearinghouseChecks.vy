# pragma version ~=0.4.3
"""
@title ClearinghouseChecks
@notice halmos one-step inductive checks on the Clearinghouse's bytecode. The
        Clearinghouse's whole storage is symbolic (every margin, position,
        market state, parameter, role and the pause flag), and so are the
        collateral token's and the price feed's. From any such state, one call
        of an external state-changing function, with symbolic arguments and a
        symbolic caller, must move the books consistently:
          I1 (delta): the sizes of the accounts it touches sum to the same
              total before and after;
          I2 (delta): the change of the token balance equals the change of
              sum(margin - open_notional) over the touched accounts, plus the
              change of insurance_due and of the funding pool;
          OI: the market's open_interest moves by the change of
              sum(max(size, 0)) over the touched accounts;
          mask: a touched account's market bit is set iff it holds a position;
          and an arbitrary other account (symbolic, not touched) keeps its
          margin and position.
        With I1/I2 holding before over all accounts, these give I1/I2 after.
@dev Scope (the assumptions every check makes): one listed market (market_count
     == 1, its oracle is the PriceFeed), and the mask invariant on the touched
     accounts. Sums are taken modulo 2**256 (unsafe_add) so the harness itself
     never reverts; the contract's own arithmetic is checked. A check fails
     through vm.assertTrue; a call that reverts ends its path.
"""

interface Vm:
    def getCode(artifact: String[64]) -> Bytes[49152]: view
    def prank(sender: address): nonpayable
    def assume(condition: bool): nonpayable
    def assertTrue(condition: bool, message: String[64]): nonpayable
    def store(target: address, slot: bytes32, word: bytes32): nonpayable
    def load(target: address, slot: bytes32) -> bytes32: view
    def warp(timestamp: uint256): nonpayable


interface Svm:
    def createAddress(name: String[32]) -> address: nonpayable
    def enableSymbolicStorage(target: address): nonpayable


interface Token:
    def balanceOf(owner: address) -> uint256: view


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
    funding_price: uint256
    funding_pool: int256
    funding_weight: int256
    open_interest: uint256


struct Position:
    size: int256
    open_notional: int256
    funding_index: int256


interface Clearinghouse:
    def market_count() -> uint256: view
    def markets(market: uint256) -> MarketState: view
    def margin(account: address) -> int256: view
    def positions(account: address, market: uint256) -> Position: view
    def market_mask(account: address) -> uint256: view
    def insurance_due() -> uint256: view
    def vault() -> address: view
    def set_vault(vault: address): nonpayable
    def set_order_book(order_book: address): nonpayable
    def add_market(oracle: address, params: MarketParams) -> uint256: nonpayable
    def announce_market_params(market: uint256, params: MarketParams): nonpayable
    def apply_market_params(market: uint256): nonpayable
    def cancel_market_params(market: uint256): nonpayable
    def announce_risk_params(risk: RiskParams): nonpayable
    def apply_risk_params(): nonpayable
    def cancel_risk_params(): nonpayable
    def announce_delay(delay: uint256): nonpayable
    def apply_delay(): nonpayable
    def cancel_delay(): nonpayable
    def owner() -> address: view
    def delay() -> uint256: view
    def params(market: uint256) -> MarketParams: view
    def risk() -> RiskParams: view
    def pending_params(market: uint256) -> MarketParams: view
    def pending_params_eta(market: uint256) -> uint256: view
    def pending_risk() -> RiskParams: view
    def pending_risk_eta() -> uint256: view
    def pause(): nonpayable
    def unpause(): nonpayable
    def transfer_ownership(new_owner: address): nonpayable
    def deposit(amount: uint256): nonpayable
    def withdraw(amount: uint256): nonpayable
    def fill(maker: address, taker: address, market: uint256, taker_size: int256, price: uint256): nonpayable
    def settle_funding(account: address): nonpayable
    def sweep_to_insurance() -> uint256: nonpayable
    def liquidate(account: address, counterparties: DynArray[address, 4096]): nonpayable
    def equity(account: address) -> int256: view
    def margin_requirements(account: address) -> (uint256, uint256): view
    def funding_index(market: uint256) -> int256: view


struct Books:
    books: int256  # sum(margin - open_notional) over the touched accounts, mod 2**256
    sizes: int256  # sum(size)
    longs: int256  # sum(max(size, 0))
    due: uint256
    pool: int256
    oi: uint256
    balance: uint256
    outsider_margin: int256
    outsider_size: int256
    outsider_basis: int256


VM: constant(address) = 0x7109709ECfa91a80626fF3989D68f67F5b1DD12D
SVM: constant(address) = 0xF3993A62377BCd56AE39D773740A5390411E8BC9
MAX_TOUCHED: constant(uint256) = 8
# The timelock's delay at deploy (MIN_DELAY); storage is symbolic afterwards.
DELAY: constant(uint256) = 86_400
# constants.vy's timelock bounds.
MIN_DELAY: constant(uint256) = 86_400
MAX_DELAY: constant(uint256) = 30 * 86_400
GRACE_PERIOD: constant(uint256) = 14 * 86_400
# The Clearinghouse's storage slots the checks pin (`vyper -f layout contracts/Clearinghouse.vy`, the
# Liquidator's too: its code runs on this storage by DELEGATECALL;
# a HashMap entry lives at keccak256(slot ++ key)). test_formal checks them against the layout.
MARKET_COUNT_SLOT: constant(uint256) = 8
MARKET_STORE_SLOT: constant(uint256) = 9
MASK_WORD_SLOT: constant(uint256) = 13
SIDE_COUNT_SLOT: constant(uint256) = 19
SIDE_AT_SLOT: constant(uint256) = 20
PAUSED_SLOT: constant(uint256) = 1
VAULT_SLOT: constant(uint256) = 7
POSITION_WORD_SLOT: constant(uint256) = 11
MARGIN_SLOT: constant(uint256) = 10
ORDER_BOOK_SLOT: constant(uint256) = 18
# Fixed accounts for the fill checks (any storage; only their identities are fixed).
MAKER: constant(address) = 0x00000000000000000000000000000000000A11cE
TAKER: constant(address) = 0x0000000000000000000000000000000000000B0b
BOOK: constant(address) = 0x0000000000000000000000000000000000000B00
KEEPER: constant(address) = 0x000000000000000000000000000000000000cafE
COUNTERPARTY: constant(address) = 0x000000000000000000000000000000000000C0C0
# More slots the liquidation checks pin (same source, same test).
RATE_WORD_SLOT: constant(uint256) = 2
RISK_WORD_SLOT: constant(uint256) = 6
POSITION_INDEX_SLOT: constant(uint256) = 12
SKEW_SCALE_SLOT: constant(uint256) = 4
FEED_MAX_AGE_SLOT: constant(uint256) = 2
FEED_ROUNDS_SLOT: constant(uint256) = 4
# The liquidation checks' one market: the crash scenario's ETH-PERP (perpvault/scenarios/
# catalogue.py) at 4,400 USDC, 40x: imr 2.5%, mmr 1.25%, maker 2 bp, taker 5 bp, penalty
# 0.5%, band 5%, cap 0.1%/h (the rate word's lanes; skew_scale has its own slot); and setUp's
# risk parameters.
LIQ_PRICE: constant(uint256) = 4_400 * 10**18
LIQ_SIZE: constant(uint256) = 7 * 10**18 + 3
LIQ_BASIS: constant(int128) = 33_600_123_457
LIQ_RATES: constant(uint256) = 25_000 | 12_500 << 24 | 200 << 48 | 500 << 72 | 5_000 << 96 | 50_000 << 120 | (10**18 // 3600 // 1000) << 168
# The same market with a 1.5% liquidation penalty: taker fee + penalty (1.55%) then cost more
# than closing frees (mmr x buffer, 1.5%), so `_partial_close` declines and a liquidation
# always closes everything.
LIQ_RATES_NO_PARTIAL: constant(uint256) = 25_000 | 12_500 << 24 | 200 << 48 | 500 << 72 | 15_000 << 96 | 50_000 << 120 | (10**18 // 3600 // 1000) << 168
# An equity of 300 USDC for the pinned position (value 30,800 USDC, basis 33,600.123457):
# below the maintenance requirement (385 USDC) but enough for a partial close to restore it.
# Both traders' margin in the wash-fill check: 100,000 USDC each, far above any requirement.
WASH_MARGIN: constant(int256) = 100_000 * 10**6
PARTIAL_MARGIN: constant(int256) = 2_800_123_457 + 300 * 10**6
# The funding checks' parameters: LIQ_RATES's cap (0.1%/h, WAD per second) and perpvault.params'
# ETH-PERP skew scale (2,000 ETH in the vault, either side, reaches the cap).
FUNDING_CAP: constant(int256) = 10**18 // 3600 // 1000
MAX_PRICE: constant(uint256) = 10**36
SKEW_SCALE: constant(uint256) = 2_000 * 10**18
LIQ_RISK: constant(uint256) = 200_000 | 200_000 << 24 | 500_000 << 48 | 200_000 << 72 | 86_400 << 96

usdc: public(address)
feed: public(address)
fund: public(address)
ch: public(address)
# The vault account of the fill and liquidation checks: a MockUSDC with symbolic storage,
# so the vault loss cap's `totalSupply()` (waterfall._vault_share_value) is any value.
lp: public(address)
outsider: address
# Whether this check has emptied market 0's sides yet (`_pin_market`).
sides_pinned: bool


@external
def setUp():
    vm: Vm = Vm(VM)
    svm: Svm = Svm(SVM)
    usdc: address = raw_create(staticcall vm.getCode("MockUSDC.vy:MockUSDC"))
    feed: address = raw_create(staticcall vm.getCode("PriceFeed.vy:PriceFeed"), self, convert(3_600, uint256), convert(300_000, uint256), DELAY)
    fund: address = raw_create(staticcall vm.getCode("InsuranceFund.vy:InsuranceFund"), usdc)
    risk: RiskParams = RiskParams(
        liquidation_buffer=200_000, keeper_share=200_000, fund_fee_share=500_000,
        vault_max_drawdown=200_000, vault_window=86_400,
    )
    liquidator: address = raw_create(staticcall vm.getCode("Liquidator.vy:Liquidator"), usdc, fund)
    ch: address = raw_create(staticcall vm.getCode("Clearinghouse.vy:Clearinghouse"), usdc, fund, liquidator, risk, DELAY)
    lp: address = raw_create(staticcall vm.getCode("MockUSDC.vy:MockUSDC"))
    self.usdc = usdc
    self.feed = feed
    self.fund = fund
    self.ch = ch
    self.lp = lp
    for target: address in [usdc, feed, fund, ch, lp]:
        extcall svm.enableSymbolicStorage(target)


# --- checks ---------------------------------------------------------------------------------


@external
def check_ch_deposit(amount: uint256):
    caller: address = self._sym("caller")
    touched: DynArray[address, MAX_TOUCHED] = [caller]
    before: Books = self._before(touched)
    extcall Vm(VM).prank(caller)
    extcall Clearinghouse(self.ch).deposit(amount)
    self._after(touched, before)


@external
def check_ch_withdraw_flat(amount: uint256):
    """
    @notice withdraw by an account without a position (market bit 0).
    """
    self._withdraw(amount, 0)


@external
def check_ch_withdraw_open(amount: uint256):
    """
    @notice withdraw by an account with a position in the market (market bit 1):
            pending funding is settled, then the margin rule is evaluated at mark.
    """
    self._withdraw(amount, 1)


@internal
def _withdraw(amount: uint256, mask: uint256):
    caller: address = self._sym("caller")
    touched: DynArray[address, MAX_TOUCHED] = [caller]
    self._pin_mask(caller, mask)
    before: Books = self._before(touched, True)
    extcall Vm(VM).prank(caller)
    extcall Clearinghouse(self.ch).withdraw(amount)
    self._after(touched, before)


@external
def check_ch_fill_flat(taker_size: int256, price: uint256):
    """
    @notice An order-book fill between two accounts without a position (they open one each).
            NOT RUN by perpvault prove (175 s, 1,478 paths): `perpvault prove --deep` runs
            it (docs/verification.md section 6). The accounts and roles are fixed addresses (their
            storage stays symbolic): maker, taker, vault and order book distinct, the caller
            the order book; the pause flag is stored as false.
    """
    ch: Clearinghouse = Clearinghouse(self.ch)
    touched: DynArray[address, MAX_TOUCHED] = [MAKER, TAKER, self.lp]
    self._pin_market()
    self._pin_roles(False)
    self._pin_flat(MAKER)
    self._pin_flat(TAKER)
    before: Books = self._before(touched, True)
    extcall Vm(VM).prank(BOOK)
    extcall ch.fill(MAKER, TAKER, 0, taker_size, price)
    self._after(touched, before)


@external
def check_ch_fill_vault_flat(taker_size: int256, price: uint256):
    """
    @notice A vault trade (the LiquidityVault calls fill as maker) with an account
            without a position, the vault holding none either: the vault's notional
            limit applies. NOT RUN by perpvault prove (`--deep` runs it). Fixed
            addresses as in check_ch_fill_flat; not paused.
    """
    ch: Clearinghouse = Clearinghouse(self.ch)
    touched: DynArray[address, MAX_TOUCHED] = [self.lp, TAKER]
    self._pin_market()
    self._pin_roles(False)
    self._pin_flat(self.lp)
    self._pin_flat(TAKER)
    before: Books = self._before(touched, True)
    extcall Vm(VM).prank(self.lp)
    extcall ch.fill(self.lp, TAKER, 0, taker_size, price)
    self._after(touched, before)


@external
def check_ch_fill_open(taker_size: int256, price: uint256):
    """
    @notice An order-book fill where the maker already holds a position: it grows, shrinks,
            closes or flips it, the taker (flat) opens one. Bounded like
            check_ch_liquidate_bankrupt: one price, parameter set and maker position
            (long LIQ_SIZE at LIQ_BASIS, funding settled); the fill's size and price, and
            every margin, stay symbolic. NOT RUN by perpvault prove (`--deep` runs it).
    """
    touched: DynArray[address, MAX_TOUCHED] = [MAKER, TAKER, self.lp]
    self._pin_liquidation(MAKER, LIQ_RATES)
    self._pin_position(MAKER, convert(LIQ_SIZE, int256), LIQ_BASIS)
    self._pin_flat(TAKER)
    before: Books = self._before(touched, True)
    extcall Vm(VM).prank(BOOK)
    extcall Clearinghouse(self.ch).fill(MAKER, TAKER, 0, taker_size, price)
    self._after(touched, before)


@external
def check_ch_fill_both_reduce(price: uint256):
    """
    @notice An order-book fill where both accounts already hold positions and both shrink:
            the taker (short 10 ETH, COUNTERPARTY's position in the liquidation checks) buys
            3 ETH from the maker (long LIQ_SIZE at LIQ_BASIS), at any price. Bounded: the
            fill's size, the market and both positions fixed (`_pin_waterfall`); the price
            and every margin symbolic.
    """
    self._fill_both(3 * 10**18, price)


@external
def check_ch_fill_both_flip(price: uint256):
    """
    @notice As check_ch_fill_both_reduce, but the taker buys 12 ETH: both positions flip
            (the maker to short 5 ETH, the taker to long 2 ETH), so both realize PnL on the
            closed part and open the rest at the fill price.
    """
    self._fill_both(12 * 10**18, price)


@internal
def _fill_both(taker_size: int256, price: uint256):
    touched: DynArray[address, MAX_TOUCHED] = [MAKER, COUNTERPARTY, self.lp]
    self._pin_waterfall(LIQ_RATES)
    before: Books = self._before(touched, True)
    extcall Vm(VM).prank(BOOK)
    extcall Clearinghouse(self.ch).fill(MAKER, COUNTERPARTY, 0, taker_size, price)
    self._after(touched, before)


@external
def check_ch_settle_funding(account: address):
    caller: address = self._sym("caller")
    touched: DynArray[address, MAX_TOUCHED] = [account]
    before: Books = self._before(touched, True)
    extcall Vm(VM).prank(caller)
    extcall Clearinghouse(self.ch).settle_funding(account)
    self._after(touched, before)


@external
def check_ch_funding_index_prices_each_second(size: int128, fp: uint256, dt: uint256, u: uint256, p1: uint256, p2: uint256):
    """
    @notice F2 on the bytecode: each second of an interval is valued at the oracle price in
            force then, and a price weighs nothing before the time it is dated. Market 0
            last accrued at t0 with funding price `fp`, the vault holding `size`; after any
            dt > 0 seconds, the oracle's latest round dated u <= t0 + dt at price p1, then at
            p2: `funding_index(0)` is exactly index + floor(rate * weighted / 10**12) for each,
            with rate = clamp(trunc(-size * cap / skew_scale), -cap, cap) from the stored size
            and parameters and weighted = (split - t0) * fp + (t0 + dt - split) * p, split = u
            if t0 <= u < t0 + dt, else t0 + dt; so when u falls outside the interval (before
            t0, or now: a price first seen after every second of it) the two indices are
            equal. Then an accrual (`settle_funding` of an account long 1 unit, settled to
            index 0) stores the p2 index, the time t0 + dt and p2 (the price in force) as the
            next interval's funding price. Bounded: the cap and skew scale fixed
            (FUNDING_CAP, SKEW_SCALE); t0 + dt < 2**64; the size any int128 (the stored
            range), fp, p1, p2 any non-zero uint256; the index, the vault's position index
            and margin, the pool and weight symbolic. Paths that revert (an overflowing
            product, a stale price at the accrual) end there. Its mutant run
            (`funding_reads_oracle_now`) does not finish: the solver finds no model for the
            256-bit products within 120 s a query; check_ch_funding_index_prices_each_second_at
            is the instance that catches it.
    """
    extcall Vm(VM).assume(self._b(dt < 2**64) == 1)
    self._index_prices_each_second(convert(size, int256), fp, dt, u, p1, p2)


@external
def check_ch_funding_index_prices_each_second_at(dt: uint256, u: uint256, p1: uint256, p2: uint256):
    """
    @notice check_ch_funding_index_prices_each_second at one stored state: the vault short
            2,500 ETH (past SKEW_SCALE, so the rate is the cap) at funding price LIQ_PRICE;
            dt < 2**32, u and the oracle's two prices (at most MAX_PRICE: the feed refuses
            larger) symbolic.
    """
    extcall Vm(VM).assume(self._b(dt < 2**32) & self._b(p1 <= MAX_PRICE) & self._b(p2 <= MAX_PRICE) == 1)
    self._index_prices_each_second(-2_500 * 10**18, LIQ_PRICE, dt, u, p1, p2)


@internal
def _index_prices_each_second(size: int256, fp: uint256, dt: uint256, u: uint256, p1: uint256, p2: uint256):
    """The F2 checks' body: the state pinned at t0 with the vault holding `size` at funding
    price `fp`; the index after dt read with the oracle's round dated u at p1 and at p2; then
    an accrual."""
    ch: Clearinghouse = Clearinghouse(self.ch)
    vm: Vm = Vm(VM)
    t0: uint256 = block.timestamp
    extcall vm.assume(self._b(dt != 0) & self._b(t0 < 2**64) & self._b(p1 != 0) & self._b(p2 != 0) & self._b(u <= t0 + dt) == 1)
    self._pin_funding(size, fp)
    # What is stored at the interval's start, read back (the same terms the contract reads).
    s0: MarketState = staticcall ch.markets(0)
    q: int256 = (staticcall ch.positions(self.lp, 0)).size
    extcall vm.warp(t0 + dt)
    self._pin_round(p1, u)
    i1: int256 = staticcall ch.funding_index(0)
    self._pin_round(p2, u)
    i2: int256 = staticcall ch.funding_index(0)
    inside: uint256 = self._b(u >= s0.last_funding_time) & self._b(u < block.timestamp)
    extcall vm.assertTrue(self._b(i1 == i2) | inside == 1, "F2: a price weighs before its date")
    e1: int256 = s0.funding_index + self._growth(q, s0.funding_price, s0.last_funding_time, p1, u)
    e2: int256 = s0.funding_index + self._growth(q, s0.funding_price, s0.last_funding_time, p2, u)
    extcall vm.assertTrue(self._b(i1 == e1) & self._b(i2 == e2) == 1, "F2: the index is not the seconds' prices")
    self._pin_open(KEEPER)
    self._pin_position(KEEPER, 10**18, 0)
    extcall ch.settle_funding(KEEPER)
    s: MarketState = staticcall ch.markets(0)
    ok: uint256 = self._b(s.funding_index == e2) & self._b(s.funding_price == p2) & self._b(s.last_funding_time == t0 + dt)
    extcall vm.assertTrue(ok == 1, "F2: the accrual stored something else")


@external
def check_ch_funding_rate_ignores_wash_fill(size: int128):
    """
    @notice F1 on the bytecode: a fill between two traders leaves the rate. The liquidation
            checks' pair (`_pin_waterfall`: MAKER long LIQ_SIZE, COUNTERPARTY short 10 ETH)
            with the vault holding `size` instead of being flat, funding last accrued now (t0)
            at LIQ_PRICE; the index `funding_index(0)` would reach an hour later is read, then
            COUNTERPARTY buys 3 ETH from MAKER at t0 (both shrink; open interest falls by
            3 ETH), and the index an hour later (the oracle at LIQ_PRICE throughout) is the
            same. The hour's growth is rate * 3,600 * LIQ_PRICE / 10**12 = rate * 1.584 * 10**13,
            exact, so equal indices are equal rates. Bounded: the fill's size and price (the
            oracle's, LIQ_PRICE), dt and both traders' margins (WASH_MARGIN) fixed (with dt
            and the margins symbolic its mutant run took 212-235 s), the cap and skew scale as
            in check_ch_funding_index_prices_each_second; the vault's size any int128; the
            vault's margin, the open interest, pool, weight and insurance_due symbolic.
    """
    ch: Clearinghouse = Clearinghouse(self.ch)
    vm: Vm = Vm(VM)
    t0: uint256 = block.timestamp
    dt: uint256 = 3_600
    extcall vm.assume(self._b(t0 < 2**64) == 1)
    self._pin_waterfall(LIQ_RATES)
    self._pin_funding(convert(size, int256), LIQ_PRICE)
    extcall vm.store(self.ch, self._margin_slot(MAKER), convert(WASH_MARGIN, bytes32))
    extcall vm.store(self.ch, self._margin_slot(COUNTERPARTY), convert(WASH_MARGIN, bytes32))
    extcall vm.warp(t0 + dt)
    self._pin_feed(LIQ_PRICE)
    before: int256 = staticcall ch.funding_index(0)
    extcall vm.warp(t0)
    self._pin_feed(LIQ_PRICE)
    extcall vm.prank(BOOK)
    extcall ch.fill(MAKER, COUNTERPARTY, 0, 3 * 10**18, LIQ_PRICE)
    extcall vm.warp(t0 + dt)
    self._pin_feed(LIQ_PRICE)
    extcall vm.assertTrue(staticcall ch.funding_index(0) == before, "F1: a wash fill moved the rate")


@external
def check_ch_sweep_to_insurance():
    """
    @notice Also: what leaves the Clearinghouse arrives in the fund, booked as revenue.
    """
    caller: address = self._sym("caller")
    touched: DynArray[address, MAX_TOUCHED] = []
    before: Books = self._before(touched)
    fund_before: uint256 = staticcall Token(self.usdc).balanceOf(self.fund)
    extcall Vm(VM).assume(self.fund != self.ch)
    extcall Vm(VM).prank(caller)
    swept: uint256 = extcall Clearinghouse(self.ch).sweep_to_insurance()
    self._after(touched, before)
    fund_after: uint256 = staticcall Token(self.usdc).balanceOf(self.fund)
    extcall Vm(VM).assertTrue(unsafe_sub(fund_after, fund_before) == swept, "sweep: the fund receives it")
    extcall Vm(VM).assertTrue(staticcall Clearinghouse(self.ch).insurance_due() == 0, "sweep: nothing left due")


@external
def check_ch_liquidate_bankrupt():
    """
    @notice The bottom of the waterfall: a keeper liquidates an account in debt (any
            equity < 0), long LIQ_SIZE at LIQ_BASIS, with one ADL counterparty on its list.
            No fee or penalty (nothing is left to charge); the fund covers what it can; the
            rest, S, is socialized against the counterparty at the ADL price, or the vault
            takes the position at mark when the fund covered it all (the counterparty at
            mark where the vault cannot). Also: the account ends flat at exactly zero.
            Bounded (`_pin_waterfall`): one market, price and parameter set, both positions
            fixed; every margin (the account's, the counterparty's, the keeper's, the
            vault's), the vault's peak and limit, and the fund's books stay symbolic.
    """
    ch: Clearinghouse = Clearinghouse(self.ch)
    touched: DynArray[address, MAX_TOUCHED] = [MAKER, KEEPER, self.lp, COUNTERPARTY]
    self._pin_waterfall(LIQ_RATES)
    extcall Vm(VM).assume(staticcall ch.equity(MAKER) < 0)
    before: Books = self._before(touched, True)
    extcall Vm(VM).prank(KEEPER)
    extcall ch.liquidate(MAKER, [COUNTERPARTY])
    self._after(touched, before)
    p: Position = staticcall ch.positions(MAKER, 0)
    ok: uint256 = self._b(p.size == 0) & self._b(p.open_notional == 0) & self._b(staticcall ch.margin(MAKER) == 0)
    extcall Vm(VM).assertTrue(ok == 1, "bankrupt: ends flat at zero")


@external
def check_ch_liquidate_solvent():
    """
    @notice A keeper liquidates a solvent account (any 0 <= equity < maintenance), long
            LIQ_SIZE at LIQ_BASIS: the taker fee and the penalty, each capped at the equity
            left, go to the fund and the keeper's share of the penalty to the keeper; the
            whole position closes at mark to the vault, or against the listed counterparty
            where the vault cannot take it. Also: the account ends flat with equity >= 0.
            Bounded as check_ch_liquidate_bankrupt, with the 1.5% penalty under which a
            partial close never applies (LIQ_RATES_NO_PARTIAL): with symbolic equity its
            size is a quotient the solver cannot branch on (check_ch_liquidate_partial).
    """
    ch: Clearinghouse = Clearinghouse(self.ch)
    touched: DynArray[address, MAX_TOUCHED] = [MAKER, KEEPER, self.lp, COUNTERPARTY]
    self._pin_waterfall(LIQ_RATES_NO_PARTIAL)
    extcall Vm(VM).assume(staticcall ch.equity(MAKER) >= 0)
    before: Books = self._before(touched, True)
    extcall Vm(VM).prank(KEEPER)
    extcall ch.liquidate(MAKER, [COUNTERPARTY])
    self._after(touched, before)
    ok: uint256 = self._b((staticcall ch.positions(MAKER, 0)).size == 0) & self._b(staticcall ch.margin(MAKER) >= 0)
    extcall Vm(VM).assertTrue(ok == 1, "solvent: ends flat, not in debt")


@external
def check_ch_liquidate_partial():
    """
    @notice A keeper liquidates an account with 300 USDC of equity against a maintenance
            requirement of 385 USDC (PARTIAL_MARGIN): part of the position closes at mark,
            to the vault or against the listed counterparty, enough to restore maintenance
            with the buffer. Also: the account ends at or above its maintenance requirement,
            or flat. Bounded as check_ch_liquidate_bankrupt, and the account's margin pinned
            too; the counterparty's margin (assumed >= 0), the keeper's and the vault's margins, the vault's peak
            and limit, and the fund's books stay symbolic.
    """
    ch: Clearinghouse = Clearinghouse(self.ch)
    touched: DynArray[address, MAX_TOUCHED] = [MAKER, KEEPER, self.lp, COUNTERPARTY]
    self._pin_waterfall(LIQ_RATES)
    extcall Vm(VM).store(self.ch, self._margin_slot(MAKER), convert(PARTIAL_MARGIN, bytes32))
    # The counterparty can pay its part (its margin not negative: equity >= its 2,000 USDC
    # gain, against a fee of a few USDC): the capped take of one that cannot is proved on
    # the model (`adl[1]: skip test exact`) and tested on chain, not here.
    extcall Vm(VM).assume(staticcall ch.margin(COUNTERPARTY) >= 0)
    before: Books = self._before(touched, True)
    extcall Vm(VM).prank(KEEPER)
    extcall ch.liquidate(MAKER, [COUNTERPARTY])
    self._after(touched, before)
    maintenance: uint256 = (staticcall ch.margin_requirements(MAKER))[1]
    e: int256 = staticcall ch.equity(MAKER)
    ok: uint256 = self._b((staticcall ch.positions(MAKER, 0)).size == 0) | self._b(e >= convert(maintenance, int256))
    extcall Vm(VM).assertTrue(ok == 1, "partial: healthy or flat")


@external
def check_ch_set_vault(vault: address):
    touched: DynArray[address, MAX_TOUCHED] = []
    before: Books = self._before(touched)
    self._as_anyone()
    extcall Clearinghouse(self.ch).set_vault(vault)
    self._after(touched, before)


@external
def check_ch_set_order_book(order_book: address):
    touched: DynArray[address, MAX_TOUCHED] = []
    before: Books = self._before(touched)
    self._as_anyone()
    extcall Clearinghouse(self.ch).set_order_book(order_book)
    self._after(touched, before)


@external
def check_ch_add_market(oracle: address, params: MarketParams):
    """
    @notice Also: the new market starts with an empty funding pool and no open interest.
    """
    touched: DynArray[address, MAX_TOUCHED] = []
    before: Books = self._before(touched)
    self._as_anyone()
    market: uint256 = extcall Clearinghouse(self.ch).add_market(oracle, params)
    self._after(touched, before)
    s: MarketState = staticcall Clearinghouse(self.ch).markets(market)
    extcall Vm(VM).assertTrue(s.funding_pool == 0 and s.funding_weight == 0 and s.open_interest == 0, "new market is empty")


@external
def check_ch_announce_market_params(params: MarketParams):
    touched: DynArray[address, MAX_TOUCHED] = []
    before: Books = self._before(touched)
    self._as_anyone()
    extcall Clearinghouse(self.ch).announce_market_params(0, params)
    self._after(touched, before)


@external
def check_ch_apply_market_params():
    """
    @notice Funding accrued to this block (`_before(..., True)`): the apply's `_accrue` then
            writes the index it had; the pending parameters and their eta are symbolic.
    """
    touched: DynArray[address, MAX_TOUCHED] = []
    before: Books = self._before(touched, True)
    self._as_anyone()
    extcall Clearinghouse(self.ch).apply_market_params(0)
    self._after(touched, before)


@external
def check_ch_cancel_market_params():
    touched: DynArray[address, MAX_TOUCHED] = []
    before: Books = self._before(touched)
    self._as_anyone()
    extcall Clearinghouse(self.ch).cancel_market_params(0)
    self._after(touched, before)


@external
def check_ch_announce_risk_params(risk: RiskParams):
    touched: DynArray[address, MAX_TOUCHED] = []
    before: Books = self._before(touched)
    self._as_anyone()
    extcall Clearinghouse(self.ch).announce_risk_params(risk)
    self._after(touched, before)


@external
def check_ch_apply_risk_params():
    touched: DynArray[address, MAX_TOUCHED] = []
    before: Books = self._before(touched)
    self._as_anyone()
    extcall Clearinghouse(self.ch).apply_risk_params()
    self._after(touched, before)


@external
def check_ch_cancel_risk_params():
    touched: DynArray[address, MAX_TOUCHED] = []
    before: Books = self._before(touched)
    self._as_anyone()
    extcall Clearinghouse(self.ch).cancel_risk_params()
    self._after(touched, before)


@external
def check_ch_announce_delay(delay: uint256):
    touched: DynArray[address, MAX_TOUCHED] = []
    before: Books = self._before(touched)
    self._as_anyone()
    extcall Clearinghouse(self.ch).announce_delay(delay)
    self._after(touched, before)


@external
def check_ch_apply_delay():
    touched: DynArray[address, MAX_TOUCHED] = []
    before: Books = self._before(touched)
    self._as_anyone()
    extcall Clearinghouse(self.ch).apply_delay()
    self._after(touched, before)


@external
def check_ch_cancel_delay():
    touched: DynArray[address, MAX_TOUCHED] = []
    before: Books = self._before(touched)
    self._as_anyone()
    extcall Clearinghouse(self.ch).cancel_delay()
    self._after(touched, before)


@external
def check_ch_apply_before_delay(params: MarketParams, t0: uint256, t1: uint256):
    """
    @notice E4 for market parameters: the owner announces valid `params` for market 0 at
            any time t0; at any later time t1 before eta = t0 + delay, apply reverts and
            neither the parameters in force nor the rate word move; at any t1 in
            [eta, eta + GRACE_PERIOD] it applies: `params(0)` is `params`, the pending
            slots and the pending-imr lane are cleared. The delay in force is any value in
            [MIN_DELAY, MAX_DELAY] (the timelock keeps it there); t0, t1 < 2**64. Funding
            is pinned as accrued at t0 and again at t1 (`_pin_market`), so the apply's
            `_accrue` writes nothing new; every other word stays symbolic.
    """
    ch: Clearinghouse = Clearinghouse(self.ch)
    vm: Vm = Vm(VM)
    d: uint256 = staticcall ch.delay()
    extcall vm.assume(self._b(d >= MIN_DELAY) & self._b(d <= MAX_DELAY) & self._b(t0 < 2**64) & self._b(t1 >= t0) & self._b(t1 < 2**64) == 1)
    extcall vm.warp(t0)
    self._pin_market()
    owner: address = staticcall ch.owner()
    extcall vm.prank(owner)
    extcall ch.announce_market_params(0, params)
    rates0: uint256 = self._rate_word()
    in_force: MarketParams = staticcall ch.params(0)
    eta: uint256 = t0 + d
    extcall vm.warp(t1)
    self._pin_market()
    extcall vm.prank(owner)
    ok: bool = raw_call(self.ch, abi_encode(convert(0, uint256), method_id=method_id("apply_market_params(uint256)")), revert_on_failure=False)
    now: MarketParams = staticcall ch.params(0)
    if t1 < eta:
        same: uint256 = self._same_params(now, in_force) & self._b(self._rate_word() == rates0) & self._b(not ok)
        extcall vm.assertTrue(same == 1, "timelock: applied before the delay")
    elif t1 <= eta + GRACE_PERIOD:
        # The apply accrues first, and an accrual reads the oracle (fails closed): a due
        # change applies whenever the oracle answers, and otherwise moves nothing.
        fresh: bool = raw_call(self.feed, abi_encode(convert(0, uint256), method_id=method_id("price(uint256)")), revert_on_failure=False, is_static_call=True)
        if fresh:
            done: uint256 = self._b(ok) & self._same_params(now, params) & self._b(self._rate_word() >> 232 == 0)
            done &= self._b(staticcall ch.pending_params_eta(0) == 0)
            extcall vm.assertTrue(done == 1, "timelock: a due change did not apply")
        else:
            stale: uint256 = self._same_params(now, in_force) & self._b(self._rate_word() == rates0) & self._b(not ok)
            extcall vm.assertTrue(stale == 1, "timelock: applied without a price")


@external
def check_ch_apply_risk_before_delay(risk: RiskParams, t0: uint256, t1: uint256):
    """
    @notice As check_ch_apply_before_delay, for the risk parameters: before eta the apply
            reverts and `risk()` is unchanged; within the grace period it applies.
    """
    ch: Clearinghouse = Clearinghouse(self.ch)
    vm: Vm = Vm(VM)
    d: uint256 = staticcall ch.delay()
    extcall vm.assume(self._b(d >= MIN_DELAY) & self._b(d <= MAX_DELAY) & self._b(t0 < 2**64) & self._b(t1 >= t0) & self._b(t1 < 2**64) == 1)
    extcall vm.warp(t0)
    owner: address = staticcall ch.owner()
    extcall vm.prank(owner)
    extcall ch.announce_risk_params(risk)
    word0: uint256 = convert(staticcall vm.load(self.ch, convert(RISK_WORD_SLOT, bytes32)), uint256)
    eta: uint256 = t0 + d
    extcall vm.warp(t1)
    extcall vm.prank(owner)
    ok: bool = raw_call(self.ch, method_id("apply_risk_params()"), revert_on_failure=False)
    now: RiskParams = staticcall ch.risk()
    word1: uint256 = convert(staticcall vm.load(self.ch, convert(RISK_WORD_SLOT, bytes32)), uint256)
    if t1 < eta:
        extcall vm.assertTrue(self._b(word1 == word0) & self._b(not ok) == 1, "timelock: risk applied before the delay")
    elif t1 <= eta + GRACE_PERIOD:
        done: uint256 = self._b(ok) & self._b(now.liquidation_buffer == risk.liquidation_buffer) & self._b(now.keeper_share == risk.keeper_share)
        done &= self._b(now.fund_fee_share == risk.fund_fee_share) & self._b(now.vault_max_drawdown == risk.vault_max_drawdown)
        done &= self._b(now.vault_window == risk.vault_window) & self._b(staticcall ch.pending_risk_eta() == 0)
        extcall vm.assertTrue(done == 1, "timelock: due risk change did not apply")


@external
def check_ch_announce_changes_nothing_in_force(params: MarketParams):
    """
    @notice E4: an announce of market 0's parameters changes nothing in force. The
            parameters `params(0)`, the rate word's lanes below the pending imr, the risk
            word, the market's state, insurance_due, the token balance, and any account's
            margin, position and maintenance requirement are the same after it; the
            pending parameters are `params`, due at now + delay, and the rate word's top
            lane holds `params.imr`. One market, pinned accrued with a fresh feed price
            (`_pin_market`, the feed's round 0 and max_age as in the liquidation checks);
            the account's market bit tied to its position (`_assume_mask`); every other
            word, the rate word included, symbolic.
    """
    ch: Clearinghouse = Clearinghouse(self.ch)
    vm: Vm = Vm(VM)
    self._pin_market()
    self._pin_price()
    a: address = extcall Svm(SVM).createAddress("account")
    self._assume_mask(a)
    m0: int256 = staticcall ch.margin(a)
    p0: Position = staticcall ch.positions(a, 0)
    req0: uint256 = (staticcall ch.margin_requirements(a))[1]
    in_force: MarketParams = staticcall ch.params(0)
    rates0: uint256 = self._rate_word() & (2**232 - 1)
    risk0: bytes32 = staticcall vm.load(self.ch, convert(RISK_WORD_SLOT, bytes32))
    s0: MarketState = staticcall ch.markets(0)
    due0: uint256 = staticcall ch.insurance_due()
    bal0: uint256 = staticcall Token(self.usdc).balanceOf(self.ch)
    self._as_anyone()
    extcall ch.announce_market_params(0, params)
    p1: Position = staticcall ch.positions(a, 0)
    s1: MarketState = staticcall ch.markets(0)
    ok: uint256 = self._same_params(staticcall ch.params(0), in_force) & self._b(self._rate_word() & (2**232 - 1) == rates0)
    ok &= self._b(staticcall vm.load(self.ch, convert(RISK_WORD_SLOT, bytes32)) == risk0)
    ok &= self._b(staticcall ch.margin(a) == m0) & self._b(p1.size == p0.size) & self._b(p1.open_notional == p0.open_notional)
    ok &= self._b(p1.funding_index == p0.funding_index) & self._b((staticcall ch.margin_requirements(a))[1] == req0)
    ok &= self._b(s1.funding_index == s0.funding_index) & self._b(s1.funding_price == s0.funding_price) & self._b(s1.funding_pool == s0.funding_pool)
    ok &= self._b(s1.open_interest == s0.open_interest) & self._b(staticcall ch.insurance_due() == due0)
    ok &= self._b(staticcall Token(self.usdc).balanceOf(self.ch) == bal0)
    ok &= self._same_params(staticcall ch.pending_params(0), params) & self._b(self._rate_word() >> 232 == params.imr)
    ok &= self._b(staticcall ch.pending_params_eta(0) == block.timestamp + staticcall ch.delay())
    extcall vm.assertTrue(ok == 1, "announce: something in force moved")


@external
def check_ch_pause():
    touched: DynArray[address, MAX_TOUCHED] = []
    before: Books = self._before(touched)
    self._as_anyone()
    extcall Clearinghouse(self.ch).pause()
    self._after(touched, before)


@external
def check_ch_unpause():
    touched: DynArray[address, MAX_TOUCHED] = []
    before: Books = self._before(touched)
    self._as_anyone()
    extcall Clearinghouse(self.ch).unpause()
    self._after(touched, before)


@external
def check_ch_transfer_ownership(new_owner: address):
    touched: DynArray[address, MAX_TOUCHED] = []
    before: Books = self._before(touched)
    self._as_anyone()
    extcall Clearinghouse(self.ch).transfer_ownership(new_owner)
    self._after(touched, before)


# --- the books ------------------------------------------------------------------------------


@internal
def _sym(name: String[32]) -> address:
    """A symbolic caller: any address but the system's contracts (none of which calls
    the Clearinghouse here; the vault's address is symbolic storage, so it may be it)."""
    a: address = extcall Svm(SVM).createAddress(name)
    extcall Vm(VM).assume(a != self.ch and a != self.usdc and a != self.fund and a != self.feed)
    return a


@internal
def _as_anyone():
    """The next call comes from a symbolic address (prank right before it)."""
    extcall Vm(VM).prank(self._sym("caller"))


@internal
@view
def _first(touched: DynArray[address, MAX_TOUCHED], i: uint256) -> bool:
    """Whether touched[i] does not occur earlier in the list (count each account once)."""
    for j: uint256 in range(MAX_TOUCHED):
        if j >= i:
            break
        if touched[j] == touched[i]:
            return False
    return True


@internal
def _before(touched: DynArray[address, MAX_TOUCHED], accrued: bool = False) -> Books:
    """Assumes the scope (one market, priced by the feed; mask invariant) and snapshots.
    With `accrued`, the funding index is already accrued to this block (as in the z3
    proofs): `_accrue` then changes nothing, and the premium's non-linear branches, which
    cannot move the books, are not explored. Then the market's control words are stored
    (`_pin_market`) rather than assumed, so halmos decides their branches without a solver."""
    ch: Clearinghouse = Clearinghouse(self.ch)
    vm: Vm = Vm(VM)
    if accrued:
        self._pin_market()
    else:
        extcall vm.assume(staticcall ch.market_count() == 1)
        extcall vm.assume((staticcall ch.markets(0)).oracle == self.feed)
    outsider: address = extcall Svm(SVM).createAddress("outsider")
    extcall vm.assume(outsider not in touched)
    for a: address in touched:
        self._assume_mask(a)
    self._assume_mask(outsider)
    self.outsider = outsider
    return self._books(touched)


@internal
def _pin_market():
    """Stores market_count = 1 and market 0's oracle word: the PriceFeed, with funding
    last accrued in this block. The same states `assume` would admit, but concrete, so
    the loops over markets and `_current_index`'s "already accrued" branch are decided
    without the solver (with assumptions halmos explores both sides of every such branch
    whose query it cannot decide in 1 ms)."""
    vm: Vm = Vm(VM)
    extcall vm.store(self.ch, convert(MARKET_COUNT_SLOT, bytes32), convert(1, bytes32))
    word: uint256 = convert(self.feed, uint256) | (block.timestamp << 160)
    extcall vm.store(self.ch, keccak256(concat(convert(MARKET_STORE_SLOT, bytes32), convert(0, bytes32))), convert(word, bytes32))
    # Both sides of market 0 empty, once per check (`_before` pins the market again):
    # `_pin_position` enters each pinned position in its side.
    if not self.sides_pinned:
        self.sides_pinned = True
        for key: uint256 in range(2):
            extcall vm.store(self.ch, keccak256(concat(convert(SIDE_COUNT_SLOT, bytes32), convert(key, bytes32))), empty(bytes32))


@internal
def _pin_mask(a: address, mask: uint256):
    """Stores `a`'s market mask (its position's size stays symbolic; `_assume_mask` ties
    the two)."""
    extcall Vm(VM).store(self.ch, keccak256(concat(convert(MASK_WORD_SLOT, bytes32), convert(a, bytes32))), convert(mask, bytes32))


@internal
def _pin_roles(paused: bool):
    """Stores the pause flag, the vault (`self.lp`) and the order book (BOOK)."""
    vm: Vm = Vm(VM)
    extcall vm.store(self.ch, convert(PAUSED_SLOT, bytes32), convert(convert(paused, uint256), bytes32))
    extcall vm.store(self.ch, convert(VAULT_SLOT, bytes32), convert(self.lp, bytes32))
    extcall vm.store(self.ch, convert(ORDER_BOOK_SLOT, bytes32), convert(BOOK, bytes32))


@internal
def _pin_flat(a: address):
    """`a` holds no position: market bit 0 and market 0's position word 0."""
    self._pin_mask(a, 0)
    self._pin_position(a, 0, 0)


@internal
def _pin_liquidation(account: address, rates: uint256):
    """Pins the liquidation checks' bounds: the roles (not paused), the market's `rates`, the
    risk parameters and a fresh feed price (LIQ_*), funding settled (market and position
    index 0), and `account` holding a position (market bit 1; size and basis symbolic)."""
    vm: Vm = Vm(VM)
    self._pin_market()
    self._pin_roles(False)
    store: bytes32 = keccak256(concat(convert(MARKET_STORE_SLOT, bytes32), convert(0, bytes32)))
    extcall vm.store(self.ch, convert(convert(store, uint256) + 1, bytes32), empty(bytes32))  # funding_index
    extcall vm.store(self.ch, keccak256(concat(convert(RATE_WORD_SLOT, bytes32), convert(0, bytes32))), convert(rates, bytes32))
    extcall vm.store(self.ch, convert(RISK_WORD_SLOT, bytes32), convert(LIQ_RISK, bytes32))
    self._pin_price()
    self._pin_open(account)


@internal
@pure
def _margin_slot(a: address) -> bytes32:
    return keccak256(concat(convert(MARGIN_SLOT, bytes32), convert(a, bytes32)))


@internal
def _pin_waterfall(rates: uint256):
    """The liquidation checks' state: MAKER long LIQ_SIZE at LIQ_BASIS in a market with
    `rates` (`_pin_liquidation`), COUNTERPARTY short 10 ETH entered at 4,600 (funding
    settled), the vault flat."""
    self._pin_liquidation(MAKER, rates)
    self._pin_position(MAKER, convert(LIQ_SIZE, int256), LIQ_BASIS)
    self._pin_open(COUNTERPARTY)
    self._pin_position(COUNTERPARTY, -10 * 10**18, -46_000_000_000)
    self._pin_flat(self.lp)


@internal
def _pin_position(a: address, size: int256, basis: int128):
    """Stores `a`'s market-0 position word: `size` (concrete) and cost basis `basis`; a
    position also enters its side of market 0 (ledger.side_at, the slot in `a`'s mask word),
    as `_change_position` would have entered it, so a close or flip leaves a side it is on."""
    vm: Vm = Vm(VM)
    outer: bytes32 = keccak256(concat(convert(POSITION_WORD_SLOT, bytes32), convert(a, bytes32)))
    word: uint256 = (convert(convert(convert(basis, int256), bytes32), uint256) << 128) | (convert(convert(size, bytes32), uint256) & (2**128 - 1))
    extcall vm.store(self.ch, keccak256(concat(outer, convert(0, bytes32))), convert(word, bytes32))
    if size == 0:
        return
    key: uint256 = convert(size > 0, uint256)
    count_slot: bytes32 = keccak256(concat(convert(SIDE_COUNT_SLOT, bytes32), convert(key, bytes32)))
    n: uint256 = convert(staticcall vm.load(self.ch, count_slot), uint256) + 1
    extcall vm.store(self.ch, count_slot, convert(n, bytes32))
    at: bytes32 = keccak256(concat(keccak256(concat(convert(SIDE_AT_SLOT, bytes32), convert(key, bytes32))), convert(n, bytes32)))
    extcall vm.store(self.ch, at, convert(a, bytes32))
    mask_slot: bytes32 = keccak256(concat(convert(MASK_WORD_SLOT, bytes32), convert(a, bytes32)))
    mask: uint256 = convert(staticcall vm.load(self.ch, mask_slot), uint256) & 255
    extcall vm.store(self.ch, mask_slot, convert(mask | n << 8, bytes32))


@internal
def _pin_open(a: address):
    """`a` trades market 0 only (market bit 1; `_assume_mask` makes its size non-zero),
    its funding settled to the pinned index 0."""
    self._pin_mask(a, 1)
    outer: bytes32 = keccak256(concat(convert(POSITION_INDEX_SLOT, bytes32), convert(a, bytes32)))
    extcall Vm(VM).store(self.ch, keccak256(concat(outer, convert(0, bytes32))), empty(bytes32))


@internal
@view
def _rate_word() -> uint256:
    """Market 0's rate word (the six rates, the funding cap, the pending imr's lane)."""
    slot: bytes32 = keccak256(concat(convert(RATE_WORD_SLOT, bytes32), convert(0, bytes32)))
    return convert(staticcall Vm(VM).load(self.ch, slot), uint256)


@internal
@pure
def _same_params(a: MarketParams, b: MarketParams) -> uint256:
    ok: uint256 = self._b(a.imr == b.imr) & self._b(a.mmr == b.mmr) & self._b(a.maker_fee == b.maker_fee)
    ok &= self._b(a.taker_fee == b.taker_fee) & self._b(a.liquidation_penalty == b.liquidation_penalty)
    ok &= self._b(a.price_band == b.price_band) & self._b(a.vault_max_notional == b.vault_max_notional)
    ok &= self._b(a.max_funding_rate == b.max_funding_rate) & self._b(a.skew_scale == b.skew_scale)
    return ok & self._b(a.min_notional == b.min_notional)


@internal
def _pin_price():
    """The feed's max_age (3,600 s) and market 0's round: LIQ_PRICE, posted now."""
    self._pin_feed(LIQ_PRICE)


@internal
def _pin_funding(size: int256, fp: uint256):
    """The funding checks' market: one market accrued now (`_pin_market`), the roles (not
    paused; the vault `self.lp`), the rate word LIQ_RATES, skew_scale SKEW_SCALE, the stored
    funding price `fp`, and the vault holding `size` (market bit set iff size != 0, basis 0;
    its position index stays symbolic)."""
    vm: Vm = Vm(VM)
    self._pin_market()
    self._pin_roles(False)
    store: uint256 = convert(keccak256(concat(convert(MARKET_STORE_SLOT, bytes32), convert(0, bytes32))), uint256)
    extcall vm.store(self.ch, convert(store + 2, bytes32), convert(fp, bytes32))  # funding_price
    extcall vm.store(self.ch, keccak256(concat(convert(RATE_WORD_SLOT, bytes32), convert(0, bytes32))), convert(LIQ_RATES, bytes32))
    extcall vm.store(self.ch, keccak256(concat(convert(SKEW_SCALE_SLOT, bytes32), convert(0, bytes32))), convert(SKEW_SCALE, bytes32))
    self._pin_mask(self.lp, convert(size != 0, uint256))
    self._pin_position(self.lp, size, 0)


@internal
def _pin_feed(p: uint256):
    """The feed's max_age (3,600 s) and market 0's round: `p`, posted now."""
    self._pin_round(p, block.timestamp)


@internal
def _pin_round(p: uint256, updated: uint256):
    """The feed's max_age (3,600 s) and market 0's round: `p`, dated `updated`."""
    vm: Vm = Vm(VM)
    extcall vm.store(self.feed, convert(FEED_MAX_AGE_SLOT, bytes32), convert(3_600, bytes32))
    round: uint256 = convert(keccak256(concat(convert(FEED_ROUNDS_SLOT, bytes32), convert(0, bytes32))), uint256)
    extcall vm.store(self.feed, convert(round, bytes32), convert(p, bytes32))
    extcall vm.store(self.feed, convert(round + 1, bytes32), convert(updated, bytes32))


@internal
@view
def _growth(size: int256, fp: uint256, last: uint256, p: uint256, u: uint256) -> int256:
    """docs/mechanism.md 5, written out: the growth since `last` to now, floor(rate *
    weighted / 10**12), rate = clamp(trunc(-size * FUNDING_CAP / SKEW_SCALE), -cap, cap) (0 for
    a flat vault), weighted = (split - last) * fp + (now - split) * p with split = u when
    last <= u < now, else now. The operations are the contract's, on the stored values read
    back through its views, so halmos sees the same terms (with the size passed in as the
    check's argument instead, the equality was a non-linear query that timed out at 120 s);
    floor as `perp_math._floor_div` computes it, branch-free."""
    if block.timestamp == last or size == 0:
        return 0
    rate: int256 = min(max(-size * FUNDING_CAP // convert(SKEW_SCALE, int256), -FUNDING_CAP), FUNDING_CAP)
    if rate == 0:
        return 0
    split: uint256 = block.timestamp
    if u >= last and u < block.timestamp:
        split = u
    x: int256 = rate * convert((split - last) * fp + (block.timestamp - split) * p, int256)
    quotient: int256 = x // 10**12
    return unsafe_sub(quotient, convert(unsafe_sub(x, unsafe_mul(quotient, 10**12)) < 0, int256))


@internal
@pure
def _b(x: bool) -> uint256:
    return convert(x, uint256)


@internal
def _assume_mask(a: address):
    mask: uint256 = staticcall Clearinghouse(self.ch).market_mask(a)
    size: int256 = (staticcall Clearinghouse(self.ch).positions(a, 0)).size
    extcall Vm(VM).assume(mask <= 1)
    extcall Vm(VM).assume((mask == 1) == (size != 0))


@internal
@view
def _books(touched: DynArray[address, MAX_TOUCHED]) -> Books:
    ch: Clearinghouse = Clearinghouse(self.ch)
    b: Books = empty(Books)
    for i: uint256 in range(MAX_TOUCHED):
        if i >= len(touched):
            break
        if not self._first(touched, i):
            continue
        a: address = touched[i]
        p: Position = staticcall ch.positions(a, 0)
        b.books = unsafe_add(b.books, unsafe_sub(staticcall ch.margin(a), p.open_notional))
        b.sizes = unsafe_add(b.sizes, p.size)
        # `max` as the contract writes it: Vyper compiles it to a multiplication by the
        # comparison bit, and halmos's abstraction of `mul` sees the same term on both sides.
        b.longs = unsafe_add(b.longs, max(p.size, 0))
    s: MarketState = staticcall ch.markets(0)
    b.due = staticcall ch.insurance_due()
    b.pool = s.funding_pool
    b.oi = s.open_interest
    b.balance = staticcall Token(self.usdc).balanceOf(ch.address)
    p: Position = staticcall ch.positions(self.outsider, 0)
    b.outsider_margin = staticcall ch.margin(self.outsider)
    b.outsider_size = p.size
    b.outsider_basis = p.open_notional
    return b


@internal
def _after(touched: DynArray[address, MAX_TOUCHED], b0: Books):
    """One assertion per path (each vm.assertTrue is a solver query of its own)."""
    b1: Books = self._books(touched)
    d_balance: int256 = unsafe_sub(convert(convert(b1.balance, bytes32), int256), convert(convert(b0.balance, bytes32), int256))
    d_due: int256 = unsafe_sub(convert(convert(b1.due, bytes32), int256), convert(convert(b0.due, bytes32), int256))
    d_books: int256 = unsafe_add(unsafe_add(unsafe_sub(b1.books, b0.books), d_due), unsafe_sub(b1.pool, b0.pool))
    d_oi: int256 = unsafe_sub(convert(convert(b1.oi, bytes32), int256), convert(convert(b0.oi, bytes32), int256))
    # One branch-free conjunction: `and` would branch, a path per operand for halmos.
    ok: uint256 = self._b(d_balance == d_books)  # I2
    ok &= self._b(b1.sizes == b0.sizes)  # I1
    ok &= self._b(d_oi == unsafe_sub(b1.longs, b0.longs))  # open interest
    ok &= self._b(b1.outsider_margin == b0.outsider_margin) & self._b(b1.outsider_size == b0.outsider_size)
    ok &= self._b(b1.outsider_basis == b0.outsider_basis)
    ch: Clearinghouse = Clearinghouse(self.ch)
    for a: address in touched:
        ok &= self._b(((staticcall ch.market_mask(a)) & 1 == 1) == ((staticcall ch.positions(a, 0)).size != 0))
    extcall Vm(VM).assertTrue(ok == 1, "I1/I2/OI/mask/outsider")
