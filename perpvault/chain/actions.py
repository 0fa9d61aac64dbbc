"""Drive the deployed system: fund accounts, sign and match orders, move oracle prices.

Used by the tests, the demo and the scenarios.
"""

from __future__ import annotations

import secrets

from perpvault.chain.orders import Order, sign_order, sign_order_with


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
    key = getattr(account, "private_key", None)  # ape's test accounts; keyfiles and hardware wallets have none
    if key is None:
        sig = sign_order_with(account, order, chain_id=chain.chain_id, order_book=system.order_book.address)
    else:
        sig = sign_order(key, order, chain_id=chain.chain_id, order_book=system.order_book.address)
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


def change_oracle(
    system,
    *,
    chain,
    updater=None,
    bounds: tuple[int, int] | None = None,
    delay: int | None = None,
    adapter=None,
    feeds: dict | None = None,
) -> list:
    """Change the oracle wiring the only way its owner can: announce, wait out the delay,
    refresh the prices, apply.

    `updater`, `bounds` ((max_age, max_jump)) and `delay` are the PriceFeed's; `feeds`
    ({market: aggregator}) are `adapter`'s (a ChainlinkAdapter). Every announce is sent,
    then the chain warps by the longest delay in force, then every market's last PriceFeed
    price is posted again (the wait leaves it stale; Chainlink aggregators are the caller's
    to refresh), then every apply is sent. `system.oracle_updater` follows a new updater.
    Returns the apply receipts.
    """
    feed, owner = system.feed, system.owner
    applies = []
    if updater is not None:
        feed.announce_updater(updater, sender=owner)
        applies.append(feed.apply_updater)
    if bounds is not None:
        feed.announce_bounds(*bounds, sender=owner)
        applies.append(feed.apply_bounds)
    if delay is not None:
        feed.announce_delay(delay, sender=owner)
        applies.append(feed.apply_delay)
    wait = feed.delay()
    for market, aggregator in (feeds or {}).items():
        adapter.announce_feed(market, aggregator, sender=owner)
        applies.append(lambda m=market, **kw: adapter.apply_feed(m, **kw))
        wait = max(wait, adapter.delay())
    chain.pending_timestamp += wait
    refresh_prices(system)
    receipts = [apply(sender=owner) for apply in applies]
    if updater is not None:
        system.oracle_updater = updater
    return receipts


def refresh_prices(system) -> None:
    """The updater posts every PriceFeed-priced market's last price again, stamped now."""
    for market in range(system.clearinghouse.market_count()):
        last = system.feed.latest(market)[0]
        if last != 0:
            set_price(system, market, last)
