// An x402 top-up from the browser with the official client (`@x402/fetch`, `@x402/evm`):
// `POST /v1/topup` answers 402 with the requirements; the client picks the exact-EVM option,
// the wallet signs the EIP-3009 `TransferWithAuthorization` (typed data), and the request is
// sent again with the `PAYMENT-SIGNATURE` header. The gateway settles it on chain and credits
// the balance once.
//
// The console pays only what the person typed, in this gateway's USDC, to this gateway's
// vault: spend controls cap the asset and amount, and a policy drops any other payee.

import { decodePaymentResponseHeader, wrapFetchWithPayment, x402Client } from '@x402/fetch';
import { ExactEvmScheme } from '@x402/evm/exact/client';
import { answer, ApiError } from './api';
import { consoleConfig } from './config';
import { currentAddress, signTypedData } from './wallet';
import { usdText } from './money';

export interface TopUp {
  wallet: string;
  credited_usdc: number;
  balance_usdc: number;
  tx_hash: string;
}

export async function topUp(micro: bigint): Promise<TopUp> {
  const c = await consoleConfig();
  const s = c.settlement;
  if (!s) throw new ApiError(404, 'NOT_FOUND', 'This gateway has no on-chain settlement configured, so it takes no top-ups');
  if (micro < BigInt(s.topup_min_usdc) || micro > BigInt(s.topup_max_usdc)) {
    throw new ApiError(400, 'VALIDATION_ERROR', `Top-ups are between ${usdText(BigInt(s.topup_min_usdc))} and ${usdText(BigInt(s.topup_max_usdc))} USD`);
  }
  const address = await currentAddress();
  const client = new x402Client();
  client.register(s.network as `${string}:${string}`, new ExactEvmScheme({ address, signTypedData }));
  client.setSpendControls({ allowedAssets: [{ network: s.network as `${string}:${string}`, asset: s.usdc, maxAmountPerPayment: micro.toString() }] });
  client.registerPolicy((_v, reqs) =>
    reqs.filter((r) => r.payTo.toLowerCase() === s.treasury_vault.toLowerCase() && r.asset.toLowerCase() === s.usdc.toLowerCase()),
  );
  const pay = wrapFetchWithPayment(fetch, client);
  let r: Response;
  try {
    r = await pay('/v1/topup', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ amount: usdText(micro) }),
      credentials: 'omit',
    });
  } catch (e) {
    throw new ApiError(0, 'PAYMENT_NOT_MADE', `The payment was not made: ${(e as Error).message}`);
  }
  const done = await answer<TopUp>(r);
  const header = r.headers.get('payment-response');
  if (header) {
    // The settlement response names the same mined transaction.
    const settled = decodePaymentResponseHeader(header);
    if (settled.transaction && settled.transaction.toLowerCase() !== done.tx_hash.toLowerCase()) {
      throw new ApiError(502, 'BAD_ANSWER', 'The settlement header and the body name different transactions');
    }
  }
  return done;
}
