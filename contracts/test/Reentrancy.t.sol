// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {PayoutVault} from "../src/PayoutVault.sol";
import {TreasuryVault} from "../src/TreasuryVault.sol";
import {ReentrantToken, Reenterer} from "./utils/MaliciousTokens.sol";
import {Test} from "./utils/Test.sol";

/**
 * A malicious token calls back into an attacker in the middle of every vault transfer. The attacker
 * holds the very role the re-entered function needs (operator or user with a balance), so the only
 * thing stopping the second call is the reentrancy guard: each attack must revert with
 * `ReentrancyGuardReentrantCall`, and the same call without the hook must succeed.
 */
contract ReentrancyTest is Test {
    ReentrantToken internal token;
    PayoutVault internal payoutVault;
    TreasuryVault internal treasury;
    Reenterer internal attacker;
    address internal admin = address(0xAD);

    function setUp() public {
        token = new ReentrantToken();
        attacker = new Reenterer();
        payoutVault = new PayoutVault(IERC20(address(token)), admin, address(attacker), 0);
        treasury = new TreasuryVault(IERC20(address(token)), address(payoutVault), admin, address(attacker), 0);

        // 1000 in the treasury pool, 100 released to the attacker, 500 in the payout vault.
        token.mint(address(this), 1_000);
        token.approve(address(treasury), 1_000);
        treasury.deposit(1_000);
        vm.startPrank(address(attacker));
        treasury.release(address(attacker), 100, "released");
        treasury.fundPayoutVault(500);
        vm.stopPrank();
    }

    function _attack(address vault, bytes memory first, bytes memory reentry) internal {
        attacker.arm(vault, reentry);
        token.setHook(address(attacker));
        vm.expectRevert(ReentrancyGuard.ReentrancyGuardReentrantCall.selector);
        attacker.execute(vault, first);
        token.setHook(address(0));
    }

    function test_payout_cannotReenterPayout() public {
        _attack(
            address(payoutVault),
            abi.encodeCall(PayoutVault.payout, (address(attacker), 10, "b1")),
            abi.encodeCall(PayoutVault.payout, (address(attacker), 10, "b2"))
        );
        assertEq(token.balanceOf(address(payoutVault)), 500, "nothing left the vault");
        assertFalse(payoutVault.executedBatchIds("b1"), "rolled back");
        attacker.execute(address(payoutVault), abi.encodeCall(PayoutVault.payout, (address(attacker), 10, "b1")));
        assertEq(token.balanceOf(address(attacker)), 10, "without the hook it pays");
    }

    function test_payout_cannotReenterWithSameBatchId() public {
        _attack(
            address(payoutVault),
            abi.encodeCall(PayoutVault.payout, (address(attacker), 10, "b1")),
            abi.encodeCall(PayoutVault.payout, (address(attacker), 10, "b1"))
        );
    }

    function test_withdraw_cannotReenterWithdraw() public {
        _attack(
            address(treasury),
            abi.encodeCall(TreasuryVault.withdraw, (60)),
            abi.encodeCall(TreasuryVault.withdraw, (60))
        );
        assertEq(treasury.balanceOf(address(attacker)), 100, "balance intact");
        attacker.execute(address(treasury), abi.encodeCall(TreasuryVault.withdraw, (60)));
        assertEq(token.balanceOf(address(attacker)), 60, "without the hook it pays");
    }

    function test_withdraw_cannotReenterOperatorWithdraw() public {
        _attack(
            address(treasury),
            abi.encodeCall(TreasuryVault.withdraw, (60)),
            abi.encodeCall(TreasuryVault.operatorWithdraw, (address(attacker), 1, "w"))
        );
    }

    function test_operatorWithdraw_cannotReenter() public {
        _attack(
            address(treasury),
            abi.encodeCall(TreasuryVault.operatorWithdraw, (address(attacker), 100, "w1")),
            abi.encodeCall(TreasuryVault.operatorWithdraw, (address(attacker), 100, "w2"))
        );
        assertFalse(treasury.executedWithdrawalIds("w1"), "rolled back");
    }

    function test_fundPayoutVault_cannotReenterRelease() public {
        _attack(
            address(treasury),
            abi.encodeCall(TreasuryVault.fundPayoutVault, (100)),
            abi.encodeCall(TreasuryVault.release, (address(attacker), 300, "r"))
        );
        assertEq(treasury.totalFundedOut(), 500, "rolled back");
    }

    function test_deposit_cannotReenterDeposit() public {
        token.mint(address(attacker), 100);
        attacker.approve(address(token), address(treasury), 100);
        _attack(
            address(treasury), abi.encodeCall(TreasuryVault.deposit, (50)), abi.encodeCall(TreasuryVault.deposit, (50))
        );
        assertEq(treasury.totalDeposited(), 1_000, "no double credit");
    }

    function test_emergencyWithdraw_cannotBeReenteredIntoWithdraw() public {
        // The admin pays the attacker; the attacker tries to withdraw its released balance meanwhile.
        attacker.arm(address(treasury), abi.encodeCall(TreasuryVault.withdraw, (100)));
        token.setHook(address(attacker));
        vm.prank(admin);
        vm.expectRevert(ReentrancyGuard.ReentrancyGuardReentrantCall.selector);
        treasury.emergencyWithdraw(address(attacker), 10);
    }
}
