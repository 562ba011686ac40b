// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {OperatedVault} from "./OperatedVault.sol";

/**
 * @title PayoutVault
 * @notice Pays sellers (model providers) their settled earnings in USDC.
 *
 * It is funded only by {TreasuryVault-fundPayoutVault} and pays out only through the payout operator
 * (the gateway's settlement job). Every payout carries a `batchId` chosen by the gateway (one id per
 * seller per settlement batch, e.g. keccak256(batch, seller)); an id executes at most once, so a
 * settlement job that crashes after sending a transaction can simply retry: the retry reverts with
 * {BatchAlreadyExecuted} instead of paying twice. Keeping payouts in a separate vault bounds what a
 * leaked payout key can lose to what the treasury operator has moved here.
 */
contract PayoutVault is OperatedVault {
    using SafeERC20 for IERC20;

    /// @notice True once `batchId` has paid out.
    mapping(bytes32 batchId => bool executed) public executedBatchIds;

    /// @notice Sum of all `payout` amounts.
    uint256 public totalPaidOut;

    /// @notice Emitted once per executed `batchId`.
    event PaidOut(bytes32 indexed batchId, address indexed to, uint256 amount);

    error BatchAlreadyExecuted(bytes32 batchId);

    /**
     * @param token_ USDC.
     * @param admin Initial admin.
     * @param payoutOperator Initial payout operator (gateway settlement key); address(0) for none.
     * @param adminTransferDelay Delay for admin transfers.
     */
    constructor(IERC20 token_, address admin, address payoutOperator, uint48 adminTransferDelay)
        OperatedVault(token_, admin, payoutOperator, adminTransferDelay)
    {}

    /**
     * @notice Pays `amount` to `to` for settlement `batchId`; each `batchId` pays at most once.
     * @dev Effects before the transfer (checks-effects-interactions) plus `nonReentrant`.
     */
    function payout(address to, uint256 amount, bytes32 batchId) external onlyOperator whenNotPaused nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        if (executedBatchIds[batchId]) revert BatchAlreadyExecuted(batchId);
        executedBatchIds[batchId] = true;
        totalPaidOut += amount;
        emit PaidOut(batchId, to, amount);
        token.safeTransfer(to, amount);
    }

    /**
     * @notice Admin rescue: moves `amount` of the vault's tokens to `to`. Works while paused, which
     * is the point: pause the operator, then move the funds somewhere safe.
     */
    function emergencyWithdraw(address to, uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        emit EmergencyWithdrawn(to, amount);
        token.safeTransfer(to, amount);
    }
}
