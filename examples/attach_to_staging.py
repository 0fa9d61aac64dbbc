"""Attach to a deployment on the staging network and use it from a script.

    .venv/bin/perpvault node --port 18545 &                    # the staging node (the project's own Anvil)
    .venv/bin/ape run deploy --network ethereum:staging:node --account TEST::0 --mock-collateral
    .venv/bin/python examples/attach_to_staging.py            # reads deployments/ethereum-staging.json

`System.attach` rebuilds every contract's ape handle from the record `ape run deploy` wrote,
after checking ape is connected to the recorded chain and each address holds code. Then the
handles are plain ape contracts: here a trader gets test USDC from the owner and deposits it.
"""

from __future__ import annotations

import argparse

from ape import accounts, networks

from perpvault.chain.actions import fund_account
from perpvault.chain.deploy import System
from perpvault.units import fmt_usdc, usdc


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", default="ethereum:staging",
                        help="a network name or a record's path (default: ethereum:staging)")
    parser.add_argument("--network", default="ethereum:staging:node", help="the ape network to connect to")
    args = parser.parse_args(argv)

    with networks.parse_network_choice(args.network):
        system = System.attach(args.record)
        print(f"attached: Clearinghouse {system.clearinghouse.address}, {len(system.markets)} markets "
              f"({', '.join(m.name for m in system.markets)})")
        trader = accounts.test_accounts[6]
        fund_account(system, trader, usdc(5_000))  # the owner (TEST::0) mints the mock USDC
        print(f"trader {trader.address} margin {fmt_usdc(system.clearinghouse.margin(trader))} USDC")


if __name__ == "__main__":
    main()
