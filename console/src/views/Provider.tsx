// The provider's page, signed in with the payout wallet: earnings per model per day and
// payouts (`GET /provider/earnings`), and — with the marketplace — upstreams and models,
// added, edited and disabled through the listing endpoints with a SIWE pair per call.
import { useConfig } from '../ui';
import { Page, Notice } from '../ui';
import { WalletGate } from './Connect';
import { Earnings } from './provider/Earnings';
import { Listings } from './provider/Listings';

export function Provider() {
  const c = useConfig();
  return (
    <Page title="Provider" lead="Earnings, payouts and listings for the wallet your earnings are paid to.">
      <WalletGate why="Connect your payout wallet: the address providers are paid to is the one that signs in here.">
        <div class="stack">
          <Earnings />
          {c && !c.marketplace ? (
            <Notice kind="info" title="The marketplace is off on this gateway">
              Providers are listed by the operator in the configuration file; earnings above still show for a configured payout address.
            </Notice>
          ) : (
            <Listings />
          )}
        </div>
      </WalletGate>
    </Page>
  );
}
