//! `tollgate`: run the gateway, check a config file, or operate the ledger and the chain,
//! with the plugins shipped in this crate ([`tollgate_gateway::binary`] reads on).

use std::process::ExitCode;
use tollgate_gateway::plugins::PluginRegistry;

// Many short-lived allocations per request (headers, bodies, SSE chunks) across threads:
// mimalloc beats glibc malloc here (measured, docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tollgate_gateway::binary::main(PluginRegistry::with_builtins())
}
