"""From a crash to auto-deleveraging, with perpvault.scripting on a local chain.

    .venv/bin/python examples/crash_to_adl.py

ape starts its own Anvil (ethereum:local:foundry). An LP seeds the vault; the insurance fund
holds only its share of the opening trades' fees. Alice opens a 9x BTC long against Bob;
Dave is long against Carol. BTC falls 11.7 % in one oracle update: Alice's loss is more than
her margin. The keeper liquidates her: the fund covers what it can, and the rest of the
shortfall is socialized by ADL on the profitable shorts, first in the queue first, at the ADL
price, and exactly the shortfall is taken.
"""

from __future__ import annotations

import warnings
from decimal import Decimal

warnings.filterwarnings("ignore", message=".*import_remapping.*")  # ape-vyper's settings model, on every start

from ape import accounts, networks  # noqa: E402
from ape.logging import logger  # noqa: E402

from perpvault.scripting import Venue  # noqa: E402


def main() -> None:
    logger.set_level("ERROR")  # no "Contract deployed" lines
    with networks.parse_network_choice("ethereum:local:foundry"):
        venue = Venue.deploy()
        lp, alice, bob, carol, dave = accounts.test_accounts[3:8]
        names = {alice.address: "alice", bob.address: "bob", carol.address: "carol", dave.address: "dave"}

        venue.lp_deposit(lp, 200_000)
        venue.deposit(alice, 10_000)
        venue.deposit(bob, 40_000)
        venue.deposit(carol, 20_000)
        venue.deposit(dave, 10_000)
        venue.open(long=alice, short=bob, market="BTC-PERP", size="1.5")  # at the oracle: 60,000
        venue.open(long=dave, short=carol, market="BTC-PERP", size="0.5")
        print(f"alice: {venue.position(alice, 'BTC').size} BTC at {venue.position(alice, 'BTC').entry_price:,.0f}, "
              f"equity {venue.health(alice).equity:,.2f} USDC")

        venue.set_price("BTC-PERP", 53_000)
        h = venue.health(alice)
        print(f"BTC at {venue.price('BTC'):,.0f}: alice equity {h.equity:,.2f}, maintenance {h.maintenance:,.2f}, "
              f"liquidatable {h.liquidatable}")
        for short in (bob, carol):
            rank = venue.adl_rank(short, "BTC")
            print(f"{names[short.address]}: ADL place {rank.place} of {rank.count}, quantile {rank.quantile}")

        done = venue.liquidate(alice)
        absorbed = done.absorbed()
        print(f"liquidated alice: insurance fund covered {absorbed['insurance_fund']:,.6f}, "
              f"ADL socialized {absorbed['adl']:,.6f} USDC")
        haircuts = 0
        for event in done.events:
            if event.name == "Deleveraged":
                haircuts += event.args["haircut"]
                print(f"  deleveraged {names[event.args['counterparty']]}: {abs(event.args['size']) / 10**18} BTC "
                      f"at {event.args['price'] / 10**18:,.2f}, haircut {event.args['haircut'] / 10**6:,.6f} USDC")
        taken = Decimal(haircuts) / 10**6
        print(f"haircuts {taken:,.6f} = shortfall {absorbed['adl']:,.6f}: {taken == absorbed['adl']}")
        print(f"alice after: {venue.position(alice, 'BTC').size} BTC, margin {venue.margin(alice):,.6f}")


if __name__ == "__main__":
    main()
