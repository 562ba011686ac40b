// One request's receipt.
//
// HOOK(receipt): the lead is adding `GET /v1/requests/{id}` (`{"request_id","model","provider",
// "status","stream","tokens":{…},"prices":{…},"cost_usd","cost_microusdc","created_at",
// "settled_at"}`). Until it lands on main, the receipt is built from the history row, which has
// everything but the prices and the settlement time. Once it lands (and takes a SIWE pair as
// /v1/requests does), fetch it here with `signedGet('/v1/requests/' + id, …)` and fill
// `prices` and `settled_at` below.
import { count, ms, usd, when } from '../../money';
import type { RequestRow } from '../../types';
import { Button, Table } from '../../ui';

export function Receipt(props: { row: RequestRow; keyLabel: string; close: () => void }) {
  const r = props.row;
  const buckets: [string, number][] = [
    ['Input', r.input_tokens],
    ['Cache read', r.cache_read_tokens],
    ['Cache write (5 min)', r.cache_write_5m_tokens],
    ['Cache write (1 h)', r.cache_write_1h_tokens],
    ['Output', r.output_tokens],
  ];
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
      <Table caption="Tokens billed" head={['Bucket', 'Tokens']} numeric={[1]}>
        {buckets.map(([k, v]) => (
          <tr>
            <th scope="row">{k}</th>
            <td class="num">{count(v)}</td>
          </tr>
        ))}
      </Table>
      <p class="receipt-total">
        Charged <strong>{usd(r.buyer_cost_usdc)}</strong>
      </p>
      <p class="meta">Per-bucket prices and the settlement time appear here once the gateway serves single receipts.</p>
    </section>
  );
}
