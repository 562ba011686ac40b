// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {OperatedVault} from "../src/OperatedVault.sol";
import {PayoutVault} from "../src/PayoutVault.sol";
import {Fixture} from "./utils/Fixture.sol";

contract PayoutVaultTest is Fixture {
    bytes32 internal constant B1 = keccak256("batch-1/seller-a");
    bytes32 internal constant B2 = keccak256("batch-1/seller-b");

    function setUp() public override {
        super.setUp();
        _fundPayoutVault(1_000e6);
    }

    function test_payout() public {
        vm.expectEmit(true, true, true, true, address(payoutVault));
        emit PayoutVault.PaidOut(B1, bob, 120e6);
        vm.prank(payoutOp);
        payoutVault.payout(bob, 120e6, B1);
        assertEq(usdc.balanceOf(bob), 120e6, "seller paid");
        assertEq(usdc.balanceOf(address(payoutVault)), 880e6, "vault debited");
        assertTrue(payoutVault.executedBatchIds(B1), "batch executed");
        assertFalse(payoutVault.executedBatchIds(B2), "other batch not");
        assertEq(payoutVault.totalPaidOut(), 120e6, "totalPaidOut");
    }

    function test_payout_batchIdExecutesOnce() public {
        vm.startPrank(payoutOp);
        payoutVault.payout(bob, 120e6, B1);
        vm.expectRevert(abi.encodeWithSelector(PayoutVault.BatchAlreadyExecuted.selector, B1));
        payoutVault.payout(bob, 120e6, B1); // a retry of the same settlement
        vm.expectRevert(abi.encodeWithSelector(PayoutVault.BatchAlreadyExecuted.selector, B1));
        payoutVault.payout(alice, 1, B1); // or anything else under the same id
        payoutVault.payout(alice, 1, B2);
        vm.stopPrank();
        assertEq(usdc.balanceOf(bob), 120e6, "paid once");
        assertEq(payoutVault.totalPaidOut(), 120e6 + 1, "total");
    }

    function test_payout_revertsForNonOperator() public {
        vm.prank(treasuryOp); // the treasury operator is not the payout operator
        vm.expectRevert(abi.encodeWithSelector(OperatedVault.NotOperator.selector, treasuryOp));
        payoutVault.payout(bob, 1, B1);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(OperatedVault.NotOperator.selector, admin));
        payoutVault.payout(bob, 1, B1);
    }

    function test_payout_revertsWhilePaused() public {
        vm.prank(admin);
        payoutVault.pause();
        vm.prank(payoutOp);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        payoutVault.payout(bob, 1, B1);
        assertFalse(payoutVault.executedBatchIds(B1), "id not burnt");
    }

    function test_payout_revertsOnZeroAddressOrAmount() public {
        vm.startPrank(payoutOp);
        vm.expectRevert(OperatedVault.ZeroAddress.selector);
        payoutVault.payout(address(0), 1, B1);
        vm.expectRevert(OperatedVault.ZeroAmount.selector);
        payoutVault.payout(bob, 0, B1);
        vm.stopPrank();
    }

    function test_payout_revertsBeyondBalanceAndKeepsId() public {
        vm.prank(payoutOp);
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientBalance.selector, address(payoutVault), 1_000e6, 1_000e6 + 1
            )
        );
        payoutVault.payout(bob, 1_000e6 + 1, B1);
        assertFalse(payoutVault.executedBatchIds(B1), "a failed payout can be retried once funded");
        _fundPayoutVault(1);
        vm.prank(payoutOp);
        payoutVault.payout(bob, 1_000e6 + 1, B1);
        assertEq(usdc.balanceOf(bob), 1_000e6 + 1, "paid after top-up");
    }

    function testFuzz_payout(address to, uint256 amount, bytes32 batchId) public {
        vm.assume(to != address(0) && to != address(payoutVault));
        amount = bound(amount, 1, 1_000e6);
        uint256 before = usdc.balanceOf(to);
        vm.prank(payoutOp);
        payoutVault.payout(to, amount, batchId);
        assertEq(usdc.balanceOf(to), before + amount, "paid");
        assertTrue(payoutVault.executedBatchIds(batchId), "executed");
        vm.prank(payoutOp);
        vm.expectRevert(abi.encodeWithSelector(PayoutVault.BatchAlreadyExecuted.selector, batchId));
        payoutVault.payout(to, amount, batchId);
    }

    // ------------------------------------------------------------------ emergencyWithdraw

    function test_emergencyWithdraw_worksWhilePaused() public {
        vm.startPrank(admin);
        payoutVault.pause();
        vm.expectEmit(true, true, true, true, address(payoutVault));
        emit OperatedVault.EmergencyWithdrawn(alice, 400e6);
        payoutVault.emergencyWithdraw(alice, 400e6);
        vm.stopPrank();
        assertEq(usdc.balanceOf(alice), 400e6, "rescued");
        assertEq(usdc.balanceOf(address(payoutVault)), 600e6, "rest");
    }

    function test_emergencyWithdraw_reverts() public {
        vm.prank(payoutOp);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, payoutOp, bytes32(0))
        );
        payoutVault.emergencyWithdraw(payoutOp, 1);
        vm.startPrank(admin);
        vm.expectRevert(OperatedVault.ZeroAddress.selector);
        payoutVault.emergencyWithdraw(address(0), 1);
        vm.expectRevert(OperatedVault.ZeroAmount.selector);
        payoutVault.emergencyWithdraw(alice, 0);
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientBalance.selector, address(payoutVault), 1_000e6, 1_000e6 + 1
            )
        );
        payoutVault.emergencyWithdraw(alice, 1_000e6 + 1);
        vm.stopPrank();
    }
}
