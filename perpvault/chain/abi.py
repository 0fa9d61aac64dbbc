"""Compiled artifacts and pre-encoded calldata for the fuzz driver.

Artifacts: ape's ``.build/__local__.json`` when every source in it equals the file on disk
(no compile at all), otherwise the pip-installed vyper CLI
(``vyper -f abi,bytecode -p contracts``), which works offline without ape and compiles
edited copies too (the mutant runs). One contract compiles in 0.3-3.5 s;
results are cached in ``.build/fuzz/`` under a hash of the compiler version and every
source the contract can import, so a rerun costs nothing.

Calldata: :class:`Function` holds a selector computed from the ABI and the canonical
input types; :meth:`Function.encode` packs static scalar arguments by hand (the hot
path: deposit, withdraw, set_price, trade, ...) and everything else with eth_abi.
:class:`Calls` names the hot functions of every contract.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

from perpvault.chain.deploy import CONTRACTS
from perpvault.paths import repo_root, venv_bin

# Deployable contracts and their source files under contracts/ (perpvault.chain.deploy's table).
CONTRACT_FILES: dict[str, str] = {c.contract: c.source for c in CONTRACTS}

STATE_READER_FILE = Path(__file__).with_name("StateReader.vy")


# --- compilation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict]
    bytecode: bytes  # init code (deploy) or runtime code, as requested

    @property
    def functions(self) -> ContractAbi:
        return ContractAbi.from_abi(self.name, self.abi)


def _vyper() -> Path:
    return venv_bin() / "vyper"


def _vyper_version() -> str:
    out = subprocess.run([str(_vyper()), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _sources_digest(search_dir: Path, source: Path, version: str, fmt: str) -> str:
    h = hashlib.sha256(f"{version}\n{fmt}\n{source.resolve()}\n".encode())
    h.update(source.read_bytes())
    for path in sorted(search_dir.rglob("*.vy*")):
        h.update(str(path.relative_to(search_dir)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:24]


def compile_file(
    source: Path,
    *,
    search_dir: Path,
    runtime: bool = False,
    cache_dir: Path | None = None,
    version: str | None = None,
) -> Artifact:
    """Compile one Vyper file to ABI + init code (or runtime code), through the cache."""
    fmt = "abi,bytecode_runtime" if runtime else "abi,bytecode"
    version = version or _vyper_version()
    cache_dir = cache_dir or repo_root() / ".build" / "fuzz"
    key = _sources_digest(search_dir, source, version, fmt)
    cached = cache_dir / f"{source.stem}-{key}.json"
    if cached.is_file():
        data = json.loads(cached.read_text())
    else:
        out = subprocess.run(
            [str(_vyper()), "-f", fmt, "-p", str(search_dir), str(source)],
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise RuntimeError(f"vyper failed on {source}:\n{out.stderr}")
        abi_line, code_line = out.stdout.strip().splitlines()[-2:]
        data = {"abi": json.loads(abi_line), "bytecode": code_line.strip()}
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(cached)
    return Artifact(source.stem, data["abi"], bytes.fromhex(data["bytecode"].removeprefix("0x")))


def _from_ape_manifest(contracts_dir: Path, names: tuple[str, ...]) -> dict[str, Artifact] | None:
    """The artifacts ape already compiled, if ``.build/__local__.json`` matches every source
    on disk.

    Saves a cold compile (~15 s) after ``ape compile`` or an ape test run. Any source that
    differs from the manifest's copy (or is missing from it) -> None.
    """
    root = repo_root()
    manifest_path = root / ".build" / "__local__.json"
    if contracts_dir != (root / "contracts").resolve() or not manifest_path.is_file():
        return None
    try:
        manifest = json.loads(manifest_path.read_text())
        sources = manifest.get("sources") or {}
        for path in contracts_dir.rglob("*.vy*"):
            entry = sources.get(str(path.relative_to(root)))
            if entry is None or entry.get("content") != path.read_text():
                return None
        types = manifest["contractTypes"]
        return {
            name: Artifact(
                name,
                types[name]["abi"],
                bytes.fromhex(types[name]["deploymentBytecode"]["bytecode"][2:]),
            )
            for name in names
        }
    except (KeyError, TypeError, ValueError, OSError):
        return None


def load_artifacts(
    contracts_dir: Path | None = None,
    names: tuple[str, ...] = tuple(CONTRACT_FILES),
    *,
    use_ape_build: bool = True,
) -> dict[str, Artifact]:
    """The deployable contracts: from ape's build if it is current, else compiled (cached,
    in parallel).

    `contracts_dir` defaults to the repository's ``contracts/``; a mutant run passes an
    edited copy (always compiled).
    """
    contracts_dir = (contracts_dir or repo_root() / "contracts").resolve()
    if use_ape_build and (found := _from_ape_manifest(contracts_dir, names)) is not None:
        return found
    version = _vyper_version()
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            name: pool.submit(
                compile_file,
                contracts_dir / CONTRACT_FILES[name],
                search_dir=contracts_dir,
                version=version,
            )
            for name in names
        }
        return {name: fut.result() for name, fut in futures.items()}


def load_state_reader() -> Artifact:
    """The StateReader's runtime code (installed with anvil_setCode, never deployed)."""
    return compile_file(STATE_READER_FILE, search_dir=STATE_READER_FILE.parent, runtime=True)


# --- ABI types and calldata ----------------------------------------------------------------


def abi_type(entry: dict) -> str:
    """The canonical type string of an ABI input/output entry (tuples expanded)."""
    t = entry["type"]
    if t.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in entry["components"])
        return f"({inner}){t[len('tuple') :]}"
    return t


_STATIC_SCALAR = ("uint", "int", "address", "bool", "bytes32")


def _is_static_scalar(t: str) -> bool:
    return "[" not in t and not t.startswith("(") and t.startswith(_STATIC_SCALAR) and t != "bytes"


def _word(t: str, value: Any) -> bytes:
    if t == "address":
        return bytes(12) + bytes.fromhex(value[2:] if isinstance(value, str) else value.hex())
    if t == "bool":
        return (1 if value else 0).to_bytes(32, "big")
    if t == "bytes32":
        return bytes(value).ljust(32, b"\0")
    if t.startswith("int"):
        return int(value).to_bytes(32, "big", signed=True)
    return int(value).to_bytes(32, "big")


@dataclass(frozen=True)
class Function:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    state_mutability: str
    selector: bytes = field(init=False)
    _static: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "selector", keccak(self.signature.encode())[:4])
        object.__setattr__(self, "_static", all(_is_static_scalar(t) for t in self.inputs))

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(self.inputs)})"

    def encode(self, *args: Any) -> bytes:
        """Selector + ABI-encoded arguments."""
        if len(args) != len(self.inputs):
            raise TypeError(f"{self.signature} takes {len(self.inputs)} arguments, got {len(args)}")
        if self._static:
            return self.selector + b"".join(
                _word(t, a) for t, a in zip(self.inputs, args, strict=True)
            )
        return self.selector + abi_encode(list(self.inputs), list(args))

    def decode(self, data: bytes) -> Any:
        """Return data -> one value, or a tuple for several outputs."""
        values = abi_decode(list(self.outputs), data)
        return values[0] if len(values) == 1 else values


@dataclass
class ContractAbi:
    name: str
    functions: dict[str, list[Function]]
    constructor_inputs: tuple[str, ...] = ()

    @classmethod
    def from_abi(cls, name: str, abi: list[dict]) -> ContractAbi:
        functions: dict[str, list[Function]] = {}
        ctor: tuple[str, ...] = ()
        for entry in abi:
            if entry.get("type") == "function":
                fn = Function(
                    entry["name"],
                    tuple(abi_type(i) for i in entry["inputs"]),
                    tuple(abi_type(o) for o in entry.get("outputs", [])),
                    entry.get("stateMutability", "nonpayable"),
                )
                functions.setdefault(fn.name, []).append(fn)
            elif entry.get("type") == "constructor":
                ctor = tuple(abi_type(i) for i in entry["inputs"])
        return cls(name, functions, ctor)

    def fn(self, name: str, n_args: int | None = None) -> Function:
        """The function `name` (the overload with `n_args` inputs when there are several)."""
        candidates = self.functions.get(name)
        if not candidates:
            raise KeyError(f"{self.name} has no function {name!r}")
        if n_args is None:
            if len(candidates) > 1:
                # Vyper default arguments produce overloads; the full one is the longest.
                return max(candidates, key=lambda f: len(f.inputs))
            return candidates[0]
        for f in candidates:
            if len(f.inputs) == n_args:
                return f
        raise KeyError(f"{self.name}.{name} has no overload with {n_args} arguments")

    def encode_constructor(self, *args: Any) -> bytes:
        return (
            abi_encode(list(self.constructor_inputs), list(args))
            if self.constructor_inputs
            else b""
        )


# --- the hot calls -------------------------------------------------------------------------


class Calls:
    """Calldata builders for the functions the fuzzer calls every step.

    Argument-less calls are encoded once here (they are constants).
    """

    def __init__(self, abis: dict[str, ContractAbi]):
        ch, ob, vault = abis["Clearinghouse"], abis["OrderBook"], abis["LiquidityVault"]
        feed, usdc, fund = abis["PriceFeed"], abis["MockUSDC"], abis["InsuranceFund"]
        self.abis = abis
        # Clearinghouse
        self._deposit = ch.fn("deposit")
        self._withdraw = ch.fn("withdraw")
        self._liquidate = ch.fn("liquidate")
        self._settle_funding = ch.fn("settle_funding")
        self.sweep_to_insurance: bytes = ch.fn("sweep_to_insurance").encode()
        self.equity_fn = ch.fn("equity")
        self.margin_fn = ch.fn("margin")
        self.positions_fn = ch.fn("positions")
        self.position_fn = ch.fn("position")
        self.markets_fn = ch.fn("markets")
        self.account_at_fn = ch.fn("account_at")
        self.health_fn = ch.fn("health")
        self.market_mask_fn = ch.fn("market_mask")
        self.funding_index_fn = ch.fn("funding_index")
        self.adl_score_fn = ch.fn("adl_score")
        self.account_count: bytes = ch.fn("account_count").encode()
        self.market_count: bytes = ch.fn("market_count").encode()
        self.insurance_due: bytes = ch.fn("insurance_due").encode()
        self.paused_fn = ch.fn("paused")
        self.paused: bytes = self.paused_fn.encode()
        self.vault_peak_share_value: bytes = ch.fn("vault_peak_share_value").encode()
        self.vault_peak_time: bytes = ch.fn("vault_peak_time").encode()
        # OrderBook
        self._match_orders = ob.fn("match_orders")
        # LiquidityVault
        self._vault_trade = vault.fn("trade")
        self._vault_deposit = vault.fn("deposit")
        self._vault_redeem = vault.fn("redeem")
        self._vault_shares = vault.fn("balanceOf")
        self.vault_total_supply: bytes = vault.fn("totalSupply").encode()
        self.vault_total_assets: bytes = vault.fn("totalAssets").encode()
        # PriceFeed, MockUSDC, InsuranceFund
        self._set_price = feed.fn("set_price")
        self._mint = usdc.fn("mint")
        self._approve = usdc.fn("approve")
        self._balance_of = usdc.fn("balanceOf")
        self.token_total_supply: bytes = usdc.fn("totalSupply").encode()
        self._donate = fund.fn("donate")
        self.fund_total_in: bytes = fund.fn("total_in").encode()
        self.fund_total_out: bytes = fund.fn("total_out").encode()

    # Clearinghouse
    def deposit(self, amount: int) -> bytes:
        return self._deposit.encode(amount)

    def withdraw(self, amount: int) -> bytes:
        return self._withdraw.encode(amount)

    def liquidate(self, account: str, counterparties: list[str]) -> bytes:
        return self._liquidate.encode(account, counterparties)

    def settle_funding(self, account: str) -> bytes:
        return self._settle_funding.encode(account)

    def equity(self, account: str) -> bytes:
        return self.equity_fn.encode(account)

    def margin(self, account: str) -> bytes:
        return self.margin_fn.encode(account)

    def positions(self, account: str, market: int) -> bytes:
        """The raw Position struct: (size, open_notional, funding_index)."""
        return self.positions_fn.encode(account, market)

    def position(self, account: str, market: int) -> bytes:
        """The view: (size, open_notional, entry price)."""
        return self.position_fn.encode(account, market)

    def markets(self, market: int) -> bytes:
        return self.markets_fn.encode(market)

    def health(self, account: str) -> bytes:
        return self.health_fn.encode(account)

    def market_mask(self, account: str) -> bytes:
        return self.market_mask_fn.encode(account)

    def funding_index(self, market: int) -> bytes:
        """The view: the index as it would be after accrual now."""
        return self.funding_index_fn.encode(market)

    def adl_score(self, account: str, market: int) -> bytes:
        return self.adl_score_fn.encode(account, market)

    def account_at(self, index: int) -> bytes:
        return self.account_at_fn.encode(index)

    # OrderBook
    def match_orders(
        self, maker: tuple, maker_sig: bytes, taker: tuple, taker_sig: bytes, fill_size: int
    ) -> bytes:
        return self._match_orders.encode(maker, maker_sig, taker, taker_sig, fill_size)

    # LiquidityVault
    def vault_trade(self, market: int, size: int, limit_price: int) -> bytes:
        return self._vault_trade.encode(market, size, limit_price)

    def vault_deposit(self, assets: int, receiver: str) -> bytes:
        return self._vault_deposit.encode(assets, receiver)

    def vault_redeem(self, shares: int, receiver: str, owner: str) -> bytes:
        return self._vault_redeem.encode(shares, receiver, owner)

    def vault_shares(self, account: str) -> bytes:
        return self._vault_shares.encode(account)

    # PriceFeed, MockUSDC, InsuranceFund
    def set_price(self, market: int, price: int) -> bytes:
        return self._set_price.encode(market, price)

    def mint(self, to: str, amount: int) -> bytes:
        return self._mint.encode(to, amount)

    def approve(self, spender: str, amount: int) -> bytes:
        return self._approve.encode(spender, amount)

    def balance_of(self, account: str) -> bytes:
        return self._balance_of.encode(account)

    def donate(self, amount: int) -> bytes:
        return self._donate.encode(amount)
