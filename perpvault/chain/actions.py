"""Drive the deployed system: fund accounts, sign and match orders, move oracle prices.

Used by the tests, the demo and the scenarios.
"""

from __future__ import annotations

import secrets

from perpvault.chain.orders import Order, sign_order


def fund_account(system, account, amount: int, *, deposit: bool = True) -> None:
    """Mint `amount` atoms of collateral to `account`, approve the clearinghouse, and deposit it."""
    system.usdc.mint(account, amount, sender=system.owner)
    system.usdc.approve(system.clearinghouse, 2**256 - 1, sender=account)
    if deposit:
        system.clearinghouse.deposit(amount, sender=account)


def signed(
    system,
    account,
    market: int,
    size: int,
    limit_price: int,
    *,
    chain,
    nonce: int | None = None,
    expiry: int | None = None,
) -> tuple[tuple, bytes]:
    """An order of `account` and its signature, ready for OrderBook.match_orders."""
    order = Order(
        account=account.address,
        market=market,
        size=size,
        limit_price=limit_price,
        nonce=secrets.randbits(64) if nonce is None else nonce,
        expiry=chain.pending_timestamp + 3600 if expiry is None else expiry,
    )
    sig = sign_order(
        account.private_key, order, chain_id=chain.chain_id, order_book=system.order_book.address
    )
    return order.as_tuple(), sig


def trade(system, maker, taker, market: int, taker_size: int, price: int, *, chain, sender=None):
    """Match a maker order at `price` with a taker order for `taker_size` (> 0: the taker buys)."""
    maker_order, maker_sig = signed(system, maker, market, -taker_size, price, chain=chain)
    taker_order, taker_sig = signed(system, taker, market, taker_size, price, chain=chain)
    return system.order_book.match_orders(
        maker_order, maker_sig, taker_order, taker_sig, abs(taker_size), sender=sender or taker
    )


def set_price(system, market: int, new_price: int) -> None:
    system.feed.set_price(market, new_price, sender=system.oracle_updater)


def refresh_prices(system) -> None:
    """Re-post every market's last price (same value, new timestamp): after a long warp the
    feed is stale and the clearinghouse reads fail closed."""
    for market in range(system.clearinghouse.market_count()):
        price, _ = system.feed.latest(market)
        set_price(system, market, price)


def change_params(system, *, chain, markets: dict | None = None, risk: tuple | None = None) -> None:
    """Change parameters the only way the owner can: announce, wait out the timelock's delay
    (the chain's clock moves by it), refresh the oracle, apply.

    `markets`: {market id: MarketParams tuple}; `risk`: a RiskParams tuple. Everything
    announced is applied in one go once due."""
    ch, owner = system.clearinghouse, system.owner
    markets = markets or {}
    for market, params in markets.items():
        ch.announce_market_params(market, tuple(params), sender=owner)
    if risk is not None:
        ch.announce_risk_params(tuple(risk), sender=owner)
    chain.pending_timestamp += ch.delay()
    chain.mine()
    refresh_prices(system)
    for market in markets:
        ch.apply_market_params(market, sender=owner)
    if risk is not None:
        ch.apply_risk_params(sender=owner)
