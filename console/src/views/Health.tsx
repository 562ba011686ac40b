// `GET /v1/health/providers` (every provider and model: state, breaker, uptime, latency) and
// `GET /v1/health/history` (probe results, newest first, cursor-paged) for one of them.
import { useState } from 'preact/hooks';
import { api, query } from '../api';
import { LatencyLine } from '../charts';
import { ms, percent, when, whenExact } from '../money';
import type { HealthRow, Probe } from '../types';
import { Badge, Button, Card, Empty, ErrorBox, healthTone, Loading, Page, Table, useAction, useLoad } from '../ui';

export function Health() {
  const { data, error, loading, reload } = useLoad(() => api<{ probe_interval_ms: number; data: HealthRow[] }>('/v1/health/providers'));
  const [pick, setPick] = useState<{ provider: string; model: string } | null>(null);
  const rows = data?.data ?? [];
  const chosen = pick ?? (rows[0] ? { provider: rows[0].provider, model: rows[0].model } : null);
  return (
    <Page
      title="Provider health"
      lead={
        data
          ? `Live state on this node and the fleet's record. Each provider and model is probed every ${Math.round(data.probe_interval_ms / 1000)} s.`
          : 'Live state on this node and the fleet’s record.'
      }
    >
      <Card
        title="Providers"
        actions={
          <Button kind="secondary" onClick={reload} busy={loading}>
            Refresh
          </Button>
        }
        wide
      >
        {loading && !data ? (
          <Loading what="provider health" />
        ) : error ? (
          <ErrorBox error={error} title="Health could not be loaded" />
        ) : !rows.length ? (
          <Empty title="Nothing to watch yet">Health appears here once the gateway serves a model.</Empty>
        ) : (
          <Table
            caption="Health of every provider and model"
            head={['Provider / model', 'State', 'Breaker', 'Uptime 24 h', 'Uptime 7 d', 'Success 24 h', 'p50 / p95 1 h', 'Last probe', '']}
            numeric={[3, 4, 5, 6]}
          >
            {rows.map((r) => (
              <tr class={chosen?.provider === r.provider && chosen.model === r.model ? 'selected' : undefined}>
                <th scope="row">
                  <span>
                    <span class="mono">{r.provider}</span>
                    <br />
                    <span class="mono muted">{r.model}</span>
                  </span>
                </th>
                <td>
                  <Badge tone={healthTone(r.state)}>{r.state}</Badge>
                </td>
                <td>
                  <Badge tone={healthTone(r.breaker)}>{r.breaker.replace('_', '-')}</Badge>
                </td>
                <td class="num">{percent(r.uptime_24h)}</td>
                <td class="num">{percent(r.uptime_7d)}</td>
                <td class="num">{percent(r.success_rate_24h)}</td>
                <td class="num">
                  {ms(r.latency_ms.p50_1h)} / {ms(r.latency_ms.p95_1h)}
                </td>
                <td>
                  {r.last_probe ? (
                    <span>
                      <Badge tone={healthTone(r.last_probe.result)}>{r.last_probe.result}</Badge> {when(r.last_probe.at)}
                    </span>
                  ) : r.probe === 'skipped' ? (
                    <span class="muted">not probed</span>
                  ) : (
                    <span class="muted">none yet</span>
                  )}
                </td>
                <td>
                  <Button kind="link" onClick={() => setPick({ provider: r.provider, model: r.model })} aria-label={`History of ${r.provider} ${r.model}`}>
                    History
                  </Button>
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Card>
      {chosen && <History key={`${chosen.provider}/${chosen.model}`} provider={chosen.provider} model={chosen.model} />}
    </Page>
  );
}

function History(props: { provider: string; model: string }) {
  const first = useLoad(() => page(undefined), []);
  const [more, setMore] = useState<Probe[]>([]);
  const [cursor, setCursor] = useState<string | null | undefined>(undefined);
  const older = useAction(async () => {
    const p = await page(cursor ?? first.data?.next_cursor ?? undefined);
    setMore((m) => [...m, ...p.data]);
    setCursor(p.next_cursor);
  });
  function page(c: string | undefined) {
    return api<{ data: Probe[]; next_cursor: string | null }>(
      `/v1/health/history${query({ provider: props.provider, model: props.model, limit: 50, cursor: c })}`,
    );
  }
  const probes = [...(first.data?.data ?? []), ...more];
  const next = cursor === undefined ? first.data?.next_cursor : cursor;
  const fails = probes.filter((p) => p.result !== 'ok').length;
  return (
    <Card title={`Probe history: ${props.provider} / ${props.model}`} wide>
      {first.loading ? (
        <Loading what="probe history" />
      ) : first.error ? (
        <ErrorBox error={first.error} title="The history could not be loaded" />
      ) : !probes.length ? (
        <Empty title="No probes yet">The first probe runs within one probe interval of the gateway starting.</Empty>
      ) : (
        <>
          <LatencyLine
            title="Probe latency"
            summary={`${probes.length} probes, ${fails} failed; latest ${ms(probes[0].latency_ms)}`}
            points={probes.slice(0, 100).map((p) => ({ at: p.at, ms: p.latency_ms, ok: p.result === 'ok' }))}
          />
          <Table caption="Probe results, newest first" head={['When', 'Result', 'Latency', 'First byte', 'Status', 'Usage seen', 'Error']} numeric={[2, 3]}>
            {probes.map((p) => (
              <tr>
                <td>{whenExact(p.at)}</td>
                <td>
                  <Badge tone={healthTone(p.result)}>{p.result}</Badge>
                </td>
                <td class="num">{ms(p.latency_ms)}</td>
                <td class="num">{ms(p.ttfb_ms)}</td>
                <td>{p.status ?? '—'}</td>
                <td>{p.usage_seen ? 'yes' : 'no'}</td>
                <td class="wrap">{p.error ?? ''}</td>
              </tr>
            ))}
          </Table>
          <ErrorBox error={older.error} />
          {next && (
            <Button kind="secondary" onClick={() => older.run()} busy={older.busy}>
              Older probes
            </Button>
          )}
        </>
      )}
    </Card>
  );
}
