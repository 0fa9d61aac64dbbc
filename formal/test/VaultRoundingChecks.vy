# pragma version ~=0.4.3
"""
@title VaultRoundingChecks
@notice halmos one-step checks on the LiquidityVault's bytecode (I9, rounding in
        the vault's favour): from any storage (symbolic share balances, supply,
        allowances, spread; the vault's equity and free collateral in a mock
        Clearinghouse; the token's balances), one call of each external
        state-changing function never lowers the price of a share,
        (totalAssets + 1) / (totalSupply + 10**6), the virtual-share formula
        every conversion uses: deposit, mint, withdraw and redeem round so that
        the remaining holders never lose (the other functions leave both
        totals as they were: VaultChecks).
@dev NOT RUN by perpvault prove: the direct form of I9 does not finish. Measured
     on a 2-core machine at load ~5-6: deposit timed out after 344 s with bitwuzla
     (abstraction on) as first written; with the two assumptions below, with
     bitwuzla (abstraction on): deposit TIMEOUT (one query over the 120 s solver
     timeout, 123 s in all), mint TIMEOUT (243 s), withdraw killed unfinished
     after ~200 s, redeem not reached. I9 is proved instead in two halves: VaultChecks'
     check_vault_<fn>_rounds_* (the bytecode returns the exact floor/ceiling of
     its fraction) and perpvault.prove.vault_rounding (z3: that rounding with the
     books' movements never lowers the price). Kept to be run by hand
     (`halmos --contract VaultRoundingChecks`) when a faster solver is at hand.
     Assumptions: the vault's equity is not negative (without it a deposit
     into a vault with negative equity does lower the price: z3's
     counterexample in perpvault.prove.vault_rounding.negative_equity_deposit);
     x * y fits in 256 bits for mul_div's operands (a theorem under the bounds,
     spelled for halmos, which abstracts the products). Bounds: totalAssets,
     totalSupply and amounts below 2**100 (so the cross-multiplied prices fit in
     uint256). A check fails through vm.assertTrue; a call that reverts ends
     its path.
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


interface Mock:
    def vault_equity() -> int256: view


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
def _not_lower(a0: uint256, s0: uint256, a1: uint256, s1: uint256, what: String[64]):
    # a1 / s1 >= a0 / s0, cross-multiplied (all below 2**101).
    extcall Vm(VM).assertTrue(a1 * s0 >= a0 * s1, what)


@internal
def _as(caller: address):
    extcall Vm(VM).assume(caller != self.vault and caller != self.ch and caller != self.usdc)
    extcall Vm(VM).prank(caller)


@external
def check_vault_deposit(assets: uint256, receiver: address, caller: address):
    extcall Vm(VM).assume(assets < BOUND)
    extcall Vm(VM).assume(staticcall Mock(self.ch).vault_equity() >= 0)
    a0: uint256 = 0
    s0: uint256 = 0
    a0, s0 = self._price()
    extcall Vm(VM).assume(uint256_mulmod(assets, s0, max_value(uint256)) == unsafe_mul(assets, s0))
    self._as(caller)
    extcall Vault(self.vault).deposit(assets, receiver)
    a1: uint256 = 0
    s1: uint256 = 0
    a1, s1 = self._price()
    self._not_lower(a0, s0, a1, s1, "I9: deposit lowered the share price")


@external
def check_vault_mint(shares: uint256, receiver: address, caller: address):
    extcall Vm(VM).assume(staticcall Mock(self.ch).vault_equity() >= 0)
    extcall Vm(VM).assume(shares < BOUND)
    a0: uint256 = 0
    s0: uint256 = 0
    a0, s0 = self._price()
    extcall Vm(VM).assume(uint256_mulmod(shares, a0, max_value(uint256)) == unsafe_mul(shares, a0))
    self._as(caller)
    extcall Vault(self.vault).mint(shares, receiver)
    a1: uint256 = 0
    s1: uint256 = 0
    a1, s1 = self._price()
    self._not_lower(a0, s0, a1, s1, "I9: mint lowered the share price")


@external
def check_vault_withdraw(assets: uint256, receiver: address, owner: address, caller: address):
    extcall Vm(VM).assume(staticcall Mock(self.ch).vault_equity() >= 0)
    extcall Vm(VM).assume(assets < BOUND and receiver != self.vault)
    a0: uint256 = 0
    s0: uint256 = 0
    a0, s0 = self._price()
    extcall Vm(VM).assume(uint256_mulmod(assets, s0, max_value(uint256)) == unsafe_mul(assets, s0))
    self._as(caller)
    extcall Vault(self.vault).withdraw(assets, receiver, owner)
    a1: uint256 = 0
    s1: uint256 = 0
    a1, s1 = self._price()
    self._not_lower(a0, s0, a1, s1, "I9: withdraw lowered the share price")


@external
def check_vault_redeem(shares: uint256, receiver: address, owner: address, caller: address):
    extcall Vm(VM).assume(staticcall Mock(self.ch).vault_equity() >= 0)
    extcall Vm(VM).assume(shares < BOUND and receiver != self.vault)
    a0: uint256 = 0
    s0: uint256 = 0
    a0, s0 = self._price()
    extcall Vm(VM).assume(uint256_mulmod(shares, a0, max_value(uint256)) == unsafe_mul(shares, a0))
    self._as(caller)
    extcall Vault(self.vault).redeem(shares, receiver, owner)
    a1: uint256 = 0
    s1: uint256 = 0
    a1, s1 = self._price()
    self._not_lower(a0, s0, a1, s1, "I9: redeem lowered the share price")
