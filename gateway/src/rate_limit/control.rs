//! Limits on the control plane (keys, SIWE, top-ups, withdrawals, account reads): per client
//! address before anything is verified, and per wallet once a caller is known — so neither a
//! single host nor a single wallet can turn these endpoints into a flood of signature checks,
//! ledger queries or chain calls. Per node, in process (the windows of [`super::window`]).

use super::headers;
use super::local::LocalLimiter;
use crate::config::{ControlLimits, WalletLimits};
use crate::wire::ApiError;
use std::net::IpAddr;
use std::sync::Arc;

pub struct ControlLimiter {
    per_ip: WalletLimits,
    per_wallet: WalletLimits,
    local: LocalLimiter,
}

impl ControlLimiter {
    pub fn new(limits: &ControlLimits) -> Self {
        let minute = |n: Option<u32>| WalletLimits {
            requests_per_minute: n,
            ..WalletLimits::default()
        };
        ControlLimiter {
            per_ip: minute(limits.per_ip_per_minute),
            per_wallet: minute(limits.per_wallet_per_minute),
            local: LocalLimiter::new(limits.max_tracked),
        }
    }

    fn admit(&self, key: String, limits: &WalletLimits) -> Result<(), ApiError> {
        if !limits.has_windows() {
            return Ok(());
        }
        let verdict = self.local.admit(&Arc::from(key), limits);
        match verdict.refused {
            None => Ok(()),
            Some((_, retry_ms)) => Err(headers::refusal(&verdict, retry_ms)),
        }
    }

    /// A request from `addr` (before its credentials are checked).
    pub fn admit_client(&self, addr: Option<IpAddr>) -> Result<(), ApiError> {
        match addr {
            Some(ip) => self.admit(format!("ip:{ip}"), &self.per_ip),
            None => Ok(()),
        }
    }

    /// A request by `wallet` (after its key or signature was verified).
    pub fn admit_wallet(&self, wallet: &str) -> Result<(), ApiError> {
        self.admit(format!("wallet:{wallet}"), &self.per_wallet)
    }

    /// Forget idle entries (the limiter upkeep runs this with the wallet windows).
    pub fn sweep(&self) {
        self.local.sweep();
    }
}
