"""`ape run deploy --network <ecosystem:network:provider>`: deploy perpvault to any network ape knows.

Locally (the default, `ethereum:local:foundry`) it starts Anvil and deploys a MockUSDC as
collateral. On any other network pass the collateral token with `--collateral 0x...`, or
`--mock-collateral` to deploy a MockUSDC there too (a test network with no USDC of its own),
and the deploying account with `--account` (an alias from `ape accounts list`; `TEST::0` is
ape's first test account, funded on an Anvil started with the default mnemonic). The named
network `ethereum:staging:node` (ape-config.yaml) is such a network.
"""

import click
from ape.cli import ConnectedProviderCommand, account_option, network_option

from perpvault.chain import deploy


@click.command(cls=ConnectedProviderCommand)
@network_option()
@account_option()
@click.option("--collateral", default=None, help="Collateral token address (default: deploy MockUSDC locally).")
@click.option("--mock-collateral", is_flag=True, help="Deploy a MockUSDC as collateral on a non-local network.")
@click.option("--oracle-updater", default=None, help="Price updater address (default: the deploying account).")
def cli(ecosystem, network, provider, account, collateral, mock_collateral, oracle_updater):
    from ape import project

    if collateral is not None and mock_collateral:
        raise click.UsageError("pass --collateral or --mock-collateral, not both")
    if collateral is None and not mock_collateral and not network.is_local:
        raise click.UsageError("on a live network pass --collateral <token address> (or --mock-collateral)")
    updater = oracle_updater or account
    click.echo(f"deploying to {ecosystem.name}:{network.name}:{provider.name} (chain id {provider.chain_id}) "
               f"from {account.address}")
    system = deploy(account, updater, project=project, collateral=collateral)
    for name, contract in system.contracts.items():
        click.echo(f"{name:16s} {contract.address}")
