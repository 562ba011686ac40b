// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ERC3009} from "@openzeppelin/contracts/token/ERC20/extensions/draft-ERC3009.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {MockUSDC} from "../src/MockUSDC.sol";
import {OperatedVault} from "../src/OperatedVault.sol";
import {PayoutVault} from "../src/PayoutVault.sol";
import {TreasuryVault} from "../src/TreasuryVault.sol";
import {Fixture} from "./utils/Fixture.sol";
import {FeeOnTransferToken} from "./utils/MaliciousTokens.sol";

contract TreasuryVaultTest is Fixture {
    bytes32 internal constant W1 = keccak256("withdrawal-1");
    bytes32 internal constant W2 = keccak256("withdrawal-2");

    uint256 internal buyerPk = 0xB0B;
    address internal buyer;

    function setUp() public override {
        super.setUp();
        buyer = vm.addr(buyerPk);
    }

    function _pause() internal {
        vm.prank(admin);
        treasury.pause();
    }

    function _release(address user, uint256 amount, bytes32 id) internal {
        vm.prank(treasuryOp);
        treasury.release(user, amount, id);
    }

    /// @dev Checks the accounting identity and solvency after every scenario.
    function _assertBooks() internal view {
        uint256 d = treasury.totalDeposited();
        uint256 out = treasury.totalWithdrawn() + treasury.totalFundedOut() + treasury.totalEmergencyWithdrawn();
        assertGe(d, out, "deposited >= withdrawn + fundedOut + emergency");
        assertEq(d, out + treasury.poolBalance() + treasury.totalUserBalances(), "identity");
        assertGe(usdc.balanceOf(address(treasury)), treasury.poolBalance() + treasury.totalUserBalances(), "solvent");
    }

    // ------------------------------------------------------------------ constructor

    function test_constructor() public view {
        assertEq(treasury.payoutVault(), address(payoutVault), "payout vault");
        assertEq(treasury.operator(), treasuryOp, "operator");
        assertEq(treasury.totalDeposited(), 0, "empty");
        assertEq(treasury.poolBalance(), 0, "empty pool");
        assertEq(treasury.surplus(), 0, "no surplus");
    }

    function test_constructor_revertsOnZeroPayoutVault() public {
        vm.expectRevert(OperatedVault.ZeroAddress.selector);
        new TreasuryVault(IERC20(address(usdc)), address(0), admin, treasuryOp, 0);
    }

    function test_constructor_revertsOnPayoutVaultOfOtherToken() public {
        MockUSDC other = new MockUSDC();
        PayoutVault pv = new PayoutVault(IERC20(address(other)), admin, payoutOp, 0);
        vm.expectRevert(TreasuryVault.PayoutVaultTokenMismatch.selector);
        new TreasuryVault(IERC20(address(usdc)), address(pv), admin, treasuryOp, 0);
    }

    // ------------------------------------------------------------------ deposit

    function test_deposit() public {
        usdc.mint(alice, 100e6);
        vm.startPrank(alice);
        usdc.approve(address(treasury), 100e6);
        vm.expectEmit(true, true, true, true, address(treasury));
        emit TreasuryVault.Deposited(alice, 60e6);
        treasury.deposit(60e6);
        vm.stopPrank();

        assertEq(usdc.balanceOf(address(treasury)), 60e6, "vault holds it");
        assertEq(usdc.balanceOf(alice), 40e6, "buyer paid");
        assertEq(treasury.totalDeposited(), 60e6, "totalDeposited");
        assertEq(treasury.poolBalance(), 60e6, "in the pool");
        assertEq(treasury.balanceOf(alice), 0, "deposits are credited off-chain, not withdrawable");
        _assertBooks();
    }

    function test_deposit_revertsOnZero() public {
        vm.prank(alice);
        vm.expectRevert(OperatedVault.ZeroAmount.selector);
        treasury.deposit(0);
    }

    function test_deposit_revertsWithoutAllowance() public {
        usdc.mint(alice, 10e6);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(treasury), 0, 10e6)
        );
        treasury.deposit(10e6);
    }

    function test_deposit_revertsWhilePaused() public {
        usdc.mint(alice, 10e6);
        vm.prank(alice);
        usdc.approve(address(treasury), 10e6);
        _pause();
        vm.prank(alice);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        treasury.deposit(10e6);
    }

    function testFuzz_deposit(uint256 a, uint256 b) public {
        a = bound(a, 1, 1e30);
        b = bound(b, 1, 1e30);
        _deposit(alice, a);
        _deposit(bob, b);
        assertEq(treasury.totalDeposited(), a + b, "sum");
        assertEq(usdc.balanceOf(address(treasury)), a + b, "held");
        _assertBooks();
    }

    function _feeVault(uint256 feeBps) internal returns (FeeOnTransferToken t, TreasuryVault v) {
        t = new FeeOnTransferToken(feeBps);
        PayoutVault pv = new PayoutVault(IERC20(address(t)), admin, payoutOp, 0);
        v = new TreasuryVault(IERC20(address(t)), address(pv), admin, treasuryOp, 0);
        t.mint(alice, 1_000);
        vm.prank(alice);
        t.approve(address(v), type(uint256).max);
    }

    function test_deposit_creditsWhatArrives() public {
        (FeeOnTransferToken t, TreasuryVault v) = _feeVault(100); // 1% fee
        vm.expectEmit(true, true, true, true, address(v));
        emit TreasuryVault.Deposited(alice, 990);
        vm.prank(alice);
        v.deposit(1_000);
        assertEq(v.totalDeposited(), 990, "net amount credited");
        assertEq(t.balanceOf(address(v)), 990, "held");
    }

    function test_deposit_revertsWhenNothingArrives() public {
        (, TreasuryVault v) = _feeVault(10_000); // transfer "succeeds" but moves nothing
        vm.prank(alice);
        vm.expectRevert(OperatedVault.ZeroAmount.selector);
        v.deposit(1_000);
    }

    // ------------------------------------------------------------------ depositWithAuthorization

    function _receiveAuth(uint256 value, bytes32 nonce) internal view returns (Auth memory) {
        return Auth(buyer, address(treasury), value, block.timestamp - 1, block.timestamp + 1 hours, nonce);
    }

    function test_depositWithAuthorization() public {
        usdc.mint(buyer, 50e6);
        Auth memory a = _receiveAuth(50e6, keccak256("n1"));
        (uint8 v, bytes32 r, bytes32 s) = _sign(buyerPk, _authHash(RECEIVE_WITH_AUTHORIZATION_TYPEHASH, a));

        vm.expectEmit(true, true, true, true, address(treasury));
        emit TreasuryVault.Deposited(buyer, 50e6);
        vm.prank(stranger); // anyone may submit (the gateway pays the gas)
        treasury.depositWithAuthorization(buyer, 50e6, a.validAfter, a.validBefore, a.nonce, v, r, s);

        assertEq(usdc.balanceOf(address(treasury)), 50e6, "held");
        assertEq(treasury.totalDeposited(), 50e6, "credited");
        assertTrue(usdc.authorizationState(buyer, a.nonce), "nonce used");
        _assertBooks();
    }

    function test_depositWithAuthorization_revertsOnReplay() public {
        usdc.mint(buyer, 100e6);
        Auth memory a = _receiveAuth(50e6, keccak256("n1"));
        (uint8 v, bytes32 r, bytes32 s) = _sign(buyerPk, _authHash(RECEIVE_WITH_AUTHORIZATION_TYPEHASH, a));
        treasury.depositWithAuthorization(buyer, 50e6, a.validAfter, a.validBefore, a.nonce, v, r, s);
        vm.expectRevert(abi.encodeWithSelector(ERC3009.ERC3009UsedAuthorization.selector, buyer, a.nonce));
        treasury.depositWithAuthorization(buyer, 50e6, a.validAfter, a.validBefore, a.nonce, v, r, s);
    }

    function test_depositWithAuthorization_revertsOnWrongAmountOrSigner() public {
        usdc.mint(buyer, 100e6);
        Auth memory a = _receiveAuth(50e6, keccak256("n1"));
        (uint8 v, bytes32 r, bytes32 s) = _sign(buyerPk, _authHash(RECEIVE_WITH_AUTHORIZATION_TYPEHASH, a));
        vm.expectRevert(ERC3009.ERC3009InvalidSignature.selector);
        treasury.depositWithAuthorization(buyer, 51e6, a.validAfter, a.validBefore, a.nonce, v, r, s);
        vm.expectRevert(ERC3009.ERC3009InvalidSignature.selector);
        treasury.depositWithAuthorization(alice, 50e6, a.validAfter, a.validBefore, a.nonce, v, r, s);
    }

    function test_depositWithAuthorization_revertsForAuthorizationToAnotherPayee() public {
        usdc.mint(buyer, 50e6);
        Auth memory a = _receiveAuth(50e6, keccak256("n1"));
        a.to = stranger; // signed for someone else: the vault's call cannot match it
        (uint8 v, bytes32 r, bytes32 s) = _sign(buyerPk, _authHash(RECEIVE_WITH_AUTHORIZATION_TYPEHASH, a));
        vm.expectRevert(ERC3009.ERC3009InvalidSignature.selector);
        treasury.depositWithAuthorization(buyer, 50e6, a.validAfter, a.validBefore, a.nonce, v, r, s);
    }

    function test_depositWithAuthorization_revertsOnZeroAndWhilePaused() public {
        vm.expectRevert(OperatedVault.ZeroAmount.selector);
        treasury.depositWithAuthorization(buyer, 0, 0, type(uint256).max, bytes32(0), 0, 0, 0);
        _pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        treasury.depositWithAuthorization(buyer, 1, 0, type(uint256).max, bytes32(0), 0, 0, 0);
    }

    // ------------------------------------------------------------------ fundPayoutVault

    function test_fundPayoutVault() public {
        _deposit(alice, 100e6);
        vm.expectEmit(true, true, true, true, address(treasury));
        emit TreasuryVault.PayoutVaultFunded(address(payoutVault), 70e6);
        vm.prank(treasuryOp);
        treasury.fundPayoutVault(70e6);
        assertEq(usdc.balanceOf(address(payoutVault)), 70e6, "payout vault funded");
        assertEq(usdc.balanceOf(address(treasury)), 30e6, "rest stays");
        assertEq(treasury.totalFundedOut(), 70e6, "counted");
        assertEq(treasury.poolBalance(), 30e6, "pool");
        _assertBooks();
    }

    function test_fundPayoutVault_revertsForNonOperator() public {
        _deposit(alice, 100e6);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(OperatedVault.NotOperator.selector, admin));
        treasury.fundPayoutVault(1);
    }

    function test_fundPayoutVault_revertsWhilePaused() public {
        _deposit(alice, 100e6);
        _pause();
        vm.prank(treasuryOp);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        treasury.fundPayoutVault(1);
    }

    function test_fundPayoutVault_revertsOnZero() public {
        vm.prank(treasuryOp);
        vm.expectRevert(OperatedVault.ZeroAmount.selector);
        treasury.fundPayoutVault(0);
    }

    function test_fundPayoutVault_revertsBeyondPool() public {
        _deposit(alice, 100e6);
        _release(bob, 40e6, W1); // released balances are the users', not the pool's
        usdc.mint(address(treasury), 1_000e6); // surplus is not the pool's either
        vm.prank(treasuryOp);
        vm.expectRevert(abi.encodeWithSelector(TreasuryVault.InsufficientBalance.selector, 60e6, 60e6 + 1));
        treasury.fundPayoutVault(60e6 + 1);
    }

    // ------------------------------------------------------------------ operatorWithdraw

    function test_operatorWithdraw() public {
        _deposit(alice, 100e6);
        vm.expectEmit(true, true, true, true, address(treasury));
        emit TreasuryVault.OperatorWithdrawn(W1, alice, 25e6);
        vm.prank(treasuryOp);
        treasury.operatorWithdraw(alice, 25e6, W1);
        assertEq(usdc.balanceOf(alice), 25e6, "paid");
        assertTrue(treasury.executedWithdrawalIds(W1), "id used");
        assertFalse(treasury.executedWithdrawalIds(W2), "other id unused");
        assertEq(treasury.totalWithdrawn(), 25e6, "counted");
        assertEq(treasury.poolBalance(), 75e6, "pool");
        _assertBooks();
    }

    function test_operatorWithdraw_sameIdPaysOnce() public {
        _deposit(alice, 100e6);
        vm.startPrank(treasuryOp);
        treasury.operatorWithdraw(alice, 25e6, W1);
        vm.expectRevert(abi.encodeWithSelector(TreasuryVault.WithdrawalAlreadyExecuted.selector, W1));
        treasury.operatorWithdraw(bob, 1e6, W1); // even with other parameters
        vm.stopPrank();
        assertEq(usdc.balanceOf(alice), 25e6, "paid once");
    }

    function test_operatorWithdraw_idSharedWithRelease() public {
        _deposit(alice, 100e6);
        _release(alice, 10e6, W1);
        vm.prank(treasuryOp);
        vm.expectRevert(abi.encodeWithSelector(TreasuryVault.WithdrawalAlreadyExecuted.selector, W1));
        treasury.operatorWithdraw(alice, 10e6, W1);
    }

    function test_operatorWithdraw_reverts() public {
        _deposit(alice, 100e6);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(OperatedVault.NotOperator.selector, stranger));
        treasury.operatorWithdraw(alice, 1, W1);

        vm.startPrank(treasuryOp);
        vm.expectRevert(OperatedVault.ZeroAddress.selector);
        treasury.operatorWithdraw(address(0), 1, W1);
        vm.expectRevert(OperatedVault.ZeroAmount.selector);
        treasury.operatorWithdraw(alice, 0, W1);
        vm.expectRevert(abi.encodeWithSelector(TreasuryVault.InsufficientBalance.selector, 100e6, 100e6 + 1));
        treasury.operatorWithdraw(alice, 100e6 + 1, W1);
        vm.stopPrank();
        assertFalse(treasury.executedWithdrawalIds(W1), "failed attempts do not burn the id");

        _pause();
        vm.prank(treasuryOp);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        treasury.operatorWithdraw(alice, 1, W1);
    }

    // ------------------------------------------------------------------ recordTopUp (x402)

    bytes32 internal constant T1 = keccak256("topup-1");

    /// @dev An x402 top-up: a plain transfer to the vault (what transferWithAuthorization does).
    function _directTransfer(uint256 amount) internal {
        usdc.mint(address(treasury), amount);
    }

    function test_recordTopUp_movesSurplusIntoThePool() public {
        _directTransfer(5e6);
        assertEq(treasury.surplus(), 5e6, "surplus before");
        vm.expectEmit(true, true, true, true, address(treasury));
        emit TreasuryVault.TopUpRecorded(T1, alice, 5e6);
        vm.prank(treasuryOp);
        treasury.recordTopUp(alice, 5e6, T1);
        assertEq(treasury.surplus(), 0, "surplus after");
        assertEq(treasury.poolBalance(), 5e6, "pool");
        assertEq(treasury.totalDeposited(), 5e6, "counted as deposited");
        assertTrue(treasury.recordedTopUpIds(T1), "id used");
        _assertBooks();
        // The pool can now fund payouts.
        vm.prank(treasuryOp);
        treasury.fundPayoutVault(5e6);
        _assertBooks();
    }

    function test_recordTopUp_reverts() public {
        _directTransfer(5e6);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(OperatedVault.NotOperator.selector, stranger));
        treasury.recordTopUp(alice, 5e6, T1);

        vm.startPrank(treasuryOp);
        vm.expectRevert(OperatedVault.ZeroAddress.selector);
        treasury.recordTopUp(address(0), 5e6, T1);
        vm.expectRevert(OperatedVault.ZeroAmount.selector);
        treasury.recordTopUp(alice, 0, T1);
        // More than arrived: a top-up cannot mint pool money.
        vm.expectRevert(abi.encodeWithSelector(TreasuryVault.InsufficientBalance.selector, 5e6, 5e6 + 1));
        treasury.recordTopUp(alice, 5e6 + 1, T1);
        treasury.recordTopUp(alice, 2e6, T1);
        vm.expectRevert(abi.encodeWithSelector(TreasuryVault.TopUpAlreadyRecorded.selector, T1));
        treasury.recordTopUp(alice, 1e6, T1);
        vm.stopPrank();

        // Deposits are not surplus: they cannot be recorded a second time as a top-up.
        _deposit(bob, 10e6);
        assertEq(treasury.surplus(), 3e6, "only the unrecorded rest");
        vm.prank(treasuryOp);
        vm.expectRevert(abi.encodeWithSelector(TreasuryVault.InsufficientBalance.selector, 3e6, 4e6));
        treasury.recordTopUp(alice, 4e6, keccak256("topup-2"));

        _pause();
        vm.prank(treasuryOp);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        treasury.recordTopUp(alice, 1e6, keccak256("topup-3"));
        _assertBooks();
    }

    // ------------------------------------------------------------------ release + withdraw

    function test_releaseThenWithdraw() public {
        _deposit(alice, 100e6);
        vm.expectEmit(true, true, true, true, address(treasury));
        emit TreasuryVault.Released(W1, alice, 30e6);
        _release(alice, 30e6, W1);
        assertEq(treasury.balanceOf(alice), 30e6, "released");
        assertEq(treasury.totalUserBalances(), 30e6, "total users");
        assertEq(treasury.poolBalance(), 70e6, "pool");
        assertTrue(treasury.executedWithdrawalIds(W1), "id used");
        _assertBooks();

        vm.expectEmit(true, true, true, true, address(treasury));
        emit TreasuryVault.Withdrawn(alice, 20e6);
        vm.prank(alice);
        treasury.withdraw(20e6);
        assertEq(usdc.balanceOf(alice), 20e6, "paid");
        assertEq(treasury.balanceOf(alice), 10e6, "left");
        assertEq(treasury.totalUserBalances(), 10e6, "total users");
        assertEq(treasury.totalWithdrawn(), 20e6, "counted");
        _assertBooks();
    }

    function test_release_reverts() public {
        _deposit(alice, 100e6);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(OperatedVault.NotOperator.selector, alice));
        treasury.release(alice, 1, W1);

        vm.startPrank(treasuryOp);
        vm.expectRevert(OperatedVault.ZeroAddress.selector);
        treasury.release(address(0), 1, W1);
        vm.expectRevert(OperatedVault.ZeroAmount.selector);
        treasury.release(alice, 0, W1);
        vm.expectRevert(abi.encodeWithSelector(TreasuryVault.InsufficientBalance.selector, 100e6, 100e6 + 1));
        treasury.release(alice, 100e6 + 1, W1);
        treasury.release(alice, 1, W1);
        vm.expectRevert(abi.encodeWithSelector(TreasuryVault.WithdrawalAlreadyExecuted.selector, W1));
        treasury.release(alice, 1, W1);
        vm.stopPrank();

        _pause();
        vm.prank(treasuryOp);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        treasury.release(alice, 1, W2);
    }

    function test_withdraw_depositAloneIsNotWithdrawable() public {
        _deposit(alice, 100e6);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(TreasuryVault.InsufficientBalance.selector, 0, 1));
        treasury.withdraw(1);
    }

    function test_withdraw_reverts() public {
        _deposit(alice, 100e6);
        _release(alice, 10e6, W1);
        vm.startPrank(alice);
        vm.expectRevert(OperatedVault.ZeroAmount.selector);
        treasury.withdraw(0);
        vm.expectRevert(abi.encodeWithSelector(TreasuryVault.InsufficientBalance.selector, 10e6, 10e6 + 1));
        treasury.withdraw(10e6 + 1);
        vm.stopPrank();
        vm.prank(bob); // only one's own balance
        vm.expectRevert(abi.encodeWithSelector(TreasuryVault.InsufficientBalance.selector, 0, 1));
        treasury.withdraw(1);

        _pause();
        vm.prank(alice);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        treasury.withdraw(1);
    }

    function testFuzz_flow(uint256 dep, uint256 fund, uint256 rel, uint256 wd, uint256 opw) public {
        dep = bound(dep, 1, 1e30);
        fund = bound(fund, 0, dep);
        rel = bound(rel, 0, dep - fund);
        wd = bound(wd, 0, rel);
        opw = bound(opw, 0, dep - fund - rel);
        _deposit(alice, dep);
        vm.startPrank(treasuryOp);
        if (fund > 0) treasury.fundPayoutVault(fund);
        if (rel > 0) treasury.release(bob, rel, W1);
        if (opw > 0) treasury.operatorWithdraw(alice, opw, W2);
        vm.stopPrank();
        if (wd > 0) {
            vm.prank(bob);
            treasury.withdraw(wd);
        }
        assertEq(treasury.poolBalance(), dep - fund - rel - opw, "pool");
        assertEq(treasury.balanceOf(bob), rel - wd, "bob's released balance");
        assertEq(usdc.balanceOf(address(payoutVault)), fund, "payout vault");
        assertEq(usdc.balanceOf(bob), wd, "bob");
        assertEq(usdc.balanceOf(alice), opw, "alice");
        _assertBooks();
    }

    function testFuzz_cannotOverdraw(uint256 dep, uint256 extra, uint8 which) public {
        dep = bound(dep, 1, 1e30);
        extra = bound(extra, 1, 1e30);
        _deposit(alice, dep);
        vm.prank(treasuryOp);
        vm.expectRevert(abi.encodeWithSelector(TreasuryVault.InsufficientBalance.selector, dep, dep + extra));
        if (which % 3 == 0) treasury.fundPayoutVault(dep + extra);
        else if (which % 3 == 1) treasury.operatorWithdraw(bob, dep + extra, W1);
        else treasury.release(bob, dep + extra, W1);
    }

    // ------------------------------------------------------------------ emergencyWithdraw

    function test_emergencyWithdraw_worksWhilePaused() public {
        _deposit(alice, 100e6);
        _pause();
        vm.expectEmit(true, true, true, true, address(treasury));
        emit OperatedVault.EmergencyWithdrawn(admin, 100e6);
        vm.prank(admin);
        treasury.emergencyWithdraw(admin, 100e6);
        assertEq(usdc.balanceOf(admin), 100e6, "rescued");
        assertEq(treasury.totalEmergencyWithdrawn(), 100e6, "counted");
        assertEq(treasury.poolBalance(), 0, "pool emptied");
        _assertBooks();
    }

    function test_emergencyWithdraw_takesPoolThenSurplus() public {
        _deposit(alice, 100e6);
        usdc.mint(address(treasury), 5e6); // sent without deposit()
        assertEq(treasury.surplus(), 5e6, "surplus");
        vm.prank(admin);
        treasury.emergencyWithdraw(admin, 105e6);
        assertEq(treasury.totalEmergencyWithdrawn(), 100e6, "only the pool part is booked");
        assertEq(treasury.surplus(), 0, "surplus gone");
        _assertBooks();
    }

    function test_emergencyWithdraw_surplusOnly() public {
        _deposit(alice, 100e6);
        usdc.mint(address(treasury), 5e6);
        vm.prank(admin);
        treasury.emergencyWithdraw(admin, 5e6);
        // booked against the pool first (conservative), surplus then still covers the difference
        assertEq(treasury.totalEmergencyWithdrawn(), 5e6, "booked");
        assertEq(usdc.balanceOf(address(treasury)), 100e6, "held");
        _assertBooks();
    }

    function test_emergencyWithdraw_cannotTakeReleasedBalances() public {
        _deposit(alice, 100e6);
        _release(alice, 40e6, W1);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(TreasuryVault.InsufficientBalance.selector, 60e6, 60e6 + 1));
        treasury.emergencyWithdraw(admin, 60e6 + 1);
        vm.prank(admin);
        treasury.emergencyWithdraw(admin, 60e6);
        vm.prank(alice);
        treasury.withdraw(40e6); // the user's balance is intact
        assertEq(usdc.balanceOf(alice), 40e6, "user got it");
        _assertBooks();
    }

    function test_emergencyWithdraw_reverts() public {
        _deposit(alice, 100e6);
        vm.prank(treasuryOp);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, treasuryOp, bytes32(0))
        );
        treasury.emergencyWithdraw(treasuryOp, 1);
        vm.startPrank(admin);
        vm.expectRevert(OperatedVault.ZeroAddress.selector);
        treasury.emergencyWithdraw(address(0), 1);
        vm.expectRevert(OperatedVault.ZeroAmount.selector);
        treasury.emergencyWithdraw(admin, 0);
        vm.stopPrank();
    }

    function testFuzz_emergencyWithdraw(uint256 dep, uint256 rel, uint256 donated, uint256 amount) public {
        dep = bound(dep, 1, 1e30);
        rel = bound(rel, 0, dep);
        donated = bound(donated, 0, 1e30);
        _deposit(alice, dep);
        if (rel > 0) _release(bob, rel, W1);
        if (donated > 0) usdc.mint(address(treasury), donated);
        uint256 available = dep + donated - rel;
        amount = bound(amount, 1, available + 1);
        vm.prank(admin);
        if (amount > available) {
            vm.expectRevert(abi.encodeWithSelector(TreasuryVault.InsufficientBalance.selector, available, amount));
        }
        treasury.emergencyWithdraw(admin, amount);
        _assertBooks();
        assertEq(treasury.balanceOf(bob), rel, "released balance untouched");
    }

    // ------------------------------------------------------------------ views

    function test_surplus() public {
        _deposit(alice, 10e6);
        assertEq(treasury.surplus(), 0, "none");
        usdc.mint(address(treasury), 3e6);
        assertEq(treasury.surplus(), 3e6, "donation");
        vm.prank(treasuryOp);
        vm.expectRevert(abi.encodeWithSelector(TreasuryVault.InsufficientBalance.selector, 10e6, 13e6));
        treasury.fundPayoutVault(13e6); // the operator cannot spend surplus
    }
}
