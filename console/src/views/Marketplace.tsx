// `GET /v1/marketplace`: every routed provider, its models and prices, and its last 24 hours.
import { api } from '../api';
import { count, ms, percent } from '../money';
import type { MarketProvider } from '../types';
import { Badge, Card, Empty, ErrorBox, healthTone, Loading, Page, Stats, Table, useLoad } from '../ui';
import { price } from './Catalog';

export function Marketplace() {
  const { data, error, loading } = useLoad(() => api<{ providers: MarketProvider[] }>('/v1/marketplace').then((r) => r.providers));
  return (
    <Page title="Marketplace" lead="The providers behind this gateway: the operator's own and those who listed through the API.">
      {loading ? (
        <Loading what="the marketplace" />
      ) : error ? (
        <ErrorBox error={error} title="The marketplace could not be loaded" />
      ) : !data?.length ? (
        <Empty title="No providers yet">Providers join from the Provider page: sign in with a wallet, add an upstream, list a model.</Empty>
      ) : (
        <div class="grid">
          {data.map((p) => (
            <Card
              title={<span class="mono">{p.id}</span>}
              actions={
                <>
                  <Badge tone={p.source === 'marketplace' ? 'info' : 'neutral'}>{p.source}</Badge>
                  <Badge tone={healthTone(p.health)}>{p.health}</Badge>
                </>
              }
            >
              <p class="meta">
                {p.api === 'openai' ? 'OpenAI Chat Completions' : 'Anthropic Messages'} API · buyer prices per million tokens (all buckets on the Models page)
              </p>
              <Stats
                items={[
                  ['Requests, 24 h', count(p.last_24h?.requests ?? 0)],
                  ['Success', percent(p.last_24h?.success_rate)],
                  ['Mean latency', ms(p.last_24h?.mean_latency_ms)],
                  ['Tokens, 24 h', count(p.last_24h?.tokens ?? 0)],
                ]}
              />
              <Table caption={`Models of ${p.id}`} head={['Model', 'Input $/1M', 'Output $/1M']} numeric={[1, 2]}>
                {p.models.map((m) => (
                  <tr>
                    <th scope="row" class="mono">
                      {m.id}
                    </th>
                    <td class="num">{price(m.pricing, 'prompt')}</td>
                    <td class="num">{price(m.pricing, 'completion')}</td>
                  </tr>
                ))}
              </Table>
            </Card>
          ))}
        </div>
      )}
    </Page>
  );
}
