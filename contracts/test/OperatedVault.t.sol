// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {
    IAccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

import {OperatedVault} from "../src/OperatedVault.sol";
import {PayoutVault} from "../src/PayoutVault.sol";
import {Fixture} from "./utils/Fixture.sol";

/**
 * Access model shared by both vaults (timelocked operator, two-step admin, pause). Written once
 * against {OperatedVault} and run for each vault by the two concrete contracts at the bottom.
 */
abstract contract OperatedVaultTest is Fixture {
    bytes32 internal constant ADMIN_ROLE = 0x00;

    address internal newOp;
    uint256 internal actionNonce;

    function _vault() internal view virtual returns (OperatedVault);
    function _initialOperator() internal view virtual returns (address);
    /// @dev Calldata of a cheap operator-only action that succeeds when sent by the operator.
    function _operatorAction() internal virtual returns (bytes memory);

    function setUp() public virtual override {
        super.setUp();
        newOp = makeAddr("newOp");
        _fundPayoutVault(1_000e6);
        _deposit(alice, 1_000e6);
    }

    function _tryOperatorAction(address caller) internal returns (bool ok) {
        bytes memory data = _operatorAction();
        vm.prank(caller);
        (ok,) = address(_vault()).call(data);
    }

    function _expectUnauthorized(address caller) internal {
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, caller, ADMIN_ROLE)
        );
    }

    function _propose(address who) internal returns (uint256 readyAt) {
        vm.prank(admin);
        _vault().proposeOperator(who);
        readyAt = _vault().pendingOperatorReadyAt();
    }

    // ------------------------------------------------------------------ deployment

    function test_constructor_setsRoles() public view {
        OperatedVault v = _vault();
        assertEq(v.operator(), _initialOperator(), "operator");
        assertEq(v.defaultAdmin(), admin, "admin");
        assertEq(v.owner(), admin, "owner() is the admin");
        assertTrue(v.hasRole(ADMIN_ROLE, admin), "admin role");
        assertEq(uint256(v.defaultAdminDelay()), ADMIN_DELAY, "admin delay");
        assertEq(address(v.token()), address(usdc), "token");
        assertEq(v.pendingOperator(), address(0), "no proposal");
        assertEq(v.OPERATOR_CHANGE_DELAY(), 24 hours, "delay constant");
        assertFalse(v.paused(), "not paused");
    }

    function test_constructor_allowsNoOperator() public {
        PayoutVault v = new PayoutVault(IERC20(address(usdc)), admin, address(0), 0);
        assertEq(v.operator(), address(0), "no operator");
        vm.prank(payoutOp);
        vm.expectRevert(abi.encodeWithSelector(OperatedVault.NotOperator.selector, payoutOp));
        v.payout(bob, 1, bytes32(0));
    }

    function test_constructor_emitsOperatorChanged() public {
        vm.expectEmit(true, true, true, true);
        emit OperatedVault.OperatorChanged(address(0), payoutOp);
        new PayoutVault(IERC20(address(usdc)), admin, payoutOp, 0);
    }

    function test_constructor_revertsOnZeroToken() public {
        vm.expectRevert(OperatedVault.ZeroAddress.selector);
        new PayoutVault(IERC20(address(0)), admin, payoutOp, 0);
    }

    function test_constructor_revertsOnZeroAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlInvalidDefaultAdmin.selector, address(0)
            )
        );
        new PayoutVault(IERC20(address(usdc)), address(0), payoutOp, 0);
    }

    // ------------------------------------------------------------------ operator gate

    function test_operatorAction_onlyOperator() public {
        assertTrue(_tryOperatorAction(_initialOperator()), "operator may act");
        assertFalse(_tryOperatorAction(stranger), "stranger may not");
        assertFalse(_tryOperatorAction(admin), "admin is not the operator");
    }

    // ------------------------------------------------------------------ propose

    function test_proposeOperator_setsPendingAndEmits() public {
        vm.expectEmit(true, true, true, true, address(_vault()));
        emit OperatedVault.OperatorProposed(newOp, block.timestamp + 24 hours);
        vm.prank(admin);
        _vault().proposeOperator(newOp);
        assertEq(_vault().pendingOperator(), newOp, "pending");
        assertEq(_vault().pendingOperatorReadyAt(), block.timestamp + 24 hours, "readyAt");
        assertEq(_vault().operator(), _initialOperator(), "operator unchanged until accepted");
    }

    function test_proposeOperator_revertsForNonAdmin() public {
        _expectUnauthorized(_initialOperator());
        vm.prank(_initialOperator());
        _vault().proposeOperator(newOp);
    }

    function test_proposeOperator_revertsOnZero() public {
        vm.prank(admin);
        vm.expectRevert(OperatedVault.ZeroAddress.selector);
        _vault().proposeOperator(address(0));
    }

    // ------------------------------------------------------------------ accept: timelock edges

    function test_acceptOperator_oneSecondEarlyFails() public {
        uint256 readyAt = _propose(newOp);
        vm.warp(readyAt - 1); // 24 h - 1 s after the proposal
        vm.prank(newOp);
        vm.expectRevert(abi.encodeWithSelector(OperatedVault.OperatorChangeNotReady.selector, readyAt));
        _vault().acceptOperator();
    }

    function test_acceptOperator_immediatelyFails() public {
        uint256 readyAt = _propose(newOp);
        vm.prank(newOp);
        vm.expectRevert(abi.encodeWithSelector(OperatedVault.OperatorChangeNotReady.selector, readyAt));
        _vault().acceptOperator();
    }

    function test_acceptOperator_exactlyAt24hSucceeds() public {
        uint256 proposedAt = block.timestamp;
        _propose(newOp);
        vm.warp(proposedAt + 24 hours);
        vm.expectEmit(true, true, true, true, address(_vault()));
        emit OperatedVault.OperatorChanged(_initialOperator(), newOp);
        vm.prank(newOp);
        _vault().acceptOperator();

        assertEq(_vault().operator(), newOp, "new operator");
        assertEq(_vault().pendingOperator(), address(0), "proposal cleared");
        assertEq(_vault().pendingOperatorReadyAt(), 0, "readyAt cleared");
        assertTrue(_tryOperatorAction(newOp), "new operator may act");
        assertFalse(_tryOperatorAction(_initialOperator()), "old operator lost power");
    }

    function test_acceptOperator_twiceFails() public {
        uint256 readyAt = _propose(newOp);
        vm.warp(readyAt);
        vm.prank(newOp);
        _vault().acceptOperator();
        vm.prank(newOp);
        vm.expectRevert(abi.encodeWithSelector(OperatedVault.NotPendingOperator.selector, newOp));
        _vault().acceptOperator();
    }

    function test_acceptOperator_revertsForAdminAndStrangers() public {
        uint256 readyAt = _propose(newOp);
        vm.warp(readyAt + 1);
        vm.prank(admin);
        vm.expectRevert(abi.encodeWithSelector(OperatedVault.NotPendingOperator.selector, admin));
        _vault().acceptOperator();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(OperatedVault.NotPendingOperator.selector, stranger));
        _vault().acceptOperator();
    }

    function test_acceptOperator_revertsWithoutProposal() public {
        vm.prank(newOp);
        vm.expectRevert(abi.encodeWithSelector(OperatedVault.NotPendingOperator.selector, newOp));
        _vault().acceptOperator();
    }

    function testFuzz_acceptOperator_timelock(uint256 wait) public {
        wait = bound(wait, 0, 30 days);
        uint256 readyAt = _propose(newOp);
        vm.warp(block.timestamp + wait);
        vm.prank(newOp);
        if (wait < 24 hours) {
            vm.expectRevert(abi.encodeWithSelector(OperatedVault.OperatorChangeNotReady.selector, readyAt));
            _vault().acceptOperator();
            assertEq(_vault().operator(), _initialOperator(), "unchanged");
        } else {
            _vault().acceptOperator();
            assertEq(_vault().operator(), newOp, "changed");
        }
    }

    // ------------------------------------------------------------------ cancel / re-propose

    function test_cancelOperatorProposal() public {
        uint256 readyAt = _propose(newOp);
        vm.expectEmit(true, true, true, true, address(_vault()));
        emit OperatedVault.OperatorProposalCanceled(newOp);
        vm.prank(admin);
        _vault().cancelOperatorProposal();
        assertEq(_vault().pendingOperator(), address(0), "cleared");
        assertEq(_vault().pendingOperatorReadyAt(), 0, "cleared readyAt");

        vm.warp(readyAt);
        vm.prank(newOp);
        vm.expectRevert(abi.encodeWithSelector(OperatedVault.NotPendingOperator.selector, newOp));
        _vault().acceptOperator();
    }

    function test_cancelOperatorProposal_revertsWithoutProposal() public {
        vm.prank(admin);
        vm.expectRevert(OperatedVault.NoPendingOperator.selector);
        _vault().cancelOperatorProposal();
    }

    function test_cancelOperatorProposal_revertsForNonAdmin() public {
        _propose(newOp);
        _expectUnauthorized(newOp);
        vm.prank(newOp);
        _vault().cancelOperatorProposal();
    }

    function test_reproposeRestartsClockAndReplacesCandidate() public {
        address other = makeAddr("other");
        uint256 t0 = block.timestamp;
        _propose(newOp);
        vm.warp(t0 + 12 hours);
        uint256 readyAt = _propose(other);
        assertEq(readyAt, t0 + 36 hours, "clock restarted");

        vm.warp(t0 + 24 hours);
        vm.prank(newOp); // replaced candidate
        vm.expectRevert(abi.encodeWithSelector(OperatedVault.NotPendingOperator.selector, newOp));
        _vault().acceptOperator();
        vm.prank(other); // new candidate, too early
        vm.expectRevert(abi.encodeWithSelector(OperatedVault.OperatorChangeNotReady.selector, readyAt));
        _vault().acceptOperator();

        vm.warp(readyAt);
        vm.prank(other);
        _vault().acceptOperator();
        assertEq(_vault().operator(), other, "re-proposed operator accepted");
    }

    function test_reproposeAfterCancel() public {
        _propose(newOp);
        vm.prank(admin);
        _vault().cancelOperatorProposal();
        uint256 readyAt = _propose(newOp);
        vm.warp(readyAt);
        vm.prank(newOp);
        _vault().acceptOperator();
        assertEq(_vault().operator(), newOp, "accepted after re-propose");
    }

    // ------------------------------------------------------------------ revoke

    function test_revokeOperator_isImmediate() public {
        vm.expectEmit(true, true, true, true, address(_vault()));
        emit OperatedVault.OperatorChanged(_initialOperator(), address(0));
        vm.prank(admin);
        _vault().revokeOperator();
        assertEq(_vault().operator(), address(0), "revoked");
        assertFalse(_tryOperatorAction(_initialOperator()), "revoked operator cannot act");

        uint256 readyAt = _propose(newOp); // recovery goes through the timelock again
        vm.warp(readyAt);
        vm.prank(newOp);
        _vault().acceptOperator();
        assertTrue(_tryOperatorAction(newOp), "replacement can act");
    }

    function test_revokeOperator_revertsForNonAdmin() public {
        _expectUnauthorized(_initialOperator());
        vm.prank(_initialOperator());
        _vault().revokeOperator();
    }

    function test_revokeOperator_keepsOpenProposal() public {
        uint256 readyAt = _propose(newOp);
        vm.prank(admin);
        _vault().revokeOperator();
        assertEq(_vault().pendingOperator(), newOp, "proposal survives");
        vm.warp(readyAt);
        vm.prank(newOp);
        _vault().acceptOperator();
        assertEq(_vault().operator(), newOp, "accepted");
    }

    // ------------------------------------------------------------------ pause

    function test_pause_blocksOperatorAndUnpauseRestores() public {
        vm.expectEmit(true, true, true, true, address(_vault()));
        emit Pausable.Paused(admin);
        vm.prank(admin);
        _vault().pause();
        assertTrue(_vault().paused(), "paused");
        assertFalse(_tryOperatorAction(_initialOperator()), "operator blocked while paused");

        vm.expectEmit(true, true, true, true, address(_vault()));
        emit Pausable.Unpaused(admin);
        vm.prank(admin);
        _vault().unpause();
        assertTrue(_tryOperatorAction(_initialOperator()), "operator works again");
    }

    function test_pause_revertsForNonAdmin() public {
        _expectUnauthorized(_initialOperator());
        vm.prank(_initialOperator());
        _vault().pause();
    }

    function test_unpause_revertsForNonAdmin() public {
        vm.prank(admin);
        _vault().pause();
        _expectUnauthorized(stranger);
        vm.prank(stranger);
        _vault().unpause();
    }

    function test_pause_revertsWhenPaused() public {
        vm.startPrank(admin);
        _vault().pause();
        vm.expectRevert(Pausable.EnforcedPause.selector);
        _vault().pause();
        vm.stopPrank();
    }

    function test_unpause_revertsWhenNotPaused() public {
        vm.prank(admin);
        vm.expectRevert(Pausable.ExpectedPause.selector);
        _vault().unpause();
    }

    // ------------------------------------------------------------------ admin: two-step with delay

    function test_adminTransfer_isTwoStepWithDelay() public {
        address newAdmin = makeAddr("newAdmin");
        vm.prank(admin);
        _vault().beginDefaultAdminTransfer(newAdmin);
        (address pending, uint48 schedule) = _vault().pendingDefaultAdmin();
        assertEq(pending, newAdmin, "pending admin");
        assertEq(uint256(schedule), block.timestamp + ADMIN_DELAY, "schedule");

        vm.warp(uint256(schedule) - 1);
        vm.prank(newAdmin);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminDelay.selector, schedule
            )
        );
        _vault().acceptDefaultAdminTransfer();

        vm.warp(uint256(schedule) + 1);
        vm.prank(newAdmin);
        _vault().acceptDefaultAdminTransfer();
        assertEq(_vault().defaultAdmin(), newAdmin, "admin moved");
        assertFalse(_vault().hasRole(ADMIN_ROLE, admin), "old admin dropped");

        _expectUnauthorized(admin);
        vm.prank(admin);
        _vault().pause();
        vm.prank(newAdmin);
        _vault().pause();
    }

    function test_adminRole_cannotBeGrantedDirectly() public {
        vm.prank(admin);
        vm.expectRevert(IAccessControlDefaultAdminRules.AccessControlEnforcedDefaultAdminRules.selector);
        _vault().grantRole(ADMIN_ROLE, stranger);
    }

    function test_beginAdminTransfer_revertsForNonAdmin() public {
        _expectUnauthorized(stranger);
        vm.prank(stranger);
        _vault().beginDefaultAdminTransfer(stranger);
    }
}

contract PayoutVaultAccessTest is OperatedVaultTest {
    function _vault() internal view override returns (OperatedVault) {
        return payoutVault;
    }

    function _initialOperator() internal view override returns (address) {
        return payoutOp;
    }

    function _operatorAction() internal override returns (bytes memory) {
        return abi.encodeCall(PayoutVault.payout, (bob, 1, keccak256(abi.encode("batch", ++actionNonce))));
    }
}

contract TreasuryVaultAccessTest is OperatedVaultTest {
    function _vault() internal view override returns (OperatedVault) {
        return treasury;
    }

    function _initialOperator() internal view override returns (address) {
        return treasuryOp;
    }

    function _operatorAction() internal pure override returns (bytes memory) {
        return abi.encodeWithSignature("fundPayoutVault(uint256)", uint256(1));
    }
}
