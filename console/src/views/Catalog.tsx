// `GET /v1/models`: every public model id and each provider's buyer prices for it.
import { api } from '../api';
import { count } from '../money';
import type { Model } from '../types';
import { Badge, Card, Empty, ErrorBox, healthTone, Loading, Page, Table, useLoad } from '../ui';

export function price(p: Record<string, string>, k: string): string {
  return p[k] !== undefined ? `$${p[k]}` : '—';
}

export function Catalog() {
  return (
    <Page title="Models" lead="Every model this gateway serves, with each provider's price to buyers in USD per million tokens.">
      <ModelList />
    </Page>
  );
}

function ModelList() {
  const { data, error, loading } = useModels();
  if (loading) return <Loading what="the catalog" />;
  if (error) return <ErrorBox error={error} title="The catalog could not be loaded" />;
  if (!data?.length)
    return (
      <Empty title="No models yet">
        The operator lists providers in the gateway's configuration file, and providers can join through the marketplace: open the
        Provider page, sign in with your payout wallet and list an upstream and a model.
      </Empty>
    );
  return (
    <div class="stack">
      {data.map((m) => (
        <Card
          title={
            <>
              <span class="mono">{m.id}</span>
              {m.name && m.name !== m.id && <span class="subtitle">{m.name}</span>}
            </>
          }
        >
          <p class="meta">
            Context {m.context_length ? `${count(m.context_length)} tokens` : 'not stated'} · input {m.input_modalities.join(', ')} · output{' '}
            {m.output_modalities.join(', ')} · {m.endpoints.length} {m.endpoints.length === 1 ? 'provider' : 'providers'}
          </p>
          <Table caption={`Providers of ${m.id}`} head={['Provider', 'API', 'Health', 'Input', 'Output', 'Cache read', 'Cache write 5m', 'Cache write 1h']} numeric={[3, 4, 5, 6, 7]}>
            {m.endpoints.map((e) => (
              <tr>
                <th scope="row">
                  <span>
                    <span class="mono">{e.provider}</span> {e.marketplace ? <Badge tone="info">marketplace</Badge> : <Badge>operator</Badge>}
                  </span>
                </th>
                <td>{e.api}</td>
                <td>
                  <Badge tone={healthTone(e.health)}>{e.health}</Badge>
                </td>
                <td class="num">{price(e.pricing, 'prompt')}</td>
                <td class="num">{price(e.pricing, 'completion')}</td>
                <td class="num">{price(e.pricing, 'cache_read')}</td>
                <td class="num">{price(e.pricing, 'cache_write_5m')}</td>
                <td class="num">{price(e.pricing, 'cache_write_1h')}</td>
              </tr>
            ))}
          </Table>
          <p class="meta">
            Call it as <code>{m.id}</code> (any provider, with failover) or <code>{`${m.endpoints[0]?.provider}/${m.id}`}</code> to pin one.
          </p>
        </Card>
      ))}
    </div>
  );
}

export function useModels() {
  return useLoad(() => api<{ data: Model[] }>('/v1/models').then((r) => r.data));
}
