# pragma version ~=0.4.3
"""
@title LiquidityVault
@notice The LPs' vault (HLP-like), an ERC-4626 vault of the collateral token.
        Its assets sit as its margin account in the Clearinghouse: it is the
        counterparty of vault trades (oracle price plus a spread) and the
        backstop that takes over liquidated positions at mark, within the
        limits and loss cap the Clearinghouse enforces. Its share price follows
        its equity there, unrealized PnL and funding included.
@dev snekmate's erc4626 module prices shares off `balanceOf(self)`, which
     cannot see clearinghouse equity, so this contract keeps snekmate's erc20
     for the shares and repeats snekmate's conversion maths (virtual shares and
     assets with a decimals offset, against the first-depositor inflation
     attack; rounding in the vault's favour, I9) over `totalAssets()`.
"""

from ethereum.ercs import IERC20
from snekmate.auth import ownable

initializes: ownable

from snekmate.tokens import erc20

initializes: erc20[ownable := ownable]

from snekmate.utils import math
from .modules import constants
from ethereum.ercs import IERC4626
from .interfaces import IClearinghouse
from .interfaces import ILiquidityVault

implements: IERC4626
implements: ILiquidityVault

exports: (
    erc20.transfer,
    erc20.transferFrom,
    erc20.approve,
    erc20.balanceOf,
    erc20.allowance,
    erc20.totalSupply,
    erc20.name,
    erc20.symbol,
    erc20.decimals,
    erc20.nonces,
    erc20.permit,
    erc20.DOMAIN_SEPARATOR,
    erc20.owner,
    # The vault's owner (its spread) can hand the role on. snekmate moves the minter role
    # with it, which gives nothing: `mint` is not exported, shares come only from deposits.
    erc20.transfer_ownership,
)


DECIMALS_OFFSET: constant(uint256) = constants.VAULT_DECIMALS_OFFSET


asset: public(immutable(address))
clearinghouse: public(immutable(IClearinghouse))
spread: public(uint256)


event Deposit:
    sender: indexed(address)
    owner: indexed(address)
    assets: uint256
    shares: uint256


event Withdraw:
    sender: indexed(address)
    receiver: indexed(address)
    owner: indexed(address)
    assets: uint256
    shares: uint256


event VaultTraded:
    trader: indexed(address)
    market: indexed(uint256)
    size: int256
    price: uint256


event SpreadSet:
    spread: uint256


@deploy
def __init__(asset_: IERC20, clearinghouse_: IClearinghouse, spread_: uint256):
    """
    @notice Deploys the vault; shares have 6 + 6 decimals.
    @param asset_ The collateral token.
    @param clearinghouse_ The Clearinghouse holding the vault's margin.
    @param spread_ The quote spread of vault trades, ppm (at most 5%).
    """
    ownable.__init__()
    erc20.__init__("perpvault LP", "pvLP", 12, "perpvault LP", "1")
    asset = asset_.address
    clearinghouse = clearinghouse_
    assert spread_ <= constants.MAX_SPREAD, "vault: spread out of bounds"
    self.spread = spread_
    extcall asset_.approve(clearinghouse_.address, max_value(uint256))


@external
def set_spread(spread_: uint256):
    """
    @notice Sets the vault's quote spread (owner only, at most 5%).
    @param spread_ ppm of the oracle price.
    """
    ownable._check_owner()
    assert spread_ <= constants.MAX_SPREAD, "vault: spread out of bounds"
    self.spread = spread_
    log SpreadSet(spread=spread_)


@external
@nonreentrant
def trade(market: uint256, size: int256, limit_price: uint256) -> uint256:
    """
    @notice Trades `size` against the vault at the oracle price plus the spread
            (minus for a sell); the Clearinghouse checks both sides' margin and
            the vault's notional limit.
    @param market The market id.
    @param size Signed base size: > 0 buys from the vault.
    @param limit_price Worst acceptable price (max for a buy, min for a sell).
    @return uint256 The fill price.
    """
    assert size != 0, "vault: zero size"
    oracle_price: uint256 = staticcall clearinghouse.mark_price(market)
    price: uint256 = 0
    if size > 0:
        price = math._mul_div(oracle_price, constants.PPM + self.spread, constants.PPM, True)
        assert price <= limit_price, "vault: limit violated"
    else:
        price = math._mul_div(oracle_price, constants.PPM - self.spread, constants.PPM, False)
        assert price >= limit_price, "vault: limit violated"
    extcall clearinghouse.fill(self, msg.sender, market, size, price)
    log VaultTraded(trader=msg.sender, market=market, size=size, price=price)
    return price


@external
@view
def totalAssets() -> uint256:
    """
    @notice The vault's equity in the Clearinghouse (0 if negative) plus idle tokens.
    @return uint256 Collateral atoms.
    """
    return self._total_assets()


@external
@view
def convertToShares(assets: uint256) -> uint256:
    """
    @notice Shares for `assets`, rounded down.
    @param assets Collateral atoms.
    @return uint256 Shares.
    """
    return self._to_shares(assets, False)


@external
@view
def convertToAssets(shares: uint256) -> uint256:
    """
    @notice Assets for `shares`, rounded down.
    @param shares Shares.
    @return uint256 Collateral atoms.
    """
    return self._to_assets(shares, False)


@external
@view
def maxDeposit(receiver: address) -> uint256:
    """
    @notice No deposit limit beyond the Clearinghouse's amount bound; none to the
            zero address, none while the vault is under water.
    @param receiver Who would get the shares.
    @return uint256 2**128, or 0 for the zero address or while equity < 0.
    """
    if receiver == empty(address) or self._under_water():
        return 0
    return 2**128


@external
@view
def maxMint(receiver: address) -> uint256:
    """
    @notice No mint limit beyond the Clearinghouse's amount bound; none to the
            zero address, none while the vault is under water.
    @param receiver Who would get the shares.
    @return uint256 2**128, or 0 for the zero address or while equity < 0.
    """
    if receiver == empty(address) or self._under_water():
        return 0
    return 2**128


@external
@view
def maxWithdraw(owner: address) -> uint256:
    """
    @notice What `owner` can withdraw now: its assets, capped by the vault's
            free collateral in the Clearinghouse plus its idle tokens.
    @param owner The share holder.
    @return uint256 Collateral atoms.
    """
    return min(self._to_assets(erc20.balanceOf[owner], False), self._free())


@external
@view
def maxRedeem(owner: address) -> uint256:
    """
    @notice Shares `owner` can redeem now (see maxWithdraw).
    @param owner The share holder.
    @return uint256 Shares.
    """
    free: uint256 = self._to_shares(self._free(), False)
    return min(erc20.balanceOf[owner], free)


@external
@view
def previewDeposit(assets: uint256) -> uint256:
    """
    @notice Shares a deposit of `assets` mints, rounded down.
    @param assets Collateral atoms.
    @return uint256 Shares.
    """
    return self._to_shares(assets, False)


@external
@view
def previewMint(shares: uint256) -> uint256:
    """
    @notice Assets a mint of `shares` costs, rounded up.
    @param shares Shares.
    @return uint256 Collateral atoms.
    """
    return self._to_assets(shares, True)


@external
@view
def previewWithdraw(assets: uint256) -> uint256:
    """
    @notice Shares a withdrawal of `assets` burns, rounded up.
    @param assets Collateral atoms.
    @return uint256 Shares.
    """
    return self._to_shares(assets, True)


@external
@view
def previewRedeem(shares: uint256) -> uint256:
    """
    @notice Assets a redemption of `shares` pays, rounded down.
    @param shares Shares.
    @return uint256 Collateral atoms.
    """
    return self._to_assets(shares, False)


@external
@nonreentrant
def deposit(assets: uint256, receiver: address) -> uint256:
    """
    @notice Deposits `assets` for shares minted to `receiver`.
    @param assets Collateral atoms, pulled from the caller.
    @param receiver Who gets the shares.
    @return uint256 Shares minted.
    """
    shares: uint256 = self._to_shares(assets, False)
    self._deposit(assets, shares, receiver)
    return shares


@external
@nonreentrant
def mint(shares: uint256, receiver: address) -> uint256:
    """
    @notice Mints exactly `shares` to `receiver` for the assets they cost.
    @param shares Shares.
    @param receiver Who gets them.
    @return uint256 Assets pulled.
    """
    assets: uint256 = self._to_assets(shares, True)
    self._deposit(assets, shares, receiver)
    return assets


@external
@nonreentrant
def withdraw(assets: uint256, receiver: address, owner: address) -> uint256:
    """
    @notice Withdraws exactly `assets` to `receiver`, burning `owner`'s shares.
    @param assets Collateral atoms.
    @param receiver Who gets the tokens.
    @param owner Whose shares are burned (the caller, or an approved spender's owner).
    @return uint256 Shares burned.
    """
    shares: uint256 = self._to_shares(assets, True)
    self._withdraw(assets, shares, receiver, owner)
    return shares


@external
@nonreentrant
def redeem(shares: uint256, receiver: address, owner: address) -> uint256:
    """
    @notice Redeems `shares` of `owner` for assets sent to `receiver`.
    @param shares Shares.
    @param receiver Who gets the tokens.
    @param owner Whose shares are burned.
    @return uint256 Assets sent.
    """
    assets: uint256 = self._to_assets(shares, False)
    self._withdraw(assets, shares, receiver, owner)
    return assets


@internal
@view
def _total_assets() -> uint256:
    equity: int256 = staticcall clearinghouse.equity(self)
    return convert(max(equity, 0), uint256) + staticcall IERC20(asset).balanceOf(self)


@internal
@view
def _under_water() -> bool:
    """
    @dev Whether the vault's equity in the Clearinghouse is negative. totalAssets
         counts it as 0 then, so a deposit would first fill the hole and be diluted
         (I9 would fail): deposits wait until the waterfall has restored it.
    """
    return staticcall clearinghouse.equity(self) < 0


@internal
@view
def _free() -> uint256:
    return staticcall clearinghouse.free_collateral(self) + staticcall IERC20(asset).balanceOf(self)


@internal
@view
def _to_shares(assets: uint256, roundup: bool) -> uint256:
    return math._mul_div(assets, erc20.totalSupply + 10**DECIMALS_OFFSET, self._total_assets() + 1, roundup)


@internal
@view
def _to_assets(shares: uint256, roundup: bool) -> uint256:
    return math._mul_div(shares, self._total_assets() + 1, erc20.totalSupply + 10**DECIMALS_OFFSET, roundup)


@internal
def _deposit(assets: uint256, shares: uint256, receiver: address):
    assert assets != 0, "vault: zero assets"
    assert shares != 0, "vault: zero shares"
    assert not self._under_water(), "vault: under water"
    assert extcall IERC20(asset).transferFrom(msg.sender, self, assets, default_return_value=True), "vault: transfer failed"
    extcall clearinghouse.deposit(assets)
    erc20._mint(receiver, shares)
    log Deposit(sender=msg.sender, owner=receiver, assets=assets, shares=shares)


@internal
def _withdraw(assets: uint256, shares: uint256, receiver: address, owner: address):
    assert assets != 0, "vault: zero assets"
    assert shares != 0, "vault: zero shares"
    if msg.sender != owner:
        erc20._spend_allowance(owner, msg.sender, shares)
    erc20._burn(owner, shares)
    # Idle tokens (donations) count in totalAssets, so they pay out first.
    idle: uint256 = staticcall IERC20(asset).balanceOf(self)
    if assets > idle:
        extcall clearinghouse.withdraw(assets - idle)
    assert extcall IERC20(asset).transfer(receiver, assets, default_return_value=True), "vault: transfer failed"
    log Withdraw(sender=msg.sender, receiver=receiver, owner=owner, assets=assets, shares=shares)
