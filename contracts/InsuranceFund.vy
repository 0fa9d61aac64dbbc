# pragma version ~=0.4.3
"""
@title InsuranceFund
@notice The second layer of the risk waterfall: a separate contract with its
        own token balance. Paid in by liquidation penalties, a share of trading
        fees, rounding dust (all swept in by the Clearinghouse) and donations;
        pays out only to the Clearinghouse, to cover bad debt.
@dev I5: `available() == total_in - total_out`, exactly, and the token balance
     equals it unless someone sends tokens around `donate`.
"""

from ethereum.ercs import IERC20
from snekmate.auth import ownable

initializes: ownable

from .interfaces import IInsuranceFund

implements: IInsuranceFund

exports: (ownable.owner, ownable.transfer_ownership)


asset: public(immutable(IERC20))
clearinghouse: public(address)
total_in: public(uint256)
total_out: public(uint256)


event Donated:
    donor: indexed(address)
    amount: uint256


event RevenueReceived:
    amount: uint256


event Covered:
    requested: uint256
    paid: uint256


event ClearinghouseSet:
    clearinghouse: indexed(address)


@deploy
def __init__(asset_: IERC20):
    """
    @notice Deploys the fund for the collateral token `asset_`.
    @param asset_ The collateral token.
    """
    ownable.__init__()
    asset = asset_


@external
def set_clearinghouse(clearinghouse_: address):
    """
    @notice Binds the fund to its Clearinghouse, once (owner only).
    @param clearinghouse_ The only address allowed to pay in revenue and draw cover.
    """
    ownable._check_owner()
    assert self.clearinghouse == empty(address), "fund: clearinghouse already set"
    assert clearinghouse_ != empty(address), "fund: zero address"
    self.clearinghouse = clearinghouse_
    log ClearinghouseSet(clearinghouse=clearinghouse_)


@external
@nonreentrant
def donate(amount: uint256):
    """
    @notice Anyone may add to the fund.
    @param amount Collateral atoms, pulled from the caller.
    """
    assert amount != 0, "fund: zero amount"
    self._pull(msg.sender, amount)
    log Donated(donor=msg.sender, amount=amount)


@external
@nonreentrant
def receive_revenue(amount: uint256):
    """
    @notice Pulls penalties, fees and dust swept by the Clearinghouse.
    @param amount Collateral atoms, pulled from the Clearinghouse.
    """
    assert msg.sender == self.clearinghouse, "fund: only clearinghouse"
    assert amount != 0, "fund: zero amount"
    self._pull(msg.sender, amount)
    log RevenueReceived(amount=amount)


@external
@nonreentrant
def cover(amount: uint256) -> uint256:
    """
    @notice Pays bad debt: sends the Clearinghouse `amount`, or all the fund
            holds if that is less.
    @param amount The shortfall to cover, in collateral atoms.
    @return uint256 What was paid.
    """
    assert msg.sender == self.clearinghouse, "fund: only clearinghouse"
    paid: uint256 = min(amount, self.total_in - self.total_out)
    if paid != 0:
        self.total_out += paid
        assert extcall asset.transfer(msg.sender, paid, default_return_value=True), "fund: transfer failed"
    log Covered(requested=amount, paid=paid)
    return paid


@external
@view
def available() -> uint256:
    """
    @notice What the fund can pay: everything in minus everything out.
    @return uint256 Collateral atoms.
    """
    return self.total_in - self.total_out


@internal
def _pull(source: address, amount: uint256):
    before: uint256 = staticcall asset.balanceOf(self)
    assert extcall asset.transferFrom(source, self, amount, default_return_value=True), "fund: transfer failed"
    # Fee-on-transfer or rebasing collateral would break I5: refuse it.
    assert staticcall asset.balanceOf(self) == before + amount, "fund: token took a fee"
    self.total_in += amount
