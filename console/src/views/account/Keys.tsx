// API keys over SIWE: create (the key is shown once, with a copy button and a warning),
// list with each key's usage, revoke. The key itself lives only in this component's state
// until it is dismissed; it is never stored.
import { useState } from 'preact/hooks';
import { count, usd, when } from '../../money';
import type { Account, KeyRow } from '../../types';
import { Badge, Button, Card, Copy, Empty, ErrorBox, Field, Notice, Table, useAction } from '../../ui';
import { signedBody } from '../../wallet';

interface Props {
  data: Account;
  setData: (f: (d: Account | null) => Account | null) => void;
}

export function Keys({ data, setData }: Props) {
  const [label, setLabel] = useState('');
  const [fresh, setFresh] = useState<{ key: string; label: string } | null>(null);
  const create = useAction(async () => {
    const k = await signedBody<{ id: string; key: string; label: string; created_at: string }>('POST', '/v1/auth/keys', 'Create a Tollgate API key', {
      label: label.trim() || 'console',
    });
    setFresh({ key: k.key, label: k.label });
    setLabel('');
    const row: KeyRow = { id: k.id, label: k.label, created_at: k.created_at, revoked_at: null, request_count: 0, total_prompt_tokens: 0, total_completion_tokens: 0, total_charged_usdc: 0 };
    setData((d) => d && { ...d, keys: [...d.keys, row] });
  });
  const revoke = useAction(async (id: string) => {
    await signedBody('DELETE', `/v1/auth/keys/${encodeURIComponent(id)}`, `Revoke Tollgate API key ${id}`);
    setData((d) => d && { ...d, keys: d.keys.map((k) => (k.id === id ? { ...k, revoked_at: new Date().toISOString() } : k)) });
  });
  const live = data.keys.filter((k) => !k.revoked_at);
  return (
    <Card title="API keys" wide id="keys">
      {fresh && (
        <div class="secret" role="alert">
          <strong>Your new key "{fresh.label}". Copy it now: it is shown this once.</strong>
          <p>Tollgate stores only its hash and cannot show it again. Keep it in a password manager or your app's secrets, never in code.</p>
          <code class="secret-value" data-testid="new-key">
            {fresh.key}
          </code>
          <div class="form-actions">
            <Copy text={fresh.key} label="Copy key" />
            <Button kind="link" onClick={() => setFresh(null)}>
              I have stored it, hide it
            </Button>
          </div>
        </div>
      )}
      <form
        class="row-form"
        onSubmit={(e) => {
          e.preventDefault();
          create.run();
        }}
      >
        <Field label="Label" hint="A name to tell keys apart, e.g. the app that uses it.">
          <input name="label" value={label} maxLength={100} onInput={(e) => setLabel((e.target as HTMLInputElement).value)} autocomplete="off" />
        </Field>
        <div class="form-actions">
          <button type="submit" class="btn btn-primary" disabled={create.busy}>
            {create.busy ? 'Creating…' : 'Create key'}
          </button>
        </div>
      </form>
      <ErrorBox error={create.error} title="No key was created" />
      <ErrorBox error={revoke.error} title="The key was not revoked" />
      {!data.keys.length ? (
        <Empty title="No API keys yet">
          Create one above, then call <code>/v1/chat/completions</code> or <code>/v1/messages</code> with it as a Bearer token from any
          OpenAI or Anthropic SDK.
        </Empty>
      ) : (
        <>
          {!live.length && <Notice>Every key of this wallet is revoked. Create a new one to make requests.</Notice>}
          <Table caption="API keys and their usage" head={['Label', 'Created', 'Status', 'Requests', 'Input tokens', 'Output tokens', 'Spent', '']} numeric={[3, 4, 5, 6]}>
            {data.keys.map((k) => (
              <tr data-key-id={k.id}>
                <th scope="row" class="key-label">
                  {k.label}
                </th>
                <td>{when(k.created_at)}</td>
                <td>{k.revoked_at ? <Badge tone="bad">revoked {when(k.revoked_at)}</Badge> : <Badge tone="good">active</Badge>}</td>
                <td class="num">{count(k.request_count)}</td>
                <td class="num">{count(k.total_prompt_tokens)}</td>
                <td class="num">{count(k.total_completion_tokens)}</td>
                <td class="num">{usd(k.total_charged_usdc)}</td>
                <td>
                  {!k.revoked_at && (
                    <Button
                      kind="danger"
                      busy={revoke.busy}
                      aria-label={`Revoke key ${k.label}`}
                      onClick={() => {
                        if (confirm(`Revoke the key "${k.label}"? Requests with it are refused at once, on every node.`)) revoke.run(k.id);
                      }}
                    >
                      Revoke
                    </Button>
                  )}
                </td>
              </tr>
            ))}
          </Table>
        </>
      )}
    </Card>
  );
}
