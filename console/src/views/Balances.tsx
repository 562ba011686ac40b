// A balance checker, as Token Kiosk's: watch any addresses' available balance (the public
// `GET /v1/balance/:wallet`), refreshed every 30 s. The watched addresses live in the page's
// address (`#/balances?watch=0x…,0x…`), so a list can be bookmarked; nothing is stored.
import { useEffect, useState } from 'preact/hooks';
import { api, errorText } from '../api';
import { isAddress, shortAddress, usd } from '../money';
import { navigate, useRoute } from '../router';
import { useStore } from '../store';
import { wallet } from '../wallet';
import { Button, Card, Empty, Field, Page, Table } from '../ui';

export const REFRESH_MS = 30_000;

interface Row {
  available?: number;
  error?: string;
}

export function Balances() {
  const route = useRoute();
  const w = useStore(wallet);
  const watched = (route.params.get('watch') ?? '').split(',').filter(isAddress);
  const [input, setInput] = useState('');
  const [inputError, setInputError] = useState<string | null>(null);
  const [rows, setRows] = useState<Record<string, Row>>({});
  const [at, setAt] = useState<Date | null>(null);

  const key = watched.join(',');
  useEffect(() => {
    let stop = false;
    const refresh = async () => {
      const next: Record<string, Row> = {};
      await Promise.all(
        watched.map(async (a) => {
          try {
            next[a] = { available: (await api<{ available_usdc: number }>(`/v1/balance/${a}`)).available_usdc };
          } catch (e) {
            next[a] = { error: errorText(e) };
          }
        }),
      );
      if (!stop) {
        setRows(next);
        setAt(new Date());
      }
    };
    if (watched.length) refresh();
    const t = setInterval(() => watched.length && refresh(), REFRESH_MS);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, [key]);

  const setWatched = (list: string[]) => navigate('balances', list.length ? { watch: list.join(',') } : {});
  const add = (a: string) => {
    const t = a.trim();
    if (!isAddress(t)) {
      setInputError('An address is 0x followed by 40 hexadecimal digits');
      return;
    }
    setInputError(null);
    setInput('');
    if (!watched.some((x) => x.toLowerCase() === t.toLowerCase())) setWatched([...watched, t]);
  };

  return (
    <Page title="Balances" lead="Watch the available balance of any wallet. Refreshed every 30 seconds; the list is kept in this page's address, so you can bookmark it.">
      <Card title="Watch an address">
        <form
          class="row-form"
          onSubmit={(e) => {
            e.preventDefault();
            add(input);
          }}
        >
          <Field label="Wallet address" error={inputError}>
            <input
              name="address"
              value={input}
              onInput={(e) => setInput((e.target as HTMLInputElement).value)}
              placeholder="0x…"
              autocomplete="off"
              spellcheck={false}
              class="mono"
            />
          </Field>
          <div class="form-actions">
            <button type="submit" class="btn btn-primary">
              Watch
            </button>
            {w.address && (
              <Button kind="secondary" onClick={() => add(w.address!)}>
                Watch my wallet
              </Button>
            )}
          </div>
        </form>
      </Card>
      <Card title="Watched" actions={at && <span class="muted" role="status">Refreshed {at.toLocaleTimeString('en-GB')}</span>}>
        {!watched.length ? (
          <Empty title="No addresses watched">Enter a wallet address above to see what it can spend on this gateway.</Empty>
        ) : (
          <Table caption="Watched balances" head={['Address', 'Available', '']} numeric={[1]}>
            {watched.map((a) => (
              <tr data-address={a.toLowerCase()}>
                <th scope="row">
                  <span class="mono addr-full">{a}</span>
                  <span class="mono addr-short">{shortAddress(a)}</span>
                </th>
                <td class="num">{rows[a]?.error ? <span class="error-text">{rows[a].error}</span> : rows[a] ? usd(rows[a].available) : '…'}</td>
                <td>
                  <Button kind="link" onClick={() => setWatched(watched.filter((x) => x !== a))} aria-label={`Remove ${a}`}>
                    Remove
                  </Button>
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Card>
    </Page>
  );
}
