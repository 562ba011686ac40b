// The caller's marketplace listings (`GET /v1/provider/status`), their health (the public
// `GET /v1/health/providers`), and the forms that change them. Every change is a PUT of the
// whole listing with a fresh SIWE pair in its query; a model goes live only after the
// gateway's probe succeeded with usage, and the answer says why when it did not.
import { useState } from 'preact/hooks';
import { api } from '../../api';
import { count, percent } from '../../money';
import type { HealthRow, ListedModel, Upstream } from '../../types';
import { Badge, Button, Card, Empty, ErrorBox, healthTone, Notice, Table, useAction } from '../../ui';
import { signedGet, signedQuery } from '../../wallet';
import { ModelForm, modelBody, UpstreamForm, type ModelDraft, type UpstreamDraft } from './Forms';

interface Status {
  wallet: string;
  upstreams: Upstream[];
}

export function Listings() {
  const [data, setData] = useState<Status | null>(null);
  const [health, setHealth] = useState<HealthRow[]>([]);
  const [editUp, setEditUp] = useState<UpstreamDraft | null>(null);
  const [editModel, setEditModel] = useState<ModelDraft | null>(null);
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);
  const load = useAction(async () => {
    const s = await signedGet<Status>('/v1/provider/status', 'Read my Tollgate listings');
    setData(s);
    setHealth((await api<{ data: HealthRow[] }>('/v1/health/providers')).data);
  });
  const toggle = useAction(async (u: Upstream, m: ListedModel) => {
    const body = modelBody({ ...draftOf(u.id, m), enabled: !m.enabled });
    const r = await signedQuery<{ live: boolean; status: string }>('PUT', `/v1/provider/models/${encodeURIComponent(m.id)}`, `${m.enabled ? 'Disable' : 'Enable'} my Tollgate listing ${m.id}`, body);
    setNotice({ ok: r.live || m.enabled, text: `${m.id}: ${r.live ? 'live' : r.status}` });
    await load.run();
  });
  const ups = data?.upstreams ?? [];
  return (
    <Card
      title="Listings"
      wide
      id="listings"
      actions={
        <Button kind={data ? 'secondary' : 'primary'} onClick={() => load.run()} busy={load.busy}>
          {data ? 'Refresh' : 'Sign in and load listings'}
        </Button>
      }
    >
      <ErrorBox error={load.error} title="Listings could not be read" />
      <ErrorBox error={toggle.error} title="The listing was not changed" />
      {notice && (
        <Notice kind={notice.ok ? 'success' : 'warning'} title="Saved">
          {notice.text}
        </Notice>
      )}
      {!data ? (
        <p class="muted">Your wallet signs one message to read your upstreams and models, and one for each change.</p>
      ) : (
        <>
          {!ups.length && (
            <Empty title="No upstreams yet">
              Add the OpenAI- or Anthropic-compatible endpoint you serve from, with its API key (sealed at once, never shown again), then list
              a model on it with your prices.
            </Empty>
          )}
          {ups.map((u) => (
            <section class="subsection" aria-label={`Upstream ${u.id}`} data-upstream={u.id}>
              <div class="card-head">
                <h3>
                  <span class="mono">{u.id}</span> <Badge tone={u.enabled ? healthTone(u.health) : 'neutral'}>{u.enabled ? (u.health ?? 'not routed') : 'disabled'}</Badge>
                  {u.suspended && <Badge tone="bad">suspended</Badge>}
                </h3>
                <div class="card-actions">
                  <Button kind="secondary" onClick={() => setEditUp({ id: u.id, kind: u.kind, base_url: u.base_url, api_key: '', priority: String(u.priority), enabled: u.enabled, existing: true })}>
                    Edit upstream
                  </Button>
                  <Button kind="secondary" onClick={() => setEditModel({ ...emptyModel(), upstream: u.id })}>
                    List a model
                  </Button>
                </div>
              </div>
              <p class="meta">
                {u.kind} · <span class="mono break">{u.base_url}</span> · key …{u.api_key_last4 ?? '—'} · priority {u.priority} · last 24 h {count(u.last_24h.requests)} requests
                {u.last_24h.usage_missing + u.last_24h.usage_disproved > 0 && `, ${u.last_24h.usage_missing} without usage, ${u.last_24h.usage_disproved} disproved`}
              </p>
              {u.suspended_reason && <Notice kind="warning" title="Suspended">{u.suspended_reason}</Notice>}
              {u.models.length ? (
                <Table caption={`Models on ${u.id}`} head={['Model', 'Status', 'Input $/1M', 'Output $/1M', 'Uptime 24 h', 'Success 24 h', '']} numeric={[2, 3, 4, 5]}>
                  {u.models.map((m) => {
                    const h = health.find((r) => r.provider === u.id && r.model === m.id);
                    return (
                      <tr data-model={m.id}>
                        <th scope="row">
                          <span>
                            <span class="mono">{m.id}</span>
                            {m.display_name !== m.id && <span class="muted"> {m.display_name}</span>}
                          </span>
                        </th>
                        <td>
                          <span>
                            <Badge tone={!m.enabled ? 'neutral' : m.live ? 'good' : 'bad'}>{!m.enabled ? 'disabled' : m.live ? 'live' : 'not live'}</Badge>
                            {m.enabled && !m.live && <span class="muted"> {m.status}</span>}
                          </span>
                        </td>
                        <td class="num">${m.pricing.prompt}</td>
                        <td class="num">${m.pricing.completion}</td>
                        <td class="num">{percent(h?.uptime_24h)}</td>
                        <td class="num">{percent(h?.success_rate_24h)}</td>
                        <td class="actions-cell">
                          <span>
                          <Button kind="link" onClick={() => setEditModel(draftOf(u.id, m))} aria-label={`Edit ${m.id}`}>
                            Edit
                          </Button>
                          <Button kind="link" busy={toggle.busy} onClick={() => toggle.run(u, m)} aria-label={`${m.enabled ? 'Disable' : 'Enable'} ${m.id}`}>
                            {m.enabled ? 'Disable' : 'Enable'}
                          </Button>
                          </span>
                        </td>
                      </tr>
                    );
                  })}
                </Table>
              ) : (
                <p class="muted">No models on this upstream yet.</p>
              )}
            </section>
          ))}
          <div class="form-actions">
            <Button onClick={() => setEditUp({ id: '', kind: 'openai', base_url: '', api_key: '', priority: '100', enabled: true, existing: false })}>Add an upstream</Button>
          </div>
        </>
      )}
      {editUp && (
        <UpstreamForm
          draft={editUp}
          close={() => setEditUp(null)}
          saved={async (text, ok) => {
            setEditUp(null);
            setNotice({ ok, text });
            await load.run();
          }}
        />
      )}
      {editModel && (
        <ModelForm
          draft={editModel}
          upstreams={ups.map((u) => u.id)}
          close={() => setEditModel(null)}
          saved={async (text, ok) => {
            setEditModel(null);
            setNotice({ ok, text });
            await load.run();
          }}
        />
      )}
    </Card>
  );
}

export function emptyModel(): ModelDraft {
  return { id: '', upstream: '', upstream_model: '', display_name: '', context_length: '', prompt: '', completion: '', cache_read: '', cache_write_5m: '', cache_write_1h: '', enabled: true, existing: false, kept: {} };
}

function draftOf(upstream: string, m: ListedModel): ModelDraft {
  return {
    id: m.id,
    upstream,
    upstream_model: m.upstream_model,
    display_name: m.display_name,
    context_length: m.context_length ? String(m.context_length) : '',
    prompt: m.pricing.prompt ?? '',
    completion: m.pricing.completion ?? '',
    cache_read: m.pricing.cache_read ?? '',
    cache_write_5m: m.pricing.cache_write_5m ?? '',
    cache_write_1h: m.pricing.cache_write_1h ?? '',
    enabled: m.enabled,
    existing: true,
    // Not in the form: sent back as listed, so an edit changes only what the form shows.
    kept: {
      input_modalities: m.input_modalities,
      output_modalities: m.output_modalities,
      image: m.pricing.image,
      request: m.pricing.request,
    },
  };
}
