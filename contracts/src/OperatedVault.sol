// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {
    AccessControlDefaultAdminRules
} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/**
 * @title OperatedVault
 * @notice Shared access model of Tollgate's vaults: one slow, cold admin and one fast, hot operator.
 *
 * - Admin (`DEFAULT_ADMIN_ROLE`, OpenZeppelin {AccessControlDefaultAdminRules}): exactly one holder;
 *   handing it over is two-step (`beginDefaultAdminTransfer` -> `acceptDefaultAdminTransfer`) and only
 *   after `defaultAdminDelay()`. The admin pauses/unpauses, proposes/cancels/revokes operators and has
 *   the vault-specific emergency powers.
 * - Operator: a single address (the gateway's hot key) allowed to move funds in the vault's normal
 *   flow. It is deliberately NOT an AccessControl role, so `grantRole` can never bypass the timelock.
 *
 * Operator changes: `proposeOperator(x)` by the admin, then `acceptOperator()` sent BY `x` itself no
 * earlier than `OPERATOR_CHANGE_DELAY` (24 h) later. Why the proposed operator confirms: it proves the
 * new key is live and typed correctly, and the 24 h window lets monitoring notice a rogue proposal and
 * the admin `cancelOperatorProposal()` it. A new proposal replaces the previous one and restarts the
 * clock. Removing power is not delayed: `revokeOperator()` takes effect at once (for a leaked hot key),
 * as does `pause()`.
 */
abstract contract OperatedVault is AccessControlDefaultAdminRules, Pausable, ReentrancyGuard {
    /// @notice Minimum time between `proposeOperator` and `acceptOperator`.
    uint256 public constant OPERATOR_CHANGE_DELAY = 24 hours;

    /// @notice The ERC-20 (USDC) this vault holds.
    IERC20 public immutable token;

    /// @notice Current operator; `address(0)` when revoked.
    address public operator;

    /// @notice Proposed next operator; `address(0)` when there is no open proposal.
    address public pendingOperator;

    /// @notice Earliest timestamp at which `pendingOperator` may accept; 0 when there is no proposal.
    uint256 public pendingOperatorReadyAt;

    /// @notice Emitted when the admin proposes `newOperator`, acceptable from `readyAt` on.
    event OperatorProposed(address indexed newOperator, uint256 readyAt);
    /// @notice Emitted when the admin withdraws an open proposal.
    event OperatorProposalCanceled(address indexed canceledOperator);
    /// @notice Emitted whenever `operator` changes (set at deployment, accepted, or revoked).
    event OperatorChanged(address indexed previousOperator, address indexed newOperator);
    /// @notice Emitted by the vault-specific admin rescue function.
    event EmergencyWithdrawn(address indexed to, uint256 amount);

    error ZeroAddress();
    error ZeroAmount();
    /// @dev `caller` is not the current operator (or there is none).
    error NotOperator(address caller);
    /// @dev `caller` is not the proposed operator, or there is no open proposal.
    error NotPendingOperator(address caller);
    /// @dev The 24 h delay has not elapsed; acceptance is possible from `readyAt`.
    error OperatorChangeNotReady(uint256 readyAt);
    error NoPendingOperator();

    modifier onlyOperator() {
        // `operator` may be address(0) after a revoke; msg.sender can never be address(0).
        if (msg.sender != operator) revert NotOperator(msg.sender);
        _;
    }

    /**
     * @param token_ ERC-20 held by the vault (USDC).
     * @param admin Initial admin (ideally a multisig).
     * @param initialOperator Initial operator; may be address(0) to start with none (then propose one).
     * @param adminTransferDelay Delay for `DEFAULT_ADMIN_ROLE` transfers (e.g. 1 days; 0 for local dev).
     */
    constructor(IERC20 token_, address admin, address initialOperator, uint48 adminTransferDelay)
        AccessControlDefaultAdminRules(adminTransferDelay, admin)
    {
        if (address(token_) == address(0)) revert ZeroAddress();
        token = token_;
        if (initialOperator != address(0)) {
            operator = initialOperator;
            emit OperatorChanged(address(0), initialOperator);
        }
    }

    /// @notice Starts (or restarts) a 24 h operator change to `newOperator`.
    function proposeOperator(address newOperator) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newOperator == address(0)) revert ZeroAddress(); // use revokeOperator() to remove power
        uint256 readyAt = block.timestamp + OPERATOR_CHANGE_DELAY;
        pendingOperator = newOperator;
        pendingOperatorReadyAt = readyAt;
        emit OperatorProposed(newOperator, readyAt);
    }

    /// @notice Withdraws the open operator proposal.
    function cancelOperatorProposal() external onlyRole(DEFAULT_ADMIN_ROLE) {
        address canceled = pendingOperator;
        if (canceled == address(0)) revert NoPendingOperator();
        _clearProposal();
        emit OperatorProposalCanceled(canceled);
    }

    /// @notice Second confirmation: the proposed operator takes over once the delay has elapsed.
    function acceptOperator() external {
        address proposed = pendingOperator;
        if (proposed == address(0) || msg.sender != proposed) revert NotPendingOperator(msg.sender);
        if (block.timestamp < pendingOperatorReadyAt) revert OperatorChangeNotReady(pendingOperatorReadyAt);
        _clearProposal();
        _setOperator(proposed);
    }

    /// @notice Removes the operator immediately (no delay: taking power away is always safe).
    function revokeOperator() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setOperator(address(0));
    }

    /// @notice Stops every non-admin money movement until `unpause`.
    function pause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _pause();
    }

    /// @notice Resumes normal operation.
    function unpause() external onlyRole(DEFAULT_ADMIN_ROLE) {
        _unpause();
    }

    function _setOperator(address newOperator) private {
        address previous = operator;
        operator = newOperator;
        emit OperatorChanged(previous, newOperator);
    }

    function _clearProposal() private {
        pendingOperator = address(0);
        pendingOperatorReadyAt = 0;
    }
}
