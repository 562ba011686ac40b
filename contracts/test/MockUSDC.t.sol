// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {IERC3009, IERC3009Cancel} from "@openzeppelin/contracts/interfaces/draft-IERC3009.sol";
import {ERC3009} from "@openzeppelin/contracts/token/ERC20/extensions/draft-ERC3009.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

import {Fixture} from "./utils/Fixture.sol";

/// @dev Smart-contract wallet (ERC-1271) owned by one key, as used by some x402 payers.
contract Wallet1271 is IERC1271 {
    address public immutable owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address signer,,) = ECDSA.tryRecover(hash, signature);
        return signer == owner ? IERC1271.isValidSignature.selector : bytes4(0xffffffff);
    }
}

contract MockUSDCTest is Fixture {
    uint256 internal pk = 0xA11CE;
    address internal payer;

    function setUp() public override {
        super.setUp();
        payer = vm.addr(pk);
        usdc.mint(payer, 1_000e6);
    }

    function _auth(address to, uint256 value, bytes32 nonce) internal view returns (Auth memory) {
        return Auth(payer, to, value, block.timestamp - 1, block.timestamp + 600, nonce);
    }

    function _twa(Auth memory a, uint8 v, bytes32 r, bytes32 s) internal {
        usdc.transferWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, v, r, s);
    }

    // ------------------------------------------------------------------ metadata and domain

    function test_metadata() public view {
        assertEq(usdc.name(), "USD Coin", "name");
        assertEq(usdc.symbol(), "USDC", "symbol");
        assertEq(uint256(usdc.decimals()), 6, "decimals");
    }

    function test_domainIsUsdcV2() public view {
        bytes32 expected = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("USD Coin"),
                keccak256("2"),
                block.chainid,
                address(usdc)
            )
        );
        assertEq(usdc.DOMAIN_SEPARATOR(), expected, "domain separator");
        (, string memory name, string memory version, uint256 chainId, address verifying,,) = usdc.eip712Domain();
        assertEq(name, "USD Coin", "domain name");
        assertEq(version, "2", "domain version");
        assertEq(chainId, block.chainid, "chain id");
        assertEq(verifying, address(usdc), "verifying contract");
    }

    function test_mintAndBurn() public {
        vm.prank(stranger); // anyone can mint: it is a mock
        usdc.mint(alice, 5e6);
        assertEq(usdc.balanceOf(alice), 5e6, "minted");
        vm.prank(alice);
        usdc.burn(2e6);
        assertEq(usdc.balanceOf(alice), 3e6, "burnt");
        assertEq(usdc.totalSupply(), 1_000e6 + 3e6, "supply");
    }

    // ------------------------------------------------------------------ transferWithAuthorization

    function test_transferWithAuthorization() public {
        Auth memory a = _auth(bob, 10e6, keccak256("x402-nonce"));
        (uint8 v, bytes32 r, bytes32 s) = _sign(pk, _authHash(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, a));
        assertFalse(usdc.authorizationState(payer, a.nonce), "fresh");

        vm.expectEmit(true, true, true, true, address(usdc));
        emit IERC3009.AuthorizationUsed(payer, a.nonce);
        vm.prank(stranger); // a facilitator submits it
        _twa(a, v, r, s);

        assertEq(usdc.balanceOf(bob), 10e6, "moved");
        assertTrue(usdc.authorizationState(payer, a.nonce), "used");
    }

    function test_transferWithAuthorization_replayFails() public {
        Auth memory a = _auth(bob, 10e6, keccak256("n"));
        (uint8 v, bytes32 r, bytes32 s) = _sign(pk, _authHash(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, a));
        _twa(a, v, r, s);
        vm.expectRevert(abi.encodeWithSelector(ERC3009.ERC3009UsedAuthorization.selector, payer, a.nonce));
        _twa(a, v, r, s);
    }

    function test_transferWithAuthorization_wrongSignerFails() public {
        Auth memory a = _auth(bob, 10e6, keccak256("n"));
        (uint8 v, bytes32 r, bytes32 s) = _sign(pk + 1, _authHash(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, a));
        vm.expectRevert(ERC3009.ERC3009InvalidSignature.selector);
        _twa(a, v, r, s);
    }

    function test_transferWithAuthorization_tamperedValueFails() public {
        Auth memory a = _auth(bob, 10e6, keccak256("n"));
        (uint8 v, bytes32 r, bytes32 s) = _sign(pk, _authHash(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, a));
        a.value = 11e6;
        vm.expectRevert(ERC3009.ERC3009InvalidSignature.selector);
        _twa(a, v, r, s);
    }

    function test_transferWithAuthorization_receiveTypeSignatureFails() public {
        Auth memory a = _auth(bob, 10e6, keccak256("n"));
        (uint8 v, bytes32 r, bytes32 s) = _sign(pk, _authHash(RECEIVE_WITH_AUTHORIZATION_TYPEHASH, a));
        vm.expectRevert(ERC3009.ERC3009InvalidSignature.selector);
        _twa(a, v, r, s);
    }

    function test_transferWithAuthorization_validityWindowEdges() public {
        uint256 t = block.timestamp;
        Auth memory a = Auth(payer, bob, 1e6, t + 10, t + 20, keccak256("w"));
        (uint8 v, bytes32 r, bytes32 s) = _sign(pk, _authHash(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, a));
        bytes memory err =
            abi.encodeWithSelector(ERC3009.ERC3009InvalidAuthorizationTime.selector, a.validAfter, a.validBefore);

        vm.warp(t + 10); // == validAfter: not yet (strictly after)
        vm.expectRevert(err);
        _twa(a, v, r, s);
        vm.warp(t + 20); // == validBefore: expired (strictly before)
        vm.expectRevert(err);
        _twa(a, v, r, s);
        vm.warp(t + 19);
        _twa(a, v, r, s);
        assertEq(usdc.balanceOf(bob), 1e6, "inside the window");
    }

    function test_transferWithAuthorization_insufficientBalanceFails() public {
        Auth memory a = _auth(bob, 1_000e6 + 1, keccak256("n"));
        (uint8 v, bytes32 r, bytes32 s) = _sign(pk, _authHash(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, a));
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, payer, 1_000e6, 1_000e6 + 1)
        );
        _twa(a, v, r, s);
        assertFalse(usdc.authorizationState(payer, a.nonce), "nonce not consumed by a failed transfer");
    }

    function test_transferWithAuthorization_bytesSignature() public {
        Auth memory a = _auth(bob, 10e6, keccak256("n"));
        bytes memory sig = _signPacked(pk, _authHash(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, a));
        usdc.transferWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, sig);
        assertEq(usdc.balanceOf(bob), 10e6, "moved");
        vm.expectRevert(abi.encodeWithSelector(ERC3009.ERC3009UsedAuthorization.selector, payer, a.nonce));
        usdc.transferWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, sig);

        a.nonce = keccak256("n2");
        bytes memory bad = _signPacked(pk + 1, _authHash(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, a));
        vm.expectRevert(ERC3009.ERC3009InvalidSignature.selector);
        usdc.transferWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, bad);
    }

    function test_transferWithAuthorization_erc1271Wallet() public {
        Wallet1271 wallet = new Wallet1271(payer);
        usdc.mint(address(wallet), 10e6);
        Auth memory a = Auth(address(wallet), bob, 10e6, 0, block.timestamp + 1, keccak256("n"));
        bytes memory sig = _signPacked(pk, _authHash(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, a));
        usdc.transferWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, sig);
        assertEq(usdc.balanceOf(bob), 10e6, "wallet paid");
    }

    function testFuzz_transferWithAuthorization(uint256 key, address to, uint256 value, bytes32 nonce) public {
        key = bound(key, 1, 1e70); // < secp256k1 order
        address from = vm.addr(key);
        vm.assume(to != address(0) && to != from);
        value = bound(value, 0, 1e30);
        usdc.mint(from, value);
        Auth memory a = Auth(from, to, value, 0, block.timestamp + 1, nonce);
        (uint8 v, bytes32 r, bytes32 s) = _sign(key, _authHash(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, a));
        uint256 before = usdc.balanceOf(to);
        _twa(a, v, r, s);
        assertEq(usdc.balanceOf(to), before + value, "moved");
        assertTrue(usdc.authorizationState(from, nonce), "used");
    }

    // ------------------------------------------------------------------ receiveWithAuthorization

    function test_receiveWithAuthorization_onlyPayeeMaySubmit() public {
        Auth memory a = _auth(bob, 10e6, keccak256("n"));
        (uint8 v, bytes32 r, bytes32 s) = _sign(pk, _authHash(RECEIVE_WITH_AUTHORIZATION_TYPEHASH, a));
        vm.prank(stranger); // front-runner
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, bob));
        usdc.receiveWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, v, r, s);

        vm.expectEmit(true, true, true, true, address(usdc));
        emit IERC3009.AuthorizationUsed(payer, a.nonce);
        vm.prank(bob);
        usdc.receiveWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, v, r, s);
        assertEq(usdc.balanceOf(bob), 10e6, "received");
    }

    function test_receiveWithAuthorization_bytesSignature() public {
        Auth memory a = _auth(bob, 10e6, keccak256("n"));
        bytes memory sig = _signPacked(pk, _authHash(RECEIVE_WITH_AUTHORIZATION_TYPEHASH, a));
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, bob));
        usdc.receiveWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, sig);
        vm.prank(bob);
        usdc.receiveWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, sig);
        assertEq(usdc.balanceOf(bob), 10e6, "received");

        a.nonce = keccak256("n2");
        bytes memory bad = _signPacked(pk, _authHash(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, a)); // wrong type
        vm.prank(bob);
        vm.expectRevert(ERC3009.ERC3009InvalidSignature.selector);
        usdc.receiveWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, bad);
    }

    // ------------------------------------------------------------------ cancelAuthorization

    function _cancelDigest(address authorizer, bytes32 nonce) internal view returns (bytes32) {
        return _digest(keccak256(abi.encode(CANCEL_AUTHORIZATION_TYPEHASH, authorizer, nonce)));
    }

    function test_cancelAuthorization() public {
        Auth memory a = _auth(bob, 10e6, keccak256("n"));
        (uint8 v, bytes32 r, bytes32 s) = _sign(pk, _authHash(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, a));
        (uint8 cv, bytes32 cr, bytes32 cs) = _sign(pk, _cancelDigest(payer, a.nonce));

        vm.expectEmit(true, true, true, true, address(usdc));
        emit IERC3009Cancel.AuthorizationCanceled(payer, a.nonce);
        usdc.cancelAuthorization(payer, a.nonce, cv, cr, cs);
        assertTrue(usdc.authorizationState(payer, a.nonce), "state says used");

        vm.expectRevert(abi.encodeWithSelector(ERC3009.ERC3009UsedAuthorization.selector, payer, a.nonce));
        _twa(a, v, r, s);
        vm.expectRevert(abi.encodeWithSelector(ERC3009.ERC3009UsedAuthorization.selector, payer, a.nonce));
        usdc.cancelAuthorization(payer, a.nonce, cv, cr, cs);
    }

    function test_cancelAuthorization_bytesSignatureAndWrongSigner() public {
        bytes32 nonce = keccak256("n");
        bytes memory bad = _signPacked(pk + 1, _cancelDigest(payer, nonce));
        vm.expectRevert(ERC3009.ERC3009InvalidSignature.selector);
        usdc.cancelAuthorization(payer, nonce, bad);
        (uint8 v, bytes32 r, bytes32 s) = _sign(pk + 1, _cancelDigest(payer, nonce));
        vm.expectRevert(ERC3009.ERC3009InvalidSignature.selector);
        usdc.cancelAuthorization(payer, nonce, v, r, s);

        usdc.cancelAuthorization(payer, nonce, _signPacked(pk, _cancelDigest(payer, nonce)));
        assertTrue(usdc.authorizationState(payer, nonce), "canceled");
    }
}
