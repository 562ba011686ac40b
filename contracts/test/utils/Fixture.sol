// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {MockUSDC} from "../../src/MockUSDC.sol";
import {PayoutVault} from "../../src/PayoutVault.sol";
import {TreasuryVault} from "../../src/TreasuryVault.sol";
import {Test} from "./Test.sol";

/// @dev Deploys the production layout: MockUSDC, then PayoutVault, then TreasuryVault pointing at it.
abstract contract Fixture is Test {
    uint48 internal constant ADMIN_DELAY = 1 days;
    uint256 internal constant START = 1_700_000_000; // a realistic timestamp, far from 0

    MockUSDC internal usdc;
    PayoutVault internal payoutVault;
    TreasuryVault internal treasury;

    address internal admin;
    address internal treasuryOp;
    address internal payoutOp;
    address internal alice;
    address internal bob;
    address internal stranger;

    function setUp() public virtual {
        vm.warp(START);
        admin = makeAddr("admin");
        treasuryOp = makeAddr("treasuryOp");
        payoutOp = makeAddr("payoutOp");
        alice = makeAddr("alice");
        bob = makeAddr("bob");
        stranger = makeAddr("stranger");

        usdc = new MockUSDC();
        payoutVault = new PayoutVault(IERC20(address(usdc)), admin, payoutOp, ADMIN_DELAY);
        treasury = new TreasuryVault(IERC20(address(usdc)), address(payoutVault), admin, treasuryOp, ADMIN_DELAY);
        vm.label(address(usdc), "usdc");
        vm.label(address(payoutVault), "payoutVault");
        vm.label(address(treasury), "treasury");
    }

    bytes32 internal constant TRANSFER_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 internal constant RECEIVE_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    bytes32 internal constant CANCEL_AUTHORIZATION_TYPEHASH =
        keccak256("CancelAuthorization(address authorizer,bytes32 nonce)");

    /// @dev ERC-3009 authorization as an x402 client would build it.
    struct Auth {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }

    function _digest(bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", usdc.DOMAIN_SEPARATOR(), structHash));
    }

    function _authHash(bytes32 typehash, Auth memory a) internal view returns (bytes32) {
        return _digest(keccak256(abi.encode(typehash, a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce)));
    }

    function _sign(uint256 pk, bytes32 digest) internal pure returns (uint8 v, bytes32 r, bytes32 s) {
        (v, r, s) = vm.sign(pk, digest);
    }

    function _signPacked(uint256 pk, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev Mints `amount` to `buyer`, approves and deposits it.
    function _deposit(address buyer, uint256 amount) internal {
        usdc.mint(buyer, amount);
        vm.startPrank(buyer);
        usdc.approve(address(treasury), amount);
        treasury.deposit(amount);
        vm.stopPrank();
    }

    /// @dev Moves `amount` into the PayoutVault the way production does.
    function _fundPayoutVault(uint256 amount) internal {
        _deposit(makeAddr("funder"), amount);
        vm.prank(treasuryOp);
        treasury.fundPayoutVault(amount);
    }
}
