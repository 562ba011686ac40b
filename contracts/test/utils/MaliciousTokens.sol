// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @dev Receives the token's transfer hook.
interface ITransferHook {
    function onTokenTransfer() external;
}

/**
 * @dev Malicious ERC-20 with an ERC-777-style hook: after every balance change it calls
 * `onTokenTransfer()` on the armed `hook` contract, in the middle of the vault's transfer.
 */
contract ReentrantToken is ERC20 {
    address public hook;

    constructor() ERC20("Reentrant", "RE") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setHook(address hook_) external {
        hook = hook_;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        address h = hook;
        if (h != address(0)) {
            hook = address(0); // one shot, so the attack does not recurse forever
            ITransferHook(h).onTokenTransfer();
        }
    }
}

/**
 * @dev Attacker: plays operator or user of a vault. `execute` makes the first call; when the token
 * calls back, it re-enters the vault with `reentryData` and bubbles up whatever the vault reverts with.
 */
contract Reenterer is ITransferHook {
    address public target;
    bytes public reentryData;
    bool public reentered;

    function arm(address target_, bytes calldata reentryData_) external {
        target = target_;
        reentryData = reentryData_;
    }

    function execute(address to, bytes calldata data) external {
        _call(to, data);
    }

    function approve(address token, address spender, uint256 amount) external {
        ERC20(token).approve(spender, amount);
    }

    function onTokenTransfer() external override {
        reentered = true;
        _call(target, reentryData);
    }

    function _call(address to, bytes memory data) private {
        (bool ok, bytes memory ret) = to.call(data);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }
}

/// @dev Token that burns `feeBps` of every transfer (100% = a token that "succeeds" but moves nothing).
contract FeeOnTransferToken is ERC20 {
    uint256 public feeBps;

    constructor(uint256 feeBps_) ERC20("Fee", "FEE") {
        feeBps = feeBps_;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0)) return super._update(from, to, value);
        uint256 fee = value * feeBps / 10_000;
        super._update(from, address(0), fee);
        super._update(from, to, value - fee);
    }
}
