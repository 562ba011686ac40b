// SPDX-License-Identifier: MIT
pragma solidity ^0.8.26;

import {MockUSDT} from "../src/MockUSDT.sol";
import {X402ExactPermit2Proxy} from "../src/X402ExactPermit2Proxy.sol";
import {X402UptoPermit2Proxy} from "../src/X402UptoPermit2Proxy.sol";
import {ISignatureTransfer} from "../src/interfaces/ISignatureTransfer.sol";
import {Test} from "./utils/Test.sol";

/// @dev The x402 Permit2 proxies against the real Permit2 bytecode at its canonical address, with
/// signatures built exactly as the x402 clients build them (EIP-712 `PermitWitnessTransferFrom`
/// with the proxy as spender and the scheme's witness).
contract Permit2ProxiesTest is Test {
    address internal constant PERMIT2 = 0x000000000022D473030F116dDEE9F6B43aC78BA3;
    bytes32 internal constant TOKEN_PERMISSIONS_TYPEHASH = keccak256("TokenPermissions(address token,uint256 amount)");
    bytes32 internal constant EXACT_TYPEHASH = keccak256(
        "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,uint256 validAfter)"
    );
    bytes32 internal constant UPTO_TYPEHASH = keccak256(
        "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,address facilitator,uint256 validAfter)"
    );

    MockUSDT internal usdt;
    X402ExactPermit2Proxy internal exact;
    X402UptoPermit2Proxy internal upto;
    uint256 internal pk = 0xB0B;
    address internal payer;
    address internal vault;
    address internal facilitator;

    function setUp() public {
        vm.warp(1_700_000_000);
        string memory json = vm.readFile("../chain/abi/Permit2.json");
        vm.etch(PERMIT2, vm.parseJsonBytes(json, ".deployedBytecode"));
        usdt = new MockUSDT(6);
        exact = new X402ExactPermit2Proxy();
        upto = new X402UptoPermit2Proxy();
        payer = vm.addr(pk);
        vault = makeAddr("vault");
        facilitator = makeAddr("facilitator");
        usdt.mint(payer, 100e6);
        vm.prank(payer);
        usdt.approve(PERMIT2, type(uint256).max);
    }

    function permit(uint256 amount, uint256 nonce) internal view returns (ISignatureTransfer.PermitTransferFrom memory) {
        return ISignatureTransfer.PermitTransferFrom({
            permitted: ISignatureTransfer.TokenPermissions({token: address(usdt), amount: amount}),
            nonce: nonce,
            deadline: block.timestamp + 300
        });
    }

    function sign(bytes32 typehash, ISignatureTransfer.PermitTransferFrom memory p, address spender, bytes32 witness)
        internal
        view
        returns (bytes memory)
    {
        bytes32 structHash = keccak256(
            abi.encode(
                typehash,
                keccak256(abi.encode(TOKEN_PERMISSIONS_TYPEHASH, p.permitted.token, p.permitted.amount)),
                spender,
                p.nonce,
                p.deadline,
                witness
            )
        );
        bytes32 digest =
            keccak256(abi.encodePacked("\x19\x01", ISignatureTransfer(PERMIT2).DOMAIN_SEPARATOR(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, digest);
        return abi.encodePacked(r, s, v);
    }

    function exactWitness(address to) internal view returns (X402ExactPermit2Proxy.Witness memory w, bytes32 h) {
        w = X402ExactPermit2Proxy.Witness({to: to, validAfter: 0});
        h = keccak256(abi.encode(exact.WITNESS_TYPEHASH(), w.to, w.validAfter));
    }

    function test_permit2_domain_is_the_canonical_one() public view {
        bytes32 expected = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,uint256 chainId,address verifyingContract)"),
                keccak256("Permit2"),
                block.chainid,
                PERMIT2
            )
        );
        assertEq(ISignatureTransfer(PERMIT2).DOMAIN_SEPARATOR(), expected, "Permit2 domain");
    }

    function test_exact_moves_the_signed_amount_to_the_witness_once_whoever_sends_it() public {
        ISignatureTransfer.PermitTransferFrom memory p = permit(5e6, 42);
        (X402ExactPermit2Proxy.Witness memory w, bytes32 h) = exactWitness(vault);
        bytes memory sig = sign(EXACT_TYPEHASH, p, address(exact), h);
        vm.prank(makeAddr("anyone"));
        exact.settle(p, payer, w, sig);
        assertEq(usdt.balanceOf(vault), 5e6, "vault paid exactly");
        assertEq(usdt.balanceOf(payer), 95e6, "payer debited exactly");
        // The nonce is spent: a replay reverts (Permit2 InvalidNonce).
        vm.expectRevert();
        exact.settle(p, payer, w, sig);
        assertEq(ISignatureTransfer(PERMIT2).nonceBitmap(payer, 0) & (1 << 42), 1 << 42, "nonce bit set");
    }

    function test_exact_cannot_be_redirected_or_inflated() public {
        ISignatureTransfer.PermitTransferFrom memory p = permit(5e6, 7);
        (X402ExactPermit2Proxy.Witness memory w, bytes32 h) = exactWitness(vault);
        bytes memory sig = sign(EXACT_TYPEHASH, p, address(exact), h);
        X402ExactPermit2Proxy.Witness memory thief = X402ExactPermit2Proxy.Witness({to: makeAddr("thief"), validAfter: 0});
        vm.expectRevert();
        exact.settle(p, payer, thief, sig);
        ISignatureTransfer.PermitTransferFrom memory more = permit(50e6, 7);
        vm.expectRevert();
        exact.settle(more, payer, w, sig);
        // Signed for another spender (the upto proxy): refused by Permit2 through this one.
        bytes memory other = sign(EXACT_TYPEHASH, p, address(upto), h);
        vm.expectRevert();
        exact.settle(p, payer, w, other);
        assertEq(usdt.balanceOf(vault), 0, "nothing moved");
    }

    function test_exact_needs_the_permit2_allowance_and_respects_valid_after() public {
        ISignatureTransfer.PermitTransferFrom memory p = permit(5e6, 8);
        X402ExactPermit2Proxy.Witness memory w = X402ExactPermit2Proxy.Witness({to: vault, validAfter: block.timestamp + 60});
        bytes32 h = keccak256(abi.encode(exact.WITNESS_TYPEHASH(), w.to, w.validAfter));
        bytes memory sig = sign(EXACT_TYPEHASH, p, address(exact), h);
        vm.expectRevert(X402ExactPermit2Proxy.PaymentTooEarly.selector);
        exact.settle(p, payer, w, sig);
        vm.warp(block.timestamp + 61);
        vm.prank(payer);
        usdt.approve(PERMIT2, 0);
        vm.expectRevert();
        exact.settle(p, payer, w, sig);
    }

    function test_upto_settles_at_most_the_maximum_and_only_for_the_named_facilitator() public {
        ISignatureTransfer.PermitTransferFrom memory p = permit(3e6, 9);
        X402UptoPermit2Proxy.Witness memory w =
            X402UptoPermit2Proxy.Witness({to: vault, facilitator: facilitator, validAfter: 0});
        bytes32 h = keccak256(abi.encode(upto.WITNESS_TYPEHASH(), w.to, w.facilitator, w.validAfter));
        bytes memory sig = sign(UPTO_TYPEHASH, p, address(upto), h);
        vm.expectRevert(X402UptoPermit2Proxy.UnauthorizedFacilitator.selector);
        upto.settle(p, 1e6, payer, w, sig);
        vm.startPrank(facilitator);
        vm.expectRevert(X402UptoPermit2Proxy.AmountExceedsPermitted.selector);
        upto.settle(p, 3e6 + 1, payer, w, sig);
        vm.expectRevert(X402UptoPermit2Proxy.InvalidAmount.selector);
        upto.settle(p, 0, payer, w, sig);
        upto.settle(p, 1_234_567, payer, w, sig);
        vm.stopPrank();
        assertEq(usdt.balanceOf(vault), 1_234_567, "vault paid the actual amount");
        vm.prank(facilitator);
        vm.expectRevert();
        upto.settle(p, 1, payer, w, sig);
    }
}
