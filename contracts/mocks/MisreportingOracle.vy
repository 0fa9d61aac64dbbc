# pragma version ~=0.4.3
"""
@title MisreportingOracle
@notice Test double: an oracle whose `latest()` can disagree with its `price()`,
        for the Clearinghouse's listing check (`ch: oracle latest() disagrees`).
"""

served: uint256
reported: uint256
reported_at: uint256


@deploy
def __init__(served_: uint256, reported_: uint256, reported_at_: uint256):
    self.served = served_
    self.reported = reported_
    self.reported_at = reported_at_


@external
@view
def price(market: uint256) -> uint256:
    """
    @notice The price it serves, for every market.
    @param market Ignored.
    @return uint256 The served price.
    """
    return self.served


@external
@view
def latest(market: uint256) -> (uint256, uint256):
    """
    @notice The price and time it reports, for every market.
    @param market Ignored.
    @return uint256 The reported price.
    @return uint256 The reported time.
    """
    return self.reported, self.reported_at
