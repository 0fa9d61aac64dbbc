# pragma version ~=0.4.3
"""
@title FeeOnTransferToken
@notice A 6-decimal ERC-20 that burns 1% of every transfer, so the receiver
        gets less than the amount sent. Collateral of this kind must be refused.
@dev Test-only.
"""

FEE_PPM: constant(uint256) = 10_000

balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
totalSupply: public(uint256)
DECIMALS: constant(uint8) = 6


event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256


event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256


@external
@view
def decimals() -> uint8:
    """
    @notice Six decimals, like USDC.
    @return uint8 6.
    """
    return DECIMALS


@external
def mint(owner: address, amount: uint256):
    """
    @notice Mints `amount` to `owner` (anyone may call: test-only).
    @param owner The receiver.
    @param amount Atoms.
    """
    self.balanceOf[owner] += amount
    self.totalSupply += amount
    log Transfer(sender=empty(address), receiver=owner, value=amount)


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice Sets `spender`'s allowance over the caller's tokens.
    @param spender The spender.
    @param amount Atoms.
    @return bool True.
    """
    self.allowance[msg.sender][spender] = amount
    log Approval(owner=msg.sender, spender=spender, value=amount)
    return True


@external
def transfer(receiver: address, amount: uint256) -> bool:
    """
    @notice Sends `amount`; the receiver gets 99% of it.
    @param receiver The receiver.
    @param amount Atoms.
    @return bool True.
    """
    self._move(msg.sender, receiver, amount)
    return True


@external
def transferFrom(owner: address, receiver: address, amount: uint256) -> bool:
    """
    @notice Sends `amount` of `owner`'s tokens; the receiver gets 99% of it.
    @param owner The payer.
    @param receiver The receiver.
    @param amount Atoms.
    @return bool True.
    """
    allowed: uint256 = self.allowance[owner][msg.sender]
    if allowed != max_value(uint256):
        self.allowance[owner][msg.sender] = allowed - amount
    self._move(owner, receiver, amount)
    return True


@internal
def _move(owner: address, receiver: address, amount: uint256):
    cut: uint256 = amount * FEE_PPM // 10**6
    self.balanceOf[owner] -= amount
    self.balanceOf[receiver] += amount - cut
    self.totalSupply -= cut
    log Transfer(sender=owner, receiver=receiver, value=amount - cut)
