//! What the gateway writes and reads itself, for both planes.
//!
//! | module | job |
//! | --- | --- |
//! | [`error`] | [`ApiError`]: status, code, message, extra headers |
//! | [`reply`] | writing JSON answers and errors to the client |
//! | [`body`] | bounded request-body reads (413 before reading when declared too large) |

pub mod body;
pub mod error;
pub mod reply;

pub use body::{read_body, read_json, ReadBodyError, MAX_CONTROL_BODY};
pub use error::ApiError;
pub use reply::{reply, respond_error, respond_json, respond_json_with};
