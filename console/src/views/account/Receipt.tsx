// One request's receipt: the history row at once; the prices applied and the settlement time
// from `GET /v1/requests/{id}` when asked (one more signature: nothing is kept between actions).
import { count, ms, usd, when } from '../../money';
import type { RequestRow } from '../../types';
import { Button, ErrorBox, Table, useAction } from '../../ui';
import { signedGet } from '../../wallet';
import { useState } from 'preact/hooks';

/** `GET /v1/requests/{id}`: what the request was charged at (buyer USD per 1M tokens). */
type Applied = {
  prices: Record<'input' | 'cache_read' | 'cache_write_5m' | 'cache_write_1h' | 'output', string> | null;
  settled_at_ms: number;
};

export function Receipt(props: { row: RequestRow; keyLabel: string; close: () => void }) {
  const r = props.row;
  const buckets: [string, number, keyof NonNullable<Applied['prices']>][] = [
    ['Input', r.input_tokens, 'input'],
    ['Cache read', r.cache_read_tokens, 'cache_read'],
    ['Cache write (5 min)', r.cache_write_5m_tokens, 'cache_write_5m'],
    ['Cache write (1 h)', r.cache_write_1h_tokens, 'cache_write_1h'],
    ['Output', r.output_tokens, 'output'],
  ];
  const [got, setGot] = useState<Applied | null>(null);
  const applied = useAction(async () =>
    setGot(await signedGet<Applied>('/v1/requests/' + encodeURIComponent(r.request_id), 'Read the receipt of one request')),
  );
  const prices = got?.prices;
  return (
    <section class="receipt" aria-labelledby="receipt-title" data-testid="receipt">
      <div class="card-head">
        <h3 id="receipt-title">Receipt</h3>
        <Button kind="link" onClick={props.close}>
          Close
        </Button>
      </div>
      <dl class="receipt-fields">
        <dt>Request</dt>
        <dd class="mono">{r.request_id}</dd>
        <dt>When</dt>
        <dd>{when(r.created_at_ms)}</dd>
        <dt>Model</dt>
        <dd class="mono">{r.model}</dd>
        <dt>Provider</dt>
        <dd class="mono">{r.provider || '—'}</dd>
        <dt>Key</dt>
        <dd>{props.keyLabel}</dd>
        <dt>Outcome</dt>
        <dd>
          {r.status} (HTTP {r.http_status}){r.error_code ? `, ${r.error_code}` : ''}
          {r.stream ? ', streamed' : ''}
        </dd>
        <dt>Latency</dt>
        <dd>
          {ms(r.latency_ms)} (first byte {ms(r.ttfb_ms)})
        </dd>
      </dl>
      <Table
        caption="Tokens billed"
        head={prices ? ['Bucket', 'Tokens', 'USD per 1M'] : ['Bucket', 'Tokens']}
        numeric={prices ? [1, 2] : [1]}
      >
        {buckets.map(([k, v, p]) => (
          <tr>
            <th scope="row">{k}</th>
            <td class="num">{count(v)}</td>
            {prices && <td class="num">${prices[p]}</td>}
          </tr>
        ))}
      </Table>
      <p class="receipt-total">
        Charged <strong>{usd(r.buyer_cost_usdc)}</strong>
      </p>
      {got ? (
        <p class="meta" data-testid="settled">Settled {when(got.settled_at_ms)}.</p>
      ) : (
        <Button kind="secondary" onClick={() => applied.run()} busy={applied.busy}>
          Show the prices applied
        </Button>
      )}
      <ErrorBox error={applied.error} title="The receipt could not be read" />
    </section>
  );
}
