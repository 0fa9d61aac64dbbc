"""Test networks: `ape run deploy --network ethereum:staging:node` deploys there, and
`perpvault demo --network ethereum:staging:node --dry-run` prints every transaction it would
send (with the gas each used on a local fork) and sends the network nothing.

`staging` is the named network of ape-config.yaml (http://127.0.0.1:18545); a second Anvil
started here on that port stands in for the remote node."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from perpvault.chain.deploy import CONTRACTS as DEPLOYED
from perpvault.chain.driver import dev_accounts
from perpvault.chain.rpc import start_anvil
from perpvault.paths import repo_root, venv_bin
from perpvault.replay import FIRST_TRADER, trader_keys
from perpvault.scenarios import build

STAGING = "ethereum:staging:node"
STAGING_PORT = 18545  # ape-config.yaml: node.ethereum.staging.uri
CONTRACTS = tuple(c.contract for c in DEPLOYED)  # every contract of perpvault.chain.deploy's table
DEPLOYED_BY_NAME = {c.name: c.contract for c in DEPLOYED}


def _env() -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{venv_bin()}{os.pathsep}{env['PATH']}"
    return env


def _run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=repo_root(), env=_env(), capture_output=True, text=True, timeout=timeout
    )


def _dry_run(out) -> subprocess.CompletedProcess:
    return _run(
        str(venv_bin() / "perpvault"),
        "demo",
        "--scenario",
        "whale",
        "--network",
        STAGING,
        "--dry-run",
        "--out",
        str(out),
        "--no-plot",
        "--quiet",
    )


def _transaction_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if re.match(r"^\s+\d+  from 0x", line)]


@pytest.fixture
def staging():
    """The stand-in for the remote network, on the port ape-config.yaml names."""
    try:
        node = start_anvil(port=STAGING_PORT)
    except RuntimeError as e:
        pytest.fail(f"the staging stand-in needs port {STAGING_PORT} free: {e}")
    try:
        yield node.rpc()
    finally:
        node.stop()


def test_dry_run_without_a_reachable_node_plans_on_the_model(tmp_path):
    # No node on the staging port: the plan comes from the reference model, without gas.
    done = _dry_run(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not reachable" in done.stdout
    lines = _transaction_lines(done.stdout)
    planned = json.loads((tmp_path / "transactions.json").read_text())
    assert len(lines) == len(planned) > 100
    assert all(line.endswith("gas ?") for line in lines)
    assert {"liquidate", "match_orders", "set_price", "deposit"} <= {t["function"] for t in planned}


def test_deploy_script_deploys_to_the_staging_network__records_it__and_a_script_attaches(staging, tmp_path):
    block = staging.block_number()
    record = tmp_path / "ethereum-staging.json"
    done = _run(
        str(venv_bin() / "ape"),
        "run",
        "deploy",
        "--network",
        STAGING,
        "--account",
        "TEST::0",
        "--mock-collateral",
        "--record",
        str(record),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ethereum:staging:node" in done.stdout
    addresses = dict(re.findall(r"^(\w+)\s+(0x[0-9a-fA-F]{40})$", done.stdout, re.M))
    assert set(addresses) == set(CONTRACTS)
    for name, address in addresses.items():
        assert staging.call("eth_getCode", [address, "latest"]) not in ("0x", None), name
    assert staging.block_number() > block

    # The record: every address by its DEPLOYMENT name, the chain, the block, the markets.
    recorded = json.loads(record.read_text())
    assert recorded["network"] == "ethereum:staging" and recorded["chain_id"] == 31337
    assert recorded["block"] == staging.block_number()
    assert {DEPLOYED_BY_NAME[n]: a for n, a in recorded["contracts"].items()} == addresses
    assert [m["name"] for m in recorded["markets"]] == ["BTC-PERP", "ETH-PERP"]
    assert recorded["parameters"]["risk"]["keeper_share"] == 200_000

    # examples/attach_to_staging.py: System.attach rebuilds the handles and a trader deposits.
    done = _run(str(venv_bin() / "python"), "examples/attach_to_staging.py", "--record", str(record))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"attached: Clearinghouse {addresses['Clearinghouse']}, 2 markets (BTC-PERP, ETH-PERP)" in done.stdout
    assert "margin 5,000.000000 USDC" in done.stdout, done.stdout

    # A record of an earlier chain (a node restarted and redeployed: same addresses, same chain
    # id, other blocks) is refused; so is other code at a recorded address.
    assert set(recorded["code_hashes"]) == set(recorded["contracts"]) and recorded["block_hash"]
    for field, value, says in (("block_hash", "0x" + "00" * 32, "is not the recorded one"),
                               ("code_hashes", {**recorded["code_hashes"], "vault": "0x" + "11" * 32},
                                "is not the recorded deployment's"),
                               ("contracts", {**recorded["contracts"], "vault": "0x" + "12" * 20},
                                "no code at 0x1212121212121212121212121212121212121212 (vault)")):
        record.write_text(json.dumps({**recorded, field: value}))
        done = _run(str(venv_bin() / "python"), "examples/attach_to_staging.py", "--record", str(record))
        assert done.returncode != 0 and says in done.stderr, done.stderr[-2000:]


def test_attach__a_record_of_another_chain__refused_saying_why(staging, tmp_path):
    from perpvault.chain.deployments import Deployment

    record = tmp_path / "elsewhere.json"
    record.write_text(Deployment("ethereum:elsewhere", 1, 5, "0x" + "11" * 20, "0x" + "11" * 20,
                                 {"clearinghouse": "0x" + "22" * 20}).to_json())
    done = _run(str(venv_bin() / "python"), "examples/attach_to_staging.py", "--record", str(record))
    assert done.returncode != 0
    assert "the ethereum:elsewhere deployment is on chain 1; ape is connected to chain 31337" in done.stderr


def test_dry_run_prints_the_plan_and_sends_the_network_nothing(staging, tmp_path):
    # Who would send: the dev accounts' roles (owner, oracle updater, keeper, LP) and the traders.
    senders = [a.address for a in dev_accounts(10)[:FIRST_TRADER]]
    senders += [a for a, _ in trader_keys(len(build("whale").traders))]

    def nonces(accounts):
        return {a: staging.call("eth_getTransactionCount", [a, "latest"]) for a in sorted(accounts)}

    # Something already on the node, so "nothing sent" is not "an empty chain stayed empty".
    staging.send_transaction(senders[0], senders[1], b"")
    block = staging.block_number()
    before = nonces(senders)
    assert before[senders[0]] == "0x1"
    done = _dry_run(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"played on a local fork of it at block {block}" in done.stdout
    planned = json.loads((tmp_path / "transactions.json").read_text())
    lines = _transaction_lines(done.stdout)
    assert len(lines) == len(planned) > 100
    assert f"would send {len(planned)} transactions" in done.stdout
    for line, tx in zip(lines, planned, strict=True):
        assert f"from {tx['from']}" in line and f"to {tx['contract']} {tx['to']}" in line
        assert (
            f" {tx['function']}(" in line and line.endswith(f"gas {tx['gas']:,}") and tx["gas"] > 0
        )
    functions = [t["function"] for t in planned]
    assert functions.count("constructor") == len(CONTRACTS)
    assert {
        "liquidate",
        "match_orders",
        "set_price",
        "sweep_to_insurance",
        "deposit",
        "mint",
    } <= set(functions)
    # The fork ran it all: the model agreed with it after every step.
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["invariants"]["all_hold"] and report["fork"]["block"] == block
    # And the staging node received none of it.
    assert staging.block_number() == block
    assert {t["from"] for t in planned} <= set(senders)
    assert nonces(senders) == before
