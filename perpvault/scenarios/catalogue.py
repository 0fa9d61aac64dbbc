"""The scenarios: `oct10`, `whale`, `grind`. Each is a pure function of its seed."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import replace

from perpvault.chain.deploy import MarketSpec
from perpvault.scenarios.book import Scenario, TraderSpec
from perpvault.units import USDC, price

# Markets with crypto-exchange leverage: up to 50x BTC, 40x ETH, 20x for the alt. Funding
# reaches its cap when the vault's skew is about 6M USDC (the skew scale, in base units).
BTC = MarketSpec("BTC-PERP", price(120_000), imr=20_000, mmr=10_000, liquidation_penalty=5_000,
                 vault_max_notional=2 * 10**14, skew_scale=50 * 10**18)
ETH = MarketSpec("ETH-PERP", price(4_400), imr=25_000, mmr=12_500, liquidation_penalty=5_000,
                 vault_max_notional=10**14, skew_scale=1_500 * 10**18)
ALT = MarketSpec("ALT-PERP", price(25), imr=50_000, mmr=25_000, liquidation_penalty=10_000,
                 vault_max_notional=2 * 10**13, skew_scale=250_000 * 10**18)


def _crash_path(start: int, depth: float, rebound: float, steps: int, trough: int,
                rng: random.Random, noise: float = 0.002, sharpness: float = 12) -> list[int]:
    """A fall of `depth` (0.14 = -14%) reaching its low at step `trough`, accelerating like a
    liquidation cascade (a logistic curve: the larger `sharpness`, the more of the fall lands in
    the few steps around the middle), then a rebound recovering `rebound` of the fall."""
    path = []
    edge = 1 / (1 + math.exp(sharpness / 2))
    for t in range(steps + 1):
        if t <= trough:
            x = (t / trough) * sharpness - sharpness / 2
            fall = depth * (1 / (1 + math.exp(-x)) - edge) / (1 - 2 * edge)
        else:
            back = (t - trough) / max(steps - trough, 1)
            fall = depth * (1 - rebound * math.sin(back * math.pi / 2))
        jitter = 1 + rng.uniform(-noise, noise) if 0 < t < steps else 1
        path.append(int(start * (1 - fall) * jitter))
    path[0] = start
    return path


def _leverage(rng: random.Random, max_leverage: float) -> float:
    """Most traders at 2-10x, a tail at 20-50x (capped just under the market's maximum)."""
    lev = rng.uniform(2, 10) if rng.random() < 0.85 else rng.uniform(20, 50)
    return min(lev, max_leverage * 0.9)


def oct10(seed: int = 20251010, traders: int = 500) -> Scenario:
    """10 Oct 2025-style cascade: BTC -14%, ETH -20%, an alt -60% over 36 steps with a
    rebound, a long-heavy book of `traders` accounts, an LP vault and a modest fund."""
    rng = random.Random(seed)
    # The vault takes the book's long/short imbalance at the opening: its capital and notional
    # limits scale with the book beyond 500 traders (at 5,000 the ALT imbalance hit
    # `ch: vault limit`; tuned with perpvault.replay).
    scale = max(1, -(-traders // 500))
    markets = tuple(replace(m, vault_max_notional=m.vault_max_notional * scale) for m in (BTC, ETH, ALT))
    # Sharpness 24: the middle of the fall gaps (ALT -20% in one step), as on 10 Oct when books
    # thinned out. The keeper sweeps liquidation penalties into the fund after every step, so a
    # gentler path (12) lets the fund outgrow the bad debt and ADL never runs (tuned with
    # perpvault.replay on the model: 500 traders, fund 20k -> 94 traders deleveraged).
    steps, trough, sharp = 36, 24, 24
    paths = [
        _crash_path(BTC.initial_price, 0.14, 0.45, steps, trough, rng, sharpness=sharp),
        _crash_path(ETH.initial_price, 0.20, 0.40, steps, trough, rng, sharpness=sharp),
        _crash_path(ALT.initial_price, 0.60, 0.35, steps, trough, rng, sharpness=sharp),
    ]
    book = []
    for i in range(traders):
        market = rng.choices((0, 1, 2), weights=(0.5, 0.3, 0.2))[0]
        max_lev = 10**6 / markets[market].imr
        margin = int(min(rng.lognormvariate(math.log(5_000), 1.0), 250_000) * USDC)
        book.append(TraderSpec(f"trader{i:04d}", market, rng.random() < 0.7, max(margin, 100 * USDC),
                               _leverage(rng, max_lev)))
    return Scenario(
        name="oct10",
        seed=seed,
        description="A 10 Oct 2025-style cascade: BTC -14%, ETH -20%, ALT -60%, long-heavy book",
        markets=markets,
        prices=tuple(zip(*paths)),
        traders=tuple(book),
        vault_deposit=5_000_000 * USDC * scale,
        # Tuned with perpvault.replay: at 50k the fund covered every bad debt of the
        # 500-trader book (49.4k at its low) and ADL never ran; at 20k it runs dry mid-crash and
        # the rest of the shortfall is socialized.
        fund_donation=20_000 * USDC,
        entry_premium=(0.0005, 0.0008, 0.002),
    )


def whale(seed: int = 7) -> Scenario:
    """One huge 40x long larger than the fund, a handful of ordinary traders, one sharp drop."""
    rng = random.Random(seed)
    markets = (BTC, ETH)
    steps = 12
    paths = [
        _crash_path(BTC.initial_price, 0.08, 0.2, steps, 8, rng, noise=0.0005),
        _crash_path(ETH.initial_price, 0.03, 0.2, steps, 8, rng, noise=0.0005),
    ]
    book = [TraderSpec("whale", 0, True, 2_000_000 * USDC, 40.0)]
    for i in range(40):
        book.append(TraderSpec(f"trader{i:04d}", rng.choice((0, 1)), rng.random() < 0.4,
                               int(rng.uniform(5_000, 50_000) * USDC), rng.uniform(2, 8)))
    return Scenario(
        name="whale",
        seed=seed,
        description="One 40x whale long of 80M notional against a 100k fund, BTC -8%",
        markets=markets,
        prices=tuple(zip(*paths)),
        traders=tuple(book),
        vault_deposit=3_000_000 * USDC,
        fund_donation=100_000 * USDC,
    )


def grind(seed: int = 11) -> Scenario:
    """A slow trend where funding, not price, drains the weak side: prices drift 3% over a
    week of hourly steps while the crowded long side pays funding for the skew the vault
    carries (60% of the traders are long, at higher leverage)."""
    rng = random.Random(seed)
    markets = (BTC, ETH)
    steps = 168
    paths = []
    for spec, drift in ((BTC, -0.03), (ETH, -0.02)):
        paths.append([int(spec.initial_price * (1 + drift * t / steps) * (1 + rng.uniform(-0.001, 0.001)))
                      if 0 < t < steps else int(spec.initial_price * (1 + drift * t / steps))
                      for t in range(steps + 1)])
    book = []
    for i in range(120):
        market = rng.choice((0, 1))
        long = rng.random() < 0.6
        lev = rng.uniform(15, 40) if long else rng.uniform(2, 6)
        # Tuned with perpvault.replay: entering 30 bp over the oracle costs a 40x long
        # 12% of its margin at once, under ETH's 2.5% initial margin; cap at 80% of the maximum.
        lev = min(lev, 0.8 * 10**6 / markets[market].imr)
        book.append(TraderSpec(f"trader{i:04d}", market, long, int(rng.uniform(2_000, 20_000) * USDC), lev))
    return Scenario(
        name="grind",
        seed=seed,
        description="A week of hourly steps: a 3% drift, crowded longs paying funding for the vault's skew",
        markets=markets,
        prices=tuple(zip(*paths)),
        traders=tuple(book),
        vault_deposit=2_000_000 * USDC,
        fund_donation=20_000 * USDC,
        seconds_per_step=3_600,
        entry_premium=(0.003, 0.003),
    )


SCENARIOS: dict[str, Callable[..., Scenario]] = {"oct10": oct10, "whale": whale, "grind": grind}


def build(name: str, **kwargs) -> Scenario:
    try:
        return SCENARIOS[name](**kwargs)
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None
