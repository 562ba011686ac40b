// The console in a real browser against the real stack, as a person would use it:
// 1. a buyer signs in, creates a key (a label that is HTML stays text), uses it from outside
//    the browser, tops up $5 with x402, sees the call in the history, charts and its receipt,
//    withdraws $1, revokes the key, and the key is refused;
// 2. the provider of that call signs in with its payout wallet, sees the call's earnings and
//    its payout, and lists a model through the marketplace that then appears in the catalog;
// 3. the public pages: the balance checker (refreshed every 30 s), the catalog, the
//    marketplace and provider health with its probe history.
// Every page: screenshots at 1280×800 and 390 px, axe-core, no console error (CSP included).

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { check, launch, OUT, stored, walletContext, watch, type Wallet } from './browser';
import { usd } from '../src/money';
import { BUYER, EXPLORER, PROVIDER, startStack, WATCHED, type Stack } from './stack';

let stack: Stack;
let browser: Browser;

beforeAll(async () => {
  stack = await startStack();
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

const XSS_LABEL = '<img src=x onerror=alert(1)>';
const CSP_NEEDLES = ["script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "require-trusted-types-for 'script'"];

async function balance(wallet: string): Promise<number> {
  return ((await (await fetch(`${stack.base}/v1/balance/${wallet}`)).json()) as { available_usdc: number }).available_usdc;
}

async function chat(key: string): Promise<Response> {
  return fetch(`${stack.base}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-test', max_tokens: 16, messages: [{ role: 'user', content: 'hello from outside the browser' }] }),
  });
}

async function until<T>(f: () => Promise<T | undefined | null | false>, what: string, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Open a console route: a page load (its CSP checked) or, on the console already, a hash route. */
async function open(page: Page, route: string): Promise<void> {
  if (page.url().startsWith(`${stack.base}/console/`)) {
    await page.evaluate((h) => (location.hash = h), `#/${route}`);
    return;
  }
  const r = await page.goto(`${stack.base}/console/#/${route}`);
  expect(r?.status()).toBe(200);
  const csp = r?.headers()['content-security-policy'] ?? '';
  for (const n of CSP_NEEDLES) expect(csp).toContain(n);
}

let requestId = '';

/** Run a flow in a fresh context; on failure save a screenshot and print what the page said. */
async function flow(account: string | null, name: string, f: (page: Page, wallet: Wallet, seen: ReturnType<typeof watch>) => Promise<void>): Promise<void> {
  const { context, wallet } = await walletContext(browser, stack, account);
  const page = await context.newPage();
  const seen = watch(page);
  try {
    await f(page, wallet, seen);
  } catch (e) {
    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: join(OUT, `FAILED-${name}.png`), fullPage: true }).catch(() => undefined);
    const text = await page.locator('main').innerText().catch(() => '');
    console.error(`${name} failed on ${page.url()}\n--- page ---\n${text}\n--- console errors ---\n${seen.errors.join('\n')}\n--- wallet ---\n${wallet.calls.join(' ')}`);
    throw e;
  } finally {
    await context.close();
  }
}

describe.sequential('the console', () => {
  test('a buyer signs in, creates a key, tops up with x402, sees the call, withdraws and revokes the key', () =>
    flow(BUYER, 'buyer', async (page, wallet, seen) => {
    await open(page, 'account');
    await page.getByRole('button', { name: 'Connect wallet' }).first().click();
    await expect.poll(() => page.getByTestId('wallet-address').textContent()).toBe('0x7099…79C8');

    // One signed read: the empty account says what to do next.
    await page.getByRole('button', { name: 'Sign in and load my account' }).click();
    await page.getByText('Your balance is empty').waitFor();
    await page.getByText('No API keys yet').waitFor();
    expect(wallet.calls.filter((m) => m === 'personal_sign')).toHaveLength(1);
    await check(page, 'account-empty');

    // A key whose label is HTML: created, shown once, copied; the label stays text.
    await page.getByLabel('Label').fill(XSS_LABEL);
    await page.getByRole('button', { name: 'Create key' }).click();
    const key = (await page.getByTestId('new-key').textContent())!.trim();
    expect(key).toMatch(/^sk-[0-9a-f]{64}$/);
    await page.getByText('it is shown this once').waitFor();
    await page.getByRole('button', { name: 'Copy key' }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);
    const cell = page.locator('#keys tbody .key-label').first();
    expect(await cell.textContent()).toBe(XSS_LABEL);
    expect(await page.locator('#keys img').count()).toBe(0);
    await check(page, 'account-new-key');

    // The key works from outside the browser; a balance of zero is refused first.
    expect((await chat(key)).status).toBe(402);

    // Top up $5: the wallet signs the EIP-3009 authorization, the balance rises by exactly $5.
    const before = await balance(BUYER);
    await page.getByLabel('Amount (USD)').first().fill('5');
    await page.getByRole('button', { name: 'Pay with my wallet' }).click();
    await page.getByText('Credited $5.00').waitFor({ timeout: 60_000 });
    expect(wallet.calls).toContain('eth_signTypedData_v4');
    expect(await balance(BUYER)).toBe(before + 5_000_000);
    expect(await page.getByTestId('topup-balance').textContent()).toBe('$5.00');
    const link = page.locator('.notice-success a[data-tx]');
    const tx = (await link.getAttribute('data-tx'))!;
    expect(await link.getAttribute('href')).toBe(`${EXPLORER}/tx/${tx}`);
    const receipt = await stack.rpcCall<{ status: string }>('eth_getTransactionReceipt', [tx]);
    expect(receipt.status).toBe('0x1');
    await check(page, 'account-topped-up');

    // The key pays for a call now; it is settled and shows up in the history and the charts.
    const r = await chat(key);
    expect(r.status).toBe(200);
    requestId = r.headers.get('x-request-id')!;
    await until(async () => {
      const h = await fetch(`${stack.base}/v1/requests`, { headers: { authorization: `Bearer ${key}` } });
      return ((await h.json()) as { data: { request_id: string }[] }).data.some((x) => x.request_id === requestId);
    }, 'the call to be settled');
    await page.getByRole('button', { name: 'Refresh' }).click();
    const row = page.locator(`tr[data-request-id="${requestId}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('gpt-test');
    await page.getByRole('img', { name: /^Spend per day: \$0\.0/ }).waitFor();
    await page.getByRole('img', { name: /^Tokens by bucket: [1-9]/ }).waitFor();
    await page.getByText('Show the numbers').first().click();
    expect(await page.locator('figure').first().textContent()).toContain('gpt-test');
    const keyRow = page.locator('#keys tbody tr').first();
    expect(await keyRow.locator('td').nth(2).textContent()).toBe('1');
    await row.getByRole('button', { name: /Receipt/ }).click();
    const rc = page.getByTestId('receipt');
    expect(await rc.textContent()).toContain(requestId);
    expect(await rc.textContent()).toContain('mock-openai');
    await check(page, 'account-usage');

    // Withdraw $1: exactly $1 leaves the balance, the transaction is on chain.
    const beforeWithdraw = await balance(BUYER);
    await page.locator('input[name="withdraw"]').fill('1');
    await page.getByRole('button', { name: 'Withdraw to my wallet' }).click();
    await page.getByText('Withdrew $1.00').waitFor({ timeout: 60_000 });
    const wtx = (await page.locator('.notice-success [data-tx]').last().getAttribute('data-tx'))!;
    expect((await stack.rpcCall<{ status: string }>('eth_getTransactionReceipt', [wtx])).status).toBe('0x1');
    expect(await balance(BUYER)).toBe(beforeWithdraw - 1_000_000);

    // Revoke: the key is refused at once.
    await page.getByRole('button', { name: /^Revoke key/ }).click();
    await page.getByText(/^revoked/).waitFor();
    expect((await chat(key)).status).toBe(401);

    // An API error is shown as the API's message: a withdrawal above the balance.
    await page.locator('input[name="withdraw"]').fill('1000');
    await page.getByRole('button', { name: 'Withdraw to my wallet' }).click();
    await page.getByText(/Insufficient balance: 1000000000 micro-USDC requested/).waitFor();

    // Nothing kept in the browser: no key, no message, no signature.
    expect(await stored(page)).toEqual({ local: 0, session: 0, cookies: '', idb: 0 });
    expect(seen.dialogs).toEqual([]);
    expect(seen.errors).toEqual([]);
  }));

  test('the provider sees the earnings of that call and lists a model that reaches the catalog', async () => {
    // Pay the provider on chain first (what `payouts.schedule` does in the gateway).
    stack.cli('payouts', 'run');
    await flow(PROVIDER, 'provider', async (page, _wallet, seen) => {
    await open(page, 'provider');
    await page.getByRole('button', { name: 'Connect wallet' }).first().click();
    await page.getByRole('button', { name: 'Sign in and load earnings' }).click();
    const mine = page.locator('[data-provider="mock-openai"]');
    await mine.waitFor();
    expect(await mine.textContent()).toMatch(/paid/);
    expect(await mine.locator('[data-tx]').count()).toBeGreaterThan(0);
    await page.getByText('Show the numbers').click();
    const daily = page.locator('figure table');
    expect(await daily.textContent()).toContain('mock-openai/gpt-test');
    await page.getByRole('img', { name: /^Earnings per day: \$0\.0/ }).waitFor();

    // The marketplace: an upstream, then a model on it, probed and live.
    await page.getByRole('button', { name: 'Sign in and load listings' }).click();
    await page.getByText('No upstreams yet').waitFor();
    await check(page, 'provider-earnings');
    await page.getByRole('button', { name: 'Add an upstream' }).click();
    await page.getByLabel('Upstream id').fill('acme');
    const cfg = stack.config;
    const mockBase = (await import('node:fs')).readFileSync(cfg, 'utf8').match(/base_url: (http:\/\/127\.0\.0\.1:\d+\/v1)/)![1];
    await page.getByLabel('Base URL').fill(mockBase);
    await page.getByLabel('Upstream API key').fill('acme-upstream-secret');
    await page.getByRole('button', { name: 'Save upstream' }).click();
    await page.getByText('Upstream acme saved').waitFor();
    await page.getByRole('button', { name: 'List a model' }).click();
    await page.getByLabel('Model id').fill('acme-chat');
    await page.getByLabel('Upstream model').fill('mock-gpt');
    await page.getByLabel('Display name').fill('Acme chat');
    await page.getByLabel('Input price').fill('0.10');
    await page.getByLabel('Output price').fill('0.40');
    await page.getByRole('button', { name: 'Save and probe' }).click();
    await page.getByText('acme-chat is live').waitFor({ timeout: 30_000 });
    const listed = page.locator('tr[data-model="acme-chat"]');
    await listed.waitFor();
    expect(await listed.textContent()).toContain('live');
    expect(await page.locator('[data-upstream="acme"]').textContent()).not.toContain('acme-upstream-secret');
    await check(page, 'provider-listings');

    // Disable, then enable again: the listing follows.
    await listed.getByRole('button', { name: 'Disable acme-chat' }).click();
    await page.locator('tr[data-model="acme-chat"]').getByText('disabled').waitFor();
    await page.locator('tr[data-model="acme-chat"]').getByRole('button', { name: 'Enable acme-chat' }).click();
    await page.locator('tr[data-model="acme-chat"]').getByText('live', { exact: true }).waitFor({ timeout: 30_000 });

    // The public catalog lists it, at the buyer's price (provider price / 0.70).
    await page.getByRole('link', { name: 'Models' }).click();
    const card = page.locator('section.card', { hasText: 'acme-chat' });
    await card.waitFor();
    expect(await card.textContent()).toContain('acme');
    expect(await stored(page)).toEqual({ local: 0, session: 0, cookies: '', idb: 0 });
    expect(seen.errors).toEqual([]);
    });
  });

  test('the balance checker, the catalog, the marketplace and provider health render with data', () =>
    flow(null, 'public', async (page, _wallet, seen) => {
    await page.clock.install();

    await open(page, `balances?watch=${BUYER}`);
    const buyerRow = page.locator(`tr[data-address="${BUYER.toLowerCase()}"]`);
    const available = await balance(BUYER);
    expect(available).toBeGreaterThan(2_900_000);
    await expect.poll(() => buyerRow.locator('td.num').textContent()).toBe(usd(available));
    await page.getByLabel('Wallet address').fill('0x123');
    await page.getByRole('button', { name: 'Watch', exact: true }).click();
    await page.getByText('An address is 0x followed by 40 hexadecimal digits').waitFor();
    await page.getByLabel('Wallet address').fill(WATCHED);
    await page.getByRole('button', { name: 'Watch', exact: true }).click();
    const watchedRow = page.locator(`tr[data-address="${WATCHED.toLowerCase()}"]`);
    await expect.poll(() => watchedRow.locator('td.num').textContent()).toBe('$0.00');
    expect(page.url()).toContain(WATCHED);
    // Credited out of band: the page shows it at the next 30-second refresh, not before.
    stack.cli('credit', '--wallet', WATCHED, '--usd', '2.5', '--reason', 'console test');
    await page.clock.runFor(10_000);
    expect(await watchedRow.locator('td.num').textContent()).toBe('$0.00');
    await page.clock.runFor(21_000);
    await expect.poll(() => watchedRow.locator('td.num').textContent()).toBe('$2.50');
    await check(page, 'balances');

    await open(page, 'models');
    const gpt = page.locator('section.card', { hasText: 'gpt-test' });
    await gpt.waitFor();
    expect(await gpt.textContent()).toContain('mock-openai');
    expect(await gpt.textContent()).toContain('$0.214286'); // 0.15 / 0.70, rounded up
    await check(page, 'models');

    await open(page, 'marketplace');
    await page.locator('section.card', { hasText: 'mock-anthropic' }).waitFor();
    expect(await page.locator('section.card', { hasText: 'acme' }).first().textContent()).toContain('marketplace');
    await check(page, 'marketplace');

    await page.clock.resume();
    await open(page, 'health');
    await page.getByRole('table', { name: 'Health of every provider and model' }).waitFor();
    await until(async () => {
      await page.getByRole('button', { name: 'Refresh' }).click();
      return (await page.getByText('none yet').count()) === 0;
    }, 'every model to have been probed', 30_000);
    await page.getByRole('button', { name: 'History of mock-openai gpt-test' }).click();
    await page.getByRole('img', { name: /^Probe latency: [1-9]\d* probes/ }).waitFor();
    expect(await page.getByRole('table', { name: 'Probe results, newest first' }).locator('tbody tr').count()).toBeGreaterThan(0);
    await check(page, 'health');
    expect(seen.errors).toEqual([]);
  }));
});
