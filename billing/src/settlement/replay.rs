//! Start-up: what a previous process left in the spool goes into Postgres before this one
//! serves paid traffic.
//!
//! Each segment is committed under the node id that wrote it, so its charges come out of that
//! node's leases where Postgres still holds them (and, where a lease was swept meanwhile, as
//! `charges` says). Request ids already in `request_log` — committed before the crash, or by
//! an earlier replay whose segments were not yet deleted — are skipped by `commit_batch`, so a
//! replay can be repeated any number of times.
//!
//! A call paid per call (its record names its `paid_calls` row) is charged to no balance: its
//! record goes to that row as the live hand-off would have sent it ([`Ledger::served_paid_call`],
//! a no-op once the row is no longer `serving` — recorded before the crash, or `lost` because
//! its payment expired before this start-up), and the settlement job settles it.

use super::{commit_batch, SettledRecord};
use crate::ledger::{Ledger, LedgerError};
use crate::spool::RecoveredSegment;
use crate::Outcome;

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
        let (paid, charged): (Vec<&Outcome>, Vec<&Outcome>) =
            seg.outcomes.iter().partition(|o| o.paid_call.is_some());
        for chunk in charged.chunks(batch_size.max(1)) {
            let batch: Vec<SettledRecord> = chunk
                .iter()
                .map(|o| SettledRecord::detached((*o).clone()))
                .collect();
            commit_batch(ledger, &seg.node_id, 0, &batch).await?;
            done.records += batch.len();
        }
        for o in paid {
            if let Some(id) = &o.paid_call {
                ledger.served_paid_call(id, o).await?;
                done.records += 1;
            }
        }
        done.segments += 1;
        done.torn_tails += usize::from(seg.torn_tail);
    }
    Ok(done)
}
