// The real thing on loopback for browser tests: mock-llm, a fresh database on the test
// PostgreSQL cluster (TOLLGATE_TEST_PG, started by scripts/test.sh), anvil with the contracts
// deployed (`tollgate chain deploy-local`), and the tollgate binary (TOLLGATE_BIN_DIR, default
// target/debug) with a funded API key. Everything is stopped and dropped by `stop()`.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readdirSync, existsSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = process.env.TOLLGATE_BIN_DIR || path.join(ROOT, 'target/debug');
const ANVIL = path.join(ROOT, 'contracts/node_modules/.bin/anvil');
// anvil's public dev key 0: deployer and operator of the local deployment.
const OPERATOR_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';
export const WALLET = '0x00000000000000000000000000000000000000b7';

export async function freePort() {
  const s = net.createServer();
  await new Promise((ok) => s.listen(0, '127.0.0.1', ok));
  const { port } = s.address();
  await new Promise((ok) => s.close(ok));
  return port;
}

function psql() {
  const dirs = readdirSync('/usr/lib/postgresql').sort().reverse();
  for (const d of dirs) {
    const p = `/usr/lib/postgresql/${d}/bin/psql`;
    if (existsSync(p)) return p;
  }
  return 'psql';
}

/** Wait until `proc` prints a line matching `re` on stdout or stderr; the match. */
function waitForLine(proc, re, what, ms = 30000) {
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${what} did not start`)), ms);
    const look = (chunk) => {
      const m = String(chunk).match(re);
      if (m) {
        clearTimeout(timer);
        ok(m);
      }
    };
    proc.stdout?.on('data', look);
    proc.stderr?.on('data', look);
    proc.on('exit', (code) => fail(new Error(`${what} exited with ${code}`)));
  });
}

async function waitHttp(url, proc, ms = 30000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`tollgate exited with ${proc.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not answer`);
}

/**
 * Start a stack. `server` adds lines (indented by two spaces) to the gateway's `server:`
 * section, `extra` adds top-level sections. Returns {base, admin, key, wallet, tollgate(args),
 * stop()}.
 */
export async function startStack({ server = '', extra = '' } = {}) {
  const pg = process.env.TOLLGATE_TEST_PG;
  if (!pg) throw new Error('TOLLGATE_TEST_PG is not set (scripts/test.sh starts the cluster)');
  const procs = [];
  const cleanups = [];
  const stop = async () => {
    for (const p of procs.reverse()) p.kill('SIGKILL');
    for (const c of cleanups.reverse()) {
      try {
        c();
      } catch (e) {
        console.error(`stack cleanup: ${e}`);
      }
    }
  };
  try {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'tollgate-browser-'));
    cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
    const cluster = pg.slice(0, pg.lastIndexOf('/'));
    const db = `t_browser_${process.pid}_${Date.now()}`;
    execFileSync(psql(), [`${cluster}/postgres`, '-v', 'ON_ERROR_STOP=1', '-qc', `CREATE DATABASE ${db}`]);
    cleanups.push(() =>
      execFileSync(psql(), [`${cluster}/postgres`, '-qc', `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`]),
    );

    const anvil = spawn(ANVIL, ['--host', '127.0.0.1', '--port', '0', '--chain-id', '31337']);
    procs.push(anvil);
    const [, rpcAddr] = await waitForLine(anvil, /Listening on (127\.0\.0\.1:\d+)/, 'anvil');
    const rpc = `http://${rpcAddr}`;
    const deployment = path.join(tmp, 'deployment.json');
    execFileSync(path.join(BIN, 'tollgate'), ['chain', 'deploy-local', '--rpc', rpc, '--out', deployment]);

    const mockPort = await freePort();
    const mock = spawn(path.join(BIN, 'mock-llm'), ['--listen', `127.0.0.1:${mockPort}`, '--threads', '1']);
    procs.push(mock);
    await waitForLine(mock, /listening/, 'mock-llm');

    const port = await freePort();
    const adminPort = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const config = path.join(tmp, 'gateway.yaml');
    writeFileSync(
      config,
      `server:
  listen: 127.0.0.1:${port}
  public_url: ${base}
  threads: 2
${server}metrics:
  listen: 127.0.0.1:${adminPort}
billing:
  sink: postgres
  database_url: "${cluster}/${db}"
  batch_interval: 10ms
  lease_chunk_usd: 0.001
chain:
  chain_id: 31337
  rpc_url: "${rpc}"
  deployment: "${deployment}"
  operator_key: "${OPERATOR_KEY}"
  confirmations: 1
health:
  probes: false
providers:
  - id: mock-openai
    kind: openai
    base_url: http://127.0.0.1:${mockPort}/v1
    api_key: upstream-key
    models:
      - { id: gpt-4o-mini, upstream_model: mock-gpt, pricing: { prompt: 1, completion: 2 } }
  - id: mock-anthropic
    kind: anthropic
    base_url: http://127.0.0.1:${mockPort}
    api_key: upstream-key
    models:
      - { id: claude-sonnet, upstream_model: mock-claude, pricing: { prompt: 3, completion: 15 } }
${extra}`,
    );
    const tollgate = (...args) =>
      execFileSync(path.join(BIN, 'tollgate'), ['-c', config, ...args], {
        env: { ...process.env, RUST_LOG: 'warn' },
      }).toString().trim();
    tollgate('migrate');
    tollgate('credit', '--wallet', WALLET, '--usd', '5', '--reason', 'browser test');
    const key = tollgate('keys', 'create', '--wallet', WALLET, '--label', 'browser');
    const gw = spawn(path.join(BIN, 'tollgate'), ['-c', config], {
      env: { ...process.env, RUST_LOG: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    procs.push(gw);
    await waitHttp(`${base}/health`, gw);
    return { base, admin: `http://127.0.0.1:${adminPort}`, key, wallet: WALLET, tollgate, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
