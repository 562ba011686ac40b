// The buyer's page: one signed read of `GET /v1/account` (balance, keys and their usage,
// top-ups, withdrawals, spend per day, the first page of history), then one signature per
// action. Results of actions update the page in place; "Refresh" signs a new read.
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api';
import { usd } from '../money';
import { useStore } from '../store';
import type { Account as AccountData } from '../types';
import { Button, Card, ErrorBox, Notice, Page, Stats, useAction } from '../ui';
import { signedGet, wallet } from '../wallet';
import { WalletGate } from './Connect';
import { Keys } from './account/Keys';
import { Money } from './account/Money';
import { Usage } from './account/Usage';

export function Account() {
  return (
    <Page title="Your account" lead="Balance, top-ups, API keys, usage and every request, for the wallet you connect.">
      <WalletGate why="Connect the wallet that pays for your requests to see its balance, top it up and manage its API keys.">
        <Dashboard />
      </WalletGate>
    </Page>
  );
}

function Dashboard() {
  const w = useStore(wallet);
  const [data, setData] = useState<AccountData | null>(null);
  // Each read starts the history (and its paging) over.
  const [reads, setReads] = useState(0);
  const load = useAction(async () => {
    setData(await signedGet<AccountData>('/v1/account', 'Read my Tollgate account'));
    setReads((n) => n + 1);
  });
  // The wallet changed: what was shown belongs to the previous one.
  useEffect(() => {
    if (data && w.address && data.wallet !== w.address.toLowerCase()) setData(null);
  }, [w.address]);

  /** Balance after a top-up or withdrawal: the answer's balance, the public available. */
  const rebalance = async (balance: number) => {
    const b = await api<{ available_usdc: number }>(`/v1/balance/${data!.wallet}`);
    setData((d) => d && { ...d, balance_usdc: balance, available_usdc: b.available_usdc, locked_usdc: Math.max(0, balance - b.available_usdc) });
  };

  if (!data) {
    return (
      <Card title="Sign in">
        <p>
          Your wallet signs one message to read this account. Nothing is kept afterwards: the next read or action asks for a new signature.
        </p>
        <ErrorBox error={load.error} title="The account could not be read" />
        <Button onClick={() => load.run()} busy={load.busy}>
          Sign in and load my account
        </Button>
      </Card>
    );
  }
  return (
    <div class="stack">
      <Card
        title="Balance"
        actions={
          <Button kind="secondary" onClick={() => load.run()} busy={load.busy}>
            Refresh
          </Button>
        }
      >
        <ErrorBox error={load.error} />
        <Stats
          items={[
            ['Balance', <span data-testid="balance">{usd(data.balance_usdc)}</span>],
            ['Reserved', usd(data.locked_usdc), 'Held for requests in flight; released shortly after they finish.'],
            ['Available', <span data-testid="available">{usd(data.available_usdc)}</span>, 'What new requests and withdrawals can use.'],
          ]}
        />
        {data.balance_usdc === 0 && (
          <Notice title="Your balance is empty">Top up below with USDC from this wallet: requests are paid from this balance.</Notice>
        )}
      </Card>
      <Money data={data} setData={setData} rebalance={rebalance} />
      <Keys data={data} setData={setData} />
      <Usage key={reads} data={data} />
    </div>
  );
}
