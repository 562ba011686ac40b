// The real stack the console is tested against, started from the built binaries:
//
// - Postgres: a database of its own on `TOLLGATE_TEST_PG`'s cluster (scripts/test.sh starts
//   one), or a throwaway cluster of its own (scripts/pg.sh) when run alone;
// - anvil (contracts/node_modules) with MockUSDC and both vaults deployed by
//   `tollgate chain deploy-local`, 100 USDC minted to the buyer;
// - the mock upstream `mock-llm`;
// - `tollgate` with the ledger, the chain, the marketplace, fast probes and `console.dir`
//   pointing at console/dist (build it first: `npm run build`).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..', '..');
const BIN = process.env.TOLLGATE_BIN_DIR ?? join(ROOT, 'target', 'debug');
const ANVIL = join(ROOT, 'contracts', 'node_modules', '.bin', 'anvil');

export const CHAIN_ID = 31337;
// anvil's public dev accounts (their keys are published with anvil: never use them for real).
export const OPERATOR_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
export const BUYER = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'; // dev account 1
export const PROVIDER = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC'; // dev account 2: mock-openai's payout address
export const WATCHED = '0x90F79bf6EB2c4f870365E785982E1f101E93b906'; // dev account 3
export const EXPLORER = 'https://explorer.example';
const MASTER_KEY = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';

export interface Stack {
  base: string;
  rpc: string;
  config: string;
  deployment: { usdc: string; treasury_vault: string; payout_vault: string };
  cli(...args: string[]): string;
  rpcCall<T = unknown>(method: string, params: unknown[]): Promise<T>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, RUST_LOG: 'warn', ...env }, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

function psql(): string {
  const found = spawnSync('sh', ['-c', 'command -v psql'], { encoding: 'utf8' }).stdout.trim();
  if (found) return found;
  for (const v of readdirSync('/usr/lib/postgresql').sort().reverse()) {
    const p = `/usr/lib/postgresql/${v}/bin/psql`;
    if (existsSync(p)) return p;
  }
  throw new Error('psql not found (apt-get install postgresql-client)');
}

/** Wait for a line matching `re` on a child's stdout or stderr. */
function waitFor(child: ChildProcess, re: RegExp, what: string, ms = 30_000): Promise<RegExpMatchArray> {
  return new Promise((ok, fail) => {
    let seen = '';
    const t = setTimeout(() => fail(new Error(`${what} did not start:\n${seen.slice(-2000)}`)), ms);
    const on = (b: Buffer) => {
      seen += b.toString();
      const m = seen.match(re);
      if (m) {
        clearTimeout(t);
        ok(m);
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', (c) => {
      clearTimeout(t);
      fail(new Error(`${what} exited (${c}):\n${seen.slice(-2000)}`));
    });
  });
}

async function waitHttp(url: string, child: ChildProcess, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`process exited (${child.exitCode}) before ${url} answered`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer`);
}

export async function startStack(): Promise<Stack> {
  for (const b of ['tollgate', 'mock-llm']) {
    if (!existsSync(join(BIN, b))) throw new Error(`${join(BIN, b)} is missing: cargo build --workspace --bins`);
  }
  if (!existsSync(join(ROOT, 'console', 'dist', 'index.html'))) throw new Error('console/dist is missing: npm run build');
  if (!existsSync(ANVIL)) throw new Error(`${ANVIL} is missing: bash scripts/contracts.sh install`);
  const cleanups: (() => void | Promise<void>)[] = [];
  const stop = async () => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (e) {
        console.error('cleanup:', e);
      }
    }
  };
  try {
    const tmp = mkdtempSync(join(tmpdir(), 'tollgate-console-'));
    cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));

    // Postgres: the shared throwaway cluster, or our own.
    let pg = process.env.TOLLGATE_TEST_PG;
    if (!pg) {
      const dir = join(ROOT, 'target', 'console-e2e-pg');
      pg = run('bash', [join(ROOT, 'scripts', 'pg.sh'), 'start', dir]).trim().split('\n').pop()!;
      cleanups.push(() => void run('bash', [join(ROOT, 'scripts', 'pg.sh'), 'stop', dir]));
    }
    const server = pg.slice(0, pg.lastIndexOf('/'));
    const db = `console_e2e_${randomBytes(5).toString('hex')}`;
    run(psql(), [`${server}/postgres`, '-v', 'ON_ERROR_STOP=1', '-qc', `CREATE DATABASE ${db}`]);
    cleanups.push(() => void spawnSync(psql(), [`${server}/postgres`, '-qc', `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`]));
    const databaseUrl = `${server}/${db}`;

    // The chain.
    const anvil = spawn(ANVIL, ['--host', '127.0.0.1', '--port', '0', '--chain-id', String(CHAIN_ID)], { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => void anvil.kill('SIGKILL'));
    const m = await waitFor(anvil, /Listening on (127\.0\.0\.1:\d+)/, 'anvil');
    const rpc = `http://${m[1]}`;
    const deploymentFile = join(tmp, 'deployment.json');
    run(join(BIN, 'tollgate'), ['chain', 'deploy-local', '--rpc', rpc, '--mint', `${BUYER}=100`, '--out', deploymentFile]);
    const deployment = JSON.parse(readFileSync(deploymentFile, 'utf8'));

    // The upstream.
    const mockPort = await freePort();
    const mock = spawn(join(BIN, 'mock-llm'), ['--listen', `127.0.0.1:${mockPort}`, '--threads', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => void mock.kill('SIGKILL'));
    await waitFor(mock, /listening/, 'mock-llm');

    // The gateway.
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const config = join(tmp, 'gateway.yaml');
    writeFileSync(
      config,
      `
server:
  listen: 127.0.0.1:${port}
  public_url: ${base}
  threads: 2
billing:
  sink: postgres
  database_url: "${databaseUrl}"
  batch_interval: 10ms
chain:
  chain_id: ${CHAIN_ID}
  rpc_url: "${rpc}"
  deployment: "${deploymentFile}"
  operator_key: "${OPERATOR_KEY}"
  confirmations: 1
  receipt_timeout: 20s
  payouts: { threshold_usd: 0.000001, min_interval: 1s }
marketplace:
  master_key: "${MASTER_KEY}"
  allow_private_upstreams: true
  probe_timeout: 5s
health:
  probe_interval: 2s
  probe_timeout: 5s
console:
  dir: "${join(ROOT, 'console', 'dist')}"
  explorer_url: ${EXPLORER}
providers:
  - id: mock-openai
    kind: openai
    base_url: http://127.0.0.1:${mockPort}/v1
    api_key: upstream-key
    payout_address: "${PROVIDER}"
    models:
      - id: gpt-test
        upstream_model: mock-gpt
        display_name: GPT test (mock)
        context_length: 128000
        pricing: { prompt: 0.15, completion: 0.60, cache_read: 0.075 }
  - id: mock-anthropic
    kind: anthropic
    base_url: http://127.0.0.1:${mockPort}
    api_key: upstream-key
    models:
      - id: claude-test
        upstream_model: mock-claude
        display_name: Claude test (mock)
        context_length: 200000
        pricing: { prompt: 3, completion: 15, cache_read: 0.30, cache_write_5m: 3.75, cache_write_1h: 6 }
`,
    );
    const cli = (...args: string[]) => run(join(BIN, 'tollgate'), ['-c', config, ...args]);
    cli('migrate');
    const gw = spawn(join(BIN, 'tollgate'), ['-c', config], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, RUST_LOG: 'warn' } });
    cleanups.push(async () => {
      gw.kill('SIGKILL');
      await new Promise((r) => (gw.exitCode !== null ? r(null) : gw.once('exit', r)));
    });
    await waitHttp(`${base}/health`, gw);

    let id = 0;
    const rpcCall = async <T>(method: string, params: unknown[]): Promise<T> => {
      const r = await fetch(rpc, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params }) });
      const b = (await r.json()) as { result?: T; error?: { code: number; message: string } };
      if (b.error) throw Object.assign(new Error(b.error.message), { code: b.error.code });
      return b.result as T;
    };
    return { base, rpc, config, deployment, cli, rpcCall, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
