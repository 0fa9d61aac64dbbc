"""Order books the waterfall tests start from, opened with real fills (signed orders and vault
trades). Each returns the numbers a test needs to compute its expectations from the spec."""

from __future__ import annotations

from dataclasses import dataclass

from perpvault.units import price, size, usdc
from tests.waterfall.spec import charge, fund_account, open_position

BTC, ETH = 0, 1
TAKER_FEE, MAKER_FEE, PENALTY, KEEPER_SHARE, BUFFER = 500, 200, 10_000, 200_000, 200_000
VAULT_SPREAD = 1_000
CRASH = price(53_000)  # where the `crashed_book` fixture leaves BTC


@dataclass
class Leg:
    account: object
    q: int  # signed size
    basis: int  # what was paid (long, > 0) or received (short, < 0)
    margin: int  # margin after fees


def fill(system, chain, long, short, market, q, p, long_margin: dict, short_margin: dict) -> None:
    """`long` buys `q` from `short` (maker) at `p`; track margins after fees."""
    open_position(system, chain, long, short, market, q, p)
    long_margin[long] = long_margin.get(long, 0) - charge(q, p, TAKER_FEE)
    short_margin[short] = short_margin.get(short, 0) - charge(q, p, MAKER_FEE)


def vault_sell_price(p: int) -> int:
    """The vault quotes a buyer p * (1 + spread), rounded up."""
    return -(-p * (10**6 + VAULT_SPREAD) // 10**6)


def vault_buy_price(p: int) -> int:
    return p * (10**6 - VAULT_SPREAD) // 10**6


def buy_from_vault(system, account, market, q, p) -> int:
    """`account` buys `q` (> 0) or sells (< 0) against the vault at the oracle price `p` plus
    spread; returns the fill price."""
    fill_price = vault_sell_price(p) if q > 0 else vault_buy_price(p)
    limit = price(10**9) if q > 0 else 1
    system.vault.trade(market, q, limit, sender=account)
    return fill_price


def fund(system, account, amount) -> int:
    fund_account(system, account, amount)
    return amount


def adl_book(system, chain, taker, maker, trader, others, bankrupt_margin=usdc(6_100)):
    """A 1 BTC long (taker) bought at 60,000: 0.4 from maker, 0.25 from others[1], 0.3 from
    others[0], 0.05 from the vault; trader buys 0.3 from the vault. Shorts: maker 0.4
    (margin 4,000), others[1] 0.25 (3,000), others[0] 0.3 (10,000), vault 0.35."""
    a8, a9 = others
    margins = {}
    for account, amount in ((taker, bankrupt_margin), (maker, usdc(4_000)), (a9, usdc(3_000)),
                            (a8, usdc(10_000)), (trader, usdc(20_000))):
        margins[account] = fund(system, account, amount)
    p0 = price(60_000)
    fill(system, chain, taker, maker, BTC, size("0.4"), p0, margins, margins)
    fill(system, chain, taker, a9, BTC, size("0.25"), p0, margins, margins)
    fill(system, chain, taker, a8, BTC, size("0.3"), p0, margins, margins)
    vp = buy_from_vault(system, taker, BTC, size("0.05"), p0)
    margins[taker] -= charge(size("0.05"), vp, TAKER_FEE)
    buy_from_vault(system, trader, BTC, size("0.3"), p0)
    margins[trader] -= charge(size("0.3"), vp, TAKER_FEE)
    basis = {
        taker: -(-(size("0.95") * p0) // 10**30) + -(-(size("0.05") * vp) // 10**30),
        maker: -(size("0.4") * p0 // 10**30),
        a9: -(size("0.25") * p0 // 10**30),
        a8: -(size("0.3") * p0 // 10**30),
    }
    return margins, basis, vp
