// `GET /provider/earnings` (SIWE of the payout wallet): pending, in flight and paid per
// provider id, payouts with their transactions, earnings per model per day.
import { useState } from 'preact/hooks';
import { ApiError } from '../../api';
import { dayRange, pivot, StackedBars } from '../../charts';
import { count, usd, when } from '../../money';
import type { Earnings as EarningsData } from '../../types';
import { Badge, Button, Card, Empty, ErrorBox, healthTone, Stats, Table, Tx, useAction } from '../../ui';
import { signedGet } from '../../wallet';

export function Earnings() {
  const [data, setData] = useState<EarningsData | null>(null);
  const load = useAction(async () => setData(await signedGet<EarningsData>('/provider/earnings', 'Read my Tollgate provider earnings')));
  const labels = dayRange(30);
  return (
    <Card
      title="Earnings"
      wide
      actions={
        <Button kind={data ? 'secondary' : 'primary'} onClick={() => load.run()} busy={load.busy}>
          {data ? 'Refresh' : 'Sign in and load earnings'}
        </Button>
      }
    >
      <ErrorBox error={load.error} title="Earnings could not be read" />
      {load.error instanceof ApiError && load.error.status === 403 && (
        <p class="muted">To earn, list an upstream and a model below (marketplace), or ask the operator to set this wallet as a provider's payout address.</p>
      )}
      {!data ? (
        <p class="muted">Your wallet signs one message to read the earnings of every provider id it is the payout address of.</p>
      ) : (
        <div class="stack">
          {data.data.map((p) => (
            <section class="subsection" aria-label={`Provider ${p.provider}`} data-provider={p.provider}>
              <h3 class="mono">{p.provider}</h3>
              <Stats
                items={[
                  ['Pending', usd(p.pending_usdc), 'Earned, not yet paid out.'],
                  ['In flight', usd(p.in_flight_usdc), 'In a payout being sent.'],
                  ['Paid', usd(p.paid_usdc), p.last_payout_at ? `Last payout ${when(p.last_payout_at)}` : 'No payout yet.'],
                ]}
              />
              {p.payouts.length ? (
                <Table caption={`Payouts of ${p.provider}`} head={['When', 'Amount', 'Status', 'Transaction']} numeric={[1]}>
                  {p.payouts.map((o) => (
                    <tr>
                      <td>{when(o.created_at)}</td>
                      <td class="num">{usd(o.amount_usdc)}</td>
                      <td>
                        <Badge tone={healthTone(o.status)}>{o.status}</Badge>
                      </td>
                      <td>
                        <Tx hash={o.tx_hash} />
                      </td>
                    </tr>
                  ))}
                </Table>
              ) : (
                <p class="muted">No payouts yet: earnings are paid on chain once they pass the operator's threshold.</p>
              )}
            </section>
          ))}
          {!data.daily.length ? (
            <Empty title="No earnings in the last 30 days">Once buyers call your models, earnings per model and day appear here.</Empty>
          ) : (
            <StackedBars
              title="Earnings per day"
              summary={`${usd(data.daily.reduce((s, d) => s + d.earned_usdc, 0))} over 30 days`}
              labels={labels.map((d) => d.slice(5))}
              series={pivot(data.daily, labels, (r) => r.day, (r) => `${r.provider}/${r.model}`, (r) => r.earned_usdc)}
              format={(n) => usd(Math.round(n))}
              table={
                <Table caption="Earnings per day and model" head={['Day', 'Provider / model', 'Requests', 'Tokens in', 'Tokens out', 'Earned', 'Usage missing / disproved']} numeric={[2, 3, 4, 5]}>
                  {data.daily.map((d) => (
                    <tr>
                      <td>{d.day}</td>
                      <td class="mono">
                        {d.provider}/{d.model}
                      </td>
                      <td class="num">{count(d.requests)}</td>
                      <td class="num">{count(d.input_tokens + d.cache_read_tokens + d.cache_write_5m_tokens + d.cache_write_1h_tokens)}</td>
                      <td class="num">{count(d.output_tokens)}</td>
                      <td class="num">{usd(d.earned_usdc)}</td>
                      <td>
                        {d.usage_missing} / {d.usage_disproved}
                      </td>
                    </tr>
                  ))}
                </Table>
              }
            />
          )}
        </div>
      )}
    </Card>
  );
}
