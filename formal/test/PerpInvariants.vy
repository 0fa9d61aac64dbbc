# pragma version ~=0.4.3
"""
@title PerpInvariants
@notice forge invariant campaign over the real contracts: after every handler
        call forge calls `invariant_books`, which checks I1, I2, I4 and I5.
@dev `setUp` deploys PerpHandler (which deploys the system); the handler is the
     only fuzz target.
"""

interface Vm:
    def deployCode(artifact: String[64]) -> address: nonpayable
    def envOr(name: String[64], default: String[128]) -> String[128]: view
    def toString(x: uint256) -> String[78]: view
    def writeLine(path: String[128], data: String[600]): nonpayable


interface Handler:
    def usdc() -> address: view
    def fund() -> address: view
    def ch() -> address: view
    def i4_violations() -> uint256: view
    def accepted() -> uint256: view
    def rejected() -> uint256: view
    def liquidations() -> uint256: view
    def bad_debt_liquidations() -> uint256: view
    def liquidations_skipped() -> uint256: view
    def adl_liquidations() -> uint256: view


interface Token:
    def balanceOf(owner: address) -> uint256: view


interface Fund:
    def total_in() -> uint256: view
    def total_out() -> uint256: view


struct MarketState:
    oracle: address
    funding_index: int256
    last_funding_time: uint256
    funding_price: uint256
    funding_pool: int256
    funding_weight: int256
    open_interest: uint256


interface Clearinghouse:
    def market_count() -> uint256: view
    def markets(market: uint256) -> MarketState: view
    def margin(account: address) -> int256: view
    def position(account: address, market: uint256) -> (int256, int256, uint256): view
    def insurance_due() -> uint256: view
    def is_liquidatable(account: address) -> bool: view
    def equity(account: address) -> int256: view
    def account_count() -> uint256: view
    def account_at(i: uint256) -> address: view


VM: constant(address) = 0x7109709ECfa91a80626fF3989D68f67F5b1DD12D
MAX_ACCOUNTS: constant(uint256) = 64
MAX_MARKETS: constant(uint256) = 8

handler: public(address)


@external
def setUp():
    self.handler = extcall Vm(VM).deployCode("PerpHandler.vy:PerpHandler")


@external
@view
def targetContracts() -> DynArray[address, 1]:
    return [self.handler]


@external
def afterInvariant():
    """
    @notice After each run, appends what it reached to the file named by
            PERPVAULT_CAMPAIGN_LOG (under cache/; perpvault prove sums it): calls
            the system accepted and rejected, liquidations done, of accounts
            in debt, with an ADL list, and skipped (no ADL list the contract accepted).
    """
    vm: Vm = Vm(VM)
    path: String[128] = staticcall vm.envOr("PERPVAULT_CAMPAIGN_LOG", "cache/campaign.log")
    h: Handler = Handler(self.handler)
    line: String[600] = concat(
        "accepted=", staticcall vm.toString(staticcall h.accepted()),
        " rejected=", staticcall vm.toString(staticcall h.rejected()),
        " liquidations=", staticcall vm.toString(staticcall h.liquidations()),
        " bad_debt=", staticcall vm.toString(staticcall h.bad_debt_liquidations()),
        " adl=", staticcall vm.toString(staticcall h.adl_liquidations()),
        " skipped=", staticcall vm.toString(staticcall h.liquidations_skipped()),
    )
    extcall vm.writeLine(path, line)


@external
@view
def invariant_books():
    """
    @notice I1: in every market the sizes of every account sum to zero.
            I2: the Clearinghouse's token balance == sum(margin) - sum(open_notional)
                + insurance_due + sum(funding_pool), exactly.
            I4: no liquidation left its account in debt, and with no account
                liquidatable the positive equities sum to at most the balance.
            I5: the fund's token balance == total_in - total_out, exactly.
    """
    h: Handler = Handler(self.handler)
    ch: Clearinghouse = Clearinghouse(staticcall h.ch())
    usdc: Token = Token(staticcall h.usdc())
    fund: address = staticcall h.fund()
    n: uint256 = staticcall ch.account_count()
    assert n <= MAX_ACCOUNTS, "harness: too many accounts"
    k: uint256 = staticcall ch.market_count()
    books: int256 = convert(staticcall ch.insurance_due(), int256)
    for m: uint256 in range(MAX_MARKETS):
        if m >= k:
            break
        books += (staticcall ch.markets(m)).funding_pool
        total: int256 = 0
        for i: uint256 in range(MAX_ACCOUNTS):
            if i >= n:
                break
            q: int256 = 0
            on: int256 = 0
            entry: uint256 = 0
            q, on, entry = staticcall ch.position(staticcall ch.account_at(i), m)
            total += q
            books -= on
        assert total == 0, "I1: sizes do not sum to zero"
    liquidatable: bool = False
    positive: uint256 = 0
    for i: uint256 in range(MAX_ACCOUNTS):
        if i >= n:
            break
        a: address = staticcall ch.account_at(i)
        books += staticcall ch.margin(a)
        if staticcall ch.is_liquidatable(a):
            liquidatable = True
        positive += convert(max(staticcall ch.equity(a), 0), uint256)
    assert convert(staticcall usdc.balanceOf(ch.address), int256) == books, "I2: balance != books"
    assert staticcall h.i4_violations() == 0, "I4: a liquidation left its account in debt"
    if not liquidatable:
        assert positive <= staticcall usdc.balanceOf(ch.address), "I4: positive equity exceeds the balance"
    assert staticcall usdc.balanceOf(fund) == staticcall Fund(fund).total_in() - staticcall Fund(fund).total_out(), "I5: fund balance != in - out"
