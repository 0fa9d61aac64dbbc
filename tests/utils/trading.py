"""The tests drive the system with the same actions as the demo (perpvault.chain.actions)."""

from perpvault.chain.actions import change_oracle, fund_account, set_price, signed, trade

__all__ = ["change_oracle", "fund_account", "set_price", "signed", "trade"]
