"""What a liquidation did, in events and in words, and what each layer of the waterfall absorbed
over many (SPEC section 6: liquidated, bad debt covered, shortfall socialized, deleveraged)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from perpvault.model.maths import notional
from perpvault.units import fmt_usdc

WATERFALL_EVENTS = ("Liquidated", "BadDebtCovered", "ShortfallSocialized", "Deleveraged")

# The waterfall events' fields in Clearinghouse.vy's declaration order, which is the order the
# model logs them in (perpvault.model.exchange.World.log: (name, *fields)).
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    "Liquidated": ("account", "keeper", "market", "size", "price", "penalty", "keeper_reward", "to_vault"),
    "BadDebtCovered": ("account", "amount"),
    "ShortfallSocialized": ("account", "amount"),
    "Deleveraged": ("bankrupt", "counterparty", "market", "size", "price", "haircut"),
}


@dataclass(frozen=True)
class WaterfallEvent:
    name: str
    args: dict[str, Any]


def waterfall_events(receipt: Any) -> list[WaterfallEvent]:
    """The Liquidated / BadDebtCovered / ShortfallSocialized / Deleveraged logs of an ape receipt, in order."""
    out = []
    for log in receipt.events:
        if log.event_name in WATERFALL_EVENTS:
            out.append(WaterfallEvent(log.event_name, {k: v for k, v in log.event_arguments.items()}))
    return out


def model_waterfall_events(events: list[tuple]) -> list[WaterfallEvent]:
    """The waterfall events among the reference model's `(name, *fields)` events, in order."""
    return [WaterfallEvent(e[0], dict(zip(EVENT_FIELDS[e[0]], e[1:], strict=True)))
            for e in events if e[0] in WATERFALL_EVENTS]


# --- events in plain words --------------------------------------------------------------------


def _size(q: int) -> str:
    return f"{abs(q) / 10**18:,.6f}".rstrip("0").rstrip(".")


def _price(p: int) -> str:
    return f"{p / 10**18:,.4f}"


def describe(event: WaterfallEvent, names: dict[str, str] | None = None) -> str:
    """One waterfall event as a sentence. `names` maps addresses to role names."""
    names = {k.lower(): v for k, v in (names or {}).items()}

    def who(address: str) -> str:
        return names.get(str(address).lower(), str(address)[:10])

    a = event.args
    if event.name == "Liquidated":
        side = "sold" if a["size"] < 0 else "bought back"
        to = "the LiquidityVault took it" if a["to_vault"] else "closed against ADL counterparties"
        return (
            f"{who(a['account'])} liquidated in market {a['market']}: {side} {_size(a['size'])} at mark "
            f"{_price(a['price'])} ({to}); penalty {fmt_usdc(a['penalty'])} USDC, of which "
            f"{fmt_usdc(a['keeper_reward'])} to keeper {who(a['keeper'])}"
        )
    if event.name == "BadDebtCovered":
        return f"the insurance fund covered {fmt_usdc(a['amount'])} USDC of {who(a['account'])}'s bad debt"
    if event.name == "ShortfallSocialized":
        return (
            f"{fmt_usdc(a['amount'])} USDC of {who(a['account'])}'s bad debt exceeded the fund "
            f"and was socialized by ADL"
        )
    if event.name == "Deleveraged":
        side = "short" if a["size"] > 0 else "long"
        return (
            f"{who(a['counterparty'])} auto-deleveraged in market {a['market']}: {side} cut by "
            f"{_size(a['size'])} at ADL price {_price(a['price'])} against bankrupt "
            f"{who(a['bankrupt'])}, giving up {fmt_usdc(a['haircut'])} USDC vs mark"
        )
    return f"{event.name}({a})"


@dataclass
class Liquidation:
    """One sent liquidation: the list used, the receipt and its waterfall events."""

    account: str
    counterparties: list[str]
    receipt: Any
    events: list[WaterfallEvent]

    def describe(self, names: dict[str, str] | None = None) -> list[str]:
        return [describe(e, names) for e in self.events]


# --- what each layer absorbed -----------------------------------------------------------------


@dataclass
class Tally:
    """What each layer of the waterfall absorbed over a set of liquidations (atoms)."""

    liquidations: int = 0
    liquidated_accounts: set[str] = field(default_factory=set)
    to_vault_notional: int = 0  # closed at mark into the LiquidityVault
    to_adl_notional: int = 0  # closed against ADL counterparties
    penalties: int = 0
    keeper_rewards: int = 0
    fund_cover: int = 0  # bad debt the insurance fund paid
    socialized: int = 0  # shortfall beyond the fund, per ShortfallSocialized
    haircuts: int = 0  # what the counterparties gave up vs mark, per Deleveraged
    deleveraged: set[str] = field(default_factory=set)
    deleverage_events: int = 0

    def add(self, liquidation: Liquidation) -> None:
        self.add_events(liquidation.account, [(e.name, e.args) for e in liquidation.events])

    def add_events(self, account: str, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Count one liquidation of `account` from its waterfall events, (name, fields) in order."""
        self.liquidations += 1
        self.liquidated_accounts.add(str(account))
        for name, a in events:
            if name == "Liquidated":
                n = notional(a["size"], a["price"])
                if a["to_vault"]:
                    self.to_vault_notional += n
                else:
                    self.to_adl_notional += n
                self.penalties += a["penalty"]
                self.keeper_rewards += a["keeper_reward"]
            elif name == "BadDebtCovered":
                self.fund_cover += a["amount"]
            elif name == "ShortfallSocialized":
                self.socialized += a["amount"]
            elif name == "Deleveraged":
                self.haircuts += a["haircut"]
                self.deleveraged.add(str(a["counterparty"]).lower())
                self.deleverage_events += 1

    def lines(self) -> list[str]:
        return [
            f"liquidations: {self.liquidations}",
            f"closed into the LiquidityVault at mark: {fmt_usdc(self.to_vault_notional)} USDC notional",
            f"closed against ADL counterparties: {fmt_usdc(self.to_adl_notional)} USDC notional",
            f"penalties: {fmt_usdc(self.penalties)} USDC (keepers {fmt_usdc(self.keeper_rewards)})",
            f"bad debt covered by the insurance fund: {fmt_usdc(self.fund_cover)} USDC",
            f"shortfall socialized by ADL: {fmt_usdc(self.socialized)} USDC over "
            f"{len(self.deleveraged)} counterparties; their haircuts sum to {fmt_usdc(self.haircuts)} USDC "
            f"({'exactly the shortfall' if self.haircuts == self.socialized else 'MISMATCH'})",
        ]


__all__ = [
    "EVENT_FIELDS",
    "WATERFALL_EVENTS",
    "Liquidation",
    "Tally",
    "WaterfallEvent",
    "describe",
    "model_waterfall_events",
    "waterfall_events",
]
