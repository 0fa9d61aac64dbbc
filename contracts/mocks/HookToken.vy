# pragma version ~=0.4.3
"""
@title HookToken
@notice A 6-decimal ERC-20 that calls a hook on every transfer, like an ERC-777
        `tokensReceived`/`tokensToSend` callback: the attacker's way back into the
        contract that moved the tokens. For reentrancy tests only.
@dev snekmate erc20 for the token; `transfer` and `transferFrom` are our own so
     they can call the hook after moving the balance.
"""

from snekmate.auth import ownable

initializes: ownable

from snekmate.tokens import erc20

initializes: erc20[ownable := ownable]

exports: (
    erc20.approve,
    erc20.balanceOf,
    erc20.allowance,
    erc20.totalSupply,
    erc20.name,
    erc20.symbol,
    erc20.decimals,
    erc20.mint,
    erc20.owner,
)


hook_target: public(address)
hook_data: public(Bytes[1024])
# The callback's own transfers do not fire it again.
firing: bool


@deploy
def __init__():
    """
    @notice Deploys "Hook USD" (HUSD, 6 decimals); the deployer may mint.
    """
    ownable.__init__()
    erc20.__init__("Hook USD", "HUSD", 6, "Hook USD", "1")


@external
def set_hook(target: address, data: Bytes[1024]):
    """
    @notice After every transfer, call `target` with `data` (empty target: no hook).
    @param target The contract to call back.
    @param data The calldata of the callback.
    """
    self.hook_target = target
    self.hook_data = data


@external
def transfer(to: address, amount: uint256) -> bool:
    """
    @notice Moves `amount` to `to`, then calls the hook.
    @param to The receiver.
    @param amount Atoms.
    @return bool True.
    """
    erc20._transfer(msg.sender, to, amount)
    self._hook()
    return True


@external
def transferFrom(owner: address, to: address, amount: uint256) -> bool:
    """
    @notice Moves `amount` from `owner` to `to` on an allowance, then calls the hook.
    @param owner Whose tokens.
    @param to The receiver.
    @param amount Atoms.
    @return bool True.
    """
    erc20._spend_allowance(owner, msg.sender, amount)
    erc20._transfer(owner, to, amount)
    self._hook()
    return True


@internal
def _hook():
    target: address = self.hook_target
    if target != empty(address) and not self.firing:
        self.firing = True
        # The callback's revert propagates: a blocked re-entry fails the whole transfer.
        raw_call(target, self.hook_data)
        self.firing = False
