// Tollgate from a web page on another origin, in headless Chromium: chat (plain and streamed)
// with the headers the OpenAI and Anthropic SDKs send, the rate-limit headers read by the page,
// the x402 402 and its PAYMENT-REQUIRED header, and a page on an origin server.cors does not
// list refused by the browser.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, openPage } from './lib/chromium.mjs';
import { serveStatic } from './lib/static-server.mjs';
import { startStack } from './lib/stack.mjs';

// `rel=icon` with an empty data URL: no /favicon.ico request (a 404 in the console).
const PAGE = {
  '/index.html': '<!doctype html><link rel="icon" href="data:,"><title>app</title><p>a buyer app</p>',
};
let app, stranger, stack, browser;

before(async () => {
  app = await serveStatic(PAGE);
  stranger = await serveStatic(PAGE);
  stack = await startStack({
    server: `  cors: { origins: ["${app.origin}"] }\n`,
    extra: 'limits:\n  requests_per_minute: 100\n',
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await stack?.stop();
  await app?.close();
  await stranger?.close();
});

// What the OpenAI SDK sends from a browser (dangerouslyAllowBrowser): its key, JSON, and
// its x-stainless-* telemetry — all of which make the browser ask first (a preflight).
const OPENAI_HEADERS = {
  'content-type': 'application/json',
  'x-stainless-lang': 'js',
  'x-stainless-package-version': '7.60.0',
  'x-stainless-os': 'Unknown',
  'x-stainless-arch': 'unknown',
  'x-stainless-runtime': 'browser:chrome',
  'x-stainless-runtime-version': '156',
  'x-stainless-retry-count': '0',
};

test('chat from another origin: plain and streamed, rate-limit headers readable', async () => {
  const page = await openPage(browser, app.origin);
  const got = await page.evaluate(
    async ({ base, key, headers }) => {
      const call = (stream) =>
        fetch(`${base}/v1/chat/completions`, {
          method: 'POST',
          headers: { ...headers, authorization: `Bearer ${key}` },
          body: JSON.stringify({
            model: 'gpt-4o-mini',
            max_tokens: 16,
            stream,
            messages: [{ role: 'user', content: 'Hello from a browser' }],
          }),
        });
      const plain = await call(false);
      const body = await plain.json();
      const streamed = await call(true);
      const reader = streamed.body.getReader();
      let text = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      return {
        status: plain.status,
        requestId: plain.headers.get('x-request-id'),
        remaining: plain.headers.get('x-ratelimit-remaining-requests'),
        limit: plain.headers.get('x-ratelimit-limit-requests'),
        reset: plain.headers.get('x-ratelimit-reset-requests'),
        object: body.object,
        usage: body.usage,
        streamStatus: streamed.status,
        streamType: streamed.headers.get('content-type'),
        streamRemaining: streamed.headers.get('x-ratelimit-remaining-requests'),
        done: text.includes('data: [DONE]'),
        streamUsage: text.includes('"usage"'),
      };
    },
    { base: stack.base, key: stack.key, headers: OPENAI_HEADERS },
  );
  assert.equal(got.status, 200);
  assert.match(got.requestId, /^req_[0-9a-f]{32}$/);
  assert.equal(got.limit, '100');
  assert.equal(got.remaining, '99');
  assert.ok(got.reset, 'x-ratelimit-reset-requests is readable');
  assert.equal(got.object, 'chat.completion');
  assert.ok(got.usage.prompt_tokens > 0);
  assert.equal(got.streamStatus, 200);
  assert.match(got.streamType, /^text\/event-stream/);
  assert.equal(got.streamRemaining, '98');
  assert.ok(got.done && got.streamUsage, 'the whole stream, with its usage, reached the page');
  assert.deepEqual(page.problems, []);
});

test('Anthropic messages from another origin, as the Anthropic SDK sends them', async () => {
  const page = await openPage(browser, app.origin);
  const got = await page.evaluate(
    async ({ base, key }) => {
      const r = await fetch(`${base}/v1/messages`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-api-key': key,
          'anthropic-version': '2023-06-01',
          'anthropic-dangerous-direct-browser-access': 'true',
          'x-stainless-lang': 'js',
        },
        body: JSON.stringify({
          model: 'claude-sonnet',
          max_tokens: 16,
          messages: [{ role: 'user', content: 'Hello' }],
        }),
      });
      return { status: r.status, body: await r.json() };
    },
    { base: stack.base, key: stack.key },
  );
  assert.equal(got.status, 200);
  assert.equal(got.body.type, 'message');
});

test('an error and the x402 402 are readable by the page', async () => {
  const page = await openPage(browser, app.origin);
  const got = await page.evaluate(
    async ({ base }) => {
      const denied = await fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-wrong' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
      });
      const topup = await fetch(`${base}/v1/topup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ amount: 1 }),
      });
      const header = topup.headers.get('payment-required');
      return {
        deniedStatus: denied.status,
        denied: await denied.json(),
        status: topup.status,
        body: await topup.json(),
        required: header && JSON.parse(atob(header)),
      };
    },
    { base: stack.base },
  );
  assert.equal(got.deniedStatus, 401);
  assert.equal(got.denied.error, 'UNAUTHORIZED');
  assert.equal(got.status, 402);
  assert.equal(got.body.x402Version, 1);
  assert.equal(got.body.error, 'PAYMENT_REQUIRED');
  assert.ok(got.required, 'PAYMENT-REQUIRED is exposed to the page');
  assert.equal(got.required.x402Version, 2);
  assert.equal(got.required.accepts[0].amount, '1000000');
  assert.equal(got.required.resource.url, `${stack.base}/v1/topup`);
});

test('a page on an origin server.cors does not list is refused by the browser', async () => {
  const page = await openPage(browser, stranger.origin);
  const got = await page.evaluate(
    async ({ base, key }) => {
      const attempt = async (init) => {
        try {
          const r = await fetch(`${base}/v1/chat/completions`, init);
          return `status ${r.status}`;
        } catch (e) {
          return `refused: ${e.name}`;
        }
      };
      const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] });
      return {
        withKey: await attempt({
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body,
        }),
        // A "simple" request needs no preflight: it is sent, and the browser withholds the answer.
        models: await fetch(`${base}/v1/models`).then((r) => `status ${r.status}`, (e) => `refused: ${e.name}`),
      };
    },
    { base: stack.base, key: stack.key },
  );
  assert.equal(got.withKey, 'refused: TypeError');
  assert.equal(got.models, 'refused: TypeError');
  assert.ok(
    page.problems.some((p) => p.includes('CORS')),
    `the browser names CORS: ${page.problems.join(' | ')}`,
  );
});
