// Spend per day and tokens by bucket (from `GET /v1/account`'s `daily`, the wallet_daily
// rollup), the request history with cursor paging (`GET /v1/requests`, a signature per page)
// and a receipt per request.
import { useState } from 'preact/hooks';
import { dayRange, pivot, StackedBars } from '../../charts';
import { count, usd, when } from '../../money';
import type { Account, RequestRow } from '../../types';
import { Badge, Button, Card, Empty, ErrorBox, Table, useAction } from '../../ui';
import { signedGet } from '../../wallet';
import { Receipt } from './Receipt';

type Bucket = 'input_tokens' | 'cache_read_tokens' | 'cache_write_5m_tokens' | 'cache_write_1h_tokens' | 'output_tokens';
const BUCKETS: [Bucket, string][] = [
  ['input_tokens', 'Input'],
  ['cache_read_tokens', 'Cache read'],
  ['cache_write_5m_tokens', 'Cache write 5m'],
  ['cache_write_1h_tokens', 'Cache write 1h'],
  ['output_tokens', 'Output'],
];

export function Usage({ data }: { data: Account }) {
  return (
    <>
      <Charts data={data} />
      <History data={data} />
    </>
  );
}

function Charts({ data }: { data: Account }) {
  const labels = dayRange(data.days);
  const spend = pivot(data.daily, labels, (r) => r.day, (r) => r.model, (r) => r.spent_usdc);
  const tokens = BUCKETS.map(([k, name]) => ({ label: name, values: labels.map((d) => data.daily.filter((r) => r.day === d).reduce((s, r) => s + r[k], 0)) })).filter((s) =>
    s.values.some((v) => v > 0),
  );
  const total = data.daily.reduce((s, r) => s + r.spent_usdc, 0);
  const totalTokens = tokens.reduce((s, t) => s + t.values.reduce((a, b) => a + b, 0), 0);
  const short = labels.map((d) => d.slice(5));
  return (
    <Card title={`Usage, last ${data.days} days`} wide>
      {!data.daily.length ? (
        <Empty title="No requests in this period">Create an API key above and make a request: spend and tokens appear here once it is settled.</Empty>
      ) : (
        <div class="grid">
          <StackedBars
            title="Spend per day"
            summary={`${usd(total)} over ${data.days} days`}
            labels={short}
            series={spend}
            format={(n) => usd(Math.round(n))}
            table={
              <Table caption="Spend per day and model" head={['Day', 'Model', 'Requests', 'Spent']} numeric={[2, 3]}>
                {data.daily.map((r) => (
                  <tr>
                    <td>{r.day}</td>
                    <td class="mono">{r.model}</td>
                    <td class="num">{count(r.requests)}</td>
                    <td class="num">{usd(r.spent_usdc)}</td>
                  </tr>
                ))}
              </Table>
            }
          />
          <StackedBars
            title="Tokens by bucket"
            summary={`${count(totalTokens)} tokens over ${data.days} days`}
            labels={short}
            series={tokens}
            format={(n) => count(n)}
            table={
              <Table caption="Tokens per day and bucket" head={['Day', ...BUCKETS.map((b) => b[1])]} numeric={[1, 2, 3, 4, 5]}>
                {labels
                  .filter((d) => data.daily.some((r) => r.day === d))
                  .map((d) => (
                    <tr>
                      <td>{d}</td>
                      {BUCKETS.map(([k]) => (
                        <td class="num">{count(data.daily.filter((r) => r.day === d).reduce((s, r) => s + r[k], 0))}</td>
                      ))}
                    </tr>
                  ))}
              </Table>
            }
          />
        </div>
      )}
    </Card>
  );
}

function History({ data }: { data: Account }) {
  const [rows, setRows] = useState<RequestRow[]>(data.requests.data);
  const [cursor, setCursor] = useState<string | null>(data.requests.next_cursor);
  const [open, setOpen] = useState<RequestRow | null>(null);
  const older = useAction(async () => {
    const p = await signedGet<{ data: RequestRow[]; next_cursor: string | null }>('/v1/requests', 'Read my Tollgate request history', {
      cursor: cursor ?? undefined,
      limit: 20,
    });
    setRows((r) => [...r, ...p.data]);
    setCursor(p.next_cursor);
  });
  const keyLabel = (id: string) => data.keys.find((k) => k.id === id)?.label ?? id;
  return (
    <Card title="Requests" wide id="requests">
      {open && <Receipt row={open} keyLabel={keyLabel(open.key_id)} close={() => setOpen(null)} />}
      {!rows.length ? (
        <Empty title="No requests yet">Requests made with this wallet's keys are listed here, newest first, with what each one cost.</Empty>
      ) : (
        <>
          <Table caption="Requests, newest first" head={['When', 'Model', 'Provider', 'Key', 'Status', 'Tokens in / out', 'Cost', '']} numeric={[5, 6]}>
            {rows.map((r) => (
              <tr data-request-id={r.request_id}>
                <td>{when(r.created_at_ms)}</td>
                <td class="mono">{r.model}</td>
                <td class="mono">{r.provider || '—'}</td>
                <td class="key-label">{keyLabel(r.key_id)}</td>
                <td>
                  <Badge tone={r.http_status >= 200 && r.http_status < 300 ? 'good' : 'bad'}>{r.http_status || r.status}</Badge>
                </td>
                <td class="num">
                  {count(r.input_tokens + r.cache_read_tokens + r.cache_write_5m_tokens + r.cache_write_1h_tokens)} / {count(r.output_tokens)}
                </td>
                <td class="num">{usd(r.buyer_cost_usdc)}</td>
                <td>
                  <Button kind="link" onClick={() => setOpen(r)} aria-label={`Receipt of ${r.request_id}`}>
                    Receipt
                  </Button>
                </td>
              </tr>
            ))}
          </Table>
          <ErrorBox error={older.error} title="Older requests could not be read" />
          {cursor && (
            <Button kind="secondary" onClick={() => older.run()} busy={older.busy}>
              Older requests
            </Button>
          )}
        </>
      )}
    </Card>
  );
}
