"""The contracts and `perpvault.model` stay twins: the same constants, and a model function
of the same name for every internal function of the contracts.

Behavioural agreement is checked elsewhere (the lockstep and differential tests); this
test keeps the two texts readable side by side, so a reviewer can find the twin of any
line. Exemptions are listed with the reason the model differs.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from perpvault.model import clearinghouse, constants, maths, periphery, timelock
from perpvault.paths import repo_root

CONTRACTS = repo_root() / "contracts"

# Contract sources -> the model object whose names mirror them.
TWINS: dict[str, object] = {
    **{f"modules/{m}.vy": clearinghouse.Clearinghouse
       for m in ("ledger", "parameters", "funding", "margin_rule", "trading", "waterfall", "adl", "param_changes")},
    "Clearinghouse.vy": clearinghouse.Clearinghouse,
    "Liquidator.vy": clearinghouse.Clearinghouse,
    "modules/perp_math.vy": maths,
    "modules/timelock.vy": timelock.Timelock,
    "InsuranceFund.vy": periphery.InsuranceFund,
    "LiquidityVault.vy": periphery.LiquidityVault,
    "OrderBook.vy": periphery.OrderBook,
    "oracle/PriceFeed.vy": periphery.PriceFeed,
}

# Sources with no model twin at all, and why.
NO_TWIN = {
    "RiskLens.vy": "read-only views for eth_call; the model answers them from its own state",
    "oracle/ChainlinkAdapter.vy": "test networks only; the model's oracle is the PriceFeed",
    "modules/constants.vy": "constants only (checked below)",
}

# (source, internal function) -> why the model has no function of that name.
EXEMPT = {
    ("modules/ledger.vy", "_size"): "positions are stored unpacked: the model reads `pos(a, m).size`",
    ("modules/ledger.vy", "_pos"): "positions are stored unpacked: the model's `pos(a, m)`",
    ("modules/ledger.vy", "_check_transfer"): "the model's token raises on a failed transfer itself",
    ("modules/ledger.vy", "_mask"): "the mask word is stored unpacked: the model's `market_mask`",
    ("modules/ledger.vy", "_slot"): "side slots are stored unpacked: the model's `side_slot[(a, m)]`",
    ("modules/ledger.vy", "_set_slot"): "side slots are stored unpacked: the model's `side_slot[(a, m)]`",
    ("modules/parameters.vy", "_set_params"): "parameters are stored unpacked: `params[m] = p`",
    ("modules/parameters.vy", "_rates"): "parameters are stored unpacked: `params[m].<rate>`",
    ("modules/parameters.vy", "_params"): "parameters are stored unpacked: `params[m]`",
    ("modules/parameters.vy", "_risk"): "risk parameters are stored unpacked: `risk`",
    ("modules/parameters.vy", "_set_pending_imr"): "the pending imr lives in `pending_params`: `_imr(market)` reads it",
    ("modules/perp_math.vy", "_abs"): "`vabs` (Python's `abs` is a builtin, and Vyper's reverts on min_value)",
    ("OrderBook.vy", "_digest"): "the model takes a signature's validity as given (`signature_ok`)",
}


def internal_functions(source: str) -> list[str]:
    """Names of the `@internal` functions of a Vyper source, in order."""
    text = (CONTRACTS / source).read_text()
    return re.findall(r"^@internal\n(?:@\w+\n)*def (\w+)\(", text, re.M)


def vyper_constants(source: str) -> dict[str, int]:
    """`NAME: constant(type) = expr` lines whose expr is integer arithmetic, evaluated."""
    out = {}
    allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.operator, ast.unaryop)
    for name, expr in re.findall(r"^(\w+): constant\(\w+\) = ([^#\n]+)", (CONTRACTS / source).read_text(), re.M):
        try:
            tree = ast.parse(expr.strip(), mode="eval")
        except SyntaxError:  # a multi-line expression such as keccak256(...)
            continue
        if all(isinstance(n, allowed) for n in ast.walk(tree)):
            out[name] = eval(compile(tree, source, "eval"))  # noqa: S307 (integer arithmetic only)
    return out


def _model_name(source: str, name: str) -> str:
    return name.removeprefix("_") if source == "modules/perp_math.vy" else name


def _sources() -> list[str]:
    return sorted(str(p.relative_to(CONTRACTS)) for p in CONTRACTS.rglob("*.vy") if p.parts[-2] != "mocks")


def test_every_source__has_a_twin_or_a_reason():
    assert set(_sources()) == set(TWINS) | set(NO_TWIN)


@pytest.mark.parametrize("source", sorted(TWINS))
def test_internal_functions__have_model_twins_of_the_same_name(source):
    twin = TWINS[source]
    missing = [
        name for name in internal_functions(source)
        if (source, name) not in EXEMPT and not hasattr(twin, _model_name(source, name))
    ]
    assert not missing, f"{source}: no model twin for {missing} in {getattr(twin, '__name__', twin)}"


def test_exemptions__name_functions_that_exist():
    for source, name in EXEMPT:
        assert name in internal_functions(source), f"stale exemption {source}:{name}"
        assert not hasattr(TWINS[source], _model_name(source, name)), f"{source}:{name} has a twin now"


def test_constants__equal_the_models():
    vy = vyper_constants("modules/constants.vy")
    assert len(vy) > 20, vy
    py = {k: v for k, v in vars(constants).items() if k.isupper()}
    assert vy == py


def test_no_contract_or_model_file_redefines_a_shared_constant():
    """Each shared number is typed once per language: constants.vy and model/constants.py."""
    shared = set(vyper_constants("modules/constants.vy"))
    for path in Path(clearinghouse.__file__).parent.glob("*.py"):
        if path.name == "constants.py":
            continue
        assigned = re.findall(r"^\s*([A-Z_0-9]+) = ", path.read_text(), re.M)
        assert not shared & set(assigned), f"{path.name} redefines {shared & set(assigned)}"
    for source in _sources():
        if source == "modules/constants.vy":
            continue
        again = shared & set(vyper_constants(source))
        assert not again, f"{source} redefines {again}"
