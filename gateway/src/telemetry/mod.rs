//! What the gateway reports besides its Prometheus metrics, each off the request path:
//!
//! | module | job |
//! | --- | --- |
//! | [`process_log`] | the process log on stderr: level, text or JSON |
//! | [`access_log`] | one JSON line per request, through a bounded channel to a writer service |
//! | [`traces`] | OpenTelemetry spans per call and per attempt, W3C trace context in and out, OTLP/HTTP export |

pub mod access_log;
pub mod process_log;
pub mod traces;

use std::sync::Arc;

/// The proxy's handles on them; both `None` unless configured (`log.access`, `tracing:`).
#[derive(Default, Clone)]
pub struct Observers {
    pub access_log: Option<Arc<access_log::AccessLog>>,
    pub traces: Option<Arc<traces::Traces>>,
}
