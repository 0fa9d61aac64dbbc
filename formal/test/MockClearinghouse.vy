# pragma version ~=0.4.3
"""
@title MockClearinghouse
@notice What the LiquidityVault sees of the Clearinghouse, for VaultChecks:
        the vault's equity and free collateral are storage (symbolic under
        halmos); deposit pulls tokens and adds them to both; withdraw sends
        tokens back within free collateral; fill is a no-op (a trade's PnL is
        not the vault's rounding).
"""

from ethereum.ercs import IERC20

token: public(IERC20)
vault_equity: public(int256)
vault_free: public(uint256)


@deploy
def __init__(token_: IERC20):
    self.token = token_


@external
@view
def equity(account: address) -> int256:
    return self.vault_equity


@external
@view
def free_collateral(account: address) -> uint256:
    return self.vault_free


@external
@view
def mark_price(market: uint256) -> uint256:
    return 10**18


@external
def deposit(amount: uint256):
    assert extcall self.token.transferFrom(msg.sender, self, amount)
    self.vault_equity += convert(amount, int256)
    self.vault_free += amount


@external
def withdraw(amount: uint256):
    assert amount <= self.vault_free
    self.vault_free -= amount
    self.vault_equity -= convert(amount, int256)
    assert extcall self.token.transfer(msg.sender, amount)


@external
def fill(maker: address, taker: address, market: uint256, taker_size: int256, price: uint256):
    pass
