// Money in the console: the API's integer micro-USDC, shown as dollars. Never floats for
// amounts that are sent: a typed amount is parsed digit by digit into micro-USDC.

const MICRO = 1_000_000n;

/** `1234567` µUSDC → `"$1.234567"` trimmed to at least cents: `"$1.23"` only when exact. */
export function usd(micro: number | bigint | null | undefined): string {
  if (micro === null || micro === undefined) return '—';
  let m = BigInt(micro);
  const neg = m < 0n;
  if (neg) m = -m;
  const whole = m / MICRO;
  let frac = (m % MICRO).toString().padStart(6, '0').replace(/0+$/, '');
  if (frac.length < 2) frac = frac.padEnd(2, '0');
  const grouped = whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${neg ? '−' : ''}$${grouped}.${frac}`;
}

/** A USD amount as typed (`5`, `0.25`, `1,000.5`) → micro-USDC, or an error text. */
export function parseUsd(text: string): { micro: bigint } | { error: string } {
  const t = text.trim().replace(/^\$/, '').replace(/,/g, '');
  const m = /^(\d{1,12})(?:\.(\d{1,6}))?$/.exec(t);
  if (!m) return { error: 'Enter an amount in USD with at most 6 decimals, e.g. 5 or 0.25' };
  const micro = BigInt(m[1]) * MICRO + BigInt((m[2] ?? '').padEnd(6, '0'));
  if (micro <= 0n) return { error: 'The amount must be more than zero' };
  return { micro };
}

/** micro-USDC → the decimal USD text the API takes (`5`, `0.25`). */
export function usdText(micro: bigint): string {
  const whole = micro / MICRO;
  const frac = (micro % MICRO).toString().padStart(6, '0').replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : whole.toString();
}

/** Token counts with thousands separators. */
export function count(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  return n.toLocaleString('en-US');
}

/** A ratio as a percentage (`0.987` → `98.7%`). */
export function percent(r: number | null | undefined): string {
  if (r === null || r === undefined) return '—';
  return `${(r * 100).toFixed(r >= 0.999 || r === 0 ? 0 : 1)}%`;
}

/** Milliseconds, short. */
export function ms(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  return n >= 10_000 ? `${(n / 1000).toFixed(1)} s` : `${Math.round(n)} ms`;
}

/** `0xAbCd…1234`. */
export function shortAddress(a: string): string {
  return a.length > 12 ? `${a.slice(0, 6)}…${a.slice(-4)}` : a;
}

/** An ISO time or epoch ms → local date and time. */
export function when(t: string | number | null | undefined): string {
  if (t === null || t === undefined || t === '') return '—';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
}

/** To the second (probe results come every few seconds). */
export function whenExact(t: string | number | null | undefined): string {
  if (t === null || t === undefined || t === '') return '—';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });
}

export function isAddress(a: string): boolean {
  return /^0x[0-9a-fA-F]{40}$/.test(a);
}
