# pragma version ~=0.4.3
"""
@title PerpHandler
@notice The forge invariant campaign's handler: deploys the real system
        (MockUSDC, PriceFeed, InsuranceFund, Clearinghouse, LiquidityVault)
        and exposes bounded actions forge calls in random order with random
        arguments: deposit, withdraw, vault trade, order fill, oracle move,
        time, funding settlement, liquidation (with an ADL list it computes,
        or skipped), donation, sweep, LP deposit and redeem.
@dev Every action maps its fuzzed words into range and calls the system with
     `raw_call(..., revert_on_failure=False)`, so a call the system rejects
     is a no-op counted in `rejected`, never a failed run. The handler is the
     owner of every contract, the oracle's updater and the Clearinghouse's
     order book (so it can submit fills between two actors without
     signatures; OrderBook itself is out of scope here). No function is
     named invariant_*: forge would take it for a test.
"""

interface Vm:
    def prank(sender: address): nonpayable
    def warp(timestamp: uint256): nonpayable
    def deployCode(artifact: String[64], args: Bytes[512]) -> address: nonpayable


interface Token:
    def mint(owner: address, amount: uint256): nonpayable
    def approve(spender: address, amount: uint256) -> bool: nonpayable
    def balanceOf(owner: address) -> uint256: view


interface Feed:
    def set_price(market: uint256, price: uint256): nonpayable
    def latest(market: uint256) -> (uint256, uint256): view


interface Fund:
    def set_clearinghouse(clearinghouse: address): nonpayable


interface Vault:
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


interface Clearinghouse:
    def set_vault(vault: address): nonpayable
    def set_order_book(order_book: address): nonpayable
    def add_market(oracle: address, params: MarketParams) -> uint256: nonpayable
    def position(account: address, market: uint256) -> (int256, int256, uint256): view
    def free_collateral(account: address) -> uint256: view
    def is_liquidatable(account: address) -> bool: view
    def equity(account: address) -> int256: view
    def adl_score(account: address, market: uint256) -> int256: view
    def account_count() -> uint256: view
    def account_at(i: uint256) -> address: view


VM: constant(address) = 0x7109709ECfa91a80626fF3989D68f67F5b1DD12D
N_ACTORS: constant(uint256) = 5
N_MARKETS: constant(uint256) = 2
MAX_ACCOUNTS: constant(uint256) = 16
MAX_LIST: constant(uint256) = 32
PPM: constant(uint256) = 10**6
MAX_SIZE: constant(uint256) = 10**36
# The timelock's delay (perpvault.params.TIMELOCK_DELAY); the campaign changes no parameter.
DELAY: constant(uint256) = 86_400
# perpvault.chain.deploy's defaults: BTC 60,000 and ETH 3,000 (18 decimals).
INITIAL_PRICES: constant(uint256[N_MARKETS]) = [60_000 * 10**18, 3_000 * 10**18]

usdc: public(address)
feed: public(address)
fund: public(address)
ch: public(address)
vault: public(address)
actors: public(address[N_ACTORS])

# Ghost counters: what the campaign reached, and the I4 check after each liquidation.
accepted: public(uint256)
rejected: public(uint256)
liquidations: public(uint256)
bad_debt_liquidations: public(uint256)
liquidations_skipped: public(uint256)
adl_liquidations: public(uint256)
i4_violations: public(uint256)


@deploy
def __init__():
    vm: Vm = Vm(VM)
    usdc: address = extcall vm.deployCode("MockUSDC.vy:MockUSDC", b"")
    feed: address = extcall vm.deployCode("PriceFeed.vy:PriceFeed", abi_encode(self, convert(3_600, uint256), convert(300_000, uint256), DELAY))
    fund: address = extcall vm.deployCode("InsuranceFund.vy:InsuranceFund", abi_encode(usdc))
    risk: RiskParams = RiskParams(
        liquidation_buffer=200_000, keeper_share=200_000, fund_fee_share=500_000,
        vault_max_drawdown=200_000, vault_window=86_400,
    )
    liquidator: address = extcall vm.deployCode("Liquidator.vy:Liquidator", abi_encode(usdc, fund))
    ch: address = extcall vm.deployCode("Clearinghouse.vy:Clearinghouse", abi_encode(usdc, fund, liquidator, risk, DELAY))
    vault: address = extcall vm.deployCode("LiquidityVault.vy:LiquidityVault", abi_encode(usdc, ch, convert(1_000, uint256)))
    extcall Fund(fund).set_clearinghouse(ch)
    extcall Clearinghouse(ch).set_vault(vault)
    extcall Clearinghouse(ch).set_order_book(self)
    for m: uint256 in range(N_MARKETS):
        extcall Feed(feed).set_price(m, INITIAL_PRICES[m])
        imr: uint256 = 100_000
        mmr: uint256 = 50_000
        skew_scale: uint256 = 100 * 10**18  # base units: 100 BTC (perpvault.params)
        if m == 1:
            imr = 125_000
            mmr = 62_500
            skew_scale = 2_000 * 10**18  # 2,000 ETH
        extcall Clearinghouse(ch).add_market(feed, MarketParams(
            imr=imr, mmr=mmr, maker_fee=200, taker_fee=500, liquidation_penalty=10_000,
            price_band=50_000, vault_max_notional=10**15, max_funding_rate=10**18 // 3600 // 1000,
            skew_scale=skew_scale, min_notional=10_000_000,
        ))
    self.usdc = usdc
    self.feed = feed
    self.fund = fund
    self.ch = ch
    self.vault = vault
    for i: uint256 in range(N_ACTORS):
        actor: address = convert(convert(65_536 + i, uint160), address)
        self.actors[i] = actor
        for spender: address in [ch, vault, fund]:
            extcall vm.prank(actor)
            extcall Token(usdc).approve(spender, max_value(uint256))


# --- actions (forge calls these) ----------------------------------------------------------


@external
def deposit(who: uint256, amount: uint256):
    """
    @notice An actor deposits 1 atom .. 100,000 USDC of fresh collateral.
    """
    actor: address = self.actors[who % N_ACTORS]
    a: uint256 = 1 + amount % 10**11
    extcall Token(self.usdc).mint(actor, a)
    self._call_as(actor, self.ch, abi_encode(a, method_id=method_id("deposit(uint256)")))


@external
def withdraw(who: uint256, fraction: uint256):
    """
    @notice An actor withdraws up to 110% of its free collateral (over 100% must revert).
    """
    actor: address = self.actors[who % N_ACTORS]
    free: uint256 = staticcall Clearinghouse(self.ch).free_collateral(actor)
    a: uint256 = free * (fraction % 1_101) // 1_000
    if a == 0:
        a = 1
    self._call_as(actor, self.ch, abi_encode(a, method_id=method_id("withdraw(uint256)")))


@external
def vault_trade(who: uint256, market: uint256, leverage: uint256, side: bool):
    """
    @notice An actor trades against the vault: a new position at 1-12x its free
            collateral (over 10x must fail the margin rule), or, one time in
            three, part or all of its position back.
    """
    actor: address = self.actors[who % N_ACTORS]
    m: uint256 = market % N_MARKETS
    size: int256 = self._size(actor, m, leverage, side)
    if size == 0:
        return
    limit: uint256 = max_value(uint256) if size > 0 else 0
    self._call_as(actor, self.vault, abi_encode(m, size, limit, method_id=method_id("trade(uint256,int256,uint256)")))


@external
def fill(maker_seed: uint256, taker_seed: uint256, market: uint256, leverage: uint256, side: bool, offset: uint256):
    """
    @notice Two actors trade at a price within 4% of the oracle (the handler is the order book).
    """
    maker: address = self.actors[maker_seed % N_ACTORS]
    taker: address = self.actors[taker_seed % N_ACTORS]
    m: uint256 = market % N_MARKETS
    size: int256 = self._size(taker, m, leverage, side)
    if size == 0:
        return
    p: uint256 = self._price(m)
    price: uint256 = p * (PPM - 40_000 + offset % 80_001) // PPM
    data: Bytes[256] = abi_encode(maker, taker, m, size, price,
                                  method_id=method_id("fill(address,address,uint256,int256,uint256)"))
    self._call_as(self, self.ch, data)


@external
def move_oracle(market: uint256, move: uint256):
    """
    @notice The oracle moves by up to +-20% (the feed allows 30% per update),
            staying within 1/8 .. 8x of the initial price.
    """
    m: uint256 = market % N_MARKETS
    p: uint256 = self._price(m)
    new: uint256 = p * (PPM - 200_000 + move % 400_001) // PPM
    new = max(min(new, INITIAL_PRICES[m] * 8), INITIAL_PRICES[m] // 8)
    extcall Feed(self.feed).set_price(m, new)


@external
def advance_time(seconds: uint256):
    """
    @notice Time passes by 1 s .. 1 h (funding accrues); the oracle re-posts its
            prices so that they are never stale.
    """
    extcall Vm(VM).warp(block.timestamp + 1 + seconds % 3_600)
    for m: uint256 in range(N_MARKETS):
        extcall Feed(self.feed).set_price(m, self._price(m))


@external
def settle_funding(who: uint256):
    """
    @notice Anyone settles an actor's (or the vault's) funding.
    """
    account: address = self._account(who)
    self._call_as(self, self.ch, abi_encode(account, method_id=method_id("settle_funding(address)")))


@external
def sweep():
    """
    @notice Anyone sweeps what the fund is owed.
    """
    self._call_as(self, self.ch, method_id("sweep_to_insurance()"))


@external
def donate(who: uint256, amount: uint256):
    """
    @notice An actor donates 1 atom .. 10,000 USDC to the insurance fund.
    """
    actor: address = self.actors[who % N_ACTORS]
    a: uint256 = 1 + amount % 10**10
    extcall Token(self.usdc).mint(actor, a)
    self._call_as(actor, self.fund, abi_encode(a, method_id=method_id("donate(uint256)")))


@external
def lp_deposit(who: uint256, amount: uint256):
    """
    @notice An actor buys vault shares with 1 atom .. 1,000,000 USDC.
    """
    actor: address = self.actors[who % N_ACTORS]
    a: uint256 = 1 + amount % 10**12
    extcall Token(self.usdc).mint(actor, a)
    self._call_as(actor, self.vault, abi_encode(a, actor, method_id=method_id("deposit(uint256,address)")))


@external
def lp_redeem(who: uint256, fraction: uint256):
    """
    @notice An actor redeems 0.1% .. 100% of its vault shares.
    """
    actor: address = self.actors[who % N_ACTORS]
    shares: uint256 = staticcall Vault(self.vault).balanceOf(actor) * (1 + fraction % 1_000) // 1_000
    if shares == 0:
        return
    self._call_as(actor, self.vault, abi_encode(shares, actor, actor,
                                                method_id=method_id("redeem(uint256,address,address)")))


@external
def liquidate(who: uint256):
    """
    @notice A keeper liquidates the first account below maintenance from a random
            start among the actors and the vault. The handler builds
            the ADL lists the keeper would (per market in id order, the
            opposite-side accounts by score, higher first, ties by lower
            address, as many as the position needs) and tries: no list, every
            market's list, each market's alone; the first that the contract
            accepts stands, else the liquidation is skipped. After a
            liquidation the account must not be in debt (I4).
    """
    ch: address = self.ch
    # The first liquidatable account from a random start among the actors and the vault.
    account: address = empty(address)
    for k: uint256 in range(N_ACTORS + 1):
        a: address = self._account(who % (N_ACTORS + 1) + k)
        if staticcall Clearinghouse(ch).is_liquidatable(a):
            account = a
            break
    if account == empty(address):
        return
    e0: int256 = staticcall Clearinghouse(ch).equity(account)
    lists: DynArray[address, MAX_LIST][N_MARKETS] = empty(DynArray[address, MAX_LIST][N_MARKETS])
    for m: uint256 in range(N_MARKETS):
        lists[m] = self._adl_list(account, m)
    both: DynArray[address, MAX_LIST] = []
    for m: uint256 in range(N_MARKETS):
        for a: address in lists[m]:
            if len(both) < MAX_LIST:
                both.append(a)
    ok: bool = self._try_liquidate(account, [])
    adl: bool = False
    if not ok and len(both) != 0:
        ok = self._try_liquidate(account, both)
        adl = ok
    for m: uint256 in range(N_MARKETS):
        if not ok and len(lists[m]) != 0 and len(lists[m]) != len(both):
            ok = self._try_liquidate(account, lists[m])
            adl = ok
    if not ok:
        self.liquidations_skipped += 1
        return
    self.liquidations += 1
    if adl:
        self.adl_liquidations += 1
    if e0 < 0:
        self.bad_debt_liquidations += 1
    if staticcall Clearinghouse(ch).equity(account) < 0:
        self.i4_violations += 1


# --- internals ---------------------------------------------------------------------------


@internal
def _call_as(sender: address, target: address, data: Bytes[256]):
    if sender != self:
        extcall Vm(VM).prank(sender)
    ok: bool = raw_call(target, data, revert_on_failure=False)
    if ok:
        self.accepted += 1
    else:
        self.rejected += 1


@internal
def _try_liquidate(account: address, cps: DynArray[address, MAX_LIST]) -> bool:
    data: Bytes[2200] = abi_encode(account, cps, method_id=method_id("liquidate(address,address[])"))
    return raw_call(self.ch, data, revert_on_failure=False)


@internal
@view
def _price(m: uint256) -> uint256:
    p: uint256 = 0
    t: uint256 = 0
    p, t = staticcall Feed(self.feed).latest(m)
    return p


@internal
@view
def _account(who: uint256) -> address:
    """Actors, and one time in six the vault."""
    i: uint256 = who % (N_ACTORS + 1)
    if i == N_ACTORS:
        return self.vault
    return self.actors[i]


@internal
@view
def _size(actor: address, m: uint256, leverage: uint256, side: bool) -> int256:
    q: int256 = 0
    on: int256 = 0
    entry: uint256 = 0
    q, on, entry = staticcall Clearinghouse(self.ch).position(actor, m)
    if q != 0 and leverage % 3 == 0:
        # Reduce: 1/8 .. all of the position.
        return -q * convert(1 + (leverage // 3) % 8, int256) // 8
    free: uint256 = staticcall Clearinghouse(self.ch).free_collateral(actor)
    notional: uint256 = free * (1 + leverage % 12)
    size: uint256 = min(notional * 10**30 // self._price(m), MAX_SIZE)
    if side:
        return convert(size, int256)
    return -convert(size, int256)


@internal
@view
def _adl_list(account: address, m: uint256) -> DynArray[address, MAX_LIST]:
    ch: address = self.ch
    q: int256 = 0
    on: int256 = 0
    entry: uint256 = 0
    q, on, entry = staticcall Clearinghouse(ch).position(account, m)
    out: DynArray[address, MAX_LIST] = []
    if q == 0:
        return out
    cands: DynArray[address, MAX_ACCOUNTS] = []
    scores: DynArray[int256, MAX_ACCOUNTS] = []
    n: uint256 = min(staticcall Clearinghouse(ch).account_count(), MAX_ACCOUNTS)
    for i: uint256 in range(MAX_ACCOUNTS):
        if i >= n:
            break
        a: address = staticcall Clearinghouse(ch).account_at(i)
        cq: int256 = 0
        cq, on, entry = staticcall Clearinghouse(ch).position(a, m)
        if a == account or cq == 0 or (cq > 0) == (q > 0):
            continue
        s: int256 = staticcall Clearinghouse(ch).adl_score(a, m)
        # Insertion: higher score first, ties by lower address.
        j: uint256 = len(cands)
        cands.append(a)
        scores.append(s)
        for _: uint256 in range(MAX_ACCOUNTS):
            if j == 0:
                break
            ps: int256 = scores[j - 1]
            pa: address = cands[j - 1]
            if ps > s or (ps == s and convert(pa, uint256) < convert(a, uint256)):
                break
            cands[j] = pa
            scores[j] = ps
            cands[j - 1] = a
            scores[j - 1] = s
            j -= 1
    need: uint256 = convert(abs(q), uint256)
    for a: address in cands:
        if need == 0:
            break
        cq: int256 = 0
        cq, on, entry = staticcall Clearinghouse(ch).position(a, m)
        out.append(a)
        need -= min(need, convert(abs(cq), uint256))
    return out
