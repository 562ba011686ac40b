//! The Responses API ids this mock produced, so that `previous_response_id` naming any
//! other answers 400 `previous_response_not_found` as OpenAI does (a gateway that sends
//! a follow-up to another provider than the one holding the conversation finds out).

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// Enough for any test; the oldest ids are forgotten first, as a real store expires them.
const REMEMBERED: usize = 1 << 16;

#[derive(Default)]
pub(crate) struct ResponseIds(Mutex<Ids>);

#[derive(Default)]
struct Ids {
    known: HashSet<u64>,
    order: VecDeque<u64>,
}

impl ResponseIds {
    /// Remembers `resp_mock_{seq}`.
    pub fn remember(&self, seq: u64) {
        let mut ids = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if ids.known.insert(seq) {
            ids.order.push_back(seq);
        }
        if ids.order.len() > REMEMBERED {
            if let Some(oldest) = ids.order.pop_front() {
                ids.known.remove(&oldest);
            }
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        let Some(seq) = id
            .strip_prefix("resp_mock_")
            .and_then(|n| n.parse::<u64>().ok())
        else {
            return false;
        };
        let ids = self.0.lock().unwrap_or_else(|p| p.into_inner());
        ids.known.contains(&seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_a_bounded_number_of_ids() {
        let ids = ResponseIds::default();
        for seq in 0..REMEMBERED as u64 + 2 {
            ids.remember(seq);
        }
        assert!(!ids.contains("resp_mock_0"));
        assert!(!ids.contains("resp_mock_1"));
        assert!(ids.contains("resp_mock_2"));
        assert!(ids.contains(&format!("resp_mock_{}", REMEMBERED + 1)));
        assert!(!ids.contains("resp_abc"));
        assert!(!ids.contains("resp_mock_x"));
    }
}
