// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/**
 * @title MockUSDT
 * @notice USDT stand-in for tests and local chains. NOT for production: `mint` is public.
 *
 * A plain ERC-20 with no EIP-3009 and no EIP-2612 permit, like Tether's USDT: x402 pays with it
 * through Permit2 (the payer approves Permit2 once, then signs a transfer per payment).
 * `decimals_` is a constructor argument so the gateway's conversion of other decimals to
 * micro-USD can be exercised on chain; Tether uses 6 on the chains x402 lists.
 */
contract MockUSDT is ERC20 {
    uint8 private immutable _decimals;

    constructor(uint8 decimals_) ERC20("Tether USD", "USDT") {
        _decimals = decimals_;
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Mints `amount` to `to`. Open to anyone: this is a mock.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
