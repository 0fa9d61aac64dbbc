# pragma version ~=0.4.3
"""
@title param_changes
@notice The owner's parameter changes, announced and applied after the delay
        (SPEC section 1, E4): what is in force never changes at the announce,
        every trader sees the change coming, and nobody can make an account
        at or above maintenance liquidatable before the delay has passed.
        While a market change is pending, risk is opened against the stricter
        of the two initial margin ratios, so a position opened in the window
        already meets the requirement that will apply.
@dev The pending market parameters are stored whole; their `imr` is also
     written into the top lane of the market's rate word, where `_rates`
     reads the stricter initial ratio without another storage read.
"""

from . import constants
from . import timelock
from . import parameters
from . import ledger
from . import funding

uses: timelock
uses: parameters
uses: ledger
uses: funding


# @dev Per market: the announced parameters and when they may apply (0: none).
pending_params: public(HashMap[uint256, parameters.MarketParams])
pending_params_eta: public(HashMap[uint256, uint256])
# @dev The announced risk parameters and when they may apply (0: none).
pending_risk: public(parameters.RiskParams)
pending_risk_eta: public(uint256)


# @dev A market's new parameters were announced; they may apply from `eta`.
event MarketParamsAnnounced:
    market: indexed(uint256)
    eta: uint256


# @dev A market's announced parameters were withdrawn.
event MarketParamsCancelled:
    market: indexed(uint256)


# @dev New risk parameters were announced; they may apply from `eta`.
event RiskParamsAnnounced:
    keeper_share: uint256
    eta: uint256


# @dev The announced risk parameters were withdrawn.
event RiskParamsCancelled:
    keeper_share: uint256


@internal
def _announce_market_params(market: uint256, p: parameters.MarketParams):
    ledger._check_market(market)
    parameters._check_params(p)
    eta: uint256 = timelock._eta()
    self.pending_params[market] = p
    self.pending_params_eta[market] = eta
    parameters._set_pending_imr(market, p.imr)
    log MarketParamsAnnounced(market=market, eta=eta)


@internal
def _apply_market_params(market: uint256):
    timelock._check_due(self.pending_params_eta[market])
    funding._accrue(market)
    parameters._set_params(market, self.pending_params[market])
    self._clear_market_params(market)
    log parameters.MarketParamsSet(market=market)


@internal
def _cancel_market_params(market: uint256):
    assert self.pending_params_eta[market] != 0, "timelock: nothing announced"
    self._clear_market_params(market)
    parameters._set_pending_imr(market, 0)
    log MarketParamsCancelled(market=market)


@internal
def _clear_market_params(market: uint256):
    self.pending_params[market] = empty(parameters.MarketParams)
    self.pending_params_eta[market] = 0


@internal
def _announce_risk_params(r: parameters.RiskParams):
    parameters._check_risk(r)
    eta: uint256 = timelock._eta()
    self.pending_risk = r
    self.pending_risk_eta = eta
    log RiskParamsAnnounced(keeper_share=r.keeper_share, eta=eta)


@internal
def _apply_risk_params():
    timelock._check_due(self.pending_risk_eta)
    parameters._set_risk(self.pending_risk)
    self._clear_risk_params()


@internal
def _cancel_risk_params():
    assert self.pending_risk_eta != 0, "timelock: nothing announced"
    log RiskParamsCancelled(keeper_share=self.pending_risk.keeper_share)
    self._clear_risk_params()


@internal
def _clear_risk_params():
    self.pending_risk = empty(parameters.RiskParams)
    self.pending_risk_eta = 0
