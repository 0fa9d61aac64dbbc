# pragma version ~=0.4.3
"""
@title FundChecks
@notice halmos one-step inductive checks on the InsuranceFund's bytecode: from
        any storage (symbolic: total_in, total_out, owner, clearinghouse, the
        token's balances and allowances) satisfying I5, any caller, any
        arguments, one call of each external state-changing function keeps I5:
        the fund's token balance == total_in - total_out (and out <= in).
@dev Run by `perpvault prove` (halmos --storage-layout generic). A check fails
     through vm.assertTrue; a call that reverts ends its path (no state change).
"""

interface Vm:
    def getCode(artifact: String[64]) -> Bytes[49152]: view
    def prank(sender: address): nonpayable
    def assume(condition: bool): nonpayable
    def assertTrue(condition: bool, message: String[64]): nonpayable


interface Svm:
    def createAddress(name: String[32]) -> address: nonpayable
    def enableSymbolicStorage(target: address): nonpayable


interface Token:
    def balanceOf(owner: address) -> uint256: view


interface Fund:
    def total_in() -> uint256: view
    def total_out() -> uint256: view
    def clearinghouse() -> address: view
    def set_clearinghouse(clearinghouse: address): nonpayable
    def donate(amount: uint256): nonpayable
    def receive_revenue(amount: uint256): nonpayable
    def cover(amount: uint256) -> uint256: nonpayable
    def transfer_ownership(new_owner: address): nonpayable
    def owner() -> address: view


VM: constant(address) = 0x7109709ECfa91a80626fF3989D68f67F5b1DD12D
SVM: constant(address) = 0xF3993A62377BCd56AE39D773740A5390411E8BC9

usdc: public(address)
fund: public(address)


@external
def setUp():
    vm: Vm = Vm(VM)
    usdc: address = raw_create(staticcall vm.getCode("MockUSDC.vy:MockUSDC"))
    self.usdc = usdc
    self.fund = raw_create(staticcall vm.getCode("InsuranceFund.vy:InsuranceFund"), usdc)
    extcall Svm(SVM).enableSymbolicStorage(self.fund)
    extcall Svm(SVM).enableSymbolicStorage(usdc)


@internal
@view
def _i5() -> bool:
    f: Fund = Fund(self.fund)
    t_in: uint256 = staticcall f.total_in()
    t_out: uint256 = staticcall f.total_out()
    return t_out <= t_in and staticcall Token(self.usdc).balanceOf(f.address) == t_in - t_out


@internal
def _as_anyone():
    """The next call comes from a symbolic address (prank right before it)."""
    extcall Vm(VM).prank(extcall Svm(SVM).createAddress("caller"))


@external
def check_fund_donate(amount: uint256):
    extcall Vm(VM).assume(self._i5())
    self._as_anyone()
    extcall Fund(self.fund).donate(amount)
    extcall Vm(VM).assertTrue(self._i5(), "I5 after donate")


@external
def check_fund_receive_revenue(amount: uint256):
    extcall Vm(VM).assume(self._i5())
    self._as_anyone()
    extcall Fund(self.fund).receive_revenue(amount)
    extcall Vm(VM).assertTrue(self._i5(), "I5 after receive_revenue")


@external
def check_fund_cover(amount: uint256):
    """
    @notice Also: pays min(amount, available), never more than it holds, and the
            caller (the clearinghouse) receives exactly that.
    """
    extcall Vm(VM).assume(self._i5())
    f: Fund = Fund(self.fund)
    available: uint256 = staticcall f.total_in() - staticcall f.total_out()
    caller: address = extcall Svm(SVM).createAddress("caller")
    extcall Vm(VM).assume(caller != f.address)
    before: uint256 = staticcall Token(self.usdc).balanceOf(caller)
    extcall Vm(VM).prank(caller)
    paid: uint256 = extcall f.cover(amount)
    extcall Vm(VM).assertTrue(self._i5(), "I5 after cover")
    extcall Vm(VM).assertTrue(paid == min(amount, available), "cover pays min(amount, available)")
    extcall Vm(VM).assertTrue(staticcall Token(self.usdc).balanceOf(caller) == before + paid, "cover: caller gets paid")


@external
def check_fund_set_clearinghouse(clearinghouse: address):
    extcall Vm(VM).assume(self._i5())
    self._as_anyone()
    extcall Fund(self.fund).set_clearinghouse(clearinghouse)
    extcall Vm(VM).assertTrue(self._i5(), "I5 after set_clearinghouse")


@external
def check_fund_transfer_ownership(new_owner: address):
    extcall Vm(VM).assume(self._i5())
    self._as_anyone()
    extcall Fund(self.fund).transfer_ownership(new_owner)
    extcall Vm(VM).assertTrue(self._i5(), "I5 after transfer_ownership")

