"""The keeper of the risk waterfall (SPEC section 6), in three parts:

- `plan`   planning a liquidation on the reference model's own waterfall (`plan_liquidation`,
           the model's `liquidate` in plan mode) and the ADL queue's order (`adl_key`, `adl_queue`)
- `bot`    the keepers that act: `Keeper` through ape, `KeeperBot` over raw JSON-RPC (restarts,
           chain checks), and the `perpvault keeper` command (`register`, `run_bot`)
- `tally`  what happened: waterfall events, `describe` in words, `Tally` of what each layer absorbed
"""

from perpvault.keeper.bot import (
    BotLiquidation,
    ChainGone,
    ChainIdentity,
    Keeper,
    KeeperBot,
    NodeLost,
    dry_run,
    register,
    run_bot,
)
from perpvault.keeper.plan import AdlQueue, NoPlan, Plan, adl_key, adl_queue, plan_liquidation
from perpvault.keeper.tally import (
    WATERFALL_EVENTS,
    Liquidation,
    Tally,
    WaterfallEvent,
    describe,
    model_waterfall_events,
    waterfall_events,
)
from perpvault.model.maths import adl_score

__all__ = [
    "WATERFALL_EVENTS",
    "AdlQueue",
    "BotLiquidation",
    "ChainGone",
    "ChainIdentity",
    "Keeper",
    "KeeperBot",
    "Liquidation",
    "NoPlan",
    "NodeLost",
    "Plan",
    "Tally",
    "WaterfallEvent",
    "adl_key",
    "adl_queue",
    "adl_score",
    "describe",
    "dry_run",
    "model_waterfall_events",
    "plan_liquidation",
    "register",
    "run_bot",
    "waterfall_events",
]
