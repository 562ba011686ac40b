// The shapes of the gateway's answers the console reads (README, "API").

export interface ConsoleConfig {
  public_url: string | null;
  chain_id: number | null;
  siwe: boolean;
  ledger: boolean;
  marketplace: boolean;
  settlement: null | {
    network: string;
    usdc: string;
    treasury_vault: string;
    topup_min_usdc: number;
    topup_max_usdc: number;
  };
  explorer_url: string | null;
}

export type Pricing = Record<string, string>;

export interface Endpoint {
  provider: string;
  api: string;
  pricing: Pricing;
  context_length: number | null;
  health: string;
  marketplace: boolean;
}

export interface Model {
  id: string;
  name: string;
  provider: string;
  context_length: number | null;
  input_modalities: string[];
  output_modalities: string[];
  pricing: Pricing;
  endpoints: Endpoint[];
}

export interface MarketProvider {
  id: string;
  api: string;
  source: 'operator' | 'marketplace';
  health: string;
  models: { id: string; name: string; context_length: number | null; pricing: Pricing }[];
  last_24h: null | {
    requests: number;
    success_rate: number | null;
    mean_latency_ms: number | null;
    mean_ttfb_ms: number | null;
    tokens: number;
  };
}

export interface Probe {
  id: number;
  at: string;
  provider: string;
  model: string;
  result: 'ok' | 'fail' | 'timeout';
  latency_ms: number;
  ttfb_ms: number | null;
  status: number | null;
  error: string | null;
  usage_seen: boolean;
}

export interface HealthRow {
  provider: string;
  model: string;
  state: string;
  breaker: string;
  in_flight: number;
  ttfb_ewma_ms: number | null;
  probe: string;
  last_probe: Probe | null;
  latency_ms: { p50_1h: number | null; p95_1h: number | null; p50_24h: number | null; p95_24h: number | null };
  success_rate_24h: number | null;
  requests_24h: number;
  uptime_24h: number | null;
  uptime_7d: number | null;
}

export interface RequestRow {
  request_id: string;
  created_at_ms: number;
  key_id: string;
  provider: string;
  model: string;
  stream: boolean;
  status: string;
  http_status: number;
  input_tokens: number;
  cache_write_5m_tokens: number;
  cache_write_1h_tokens: number;
  cache_read_tokens: number;
  output_tokens: number;
  buyer_cost_usdc: number;
  latency_ms: number;
  ttfb_ms: number | null;
  error_code: string | null;
}

export interface Credit {
  id: string;
  kind: string;
  amount_usdc: number;
  status: string;
  tx_hash: string | null;
  error: string | null;
  created_at: string;
}

export interface Withdrawal {
  withdrawal_id: string;
  amount_usdc: number;
  status: string;
  tx_hash: string | null;
  error: string | null;
  created_at: string;
}

export interface KeyRow {
  id: string;
  label: string;
  created_at: string;
  revoked_at: string | null;
  request_count: number;
  total_prompt_tokens: number;
  total_completion_tokens: number;
  total_charged_usdc: number;
}

export interface WalletDay {
  day: string;
  model: string;
  requests: number;
  input_tokens: number;
  cache_write_5m_tokens: number;
  cache_write_1h_tokens: number;
  cache_read_tokens: number;
  output_tokens: number;
  spent_usdc: number;
}

export interface Account {
  wallet: string;
  balance_usdc: number;
  locked_usdc: number;
  available_usdc: number;
  keys: KeyRow[];
  credits: Credit[];
  withdrawals: Withdrawal[];
  days: number;
  daily: WalletDay[];
  requests: { data: RequestRow[]; next_cursor: string | null };
}

export interface Payout {
  batch_id: string;
  seq: number;
  amount_usdc: number;
  status: string;
  tx_hash: string | null;
  created_at: string;
}

export interface ProviderDay {
  provider: string;
  model: string;
  day: string;
  requests: number;
  input_tokens: number;
  cache_write_5m_tokens: number;
  cache_write_1h_tokens: number;
  cache_read_tokens: number;
  output_tokens: number;
  earned_usdc: number;
  usage_missing: number;
  usage_disproved: number;
}

export interface Earnings {
  data: {
    provider: string;
    payout_address: string;
    pending_usdc: number;
    in_flight_usdc: number;
    paid_usdc: number;
    last_payout_at: string | null;
    payouts: Payout[];
  }[];
  daily: ProviderDay[];
}

export interface ListedModel {
  id: string;
  upstream_model: string;
  display_name: string;
  context_length: number;
  input_modalities: string[];
  output_modalities: string[];
  pricing: Pricing;
  enabled: boolean;
  live: boolean;
  status: string;
  price_id: number;
}

export interface Upstream {
  id: string;
  kind: string;
  base_url: string;
  priority: number;
  enabled: boolean;
  api_key_last4: string | null;
  suspended: boolean;
  suspended_reason: string | null;
  routed: boolean;
  health: string | null;
  last_24h: { requests: number; usage_missing: number; usage_disproved: number };
  models: ListedModel[];
}

export interface ProviderKey {
  id: string;
  label: string;
  scopes: string[];
  expires_at: string;
  created_at: string;
  revoked_at?: string | null;
}
