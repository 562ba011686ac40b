use super::*;
use crate::outcome::Tokens;
use crate::OutcomeStatus;

fn outcome(id: &str) -> Outcome {
    Outcome {
        request_id: id.to_string(),
        wallet: "0x00000000000000000000000000000000000000b1".into(),
        key_id: "k".into(),
        model: "m".into(),
        provider: "p".into(),
        upstream_model: "um".into(),
        api: "openai",
        stream: true,
        status: OutcomeStatus::Completed,
        http_status: 200,
        tokens: Tokens {
            input_tokens: 12,
            output_tokens: 16,
            ..Tokens::default()
        },
        usage_missing: false,
        stream_cut: false,
        usage_estimated: false,
        usage_disproved: false,
        provider_cost_usdc: 44,
        buyer_cost_usdc: 63,
        platform_fee_usdc: 19,
        reserved_usdc: 100,
        overrun_usdc: 0,
        attempts: 1,
        latency_ms: 3,
        ttfb_ms: Some(1),
        ttft_ms: None,
        error_code: Some("UPSTREAM_TIMEOUT"),
        started_at_ms: 1_700_000_000_000,
        price_id: None,
        prices: None,
        response_id: None,
        paid_call: None,
    }
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tollgate-spool-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn cfg(dir: &Path, segment_bytes: u64) -> SpoolConfig {
    SpoolConfig {
        dir: dir.to_path_buf(),
        fsync_every: Duration::from_millis(2),
        segment_bytes,
    }
}

/// Open, waiting out the group-commit thread's brief hold of a just-dropped spool.
fn reopen(c: SpoolConfig) -> Result<(Arc<Spool>, Vec<RecoveredSegment>), SpoolError> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match Spool::open(c.clone(), "node-b") {
            Err(SpoolError::InUse(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            r => return r,
        }
    }
}

fn ids(segs: &[RecoveredSegment]) -> Vec<String> {
    segs.iter()
        .flat_map(|s| s.outcomes.iter().map(|o| o.request_id.clone()))
        .collect()
}

#[test]
fn appended_records_come_back_with_their_writer() {
    let d = dir("roundtrip");
    let (spool, old) = Spool::open(cfg(&d, 1 << 20), "node-a").unwrap();
    assert!(old.is_empty());
    for i in 0..3 {
        spool.append(&outcome(&format!("r{i}"))).unwrap();
    }
    drop(spool);
    let (spool, old) = reopen(cfg(&d, 1 << 20)).unwrap();
    assert_eq!(ids(&old), ["r0", "r1", "r2"]);
    assert_eq!(old[0].node_id, "node-a");
    assert!(!old[0].torn_tail);
    let back = &old[0].outcomes[1];
    assert_eq!(back.error_code, Some("UPSTREAM_TIMEOUT"));
    assert_eq!((back.buyer_cost_usdc, back.tokens.output_tokens), (63, 16));
    spool.replayed(old).unwrap();
    drop(spool);
    // Replayed segments are gone; the new (empty) one reads back empty.
    let (_s, old) = reopen(cfg(&d, 1 << 20)).unwrap();
    assert!(ids(&old).is_empty());
}

#[test]
fn a_second_process_cannot_share_the_directory() {
    let d = dir("lock");
    let (_spool, _) = Spool::open(cfg(&d, 1 << 20), "node-a").unwrap();
    let err = Spool::open(cfg(&d, 1 << 20), "node-b").err().unwrap();
    assert!(matches!(err, SpoolError::InUse(_)), "{err}");
}

fn only_segment(d: &Path) -> PathBuf {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "spool"))
        .collect();
    segs.sort();
    segs.remove(0)
}

#[test]
fn a_torn_last_record_is_skipped() {
    let d = dir("torn");
    let (spool, _) = Spool::open(cfg(&d, 1 << 20), "node-a").unwrap();
    for i in 0..3 {
        spool.append(&outcome(&format!("r{i}"))).unwrap();
    }
    drop(spool);
    let seg = only_segment(&d);
    let len = std::fs::metadata(&seg).unwrap().len();
    // Cut mid-record, as a crash in the middle of the write would.
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    let (_s, old) = reopen(cfg(&d, 1 << 20)).unwrap();
    assert_eq!(ids(&old), ["r0", "r1"]);
    assert!(old[0].torn_tail);
}

#[test]
fn a_bad_record_before_good_ones_stops_start_up_naming_file_and_offset() {
    let d = dir("corrupt");
    let (spool, _) = Spool::open(cfg(&d, 1 << 20), "node-a").unwrap();
    for i in 0..3 {
        spool.append(&outcome(&format!("r{i}"))).unwrap();
    }
    drop(spool);
    let seg = only_segment(&d);
    let mut bytes = std::fs::read(&seg).unwrap();
    let header = 10 + "node-a".len();
    let first_len = u32::from_le_bytes(bytes[header..header + 4].try_into().unwrap()) as usize;
    let second = header + 8 + first_len;
    bytes[second + 20] ^= 0x55; // a flipped bit inside the second record's payload
    std::fs::write(&seg, &bytes).unwrap();
    let err = reopen(cfg(&d, 1 << 20)).err().unwrap();
    match &err {
        SpoolError::Corrupt { path, offset, .. } => {
            assert_eq!(path, &seg);
            assert_eq!(*offset as usize, second);
        }
        other => panic!("expected corruption, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&seg.display().to_string()) && msg.contains(&format!("offset {second}")),
        "{msg}"
    );
}

#[test]
fn committed_segments_are_deleted_once_rotated() {
    let d = dir("rotate");
    // Small segments: each holds two records.
    let one = serde_json::to_vec(&outcome("r00")).unwrap().len() as u64 + 8;
    let (spool, _) = Spool::open(cfg(&d, 20 + 2 * one), "node-a").unwrap();
    let tickets: Vec<SpoolTicket> = (0..5)
        .map(|i| spool.append(&outcome(&format!("r{i:02}"))).unwrap())
        .collect();
    let segments = || {
        std::fs::read_dir(&d)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "spool")
            })
            .count()
    };
    assert_eq!(segments(), 3);
    for t in &tickets[..4] {
        spool.committed(*t);
    }
    // The two full, committed segments are gone; the active one stays.
    assert_eq!(segments(), 1);
    drop(spool);
    let (_s, old) = reopen(cfg(&d, 1 << 20)).unwrap();
    assert_eq!(
        ids(&old),
        ["r04"],
        "only the uncommitted record is replayed"
    );
}

#[test]
fn appends_are_synced_by_the_group_commit() {
    let d = dir("sync");
    let (spool, _) = Spool::open(cfg(&d, 1 << 20), "node-a").unwrap();
    spool.append(&outcome("r0")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while spool.dirty.load(Ordering::Acquire) {
        assert!(Instant::now() < deadline, "never synced");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(spool.healthy().is_ok());
}
