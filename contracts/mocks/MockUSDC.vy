# pragma version ~=0.4.3
"""
@title MockUSDC
@notice A 6-decimal, mintable ERC-20 standing in for USDC on local networks.
@dev Test and local-network only: the deployer is a minter (snekmate erc20).
"""

from snekmate.auth import ownable

initializes: ownable

from snekmate.tokens import erc20

initializes: erc20[ownable := ownable]

exports: (
    erc20.transfer,
    erc20.transferFrom,
    erc20.approve,
    erc20.balanceOf,
    erc20.allowance,
    erc20.totalSupply,
    erc20.name,
    erc20.symbol,
    erc20.decimals,
    erc20.mint,
    erc20.set_minter,
    erc20.is_minter,
    erc20.owner,
)


@deploy
def __init__():
    """
    @notice Deploys "Mock USDC" (USDC, 6 decimals); the deployer may mint.
    """
    ownable.__init__()
    erc20.__init__("Mock USDC", "USDC", 6, "Mock USDC", "1")
