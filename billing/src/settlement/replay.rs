//! Start-up: what a previous process left in the spool goes into Postgres before this one
//! serves paid traffic.
//!
//! Each segment is committed under the node id that wrote it, so its charges come out of that
//! node's leases where Postgres still holds them (and, where a lease was swept meanwhile, as
//! `charges` says). Request ids already in `request_log` — committed before the crash, or by
//! an earlier replay whose segments were not yet deleted — are skipped by `commit_batch`, so a
//! replay can be repeated any number of times.

use super::{commit_batch, SettledRecord};
use crate::ledger::{Ledger, LedgerError};
use crate::spool::RecoveredSegment;

/// What a replay wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    pub segments: usize,
    pub records: usize,
    /// Segments whose torn last record (a crash mid-write) was skipped.
    pub torn_tails: usize,
}

/// Commit every record of `segments`, `batch_size` per transaction.
pub async fn replay(
    ledger: &Ledger,
    segments: &[RecoveredSegment],
    batch_size: usize,
) -> Result<Replayed, LedgerError> {
    let mut done = Replayed::default();
    for seg in segments {
        for chunk in seg.outcomes.chunks(batch_size.max(1)) {
            let batch: Vec<SettledRecord> =
                chunk.iter().cloned().map(SettledRecord::detached).collect();
            commit_batch(ledger, &seg.node_id, 0, &batch).await?;
            done.records += batch.len();
        }
        done.segments += 1;
        done.torn_tails += usize::from(seg.torn_tail);
    }
    Ok(done)
}
