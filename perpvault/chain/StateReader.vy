# pragma version ~=0.4.3
"""
@title StateReader
@notice Reads the whole perpvault state in one eth_call, for both chain
        drivers: every account's margin, market mask, wallet, LP shares, health
        (equity, initial and maintenance requirements, notional) and positions
        (stored, entry price, ADL score); every market's state and current
        funding index; the insurance due, the fund's and the vault's totals,
        the token balances of the three contracts, the pause flag and the
        vault's loss-cap peak.
@dev Not part of the protocol and never deployed by a transaction: the raw
     driver installs its runtime code with anvil_setCode, the ape driver passes
     it as an eth_call state override (perpvault/chain/state.py), so
     deployment addresses and nonces match perpvault.chain.deploy. It lives
     outside contracts/ so ape does not compile it.
     Views that can revert (they read the oracle, which fails closed when
     stale) are read with raw_call; a failure is reported in the `*_ok` flag
     (and, for health, the first 32 bytes of its Error(string) reason) instead
     of failing the whole read.
"""

MAX_ACCOUNTS: constant(uint256) = 32
MAX_EXTRA: constant(uint256) = 32
MAX_MARKETS: constant(uint256) = 8
ERROR_STRING: constant(bytes4) = 0x08c379a0


struct Position:
    size: int256
    open_notional: int256
    funding_index: int256


struct Health:
    equity: int256
    initial: uint256
    maintenance: uint256
    notional: uint256


struct MarketState:
    oracle: address
    funding_index: int256
    last_funding_time: uint256
    funding_price: uint256
    funding_pool: int256
    funding_weight: int256
    open_interest: uint256


struct PositionState:
    stored: Position
    entry_price: uint256
    adl_score: int256
    adl_ok: bool


struct MarketRead:
    stored: MarketState
    funding_index_now: int256
    funding_index_ok: bool


struct AccountState:
    account: address
    known: bool
    margin: int256
    market_mask: uint256
    wallet: uint256
    shares: uint256
    health: Health
    health_ok: bool
    health_reason: bytes32
    positions: DynArray[PositionState, MAX_MARKETS]


struct Book:
    block_number: uint256
    timestamp: uint256
    accounts: DynArray[AccountState, MAX_ACCOUNTS]
    markets: DynArray[MarketRead, MAX_MARKETS]
    insurance_due: uint256
    clearinghouse_balance: uint256
    fund_balance: uint256
    fund_total_in: uint256
    fund_total_out: uint256
    vault_balance: uint256
    vault_total_supply: uint256
    vault_total_assets: uint256
    vault_total_assets_ok: bool
    paused: bool
    vault_peak_share_value: uint256
    vault_peak_time: uint256
    token_total_supply: uint256
    account_count: uint256


interface IClearinghouse:
    def account_count() -> uint256: view
    def account_at(index: uint256) -> address: view
    def is_known(account: address) -> bool: view
    def margin(account: address) -> int256: view
    def market_mask(account: address) -> uint256: view
    def positions(account: address, market: uint256) -> Position: view
    def position(account: address, market: uint256) -> (int256, int256, uint256): view
    def market_count() -> uint256: view
    def markets(market: uint256) -> MarketState: view
    def insurance_due() -> uint256: view
    def paused() -> bool: view
    def vault_peak_share_value() -> uint256: view
    def vault_peak_time() -> uint256: view


interface IToken:
    def balanceOf(account: address) -> uint256: view
    def totalSupply() -> uint256: view


interface IFund:
    def total_in() -> uint256: view
    def total_out() -> uint256: view


@internal
@pure
def _reason(data: Bytes[128]) -> bytes32:
    """
    @dev The first 32 bytes of an Error(string) reason; zero for other revert data.
    """
    if len(data) < 100 or convert(slice(data, 0, 4), bytes4) != ERROR_STRING:
        return empty(bytes32)
    return extract32(data, 68)


@internal
@view
def _account(ch: IClearinghouse, token: IToken, vault: IToken, account: address, n_markets: uint256) -> AccountState:
    ok: bool = False
    response: Bytes[128] = b""
    ok, response = raw_call(
        ch.address,
        abi_encode(account, method_id=method_id("health(address)")),
        max_outsize=128,
        is_static_call=True,
        revert_on_failure=False,
    )
    health: Health = empty(Health)
    reason: bytes32 = empty(bytes32)
    if ok and len(response) == 128:
        health = abi_decode(response, Health)
    else:
        ok = False
        reason = self._reason(response)
    positions: DynArray[PositionState, MAX_MARKETS] = []
    for m: uint256 in range(MAX_MARKETS):
        if m >= n_markets:
            break
        pos: PositionState = empty(PositionState)
        pos.stored = staticcall ch.positions(account, m)
        pos.adl_ok = True
        if pos.stored.size != 0:  # flat: entry price 0 and score 0, as the views return them
            size: int256 = 0
            basis: int256 = 0
            entry: uint256 = 0
            size, basis, entry = staticcall ch.position(account, m)
            pos.entry_price = entry
            score_ok: bool = False
            score: Bytes[32] = b""
            score_ok, score = raw_call(
                ch.address,
                abi_encode(account, m, method_id=method_id("adl_score(address,uint256)")),
                max_outsize=32,
                is_static_call=True,
                revert_on_failure=False,
            )
            pos.adl_ok = score_ok and len(score) == 32
            if pos.adl_ok:
                pos.adl_score = abi_decode(score, int256)
        positions.append(pos)
    return AccountState(
        account=account,
        known=True,
        margin=staticcall ch.margin(account),
        market_mask=staticcall ch.market_mask(account),
        wallet=staticcall token.balanceOf(account),
        shares=staticcall vault.balanceOf(account),
        health=health,
        health_ok=ok,
        health_reason=reason,
        positions=positions,
    )


@internal
@view
def _market(ch: IClearinghouse, m: uint256) -> MarketRead:
    ok: bool = False
    response: Bytes[32] = b""
    ok, response = raw_call(
        ch.address,
        abi_encode(m, method_id=method_id("funding_index(uint256)")),
        max_outsize=32,
        is_static_call=True,
        revert_on_failure=False,
    )
    index: int256 = 0
    if ok and len(response) == 32:
        index = abi_decode(response, int256)
    else:
        ok = False
    return MarketRead(stored=staticcall ch.markets(m), funding_index_now=index, funding_index_ok=ok)


@external
@view
def read(
    ch: IClearinghouse, token: IToken, fund: IFund, vault: IToken, extra: DynArray[address, MAX_EXTRA], first: uint256
) -> Book:
    """
    @notice The state: the clearinghouse's known accounts in registration order from
            `first` on, as many as fit beside `extra`, then those of `extra` it does
            not know yet (wallets and LP shares).
    @dev A page holds MAX_ACCOUNTS accounts: with more, the caller reads the rest
         with further calls (`first` = the accounts already read, no `extra`),
         pinned to the same block; `account_count` says how many there are.
    @param ch The Clearinghouse.
    @param token Its collateral token.
    @param fund The InsuranceFund.
    @param vault The LiquidityVault.
    @param extra Further accounts whose balances matter (traders before their first trade, LPs).
    @param first The first known account of this page (its registration index).
    @return Book Every number, raw.
    """
    n_markets: uint256 = staticcall ch.market_count()
    n_accounts: uint256 = staticcall ch.account_count()
    room: uint256 = MAX_ACCOUNTS - len(extra)
    accounts: DynArray[AccountState, MAX_ACCOUNTS] = []
    for i: uint256 in range(MAX_ACCOUNTS):
        if i >= room or first + i >= n_accounts:
            break
        accounts.append(self._account(ch, token, vault, staticcall ch.account_at(first + i), n_markets))
    # An account the clearinghouse never saw has no margin and no position: only its
    # wallet and its LP shares can be nonzero (health zero, positions zero, mask 0).
    flat: DynArray[PositionState, MAX_MARKETS] = []
    for m: uint256 in range(MAX_MARKETS):
        if m >= n_markets:
            break
        flat.append(PositionState(stored=empty(Position), entry_price=0, adl_score=0, adl_ok=True))
    for a: address in extra:
        if not staticcall ch.is_known(a):
            accounts.append(
                AccountState(
                    account=a, known=False, margin=0, market_mask=0,
                    wallet=staticcall token.balanceOf(a), shares=staticcall vault.balanceOf(a),
                    health=empty(Health), health_ok=True, health_reason=empty(bytes32), positions=flat,
                )
            )
    markets: DynArray[MarketRead, MAX_MARKETS] = []
    for m: uint256 in range(MAX_MARKETS):
        if m >= n_markets:
            break
        markets.append(self._market(ch, m))
    ok: bool = False
    response: Bytes[32] = b""
    ok, response = raw_call(
        vault.address,
        method_id("totalAssets()"),
        max_outsize=32,
        is_static_call=True,
        revert_on_failure=False,
    )
    total_assets: uint256 = 0
    if ok and len(response) == 32:
        total_assets = abi_decode(response, uint256)
    else:
        ok = False
    return Book(
        block_number=block.number,
        timestamp=block.timestamp,
        accounts=accounts,
        markets=markets,
        insurance_due=staticcall ch.insurance_due(),
        clearinghouse_balance=staticcall token.balanceOf(ch.address),
        fund_balance=staticcall token.balanceOf(fund.address),
        fund_total_in=staticcall fund.total_in(),
        fund_total_out=staticcall fund.total_out(),
        vault_balance=staticcall token.balanceOf(vault.address),
        vault_total_supply=staticcall vault.totalSupply(),
        vault_total_assets=total_assets,
        vault_total_assets_ok=ok,
        paused=staticcall ch.paused(),
        vault_peak_share_value=staticcall ch.vault_peak_share_value(),
        vault_peak_time=staticcall ch.vault_peak_time(),
        token_total_supply=staticcall token.totalSupply(),
        account_count=n_accounts,
    )
