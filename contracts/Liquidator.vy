# pragma version ~=0.4.3
# pragma optimize codesize
"""
@title Liquidator
@notice The risk waterfall of SPEC section 6 (liquidation -> LiquidityVault ->
        InsuranceFund -> ADL) as code the Clearinghouse runs on its own storage:
        `Clearinghouse.liquidate` DELEGATECALLs `liquidate` here. It moved out
        of the Clearinghouse for bytecode room (EIP-170), the way Aave v3's Pool
        keeps its LiquidationLogic apart.
@dev Trust boundary (docs/mechanism.md section 1): this contract holds no state
     and no privilege. It initializes the same modules in the same order as the
     Clearinghouse, so its storage layout is the Clearinghouse's
     (tests/unit/test_contract_layout.py); called directly it reverts, so its
     code only ever runs on the Clearinghouse's books. The Clearinghouse fixes
     its address at deploy (an immutable: no owner can swap it) and checks that
     it was deployed over the same collateral and insurance fund.
"""

from ethereum.ercs import IERC20
from snekmate.auth import ownable

initializes: ownable

from snekmate.utils import pausable

initializes: pausable

from .modules import constants
from .modules import parameters

initializes: parameters

from .modules import ledger

initializes: ledger

from .modules import funding

initializes: funding[ledger := ledger, parameters := parameters]

from .modules import margin_rule

initializes: margin_rule[pausable := pausable, ledger := ledger, parameters := parameters, funding := funding]

from .modules import trading

initializes: trading[ledger := ledger, parameters := parameters, funding := funding, margin_rule := margin_rule]

from .modules import adl

initializes: adl[ledger := ledger, parameters := parameters, funding := funding, margin_rule := margin_rule]

from .modules import waterfall

initializes: waterfall[ledger := ledger, parameters := parameters, funding := funding, margin_rule := margin_rule, trading := trading, adl := adl]

from .modules import timelock

initializes: timelock

from .modules import param_changes

initializes: param_changes[timelock := timelock, parameters := parameters, ledger := ledger, funding := funding]

from .interfaces import IInsuranceFund
from .interfaces import ILiquidator

implements: ILiquidator

exports: (ledger.collateral, ledger.insurance_fund)


# @dev This contract's own address: code running here by DELEGATECALL sees another `self`.
SELF: immutable(address)


@deploy
def __init__(collateral_: IERC20, insurance_fund_: IInsuranceFund):
    """
    @notice Deploys the waterfall engine for a Clearinghouse over `collateral_`
            and `insurance_fund_` (the Clearinghouse checks both).
    @param collateral_ The collateral token.
    @param insurance_fund_ The InsuranceFund that covers bad debt.
    """
    ownable.__init__()
    pausable.__init__()
    ledger.__init__(collateral_, insurance_fund_)
    SELF = self


@external
def liquidate(account: address, counterparties: DynArray[address, constants.MAX_ADL]):
    """
    @notice The body of `Clearinghouse.liquidate` (see there): runs the waterfall
            on `account` if its equity is below its maintenance requirement.
    @dev Only by DELEGATECALL from the Clearinghouse, whose `liquidate` holds
         the reentrancy lock. Each pass closes (partially first, then fully if
         the account is still below maintenance), charges, covers bad debt,
         splits the shortfall and closes to the vault or by ADL.
    @param account The account to liquidate.
    @param counterparties The ADL counterparties, per ADL'd position in
           market-id order, each in ADL rank order.
    """
    assert self != SELF, "liquidator: delegatecall only"
    assert ledger.is_known[account], "ch: unknown account"
    funding._settle_all(account, constants.MAX_MARKETS)
    h: margin_rule.Health = margin_rule._health(account)
    assert h.maintenance != 0 and h.equity < convert(h.maintenance, int256), "ch: not liquidatable"
    ledger._remember(msg.sender)
    cursor: uint256 = 0
    # First a partial liquidation where one can restore maintenance; if the
    # account is still below it afterwards, everything closes.
    for attempt: uint256 in range(2):
        cursor = waterfall._liquidate(account, h, counterparties, cursor, attempt == 0)
        h = margin_rule._health(account)
        if h.equity >= convert(h.maintenance, int256):
            break
    # I4: the waterfall never leaves the account with debt.
    assert h.equity >= 0, "ch: waterfall left debt"
