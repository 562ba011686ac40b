// The console's small design system: layout, buttons, fields, notices, tables, and the few
// composite pieces every view uses (an error box with the API's message, empty states, a
// transaction link, a copy button). Text is always rendered as text: nothing here, or
// anywhere in the console, writes HTML from a string.

import { cloneElement, isValidElement, toChildArray, type ButtonHTMLAttributes, type ComponentChildren, type VNode } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { errorText } from './api';
import { consoleConfig, txUrl } from './config';
import type { ConsoleConfig } from './types';

export function Page(props: { title: string; lead?: ComponentChildren; children: ComponentChildren }) {
  useEffect(() => {
    document.title = `${props.title} · Tollgate`;
  }, [props.title]);
  return (
    <section class="page" aria-labelledby="page-title">
      <header class="page-head">
        <h1 id="page-title">{props.title}</h1>
        {props.lead && <p class="lead">{props.lead}</p>}
      </header>
      {props.children}
    </section>
  );
}

export function Card(props: { title?: ComponentChildren; actions?: ComponentChildren; children: ComponentChildren; id?: string; wide?: boolean }) {
  return (
    <section class={props.wide ? 'card card-wide' : 'card'} id={props.id} aria-label={typeof props.title === 'string' ? props.title : undefined}>
      {(props.title || props.actions) && (
        <div class="card-head">
          {props.title && <h2>{props.title}</h2>}
          {props.actions && <div class="card-actions">{props.actions}</div>}
        </div>
      )}
      {props.children}
    </section>
  );
}

export function Button(props: ButtonHTMLAttributes<HTMLButtonElement> & { kind?: 'primary' | 'secondary' | 'danger' | 'link'; busy?: boolean }) {
  const { kind = 'primary', busy, children, ...rest } = props;
  return (
    <button type="button" {...rest} class={`btn btn-${kind}`} disabled={busy || (rest.disabled as boolean)} aria-busy={busy ? 'true' : undefined}>
      {children}
    </button>
  );
}

/** A labelled control; the label names it, the hint and error follow it (not part of its name). */
export function Field(props: { label: string; hint?: ComponentChildren; children: ComponentChildren; error?: string | null }) {
  return (
    <div class="field">
      <label class="field-control">
        <span class="field-label">{props.label}</span>
        {props.children}
      </label>
      {props.hint && <span class="field-hint">{props.hint}</span>}
      {props.error && (
        <span class="field-error" role="alert">
          {props.error}
        </span>
      )}
    </div>
  );
}

/** An error from the API (its message), or any other failure, shown in place. */
export function ErrorBox(props: { error: unknown; title?: string }) {
  if (!props.error) return null;
  return (
    <div class="notice notice-error" role="alert">
      <strong>{props.title ?? 'That did not work'}</strong>
      <span>{errorText(props.error)}</span>
    </div>
  );
}

export function Notice(props: { kind?: 'info' | 'success' | 'warning'; title?: string; children: ComponentChildren }) {
  return (
    <div class={`notice notice-${props.kind ?? 'info'}`} role={props.kind === 'success' ? 'status' : undefined}>
      {props.title && <strong>{props.title}</strong>}
      <span>{props.children}</span>
    </div>
  );
}

export function Empty(props: { title: string; children: ComponentChildren }) {
  return (
    <div class="empty">
      <strong>{props.title}</strong>
      <p>{props.children}</p>
    </div>
  );
}

export function Loading(props: { what?: string }) {
  return (
    <p class="loading" role="status">
      Loading{props.what ? ` ${props.what}` : ''}…
    </p>
  );
}

export function Badge(props: { tone?: 'good' | 'bad' | 'warn' | 'neutral' | 'info'; children: ComponentChildren }) {
  return <span class={`badge badge-${props.tone ?? 'neutral'}`}>{props.children}</span>;
}

export function healthTone(h: string | null | undefined): 'good' | 'bad' | 'warn' | 'neutral' {
  if (h === 'healthy' || h === 'ok' || h === 'live' || h === 'paid' || h === 'credited' || h === 'closed') return 'good';
  if (h === 'unhealthy' || h === 'fail' || h === 'failed' || h === 'timeout' || h === 'open') return 'bad';
  if (h === 'pending' || h === 'half_open' || h === 'probing') return 'warn';
  return 'neutral';
}

/** A table; on narrow screens each row becomes a small card whose cells are labelled with
 *  their column (`data-label`, added here to every cell of every row). */
export function Table(props: { caption: string; head: string[]; children: ComponentChildren; numeric?: number[] }) {
  const label = (row: ComponentChildren) => {
    if (!isValidElement(row)) return row;
    const r = row as VNode<{ children?: ComponentChildren }>;
    const cells = toChildArray(r.props.children).map((c, i) =>
      isValidElement(c) && props.head[i] ? cloneElement(c as VNode<Record<string, unknown>>, { 'data-label': props.head[i] }) : c,
    );
    return cloneElement(r, {}, ...cells);
  };
  const rows = toChildArray(props.children).map(label);
  return (
    <div class="table-wrap" tabIndex={0} role="region" aria-label={props.caption}>
      <table>
        <caption class="visually-hidden">{props.caption}</caption>
        <thead>
          <tr>
            {props.head.map((h, i) => (
              <th scope="col" class={props.numeric?.includes(i) ? 'num' : undefined}>
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{rows}</tbody>
      </table>
    </div>
  );
}

export function useConfig(): ConsoleConfig | null {
  const [c, setC] = useState<ConsoleConfig | null>(null);
  useEffect(() => {
    consoleConfig().then(setC, () => setC(null));
  }, []);
  return c;
}

/** A transaction hash: linked to the explorer when one is configured, copyable either way. */
export function Tx(props: { hash: string | null | undefined }) {
  const c = useConfig();
  if (!props.hash) return <span class="muted">—</span>;
  const url = c ? txUrl(c, props.hash) : null;
  const short = `${props.hash.slice(0, 10)}…${props.hash.slice(-8)}`;
  return (
    <span class="tx">
      {url ? (
        <a href={url} target="_blank" rel="noopener noreferrer" title={props.hash} data-tx={props.hash}>
          {short}
        </a>
      ) : (
        <code title={props.hash} data-tx={props.hash}>
          {short}
        </code>
      )}
      <Copy text={props.hash} label="Copy transaction hash" small />
    </span>
  );
}

export function Copy(props: { text: string; label: string; small?: boolean }) {
  const [done, setDone] = useState<'idle' | 'copied' | 'failed'>('idle');
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.text);
      setDone('copied');
    } catch {
      setDone('failed');
    }
    setTimeout(() => setDone('idle'), 2000);
  };
  // The button's name stays what it shows; the outcome is announced beside it.
  return (
    <>
      <button type="button" class={props.small ? 'btn btn-link btn-small' : 'btn btn-secondary'} onClick={copy} aria-label={props.small ? props.label : undefined}>
        {props.small ? 'Copy' : props.label}
      </button>
      <span class="copy-status" role="status">
        {done === 'copied' ? 'Copied' : done === 'failed' ? 'Copy failed' : ''}
      </span>
    </>
  );
}

/** A definition list of figures (balances, totals). */
export function Stats(props: { items: [string, ComponentChildren, string?][] }) {
  return (
    <dl class="stats">
      {props.items.map(([k, v, hint]) => (
        <div class="stat">
          <dt>{k}</dt>
          <dd>{v}</dd>
          {hint && <dd class="stat-hint">{hint}</dd>}
        </div>
      ))}
    </dl>
  );
}

/** Run an async action with a busy flag and its error. */
export function useAction<A extends unknown[], T>(f: (...a: A) => Promise<T>) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = async (...a: A): Promise<T | undefined> => {
    setBusy(true);
    setError(null);
    try {
      return await f(...a);
    } catch (e) {
      setError(e);
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, run, setError };
}

/** Load data on mount (and when `deps` change). */
export function useLoad<T>(f: () => Promise<T>, deps: unknown[] = []) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const reload = async () => {
    setLoading(true);
    setError(null);
    try {
      setData(await f());
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => {
    reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return { data, error, loading, reload, setData };
}
