//! What the gateway writes and reads itself, for both planes.
//!
//! | module | job |
//! | --- | --- |
//! | [`error`] | [`ApiError`]: status, code, message, extra headers; its body in each error shape |
//! | [`reply`] | writing JSON answers, documents and errors to the client |
//! | [`policy`] | the public port's answer policy (error shape, CORS), a Pingora downstream module |
//! | [`cors`] | the CORS headers of an answer to an allowed origin; preflights |
//! | [`body`] | bounded request-body reads (413 before reading when declared too large); whole numbers |

pub mod body;
pub mod cors;
pub mod error;
pub mod policy;
pub mod reply;

pub use body::{read_body, read_json, whole_number, ReadBodyError, MAX_CONTROL_BODY};
pub use error::ApiError;
pub use policy::AnswerPolicy;
pub use reply::{reply, respond_document, respond_error, respond_json, respond_json_with};
