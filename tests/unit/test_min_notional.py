"""The minimum position notional (SPEC section 4, docs/mechanism.md section 6): a voluntary trade
may not leave a position below the market's `min_notional` at the oracle price, other than flat.
The vault's own side is exempt; liquidation and ADL are too (tests/security/test_attack_dust_adl.py)."""

from __future__ import annotations

import ape

from perpvault.units import size
from tests.utils.spec import VALUE_UNIT, ceil_div
from tests.utils.trading import set_price, trade

BTC = 0
BELOW = "ch: position below minimum notional"


def smallest_size(minimum: int, oracle: int) -> int:
    """The smallest size whose notional (|q| x price, rounded up) reaches `minimum`."""
    return (minimum - 1) * VALUE_UNIT // oracle + 1


def test_fill__at_the_minimum_passes__one_wei_below_reverts(system, funded, chain):
    maker, taker, trader = funded
    spec = system.markets[BTC]
    q = smallest_size(spec.min_notional, spec.initial_price)
    assert ceil_div(q * spec.initial_price, VALUE_UNIT) == spec.min_notional == 10_000_000
    trade(system, maker, taker, BTC, q, spec.initial_price, chain=chain)
    assert system.clearinghouse.positions(taker, BTC).size == q
    with ape.reverts(BELOW):
        trade(system, maker, trader, BTC, q - 1, spec.initial_price, chain=chain)


def test_position_under_the_minimum_after_a_price_move__closes_but_cannot_be_trimmed(system, funded, chain):
    maker, taker, _ = funded
    spec = system.markets[BTC]
    q = smallest_size(spec.min_notional, spec.initial_price) + 10**12
    trade(system, maker, taker, BTC, q, spec.initial_price, chain=chain)
    lower = spec.initial_price * 9 // 10
    set_price(system, BTC, lower)  # the long is now worth ~9 USDC
    with ape.reverts(BELOW):
        trade(system, maker, taker, BTC, -(10**12), lower, chain=chain)
    with ape.reverts(BELOW):  # growing it a little is no better
        trade(system, maker, taker, BTC, 10**12, lower, chain=chain)
    trade(system, maker, taker, BTC, -q, lower, chain=chain)  # closing to zero always passes
    assert system.clearinghouse.positions(taker, BTC).size == 0


def test_vault_trade__the_vaults_own_side_is_exempt(system, funded, vault_funded):
    _, taker, trader = funded
    ch, vault = system.clearinghouse, system.vault
    vault.trade(BTC, size(1), 2**256 - 1, sender=taker)  # the vault is short 1 BTC
    vault.trade(BTC, -(size(1) - 1), 0, sender=trader)  # and now short 1 wei: allowed
    assert ch.positions(vault, BTC).size == -1
    with ape.reverts(BELOW):  # the trader's side is not exempt
        vault.trade(BTC, size(1) - 1 - 10**12, 2**256 - 1, sender=trader)
