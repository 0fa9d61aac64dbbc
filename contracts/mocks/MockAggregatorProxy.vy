# pragma version ~=0.4.3
"""
@title MockAggregatorProxy
@notice A Chainlink-style proxy for tests: it serves one phase aggregator at a
        time and numbers rounds `phaseId << 64 | aggregatorRoundId`, as the real
        `EACAggregatorProxy` does; `set_aggregator` starts the next phase.
@dev Test-only. A round of a phase whose aggregator has no such round reads as
     zeros, as the mock aggregator returns them.
"""

from ..interfaces import IAggregatorV3

ROUND_MASK: constant(uint256) = 2**64 - 1

phaseId: public(uint16)
phaseAggregators: public(HashMap[uint16, IAggregatorV3])


@deploy
def __init__(aggregator: IAggregatorV3):
    """
    @notice Deploys with `aggregator` as phase 1.
    @param aggregator The first phase's aggregator.
    """
    self.phaseId = 1
    self.phaseAggregators[1] = aggregator


@external
def set_aggregator(aggregator: IAggregatorV3):
    """
    @notice Starts the next phase, served by `aggregator`.
    @param aggregator The new phase's aggregator.
    """
    p: uint16 = self.phaseId + 1
    self.phaseId = p
    self.phaseAggregators[p] = aggregator


@external
@view
def decimals() -> uint8:
    """
    @notice The current aggregator's decimals.
    @return uint8 Decimals of the answers.
    """
    return staticcall self.phaseAggregators[self.phaseId].decimals()


@external
@view
def latestRoundData() -> (uint80, int256, uint256, uint256, uint80):
    """
    @notice The current phase's latest round, with a phased round id.
    @return uint80 round id, int256 answer, uint256 started at, uint256 updated at, uint80 answered in.
    """
    p: uint16 = self.phaseId
    r: uint80 = 0
    a: int256 = 0
    s: uint256 = 0
    u: uint256 = 0
    i: uint80 = 0
    r, a, s, u, i = staticcall self.phaseAggregators[p].latestRoundData()
    return self._phased(p, r), a, s, u, self._phased(p, i)


@external
@view
def getRoundData(round_id: uint80) -> (uint80, int256, uint256, uint256, uint80):
    """
    @notice A past round by its phased id.
    @param round_id `phaseId << 64 | aggregatorRoundId`.
    @return uint80 round id, int256 answer, uint256 started at, uint256 updated at, uint80 answered in.
    """
    rid: uint256 = convert(round_id, uint256)
    p: uint16 = convert(rid >> 64, uint16)
    n: uint80 = convert(rid & ROUND_MASK, uint80)
    agg: IAggregatorV3 = self.phaseAggregators[p]
    assert agg.address != empty(address), "No data present"
    r: uint80 = 0
    a: int256 = 0
    s: uint256 = 0
    u: uint256 = 0
    i: uint80 = 0
    r, a, s, u, i = staticcall agg.getRoundData(n)
    return round_id, a, s, u, self._phased(p, i)


@internal
@pure
def _phased(p: uint16, n: uint80) -> uint80:
    return convert((convert(p, uint256) << 64) | convert(n, uint256), uint80)
