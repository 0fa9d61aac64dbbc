# pragma version ~=0.4.3
"""
@title StateReader
@notice Reads the whole perpvault book in one eth_call, for the fuzz driver:
        every known account's margin, equity, wallet balance and positions,
        every market's state, the insurance due, the fund's and the vault's
        totals and the clearinghouse's token balance.
@dev Not part of the protocol and never deployed by a transaction: the driver
     installs its runtime code with anvil_setCode (perpvault/chain/state.py),
     so deployment addresses and nonces match perpvault.chain.deploy. It lives
     outside contracts/ so ape does not compile it.
     Views that can revert (equity and totalAssets read the oracle, which fails
     closed when stale) are read with raw_call; a failure is reported in the
     `*_ok` flag instead of failing the whole read.
"""

MAX_ACCOUNTS: constant(uint256) = 32
MAX_EXTRA: constant(uint256) = 32
MAX_MARKETS: constant(uint256) = 8


struct Position:
    size: int256
    open_notional: int256
    funding_index: int256


struct MarketState:
    oracle: address
    funding_index: int256
    last_funding_time: uint256
    mark_ema: uint256
    funding_pool: int256
    funding_weight: int256
    open_interest: uint256


struct AccountState:
    account: address
    known: bool
    margin: int256
    equity: int256
    equity_ok: bool
    wallet: uint256
    positions: DynArray[Position, MAX_MARKETS]


struct Book:
    block_number: uint256
    timestamp: uint256
    accounts: DynArray[AccountState, MAX_ACCOUNTS]
    markets: DynArray[MarketState, MAX_MARKETS]
    insurance_due: uint256
    clearinghouse_balance: uint256
    fund_balance: uint256
    fund_total_in: uint256
    fund_total_out: uint256
    vault_total_supply: uint256
    vault_total_assets: uint256
    vault_total_assets_ok: bool


interface IClearinghouse:
    def account_count() -> uint256: view
    def account_at(index: uint256) -> address: view
    def is_known(account: address) -> bool: view
    def margin(account: address) -> int256: view
    def positions(account: address, market: uint256) -> Position: view
    def market_count() -> uint256: view
    def markets(market: uint256) -> MarketState: view
    def insurance_due() -> uint256: view


interface IToken:
    def balanceOf(account: address) -> uint256: view
    def totalSupply() -> uint256: view


interface IFund:
    def total_in() -> uint256: view
    def total_out() -> uint256: view


@internal
@view
def _account(ch: IClearinghouse, token: IToken, account: address, known: bool, n_markets: uint256) -> AccountState:
    ok: bool = False
    response: Bytes[32] = b""
    ok, response = raw_call(
        ch.address,
        abi_encode(account, method_id=method_id("equity(address)")),
        max_outsize=32,
        is_static_call=True,
        revert_on_failure=False,
    )
    equity: int256 = 0
    if ok and len(response) == 32:
        equity = abi_decode(response, int256)
    else:
        ok = False
    positions: DynArray[Position, MAX_MARKETS] = []
    for m: uint256 in range(MAX_MARKETS):
        if m >= n_markets:
            break
        positions.append(staticcall ch.positions(account, m))
    return AccountState(
        account=account,
        known=known,
        margin=staticcall ch.margin(account),
        equity=equity,
        equity_ok=ok,
        wallet=staticcall token.balanceOf(account),
        positions=positions,
    )


@external
@view
def read(ch: IClearinghouse, token: IToken, fund: IFund, vault: IToken, extra: DynArray[address, MAX_EXTRA]) -> Book:
    """
    @notice The book: the clearinghouse's known accounts in registration order,
            then those of `extra` it does not know yet (wallets only).
    @param ch The Clearinghouse.
    @param token Its collateral token.
    @param fund The InsuranceFund.
    @param vault The LiquidityVault.
    @param extra Further accounts whose wallet balances matter (traders before their first deposit).
    @return Book Every number, raw.
    """
    n_markets: uint256 = staticcall ch.market_count()
    n_accounts: uint256 = staticcall ch.account_count()
    assert n_accounts + len(extra) <= MAX_ACCOUNTS, "reader: too many accounts"
    accounts: DynArray[AccountState, MAX_ACCOUNTS] = []
    for i: uint256 in range(MAX_ACCOUNTS):
        if i >= n_accounts:
            break
        accounts.append(self._account(ch, token, staticcall ch.account_at(i), True, n_markets))
    # An account the clearinghouse never saw has no margin and no position: only
    # its wallet can be nonzero (equity 0, positions zero, funding index 0).
    flat: DynArray[Position, MAX_MARKETS] = []
    for m: uint256 in range(MAX_MARKETS):
        if m >= n_markets:
            break
        flat.append(empty(Position))
    for a: address in extra:
        if not staticcall ch.is_known(a):
            accounts.append(
                AccountState(
                    account=a, known=False, margin=0, equity=0, equity_ok=True,
                    wallet=staticcall token.balanceOf(a), positions=flat,
                )
            )
    markets: DynArray[MarketState, MAX_MARKETS] = []
    for m: uint256 in range(MAX_MARKETS):
        if m >= n_markets:
            break
        markets.append(staticcall ch.markets(m))
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
        vault_total_supply=staticcall vault.totalSupply(),
        vault_total_assets=total_assets,
        vault_total_assets_ok=ok,
    )
