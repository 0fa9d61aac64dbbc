"""The access-control matrix: every privileged entry point x every role, and what happens.

Each cell is the exact outcome of calling the function from that role (an eth_call on a
freshly deployed system): OK, or the revert reason. A reason that is not an access check
means the caller got past authorization and hit the function's own next check (shown in
the docs as "allowed, then ..."). `docs/security.md` shows this table, rendered from this
data by `render()`; a test keeps the two in sync.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from perpvault.chain.deploy import DEFAULT_MARKETS, DEFAULT_RISK
from perpvault.units import size

OK = "OK"
NOT_OWNER = "ownable: caller is not the owner"
NOT_UPDATER = "feed: not updater"
ONLY_CH = "fund: only clearinghouse"
ONLY_BOOK_OR_VAULT = "ch: only order book or vault"
NOT_MINTER = "erc20: access is denied"
ONLY_DELEGATECALL = "liquidator: delegatecall only"
NOTHING_ANNOUNCED = "timelock: nothing announced"
ACCESS_REASONS = {NOT_OWNER, NOT_UPDATER, ONLY_CH, ONLY_BOOK_OR_VAULT, NOT_MINTER, ONLY_DELEGATECALL}

ROLES = ("owner", "oracle_updater", "clearinghouse", "vault", "order_book", "keeper", "trader", "lp", "stranger")


@dataclass(frozen=True)
class Entry:
    contract: str  # attribute of perpvault.chain.System
    function: str
    args: Callable[[Any, dict[str, str]], tuple]  # (system, role addresses) -> call arguments
    allowed: dict[str, str]  # role -> outcome for roles past the access check
    denied: str  # the reason every other role gets

    @property
    def label(self) -> str:
        return f"{self.contract}.{self.function}"

    def expected(self, role: str) -> str:
        return self.allowed.get(role, self.denied)


def _price(system) -> int:
    return system.markets[0].initial_price


ENTRIES: tuple[Entry, ...] = (
    Entry("clearinghouse", "set_vault", lambda s, r: (r["stranger"],), {"owner": "ch: vault already set"}, NOT_OWNER),
    Entry("clearinghouse", "set_order_book", lambda s, r: (r["stranger"],),
          {"owner": "ch: order book already set"}, NOT_OWNER),
    # The new market (id 2) has no price yet: the owner gets past the access check to the oracle read.
    Entry("clearinghouse", "add_market", lambda s, r: (s.feed.address, DEFAULT_MARKETS[0].params()),
          {"owner": "oracle: no price"},
          NOT_OWNER),
    Entry("clearinghouse", "announce_market_params", lambda s, r: (0, DEFAULT_MARKETS[0].params()),
          {"owner": OK}, NOT_OWNER),
    Entry("clearinghouse", "apply_market_params", lambda s, r: (0,), {"owner": "timelock: nothing announced"},
          NOT_OWNER),
    Entry("clearinghouse", "cancel_market_params", lambda s, r: (0,), {"owner": "timelock: nothing announced"},
          NOT_OWNER),
    Entry("clearinghouse", "announce_risk_params", lambda s, r: (DEFAULT_RISK,), {"owner": OK}, NOT_OWNER),
    Entry("clearinghouse", "apply_risk_params", lambda s, r: (), {"owner": "timelock: nothing announced"},
          NOT_OWNER),
    Entry("clearinghouse", "cancel_risk_params", lambda s, r: (), {"owner": "timelock: nothing announced"},
          NOT_OWNER),
    Entry("clearinghouse", "announce_delay", lambda s, r: (2 * 86_400,), {"owner": OK}, NOT_OWNER),
    Entry("clearinghouse", "apply_delay", lambda s, r: (), {"owner": "timelock: nothing announced"}, NOT_OWNER),
    Entry("clearinghouse", "cancel_delay", lambda s, r: (), {"owner": "timelock: nothing announced"}, NOT_OWNER),
    Entry("clearinghouse", "pause", lambda s, r: (), {"owner": OK}, NOT_OWNER),
    Entry("clearinghouse", "unpause", lambda s, r: (), {"owner": "pausable: contract is not paused"}, NOT_OWNER),
    Entry("clearinghouse", "transfer_ownership", lambda s, r: (r["owner"],), {"owner": OK}, NOT_OWNER),
    # A fill between two signed orders: only the OrderBook may settle it.
    Entry("clearinghouse", "fill", lambda s, r: (r["trader"], r["lp"], 0, size(1), _price(s)),
          {"order_book": "ch: insufficient margin"}, ONLY_BOOK_OR_VAULT),
    # A vault trade: the vault may settle fills where it is the maker, and so may the OrderBook.
    Entry("clearinghouse", "fill", lambda s, r: (r["vault"], r["trader"], 0, size(1), _price(s)),
          {"order_book": "ch: insufficient margin", "vault": "ch: insufficient margin"}, ONLY_BOOK_OR_VAULT),
    # The waterfall's code: it runs only by the Clearinghouse's DELEGATECALL, never for a caller.
    Entry("liquidator", "liquidate", lambda s, r: (r["trader"], []), {}, ONLY_DELEGATECALL),
    Entry("fund", "set_clearinghouse", lambda s, r: (r["stranger"],), {"owner": "fund: clearinghouse already set"},
          NOT_OWNER),
    Entry("fund", "receive_revenue", lambda s, r: (1,), {"clearinghouse": "erc20: transfer amount exceeds balance"},
          ONLY_CH),
    Entry("fund", "cover", lambda s, r: (1,), {"clearinghouse": OK}, ONLY_CH),
    Entry("fund", "transfer_ownership", lambda s, r: (r["owner"],), {"owner": OK}, NOT_OWNER),
    Entry("feed", "set_price", lambda s, r: (0, _price(s)), {"oracle_updater": OK}, NOT_UPDATER),
    # The feed's wiring changes through its timelock: on a fresh system nothing is announced yet.
    Entry("feed", "announce_updater", lambda s, r: (r["keeper"],), {"owner": OK}, NOT_OWNER),
    Entry("feed", "apply_updater", lambda s, r: (), {"owner": NOTHING_ANNOUNCED}, NOT_OWNER),
    Entry("feed", "cancel_updater", lambda s, r: (), {"owner": NOTHING_ANNOUNCED}, NOT_OWNER),
    Entry("feed", "announce_bounds", lambda s, r: (3_600, 300_000), {"owner": OK}, NOT_OWNER),
    Entry("feed", "apply_bounds", lambda s, r: (), {"owner": NOTHING_ANNOUNCED}, NOT_OWNER),
    Entry("feed", "cancel_bounds", lambda s, r: (), {"owner": NOTHING_ANNOUNCED}, NOT_OWNER),
    Entry("feed", "announce_delay", lambda s, r: (2 * 86_400,), {"owner": OK}, NOT_OWNER),
    Entry("feed", "apply_delay", lambda s, r: (), {"owner": NOTHING_ANNOUNCED}, NOT_OWNER),
    Entry("feed", "cancel_delay", lambda s, r: (), {"owner": NOTHING_ANNOUNCED}, NOT_OWNER),
    Entry("feed", "transfer_ownership", lambda s, r: (r["owner"],), {"owner": OK}, NOT_OWNER),
    Entry("vault", "set_spread", lambda s, r: (1_000,), {"owner": OK}, NOT_OWNER),
    Entry("vault", "transfer_ownership", lambda s, r: (r["owner"],), {"owner": OK}, NOT_OWNER),
    Entry("usdc", "mint", lambda s, r: (r["stranger"], 1), {"owner": OK}, NOT_MINTER),
)


def _cell(outcome: str, denied: str) -> str:
    if outcome == OK:
        return "✓"
    if outcome == denied:
        return "✗"
    return f"✓ then `{outcome}`"


def render() -> str:
    """The matrix as a markdown table: ✓ allowed, ✗ reverted with the row's access reason,
    "✓ then X" past the access check and stopped by the function's own next check X."""
    head = "| entry point | denied with | " + " | ".join(ROLES) + " |"
    rule = "| --- | --- |" + " --- |" * len(ROLES)
    rows = []
    seen: dict[str, int] = {}
    for e in ENTRIES:
        seen[e.label] = seen.get(e.label, 0) + 1
        label = e.label if seen[e.label] == 1 else f"{e.label} (maker = vault)"
        cells = " | ".join(_cell(e.expected(role), e.denied) for role in ROLES)
        rows.append(f"| `{label}` | `{e.denied}` | {cells} |")
    return "\n".join([head, rule, *rows])
