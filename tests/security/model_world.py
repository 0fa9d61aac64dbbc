"""The reference model set up like the `book` fixture, for the Hypothesis attack tests: fast,
pure Python, the same integer maths as the contracts (perpvault.model)."""

from __future__ import annotations

from dataclasses import replace

from perpvault.chain.deploy import DEFAULT_MARKETS, DEFAULT_RISK, VAULT_SPREAD
from perpvault.model import Exchange, MarketParams, RiskParams
from perpvault.units import usdc
from tests.utils import spec

OWNER = "0x" + "0a" * 20
UPDATER = "0x" + "0b" * 20
KEEPER = "0x" + "0c" * 20
LP = "0x" + "0d" * 20
A = "0x" + "a1" * 20  # the attacker's accounts
B = "0x" + "b2" * 20
C = "0x" + "c3" * 20
FEE_SHARE = DEFAULT_RISK[2]  # fund's share of fees, ppm


def exchange(*, funding: bool = False, vault_capital: int = usdc(1_000_000),
             margins: dict[str, int] | None = None, min_notional: int | None = None) -> Exchange:
    """A model exchange with the default markets (funding off unless asked; `min_notional` in
    every market if given), an LP's capital in the vault, and each of `margins`' accounts funded
    with its margin (A and B: 1M each)."""
    specs = DEFAULT_MARKETS if funding else tuple(replace(m, max_funding_rate=0) for m in DEFAULT_MARKETS)
    if min_notional is not None:
        specs = tuple(replace(m, min_notional=min_notional) for m in specs)
    ex = Exchange(
        OWNER,
        UPDATER,
        markets=[(MarketParams.of(m.params()), m.initial_price) for m in specs],
        risk=RiskParams.of(DEFAULT_RISK),
    )
    margins = {A: usdc(1_000_000), B: usdc(1_000_000)} if margins is None else margins
    for account in (LP, KEEPER, *margins):
        ex.mint(account, usdc(10_000_000))
        for spender in (ex.ch.address, ex.w.vault.address, ex.w.fund.address):
            ex.approve(account, spender)
    ex.vault_deposit(LP, vault_capital)
    for account, amount in margins.items():
        if amount:
            ex.deposit(account, amount)
    return ex


def vault_quote(oracle: int, buy: bool, spread: int = VAULT_SPREAD) -> int:
    """mechanism.md section 4 (`tests.utils.spec.vault_quote`) at the deployed spread."""
    return spec.vault_quote(oracle, buy, spread)
