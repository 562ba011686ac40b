//! The background service that keeps a node's API-key cache in step with revocations made on
//! any node (Postgres `LISTEN/NOTIFY`; see [`super::ledger_keys::LedgerKeys`]).

use super::ledger_keys::LedgerKeys;
use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use std::sync::Arc;

/// Follows the revocation feed until shutdown.
pub struct KeyRevocationFeed(pub Arc<LedgerKeys>);

#[async_trait]
impl BackgroundService for KeyRevocationFeed {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = self.0.clone().follow_revocations() => {}
        }
    }
}
