//! What authenticating a ledger API key costs on the hot path once its lookup is cached: the
//! SHA-256 of the presented key plus a hash-map probe (what `gateway::auth::LedgerKeys` does
//! under its mutex), against the plain-key probe of a static key.

use criterion::{criterion_group, criterion_main, Criterion};
use std::collections::HashMap;
use std::hint::black_box;
use tollgate_billing::ledger::hash_api_key;

fn auth_paths(c: &mut Criterion) {
    let key = format!("sk-{}", "ab".repeat(32));
    let mut by_hash: HashMap<[u8; 32], u64> = HashMap::new();
    let mut by_key: HashMap<String, u64> = HashMap::new();
    for i in 0..10_000u64 {
        let k = format!("sk-{:064x}", i);
        by_hash.insert(hash_api_key(&k), i);
        by_key.insert(k, i);
    }
    by_hash.insert(hash_api_key(&key), 1);
    by_key.insert(key.clone(), 1);
    let cache = std::sync::Mutex::new(by_hash);
    c.bench_function("ledger key: sha256 + locked map probe", |b| {
        b.iter(|| {
            let h = hash_api_key(black_box(&key));
            black_box(cache.lock().unwrap().get(&h).copied())
        })
    });
    c.bench_function("static key: map probe", |b| {
        b.iter(|| black_box(by_key.get(black_box(key.as_str())).copied()))
    });
}

criterion_group!(benches, auth_paths);
criterion_main!(benches);
