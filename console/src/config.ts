import { api } from './api';
import type { ConsoleConfig } from './types';

let loaded: Promise<ConsoleConfig> | undefined;

/** `/console/config.json`: what this gateway is (public URL, chain, settlement, explorer). */
export function consoleConfig(): Promise<ConsoleConfig> {
  loaded ??= api<ConsoleConfig>('/console/config.json');
  return loaded;
}

/** A block explorer link for a transaction, when the operator configured an explorer. */
export function txUrl(c: ConsoleConfig, hash: string): string | null {
  return c.explorer_url && /^0x[0-9a-fA-F]{64}$/.test(hash) ? `${c.explorer_url}/tx/${hash}` : null;
}
