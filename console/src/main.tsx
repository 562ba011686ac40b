// The console: one page, hash routes, served by the gateway under /console/.
import { render } from 'preact';
import { errorText } from './api';
import { consoleConfig } from './config';
import { shortAddress } from './money';
import { useRoute } from './router';
import { useStore } from './store';
import { useErrorBoundary } from 'preact/hooks';
import { Button, ErrorBox, useAction } from './ui';
import { Account } from './views/Account';
import { Balances } from './views/Balances';
import { Catalog } from './views/Catalog';
import { WalletPrompt } from './views/Connect';
import { Health } from './views/Health';
import { Marketplace } from './views/Marketplace';
import { Provider } from './views/Provider';
import { connect, disconnect, discover, wallet } from './wallet';
import './styles.css';

const PAGES: [string, string, () => preact.JSX.Element][] = [
  ['models', 'Models', Catalog],
  ['marketplace', 'Marketplace', Marketplace],
  ['health', 'Health', Health],
  ['balances', 'Balances', Balances],
  ['account', 'Account', Account],
  ['provider', 'Provider', Provider],
];

function WalletButton() {
  const w = useStore(wallet);
  const act = useAction(connect);
  if (w.address) {
    return (
      <div class="wallet">
        <span class="wallet-address mono" title={w.address} data-testid="wallet-address">
          {shortAddress(w.address)}
        </span>
        <Button kind="link" onClick={disconnect}>
          Disconnect
        </Button>
      </div>
    );
  }
  return (
    <div class="wallet">
      {act.error ? <span class="error-text">{errorText(act.error)}</span> : null}
      <Button kind="secondary" onClick={() => act.run()} busy={act.busy} disabled={!w.available} title={w.available ? undefined : 'No browser wallet found'}>
        Connect wallet
      </Button>
    </div>
  );
}

/** A view that throws shows what went wrong instead of a blank page. */
function Guarded(props: { view: () => preact.JSX.Element }) {
  const [error, reset] = useErrorBoundary();
  if (error) {
    return (
      <>
        <ErrorBox error={error} title="This page failed" />
        <Button kind="secondary" onClick={reset}>
          Try again
        </Button>
      </>
    );
  }
  const View = props.view;
  return <View />;
}

function App() {
  const route = useRoute();
  const page = PAGES.find((p) => p[0] === route.page) ?? PAGES[0];
  return (
    <>
      <a
        class="skip"
        href="#/"
        onClick={(e) => {
          // Hash routes: focus the content instead of following a #main fragment.
          e.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to content
      </a>
      <header class="top">
        <div class="top-inner">
          <a class="brand" href="#/models">
            Tollgate
          </a>
          <nav aria-label="Console">
            <ul>
              {PAGES.map(([id, label]) => (
                <li>
                  <a href={`#/${id}`} aria-current={id === page[0] ? 'page' : undefined}>
                    {label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          <WalletButton />
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Guarded key={page[0]} view={page[2]} />
      </main>
      <WalletPrompt />
      <footer class="foot">
        <p>
          Tollgate console · <a href="/v1/models">API</a> · nothing is stored in this browser
        </p>
      </footer>
    </>
  );
}

discover();
consoleConfig().catch(() => undefined);
render(<App />, document.getElementById('app')!);
