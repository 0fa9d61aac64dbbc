"""Twin of `contracts/Clearinghouse.vy`: margin, positions, funding, fills and the waterfall.

Read it beside the contract: every function has the contract's name and its statements in
the contract's order, with Vyper's integer rules made explicit (see `maths`). `msg.sender`
is the `sender` argument; `block.timestamp` is `self.w.now`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from perpvault.model import maths as pm
from perpvault.model.constants import (
    FUNDING_PRICE_DIV,
    MAX_ADL,
    MAX_ADL_ARG,
    MAX_AMOUNT,
    MAX_BAND,
    MAX_BUFFER,
    MAX_FEE,
    MAX_FUNDING_RATE,
    MAX_IMR,
    MAX_KEEPER_SHARE,
    MAX_MARKETS,
    MAX_MIN_NOTIONAL,
    MAX_MMR,
    MAX_PENALTY,
    MAX_POSITION,
    MAX_SIZE,
    MAX_WINDOW,
    MIN_BUFFER,
    MIN_DELAY,
    MIN_MMR,
    MIN_SKEW_SCALE,
    PPM,
    QUEUE_SCAN_READS,
    VAULT_DECIMALS_OFFSET,
    WAD,
)
from perpvault.model.maths import (
    Revert,
    i256,
    require,
    to_int,
    to_uint,
    trunc_div,
    u256,
    udiv,
    vabs,
)
from perpvault.model.state import (
    ZERO_ADDRESS,
    Account,
    Health,
    MarketParams,
    MarketState,
    Position,
    RiskParams,
)
from perpvault.model.timelock import Timelock

if TYPE_CHECKING:
    from perpvault.model.exchange import World

# A DynArray[address, MAX_ADL_ARG] argument longer than MAX_ADL_ARG fails ABI decoding (no reason on chain).
OVERFLOW_ABI = "abi: too many counterparties"


class AdlPlanner(Protocol):
    """Plan mode, not in the contract (perpvault.keeper.plan): with a planner set, `_deleverage`
    does not stop where the keeper's list ends but asks the planner to append the counterparty
    to take next, so `liquidate` run on a copy of the model builds the list the contract accepts."""

    def rank(self, ch: Clearinghouse, account: str, market: int, close: int, cursor: int) -> None:
        """A `_deleverage` of `close` in `market` starts at list index `cursor`."""

    def extend(self, ch: Clearinghouse, cps: list[str]) -> None:
        """Append the next counterparty to `cps` (nothing when none is left)."""


class Clearinghouse:
    def __init__(self, w: World, address: str, owner: str, risk: RiskParams, delay: int = MIN_DELAY) -> None:
        self.w = w
        self.address = address
        self.owner = owner
        self.paused = False
        self.vault: str = ZERO_ADDRESS
        self.order_book: str = ZERO_ADDRESS
        self.market_count = 0
        self.markets: dict[int, MarketState] = {}
        self.params: dict[int, MarketParams] = {}
        self.risk = risk
        # param_changes.vy: announced changes and their etas (the delay lives in `timelock`).
        self.timelock = Timelock(w, delay)
        self.pending_params: dict[int, MarketParams] = {}
        self.pending_params_eta: dict[int, int] = {}
        self.pending_risk: RiskParams | None = None
        self.pending_risk_eta = 0
        self.accounts: dict[str, Account] = {}
        self.known: list[str] = []  # account_at[0..account_count)
        self.known_set: set[str] = set()  # is_known
        self.insurance_due = 0
        # ledger.side_at / side_count / side_slot: side key -> holders at slots 1.. (list index + 1).
        self.side_at: dict[int, list[str]] = {}
        self.side_slot: dict[tuple[str, int], int] = {}
        self.vault_peak_share_value = 0
        self.vault_peak_time = 0
        self._set_risk(risk)
        # Not contract state: None except in the keeper's plan mode (see AdlPlanner).
        self.planner: AdlPlanner | None = None

    # --- storage helpers (HashMaps read as zero) ------------------------------------------------

    def acct(self, account: str) -> Account:
        a = self.accounts.get(account)
        if a is None:
            a = Account()
            self.accounts[account] = a
        return a

    def pos(self, account: str, market: int) -> Position:
        return self.acct(account).position(market)

    def margin(self, account: str) -> int:
        return self.acct(account).margin

    def _add_margin(self, account: str, amount: int) -> None:
        a = self.acct(account)
        a.margin = i256(a.margin + amount)

    def is_known(self, account: str) -> bool:
        return account in self.known_set

    @staticmethod
    def _side_key(market: int, longs: bool) -> int:
        return market * 2 + (1 if longs else 0)

    def side_count(self, key: int) -> int:
        return len(self.side_at.get(key, ()))

    def side_holder(self, key: int, slot: int) -> str:
        """`side_at[key][slot]` (slots from 1; the zero address where empty)."""
        side = self.side_at.get(key, [])
        return side[slot - 1] if 1 <= slot <= len(side) else ZERO_ADDRESS

    def load_sides(self, side_count: Callable[[int], int], side_at: Callable[[int, int], str]) -> None:
        """Each market side's holders as a chain lists them (`side_count(key)`, `side_at(key,
        slot)`: Clearinghouse views), in its slot order: for a model built from a chain's
        state, since the completeness check reads a large side in that order."""
        self.side_at, self.side_slot = {}, {}
        for key in range(2 * self.market_count):
            holders = [str(side_at(key, i)).lower() for i in range(1, int(side_count(key)) + 1)]
            if holders:
                self.side_at[key] = holders
                self.side_slot |= {(h, key // 2): i for i, h in enumerate(holders, start=1)}

    def _enter_side(self, account: str, market: int, longs: bool) -> None:
        side = self.side_at.setdefault(self._side_key(market, longs), [])
        side.append(account)
        self.side_slot[(account, market)] = len(side)

    def _leave_side(self, account: str, market: int, longs: bool) -> None:
        """Swap-and-pop, as ledger.vy: the side's last position takes the leaver's slot."""
        side = self.side_at[self._side_key(market, longs)]
        slot = self.side_slot.pop((account, market))
        last = side.pop()
        if last != account:
            side[slot - 1] = last
            self.side_slot[(last, market)] = slot

    def _mask_markets(self, account: str) -> list[int]:
        """The set bits of `market_mask[account]`, ascending (the contract's mask loops)."""
        mask = self.acct(account).market_mask
        return [m for m in range(MAX_MARKETS) if (mask >> m) & 1 == 1]

    def _check_owner(self, sender: str) -> None:
        require(sender == self.owner, "ownable: caller is not the owner")

    # --- construction and owner -------------------------------------------------------------

    def set_vault(self, sender: str, vault_: str) -> None:
        self._check_owner(sender)
        require(self.vault == ZERO_ADDRESS, "ch: vault already set")
        self._check_address(vault_)
        self.vault = vault_
        self._remember(vault_)
        self.w.log("VaultSet", vault_)

    def set_order_book(self, sender: str, order_book_: str) -> None:
        self._check_owner(sender)
        require(self.order_book == ZERO_ADDRESS, "ch: order book already set")
        self._check_address(order_book_)
        self.order_book = order_book_
        self.w.log("OrderBookSet", order_book_)

    def add_market(self, sender: str, params_: MarketParams) -> int:
        """The oracle is always the model's PriceFeed."""
        self._check_owner(sender)
        market = self.market_count
        require(market < MAX_MARKETS, "ch: too many markets")
        self._check_params(params_)
        price = self.w.feed.price(market)
        latest, updated = self.w.feed.latest(market)
        require(latest == price and updated <= self.w.now, "ch: oracle latest() disagrees")
        self.markets[market] = MarketState(
            funding_index=0,
            last_funding_time=self.w.now,
            funding_price=price,
            funding_pool=0,
            funding_weight=0,
            open_interest=0,
        )
        self.params[market] = params_
        self.market_count = market + 1
        self.w.log("MarketAdded", market, self.w.feed.address)
        self.w.log("MarketParamsSet", market)
        return market

    def announce_market_params(self, sender: str, market: int, params_: MarketParams) -> None:
        self._check_owner(sender)
        self._announce_market_params(market, params_)

    def apply_market_params(self, sender: str, market: int) -> None:
        self._check_owner(sender)
        self._apply_market_params(market)

    def cancel_market_params(self, sender: str, market: int) -> None:
        self._check_owner(sender)
        self._cancel_market_params(market)

    def announce_risk_params(self, sender: str, risk_: RiskParams) -> None:
        self._check_owner(sender)
        self._announce_risk_params(risk_)

    def apply_risk_params(self, sender: str) -> None:
        self._check_owner(sender)
        self._apply_risk_params()

    def cancel_risk_params(self, sender: str) -> None:
        self._check_owner(sender)
        self._cancel_risk_params()

    def announce_delay(self, sender: str, delay: int) -> None:
        self._check_owner(sender)
        self.timelock._announce_delay(delay)

    def apply_delay(self, sender: str) -> None:
        self._check_owner(sender)
        self.timelock._apply_delay()

    def cancel_delay(self, sender: str) -> None:
        self._check_owner(sender)
        self.timelock._cancel_delay()

    def pause(self, sender: str) -> None:
        self._check_owner(sender)
        require(not self.paused, "pausable: contract is paused")
        self.paused = True
        self.w.log("Paused", sender)

    def unpause(self, sender: str) -> None:
        self._check_owner(sender)
        require(self.paused, "pausable: contract is not paused")
        self.paused = False
        self.w.log("Unpaused", sender)

    # --- margin -------------------------------------------------------------------------------

    def deposit(self, sender: str, amount: int) -> None:
        self._check_amount(amount)
        self.w.token.transfer_from(self.address, sender, self.address, amount)
        self._remember(sender)
        self._add_margin(sender, to_int(amount))
        self.w.log("Deposited", sender, amount)

    def withdraw(self, sender: str, amount: int) -> None:
        self._check_amount(amount)
        self._settle_all(sender)
        self._add_margin(sender, -to_int(amount))
        h = self._health(sender)
        self._check_enough(h.equity >= to_int(h.initial))
        self.w.token.transfer(self.address, sender, amount)
        self.w.log("Withdrawn", sender, amount)

    # --- trading ------------------------------------------------------------------------------

    def fill(
        self, sender: str, maker: str, taker: str, market: int, taker_size: int, price: int
    ) -> tuple[int, int]:
        """Returns (maker_fee, taker_fee), the Filled event's fees."""
        v = self.vault
        require(
            sender == self.order_book or (sender == v and maker == v),
            "ch: only order book or vault",
        )
        self._check_market(market)
        require(taker_size != 0, "ch: zero fill")
        # Compared signed: abs(min_value(int256)) would revert without a reason.
        require(
            taker_size <= to_int(MAX_SIZE) and taker_size >= -to_int(MAX_SIZE), "ch: size too large"
        )
        require(maker != taker, "ch: self-match")
        oracle_price = self._price(market)
        gap = price - oracle_price if price > oracle_price else oracle_price - price
        require(
            u256(gap * PPM) <= u256(self.params[market].price_band * oracle_price),
            "ch: price outside band",
        )
        maker_fee_rate = 0 if maker == v else self.params[market].maker_fee
        taker_fee_rate = self.params[market].taker_fee
        vault_before = self.pos(v, market).size
        if taker_size > 0:
            taker_fee, maker_fee = self._trade(
                taker, maker, market, taker_size, price, taker_fee_rate, maker_fee_rate, True
            )
        else:
            maker_fee, taker_fee = self._trade(
                maker, taker, market, -taker_size, price, maker_fee_rate, taker_fee_rate, True
            )
        if maker == v:
            after = self.pos(v, market).size
            if vabs(after) > vabs(vault_before) or (after > 0) != (vault_before > 0):
                require(
                    pm.notional(after, oracle_price) <= self.params[market].vault_max_notional,
                    "ch: vault limit",
                )
        # No voluntary trade leaves dust; the vault's own side is exempt.
        if maker != v:
            self._check_min_notional(maker, market, oracle_price)
        if taker != v:
            self._check_min_notional(taker, market, oracle_price)
        self.w.log("Filled", maker, taker, market, taker_size, price, maker_fee, taker_fee)
        return maker_fee, taker_fee

    def settle_funding(self, sender: str, account: str) -> None:
        self._settle_all(account)

    def sweep_to_insurance(self, sender: str) -> int:
        amount = self.insurance_due
        self.insurance_due = 0
        for market in range(MAX_MARKETS):
            if market >= self.market_count:
                break
            s = self.markets[market]
            surplus = pm.floor_div(i256(i256(s.funding_pool * 10**36) - s.funding_weight), 10**36)
            if surplus > 0:
                s.funding_pool = i256(s.funding_pool - surplus)
                amount = u256(amount + to_uint(surplus))
        if amount != 0:
            self.w.fund.receive_revenue(self.address, amount)
        self.w.log("InsuranceSwept", amount)
        return amount

    # --- the risk waterfall -------------------------------------------------------------------

    def liquidate(self, sender: str, account: str, counterparties: list[str]) -> None:
        require(len(counterparties) <= MAX_ADL_ARG, OVERFLOW_ABI)
        require(len(counterparties) <= MAX_ADL, "ch: adl list too long")
        require(self.is_known(account), "ch: unknown account")
        self._settle_all(account)
        h = self._health(account)
        require(h.maintenance != 0 and h.equity < to_int(h.maintenance), "ch: not liquidatable")
        self._remember(sender)
        cursor = 0
        for attempt in range(2):
            cursor = self._liquidate(sender, account, h, counterparties, cursor, attempt == 0)
            h = self._health(account)
            if h.equity >= to_int(h.maintenance):
                break
        require(h.equity >= 0, "ch: waterfall left debt")

    # --- views --------------------------------------------------------------------------------

    def equity(self, account: str) -> int:
        return self._health(account).equity

    def margin_requirements(self, account: str) -> tuple[int, int]:
        h = self._health(account)
        return h.initial, h.maintenance

    def health(self, account: str) -> Health:
        return self._health(account)

    def free_collateral(self, account: str) -> int:
        h = self._health(account)
        return to_uint(max(i256(h.equity - to_int(h.initial)), 0))

    def is_liquidatable(self, account: str) -> bool:
        h = self._health(account)
        return h.maintenance != 0 and h.equity < to_int(h.maintenance)

    def position(self, account: str, market: int) -> tuple[int, int, int]:
        p = self.positions_of(account, market)
        entry = 0
        if p.size != 0:
            entry = to_uint(vabs(trunc_div(i256(p.open_notional * 10**30), p.size)))
        return p.size, p.open_notional, entry

    def positions_of(self, account: str, market: int) -> Position:
        """`positions(account, market)` without creating storage."""
        a = self.accounts.get(account)
        if a is None or market not in a.positions:
            return Position()
        return a.positions[market]

    def mark_price(self, market: int) -> int:
        self._check_market(market)
        return self._price(market)

    def funding_index(self, market: int) -> int:
        self._check_market(market)
        return self._current_index(market)

    def adl_score(self, account: str, market: int) -> int:
        return self._score(account, market)

    # --- internal: markets and prices ---------------------------------------------------------

    @staticmethod
    def _check_address(a: str) -> None:
        require(a != ZERO_ADDRESS, "ch: zero address")

    @staticmethod
    def _check_amount(amount: int) -> None:
        require(amount != 0, "ch: zero amount")
        require(amount <= MAX_AMOUNT, "ch: amount too large")

    def _check_market(self, market: int) -> None:
        require(market < self.market_count, "ch: unknown market")

    def _price(self, market: int) -> int:
        return self.w.feed.price(market)

    def _rate(self, market: int) -> int:
        """`funding._rate`: max_funding_rate * clamp(-vault_size / skew_scale, -1, 1), WAD per second."""
        size = self.positions_of(self.vault, market).size
        if size == 0:
            return 0
        cap = to_int(self.params[market].max_funding_rate)
        return min(max(trunc_div(i256(-size * cap), to_int(self.params[market].skew_scale)), -cap), cap)

    def _current_index(self, market: int) -> int:
        s = self.markets[market]
        last = s.last_funding_time
        index = s.funding_index
        if self.w.now == last:
            return index
        rate = self._rate(market)
        if rate == 0:
            return index
        p_now, updated = self.w.feed.latest(market)
        split = self.w.now
        if updated >= last and updated < self.w.now:
            split = updated
        weighted = to_int(u256(u256((split - last) * s.funding_price) + u256((self.w.now - split) * p_now)))
        return i256(index + pm.floor_div(i256(rate * weighted), FUNDING_PRICE_DIV))

    def _accrue(self, market: int) -> int:
        s = self.markets[market]
        if self.w.now == s.last_funding_time:
            s.funding_price = self._price(market)
            return s.funding_index
        index = self._current_index(market)
        s.funding_index = index
        s.funding_price = self._price(market)
        s.last_funding_time = self.w.now
        return index

    # --- internal: accounts -------------------------------------------------------------------

    def _remember(self, account: str) -> None:
        if not self.is_known(account):
            self.known_set.add(account)
            self.known.append(account)

    def _settle(self, account: str, market: int) -> int:
        index = self._accrue(market)
        p = self.pos(account, market)
        if p.funding_index != index:
            if p.size != 0:
                delta = i256(index - p.funding_index)
                credit = pm.funding_credit(p.size, delta)
                self._add_margin(account, credit)
                s = self.markets[market]
                s.funding_pool = i256(s.funding_pool - credit)
                s.funding_weight = i256(s.funding_weight + i256(p.size * delta))
                self.w.log("FundingSettled", account, market, credit)
            p.funding_index = index
        return index

    def _settle_all(self, account: str, skip: int = MAX_MARKETS) -> None:
        for market in self._mask_markets(account):
            if market != skip:
                self._settle(account, market)

    def _health(self, account: str) -> Health:
        h = Health(equity=self.margin(account), initial=0, maintenance=0, notional=0)
        for market in self._mask_markets(account):
            p = self.pos(account, market)
            price = self._price(market)
            index = self._current_index(market)
            h.equity = i256(h.equity + i256(pm.value(p.size, price) - p.open_notional))
            h.equity = i256(h.equity + pm.funding_credit(p.size, i256(index - p.funding_index)))
            h.notional = u256(h.notional + pm.notional(p.size, price))
            h.initial = u256(h.initial + pm.requirement(p.size, price, self._imr(market)))
            h.maintenance = u256(
                h.maintenance + pm.requirement(p.size, price, self.params[market].mmr)
            )
        return h

    def _change_position(self, account: str, market: int, delta: int, cash: int) -> None:
        p = self.pos(account, market)
        q = p.size
        q_new = i256(q + delta)
        on_new = 0
        if q == 0 or (q > 0) == (delta > 0):
            on_new = i256(p.open_notional + cash)
        elif vabs(delta) <= vabs(q):
            on_new = trunc_div(i256(p.open_notional * q_new), q)
        else:
            on_new = trunc_div(i256(cash * q_new), delta)
        self._add_margin(account, i256(i256(on_new - p.open_notional) - cash))
        # The contract stores size and open notional as int128 in one slot.
        require(
            -MAX_POSITION <= q_new < MAX_POSITION and -MAX_POSITION <= on_new < MAX_POSITION,
            "ch: position too large",
        )
        self.acct(account).positions[market] = Position(
            size=q_new, open_notional=on_new, funding_index=p.funding_index
        )
        s = self.markets[market]
        s.funding_weight = i256(s.funding_weight + i256(delta * p.funding_index))
        s.open_interest = u256(u256(s.open_interest + to_uint(max(q_new, 0))) - to_uint(max(q, 0)))
        if q != 0 and (q_new == 0 or (q_new > 0) != (q > 0)):
            self._leave_side(account, market, q > 0)
        if q_new != 0 and (q == 0 or (q_new > 0) != (q > 0)):
            self._enter_side(account, market, q_new > 0)
        bit = 1 << market
        a = self.acct(account)
        mask = a.market_mask
        if q_new == 0:
            a.market_mask = mask & ~bit
        else:
            if mask == 0:
                # E1: known to the risk engine from its first position, deposit or not.
                self._remember(account)
            a.market_mask = mask | bit

    def _trade(
        self,
        buyer: str,
        seller: str,
        market: int,
        size: int,
        price: int,
        buyer_fee_rate: int,
        seller_fee_rate: int,
        check: bool,
    ) -> tuple[int, int]:
        self._settle(buyer, market)
        self._settle(seller, market)
        if check:
            self._settle_all(buyer, market)
            self._settle_all(seller, market)
        pb = self.pos(buyer, market)
        ps = self.pos(seller, market)
        q_buyer = pb.size
        q_seller = ps.size
        k_buyer = i256(self.margin(buyer) - pb.open_notional)
        k_seller = i256(self.margin(seller) - ps.open_notional)
        pays = pm.notional(size, price)
        gets = to_uint(pm.value(size, price))
        self._change_position(buyer, market, size, to_int(pays))
        self._change_position(seller, market, i256(-size), i256(-to_int(gets)))
        bf = pm.fee(size, price, buyer_fee_rate)
        sf = pm.fee(size, price, seller_fee_rate)
        self._add_margin(buyer, -to_int(bf))
        self._add_margin(seller, -to_int(sf))
        fees = u256(bf + sf)
        to_fund = fees
        v = self.vault
        if v != ZERO_ADDRESS:
            to_fund = udiv(u256(fees * self.risk.fund_fee_share), PPM)
            self._add_margin(v, to_int(u256(fees - to_fund)))
        self.insurance_due = u256(u256(u256(self.insurance_due + to_fund) + pays) - gets)
        if check:
            self._check_margin(buyer, q_buyer, k_buyer, market, price)
            self._check_margin(seller, q_seller, k_seller, market, price)
        return bf, sf

    def _check_min_notional(self, account: str, market: int, oracle_price: int) -> None:
        q = self.pos(account, market).size
        if q != 0:
            require(
                pm.notional(q, oracle_price) >= self.params[market].min_notional,
                "ch: position below minimum notional",
            )

    def _check_margin(
        self, account: str, q_before: int, k_before: int, market: int, price: int
    ) -> None:
        pos = self.pos(account, market)
        q_after = pos.size
        reduced = vabs(q_after) < vabs(q_before) and (
            q_after == 0 or (q_after > 0) == (q_before > 0)
        )
        if self.paused:
            require(reduced or account == self.vault, "ch: paused")
        h = self._health(account)
        p = self._price(market)
        # What filling at `price` rather than the oracle handed this account (SPEC section 4).
        gain = 0
        if not reduced:
            d = i256(q_after - q_before)
            gain = max(i256(pm.value(d, p) - pm.value(d, price)), 0)
        if i256(h.equity - gain) >= to_int(h.initial):
            return
        mmr = self.params[market].mmr
        e_before = i256(
            i256(
                i256(i256(h.equity - pm.value(q_after, p)) + pm.value(q_before, p))
                - self.margin(account)
            )
            + i256(pos.open_notional + k_before)
        )
        m_before = u256(
            u256(h.maintenance - pm.requirement(q_after, p, mmr)) + pm.requirement(q_before, p, mmr)
        )
        self._check_enough(reduced and h.maintenance <= m_before)
        require(
            i256(h.equity * to_int(m_before)) >= i256(e_before * to_int(h.maintenance)),
            "ch: margin ratio worsened",
        )

    @staticmethod
    def _check_enough(ok: bool) -> None:
        require(ok, "ch: insufficient margin")

    # --- internal: liquidation and ADL ----------------------------------------------------------

    def _partial_close(self, account: str, h: Health) -> tuple[int, int]:
        market = MAX_MARKETS
        worst = 0
        for m in self._mask_markets(account):
            req = pm.requirement(self.pos(account, m).size, self._price(m), self.params[m].mmr)
            if req > worst:
                worst = req
                market = m
        if market == MAX_MARKETS:
            return MAX_MARKETS, 0
        buffer = u256(PPM + self.risk.liquidation_buffer)
        gain = u256(self.params[market].mmr * buffer)
        cost = u256(
            u256(self.params[market].taker_fee + self.params[market].liquidation_penalty) * PPM
        )
        if gain <= cost:
            return MAX_MARKETS, 0
        need = to_uint(i256(to_int(u256(h.maintenance * buffer)) - i256(h.equity * to_int(PPM))))
        notional = udiv(u256(u256(u256(u256(need * PPM) + gain) - cost) - 1), u256(gain - cost))
        price = self._price(market)
        size_abs = udiv(u256(u256(u256(notional * 10**30) + price) - 1), price)
        q = self.pos(account, market).size
        if size_abs >= to_uint(vabs(q)):
            return MAX_MARKETS, 0
        close = to_int(size_abs)
        if q > 0:
            close = -close
        return market, close

    def _liquidate(
        self, sender: str, account: str, h: Health, cps: list[str], cursor: int, allow_partial: bool
    ) -> int:
        closes, last = self._closes(account, h, allow_partial)
        # Liquidating yourself earns no keeper reward.
        keeper_share = 0 if sender == account else self.risk.keeper_share
        prices, penalties, total, charged = self._charges(
            sender, account, h, closes, last, keeper_share
        )
        shortfall = self._cover_bad_debt(account, i256(h.equity - to_int(charged)))
        parts = self._split_shortfall(shortfall, closes, prices, total, last)
        next_cursor = cursor
        for m in range(MAX_MARKETS):
            if m > last:
                break
            if closes[m] == 0:
                continue
            taken, next_cursor = self._close(
                account, m, closes[m], prices[m], parts[m], cps, next_cursor
            )
            self.w.log(
                "Liquidated",
                account,
                sender,
                m,
                closes[m],
                prices[m],
                penalties[m],
                udiv(u256(penalties[m] * keeper_share), PPM),
                taken,
            )
        return next_cursor

    def _closes(self, account: str, h: Health, allow_partial: bool) -> tuple[list[int], int]:
        closes = [0] * MAX_MARKETS
        partial_market = MAX_MARKETS
        partial_size = 0
        if allow_partial and h.equity > 0:
            partial_market, partial_size = self._partial_close(account, h)
        if partial_market != MAX_MARKETS:
            closes[partial_market] = partial_size
            return closes, partial_market
        last = 0
        for m in self._mask_markets(account):
            closes[m] = i256(-self.pos(account, m).size)
            last = m
        return closes, last

    def _charges(
        self, sender: str, account: str, h: Health, closes: list[int], last: int, keeper_share: int
    ) -> tuple[list[int], list[int], int, int]:
        prices = [0] * MAX_MARKETS
        penalties = [0] * MAX_MARKETS
        room = to_uint(max(h.equity, 0))
        charged = 0
        total = 0
        for m in range(MAX_MARKETS):
            if m > last:
                break
            if closes[m] == 0:
                continue
            price = self._price(m)
            prices[m] = price
            total = u256(total + pm.notional(closes[m], price))
            fee = min(pm.fee(closes[m], price, self.params[m].taker_fee), room)
            room -= fee
            penalty = min(pm.fee(closes[m], price, self.params[m].liquidation_penalty), room)
            room -= penalty
            penalties[m] = penalty
            reward = udiv(u256(penalty * keeper_share), PPM)
            self._add_margin(sender, to_int(reward))
            self.insurance_due = u256(u256(u256(self.insurance_due + fee) + penalty) - reward)
            charged = u256(charged + u256(fee + penalty))
        self._add_margin(account, -to_int(charged))
        return prices, penalties, total, charged

    def _cover_bad_debt(self, account: str, equity: int) -> int:
        if equity >= 0:
            return 0
        need = to_uint(-equity)
        covered = min(need, self.insurance_due)
        self.insurance_due = u256(self.insurance_due - covered)
        if covered != need:
            covered = u256(covered + self.w.fund.cover(self.address, u256(need - covered)))
        if covered != 0:
            self._add_margin(account, to_int(covered))
            self.w.log("BadDebtCovered", account, covered)
        shortfall = u256(need - covered)
        if shortfall != 0:
            self.w.log("ShortfallSocialized", account, shortfall)
        return shortfall

    @staticmethod
    def _split_shortfall(
        shortfall: int, closes: list[int], prices: list[int], total: int, last: int
    ) -> list[int]:
        parts = [0] * MAX_MARKETS
        left = shortfall
        for m in range(MAX_MARKETS):
            if m > last:
                break
            if closes[m] == 0:
                continue
            part = left
            if m != last:
                part = udiv(u256(shortfall * pm.notional(closes[m], prices[m])), total)
            left = u256(left - part)
            parts[m] = part
        return parts

    def _close(
        self,
        account: str,
        market: int,
        close: int,
        price: int,
        haircut: int,
        cps: list[str],
        cursor: int,
    ) -> tuple[bool, int]:
        v = self.vault
        if (
            haircut == 0
            and account != v
            and v != ZERO_ADDRESS
            and self._vault_can_take(market, i256(-close), price)
        ):
            self._close_to_vault(account, market, close, price)
            return True, cursor
        return False, self._deleverage(account, market, close, price, haircut, cps, cursor)

    def _close_to_vault(self, account: str, market: int, close: int, price: int) -> None:
        v = self.vault
        self._settle(v, market)
        if close < 0:
            self._trade(v, account, market, i256(-close), price, 0, 0, False)
        else:
            self._trade(account, v, market, close, price, 0, 0, False)

    def _vault_share_value(self, v: str, equity: int) -> int:
        """LiquidityVault's price of a share, WAD: (max(E, 0) + idle + 1) / (supply + 10**6)."""
        assets = u256(to_uint(max(equity, 0)) + self.w.token.balance_of(v))
        shares = u256(self.w.vault.total_supply + 10**VAULT_DECIMALS_OFFSET)
        return udiv(u256(u256(assets + 1) * WAD), shares)

    def _vault_can_take(self, market: int, take: int, price: int) -> bool:
        v = self.vault
        self._settle_all(v)
        vh = self._health(v)
        value = self._vault_share_value(v, vh.equity)
        if (
            self.w.now > u256(self.vault_peak_time + self.risk.vault_window)
            or value > self.vault_peak_share_value
        ):
            self.vault_peak_share_value = value
            self.vault_peak_time = self.w.now
        before = self.pos(v, market).size
        after = i256(before + take)
        if vabs(after) <= vabs(before) and (after == 0 or (after > 0) == (before > 0)):
            return True
        if u256(value * PPM) < u256(
            self.vault_peak_share_value * u256(PPM - self.risk.vault_max_drawdown)
        ):
            return False
        if pm.notional(after, price) > self.params[market].vault_max_notional:
            return False
        imr = self._imr(market)
        initial = u256(
            u256(vh.initial - pm.requirement(before, price, imr))
            + pm.requirement(after, price, imr)
        )
        return vh.equity >= to_int(initial)

    def _deleverage(
        self,
        account: str,
        market: int,
        close: int,
        price: int,
        haircut: int,
        cps: list[str],
        cursor: int,
    ) -> int:
        total_abs = vabs(close)
        mark_leg = pm.value(i256(-close), price)
        left = total_abs
        mark_left = mark_leg
        haircut_left = to_int(haircut)
        prev_score = pm.INT256_MAX
        prev = ZERO_ADDRESS
        exempt: list[str] = []  # listed, still on the side: capped or skipped
        maker_fee = self.params[market].maker_fee
        i = cursor
        if self.planner is not None:  # plan mode (AdlPlanner), not in the contract
            self.planner.rank(self, account, market, close, cursor)
        for _ in range(MAX_ADL):
            if left == 0:
                break
            if self.planner is not None and i == len(cps):  # plan mode: the list grows here
                self.planner.extend(self, cps)
            if i >= len(cps):
                break
            cp = cps[i]
            i += 1
            require(cp != account, "ch: adl bankrupt as counterparty")
            self._settle_all(cp)
            cq = self.pos(cp, market).size
            require(cq != 0, "ch: adl counterparty has no position")
            require((cq > 0) == (close > 0), "ch: adl counterparty same side")
            equity = self._health(cp).equity
            score = pm.adl_score(cq, self.pos(cp, market).open_notional, price, equity)
            require(
                prev == ZERO_ADDRESS or pm.ahead(prev_score, prev, score, cp), "ch: adl order"
            )
            prev = cp
            prev_score = score
            take = min(vabs(cq), left)
            cp_mark, cp_haircut, fee = self._parts(
                take, left, total_abs, mark_leg, mark_left, haircut, haircut_left, price, maker_fee
            )
            if self._after(equity, cq, take, i256(cp_mark + cp_haircut), price) < to_int(fee):
                # Cannot pay its whole part: the largest part it can pay, or none.
                take = self._affordable(equity, total_abs, haircut, price, maker_fee, take)
                cp_mark, cp_haircut, fee = self._parts(
                    take, left, total_abs, mark_leg, mark_left, haircut, haircut_left, price, maker_fee
                )
                exempt.append(cp)
                if take == 0 or self._after(equity, cq, take, i256(cp_mark + cp_haircut), price) < to_int(fee):
                    continue
            cp_delta = -take if cq > 0 else take
            left = i256(left - take)
            mark_left = i256(mark_left - cp_mark)
            haircut_left = i256(haircut_left - cp_haircut)
            self._change_position(cp, market, cp_delta, i256(cp_mark + cp_haircut))
            self._change_position(
                account, market, i256(-cp_delta), i256(-i256(cp_mark + cp_haircut))
            )
            self._add_margin(cp, -to_int(fee))
            self.insurance_due = u256(self.insurance_due + fee)
            adl_price = to_uint(vabs(trunc_div(i256(i256(cp_mark + cp_haircut) * 10**30), take)))
            self.w.log("Deleveraged", account, cp, market, cp_delta, adl_price, to_uint(cp_haircut))
        require(left == 0, "ch: adl list too short")
        self._check_complete(market, close > 0, prev, prev_score, exempt)
        return i

    @staticmethod
    def _parts(take: int, left: int, total_abs: int, mark_leg: int, mark_left: int, haircut: int,
               haircut_left: int, price: int, maker_fee: int) -> tuple[int, int, int]:
        """adl.vy `_parts`: a take's part of the mark leg and of the haircut, and its maker fee."""
        if take == left:
            return mark_left, haircut_left, pm.fee(take, price, maker_fee)
        return (trunc_div(i256(mark_leg * take), total_abs), trunc_div(i256(to_int(haircut) * take), total_abs),
                pm.fee(take, price, maker_fee))

    @staticmethod
    def _after(equity: int, cq: int, take: int, cash: int, price: int) -> int:
        """adl.vy `_after`: the counterparty's equity after the step, before the fee, exactly."""
        q_after = cq - take if cq > 0 else cq + take
        return i256(i256(equity - cash) + pm.value(q_after, price) - pm.value(cq, price))

    @staticmethod
    def _affordable(equity: int, total_abs: int, haircut: int, price: int, maker_fee: int, take: int) -> int:
        """adl.vy `_affordable`: the largest part of `take` the counterparty can surely pay."""
        cost = u256(haircut + pm.fee(total_abs, price, maker_fee))
        if equity <= 3 or cost == 0:
            return 0
        return min(u256((equity - 3) * total_abs) // cost, take - 1)

    def _check_complete(self, market: int, longs: bool, last: str, last_score: int, exempt: list[str]) -> None:
        """adl.vy `_check_complete`: every position left on the counterparties' side other than
        the last one closed ranks below it or was listed and could not pay its whole part, read in
        slot order for at most QUEUE_SCAN_READS reads (a holder one, and one per market it
        holds when scored)."""
        price = self._price(market)
        reads = 0
        for holder in list(self.side_at.get(self._side_key(market, longs), ()))[:QUEUE_SCAN_READS]:
            if holder == last or holder in exempt:
                continue
            reads += 1
            mine = self.pos(holder, market)
            if last_score > 0 and pm.value(mine.size, price) <= mine.open_notional:
                continue  # not in profit: scores at most 0
            reads += self._popcount(self.acct(holder).market_mask)
            if reads > QUEUE_SCAN_READS:
                return
            require(
                not pm.ahead(self._score(holder, market), holder, last_score, last),
                "ch: adl skipped a higher-ranked position",
            )
            if reads == QUEUE_SCAN_READS:
                return

    @staticmethod
    def _popcount(mask: int) -> int:
        return bin(mask & (2**MAX_MARKETS - 1)).count("1")

    def _score(self, account: str, market: int) -> int:
        p = self.pos(account, market)
        if p.size == 0:
            return 0
        return pm.adl_score(
            p.size, p.open_notional, self._price(market), self._health(account).equity
        )


    # --- internal: parameters -----------------------------------------------------------------

    @staticmethod
    def _check_params(p: MarketParams) -> None:
        require(p.mmr >= MIN_MMR and p.mmr <= MAX_MMR, "ch: mmr out of bounds")
        require(p.imr > p.mmr and p.imr <= MAX_IMR, "ch: imr out of bounds")
        require(p.maker_fee <= MAX_FEE and p.taker_fee <= MAX_FEE, "ch: fee out of bounds")
        require(p.liquidation_penalty <= MAX_PENALTY, "ch: penalty out of bounds")
        require(p.price_band != 0 and p.price_band <= MAX_BAND, "ch: band out of bounds")
        require(p.vault_max_notional <= MAX_AMOUNT, "ch: vault limit out of bounds")
        require(p.max_funding_rate <= MAX_FUNDING_RATE, "ch: funding cap out of bounds")
        require(p.skew_scale >= MIN_SKEW_SCALE and p.skew_scale <= MAX_SIZE, "ch: skew scale out of bounds")
        require(p.min_notional <= MAX_MIN_NOTIONAL, "ch: min notional out of bounds")

    def _imr(self, market: int) -> int:
        """`_rates(market).imr`: the stricter of the ratio in force and an announced one (E4)."""
        pending = self.pending_params.get(market)
        return max(self.params[market].imr, pending.imr if pending is not None else 0)

    @staticmethod
    def _check_risk(r: RiskParams) -> None:
        require(MIN_BUFFER <= r.liquidation_buffer <= MAX_BUFFER, "ch: buffer out of bounds")
        require(r.keeper_share <= MAX_KEEPER_SHARE, "ch: keeper share out of bounds")
        require(r.fund_fee_share <= PPM, "ch: fee share out of bounds")
        require(
            r.vault_max_drawdown != 0 and r.vault_max_drawdown < PPM, "ch: drawdown out of bounds"
        )
        require(r.vault_window != 0 and r.vault_window <= MAX_WINDOW, "ch: window out of bounds")

    def _set_risk(self, r: RiskParams) -> None:
        self._check_risk(r)
        self.risk = r
        self.w.log("RiskParamsSet", r.keeper_share)

    # --- internal: announced parameter changes (param_changes.vy) -----------------------------

    def _announce_market_params(self, market: int, p: MarketParams) -> None:
        self._check_market(market)
        self._check_params(p)
        eta = self.timelock._eta()
        self.pending_params[market] = p
        self.pending_params_eta[market] = eta
        self.w.log("MarketParamsAnnounced", market, eta)

    def _apply_market_params(self, market: int) -> None:
        self.timelock._check_due(self.pending_params_eta.get(market, 0))
        self._accrue(market)
        self.params[market] = self.pending_params[market]
        self._clear_market_params(market)
        self.w.log("MarketParamsSet", market)

    def _cancel_market_params(self, market: int) -> None:
        require(self.pending_params_eta.get(market, 0) != 0, "timelock: nothing announced")
        self._clear_market_params(market)
        self.w.log("MarketParamsCancelled", market)

    def _clear_market_params(self, market: int) -> None:
        self.pending_params.pop(market, None)
        self.pending_params_eta.pop(market, None)

    def _announce_risk_params(self, r: RiskParams) -> None:
        self._check_risk(r)
        eta = self.timelock._eta()
        self.pending_risk, self.pending_risk_eta = r, eta
        self.w.log("RiskParamsAnnounced", r.keeper_share, eta)

    def _apply_risk_params(self) -> None:
        self.timelock._check_due(self.pending_risk_eta)
        self._set_risk(self.pending_risk)
        self._clear_risk_params()

    def _cancel_risk_params(self) -> None:
        require(self.pending_risk_eta != 0, "timelock: nothing announced")
        self.w.log("RiskParamsCancelled", self.pending_risk.keeper_share)
        self._clear_risk_params()

    def _clear_risk_params(self) -> None:
        self.pending_risk, self.pending_risk_eta = None, 0


__all__ = ["AdlPlanner", "Clearinghouse", "Revert"]
