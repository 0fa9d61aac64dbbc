"""`ape run deploy --network <ecosystem:network:provider>`: deploy perpvault to any network ape knows.

Locally (the default, `ethereum:local:foundry`) it starts Anvil and deploys a MockUSDC as
collateral. On any other network pass the collateral token with `--collateral 0x...`, or
`--mock-collateral` to deploy a MockUSDC there too (a test network with no USDC of its own),
and the deploying account with `--account` (an alias from `ape accounts list`; `TEST::0` is
ape's first test account, funded on an Anvil started with the default mnemonic). The named
network `ethereum:staging:node` (ape-config.yaml) is such a network.

The deployment is recorded (perpvault.chain.deployments): `System.attach("ethereum:staging")`
rebuilds its handles in a script or `ape console --network ethereum:staging:node`.
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
@click.option("--record", "record_to", default=None, type=click.Path(dir_okay=False),
              help="Where to write the deployment's record (default: deployments/<ecosystem>-<network>.json, "
                   "out/deployments/ for a local network).")
def cli(ecosystem, network, provider, account, collateral, mock_collateral, oracle_updater, record_to):
    from pathlib import Path

    from ape import chain, project

    from perpvault.chain.deployments import record
    from perpvault.params import DEFAULT_RISK, ORACLE_MAX_AGE, ORACLE_MAX_JUMP, TIMELOCK_DELAY, VAULT_SPREAD

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
    parameters = {"risk": DEFAULT_RISK._asdict(), "oracle_max_age": ORACLE_MAX_AGE, "oracle_max_jump": ORACLE_MAX_JUMP,
                  "vault_spread": VAULT_SPREAD, "timelock_delay": TIMELOCK_DELAY}
    path = record(system, network=f"{ecosystem.name}:{network.name}", chain_id=provider.chain_id,
                  block=chain.blocks.head.number, local=network.is_local, parameters=parameters,
                  codes={name: chain.provider.get_code(h.address) for name, h in system.handles.items()},
                  block_hash=chain.blocks.head.hash.hex(),
                  path=Path(record_to) if record_to else None)
    click.echo(f"recorded in {path} (System.attach({ecosystem.name + ':' + network.name!r}) rebuilds the handles)")
