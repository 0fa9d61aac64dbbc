"""`ape console` starts with perpvault at hand (ape runs `ape_init_extras` at start-up and puts
what it returns in the console's namespace):

* on a local network (ape's own Anvil): a freshly deployed `system` (the same
  `perpvault.chain.deploy` the tests and the demo use; BTC-PERP is market 0, ETH-PERP market 1);
* named role accounts from ape's test accounts: `owner`, `oracle_updater`, `keeper`, `lp`,
  `alice`, `bob`, `carol`;
* the units helpers `usdc`, `size`, `price`, `fmt_usdc` and the market ids `BTC`, `ETH`;
* `fund_account`, `set_price` and `trade` (perpvault.chain.actions) to script a scenario.

    >>> fund_account(system, alice, usdc(10_000)); fund_account(system, bob, usdc(10_000))
    >>> trade(system, bob, alice, BTC, size(1), price(60_000), chain=chain)  # alice buys 1 BTC from bob
    >>> system.clearinghouse.position(alice, BTC)[0] / 10**18
    1.0

On any other network nothing is deployed: the deployment `ape run deploy` recorded for it
(deployments/<ecosystem>-<network>.json) is attached as `system` if there is one, and
`deploy(owner, oracle_updater)` is there to call. `venue` wraps `system` in
perpvault.scripting.Venue (markets by name, human units).
"""


def ape_init_extras(accounts, networks, project):
    from perpvault.chain.actions import fund_account, set_price, trade
    from perpvault.chain.deploy import deploy
    from perpvault.units import fmt_usdc, price, size, usdc

    roles = ("owner", "oracle_updater", "keeper", "lp", "alice", "bob", "carol")
    named = dict(zip(roles, accounts.test_accounts, strict=False))
    extras = {**named, "deploy": deploy, "fund_account": fund_account, "set_price": set_price,
              "trade": trade, "usdc": usdc, "size": size, "price": price, "fmt_usdc": fmt_usdc,
              "BTC": 0, "ETH": 1}
    network = networks.provider.network
    if network.is_local:
        extras["system"] = deploy(named["owner"], named["oracle_updater"], project=project)
        print("perpvault: deployed `system` on the local network; roles "
              + ", ".join(roles) + "; units usdc/size/price/fmt_usdc")
    else:
        from perpvault.chain.deployments import DeploymentError, attach

        name = f"{network.ecosystem.name}:{network.name}"
        try:
            extras["system"] = attach(name, project=project)
            print(f"perpvault: attached `system` from the {name} deployment record")
        except DeploymentError as exc:
            print(f"perpvault: no `system`: {exc}")
    if "system" in extras:
        from perpvault.scripting import Venue

        extras["venue"] = Venue(extras["system"], keeper=named["keeper"])
    return extras
