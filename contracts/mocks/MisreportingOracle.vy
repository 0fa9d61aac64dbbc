# pragma version ~=0.4.3
"""
@title MisreportingOracle
@notice Test double: an oracle whose `latest()` can disagree with its `price()`,
        for the Clearinghouse's listing check (`ch: oracle latest() disagrees`).
"""

served: HashMap[uint256, uint256]
reported: HashMap[uint256, uint256]
reported_at: HashMap[uint256, uint256]


@deploy
def __init__(market: uint256, served_: uint256, reported_: uint256, reported_at_: uint256):
    self.served[market] = served_
    self.reported[market] = reported_
    self.reported_at[market] = reported_at_


@external
@view
def price(market: uint256) -> uint256:
    """
    @notice The price it serves for `market`.
    @param market The market id.
    @return uint256 The served price.
    """
    return self.served[market]


@external
@view
def latest(market: uint256) -> (uint256, uint256):
    """
    @notice The price and time it reports for `market`.
    @param market The market id.
    @return uint256 The reported price.
    @return uint256 The reported time.
    """
    return self.reported[market], self.reported_at[market]
