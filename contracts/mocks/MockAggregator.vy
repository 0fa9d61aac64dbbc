# pragma version ~=0.4.3
"""
@title MockAggregator
@notice A Chainlink-style aggregator for tests: every `set_answer` opens a round.
@dev Test-only.
"""

decimals: public(uint8)
latest_round: public(uint80)
answers: public(HashMap[uint80, int256])
updated: public(HashMap[uint80, uint256])


@deploy
def __init__(decimals_: uint8, answer: int256):
    """
    @notice Deploys with a first round.
    @param decimals_ Decimals of the answers.
    @param answer The first answer.
    """
    self.decimals = decimals_
    self._push(answer, block.timestamp)


@external
def set_answer(answer: int256, updated_at: uint256):
    """
    @notice Opens a new round with `answer` stamped `updated_at`.
    @param answer The new answer.
    @param updated_at Its timestamp.
    """
    self._push(answer, updated_at)


@external
@view
def latestRoundData() -> (uint80, int256, uint256, uint256, uint80):
    """
    @notice The latest round, Chainlink-style.
    @return uint80 round id, int256 answer, uint256 started at, uint256 updated at, uint80 answered in.
    """
    r: uint80 = self.latest_round
    return r, self.answers[r], self.updated[r], self.updated[r], r


@external
@view
def getRoundData(round_id: uint80) -> (uint80, int256, uint256, uint256, uint80):
    """
    @notice A past round, Chainlink-style.
    @param round_id The round.
    @return uint80 round id, int256 answer, uint256 started at, uint256 updated at, uint80 answered in.
    """
    return round_id, self.answers[round_id], self.updated[round_id], self.updated[round_id], round_id


@internal
def _push(answer: int256, updated_at: uint256):
    r: uint80 = self.latest_round + 1
    self.latest_round = r
    self.answers[r] = answer
    self.updated[r] = updated_at
