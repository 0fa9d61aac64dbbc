"""Units of perpvault (SPEC section 2), shared by the model, the chain driver and tests.

money: collateral atoms, 6 decimals; size: 18 decimals of base, signed; price: 18 decimals.
"""

from __future__ import annotations

from decimal import Decimal

USDC = 10**6
BASE = 10**18
WAD = 10**18
PPM = 10**6
VALUE_UNIT = 10**30  # size * price / VALUE_UNIT = atoms


def usdc(amount: float | int | str | Decimal) -> int:
    """Whole USDC to atoms."""
    return int(Decimal(str(amount)) * USDC)


def size(amount: float | int | str | Decimal) -> int:
    """Whole base units to 18-decimal size (signed)."""
    return int(Decimal(str(amount)) * BASE)


def price(amount: float | int | str | Decimal) -> int:
    """Quote per base unit to an 18-decimal price."""
    return int(Decimal(str(amount)) * WAD)


def fmt_usdc(atoms: int) -> str:
    return f"{Decimal(atoms) / USDC:,.6f}"
