from perpvault.units import price, size, usdc
from tests.utils.checks import assert_invariants
from tests.utils.trading import fund_account, trade


def test_fill__moves_opposite_sizes_and_keeps_books_exact(system, maker, taker, chain):
    for account in (maker, taker):
        fund_account(system, account, usdc(10_000))
    trade(system, maker, taker, 0, size("0.1"), price(60_000), chain=chain)
    assert system.clearinghouse.position(taker, 0)[0] == size("0.1")
    assert system.clearinghouse.position(maker, 0)[0] == -size("0.1")
    assert_invariants(system)
