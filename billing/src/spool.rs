//! The billing spool: every outcome is appended to a local, checksummed file before the
//! response's last bytes are released to the client, so a crash of the process loses no record.
//!
//! - `append` is one `write()` into the page cache (it survives the process's death; no
//!   `fsync` on the request's path). A background thread `fsync`s the active segment every
//!   `fsync_every` when something was written: that bounds what a power loss can take.
//! - Records live in segment files `NNNNNNNNNNNNNNNN.spool` (a header naming the writing node,
//!   then records `len u32 LE | crc32 u32 LE | JSON outcome`). A segment is rotated at
//!   `segment_bytes` and deleted once every record in it is committed to Postgres.
//! - On start-up, [`Spool::open`] reads what a previous process left; the caller replays it into
//!   Postgres (idempotent on request id) and then calls [`Spool::replayed`] to delete it.
//!   A torn last record (a crash mid-write) is skipped; a bad record anywhere else stops
//!   start-up with the file and offset.
//! - A write or `fsync` that fails puts the spool in a failed state ([`Spool::healthy`]):
//!   admission then refuses paid work (503 `BILLING_UNAVAILABLE`) instead of serving what it
//!   could lose. A failed write is cut back off the file and retried after a second (a full
//!   disk that gets room recovers); a failed `fsync` is final until restart (the page cache's
//!   state is unknown after one).

use crate::Outcome;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

const MAGIC: &[u8; 8] = b"TGSPOOL1";
/// A record larger than this is not one the gateway writes: corruption.
const MAX_RECORD: u32 = 1 << 20;
/// How long a failed write keeps the spool refusing before the next write is tried.
const WRITE_RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    /// How often the background thread `fsync`s what was appended (the power-loss window).
    pub fsync_every: Duration,
    /// A segment is rotated once it is this large.
    pub segment_bytes: u64,
}

/// Where a record was appended; handed back with [`Spool::committed`] once Postgres has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolTicket(u64);

/// What a previous process left in one segment, to replay before serving.
#[derive(Debug)]
pub struct RecoveredSegment {
    pub path: PathBuf,
    /// The node that wrote it: its lease rows are the ones the charges reduce.
    pub node_id: String,
    pub outcomes: Vec<Outcome>,
    /// A torn last record was skipped (a crash mid-write).
    pub torn_tail: bool,
}

#[derive(Debug)]
pub enum SpoolError {
    /// Another process holds the directory.
    InUse(PathBuf),
    /// A record that is not the torn tail of a segment fails its checksum or does not parse.
    Corrupt {
        path: PathBuf,
        offset: u64,
        why: String,
    },
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The spool refuses appends (see [`Spool::healthy`]).
    Failed(String),
}

impl std::fmt::Display for SpoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpoolError::InUse(p) => write!(
                f,
                "billing spool {} is in use by another gateway (give each its own billing.spool.dir)",
                p.display()
            ),
            SpoolError::Corrupt { path, offset, why } => write!(
                f,
                "billing spool {} is corrupt at offset {offset}: {why} (records after it cannot be trusted; \
                 inspect or move the file, then start again)",
                path.display()
            ),
            SpoolError::Io { path, error } => write!(f, "billing spool {}: {error}", path.display()),
            SpoolError::Failed(why) => write!(f, "billing spool: {why}"),
        }
    }
}

impl std::error::Error for SpoolError {}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |error| SpoolError::Io {
        path: path.to_path_buf(),
        error,
    }
}

struct Active {
    seq: u64,
    path: PathBuf,
    file: Arc<File>,
    len: u64,
    /// Rotated segments not yet `fsync`ed, and whether the directory needs one.
    to_sync: Vec<Arc<File>>,
    dir_dirty: bool,
}

struct Failure {
    why: String,
    /// `None`: final until restart (a failed `fsync`).
    retry_at: Option<Instant>,
}

pub struct Spool {
    cfg: SpoolConfig,
    node_id: String,
    /// Holds the directory's lock for the life of the process.
    _lock: File,
    active: Mutex<Active>,
    active_seq: AtomicU64,
    /// Appended but not yet committed, per segment.
    outstanding: Mutex<BTreeMap<u64, u64>>,
    dirty: AtomicBool,
    failed: AtomicBool,
    failure: Mutex<Option<Failure>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016}.spool"))
}

impl Spool {
    /// Lock `cfg.dir` (creating it), read the segments a previous process left, and open a new
    /// segment for `node_id`. The caller replays the returned segments, then [`Spool::replayed`].
    pub fn open(
        cfg: SpoolConfig,
        node_id: &str,
    ) -> Result<(Arc<Spool>, Vec<RecoveredSegment>), SpoolError> {
        std::fs::create_dir_all(&cfg.dir).map_err(io(&cfg.dir))?;
        let lock_path = cfg.dir.join("LOCK");
        let lock_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        lock_file
            .try_lock()
            .map_err(|_| SpoolError::InUse(cfg.dir.clone()))?;
        let mut seqs: Vec<u64> = Vec::new();
        for entry in std::fs::read_dir(&cfg.dir).map_err(io(&cfg.dir))? {
            let name = entry.map_err(io(&cfg.dir))?.file_name();
            let name = name.to_string_lossy();
            if let Some(seq) = name.strip_suffix(".spool").and_then(|s| s.parse().ok()) {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        let recovered = seqs
            .iter()
            .map(|&s| read_segment(&segment_path(&cfg.dir, s)))
            .collect::<Result<Vec<_>, _>>()?;
        let seq = seqs.last().map_or(1, |s| s + 1);
        let (path, file, len) = create_segment(&cfg.dir, seq, node_id)?;
        sync_dir(&cfg.dir)?;
        let spool = Arc::new(Spool {
            node_id: node_id.to_string(),
            _lock: lock_file,
            active: Mutex::new(Active {
                seq,
                path,
                file: Arc::new(file),
                len,
                to_sync: Vec::new(),
                dir_dirty: false,
            }),
            active_seq: AtomicU64::new(seq),
            outstanding: Mutex::new(BTreeMap::new()),
            dirty: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            cfg,
        });
        let weak = Arc::downgrade(&spool);
        std::thread::Builder::new()
            .name("tollgate-spool-sync".into())
            .spawn(move || group_commit(weak))
            .map_err(io(&spool.cfg.dir))?;
        Ok((spool, recovered))
    }

    /// The replayed segments are in Postgres: delete them.
    pub fn replayed(&self, segments: Vec<RecoveredSegment>) -> Result<(), SpoolError> {
        for s in segments {
            std::fs::remove_file(&s.path).map_err(io(&s.path))?;
        }
        sync_dir(&self.cfg.dir)
    }

    /// `Ok` while appends are accepted; else why not. Cheap: one atomic load when healthy
    /// (the readiness check and admission read it).
    pub fn healthy(&self) -> Result<(), String> {
        if !self.failed.load(Ordering::Acquire) {
            return Ok(());
        }
        match lock(&self.failure).as_ref() {
            Some(f) => Err(f.why.clone()),
            None => Ok(()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.cfg.dir
    }

    /// Append one outcome: one `write()` under a short lock, no `fsync`.
    pub fn append(&self, outcome: &Outcome) -> Result<SpoolTicket, SpoolError> {
        self.healthy().map_err(SpoolError::Failed)?;
        let mut rec = vec![0u8; 8];
        serde_json::to_writer(&mut rec, outcome)
            .map_err(|e| SpoolError::Failed(format!("encoding a record: {e}")))?;
        let payload_len = (rec.len() - 8) as u32;
        let crc = crc32fast::hash(&rec[8..]);
        rec[0..4].copy_from_slice(&payload_len.to_le_bytes());
        rec[4..8].copy_from_slice(&crc.to_le_bytes());

        let mut a = lock(&self.active);
        if a.len + rec.len() as u64 > self.cfg.segment_bytes {
            self.rotate(&mut a)?;
        }
        if let Err(e) = (&*a.file).write_all(&rec) {
            // Cut a partial write back off, so that the file holds whole records only.
            let why = format!("writing {}: {e}", a.path.display());
            let fatal = a.file.set_len(a.len).is_err();
            drop(a);
            self.fail(why.clone(), !fatal);
            return Err(SpoolError::Failed(why));
        }
        a.len += rec.len() as u64;
        let seq = a.seq;
        *lock(&self.outstanding).entry(seq).or_default() += 1;
        drop(a);
        self.dirty.store(true, Ordering::Release);
        Ok(SpoolTicket(seq))
    }

    /// The record appended under `ticket` is committed to Postgres. A rotated segment whose
    /// records are all committed is deleted.
    pub fn committed(&self, ticket: SpoolTicket) {
        let mut out = lock(&self.outstanding);
        let Some(n) = out.get_mut(&ticket.0) else {
            return;
        };
        *n -= 1;
        if *n == 0 && ticket.0 != self.active_seq.load(Ordering::Acquire) {
            out.remove(&ticket.0);
            drop(out);
            self.delete_segment(ticket.0);
        }
    }

    fn delete_segment(&self, seq: u64) {
        let path = segment_path(&self.cfg.dir, seq);
        if let Err(e) = std::fs::remove_file(&path) {
            // Harmless: replayed (idempotently) and deleted at the next start.
            log::warn!(
                "could not delete committed spool segment {}: {e}",
                path.display()
            );
        }
    }

    fn rotate(&self, a: &mut Active) -> Result<(), SpoolError> {
        let seq = a.seq + 1;
        let (path, file, len) = create_segment(&self.cfg.dir, seq, &self.node_id).map_err(|e| {
            self.fail(e.to_string(), true);
            e
        })?;
        let old = std::mem::replace(&mut a.file, Arc::new(file));
        a.to_sync.push(old);
        a.dir_dirty = true;
        let old_seq = a.seq;
        a.seq = seq;
        a.path = path;
        a.len = len;
        self.active_seq.store(seq, Ordering::Release);
        let mut out = lock(&self.outstanding);
        if out.get(&old_seq).is_none_or(|n| *n == 0) {
            out.remove(&old_seq);
            drop(out);
            self.delete_segment(old_seq);
        }
        Ok(())
    }

    fn fail(&self, why: String, retryable: bool) {
        log::error!("billing spool failed: {why}; refusing paid requests");
        *lock(&self.failure) = Some(Failure {
            why,
            retry_at: retryable.then(|| Instant::now() + WRITE_RETRY),
        });
        self.failed.store(true, Ordering::Release);
    }

    /// One group commit: `fsync` what was appended since the last one.
    fn sync_once(&self) {
        let (file, rotated, dir_dirty) = {
            let mut a = lock(&self.active);
            let dirty = self.dirty.swap(false, Ordering::AcqRel);
            let rotated = std::mem::take(&mut a.to_sync);
            let dir_dirty = std::mem::take(&mut a.dir_dirty);
            (dirty.then(|| a.file.clone()), rotated, dir_dirty)
        };
        for f in rotated.iter().chain(file.iter()) {
            if let Err(e) = f.sync_data() {
                self.fail(format!("fsync: {e}"), false);
                return;
            }
        }
        if dir_dirty {
            if let Err(e) = sync_dir(&self.cfg.dir) {
                self.fail(e.to_string(), false);
            }
        }
    }

    fn retry_if_due(&self) {
        if !self.failed.load(Ordering::Acquire) {
            return;
        }
        let mut f = lock(&self.failure);
        if f.as_ref()
            .and_then(|f| f.retry_at)
            .is_some_and(|t| Instant::now() >= t)
        {
            *f = None;
            self.failed.store(false, Ordering::Release);
            log::info!("billing spool: retrying writes");
        }
    }
}

/// The group-commit thread: runs until the spool is dropped.
fn group_commit(spool: Weak<Spool>) {
    loop {
        let Some(every) = spool.upgrade().map(|s| s.cfg.fsync_every) else {
            return;
        };
        std::thread::sleep(every);
        let Some(s) = spool.upgrade() else {
            return;
        };
        s.sync_once();
        s.retry_if_due();
    }
}

fn create_segment(dir: &Path, seq: u64, node_id: &str) -> Result<(PathBuf, File, u64), SpoolError> {
    let path = segment_path(dir, seq);
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .map_err(io(&path))?;
    let mut header = MAGIC.to_vec();
    header.extend_from_slice(&(node_id.len() as u16).to_le_bytes());
    header.extend_from_slice(node_id.as_bytes());
    file.write_all(&header).map_err(io(&path))?;
    Ok((path, file, header.len() as u64))
}

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Read one segment. A bad record followed by nothing but zero bytes (or running past the
/// end) is a torn tail and skipped; any other bad record is corruption.
pub fn read_segment(path: &Path) -> Result<RecoveredSegment, SpoolError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let corrupt = |offset: usize, why: &str| SpoolError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        why: why.to_string(),
    };
    if bytes.len() < MAGIC.len() + 2 || &bytes[..MAGIC.len()] != MAGIC {
        if bytes.iter().all(|b| *b == 0) {
            // Created, then the crash came before its header reached the disk.
            return Ok(RecoveredSegment {
                path: path.to_path_buf(),
                node_id: String::new(),
                outcomes: Vec::new(),
                torn_tail: !bytes.is_empty(),
            });
        }
        return Err(corrupt(0, "not a spool segment (bad header)"));
    }
    let n = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let node_id = bytes
        .get(10..10 + n)
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or_else(|| corrupt(8, "bad node id in the header"))?
        .to_string();
    let mut off = 10 + n;
    let mut outcomes = Vec::new();
    let mut torn_tail = false;
    while off < bytes.len() {
        let rest = &bytes[off..];
        let bad = match parse_record(rest) {
            Ok((outcome, used)) => {
                outcomes.push(outcome);
                off += used;
                continue;
            }
            Err(why) => why,
        };
        // A torn tail (a crash mid-write) is the last thing in the file: if any whole record
        // follows the bad one, records were lost in the middle, and that is corruption.
        if !(1..rest.len()).any(|p| parse_record(&rest[p..]).is_ok()) {
            torn_tail = true;
            break;
        }
        return Err(corrupt(off, &bad));
    }
    Ok(RecoveredSegment {
        path: path.to_path_buf(),
        node_id,
        outcomes,
        torn_tail,
    })
}

/// One record at the start of `b`: the outcome and the bytes it took.
fn parse_record(b: &[u8]) -> Result<(Outcome, usize), String> {
    if b.len() < 8 {
        return Err("truncated record header".into());
    }
    let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let crc = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    if len == 0 || len > MAX_RECORD {
        return Err(format!("impossible record length {len}"));
    }
    let payload = b
        .get(8..8 + len as usize)
        .ok_or_else(|| "record runs past the end of the file".to_string())?;
    if crc32fast::hash(payload) != crc {
        return Err("checksum mismatch".into());
    }
    // Through a `Value`: `Outcome`'s `&'static str` fields deserialize from owned data only.
    let outcome = serde_json::from_slice::<serde_json::Value>(payload)
        .and_then(<Outcome as serde::Deserialize>::deserialize)
        .map_err(|e| format!("checksum matches but the record does not parse: {e}"))?;
    Ok((outcome, 8 + len as usize))
}

#[cfg(test)]
mod tests;
