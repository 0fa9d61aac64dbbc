# pragma version ~=0.4.3
"""
@title VaultChecks
@notice halmos one-step checks on the LiquidityVault's bytecode: from any storage
        (symbolic share balances, supply, allowances, spread; the vault's equity
        and free collateral in a mock Clearinghouse; the token's balances), share
        transfers, approvals, the spread and vault trades leave totalAssets and
        totalSupply -- the share price -- as they were (a trade's PnL is the
        Clearinghouse's, mocked as a no-op here).
        The rounding checks of deposit/mint/withdraw/redeem are in
        VaultRoundingChecks.vy: they time out (docs/verification.md).
@dev totalAssets and totalSupply below 2**100. A check fails through
     vm.assertTrue; a call that reverts ends its path.
"""

interface Vm:
    def getCode(artifact: String[64]) -> Bytes[49152]: view
    def prank(sender: address): nonpayable
    def assume(condition: bool): nonpayable
    def assertTrue(condition: bool, message: String[64]): nonpayable


interface Svm:
    def createAddress(name: String[32]) -> address: nonpayable
    def enableSymbolicStorage(target: address): nonpayable


interface Vault:
    def totalAssets() -> uint256: view
    def totalSupply() -> uint256: view
    def deposit(assets: uint256, receiver: address) -> uint256: nonpayable
    def mint(shares: uint256, receiver: address) -> uint256: nonpayable
    def withdraw(assets: uint256, receiver: address, owner: address) -> uint256: nonpayable
    def redeem(shares: uint256, receiver: address, owner: address) -> uint256: nonpayable
    def transfer(to: address, amount: uint256) -> bool: nonpayable
    def transferFrom(owner: address, to: address, amount: uint256) -> bool: nonpayable
    def approve(spender: address, amount: uint256) -> bool: nonpayable
    def permit(owner: address, spender: address, amount: uint256, deadline: uint256, v: uint8, r: bytes32, s: bytes32): nonpayable
    def set_spread(spread: uint256): nonpayable
    def trade(market: uint256, size: int256, limit_price: uint256) -> uint256: nonpayable


VM: constant(address) = 0x7109709ECfa91a80626fF3989D68f67F5b1DD12D
SVM: constant(address) = 0xF3993A62377BCd56AE39D773740A5390411E8BC9
BOUND: constant(uint256) = 2**100
OFFSET: constant(uint256) = 10**6

usdc: public(address)
ch: public(address)
vault: public(address)


@external
def setUp():
    vm: Vm = Vm(VM)
    usdc: address = raw_create(staticcall vm.getCode("MockUSDC.vy:MockUSDC"))
    ch: address = raw_create(staticcall vm.getCode("MockClearinghouse.vy:MockClearinghouse"), usdc)
    vault: address = raw_create(staticcall vm.getCode("LiquidityVault.vy:LiquidityVault"), usdc, ch, convert(1_000, uint256))
    self.usdc = usdc
    self.ch = ch
    self.vault = vault
    for target: address in [usdc, ch, vault]:
        extcall Svm(SVM).enableSymbolicStorage(target)


@internal
def _price() -> (uint256, uint256):
    """(totalAssets + 1, totalSupply + 10**6), both assumed below the bound."""
    v: Vault = Vault(self.vault)
    ta: uint256 = staticcall v.totalAssets()
    ts: uint256 = staticcall v.totalSupply()
    extcall Vm(VM).assume(ta < BOUND and ts < BOUND)
    return ta + 1, ts + OFFSET


@internal
def _as(caller: address):
    extcall Vm(VM).assume(caller != self.vault and caller != self.ch and caller != self.usdc)
    extcall Vm(VM).prank(caller)


@internal
def _same(a0: uint256, s0: uint256, what: String[64]):
    a1: uint256 = 0
    s1: uint256 = 0
    a1, s1 = self._price()
    extcall Vm(VM).assertTrue(a1 == a0 and s1 == s0, what)


@external
def check_vault_transfer(to: address, amount: uint256, caller: address):
    a0: uint256 = 0
    s0: uint256 = 0
    a0, s0 = self._price()
    self._as(caller)
    extcall Vault(self.vault).transfer(to, amount)
    self._same(a0, s0, "transfer moved assets or supply")


@external
def check_vault_transferFrom(owner: address, to: address, amount: uint256, caller: address):
    a0: uint256 = 0
    s0: uint256 = 0
    a0, s0 = self._price()
    self._as(caller)
    extcall Vault(self.vault).transferFrom(owner, to, amount)
    self._same(a0, s0, "transferFrom moved assets or supply")


@external
def check_vault_approve(spender: address, amount: uint256, caller: address):
    a0: uint256 = 0
    s0: uint256 = 0
    a0, s0 = self._price()
    self._as(caller)
    extcall Vault(self.vault).approve(spender, amount)
    self._same(a0, s0, "approve moved assets or supply")


@external
def check_vault_set_spread(spread: uint256, caller: address):
    a0: uint256 = 0
    s0: uint256 = 0
    a0, s0 = self._price()
    self._as(caller)
    extcall Vault(self.vault).set_spread(spread)
    self._same(a0, s0, "set_spread moved assets or supply")


@external
def check_vault_trade(market: uint256, size: int256, limit_price: uint256, caller: address):
    a0: uint256 = 0
    s0: uint256 = 0
    a0, s0 = self._price()
    self._as(caller)
    extcall Vault(self.vault).trade(market, size, limit_price)
    self._same(a0, s0, "trade moved assets or supply (mocked fill)")
