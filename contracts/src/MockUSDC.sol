// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC3009} from "@openzeppelin/contracts/token/ERC20/extensions/draft-ERC3009.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/**
 * @title MockUSDC
 * @notice USDC stand-in for tests and local chains (anvil). NOT for production: `mint` is public.
 *
 * Matches what x402 clients and the gateway rely on from Circle's FiatToken v2.2:
 * - 6 decimals, name "USD Coin", symbol "USDC";
 * - EIP-712 domain {name: "USD Coin", version: "2", chainId, verifyingContract}, so signatures made
 *   for real USDC's domain layout verify here too;
 * - ERC-3009 with random 32-byte nonces: `transferWithAuthorization`, `receiveWithAuthorization`,
 *   `cancelAuthorization` (v, r, s and `bytes signature` overloads, the latter also accepting
 *   ERC-1271 contract signatures, as in v2.2), `authorizationState`, and the `AuthorizationUsed` /
 *   `AuthorizationCanceled` events.
 *
 * The ERC-3009 core is OpenZeppelin 5.7's `draft-ERC3009.sol` (not `ERC20TransferAuthorization`,
 * whose keyed *sequential* nonces differ from USDC's). Two adjustments make it behave like USDC:
 * the `bytes signature` overloads below, and `_checkValidity` restricted to plain timestamps
 * (OZ's draft adds a block-number mode selected by bit 47, which USDC does not have).
 * Reverts use OZ's custom errors rather than USDC's revert strings.
 */
contract MockUSDC is ERC3009 {
    constructor() ERC20("USD Coin", "USDC") EIP712("USD Coin", "2") {}

    /// @notice 6, like USDC.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Mints `amount` to `to`. Open to anyone: this is a mock.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Burns `amount` of the caller's tokens.
    function burn(uint256 amount) external {
        _burn(msg.sender, amount);
    }

    /// @notice The EIP-712 domain separator (USDC exposes it under this name).
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice `transferWithAuthorization` with a packed or ERC-1271 `signature` (USDC v2.2).
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) external {
        bytes32 structHash = keccak256(
            abi.encode(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce)
        );
        _requireSignature(from, structHash, signature);
        _transferWithAuthorization(from, to, value, validAfter, validBefore, nonce);
    }

    /// @notice `receiveWithAuthorization` with a packed or ERC-1271 `signature` (USDC v2.2).
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) external {
        bytes32 structHash = keccak256(
            abi.encode(RECEIVE_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce)
        );
        _requireSignature(from, structHash, signature);
        if (to != _msgSender()) revert ERC20InvalidReceiver(to);
        _transferWithAuthorization(from, to, value, validAfter, validBefore, nonce);
    }

    /// @notice `cancelAuthorization` with a packed or ERC-1271 `signature` (USDC v2.2).
    function cancelAuthorization(address authorizer, bytes32 nonce, bytes memory signature) external {
        _requireSignature(
            authorizer, keccak256(abi.encode(CANCEL_AUTHORIZATION_TYPEHASH, authorizer, nonce)), signature
        );
        _cancelAuthorization(authorizer, nonce);
    }

    /// @dev USDC semantics: valid strictly after `validAfter` and strictly before `validBefore` (seconds).
    function _checkValidity(uint256 validAfter, uint256 validBefore) internal view override {
        if (block.timestamp <= validAfter || block.timestamp >= validBefore) {
            revert ERC3009InvalidAuthorizationTime(validAfter, validBefore);
        }
    }

    function _requireSignature(address signer, bytes32 structHash, bytes memory signature) private view {
        if (!SignatureChecker.isValidSignatureNow(signer, _hashTypedDataV4(structHash), signature)) {
            revert ERC3009InvalidSignature();
        }
    }
}
