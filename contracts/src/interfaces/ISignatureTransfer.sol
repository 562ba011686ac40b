// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

/**
 * @title ISignatureTransfer
 * @notice The part of Uniswap's Permit2 (canonical at 0x000000000022D473030F116dDEE9F6B43aC78BA3 on
 * every EVM chain) that the x402 Permit2 proxies call: a one-time, signed transfer whose EIP-712
 * message also commits to a caller-defined "witness" struct. Nonces are unordered (a bitmap per
 * owner): each nonce moves money at most once, whatever the spender.
 */
interface ISignatureTransfer {
    struct TokenPermissions {
        address token;
        uint256 amount;
    }

    struct PermitTransferFrom {
        TokenPermissions permitted;
        uint256 nonce;
        uint256 deadline;
    }

    struct SignatureTransferDetails {
        address to;
        uint256 requestedAmount;
    }

    function permitWitnessTransferFrom(
        PermitTransferFrom memory permit,
        SignatureTransferDetails calldata transferDetails,
        address owner,
        bytes32 witness,
        string calldata witnessTypeString,
        bytes calldata signature
    ) external;

    /// @notice Bit `bit` of word `wordPos` is set once nonce `(wordPos << 8) | bit` is used or cancelled.
    function nonceBitmap(address owner, uint256 wordPos) external view returns (uint256);

    function DOMAIN_SEPARATOR() external view returns (bytes32);
}
