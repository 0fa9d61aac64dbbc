"""The transitions the proofs run on are the model's, step for step, on ints.

`perpvault.prove.transitions` on the :class:`Concrete` backend must leave exactly the state
`perpvault.model.clearinghouse.Clearinghouse` (and the model's `InsuranceFund`) leaves, and
revert where it reverts. The model agrees with the bytecode (tests/unit/test_model_agrees.py),
so a proof over these transitions is a proof over what the contracts compute.
"""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from perpvault.model.clearinghouse import Clearinghouse
from perpvault.model.maths import INT256_MAX, INT256_MIN, Revert
from perpvault.model.periphery import MAX_UINT, InsuranceFund, Token
from perpvault.model.state import Account, MarketParams, MarketState, Position, RiskParams
from perpvault.prove import transitions as t
from perpvault.prove.backend import Concrete

ACCOUNTS = ["0x" + f"{i:040x}" for i in range(1, 6)]
VAULT = "0x" + "f" * 40
CH = "0x" + "c" * 40
FUND = "0x" + "e" * 40


class _Feed:
    address = "0x" + "d" * 40

    def __init__(self, price: int, updated: int = 0) -> None:
        self.p = price
        self.updated = updated

    def price(self, market: int) -> int:
        return self.p

    def latest(self, market: int) -> tuple[int, int]:
        return self.p, self.updated


class _World:
    def __init__(self, price: int) -> None:
        self.now = 0
        self.events: list = []
        self.feed = _Feed(price)
        self.token = Token(self, "0x" + "a" * 40, "owner")
        self.fund = InsuranceFund(self, FUND, CH)

    def log(self, *args) -> None:
        self.events.append(args)


def small_int(b: int) -> st.SearchStrategy[int]:
    return st.one_of(st.integers(-(10**b), 10**b), st.integers(-100, 100))


sizes = st.one_of(small_int(24), st.sampled_from([0, 1, -1, 10**18, -(10**18)]))
money = st.one_of(small_int(30), st.integers(INT256_MIN, INT256_MAX))
prices = st.one_of(st.integers(1, 10**24), st.sampled_from([1, 10**18, 60_000 * 10**18]))
index = st.one_of(small_int(30), st.just(0))
acct = st.fixed_dictionaries({"m": money, "q": sizes, "on": small_int(30), "f": index})


def world(st_: dict, price: int, fee_share: int = 500_000, maker_fee: int = 200) -> Clearinghouse:
    """A model clearinghouse holding exactly the proof state `st_` (one market, id 0)."""
    w = _World(price)
    ch = Clearinghouse(w, CH, "owner", RiskParams(10_000, 200_000, fee_share, 200_000, 86_400))
    w.ch = ch
    ch.vault = VAULT
    ch.market_count = 1
    ch.markets[0] = MarketState(st_["F"], 0, price, st_["pool"], st_["weight"], st_["oi"])
    ch.params[0] = MarketParams(100_000, 50_000, maker_fee, 500, 10_000, 50_000, 10**15, 0, 200_000, 0)
    ch.insurance_due = st_["due"]
    for name, a in st_["acc"].items():
        ch.accounts[name] = Account(a["m"], {0: Position(a["q"], a["on"], a["f"])},
                                    1 if a["q"] != 0 else 0)
        if a["q"] != 0:
            ch._enter_side(name, 0, a["q"] > 0)
    w.token.balances[CH] = st_["bal"]
    w.token.balances[FUND] = st_["fbal"]
    w.token.allowances[(CH, FUND)] = MAX_UINT
    w.fund.total_in, w.fund.total_out = st_["fin"], st_["fout"]
    return ch


def snapshot(ch: Clearinghouse, names) -> dict:
    s = ch.markets[0]
    return {
        "acc": {n: {"m": ch.accounts[n].margin, "q": ch.accounts[n].positions[0].size,
                    "on": ch.accounts[n].positions[0].open_notional,
                    "f": ch.accounts[n].positions[0].funding_index} for n in names},
        "F": s.funding_index, "pool": s.funding_pool, "weight": s.funding_weight,
        "oi": s.open_interest, "due": ch.insurance_due, "bal": ch.w.token.balance_of(CH),
        "fin": ch.w.fund.total_in, "fout": ch.w.fund.total_out,
        "fbal": ch.w.token.balance_of(FUND),
    }


def plain(st_: dict) -> dict:
    return {k: v for k, v in st_.items() if k not in ("rest_q", "rest_v")}


@st.composite
def states(draw, names):
    return {
        "acc": {n: draw(acct) for n in names},
        "F": draw(index), "pool": draw(money), "weight": draw(money),
        "oi": draw(st.integers(0, 10**30)), "due": draw(st.integers(0, 10**30)),
        "bal": draw(st.integers(0, 10**40)), "fin": draw(st.integers(0, 10**30)),
        "fout": 0, "fbal": draw(st.integers(0, 10**30)),
    }


def both(generic, model, names):
    """Run both; they must agree on revert-or-not and, if not, on the whole state."""
    try:
        got = generic()
        g_err = None
    except Revert as exc:
        g_err = exc
    try:
        ch = model()
        m_err = None
    except Revert as exc:
        m_err = exc
    assert (g_err is None) == (m_err is None), f"generic {g_err!r} vs model {m_err!r}"
    if g_err is None:
        assert plain(got) == snapshot(ch, names)


@settings(max_examples=300, deadline=None)
@given(s=states([ACCOUNTS[0]]), price=prices)
def test_settle__matches_model(s, price):
    a = ACCOUNTS[0]

    def model():
        ch = world(s, price)
        ch._settle(a, 0)
        return ch

    both(lambda: t.settle(Concrete(), s, a), model, [a])


@settings(max_examples=300, deadline=None)
@given(s=states([ACCOUNTS[0], ACCOUNTS[1], VAULT]), size=st.integers(1, 10**24), price=prices,
       bfr=st.sampled_from([0, 200, 500, 10_000]), sfr=st.sampled_from([0, 200, 500]),
       share=st.sampled_from([0, 1, 500_000, 10**6]), roles=st.sampled_from(["plain", "vs", "vb"]))
def test_trade__matches_model(s, size, price, bfr, sfr, share, roles):
    buyer, seller = {"plain": (ACCOUNTS[0], ACCOUNTS[1]), "vs": (ACCOUNTS[0], VAULT),
                     "vb": (VAULT, ACCOUNTS[1])}[roles]
    names = [ACCOUNTS[0], ACCOUNTS[1], VAULT]

    def model():
        ch = world(s, price, fee_share=share)
        ch._trade(buyer, seller, 0, size, price, bfr, sfr, False)
        return ch

    both(lambda: t.trade(Concrete(), s, buyer, seller, size, price, bfr, sfr, share, VAULT)[0],
         model, names)


# --- funding accrual: `_rate`, `_current_index`, `_accrue` ------------------------------------

caps = st.one_of(st.sampled_from([0, 1, 10**18 // 3600 // 1000, 10**18 // 3600 // 100]),
                 st.integers(0, 2**64 - 1))
scales = st.one_of(st.sampled_from([1, 10**18, 100 * 10**18, 10**36]), st.integers(1, 10**21),
                   st.integers(1, 10**36))
vault_sizes = st.one_of(st.integers(-(10**27), 10**27), st.sampled_from([2**127 - 1, -(2**127)]),
                        st.integers(-(2**127), 2**127 - 1), sizes)
funding_prices = st.one_of(st.sampled_from([10**18, 3_000 * 10**18, 60_000 * 10**18]), prices,
                           st.sampled_from([0, 10**36]))


@st.composite
def funding_states(draw, names):
    """A proof state with the accrual's fields (transitions.py): last time, funding price,
    cap and skew scale; the vault's size over the whole stored (int128) range."""
    s = draw(states(names))
    s["last"] = draw(st.integers(0, 2**40))
    s["fp"] = draw(funding_prices)
    if draw(st.booleans()):
        # A market like the deployed ones: up to 10**9 whole units in the vault, a real cap
        # and scale (most such draws accrue something).
        units = draw(st.integers(-(10**9), 10**9).filter(bool))
        s["acc"][VAULT]["q"] = units * 10**18 + draw(st.integers(-(10**18) + 1, 10**18 - 1))
        s.update(cap=draw(st.sampled_from([10**18 // 3600 // 1000, 10**18 // 3600 // 100])),
                 scale=draw(st.sampled_from([10**18, 100 * 10**18, 2_000 * 10**18])))
        return s
    s["acc"][VAULT]["q"] = draw(vault_sizes)
    s.update(cap=draw(caps), scale=draw(scales))
    return s


@st.composite
def oracle_at(draw, s):
    """(now, p_now, updated): up to a year after the last accrual; the oracle's latest update
    dated before the interval, inside it, at its end, or (never for a real feed) ahead."""
    dt = draw(st.one_of(st.integers(0, 2), st.integers(0, 10**6), st.just(86_400 * 365)))
    now = s["last"] + dt
    updated = draw(st.one_of(st.integers(max(s["last"] - 10**6, 0), s["last"]), st.integers(s["last"], now),
                             st.just(now), st.just(now + 1)))
    return now, draw(funding_prices), updated


def funding_world(s: dict, now: int, p_now: int, updated: int) -> Clearinghouse:
    """`world` with the market last accrued at s["last"] at funding price s["fp"], its cap and
    skew scale, the clock at `now` and the oracle's latest round (p_now, updated)."""
    ch = world(s, p_now)
    ch.w.feed.updated = updated
    ch.w.now = now
    ch.markets[0].last_funding_time = s["last"]
    ch.markets[0].funding_price = s["fp"]
    ch.params[0].max_funding_rate = s["cap"]
    ch.params[0].skew_scale = s["scale"]
    return ch


def outcome(run):
    try:
        return run()
    except Revert:
        return Revert


@settings(max_examples=300, deadline=None)
@given(data=st.data(), s=funding_states([VAULT]))
def test_rate_and_current_index__match_model(data, s):
    now, p_now, updated = data.draw(oracle_at(s))
    ch = funding_world(s, now, p_now, updated)
    assert outcome(lambda: t.rate(Concrete(), s, VAULT)) == outcome(lambda: ch._rate(0))
    assert outcome(lambda: t.current_index(Concrete(), s, VAULT, now, p_now, updated)) == outcome(
        lambda: ch._current_index(0))


@settings(max_examples=300, deadline=None)
@given(data=st.data(), s=funding_states([VAULT, ACCOUNTS[0]]))
def test_accrue__matches_model(data, s):
    now, p_now, updated = data.draw(oracle_at(s))
    names = [VAULT, ACCOUNTS[0]]

    def model():
        ch = funding_world(s, now, p_now, updated)
        ch._accrue(0)
        return ch

    def generic():
        return t.accrue(Concrete(), s, VAULT, now, p_now, updated)

    both(lambda: {k: v for k, v in generic().items() if k not in ("last", "fp", "cap", "scale")},
         model, names)
    try:
        got, ch = generic(), model()
    except Revert:
        return
    assert (got["last"], got["fp"]) == (ch.markets[0].last_funding_time, ch.markets[0].funding_price)


@settings(max_examples=300, deadline=None)
@given(s=states([ACCOUNTS[0]]), amount=st.integers(0, 10**31))
def test_cover__matches_model(s, amount):
    a = ACCOUNTS[0]

    def model():
        ch = world(s, 10**18)
        ch.w.fund.cover(CH, amount)
        return ch

    both(lambda: t.cover(Concrete(), s, amount)[0], model, [a])


@settings(max_examples=300, deadline=None)
@given(s=states([ACCOUNTS[0]]), after=st.one_of(st.integers(-(10**31), 10**6), st.just(0)))
def test_cover_bad_debt__dues_first__matches_model(s, after):
    a = ACCOUNTS[0]

    def model():
        ch = world(s, 10**18)
        ch._cover_bad_debt(a, after)
        return ch

    both(lambda: t.bad_debt(Concrete(), s, a, after)[0], model, [a])


@settings(max_examples=300, deadline=None)
@given(s=states([ACCOUNTS[0]]))
def test_sweep__matches_model(s):
    a = ACCOUNTS[0]

    def model():
        ch = world(s, 10**18)
        ch.sweep_to_insurance("anyone")
        return ch

    both(lambda: t.sweep_to_insurance(Concrete(), s)[0], model, [a])


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(data=st.data(), n=st.integers(1, 3), price=prices,
       haircut=st.one_of(st.integers(0, 10**12), st.just(0)),
       maker_fee=st.sampled_from([0, 200]))
def test_deleverage__matches_model(data, n, price, haircut, maker_fee):
    bankrupt, cps = ACCOUNTS[0], ACCOUNTS[1 : 1 + n]
    s = data.draw(states([bankrupt, *cps]))
    side = data.draw(st.sampled_from([1, -1]))
    takes = [data.draw(st.integers(1, 10**22)) for _ in cps]
    for c, take in zip(cps, takes, strict=True):
        s["acc"][c]["q"] = side * take
        s["acc"][c]["m"] = data.draw(st.integers(10**25, 10**30))  # solvent after the haircut
    # The bankrupt position is exactly what the listed counterparties hold: all are consumed.
    s["acc"][bankrupt]["q"] = -side * sum(takes)
    s["acc"][bankrupt]["f"] = s["F"]
    # The contract requires the list in ADL order: sort it as the model ranks it.
    ranker = world(s, price, maker_fee=maker_fee)
    try:
        for c in cps:
            ranker._settle_all(c)
        order = sorted(cps, key=lambda c: (-ranker._score(c, 0), int(c, 16)))
    except Revert:
        assume(False)  # the counterparties' own funding or score overflows: not an ADL case
    close = -s["acc"][bankrupt]["q"]

    def model():
        ch = world(s, price, maker_fee=maker_fee)
        ch._deleverage(bankrupt, 0, close, price, haircut, order, 0)
        return ch

    # The transitions take lists whose counterparties each pay their whole part: one the
    # contract caps (it could not) or skips is outside them.
    try:
        legs = t.deleverage(Concrete(), s, bankrupt, close, price, haircut, order, maker_fee)[1]
    except Revert:
        legs = None
    try:
        ran = model()
    except Revert as exc:
        # Checks the proofs do not model (they only add reverts).
        assume(exc.reason not in ("ch: adl order", "ch: adl skipped a higher-ranked position"))
        # The list is exactly as long as whole takes need: "too short" where the transitions
        # pass means a counterparty was capped or skipped.
        assume(not (exc.reason == "ch: adl list too short" and legs is not None))
    else:
        assume([e[4] for e in ran.w.events if e[0] == "Deleveraged"] == [leg["delta"] for leg in legs or []])
    both(lambda: t.deleverage(Concrete(), s, bankrupt, close, price, haircut, order,
                              maker_fee)[0], model, [bankrupt, *cps])


# --- the z3 encoding of the transitions means what the ints mean ---------------------------------

import z3  # noqa: E402

from perpvault.prove.backend import Symbolic  # noqa: E402
from perpvault.prove.checks import sym_state  # noqa: E402

FIELDS = {"m": "margin", "q": "size", "on": "open_notional", "f": "funding_index"}


FUNDING_FIELDS = ("last", "fp", "cap", "scale")


def symbolic_agrees(names, s, params: dict, run) -> None:
    """Run `run(B, st, p)` on z3 terms over fresh variables, substitute the concrete state
    `s` and parameters, and compare with the same run on ints: same revert-or-not, same
    state (the accrual's fields too, when `s` has them)."""
    B = Symbolic()
    st_sym = sym_state(list(names), [])
    extra = [k for k in FUNDING_FIELDS if k in s]
    st_sym.update({k: z3.Int(k) for k in extra})
    p_sym = {k: z3.Int(k) for k in params}
    sub = [(z3.Int(f"{n}.{FIELDS[k]}"), z3.IntVal(s["acc"][n][k])) for n in names for k in FIELDS]
    sub += [(z3.Int(k), z3.IntVal(s[k])) for k in ("F", "pool", "weight", "oi", "due", "bal",
                                                     "fin", "fout", "fbal", *extra)]
    sub += [(p_sym[k], z3.IntVal(v)) for k, v in params.items()]
    post = run(B, st_sym, p_sym)
    ok = z3.simplify(z3.substitute(z3.And(*B.conds), *sub))
    try:
        want = run(Concrete(), s, params)
    except Revert:
        assert z3.is_false(ok), "ints revert, the z3 no-revert conditions hold"
        return
    assert z3.is_true(ok), "ints do not revert, the z3 no-revert conditions fail"

    def ev(x):
        return z3.simplify(z3.substitute(x, *sub)).as_long() if z3.is_expr(x) else x

    for n in names:
        for k in FIELDS:
            assert ev(post["acc"][n][k]) == want["acc"][n][k], (n, k)
    for k in ("F", "pool", "weight", "oi", "due", "bal", "fin", "fout", "fbal", *extra):
        assert ev(post[k]) == want[k], k


@settings(max_examples=60, deadline=None)
@given(s=states(["buyer", "seller", "vault"]), size=st.integers(1, 10**24), price=prices,
       bfr=st.sampled_from([0, 500]), sfr=st.sampled_from([0, 200]),
       share=st.sampled_from([0, 500_000, 10**6]))
def test_trade__z3_term_means_the_same(s, size, price, bfr, sfr, share):
    params = {"size": size, "price": price, "bfr": bfr, "sfr": sfr, "share": share}
    symbolic_agrees(["buyer", "seller", "vault"], s, params, lambda B, x, p: t.trade(
        B, x, "buyer", "seller", p["size"], p["price"], p["bfr"], p["sfr"], p["share"],
        "vault")[0])


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.integers(1, 3), price=prices, haircut=st.integers(0, 10**12),
       side=st.sampled_from([1, -1]))
def test_deleverage__z3_term_means_the_same(data, n, price, haircut, side):
    cps = [f"cp{i}" for i in range(n)]
    s = data.draw(states(["a", *cps]))
    takes = [data.draw(st.integers(1, 10**22)) for _ in cps]
    for c, take in zip(cps, takes, strict=True):
        s["acc"][c]["q"] = side * take
    s["acc"]["a"]["q"] = -side * sum(takes) + data.draw(st.sampled_from([0, 0, 0, 1, -1]))
    params = {"price": price, "haircut": haircut, "maker_fee": 200}
    symbolic_agrees(["a", *cps], s, params, lambda B, x, p: t.deleverage(
        B, x, "a", -x["acc"]["a"]["q"], p["price"], p["haircut"], cps, p["maker_fee"])[0])


@settings(max_examples=60, deadline=None)
@given(s=states(["a"]), amount=st.integers(0, 10**31), after=money)
def test_settle_cover_sweep__z3_terms_mean_the_same(s, amount, after):
    symbolic_agrees(["a"], s, {}, lambda B, x, p: t.settle(B, x, "a"))
    symbolic_agrees(["a"], s, {"after": after}, lambda B, x, p: t.bad_debt(B, x, "a",
                                                                           p["after"])[0])
    symbolic_agrees(["a"], s, {}, lambda B, x, p: t.sweep_to_insurance(B, x)[0])



@settings(max_examples=60, deadline=None)
@given(data=st.data(), s=funding_states([VAULT]))
def test_accrue__z3_term_means_the_same(data, s):
    now, p_now, updated = data.draw(oracle_at(s))
    params = {"now": now, "p_now": p_now, "updated": updated}
    symbolic_agrees([VAULT], s, params, lambda B, x, p: t.accrue(B, x, VAULT, p["now"], p["p_now"],
                                                                 p["updated"]))
