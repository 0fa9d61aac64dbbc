"""`ape run deploy --network <network>`: deploy perpvault to any network ape knows.

Locally (the default, `ethereum:local:foundry`) it starts Anvil and deploys a MockUSDC as
collateral. On a test network pass the collateral token with `--collateral 0x...` and an
account alias with `--account` (see `ape accounts list`).
"""

import click
from ape.cli import ConnectedProviderCommand, account_option, network_option

from perpvault.chain import deploy


@click.command(cls=ConnectedProviderCommand)
@network_option()
@account_option()
@click.option("--collateral", default=None, help="Collateral token address (default: deploy MockUSDC).")
@click.option("--oracle-updater", default=None, help="Price updater address (default: the deploying account).")
def cli(ecosystem, network, provider, account, collateral, oracle_updater):
    from ape import project

    updater = oracle_updater or account
    if collateral is None and not network.is_local:
        raise click.UsageError("on a live network pass --collateral <token address>")
    system = deploy(account, updater, project=project, collateral=collateral)
    for name, contract in system.contracts.items():
        click.echo(f"{name:16s} {contract.address}")
