// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {ISignatureTransfer} from "./interfaces/ISignatureTransfer.sol";

/**
 * @title X402ExactPermit2Proxy
 * @notice The x402 v2 `exact` scheme over Permit2 (`assetTransferMethod: "permit2"`), for tokens
 * without EIP-3009 (USDT and any ERC-20). An x402 client signs a Permit2
 * `PermitWitnessTransferFrom` whose `spender` is the x402 exact proxy (x402 deploys it at
 * 0x402085c248EeA27D92E8b30b2C58ed07f9E20001 on every chain) and whose witness
 * `Witness(address to, uint256 validAfter)` fixes the recipient: whoever submits the signature,
 * the permitted amount can only go to `witness.to`, in full.
 *
 * This is Tollgate's own implementation of that call interface (the ABI and witness type the
 * official x402 clients sign for), used on local chains: tests place its runtime code at the
 * canonical address with `anvil_setCode`, beside Permit2's. On public chains the gateway calls
 * the proxy x402 deployed there; nothing here is deployed by Tollgate in production.
 */
contract X402ExactPermit2Proxy is ReentrancyGuard {
    /// @notice Permit2, at its canonical address (a constant, so the runtime code can be placed anywhere).
    ISignatureTransfer public constant PERMIT2 = ISignatureTransfer(0x000000000022D473030F116dDEE9F6B43aC78BA3);

    /// @notice The witness part of the EIP-712 type, as Permit2 wants it (types sorted after the primary).
    string public constant WITNESS_TYPE_STRING =
        "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,uint256 validAfter)";

    bytes32 public constant WITNESS_TYPEHASH = keccak256("Witness(address to,uint256 validAfter)");

    struct Witness {
        address to;
        uint256 validAfter;
    }

    /// @notice A payment went through.
    event Settled();

    error InvalidAmount();
    error InvalidOwner();
    error InvalidDestination();
    error PaymentTooEarly();

    /// @notice Moves exactly `permit.permitted.amount` of `permit.permitted.token` from `owner` to
    /// `witness.to`, once (Permit2 burns the nonce), if `owner` signed it for this proxy.
    function settle(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external nonReentrant {
        uint256 amount = permit.permitted.amount;
        // A zero transfer would burn the payer's nonce for nothing.
        if (amount == 0) revert InvalidAmount();
        if (owner == address(0)) revert InvalidOwner();
        if (witness.to == address(0)) revert InvalidDestination();
        if (block.timestamp < witness.validAfter) revert PaymentTooEarly();
        PERMIT2.permitWitnessTransferFrom(
            permit,
            ISignatureTransfer.SignatureTransferDetails({to: witness.to, requestedAmount: amount}),
            owner,
            keccak256(abi.encode(WITNESS_TYPEHASH, witness.to, witness.validAfter)),
            WITNESS_TYPE_STRING,
            signature
        );
        emit Settled();
    }
}
