// The upstream and model forms (add and edit). Each save is one signed PUT; the answer says
// whether the model went live after its probe, or why not.
import { useState } from 'preact/hooks';
import { Button, ErrorBox, Field, useAction } from '../../ui';
import { signedQuery } from '../../wallet';

export interface UpstreamDraft {
  id: string;
  kind: string;
  base_url: string;
  api_key: string;
  priority: string;
  enabled: boolean;
  existing: boolean;
}

export interface ModelDraft {
  id: string;
  upstream: string;
  upstream_model: string;
  display_name: string;
  context_length: string;
  prompt: string;
  completion: string;
  cache_read: string;
  cache_write_5m: string;
  cache_write_1h: string;
  enabled: boolean;
  existing: boolean;
  kept: { input_modalities?: string[]; output_modalities?: string[]; image?: string; request?: string };
}

type Saved = (text: string, ok: boolean) => void;

function Text(props: { label: string; name: string; value: string; set: (v: string) => void; hint?: string; type?: 'text' | 'password'; mono?: boolean; required?: boolean; disabled?: boolean; inputMode?: 'decimal' | 'numeric' }) {
  return (
    <Field label={props.label} hint={props.hint}>
      <input
        name={props.name}
        type={(props.type ?? 'text') as 'text'}
        class={props.mono ? 'mono' : undefined}
        value={props.value}
        required={props.required}
        disabled={props.disabled}
        inputMode={props.inputMode}
        autocomplete="off"
        spellcheck={false}
        onInput={(e) => props.set((e.target as HTMLInputElement).value)}
      />
    </Field>
  );
}

export function UpstreamForm(props: { draft: UpstreamDraft; close: () => void; saved: Saved }) {
  const [d, setD] = useState(props.draft);
  const set = (k: keyof UpstreamDraft) => (v: string) => setD({ ...d, [k]: v });
  const save = useAction(async () => {
    const body = {
      kind: d.kind,
      base_url: d.base_url.trim(),
      api_key: d.api_key || undefined,
      priority: d.priority.trim() ? Number(d.priority) : undefined,
      enabled: d.enabled,
    };
    const r = await signedQuery<{ models: { id: string; live: boolean; status: string }[] }>(
      'PUT',
      `/v1/provider/upstreams/${encodeURIComponent(d.id.trim())}`,
      `Save my Tollgate upstream ${d.id.trim()}`,
      body,
    );
    const probed = r.models.map((m) => `${m.id} ${m.live ? 'live' : `not live (${m.status})`}`).join(', ');
    props.saved(`Upstream ${d.id.trim()} saved${probed ? `; ${probed}` : ''}.`, r.models.every((m) => m.live));
  });
  return (
    <form
      class="editor"
      aria-label={d.existing ? `Edit upstream ${d.id}` : 'Add an upstream'}
      onSubmit={(e) => {
        e.preventDefault();
        save.run();
      }}
    >
      <h3>{d.existing ? `Edit upstream ${d.id}` : 'Add an upstream'}</h3>
      <div class="form-grid">
        <Text label="Upstream id" name="upstream-id" value={d.id} set={set('id')} mono required disabled={d.existing} hint="Letters, digits, '.', '_' or '-'. Buyers pin you as id/model." />
        <Field label="API">
          <select name="kind" value={d.kind} onChange={(e) => setD({ ...d, kind: (e.target as HTMLSelectElement).value })}>
            <option value="openai">OpenAI Chat Completions</option>
            <option value="anthropic">Anthropic Messages</option>
          </select>
        </Field>
        <Text label="Base URL" name="base-url" value={d.base_url} set={set('base_url')} mono required hint="e.g. https://api.example.com/v1 (public addresses only)" />
        <Text
          label="Upstream API key"
          name="api-key"
          type="password"
          value={d.api_key}
          set={set('api_key')}
          hint={d.existing ? 'Leave empty to keep the current key.' : 'Sealed by the gateway at once; only its last 4 characters are ever shown.'}
        />
        <Text label="Priority" name="priority" value={d.priority} set={set('priority')} inputMode="numeric" hint="Lower is tried first among providers of a model." />
        <label class="check">
          <input type="checkbox" name="enabled" checked={d.enabled} onChange={(e) => setD({ ...d, enabled: (e.target as HTMLInputElement).checked })} /> Enabled
        </label>
      </div>
      <ErrorBox error={save.error} title="The upstream was not saved" />
      <div class="form-actions">
        <button type="submit" class="btn btn-primary" disabled={save.busy}>
          {save.busy ? 'Saving…' : 'Save upstream'}
        </button>
        <Button kind="link" onClick={props.close}>
          Cancel
        </Button>
      </div>
    </form>
  );
}

export function ModelForm(props: { draft: ModelDraft; upstreams: string[]; close: () => void; saved: Saved }) {
  const [d, setD] = useState(props.draft);
  const set = (k: keyof ModelDraft) => (v: string) => setD({ ...d, [k]: v });
  const save = useAction(async () => {
    const id = d.id.trim();
    const r = await signedQuery<{ live: boolean; status: string }>('PUT', `/v1/provider/models/${encodeURIComponent(id)}`, `Save my Tollgate listing ${id}`, modelBody(d));
    props.saved(r.live ? `${id} is live: buyers can call it now.` : `${id} was saved but is not live: ${r.status}`, r.live);
  });
  return (
    <form
      class="editor"
      aria-label={d.existing ? `Edit model ${d.id}` : 'List a model'}
      onSubmit={(e) => {
        e.preventDefault();
        save.run();
      }}
    >
      <h3>{d.existing ? `Edit model ${d.id}` : 'List a model'}</h3>
      <p class="muted">Prices are what you are paid, in USD per million tokens; buyers see them with the gateway's margin added.</p>
      <div class="form-grid">
        <Text label="Model id" name="model-id" value={d.id} set={set('id')} mono required disabled={d.existing} hint="The id buyers ask for, e.g. gpt-4o-mini." />
        <Field label="Upstream">
          <select name="upstream" value={d.upstream} onChange={(e) => setD({ ...d, upstream: (e.target as HTMLSelectElement).value })} required>
            {props.upstreams.map((u) => (
              <option value={u}>{u}</option>
            ))}
          </select>
        </Field>
        <Text label="Upstream model" name="upstream-model" value={d.upstream_model} set={set('upstream_model')} mono hint="The name your upstream knows it by (default: the model id)." />
        <Text label="Display name" name="display-name" value={d.display_name} set={set('display_name')} />
        <Text label="Context length" name="context-length" value={d.context_length} set={set('context_length')} inputMode="numeric" />
        <Text label="Input price" name="price-prompt" value={d.prompt} set={set('prompt')} inputMode="decimal" required />
        <Text label="Output price" name="price-completion" value={d.completion} set={set('completion')} inputMode="decimal" required />
        <Text label="Cache read price" name="price-cache-read" value={d.cache_read} set={set('cache_read')} inputMode="decimal" hint="Default: the input price." />
        <Text label="Cache write (5 min) price" name="price-cache-write-5m" value={d.cache_write_5m} set={set('cache_write_5m')} inputMode="decimal" hint="Default: the input price." />
        <Text label="Cache write (1 h) price" name="price-cache-write-1h" value={d.cache_write_1h} set={set('cache_write_1h')} inputMode="decimal" hint="Default: the input price." />
        <label class="check">
          <input type="checkbox" name="model-enabled" checked={d.enabled} onChange={(e) => setD({ ...d, enabled: (e.target as HTMLInputElement).checked })} /> Enabled
        </label>
      </div>
      <ErrorBox error={save.error} title="The model was not saved" />
      <div class="form-actions">
        <button type="submit" class="btn btn-primary" disabled={save.busy}>
          {save.busy ? 'Probing and saving…' : 'Save and probe'}
        </button>
        <Button kind="link" onClick={props.close}>
          Cancel
        </Button>
      </div>
    </form>
  );
}

/** The `PUT /v1/provider/models/:id` body of a draft. */
export function modelBody(d: ModelDraft): object {
  const pricing: Record<string, string> = { prompt: d.prompt.trim(), completion: d.completion.trim() };
  for (const k of ['cache_read', 'cache_write_5m', 'cache_write_1h'] as const) if (d[k].trim()) pricing[k] = d[k].trim();
  if (d.kept.image) pricing.image = d.kept.image;
  if (d.kept.request) pricing.request = d.kept.request;
  return {
    input_modalities: d.kept.input_modalities,
    output_modalities: d.kept.output_modalities,
    upstream: d.upstream,
    upstream_model: d.upstream_model.trim() || undefined,
    display_name: d.display_name.trim() || undefined,
    context_length: d.context_length.trim() ? Number(d.context_length) : undefined,
    pricing,
    enabled: d.enabled,
  };
}
