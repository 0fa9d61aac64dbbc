"""perpvault.model: the executable specification, a pure-Python twin of the contracts.

Same integer arithmetic and rounding as the contracts (Vyper's truncating `//`, checked
int256/uint256, snekmate's ceil_div/mul_div); it must agree with them on every balance after
every step. One module per contract, read beside it:

- `maths`          perp_math.vy twins (same names) and the EVM integer rules, `Revert`
- `state`          the structs and storage as dataclasses
- `clearinghouse`  Clearinghouse.vy, function by function
- `periphery`      MockUSDC (erc20), PriceFeed, InsuranceFund, LiquidityVault, OrderBook
- `exchange`       `Exchange`: the whole system, one transaction per method (a revert
                   restores every contract's state), `at(t)` sets block.timestamp,
                   `last_events` holds the last transaction's events
- `compare`        `model_events(model, names)`: the last transaction's events by name

It imports nothing of ape or the chain: loading the model from a chain and diffing the two is
`perpvault.chain.compare` (`model_from_chain`, `diff`).

    ex = Exchange.with_defaults(owner, updater)        # or perpvault.chain.compare.model_from_chain
    ex.mint(trader, 10**12); ex.approve(trader, ex.ch.address); ex.deposit(trader, 10**10)
    ex.at(t).liquidate(keeper, account, counterparties)
"""

from perpvault.model.exchange import Addresses, Exchange, World
from perpvault.model.maths import Revert
from perpvault.model.state import (
    Account,
    Health,
    MarketParams,
    MarketState,
    Order,
    Position,
    RiskParams,
    addr,
)

__all__ = [
    "Account",
    "Addresses",
    "Exchange",
    "Health",
    "MarketParams",
    "MarketState",
    "Order",
    "Position",
    "Revert",
    "RiskParams",
    "World",
    "addr",
]
