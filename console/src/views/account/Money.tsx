// Money in and out: an x402 top-up paid by the wallet, a withdrawal (SIWE), a TreasuryVault
// deposit reported by its transaction hash (SIWE), and the history of each.
import { useState } from 'preact/hooks';
import { parseUsd, usd, usdText, when } from '../../money';
import type { Account, Credit, Withdrawal } from '../../types';
import { Badge, Card, Empty, ErrorBox, Field, healthTone, Notice, Table, Tx, useAction, useConfig } from '../../ui';
import { signedBody } from '../../wallet';
import { topUp, type TopUp } from '../../x402';

interface Props {
  data: Account;
  setData: (f: (d: Account | null) => Account | null) => void;
  rebalance: (balance: number) => Promise<void>;
}

export function Money(props: Props) {
  const c = useConfig();
  if (c && !c.settlement) {
    return (
      <Card title="Top up and withdraw">
        <Notice kind="warning">This gateway settles nothing on chain (no chain settlement configured), so it takes no top-ups or withdrawals.</Notice>
      </Card>
    );
  }
  return (
    <>
      <div class="grid">
        <TopUpCard {...props} />
        <WithdrawCard {...props} />
      </div>
      <History {...props} />
    </>
  );
}

function AmountField(props: { value: string; set: (v: string) => void; error: string | null; name: string; hint?: string }) {
  return (
    <Field label="Amount (USD)" error={props.error} hint={props.hint}>
      <input name={props.name} inputMode="decimal" value={props.value} onInput={(e) => props.set((e.target as HTMLInputElement).value)} autocomplete="off" />
    </Field>
  );
}

function TopUpCard({ rebalance, setData }: Props) {
  const c = useConfig();
  const [amount, setAmount] = useState('5');
  const [bad, setBad] = useState<string | null>(null);
  const [done, setDone] = useState<TopUp | null>(null);
  const act = useAction(async () => {
    const p = parseUsd(amount);
    if ('error' in p) return setBad(p.error);
    setBad(null);
    setDone(null);
    const r = await topUp(p.micro);
    setDone(r);
    const credit: Credit = { id: r.tx_hash, kind: 'x402', amount_usdc: r.credited_usdc, status: 'credited', tx_hash: r.tx_hash, error: null, created_at: new Date().toISOString() };
    setData((d) => d && { ...d, credits: [credit, ...d.credits] });
    await rebalance(r.balance_usdc);
  });
  const s = c?.settlement;
  return (
    <Card title="Top up with USDC (x402)">
      <p class="muted">
        Your wallet signs a USDC transfer authorization (EIP-3009) for exactly this amount to the gateway's vault; the gateway submits it on
        chain and credits your balance once it is mined. You pay no gas.
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          act.run();
        }}
      >
        <AmountField name="topup" value={amount} set={setAmount} error={bad} hint={s ? `Between ${usd(s.topup_min_usdc)} and ${usd(s.topup_max_usdc)}` : undefined} />
        <button type="submit" class="btn btn-primary" disabled={act.busy} aria-busy={act.busy ? 'true' : undefined}>
          {act.busy ? 'Paying…' : 'Pay with my wallet'}
        </button>
      </form>
      <ErrorBox error={act.error} title="The top-up was not credited" />
      {done && (
        <Notice kind="success" title={`Credited ${usd(done.credited_usdc)}`}>
          New balance <strong data-testid="topup-balance">{usd(done.balance_usdc)}</strong>. Transaction <Tx hash={done.tx_hash} />
        </Notice>
      )}
    </Card>
  );
}

function WithdrawCard({ data, setData, rebalance }: Props) {
  const [amount, setAmount] = useState('');
  const [bad, setBad] = useState<string | null>(null);
  const [done, setDone] = useState<Withdrawal & { message?: string } | null>(null);
  const act = useAction(async () => {
    const p = parseUsd(amount);
    if ('error' in p) return setBad(p.error);
    setBad(null);
    setDone(null);
    const r = await signedBody<Withdrawal & { balance_usdc: number; message?: string }>('POST', '/v1/withdraw', `Withdraw ${usd(p.micro)} from my Tollgate balance`, {
      amount: usdText(p.micro),
    });
    setDone(r);
    const row: Withdrawal = { withdrawal_id: r.withdrawal_id, amount_usdc: r.amount_usdc, status: r.status, tx_hash: r.tx_hash, error: null, created_at: new Date().toISOString() };
    setData((d) => d && { ...d, withdrawals: [row, ...d.withdrawals] });
    await rebalance(r.balance_usdc);
  });
  return (
    <Card title="Withdraw">
      <p class="muted">USDC goes back from the gateway's vault to this wallet. Only the available balance can be withdrawn.</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          act.run();
        }}
      >
        <AmountField name="withdraw" value={amount} set={setAmount} error={bad} hint={`Available: ${usd(data.available_usdc)}`} />
        <button type="submit" class="btn btn-secondary" disabled={act.busy}>
          {act.busy ? 'Withdrawing…' : 'Withdraw to my wallet'}
        </button>
      </form>
      <ErrorBox error={act.error} title="Nothing was withdrawn" />
      {done && (
        <Notice kind={done.status === 'paid' ? 'success' : 'warning'} title={done.status === 'paid' ? `Withdrew ${usd(done.amount_usdc)}` : 'Withdrawal sent, not confirmed yet'}>
          {done.message ? `${done.message}. ` : ''}Transaction <Tx hash={done.tx_hash} />
        </Notice>
      )}
    </Card>
  );
}

function History({ data, setData }: Props) {
  const [tx, setTx] = useState('');
  const [result, setResult] = useState<{ credited_usdc: number; balance_usdc: number } | null>(null);
  const report = useAction(async () => {
    setResult(null);
    const r = await signedBody<{ credited_usdc: number; balance_usdc: number }>('POST', '/v1/deposits', 'Report my Tollgate deposit', { tx_hash: tx.trim() });
    setResult(r);
    setData((d) => d && { ...d, balance_usdc: r.balance_usdc });
  });
  return (
    <Card title="Top-ups, deposits and withdrawals" wide>
      {!data.credits.length && !data.withdrawals.length ? (
        <Empty title="No money has moved yet">Top up above; deposits made to the TreasuryVault from this wallet appear here too.</Empty>
      ) : (
        <Table caption="Money in and out, newest first" head={['When', 'Kind', 'Amount', 'Status', 'Transaction']} numeric={[2]}>
          {[
            ...data.credits.map((c) => ({ at: c.created_at, kind: c.kind === 'x402' ? 'top-up (x402)' : 'deposit', amount: c.amount_usdc, status: c.status, tx: c.tx_hash, error: c.error })),
            ...data.withdrawals.map((w) => ({ at: w.created_at, kind: 'withdrawal', amount: -w.amount_usdc, status: w.status, tx: w.tx_hash, error: w.error })),
          ]
            .sort((a, b) => b.at.localeCompare(a.at))
            .map((r) => (
              <tr>
                <td>{when(r.at)}</td>
                <td>{r.kind}</td>
                <td class="num">{usd(r.amount)}</td>
                <td class="wrap">
                  <span>
                    <Badge tone={healthTone(r.status)}>{r.status}</Badge>
                    {r.error && <span class="muted"> {r.error}</span>}
                  </span>
                </td>
                <td>
                  <Tx hash={r.tx} />
                </td>
              </tr>
            ))}
        </Table>
      )}
      <details class="subsection">
        <summary>Report a TreasuryVault deposit</summary>
        <p class="muted">Deposited USDC to the vault from this wallet yourself? Paste the transaction hash to have it credited (once).</p>
        <form
          class="row-form"
          onSubmit={(e) => {
            e.preventDefault();
            report.run();
          }}
        >
          <Field label="Transaction hash">
            <input name="deposit-tx" class="mono" value={tx} onInput={(e) => setTx((e.target as HTMLInputElement).value)} placeholder="0x…" autocomplete="off" spellcheck={false} />
          </Field>
          <div class="form-actions">
            <button type="submit" class="btn btn-secondary" disabled={report.busy || !tx.trim()}>
              Check and credit
            </button>
          </div>
        </form>
        <ErrorBox error={report.error} title="The deposit was not credited" />
        {result && (
          <Notice kind="success" title={result.credited_usdc ? `Credited ${usd(result.credited_usdc)}` : 'Already credited'}>
            Balance {usd(result.balance_usdc)}
          </Notice>
        )}
      </details>
    </Card>
  );
}
