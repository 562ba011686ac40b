// The wallet: an injected EIP-1193 provider (EIP-6963 announcements first, `window.ethereum`
// otherwise), driven through viem. The console never sees a private key; it asks the wallet
// for a signature per action:
//
// - Sign-In with Ethereum (EIP-4361, `viem/siwe`): a fresh message with a fresh nonce for
//   every signed call, sent with that call and spent by the gateway. There is no session, and
//   neither messages nor signatures are kept anywhere (no storage, no cookies).
// - x402 top-ups: the EIP-3009 authorization, signed as EIP-712 typed data (`x402.ts`).

import { createWalletClient, custom, getAddress, numberToHex, type EIP1193Provider, type WalletClient } from 'viem';
import { createSiweMessage } from 'viem/siwe';
import { api, ApiError, query } from './api';
import { consoleConfig } from './config';
import { Store } from './store';

export interface WalletState {
  /** EIP-55 address once connected. */
  address: `0x${string}` | null;
  chainId: number | null;
  /** An injected wallet exists. */
  available: boolean;
  /** What the wallet is being asked for right now (shown while waiting). */
  pending: string | null;
}

export const wallet = new Store<WalletState>({ address: null, chainId: null, available: false, pending: null });

let provider: EIP1193Provider | null = null;
let client: WalletClient | null = null;

interface Announced {
  info: { name: string; rdns: string };
  provider: EIP1193Provider;
}

/** Find an injected wallet (EIP-6963, then `window.ethereum`). */
export function discover(): void {
  window.addEventListener('eip6963:announceProvider', (e: Event) => {
    const d = (e as CustomEvent<Announced>).detail;
    if (!provider && d?.provider) use(d.provider);
  });
  window.dispatchEvent(new Event('eip6963:requestProvider'));
  const injected = (window as unknown as { ethereum?: EIP1193Provider }).ethereum;
  if (!provider && injected) use(injected);
}

function use(p: EIP1193Provider): void {
  provider = p;
  client = createWalletClient({ transport: custom(p) });
  wallet.set({ ...wallet.get(), available: true });
  p.on?.('accountsChanged', (accounts: readonly string[]) => {
    wallet.set({ ...wallet.get(), address: accounts[0] ? getAddress(accounts[0]) : null });
  });
  p.on?.('chainChanged', (id: string) => {
    wallet.set({ ...wallet.get(), chainId: Number(id) });
  });
}

/** Ask the wallet for an account (the wallet's own prompt). */
export async function connect(): Promise<void> {
  if (!provider) throw new Error('No wallet found. Install a browser wallet (e.g. MetaMask) and reload.');
  const accounts = (await provider.request({ method: 'eth_requestAccounts' })) as string[];
  if (!accounts.length) throw new Error('The wallet shared no account');
  const chainId = Number(await provider.request({ method: 'eth_chainId' }));
  wallet.set({ ...wallet.get(), address: getAddress(accounts[0]), chainId });
}

export function disconnect(): void {
  wallet.set({ ...wallet.get(), address: null, chainId: null });
}

async function ready(): Promise<{ address: `0x${string}`; client: WalletClient }> {
  const w = wallet.get();
  if (!client || !provider || !w.address) throw new Error('Connect a wallet first');
  const c = await consoleConfig();
  if (c.chain_id !== null && w.chainId !== c.chain_id) {
    try {
      await provider.request({ method: 'wallet_switchEthereumChain', params: [{ chainId: numberToHex(c.chain_id) }] });
      wallet.set({ ...wallet.get(), chainId: c.chain_id });
    } catch {
      throw new Error(`Switch your wallet to chain ${c.chain_id}, this gateway's chain`);
    }
  }
  return { address: w.address, client };
}

/** Run `f` while telling the user what the wallet is being asked for. */
async function asking<T>(what: string, f: () => Promise<T>): Promise<T> {
  wallet.set({ ...wallet.get(), pending: what });
  try {
    return await f();
  } finally {
    wallet.set({ ...wallet.get(), pending: null });
  }
}

/** 128 random bits as 32 hex digits: an EIP-4361 nonce (alphanumeric, 8+) that the gateway
 *  accepts (it takes at most 64 characters; viem's own generator makes 96). */
function nonce(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** A fresh SIWE `{message, signature}` for a call to `path` on this gateway. */
export async function signIn(path: string, statement: string): Promise<{ message: string; signature: string }> {
  const c = await consoleConfig();
  if (!c.siwe || !c.public_url || c.chain_id === null) {
    throw new ApiError(404, 'NOT_FOUND', 'This gateway has no wallet sign-in (it needs server.public_url and a chain: section)');
  }
  const { address, client } = await ready();
  const url = new URL(c.public_url);
  const message = createSiweMessage({
    domain: url.host,
    address,
    statement,
    uri: `${c.public_url}${path}`,
    version: '1',
    chainId: c.chain_id,
    nonce: nonce(),
    issuedAt: new Date(),
  });
  const signature = await asking(statement, () => client.signMessage({ account: address, message }));
  return { message, signature };
}

/** `GET path?…&message=…&signature=…`. */
export async function signedGet<T>(path: string, statement: string, params: Record<string, string | number | undefined> = {}): Promise<T> {
  const s = await signIn(path, statement);
  return api<T>(path + query({ ...params, ...s }));
}

/** A write with the SIWE pair in its JSON body (`POST /v1/auth/keys`, `/v1/withdraw`, …). */
export async function signedBody<T>(method: string, path: string, statement: string, body: object = {}): Promise<T> {
  const s = await signIn(path, statement);
  return api<T>(path, { method, body: JSON.stringify({ ...body, ...s }) });
}

/** A write with the SIWE pair in its query (the marketplace's listing endpoints). */
export async function signedQuery<T>(method: string, path: string, statement: string, body?: object, params: Record<string, string> = {}): Promise<T> {
  const s = await signIn(path.split('?')[0], statement);
  return api<T>(path + query({ ...params, ...s }), { method, body: body ? JSON.stringify(body) : undefined });
}

/** EIP-712 typed data signed by the wallet (`eth_signTypedData_v4`), for x402. */
export async function signTypedData(m: {
  domain: Record<string, unknown>;
  types: Record<string, unknown>;
  primaryType: string;
  message: Record<string, unknown>;
}): Promise<`0x${string}`> {
  const { address, client } = await ready();
  return asking('Authorize the USDC transfer (EIP-3009)', () =>
    // viem checks the types against the message before the wallet sees them.
    client.signTypedData({ ...(m as Parameters<WalletClient['signTypedData']>[0]), account: address }),
  );
}

export async function currentAddress(): Promise<`0x${string}`> {
  return (await ready()).address;
}
