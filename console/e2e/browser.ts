// Headless Debian Chromium (playwright-core cannot download a browser here) with an injected
// EIP-1193 wallet that forwards to anvil: anvil holds the dev accounts' keys and signs
// `personal_sign` (SIWE) and `eth_signTypedData_v4` (EIP-3009) itself, so every signature
// the console gets is real. Helpers take a screenshot of a page at 1280×800 and 390 px wide
// and run axe-core on it.

import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Stack } from './stack';

export const OUT = join(import.meta.dirname, 'out', 'screenshots');
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: FLAGS });
}

export interface Wallet {
  /** Every method the page asked the wallet for, in order. */
  calls: string[];
}

/** A browser context whose pages see an injected wallet holding `account` on anvil. */
export async function walletContext(browser: Browser, stack: Stack, account: string | null): Promise<{ context: BrowserContext; wallet: Wallet }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.base });
  const wallet: Wallet = { calls: [] };
  if (account) {
    await context.exposeFunction('__tollgateTestWallet', async (method: string, params: unknown[]) => {
      wallet.calls.push(method);
      switch (method) {
        case 'eth_requestAccounts':
        case 'eth_accounts':
          return [account];
        case 'wallet_switchEthereumChain':
          return null;
        case 'personal_sign':
        case 'eth_signTypedData_v4':
        case 'eth_chainId':
        default:
          return stack.rpcCall(method, params);
      }
    });
    await context.addInitScript(() => {
      const call = (window as unknown as { __tollgateTestWallet: (m: string, p: unknown[]) => Promise<unknown> }).__tollgateTestWallet;
      (window as unknown as { ethereum: unknown }).ethereum = {
        isTollgateTestWallet: true,
        request: ({ method, params }: { method: string; params?: unknown[] }) => call(method, params ?? []),
        on: () => undefined,
        removeListener: () => undefined,
      };
    });
  }
  return { context, wallet };
}

/** Console errors, CSP violations and dialogs of a page (an XSS would open one). */
export function watch(page: Page): { errors: string[]; dialogs: string[] } {
  const seen = { errors: [] as string[], dialogs: [] as string[] };
  page.on('console', (m) => {
    // The browser logs every non-2xx answer; the API's refusals are shown and tested as such.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource: the server responded')) seen.errors.push(m.text());
  });
  page.on('pageerror', (e) => seen.errors.push(e.message));
  page.on('dialog', async (d) => {
    if (d.type() === 'confirm') return d.accept();
    seen.dialogs.push(`${d.type()}: ${d.message()}`);
    await d.dismiss();
  });
  return seen;
}

/** Screenshots at 1280×800 and 390 px wide (full page), then axe-core: no serious or
 *  critical violation. Leaves the viewport at 1280×800. */
export async function check(page: Page, name: string): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await settle(page);
  await page.screenshot({ path: join(OUT, `${name}-1280.png`), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await settle(page);
  await page.screenshot({ path: join(OUT, `${name}-390.png`), fullPage: true });
  // Nothing wider than the screen at 390 px (tables scroll inside their own box).
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow, `${name}: the page scrolls sideways at 390 px`).toBeLessThanOrEqual(0);
  await page.setViewportSize({ width: 1280, height: 800 });
  await settle(page);
  // Runs through the DevTools protocol (not a <script>): the page's CSP stays in force.
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (c: unknown, o: unknown) => Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad, `${name}: axe-core violations`).toEqual([]);
}

async function settle(page: Page): Promise<void> {
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

/** What this page keeps in the browser: must be nothing. */
export async function stored(page: Page): Promise<{ local: number; session: number; cookies: string; idb: number }> {
  return page.evaluate(async () => ({
    local: localStorage.length,
    session: sessionStorage.length,
    cookies: document.cookie,
    idb: (await indexedDB.databases()).length,
  }));
}
