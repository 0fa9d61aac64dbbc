# pragma version ~=0.4.3
"""
@title VaultChecks
@notice halmos one-step checks on the LiquidityVault's bytecode, from any storage
        (symbolic share balances, supply, allowances, nonces, spread; the vault's
        equity and free collateral in a mock Clearinghouse; the token's balances):
        - transfer, transferFrom, approve, permit, set_spread and trade leave
          totalAssets and totalSupply -- the share price -- as they were (a
          trade's PnL is the Clearinghouse's, mocked as a no-op here);
        - deposit and mint: the supply grows by exactly the shares credited to the
          receiver (an untouched holder keeps its shares), the caller pays exactly
          the assets (deposit's argument, mint's return value), all of them reach
          the Clearinghouse as the vault's margin (equity and free collateral);
        - withdraw and redeem: the supply falls by exactly the shares debited from
          the owner (withdraw's return value, redeem's argument), the receiver gets
          exactly the assets, the vault's books (idle tokens plus margin) fall by
          exactly that, a non-owner caller's finite allowance is spent by exactly
          the shares, no other allowance moves;
        - permit: the owner's nonce grows by one and its allowance for the spender
          becomes the amount; no other nonce, allowance or balance moves.
        - I9's bytecode half: deposit and redeem return exactly the floor, mint and
          withdraw exactly the ceiling of their fraction over the price terms
          totalSupply + 10**6 and totalAssets + 1; totalAssets is max(equity, 0)
          plus idle tokens. perpvault.prove.vault_rounding proves (z3) that these
          and the book movements above never lower the share price. The direct
          form (VaultRoundingChecks.vy) does not finish.
@dev Bounds: totalSupply, totalAssets, the vault's idle tokens, |equity| and the
     call's amount below 2**100 (the vault's maxDeposit is 2**128; USDC's whole
     supply is below 2**56 atoms). withdraw/redeem: the receiver is neither the
     vault nor the Clearinghouse; every check: the caller is none of the three
     deployed contracts.
     A check fails through vm.assertTrue; a call that reverts ends its path. The
     harness avoids forking paths itself: no short-circuit `and`/`or`, unsafe
     (mod 2**256) arithmetic in its comparisons, `_fits` for mul_div's high word.
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
    def balanceOf(owner: address) -> uint256: view
    def allowance(owner: address, spender: address) -> uint256: view
    def nonces(owner: address) -> uint256: view
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


interface Token:
    def balanceOf(owner: address) -> uint256: view


interface Mock:
    def vault_equity() -> int256: view
    def vault_free() -> uint256: view


struct Books:
    supply: uint256  # the vault's totalSupply
    idle: uint256  # the token balance of the vault
    equity: int256  # its equity in the (mock) Clearinghouse
    free: uint256  # its free collateral there
    ch_tokens: uint256  # the token balance of the (mock) Clearinghouse


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
    # Three assumptions, not one `and`: a short-circuit would fork the path.
    extcall Vm(VM).assume(caller != self.vault)
    extcall Vm(VM).assume(caller != self.ch)
    extcall Vm(VM).assume(caller != self.usdc)
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


# --- deposit, mint, withdraw, redeem: the linear accounting (I9's rounding is VaultRoundingChecks) ---
# The comparisons after the call use unsafe (mod 2**256) arithmetic: the harness itself never
# forks on an overflow (halmos would explore each revert as a path); the vault's arithmetic is
# checked, the harness only compares.


@internal
def _books() -> Books:
    """The vault's supply and what the mock Clearinghouse and the token book for it."""
    return Books(
        supply=staticcall Vault(self.vault).totalSupply(),
        idle=staticcall Token(self.usdc).balanceOf(self.vault),
        equity=staticcall Mock(self.ch).vault_equity(),
        free=staticcall Mock(self.ch).vault_free(),
        ch_tokens=staticcall Token(self.usdc).balanceOf(self.ch),
    )


@internal
def _bounded(b: Books, amount: uint256) -> Books:
    """Assumes the supply, the vault's tokens and margin, and the call's amount below 2**100."""
    vm: Vm = Vm(VM)
    extcall vm.assume(amount < BOUND)
    extcall vm.assume(b.supply < BOUND)
    extcall vm.assume(b.idle < BOUND)
    extcall vm.assume(b.equity < convert(BOUND, int256))
    extcall vm.assume(b.equity > -convert(BOUND, int256))
    return b


@internal
@pure
def _u(x: int256) -> uint256:
    """x mod 2**256."""
    return convert(convert(x, bytes32), uint256)


@internal
def _check_in(b0: Books, paid: uint256, minted: uint256, receiver: address, r0: uint256, other: address, o0: uint256,
              payer: address, p0: uint256, what: String[8]):
    """After a deposit or mint: `minted` shares are new, all of them the receiver's; `paid` tokens
    left the payer, reached the Clearinghouse, and the vault's margin (equity and free
    collateral) grew by exactly that; the vault keeps no tokens idle; and the vault was not
    under water (its equity was not negative: I9's lemma needs it)."""
    v: Vault = Vault(self.vault)
    b1: Books = self._books()
    vm: Vm = Vm(VM)
    extcall vm.assertTrue(b0.equity >= 0, concat(what, ": accepted while under water"))
    extcall vm.assertTrue(b1.supply == unsafe_add(b0.supply, minted), concat(what, ": supply moved by other than the shares"))
    extcall vm.assertTrue(staticcall v.balanceOf(receiver) == unsafe_add(r0, minted), concat(what, ": receiver not credited the shares"))
    extcall vm.assertTrue(staticcall v.balanceOf(other) == o0, concat(what, ": an untouched holder's shares moved"))
    extcall vm.assertTrue(unsafe_add(staticcall Token(self.usdc).balanceOf(payer), paid) == p0, concat(what, ": caller paid other than the assets"))
    extcall vm.assertTrue(b1.idle == b0.idle, concat(what, ": tokens left idle in the vault"))
    extcall vm.assertTrue(b1.ch_tokens == unsafe_add(b0.ch_tokens, paid), concat(what, ": clearinghouse got other than the assets"))
    extcall vm.assertTrue(self._u(b1.equity) == unsafe_add(self._u(b0.equity), paid), concat(what, ": margin booked other than the assets"))
    extcall vm.assertTrue(b1.free == unsafe_add(b0.free, paid), concat(what, ": free collateral off the assets"))


@internal
def _check_out(b0: Books, paid: uint256, burned: uint256, owner: address, w0: uint256, other: address, o0: uint256,
               receiver: address, r0: uint256, spent: uint256, a0: uint256, x: address, y: address, xy0: uint256,
               caller: address, what: String[8]):
    """After a withdraw or redeem: `burned` shares are gone, all of them the owner's; `paid` tokens
    reached the receiver and left the vault's books (idle tokens plus margin) by exactly that;
    the caller's allowance from the owner fell by `spent` (the shares, when the caller is not
    the owner and the allowance is finite; else 0); no other allowance moved."""
    v: Vault = Vault(self.vault)
    b1: Books = self._books()
    vm: Vm = Vm(VM)
    extcall vm.assertTrue(unsafe_add(b1.supply, burned) == b0.supply, concat(what, ": supply moved by other than the shares"))
    extcall vm.assertTrue(unsafe_add(staticcall v.balanceOf(owner), burned) == w0, concat(what, ": owner not debited the shares"))
    extcall vm.assertTrue(staticcall v.balanceOf(other) == o0, concat(what, ": an untouched holder's shares moved"))
    extcall vm.assertTrue(staticcall Token(self.usdc).balanceOf(receiver) == unsafe_add(r0, paid), concat(what, ": receiver got other than the assets"))
    extcall vm.assertTrue(unsafe_add(unsafe_add(b1.idle, self._u(b1.equity)), paid) == unsafe_add(b0.idle, self._u(b0.equity)),
                          concat(what, ": books moved by other than the assets"))
    extcall vm.assertTrue(unsafe_add(staticcall v.allowance(owner, caller), spent) == a0, concat(what, ": allowance spent wrong"))
    extcall vm.assertTrue(staticcall v.allowance(x, y) == xy0, concat(what, ": an untouched allowance moved"))


@internal
def _fits(x: uint256, y: uint256):
    """Tells halmos that x * y fits in 256 bits, as snekmate's mul_div computes it:
    mulmod(x, y, 2**256 - 1) equals the low word x * y mod 2**256, so mul_div's high word
    is 0. A theorem here, not a restriction: x, y < 2**101 (the bounds) give
    x * y < 2**202. halmos abstracts both products as uninterpreted functions, so without
    it every conversion would also explore mul_div's 512-bit branch."""
    extcall Vm(VM).assume(uint256_mulmod(x, y, max_value(uint256)) == unsafe_mul(x, y))


@internal
@pure
def _differ(a: address, b: address) -> uint256:
    """Nonzero iff a != b, without a branch."""
    return convert(a, uint256) ^ convert(b, uint256)


@internal
def _spent(caller: address, owner: address, a0: uint256, shares: uint256) -> uint256:
    """What withdraw/redeem must take from the caller's allowance: the shares, unless the
    caller is the owner or the allowance is infinite."""
    # A mask, not a product: halmos abstracts a symbolic multiplication and would have to
    # refine it (with the vault's mul_div terms) to decide the assertion.
    # Bitwise, not `and`: a short-circuit would fork the path.
    charged: uint256 = convert(caller != owner, uint256) & convert(a0 != max_value(uint256), uint256)
    return shares & unsafe_sub(0, charged)


@external
def check_vault_deposit(assets: uint256, receiver: address, caller: address, other: address):
    v: Vault = Vault(self.vault)
    extcall Vm(VM).assume(other != receiver)
    b0: Books = self._bounded(self._books(), assets)
    total: uint256 = staticcall v.totalAssets()
    extcall Vm(VM).assume(total < BOUND)
    self._fits(assets, b0.supply + OFFSET)
    r0: uint256 = staticcall v.balanceOf(receiver)
    o0: uint256 = staticcall v.balanceOf(other)
    p0: uint256 = staticcall Token(self.usdc).balanceOf(caller)
    self._as(caller)
    shares: uint256 = extcall v.deposit(assets, receiver)
    self._check_in(b0, assets, shares, receiver, r0, other, o0, caller, p0, "deposit")


@external
def check_vault_mint(shares: uint256, receiver: address, caller: address, other: address):
    v: Vault = Vault(self.vault)
    extcall Vm(VM).assume(other != receiver)
    b0: Books = self._bounded(self._books(), shares)
    total: uint256 = staticcall v.totalAssets()
    extcall Vm(VM).assume(total < BOUND)
    self._fits(shares, total + 1)
    r0: uint256 = staticcall v.balanceOf(receiver)
    o0: uint256 = staticcall v.balanceOf(other)
    p0: uint256 = staticcall Token(self.usdc).balanceOf(caller)
    self._as(caller)
    assets: uint256 = extcall v.mint(shares, receiver)
    self._check_in(b0, assets, shares, receiver, r0, other, o0, caller, p0, "mint")


@external
def check_vault_withdraw(assets: uint256, receiver: address, owner: address, caller: address, other: address,
                         x: address, y: address):
    v: Vault = Vault(self.vault)
    vm: Vm = Vm(VM)
    extcall vm.assume(other != owner)
    extcall vm.assume(self._differ(x, owner) | self._differ(y, caller) != 0)
    extcall vm.assume(receiver != self.vault)
    extcall vm.assume(receiver != self.ch)
    b0: Books = self._bounded(self._books(), assets)
    total: uint256 = staticcall v.totalAssets()
    extcall Vm(VM).assume(total < BOUND)
    self._fits(assets, b0.supply + OFFSET)
    w0: uint256 = staticcall v.balanceOf(owner)
    o0: uint256 = staticcall v.balanceOf(other)
    r0: uint256 = staticcall Token(self.usdc).balanceOf(receiver)
    a0: uint256 = staticcall v.allowance(owner, caller)
    xy0: uint256 = staticcall v.allowance(x, y)
    self._as(caller)
    shares: uint256 = extcall v.withdraw(assets, receiver, owner)
    self._check_out(b0, assets, shares, owner, w0, other, o0, receiver, r0, self._spent(caller, owner, a0, shares), a0,
                    x, y, xy0, caller, "withdraw")


@external
def check_vault_redeem(shares: uint256, receiver: address, owner: address, caller: address, other: address,
                       x: address, y: address):
    v: Vault = Vault(self.vault)
    vm: Vm = Vm(VM)
    extcall vm.assume(other != owner)
    extcall vm.assume(self._differ(x, owner) | self._differ(y, caller) != 0)
    extcall vm.assume(receiver != self.vault)
    extcall vm.assume(receiver != self.ch)
    b0: Books = self._bounded(self._books(), shares)
    total: uint256 = staticcall v.totalAssets()
    extcall Vm(VM).assume(total < BOUND)
    self._fits(shares, total + 1)
    w0: uint256 = staticcall v.balanceOf(owner)
    o0: uint256 = staticcall v.balanceOf(other)
    r0: uint256 = staticcall Token(self.usdc).balanceOf(receiver)
    a0: uint256 = staticcall v.allowance(owner, caller)
    xy0: uint256 = staticcall v.allowance(x, y)
    self._as(caller)
    assets: uint256 = extcall v.redeem(shares, receiver, owner)
    self._check_out(b0, assets, shares, owner, w0, other, o0, receiver, r0, self._spent(caller, owner, a0, shares), a0,
                    x, y, xy0, caller, "redeem")


# --- permit -----------------------------------------------------------------------------------


@external
def check_vault_permit(owner: address, spender: address, amount: uint256, deadline: uint256, v: uint8, r: bytes32,
                       s: bytes32, caller: address, other: address, x: address, y: address):
    """permit (any signature: halmos models ecrecover as an uninterpreted function, so the
    signer may be anyone) sets the owner's allowance for the spender to `amount` and bumps the
    owner's nonce by one; no other nonce or allowance, no balance, neither total moves."""
    vault: Vault = Vault(self.vault)
    vm: Vm = Vm(VM)
    extcall vm.assume(other != owner)
    extcall vm.assume(self._differ(x, owner) | self._differ(y, spender) != 0)
    a0: uint256 = 0
    s0: uint256 = 0
    a0, s0 = self._price()
    n0: uint256 = staticcall vault.nonces(owner)
    no0: uint256 = staticcall vault.nonces(other)
    b0: uint256 = staticcall vault.balanceOf(x)
    xy0: uint256 = staticcall vault.allowance(x, y)
    self._as(caller)
    extcall vault.permit(owner, spender, amount, deadline, v, r, s)
    extcall vm.assertTrue(staticcall vault.nonces(owner) == unsafe_add(n0, 1), "permit: nonce not bumped by one")
    extcall vm.assertTrue(staticcall vault.allowance(owner, spender) == amount, "permit: allowance not set")
    extcall vm.assertTrue(staticcall vault.nonces(other) == no0, "permit: another nonce moved")
    extcall vm.assertTrue(staticcall vault.allowance(x, y) == xy0, "permit: an untouched allowance moved")
    extcall vm.assertTrue(staticcall vault.balanceOf(x) == b0, "permit: a balance moved")
    self._same(a0, s0, "permit moved assets or supply")


# --- I9, the bytecode half: each conversion is the exact floor/ceil of its fraction -----------
# With the operands below 2**101 (the bounds), x * y < 2**256: unsafe_div(unsafe_mul(x, y), d) is
# floor(x * y / d), and adding (x * y mod d != 0) makes it the ceiling. These checks prove the
# vault's four entry points return exactly that, over the price's own terms S = totalSupply +
# 10**6 and A = totalAssets + 1 read before the call (so: the right operands, the right
# direction, and mul_div's 512-bit branch is never taken). perpvault.prove.vault_rounding proves,
# over unbounded integers, that this rounding with the books' movements (the checks above) never
# lowers the price (A / S) -- I9. halmos abstracts MUL/DIV/MULMOD as uninterpreted functions;
# a pass under that abstraction holds for the real operations too.


@internal
@pure
def _floor(x: uint256, y: uint256, d: uint256) -> uint256:
    return unsafe_div(unsafe_mul(x, y), d)


@internal
@pure
def _ceil(x: uint256, y: uint256, d: uint256) -> uint256:
    return unsafe_add(unsafe_div(unsafe_mul(x, y), d), convert(uint256_mulmod(x, y, d) != 0, uint256))


@internal
def _price_terms(amount: uint256) -> (uint256, uint256):
    """(S, A) = (totalSupply + 10**6, totalAssets + 1), everything below the bounds."""
    v: Vault = Vault(self.vault)
    vm: Vm = Vm(VM)
    ts: uint256 = staticcall v.totalSupply()
    ta: uint256 = staticcall v.totalAssets()
    extcall vm.assume(amount < BOUND)
    extcall vm.assume(ts < BOUND)
    extcall vm.assume(ta < BOUND)
    return ts + OFFSET, ta + 1


@external
def check_vault_deposit_rounds_down(assets: uint256, receiver: address, caller: address):
    S: uint256 = 0
    A: uint256 = 0
    S, A = self._price_terms(assets)
    self._fits(assets, S)
    self._as(caller)
    shares: uint256 = extcall Vault(self.vault).deposit(assets, receiver)
    extcall Vm(VM).assertTrue(shares == self._floor(assets, S, A), "I9: deposit's shares are not floor(assets*S/A)")


@external
def check_vault_mint_rounds_up(shares: uint256, receiver: address, caller: address):
    S: uint256 = 0
    A: uint256 = 0
    S, A = self._price_terms(shares)
    self._fits(shares, A)
    self._as(caller)
    assets: uint256 = extcall Vault(self.vault).mint(shares, receiver)
    extcall Vm(VM).assertTrue(assets == self._ceil(shares, A, S), "I9: mint's assets are not ceil(shares*A/S)")


@external
def check_vault_withdraw_rounds_up(assets: uint256, receiver: address, owner: address, caller: address):
    S: uint256 = 0
    A: uint256 = 0
    S, A = self._price_terms(assets)
    self._fits(assets, S)
    self._as(caller)
    shares: uint256 = extcall Vault(self.vault).withdraw(assets, receiver, owner)
    extcall Vm(VM).assertTrue(shares == self._ceil(assets, S, A), "I9: withdraw's shares are not ceil(assets*S/A)")


@external
def check_vault_redeem_rounds_down(shares: uint256, receiver: address, owner: address, caller: address):
    S: uint256 = 0
    A: uint256 = 0
    S, A = self._price_terms(shares)
    self._fits(shares, A)
    self._as(caller)
    assets: uint256 = extcall Vault(self.vault).redeem(shares, receiver, owner)
    extcall Vm(VM).assertTrue(assets == self._floor(shares, A, S), "I9: redeem's assets are not floor(shares*A/S)")


@external
def check_vault_total_assets():
    """totalAssets() is max(equity, 0) plus the vault's idle tokens (the lemma's A); the
    harness takes the max with a branch, the vault's bytecode without one."""
    v: Vault = Vault(self.vault)
    equity: int256 = staticcall Mock(self.ch).vault_equity()
    idle: uint256 = staticcall Token(self.usdc).balanceOf(self.vault)
    ta: uint256 = staticcall v.totalAssets()
    counted: uint256 = 0
    if equity > 0:
        counted = self._u(equity)
    extcall Vm(VM).assertTrue(unsafe_sub(ta, idle) == counted, "totalAssets is not max(equity, 0) + idle")
