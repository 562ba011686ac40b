// What a signed-in page shows before a wallet is connected, and the wallet's prompt status.
import type { ComponentChildren } from 'preact';
import { useStore } from '../store';
import { Button, Card, ErrorBox, Notice, useAction, useConfig } from '../ui';
import { connect, wallet } from '../wallet';

export function WalletGate(props: { why: string; children: ComponentChildren }) {
  const w = useStore(wallet);
  const c = useConfig();
  const act = useAction(connect);
  if (c && !c.siwe) {
    return (
      <Notice kind="warning" title="Wallet sign-in is off on this gateway">
        It needs <code>server.public_url</code> and a <code>chain:</code> section in the gateway's configuration.
      </Notice>
    );
  }
  if (!w.address) {
    return (
      <Card title="Connect a wallet">
        <p>{props.why}</p>
        <p class="muted">
          Every action is signed by your wallet with a fresh Sign-In with Ethereum message. There is no session and nothing is stored in this
          browser: not your keys, not your signatures.
        </p>
        {!w.available && <Notice kind="warning">No browser wallet was found. Install one (for example MetaMask) and reload this page.</Notice>}
        <ErrorBox error={act.error} title="The wallet did not connect" />
        <Button onClick={() => act.run()} busy={act.busy} disabled={!w.available}>
          Connect wallet
        </Button>
      </Card>
    );
  }
  return (
    <>
      {c?.public_url && location.origin !== c.public_url && (
        <Notice kind="warning" title="Open the console at this gateway's public address">
          Sign-in messages name {c.public_url}; your wallet may warn that they do not match this page ({location.origin}).
        </Notice>
      )}
      {props.children}
    </>
  );
}

/** "Waiting for your wallet…" while a signature is being asked for. */
export function WalletPrompt() {
  const w = useStore(wallet);
  if (!w.pending) return null;
  return (
    <div class="wallet-prompt" role="status" aria-live="polite">
      <strong>Check your wallet</strong>
      <span>{w.pending}</span>
    </div>
  );
}
