// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC3009} from "@openzeppelin/contracts/interfaces/draft-IERC3009.sol";

import {OperatedVault} from "./OperatedVault.sol";

/**
 * @title TreasuryVault
 * @notice Holds buyers' prepaid USDC for the Tollgate gateway.
 *
 * Money model
 * -----------
 * 1. In: `deposit` / `depositWithAuthorization` pull USDC and emit {Deposited}. The gateway watches
 *    that event and credits the buyer's prepaid balance in its off-chain (Postgres) ledger. From then
 *    on the money is in the *pool*: backing for off-chain balances, controlled by the gateway.
 * 2. Out of the pool, only through the treasury operator (the gateway) or the admin:
 *    - `fundPayoutVault`: moves sellers' settled earnings to the one approved {PayoutVault};
 *    - `operatorWithdraw`: pays a buyer withdrawal (`POST /v1/withdraw`: the gateway debits the
 *      ledger first, then pays); `withdrawalId` makes retries safe (each id executes at most once);
 *    - `release`: the pull-payment variant of the same thing: instead of sending, it moves the amount
 *      to the buyer's on-contract balance, which only that buyer can `withdraw` (shares the
 *      `withdrawalId` space with `operatorWithdraw`);
 *    - `emergencyWithdraw` (admin, works while paused).
 * 3. `balanceOf(user)` is therefore NOT the buyer's prepaid balance (that lives off-chain); it is
 *    what the operator has released to the user and the user has not withdrawn yet. Deposits never
 *    go there, so a buyer can never spend a deposit off-chain and also withdraw it on-chain.
 *    Released balances are the users' own: neither the operator nor the admin can take them
 *    (`emergencyWithdraw` is capped at `token.balanceOf(this) - totalUserBalances`).
 *
 * Invariants (fuzzed in test/TreasuryVault.invariant.t.sol):
 *    totalDeposited == poolBalance() + totalUserBalances + totalWithdrawn + totalFundedOut
 *                      + totalEmergencyWithdrawn, with every term >= 0, hence
 *    totalDeposited >= totalWithdrawn + totalFundedOut (+ totalEmergencyWithdrawn), and
 *    token.balanceOf(this) >= poolBalance() + totalUserBalances (all obligations are covered).
 * Tokens sent to the vault without `deposit` are not credited to anyone; they show up as `surplus()`
 * and only the admin can move them (via `emergencyWithdraw`) — except x402 top-ups: the x402 "exact"
 * scheme pays with a plain EIP-3009 `transferWithAuthorization` to this vault (x402 clients sign
 * `TransferWithAuthorization`, so `depositWithAuthorization` cannot be used), after which the
 * operator calls `recordTopUp` to move that amount from surplus into the pool, once per top-up id.
 * It emits `TopUpRecorded`, not `Deposited`, so a deposit watcher never credits it a second time.
 */
contract TreasuryVault is OperatedVault {
    using SafeERC20 for IERC20;

    /// @notice The only destination of `fundPayoutVault`. Immutable: a new PayoutVault means a new pair.
    address public immutable payoutVault;

    /// @notice Sum of all credited deposits.
    uint256 public totalDeposited;
    /// @notice Sum of all `withdraw` and `operatorWithdraw` amounts.
    uint256 public totalWithdrawn;
    /// @notice Sum of all `fundPayoutVault` amounts.
    uint256 public totalFundedOut;
    /// @notice Part of `emergencyWithdraw` amounts taken from the pool (the rest was surplus).
    uint256 public totalEmergencyWithdrawn;
    /// @notice Sum of all `balanceOf` (released, not yet withdrawn).
    uint256 public totalUserBalances;

    /// @notice Released-but-not-withdrawn amount of each user (see the money model above).
    mapping(address user => uint256 amount) public balanceOf;

    /// @notice True once an x402 top-up has been moved from surplus into the pool.
    mapping(bytes32 topUpId => bool recorded) public recordedTopUpIds;

    /// @notice True once `withdrawalId` has been used by `operatorWithdraw` or `release`.
    mapping(bytes32 withdrawalId => bool executed) public executedWithdrawalIds;

    /// @notice A buyer deposit of `amount` (the amount actually received), to credit off-chain.
    event Deposited(address indexed buyer, uint256 amount);
    /// @notice The operator released `amount` to `user`'s on-contract balance.
    event Released(bytes32 indexed withdrawalId, address indexed user, uint256 amount);
    /// @notice `user` withdrew `amount` of their on-contract balance.
    event Withdrawn(address indexed user, uint256 amount);
    /// @notice The operator paid buyer withdrawal `withdrawalId` of `amount` to `to`.
    event OperatorWithdrawn(bytes32 indexed withdrawalId, address indexed to, uint256 amount);
    /// @notice The operator counted an x402 top-up of `amount` by `buyer` (already credited off-chain).
    event TopUpRecorded(bytes32 indexed topUpId, address indexed buyer, uint256 amount);
    /// @notice The operator moved `amount` to the PayoutVault.
    event PayoutVaultFunded(address indexed payoutVault, uint256 amount);

    /// @dev `requested` exceeds the `available` amount of the relevant balance.
    error InsufficientBalance(uint256 available, uint256 requested);
    error WithdrawalAlreadyExecuted(bytes32 withdrawalId);
    error TopUpAlreadyRecorded(bytes32 topUpId);
    /// @dev The PayoutVault passed to the constructor holds a different token.
    error PayoutVaultTokenMismatch();

    /**
     * @param token_ USDC.
     * @param payoutVault_ The deployed {PayoutVault} (must hold the same token).
     * @param admin Initial admin.
     * @param treasuryOperator Initial treasury operator (gateway key); address(0) for none.
     * @param adminTransferDelay Delay for admin transfers.
     */
    constructor(IERC20 token_, address payoutVault_, address admin, address treasuryOperator, uint48 adminTransferDelay)
        OperatedVault(token_, admin, treasuryOperator, adminTransferDelay)
    {
        if (payoutVault_ == address(0)) revert ZeroAddress();
        if (OperatedVault(payoutVault_).token() != token_) revert PayoutVaultTokenMismatch();
        payoutVault = payoutVault_;
    }

    // ---------------------------------------------------------------- in

    /// @notice Deposits `amount` of the caller's tokens (needs a prior `approve`).
    function deposit(uint256 amount) external whenNotPaused nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 balanceBefore = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        _credit(msg.sender, balanceBefore);
    }

    /**
     * @notice Deposits for `from` with an ERC-3009 `ReceiveWithAuthorization` signed by `from` with
     * `to = address(this)`: gasless for the buyer, anyone may submit it. `receiveWithAuthorization`
     * (not `transfer...`) makes the token check that the caller is the payee, so the authorization
     * cannot be front-run into a plain transfer that would bypass this accounting.
     */
    function depositWithAuthorization(
        address from,
        uint256 amount,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external whenNotPaused nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 balanceBefore = token.balanceOf(address(this));
        IERC3009(address(token))
            .receiveWithAuthorization(from, address(this), amount, validAfter, validBefore, nonce, v, r, s);
        _credit(from, balanceBefore);
    }

    /**
     * @notice Moves `amount` of surplus (an x402 top-up paid by `transferWithAuthorization` straight
     * to this vault) into the pool. `topUpId` (the gateway's id for the top-up, derived from the
     * authorization) makes a retry harmless.
     */
    function recordTopUp(address buyer, uint256 amount, bytes32 topUpId)
        external
        onlyOperator
        whenNotPaused
        nonReentrant
    {
        if (buyer == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        if (recordedTopUpIds[topUpId]) revert TopUpAlreadyRecorded(topUpId);
        uint256 spare = this.surplus();
        if (amount > spare) revert InsufficientBalance(spare, amount);
        recordedTopUpIds[topUpId] = true;
        totalDeposited += amount;
        emit TopUpRecorded(topUpId, buyer, amount);
    }

    // ---------------------------------------------------------------- out: operator

    /// @notice Sends `amount` from the pool to the approved PayoutVault.
    function fundPayoutVault(uint256 amount) external onlyOperator whenNotPaused nonReentrant {
        _requirePool(amount);
        totalFundedOut += amount;
        emit PayoutVaultFunded(payoutVault, amount);
        token.safeTransfer(payoutVault, amount);
    }

    /// @notice Pays buyer withdrawal `withdrawalId` (already debited off-chain) from the pool to `to`.
    function operatorWithdraw(address to, uint256 amount, bytes32 withdrawalId)
        external
        onlyOperator
        whenNotPaused
        nonReentrant
    {
        if (to == address(0)) revert ZeroAddress();
        _useWithdrawalId(withdrawalId);
        _requirePool(amount);
        totalWithdrawn += amount;
        emit OperatorWithdrawn(withdrawalId, to, amount);
        token.safeTransfer(to, amount);
    }

    /// @notice Moves `amount` from the pool to `user`'s on-contract balance for them to `withdraw`.
    function release(address user, uint256 amount, bytes32 withdrawalId)
        external
        onlyOperator
        whenNotPaused
        nonReentrant
    {
        if (user == address(0)) revert ZeroAddress();
        _useWithdrawalId(withdrawalId);
        _requirePool(amount);
        balanceOf[user] += amount;
        totalUserBalances += amount;
        emit Released(withdrawalId, user, amount);
    }

    // ---------------------------------------------------------------- out: user

    /// @notice Withdraws `amount` of the caller's own on-contract (released) balance.
    function withdraw(uint256 amount) external whenNotPaused nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 balance = balanceOf[msg.sender];
        if (amount > balance) revert InsufficientBalance(balance, amount);
        unchecked {
            balanceOf[msg.sender] = balance - amount;
            totalUserBalances -= amount; // <= balance <= totalUserBalances
        }
        totalWithdrawn += amount;
        emit Withdrawn(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- out: admin

    /**
     * @notice Admin rescue, works while paused: moves up to everything except users' released
     * balances to `to`. Taken from the pool first, then from `surplus()`.
     */
    function emergencyWithdraw(address to, uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        uint256 held = token.balanceOf(address(this));
        uint256 available = held > totalUserBalances ? held - totalUserBalances : 0;
        if (amount > available) revert InsufficientBalance(available, amount);
        uint256 pool = poolBalance();
        totalEmergencyWithdrawn += amount < pool ? amount : pool;
        emit EmergencyWithdrawn(to, amount);
        token.safeTransfer(to, amount);
    }

    // ---------------------------------------------------------------- views

    /// @notice Deposits not yet paid out, funded out, released or rescued: backs off-chain balances.
    function poolBalance() public view returns (uint256) {
        return totalDeposited - totalWithdrawn - totalFundedOut - totalEmergencyWithdrawn - totalUserBalances;
    }

    /// @notice Tokens held beyond all obligations (e.g. sent without `deposit`).
    function surplus() external view returns (uint256) {
        uint256 held = token.balanceOf(address(this));
        uint256 owed = poolBalance() + totalUserBalances;
        return held > owed ? held - owed : 0;
    }

    // ---------------------------------------------------------------- internals

    /// @dev Credits what actually arrived (robust to fee-on-transfer or lying tokens).
    function _credit(address buyer, uint256 balanceBefore) private {
        uint256 received = token.balanceOf(address(this)) - balanceBefore;
        if (received == 0) revert ZeroAmount();
        totalDeposited += received;
        emit Deposited(buyer, received);
    }

    function _requirePool(uint256 amount) private view {
        if (amount == 0) revert ZeroAmount();
        uint256 pool = poolBalance();
        if (amount > pool) revert InsufficientBalance(pool, amount);
    }

    function _useWithdrawalId(bytes32 withdrawalId) private {
        if (executedWithdrawalIds[withdrawalId]) revert WithdrawalAlreadyExecuted(withdrawalId);
        executedWithdrawalIds[withdrawalId] = true;
    }
}
