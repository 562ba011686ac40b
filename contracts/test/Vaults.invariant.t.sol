// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {MockUSDC} from "../src/MockUSDC.sol";
import {OperatedVault} from "../src/OperatedVault.sol";
import {PayoutVault} from "../src/PayoutVault.sol";
import {TreasuryVault} from "../src/TreasuryVault.sol";
import {Fixture} from "./utils/Fixture.sol";
import {Vm} from "./utils/Test.sol";

/**
 * Drives both vaults through random sequences of every state-changing function, as the real actors
 * (buyers, operators, admin, donors) would call them. Inputs are bounded to mostly-valid values;
 * calls that must fail (reused ids, paused vault) are still made and asserted to revert. Because
 * `fail_on_revert = true`, any unexpected revert, or any expected revert that does not happen, fails
 * the campaign. Ghost variables record what was actually paid, per id.
 */
contract VaultHandler {
    Vm internal constant vm = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);
    uint256 internal constant ID_SPACE = 24; // few ids, so reuse attempts are frequent
    uint256 internal constant MAX_AMOUNT = 1e12; // 1M USDC

    MockUSDC public immutable usdc;
    TreasuryVault public immutable treasury;
    PayoutVault public immutable payoutVault;
    address public immutable admin;
    address public immutable treasuryOp;
    address public immutable payoutOp;

    uint256[] internal buyerKeys;
    address[] public buyers;
    address[] public sellers;

    // ghosts
    uint256 public ghostDeposited;
    uint256 public ghostPaidOut;
    uint256 public ghostPayoutEmergency;
    uint256 public maxTimesBatchPaid;
    uint256 public maxTimesWithdrawalPaid;
    uint256 public maxTimesTopUpRecorded;
    mapping(bytes32 id => uint256 times) public timesTopUpRecorded;
    uint256 public reusedIdRejections;
    uint256 public pausedRejections;
    uint256 public overdraftRejections;
    mapping(bytes32 id => uint256 times) public timesBatchPaid;
    mapping(bytes32 id => uint256 times) public timesWithdrawalPaid;
    uint256 internal authNonce;

    constructor(MockUSDC usdc_, TreasuryVault treasury_, PayoutVault payoutVault_) {
        usdc = usdc_;
        treasury = treasury_;
        payoutVault = payoutVault_;
        admin = treasury_.defaultAdmin();
        treasuryOp = treasury_.operator();
        payoutOp = payoutVault_.operator();
        for (uint256 i = 1; i <= 4; i++) {
            buyerKeys.push(0xB000 + i);
            buyers.push(vm.addr(0xB000 + i));
            sellers.push(vm.addr(0x5000 + i));
        }
    }

    function buyerCount() external view returns (uint256) {
        return buyers.length;
    }

    function sellerCount() external view returns (uint256) {
        return sellers.length;
    }

    // ------------------------------------------------------------------ actions

    function deposit(uint256 who, uint256 amount) external {
        address buyer = buyers[who % buyers.length];
        amount = _bound(amount, 1, MAX_AMOUNT);
        usdc.mint(buyer, amount);
        vm.startPrank(buyer);
        usdc.approve(address(treasury), amount);
        try treasury.deposit(amount) {
            _mustNotBePaused(treasury.paused());
            ghostDeposited += amount;
        } catch {
            _mustBePaused(treasury.paused());
        }
        vm.stopPrank();
    }

    function depositWithAuthorization(uint256 who, uint256 amount) external {
        uint256 i = who % buyers.length;
        amount = _bound(amount, 1, MAX_AMOUNT);
        usdc.mint(buyers[i], amount);
        bytes32 nonce = keccak256(abi.encode("auth", ++authNonce));
        bytes32 digest = keccak256(
            abi.encodePacked(
                "\x19\x01",
                usdc.DOMAIN_SEPARATOR(),
                keccak256(
                    abi.encode(
                        keccak256(
                            "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
                        ),
                        buyers[i],
                        address(treasury),
                        amount,
                        0,
                        block.timestamp + 1,
                        nonce
                    )
                )
            )
        );
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(buyerKeys[i], digest);
        try treasury.depositWithAuthorization(buyers[i], amount, 0, block.timestamp + 1, nonce, v, r, s) {
            _mustNotBePaused(treasury.paused());
            ghostDeposited += amount;
        } catch {
            _mustBePaused(treasury.paused());
        }
    }

    function fundPayoutVault(uint256 amount) external {
        uint256 pool = treasury.poolBalance();
        amount = _overshoot(amount, pool);
        vm.prank(treasuryOp);
        try treasury.fundPayoutVault(amount) {
            _mustNotBePaused(treasury.paused());
            vm.assertLe(amount, pool, "funded beyond the pool");
        } catch {
            if (amount > pool) overdraftRejections++;
            else _mustBePaused(treasury.paused());
        }
    }

    function operatorWithdraw(uint256 to, uint256 amount, uint256 idSeed) external {
        uint256 pool = treasury.poolBalance();
        amount = _overshoot(amount, pool);
        bytes32 id = _withdrawalId(idSeed);
        vm.prank(treasuryOp);
        try treasury.operatorWithdraw(buyers[to % buyers.length], amount, id) {
            _recordWithdrawalPaid(id, amount, pool);
        } catch {
            _withdrawalMustHaveFailedForAReason(id, amount, pool);
        }
    }

    function release(uint256 to, uint256 amount, uint256 idSeed) external {
        uint256 pool = treasury.poolBalance();
        amount = _overshoot(amount, pool);
        bytes32 id = _withdrawalId(idSeed);
        vm.prank(treasuryOp);
        try treasury.release(buyers[to % buyers.length], amount, id) {
            _recordWithdrawalPaid(id, amount, pool);
        } catch {
            _withdrawalMustHaveFailedForAReason(id, amount, pool);
        }
    }

    function withdraw(uint256 who, uint256 amount) external {
        address user = buyers[who % buyers.length];
        uint256 balance = treasury.balanceOf(user);
        amount = _overshoot(amount, balance);
        vm.prank(user);
        try treasury.withdraw(amount) {
            _mustNotBePaused(treasury.paused());
            vm.assertLe(amount, balance, "withdrew beyond own balance");
        } catch {
            if (amount > balance) overdraftRejections++;
            else _mustBePaused(treasury.paused());
        }
    }

    function payout(uint256 to, uint256 amount, uint256 batchSeed) external {
        uint256 held = usdc.balanceOf(address(payoutVault));
        amount = _overshoot(amount, held);
        bytes32 id = keccak256(abi.encode("batch", batchSeed % ID_SPACE));
        vm.prank(payoutOp);
        try payoutVault.payout(sellers[to % sellers.length], amount, id) {
            _mustNotBePaused(payoutVault.paused());
            vm.assertLe(amount, held, "paid beyond the vault's balance");
            uint256 times = ++timesBatchPaid[id];
            if (times > maxTimesBatchPaid) maxTimesBatchPaid = times;
            ghostPaidOut += amount;
        } catch {
            if (payoutVault.paused()) {
                pausedRejections++;
            } else if (timesBatchPaid[id] > 0) {
                reusedIdRejections++;
            } else {
                vm.assertGt(amount, held, "payout reverted for a fresh batch id within the balance");
                overdraftRejections++;
            }
        }
    }

    /// @dev Admin rescues a slice of what is allowed; must work whether paused or not.
    function treasuryEmergencyWithdraw(uint256 amount) external {
        uint256 held = usdc.balanceOf(address(treasury));
        uint256 owedToUsers = treasury.totalUserBalances();
        if (held <= owedToUsers) return;
        amount = _bound(amount, 1, (held - owedToUsers + 3) / 4);
        vm.prank(admin);
        treasury.emergencyWithdraw(admin, amount);
    }

    function payoutEmergencyWithdraw(uint256 amount) external {
        uint256 held = usdc.balanceOf(address(payoutVault));
        if (held == 0) return;
        amount = _bound(amount, 1, (held + 3) / 4);
        vm.prank(admin);
        payoutVault.emergencyWithdraw(admin, amount);
        ghostPayoutEmergency += amount;
    }

    /// @dev Tokens sent straight to the treasury (not a deposit): must never become spendable pool.
    function donate(uint256 amount) external {
        usdc.mint(address(treasury), _bound(amount, 1, MAX_AMOUNT));
    }

    /// @dev An x402 top-up: tokens arrive by plain transfer, then the operator records them.
    /// Recording more than the surplus, or an id twice, must fail.
    function recordTopUp(uint256 who, uint256 amount, uint256 idSeed, bool arrive) external {
        if (arrive) usdc.mint(address(treasury), _bound(amount, 1, MAX_AMOUNT));
        uint256 spare = treasury.surplus();
        amount = _overshoot(amount, spare);
        bytes32 id = keccak256(abi.encode("topup", idSeed % ID_SPACE));
        vm.prank(treasuryOp);
        try treasury.recordTopUp(buyers[who % buyers.length], amount, id) {
            _mustNotBePaused(treasury.paused());
            vm.assertLe(amount, spare, "recorded beyond the surplus");
            ghostDeposited += amount;
            uint256 times = ++timesTopUpRecorded[id];
            if (times > maxTimesTopUpRecorded) maxTimesTopUpRecorded = times;
        } catch {}
    }

    /// @dev Pauses or unpauses one vault; only 1 call in 4 acts, so the vaults are mostly running.
    function togglePause(uint8 seed) external {
        if (seed % 4 != 0) return;
        OperatedVault v = seed % 8 == 0 ? OperatedVault(treasury) : OperatedVault(payoutVault);
        vm.startPrank(admin);
        if (v.paused()) v.unpause();
        else v.pause();
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ helpers

    function _withdrawalId(uint256 seed) internal pure returns (bytes32) {
        return keccak256(abi.encode("withdrawal", seed % ID_SPACE));
    }

    function _recordWithdrawalPaid(bytes32 id, uint256 amount, uint256 pool) internal {
        _mustNotBePaused(treasury.paused());
        vm.assertLe(amount, pool, "paid beyond the pool");
        uint256 times = ++timesWithdrawalPaid[id];
        if (times > maxTimesWithdrawalPaid) maxTimesWithdrawalPaid = times;
    }

    function _withdrawalMustHaveFailedForAReason(bytes32 id, uint256 amount, uint256 pool) internal {
        if (treasury.paused()) {
            pausedRejections++;
        } else if (timesWithdrawalPaid[id] > 0) {
            reusedIdRejections++;
        } else {
            vm.assertGt(amount, pool, "withdrawal reverted for a fresh id within the pool");
            overdraftRejections++;
        }
    }

    /// @dev Mostly in [1, limit], sometimes (1 in 8) just beyond it, to check overdrafts are refused.
    function _overshoot(uint256 x, uint256 limit) internal pure returns (uint256) {
        if (x % 8 == 0) return limit + 1 + ((x >> 8) % (limit / 8 + 1));
        if (limit == 0) return 1;
        return _bound(x >> 3, 1, limit);
    }

    function _mustNotBePaused(bool paused) internal pure {
        vm.assertFalse(paused, "money moved while paused");
    }

    function _mustBePaused(bool paused) internal {
        vm.assertTrue(paused, "valid call reverted while not paused");
        pausedRejections++;
    }

    function _bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        return min + (x % (max - min + 1));
    }
}

contract VaultsInvariantTest is Fixture {
    VaultHandler internal handler;

    function setUp() public override {
        super.setUp();
        handler = new VaultHandler(usdc, treasury, payoutVault);
        targetContract(address(handler));
    }

    /// @dev The issue's accounting invariant, plus the full identity behind it.
    function invariant_accounting() public view {
        uint256 d = treasury.totalDeposited();
        uint256 w = treasury.totalWithdrawn();
        uint256 f = treasury.totalFundedOut();
        uint256 e = treasury.totalEmergencyWithdrawn();
        assertGe(d, w + f, "totalDeposited >= totalWithdrawn + totalFundedOut");
        assertGe(d, w + f + e, "... including emergency withdrawals");
        assertEq(d, w + f + e + treasury.poolBalance() + treasury.totalUserBalances(), "identity");
        assertEq(d, handler.ghostDeposited(), "every deposit counted exactly once");
    }

    /// @dev The vault's tokens cover every obligation: users' released balances plus the pool.
    function invariant_treasurySolvent() public view {
        uint256 sum;
        for (uint256 i = 0; i < handler.buyerCount(); i++) {
            sum += treasury.balanceOf(handler.buyers(i));
        }
        assertEq(sum, treasury.totalUserBalances(), "totalUserBalances is the sum of balanceOf");
        assertGe(usdc.balanceOf(address(treasury)), sum, "covers all user balances");
        assertGe(usdc.balanceOf(address(treasury)), sum + treasury.poolBalance(), "covers user balances and the pool");
    }

    /// @dev PayoutVault holds exactly what was funded minus what left it.
    function invariant_payoutVaultBooks() public view {
        assertEq(handler.ghostPaidOut(), payoutVault.totalPaidOut(), "totalPaidOut");
        assertEq(
            usdc.balanceOf(address(payoutVault)) + payoutVault.totalPaidOut() + handler.ghostPayoutEmergency(),
            treasury.totalFundedOut(),
            "funded == held + paid + rescued"
        );
    }

    /// @dev No batch id and no withdrawal id ever pays twice.
    function invariant_idsPayAtMostOnce() public view {
        assertLe(handler.maxTimesBatchPaid(), 1, "a batch id paid twice");
        assertLe(handler.maxTimesWithdrawalPaid(), 1, "a withdrawal id paid twice");
        assertLe(handler.maxTimesTopUpRecorded(), 1, "a top-up id recorded twice");
    }
}
