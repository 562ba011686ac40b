//! The public port's answer policy: which error shape the gateway writes and which origins get
//! CORS headers, as a Pingora downstream module.
//!
//! Pingora runs a downstream module on every response header the port writes — a provider's
//! answer after `response_filter`, a control-plane reply, an error from
//! [`super::respond_error`], a 402 — so CORS cannot be forgotten by one writer. The module's
//! per-request context also carries the error shape, which `respond_error` reads from the
//! session. Without `server.cors` and with the default shape the module is not installed and
//! costs nothing.

use super::cors;
use crate::config::{CorsConfig, ErrorShape};
use async_trait::async_trait;
use http::HeaderValue;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::{HttpModule, HttpModuleBuilder, HttpModules, Module};
use pingora::proxy::Session;
use std::sync::Arc;

/// Builds each request's [`Answering`] (one per server).
pub struct AnswerPolicy {
    pub cors: Option<Arc<CorsConfig>>,
    pub shape: ErrorShape,
}

impl AnswerPolicy {
    /// Install the module when it has something to do.
    pub fn install(self, modules: &mut HttpModules) {
        if self.cors.is_some() || self.shape != ErrorShape::Tollgate {
            modules.add_module(Box::new(self));
        }
    }
}

impl HttpModuleBuilder for AnswerPolicy {
    fn init(&self) -> Module {
        Box::new(Answering {
            cors: self.cors.clone(),
            shape: self.shape,
            origin: None,
            sent_origin: false,
        })
    }
}

/// One request's answer policy.
pub struct Answering {
    cors: Option<Arc<CorsConfig>>,
    shape: ErrorShape,
    /// The request's `Origin`, when it is allowed: its answers carry CORS headers.
    origin: Option<HeaderValue>,
    /// The request had an `Origin` (allowed or not): the answer varies by it.
    sent_origin: bool,
}

impl Answering {
    /// The error shape for this session's answers (the default without the module).
    pub fn shape_of(session: &Session) -> ErrorShape {
        session
            .downstream_modules_ctx
            .get::<Answering>()
            .map_or(ErrorShape::Tollgate, |a| a.shape)
    }

    /// The CORS settings when this session's origin is allowed.
    pub fn allowed(session: &Session) -> Option<&CorsConfig> {
        let a = session.downstream_modules_ctx.get::<Answering>()?;
        a.origin.as_ref()?;
        a.cors.as_deref()
    }
}

#[async_trait]
impl HttpModule for Answering {
    async fn request_header_filter(&mut self, req: &mut RequestHeader) -> pingora::Result<()> {
        if let Some(c) = &self.cors {
            let origin = req.headers.get(http::header::ORIGIN);
            self.sent_origin = origin.is_some();
            self.origin = origin.filter(|o| c.allows(o.as_bytes())).cloned();
        }
        Ok(())
    }

    async fn response_header_filter(
        &mut self,
        resp: &mut ResponseHeader,
        _end_of_stream: bool,
    ) -> pingora::Result<()> {
        match &self.cors {
            Some(c) if self.sent_origin => cors::add_headers(resp, self.origin.as_ref(), c),
            _ => Ok(()),
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
