# pragma version ~=0.4.3
"""
@title OrderBookChecks
@notice halmos checks on the OrderBook's bytecode (R1). The OrderBook's storage is
        symbolic (fills and cancellations); its Clearinghouse is this harness, whose
        `fill` only counts the calls, so a match that gets through the OrderBook's
        checks never reverts downstream. halmos treats `ecrecover` as an
        uninterpreted function: a signature may recover to any address, address(0)
        included (what the precompile answers for garbage).
@dev A match is made by `raw_call(..., revert_on_failure=False)`, so a refused match
     is a path that asserts, not a reverted one (no vacuous "all paths revert").
"""

interface Vm:
    def getCode(artifact: String[64]) -> Bytes[49152]: view
    def assume(condition: bool): nonpayable
    def assertTrue(condition: bool, message: String[64]): nonpayable


interface Svm:
    def enableSymbolicStorage(target: address): nonpayable


struct Order:
    account: address
    market: uint256
    size: int256
    limit_price: uint256
    nonce: uint256
    expiry: uint256


VM: constant(address) = 0x7109709ECfa91a80626fF3989D68f67F5b1DD12D
SVM: constant(address) = 0xF3993A62377BCd56AE39D773740A5390411E8BC9

ob: public(address)
fills: public(uint256)


@external
def setUp():
    ob: address = raw_create(staticcall Vm(VM).getCode("OrderBook.vy:OrderBook"), self)
    self.ob = ob
    extcall Svm(SVM).enableSymbolicStorage(ob)


@external
def fill(maker: address, taker: address, market: uint256, taker_size: int256, price: uint256):
    """
    @notice The Clearinghouse's `fill`, as the OrderBook calls it: counted, never refused.
    """
    self.fills += 1


@external
def check_ob_zero_account(maker: Order, maker_signature: Bytes[65], taker: Order, taker_signature: Bytes[65],
                          fill_size: uint256, zero_maker: bool):
    """
    @notice A match whose maker (zero_maker) or taker account is address(0) is refused,
            and nothing reaches the Clearinghouse, whatever the orders, the signatures
            (any bytes; any recovered signer, address(0) included) and the fill size.
    """
    m: Order = maker
    t: Order = taker
    if zero_maker:
        m.account = empty(address)
    else:
        t.account = empty(address)
    before: uint256 = self.fills
    data: Bytes[1024] = abi_encode(m, maker_signature, t, taker_signature, fill_size,
        method_id=method_id("match_orders((address,uint256,int256,uint256,uint256,uint256),bytes,(address,uint256,int256,uint256,uint256,uint256),bytes,uint256)"))
    ok: bool = raw_call(self.ob, data, revert_on_failure=False)
    extcall Vm(VM).assertTrue((not ok) and self.fills == before, "ob: a zero-account order matched")
