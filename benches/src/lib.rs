//! Benchmark tooling for Tollgate: a mock LLM upstream ([`mock`]) and the
//! pieces of the HTTP load generator ([`load`]). The binaries in `src/bin`
//! are thin CLIs over these modules.

pub mod load;
pub mod mock;
