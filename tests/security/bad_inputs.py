"""The bad-input catalogue: every class of bad input, the call that carries it, and its reason.

Each runnable entry (:class:`Case`) is checked by ``tests/security/test_bad_input_catalogue.py``
on the `book` fixture (funded traders, a funded vault, one open BTC position): the call's
``eth_call`` (the keeper's ``dry_run``) reverts with exactly `reason`, the same call sent as a
real transaction is mined reverted, and a full read of the books before and after is equal.
Entries tested elsewhere (:class:`Elsewhere`) name their test; the catalogue test checks that
test exists. A `gap` is a class whose refusal needs a contract change: its test is
``xfail(strict=True)`` until the contract gives the reason. ``docs/security.md`` shows the
numbered table rendered by :func:`render`; a test keeps the two in sync.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from perpvault.chain.actions import fund_account, set_price
from perpvault.chain.deploy import DEFAULT_MARKETS, DEFAULT_RISK, ORACLE_MAX_AGE, TIMELOCK_DELAY
from perpvault.chain.orders import Order, sign_order
from perpvault.model.constants import GRACE_PERIOD, MAX_ADL, MAX_MIN_NOTIONAL
from perpvault.units import size, usdc
from tests.security.doc_tables import markdown_table

MAX_UINT = 2**256 - 1
MAX_INT = 2**255 - 1
MIN_INT = -(2**255)
MAX_AMOUNT = 2**128  # largest deposit/withdrawal (mechanism.md section 2)
MAX_SIZE = 10**36  # largest size
MAX_PRICE = 10**36  # largest oracle price
FAR = 2**40  # an expiry far in the future
BTC = DEFAULT_MARKETS[0].initial_price
ZERO = "0x" + "00" * 20


@dataclass
class Ctx:
    """What a case's arguments and setup are built from."""

    system: Any
    roles: dict[str, Any]
    chain: Any
    project: Any
    extra: dict[str, Any] = field(default_factory=dict)  # contracts a setup deployed

    def addr(self, role: str) -> str:
        return self.roles[role].address

    def order(
        self,
        role: str,
        market: int,
        order_size: int,
        limit: int = BTC,
        nonce: int = 1,
        expiry: int = FAR,
        *,
        signer: str | None = None,
        chain_id: int | None = None,
        book: str | None = None,
    ) -> tuple[tuple, bytes]:
        """An order of `role` and its signature (by `signer`'s key, for `chain_id`/`book`)."""
        o = Order(self.addr(role), market, order_size, limit, nonce, expiry)
        sig = sign_order(
            self.roles[signer or role].private_key,
            o,
            chain_id=self.chain.chain_id if chain_id is None else chain_id,
            order_book=book or self.system.order_book.address,
        )
        return o.as_tuple(), sig

    def match(self, maker: tuple[tuple, bytes], taker: tuple[tuple, bytes], fill: int) -> tuple:
        """match_orders arguments."""
        return (maker[0], maker[1], taker[0], taker[1], fill)

    def pair(self, taker_size: int, fill: int | None = None, *, market: int = 0, limit: int = BTC,
             nonce: int = 1) -> tuple:
        """A trader buys (> 0) or sells `taker_size` from/to the maker at `limit`."""
        return self.match(
            self.order("maker", market, -taker_size, limit, nonce),
            self.order("trader", market, taker_size, limit, nonce),
            abs(taker_size) if fill is None else fill,
        )


@dataclass(frozen=True)
class Case:
    """One class of bad input, run as a call and refused with `reason`."""

    title: str
    target: str  # attribute of the System (or "extra.<name>" for a contract a setup deployed)
    function: str
    sender: str  # role
    reason: str
    args: Callable[[Ctx], tuple]
    setup: Callable[[Ctx], None] | None = None
    gap: str = ""  # why the contract does not give `reason` yet (xfail until it does)

    @property
    def call(self) -> str:
        return f"{self.target.removeprefix('extra.')}.{self.function}"


@dataclass(frozen=True)
class Elsewhere:
    """A class of bad input tested by its own test (path::name)."""

    title: str
    call: str
    reason: str
    where: str


# --- setups (applied inside the test, undone by ape's isolation) ------------------------------


def _pause(c: Ctx) -> None:
    c.system.clearinghouse.pause(sender=c.system.owner)


def _stale(c: Ctx) -> None:
    c.chain.mine(timestamp=c.chain.pending_timestamp + ORACLE_MAX_AGE + 1)


def _fill_fixed_pair(c: Ctx) -> None:
    """The maker's and trader's nonce-7 orders for 0.01 BTC, filled completely."""
    c.system.order_book.match_orders(*c.pair(size("0.01"), nonce=7), sender=c.roles["trader"])


def _maker_cancels_nonce_7(c: Ctx) -> None:
    c.system.order_book.cancel_order(7, sender=c.roles["maker"])


def _vault_under_water(c: Ctx) -> None:
    """The trader buys 80 BTC from the vault (4.8M short on its 1M) and BTC rises 25%: the
    vault's equity goes below zero. The LP holds 1,000 USDC to deposit."""
    s, trader = c.system, c.roles["trader"]
    fund_account(s, trader, usdc(2_000_000))
    s.vault.trade(0, size(80), BTC * 2, sender=trader)
    set_price(s, 0, BTC * 125 // 100)
    assert s.clearinghouse.equity(s.vault) < 0
    s.usdc.mint(c.roles["lp"], usdc(1_000), sender=s.owner)


def _chainlink_with_19_decimals(c: Ctx) -> None:
    owner = c.system.owner
    c.extra["aggregator"] = c.project.MockAggregator.deploy(19, 60_000 * 10**19, sender=owner)
    c.extra["adapter"] = c.project.ChainlinkAdapter.deploy(3_600, 300_000, TIMELOCK_DELAY, sender=owner)


def _updater_announced(c: Ctx) -> None:
    c.system.feed.announce_updater(c.addr("keeper"), sender=c.system.owner)


def _bounds_announced_long_ago(c: Ctx) -> None:
    """Bounds announced, then the delay and the whole grace period pass (one second more)."""
    c.system.feed.announce_bounds(7_200, 300_000, sender=c.system.owner)
    c.chain.mine(timestamp=c.chain.pending_timestamp + TIMELOCK_DELAY + GRACE_PERIOD + 1)


def _chainlink_feed_set(c: Ctx) -> None:
    """An adapter whose market 0 already reads an aggregator at 60,000 (8 decimals)."""
    owner = c.system.owner
    c.extra["aggregator"] = c.project.MockAggregator.deploy(8, 60_000 * 10**8, sender=owner)
    c.extra["adapter"] = c.project.ChainlinkAdapter.deploy(3_600, 300_000, TIMELOCK_DELAY, sender=owner)
    c.extra["adapter"].set_feed(0, c.extra["aggregator"], sender=owner)


def _chainlink_new_phase(c: Ctx, first_answer: int, previous_phase: Any = None) -> None:
    """An adapter over a proxy whose phase 1 answered 60,000; a new phase opens with `first_answer`
    (after a phase served by `previous_phase`, if given)."""
    owner, p = c.system.owner, c.project
    old = p.MockAggregator.deploy(8, 60_000 * 10**8, sender=owner)
    proxy = p.MockAggregatorProxy.deploy(old, sender=owner)
    if previous_phase is not None:
        proxy.set_aggregator(previous_phase(c), sender=owner)
    proxy.set_aggregator(p.MockAggregator.deploy(8, first_answer, sender=owner), sender=owner)
    c.extra["adapter"] = p.ChainlinkAdapter.deploy(3_600, 300_000, TIMELOCK_DELAY, sender=owner)
    c.extra["adapter"].set_feed(0, proxy, sender=owner)


def _announce_btc(c: Ctx) -> None:
    """The owner announces BTC's parameters unchanged: due one delay from now."""
    c.system.clearinghouse.announce_market_params(0, _market(), sender=c.system.owner)


def _announce_btc_and_wait_past_grace(c: Ctx) -> None:
    _announce_btc(c)
    ch = c.system.clearinghouse
    c.chain.mine(timestamp=ch.pending_params_eta(0) + GRACE_PERIOD + 1)


def _compact(signed_order: tuple[tuple, bytes]) -> tuple[tuple, bytes]:
    """The same signature in EIP-2098's 64 bytes: r, then s with v - 27 in its top bit."""
    o, sig = signed_order
    vs = int.from_bytes(sig[32:64], "big") | (sig[64] - 27) << 255
    return o, sig[:32] + vs.to_bytes(32, "big")


def _market(**changes: Any) -> tuple:
    return replace(DEFAULT_MARKETS[0], **changes).params()


def _risk(**changes: int) -> tuple:
    names = ("liquidation_buffer", "keeper_share", "fund_fee_share", "vault_max_drawdown", "vault_window")
    values = dict(zip(names, DEFAULT_RISK))
    values.update(changes)
    return tuple(values[n] for n in names)


# --- the catalogue ----------------------------------------------------------------------------
# Numbers are positions in CATALOGUE (1-based): append, never reorder.

CATALOGUE: tuple[Case | Elsewhere, ...] = (
    # Clearinghouse: amounts
    Case("zero deposit", "clearinghouse", "deposit", "trader", "ch: zero amount", lambda c: (0,)),
    Case("zero withdrawal", "clearinghouse", "withdraw", "trader", "ch: zero amount", lambda c: (0,)),
    Case("max uint256 deposit", "clearinghouse", "deposit", "trader", "ch: amount too large",
         lambda c: (MAX_UINT,)),
    Case("withdrawal of 2^128 + 1 (above the amount bound)", "clearinghouse", "withdraw", "trader",
         "ch: amount too large", lambda c: (MAX_AMOUNT + 1,)),
    Case("withdrawal one atom beyond free collateral (dust)", "clearinghouse", "withdraw", "trader",
         "ch: insufficient margin", lambda c: (usdc(100_000) + 1,)),
    Case("withdrawal by an account that never deposited", "clearinghouse", "withdraw", "stranger",
         "ch: insufficient margin", lambda c: (1,)),
    Case("deposit without allowance", "clearinghouse", "deposit", "stranger", "erc20: insufficient allowance",
         lambda c: (usdc(100),)),
    Case("deposit beyond the wallet balance", "clearinghouse", "deposit", "trader",
         "erc20: transfer amount exceeds balance", lambda c: (1,)),
    # Clearinghouse: the waterfall
    Case("liquidating a healthy account", "clearinghouse", "liquidate", "keeper", "ch: not liquidatable",
         lambda c: (c.addr("taker"), [])),
    Case("liquidating address(0) / an unknown account", "clearinghouse", "liquidate", "keeper",
         "ch: unknown account", lambda c: (ZERO, [])),
    Elsewhere("crafted ADL list: unsorted, same side, no position, the bankrupt itself, duplicated, "
              "too short", "clearinghouse.liquidate",
              "ch: adl order, ch: adl counterparty same side, …",
              "tests/waterfall/test_adl.py::test_adl__bad_list__reverts"),
    Elsewhere("crafted ADL list that skips a position ranked above the last one it closes (R9)",
              "clearinghouse.liquidate", "ch: adl skipped a higher-ranked position",
              "tests/security/test_attack_adl_queue.py::"
              "test_r9__keeper_skips_the_queue_head__refused__the_coalition_pays_its_own_shortfall"),
    # Clearinghouse: owner's parameters
    Case("listing a market with oracle address(0)", "clearinghouse", "add_market", "owner", "ch: zero address",
         lambda c: (ZERO, _market())),
    Case("parameters for an unknown market", "clearinghouse", "announce_market_params", "owner",
         "ch: unknown market", lambda c: (7, _market())),
    Case("mmr of zero", "clearinghouse", "announce_market_params", "owner", "ch: mmr out of bounds",
         lambda c: (0, _market(mmr=0))),
    Case("imr not above mmr", "clearinghouse", "announce_market_params", "owner", "ch: imr out of bounds",
         lambda c: (0, _market(imr=50_000))),
    Case("taker fee of max uint256", "clearinghouse", "announce_market_params", "owner", "ch: fee out of bounds",
         lambda c: (0, _market(taker_fee=MAX_UINT))),
    Case("keeper share above 50%", "clearinghouse", "announce_risk_params", "owner",
         "ch: keeper share out of bounds", lambda c: (_risk(keeper_share=500_001),)),
    Case("vault window of zero", "clearinghouse", "announce_risk_params", "owner", "ch: window out of bounds",
         lambda c: (_risk(vault_window=0),)),
    # Clearinghouse: the timelock on the owner's parameters
    Case("applying market parameters nobody announced", "clearinghouse", "apply_market_params", "owner",
         "timelock: nothing announced", lambda c: (0,)),
    Case("applying market parameters before the delay", "clearinghouse", "apply_market_params", "owner",
         "timelock: too early", lambda c: (0,), setup=_announce_btc),
    Case("applying market parameters after the grace period", "clearinghouse", "apply_market_params", "owner",
         "timelock: expired", lambda c: (0,), setup=_announce_btc_and_wait_past_grace),
    Case("cancelling risk parameters nobody announced", "clearinghouse", "cancel_risk_params", "owner",
         "timelock: nothing announced", lambda c: ()),
    Case("a delay below one day", "clearinghouse", "announce_delay", "owner", "timelock: delay out of bounds",
         lambda c: (86_399,)),
    Case("a delay of max uint256", "clearinghouse", "announce_delay", "owner", "timelock: delay out of bounds",
         lambda c: (MAX_UINT,)),
    Case("unpausing what is not paused", "clearinghouse", "unpause", "owner", "pausable: contract is not paused",
         lambda c: ()),
    # LiquidityVault trades
    Case("vault trade of size zero", "vault", "trade", "trader", "vault: zero size", lambda c: (0, 0, 0)),
    Case("vault trade in an unknown market", "vault", "trade", "trader", "ch: unknown market",
         lambda c: (7, size(1), MAX_UINT)),
    Case("vault trade of size max int256", "vault", "trade", "trader", "ch: size too large",
         lambda c: (0, MAX_INT, MAX_UINT)),
    Case("vault trade of size -2^255", "vault", "trade", "trader", "ch: size too large",
         lambda c: (0, MIN_INT, 0)),
    Case("vault buy with a limit below the quote", "vault", "trade", "trader", "vault: limit violated",
         lambda c: (0, size(1), BTC)),
    Case("vault trade while paused", "vault", "trade", "trader", "ch: paused",
         lambda c: (0, size(1), MAX_UINT), _pause),
    Case("vault trade on a stale price", "vault", "trade", "trader", "oracle: stale price",
         lambda c: (0, size(1), MAX_UINT), _stale),
    Case("vault trade beyond the trader's margin", "vault", "trade", "trader", "ch: insufficient margin",
         lambda c: (0, size(20), MAX_UINT)),
    # LiquidityVault shares
    Case("vault deposit of zero assets", "vault", "deposit", "lp", "vault: zero assets",
         lambda c: (0, c.addr("lp"))),
    Case("vault redeem of zero shares", "vault", "redeem", "lp", "vault: zero assets",
         lambda c: (0, c.addr("lp"), c.addr("lp"))),
    Case("vault redeem of more shares than held", "vault", "redeem", "lp", "erc20: burn amount exceeds balance",
         lambda c: (c.system.vault.balanceOf(c.addr("lp")) + 1, c.addr("lp"), c.addr("lp"))),
    Case("vault redeem of another holder's shares (unauthorized)", "vault", "redeem", "stranger",
         "erc20: insufficient allowance", lambda c: (10**6, c.addr("stranger"), c.addr("lp"))),
    Case("vault spread above 5%", "vault", "set_spread", "owner", "vault: spread out of bounds",
         lambda c: (50_001,)),
    # OrderBook
    Case("fill of size zero", "order_book", "match_orders", "trader", "ob: zero fill",
         lambda c: c.pair(size(1), 0)),
    Case("fill above the size bound (10^36 + 1)", "order_book", "match_orders", "trader", "ob: size too large",
         lambda c: c.pair(MAX_SIZE + 1)),
    Case("order of size -2^255", "order_book", "match_orders", "trader", "ob: size too large",
         lambda c: c.match(c.order("maker", 0, MIN_INT), c.order("trader", 0, size(1)), size(1))),
    Case("order of size zero", "order_book", "match_orders", "trader", "ob: zero order size",
         lambda c: c.match(c.order("maker", 0, 0), c.order("trader", 0, size(1)), size(1))),
    Case("self-match", "order_book", "match_orders", "trader", "ob: self-match",
         lambda c: c.match(c.order("trader", 0, -size(1), nonce=2), c.order("trader", 0, size(1), nonce=3), size(1))),
    Case("same side", "order_book", "match_orders", "trader", "ob: same side",
         lambda c: c.match(c.order("maker", 0, size(1)), c.order("trader", 0, size(1)), size(1))),
    Case("orders for different markets", "order_book", "match_orders", "trader", "ob: market mismatch",
         lambda c: c.match(c.order("maker", 0, -size(1)), c.order("trader", 1, size(1)), size(1))),
    Case("orders for an unknown market", "order_book", "match_orders", "trader", "ch: unknown market",
         lambda c: c.pair(size(1), market=7)),
    Case("expired order", "order_book", "match_orders", "trader", "ob: order expired",
         lambda c: c.match(c.order("maker", 0, -size(1), expiry=1), c.order("trader", 0, size(1)), size(1))),
    Case("replayed order (already filled)", "order_book", "match_orders", "trader", "ob: order overfilled",
         lambda c: c.pair(size("0.01"), nonce=7), _fill_fixed_pair),
    Case("order cancelled before the fill", "order_book", "match_orders", "trader", "ob: order cancelled",
         lambda c: c.pair(size("0.01"), nonce=7), _maker_cancels_nonce_7),
    Case("cancelling a nonce twice", "order_book", "cancel_order", "maker", "ob: already cancelled",
         lambda c: (7,), _maker_cancels_nonce_7),
    Case("order signed by another key", "order_book", "match_orders", "trader", "ob: invalid signature",
         lambda c: c.match(c.order("maker", 0, -size(1), signer="stranger"), c.order("trader", 0, size(1)), size(1))),
    Case("signature for another chain id", "order_book", "match_orders", "trader", "ob: invalid signature",
         lambda c: c.match(c.order("maker", 0, -size(1), chain_id=c.chain.chain_id + 1),
                           c.order("trader", 0, size(1)), size(1))),
    Case("signature for another contract", "order_book", "match_orders", "trader", "ob: invalid signature",
         lambda c: c.match(c.order("maker", 0, -size(1), book=c.system.vault.address),
                           c.order("trader", 0, size(1)), size(1))),
    Elsewhere("high-s (malleable) signature", "order_book.match_orders", "ob: invalid signature",
              "tests/unit/test_orders.py::test_match__high_s_malleable_signature__reverts"),
    Case("fill price outside the oracle band", "order_book", "match_orders", "trader", "ch: price outside band",
         lambda c: c.pair(size(1), limit=BTC * 106 // 100)),
    Case("fill beyond the taker's limit", "order_book", "match_orders", "trader", "ob: taker limit violated",
         lambda c: c.match(c.order("maker", 0, -size(1), BTC + 1), c.order("trader", 0, size(1), BTC), size(1))),
    Case("new risk while paused", "order_book", "match_orders", "trader", "ch: paused",
         lambda c: c.pair(size(1)), _pause),
    Case("fill on a stale price", "order_book", "match_orders", "trader", "oracle: stale price",
         lambda c: c.pair(size(1)), _stale),
    Case("fill beyond the taker's margin", "order_book", "match_orders", "trader", "ch: insufficient margin",
         lambda c: c.pair(size(20))),
    Case("remaining() of an order of size -2^255", "order_book", "remaining", "stranger", "ob: size too large",
         lambda c: (c.order("maker", 0, MIN_INT)[0],)),
    # Oracles
    Case("zero price", "feed", "set_price", "oracle_updater", "feed: zero price", lambda c: (0, 0)),
    Case("overflow-sized price (10^36 + 1)", "feed", "set_price", "oracle_updater", "feed: price too large",
         lambda c: (0, MAX_PRICE + 1)),
    Case("price jump beyond max_jump (+31%)", "feed", "set_price", "oracle_updater", "feed: price jump too large",
         lambda c: (0, BTC * 131 // 100)),
    Case("price from a non-updater", "feed", "set_price", "stranger", "feed: not updater", lambda c: (0, BTC)),
    Case("updater address(0)", "feed", "announce_updater", "owner", "feed: zero address", lambda c: (ZERO,)),
    Case("max_age of zero", "feed", "announce_bounds", "owner", "feed: max_age out of bounds",
         lambda c: (0, 300_000)),
    Case("max_jump of 100%", "feed", "announce_bounds", "owner", "feed: max_jump out of bounds",
         lambda c: (3_600, 1_000_000)),
    Case("Chainlink feed with wrong (19) decimals", "extra.adapter", "set_feed", "owner",
         "feed: too many decimals", lambda c: (0, c.extra["aggregator"].address), _chainlink_with_19_decimals),
    Elsewhere("Chainlink zero or negative answer (stale and jumping answers: the tests beside it)",
              "adapter.price", "oracle: zero price",
              "tests/unit/test_oracle.py::test_adapter__zero_or_negative_answer__reverts"),
    # InsuranceFund
    Case("zero donation", "fund", "donate", "trader", "fund: zero amount", lambda c: (0,)),
    Case("donation without allowance", "fund", "donate", "stranger", "erc20: insufficient allowance",
         lambda c: (usdc(1_000),)),
    Case("fund cover called by a stranger (unauthorized)", "fund", "cover", "stranger", "fund: only clearinghouse",
         lambda c: (1,)),
    Case("re-pointing the fund's clearinghouse", "fund", "set_clearinghouse", "owner",
         "fund: clearinghouse already set", lambda c: (c.addr("stranger"),)),
    Elsewhere("fee-on-transfer collateral", "clearinghouse.deposit, fund.donate",
              "ch: token took a fee, fund: token took a fee",
              "tests/unit/test_bad_input.py::test_deposit__fee_on_transfer_collateral__reverts"),
    # Oversized lists
    Case("ADL list longer than MAX_ADL (MAX_ADL + 1 entries)", "clearinghouse", "liquidate", "keeper",
         "ch: adl list too long", lambda c: (c.addr("taker"), [c.addr("maker")] * (MAX_ADL + 1))),
    # Deposits into a vault under water (they would fill the hole: I9)
    Case("vault deposit while the vault's equity is negative", "vault", "deposit", "lp", "vault: under water",
         lambda c: (usdc(1_000), c.addr("lp")), setup=_vault_under_water),
    # The waterfall engine runs only on the Clearinghouse's books
    Case("the Liquidator called directly, not by the Clearinghouse's DELEGATECALL", "liquidator", "liquidate",
         "keeper", "liquidator: delegatecall only", lambda c: (c.addr("taker"), [])),
    Elsewhere("a Clearinghouse deployed over a Liquidator built for another token or fund", "Clearinghouse.__init__",
              "ch: liquidator for another token, ch: liquidator for another fund",
              "tests/unit/test_params.py::test_deploy__liquidator_for_another_token_or_fund__reverts"),
    # Oracle wiring: the owner's changes wait out the timelock; Chainlink phase boundaries
    Case("applying a new updater before its delay", "feed", "apply_updater", "owner", "timelock: too early",
         lambda c: (), _updater_announced),
    Case("applying new bounds after the grace period", "feed", "apply_bounds", "owner", "timelock: expired",
         lambda c: (), _bounds_announced_long_ago),
    Case("applying an oracle change nothing announced", "feed", "apply_updater", "owner",
         "timelock: nothing announced", lambda c: ()),
    Case("cancelling an oracle change nothing announced", "feed", "cancel_bounds", "owner",
         "timelock: nothing announced", lambda c: ()),
    Case("timelock delay below one day", "feed", "announce_delay", "owner", "timelock: delay out of bounds",
         lambda c: (TIMELOCK_DELAY - 1,)),
    Case("re-pointing a market's Chainlink feed at once", "extra.adapter", "set_feed", "owner", "feed: already set",
         lambda c: (0, c.extra["aggregator"].address), _chainlink_feed_set),
    Case("announcing a Chainlink feed at address(0)", "extra.adapter", "announce_feed", "owner",
         "feed: zero address", lambda c: (0, ZERO), _chainlink_feed_set),
    Case("Chainlink first round of a new phase 90% below the last phase", "extra.adapter", "price", "stranger",
         "oracle: price jump too large", lambda c: (0,), lambda c: _chainlink_new_phase(c, 6_000 * 10**8)),
    Case("Chainlink round whose previous phase cannot be read", "extra.adapter", "price", "stranger",
         "oracle: no previous round", lambda c: (0,),
         lambda c: _chainlink_new_phase(c, 60_000 * 10**8, previous_phase=lambda c: c.system.usdc)),
    # Orders must name a real account and carry its canonical 65-byte signature
    Case("order for address(0) with an empty signature", "order_book", "match_orders", "trader", "ob: zero account",
         lambda c: c.match((Order(ZERO, 0, -size(1), BTC, 1, FAR).as_tuple(), b""), c.order("trader", 0, size(1)),
                           size(1))),
    Case("empty signature", "order_book", "match_orders", "trader", "ob: invalid signature",
         lambda c: c.match((c.order("maker", 0, -size(1))[0], b""), c.order("trader", 0, size(1)), size(1))),
    Case("64-byte compact (EIP-2098) signature of the right key", "order_book", "match_orders", "trader",
         "ob: invalid signature",
         lambda c: c.match(_compact(c.order("maker", 0, -size(1))), c.order("trader", 0, size(1)), size(1))),
    Elsewhere("a wallet that never deposited filled at the band edge (its gain against the oracle is no margin)",
              "order_book.match_orders", "ch: insufficient margin",
              "tests/security/test_attack_orders.py::"
              "test_band_edge_fill_of_a_wallet_that_never_deposited__is_refused_and_lps_stay_whole"),
    # Minimum position notional (10 USDC in BTC-PERP): voluntary trades leave no dust
    Case("signed fill opening a position below the minimum notional (0.0001 BTC, 6 USDC)", "order_book",
         "match_orders", "trader", "ch: position below minimum notional", lambda c: c.pair(size("0.0001"))),
    Case("vault trade opening a position below the minimum notional", "vault", "trade", "trader",
         "ch: position below minimum notional", lambda c: (0, size("0.0001"), MAX_UINT)),
    Case("reduction leaving a position below the minimum notional (1 BTC long sells 0.9999)", "vault", "trade",
         "taker", "ch: position below minimum notional", lambda c: (0, -size("0.9999"), 0)),
    Case("minimum notional above its bound (1M USDC)", "clearinghouse", "announce_market_params", "owner",
         "ch: min notional out of bounds", lambda c: (0, _market(min_notional=MAX_MIN_NOTIONAL + 1))),
)


def cases() -> list[tuple[int, Case]]:
    return [(n, e) for n, e in enumerate(CATALOGUE, 1) if isinstance(e, Case)]


def elsewhere() -> list[tuple[int, Elsewhere]]:
    return [(n, e) for n, e in enumerate(CATALOGUE, 1) if isinstance(e, Elsewhere)]


def render() -> str:
    """The catalogue as a numbered markdown table."""
    rows = []
    for n, e in enumerate(CATALOGUE, 1):
        if isinstance(e, Case):
            where = "catalogue" + (" — **gap**, xfail until fixed" if e.gap else "")
            rows.append([str(n), e.title, f"`{e.call}` by {e.sender}", f"`{e.reason}`", where])
        else:
            rows.append([str(n), e.title, f"`{e.call}`", e.reason, f"`{e.where}`"])
    return markdown_table(["#", "bad input", "call", "refused with", "tested by"], rows)
