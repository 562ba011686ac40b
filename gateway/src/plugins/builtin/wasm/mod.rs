//! `wasm`: a filter compiled to WebAssembly, loaded at start-up and run through the proxy-wasm
//! ABI (the one Envoy and APISIX load), in the `wasmi` interpreter. Only in builds with the
//! `wasm` cargo feature (`cargo build --features wasm`); the default build stays lean.
//!
//! ```yaml
//! - wasm: { file: filters/add_headers.wasm, configuration: "any text" }   # .wasm or .wat
//! ```
//! | proxy-wasm callback | Tollgate phase | the filter sees / changes |
//! | --- | --- | --- |
//! | `proxy_on_request_headers` | upstream request | the headers the provider receives |
//! | `proxy_on_response_headers` | response | the headers the buyer receives |
//! | `proxy_on_response_body` | each response chunk, after metering | the chunk the buyer receives |
//!
//! Each callback runs in a fresh HTTP context id, with a fuel limit (a looping filter is
//! stopped, not a worker thread lost) and a 64 MiB memory limit. One instance per list entry,
//! called under a mutex (never held across an await): its calls are serialised, and its
//! memory outlives a request — a filter is trusted code, like a compiled-in plugin. A failed
//! callback leaves the message as it was (fail-open) and is logged. Headers the gateway owns
//! (credentials, `host`, `accept-encoding`, framing, `x-request-id`, `x-ratelimit-*`) are
//! neither shown to the filter nor changed by it. When a route has a body filter, responses
//! lose `content-length` (the filter may change the size).

mod abi;

use super::headers::{gateway_owns_request, gateway_owns_response};
use crate::plugins::{BuildError, Hooks, OnChunk, OnResponse, OnUpstreamRequest, Options};
use abi::{Host, PLUGIN_CONFIGURATION, REQUEST_HEADERS, RESPONSE_BODY, RESPONSE_HEADERS};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use pingora::http::{RequestHeader, ResponseHeader};
use serde::Deserialize;
use std::sync::{Arc, Mutex};
use wasmi::{Engine, Linker, Module, Store, TypedFunc};

/// Instructions (roughly) one callback may run.
const FUEL_PER_CALLBACK: u64 = 50_000_000;
const ROOT_CONTEXT: i32 = 1;
/// A filter's linear memory may not grow past this (a chunk is copied in, headers too).
const MAX_MEMORY_BYTES: usize = 64 << 20;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Config {
    file: Option<String>,
    /// Given to the filter as its plugin configuration.
    configuration: Option<String>,
}

type Callback = TypedFunc<(i32, i32, i32), i32>;

struct Vm {
    store: Store<Host>,
    context_create: TypedFunc<(i32, i32), ()>,
    done: Option<TypedFunc<i32, i32>>,
    delete: Option<TypedFunc<i32, ()>>,
    next_context: i32,
}

struct WasmFilter {
    file: String,
    vm: Mutex<Vm>,
    request_headers: Option<Callback>,
    response_headers: Option<Callback>,
    response_body: Option<Callback>,
}

pub fn build(o: &Options<'_>) -> Result<Hooks, BuildError> {
    let c: Config = o.parse()?;
    let file = c.file.ok_or_else(|| o.error("file", "is required"))?;
    let bytes =
        std::fs::read(&file).map_err(|e| o.error("file", format!("cannot read {file}: {e}")))?;
    let filter = load(
        file,
        &bytes,
        c.configuration.unwrap_or_default().into_bytes(),
    )
    .map_err(|e| o.error("file", e))?;
    let filter = Arc::new(filter);
    Ok(Hooks {
        on_upstream_request: filter
            .request_headers
            .is_some()
            .then(|| filter.clone() as Arc<dyn OnUpstreamRequest>),
        on_response: filter
            .response_headers
            .is_some()
            .then(|| filter.clone() as Arc<dyn OnResponse>),
        on_chunk: filter
            .response_body
            .is_some()
            .then(|| filter.clone() as Arc<dyn OnChunk>),
        ..Hooks::default()
    })
}

fn load(file: String, bytes: &[u8], configuration: Vec<u8>) -> Result<WasmFilter, String> {
    let mut config = wasmi::Config::default();
    config.consume_fuel(true);
    // Translated now, on the main thread, not on a worker's first request.
    config.compilation_mode(wasmi::CompilationMode::Eager);
    let engine = Engine::new(&config);
    let module =
        Module::new(&engine, bytes).map_err(|e| format!("not a WebAssembly module: {e}"))?;
    if module.get_export("proxy_abi_version_0_2_1").is_none()
        && module.get_export("proxy_abi_version_0_2_0").is_none()
    {
        return Err("not a proxy-wasm filter (it exports no proxy_abi_version_0_2_x)".into());
    }
    let mut linker = Linker::new(&engine);
    abi::link(&mut linker, &module).map_err(|e| e.to_string())?;
    let mut store = Store::new(
        &engine,
        Host {
            limits: wasmi::StoreLimitsBuilder::new()
                .memory_size(MAX_MEMORY_BYTES)
                .build(),
            ..Host::default()
        },
    );
    store.limiter(|h| &mut h.limits);
    store
        .set_fuel(FUEL_PER_CALLBACK)
        .map_err(|e| e.to_string())?;
    let instance = linker
        .instantiate_and_start(&mut store, &module)
        .map_err(|e| format!("cannot instantiate: {e}"))?;
    let memory = abi::memory_of(&instance, &store).ok_or("the filter exports no memory")?;
    let alloc = instance
        .get_typed_func::<i32, i32>(&store, "proxy_on_memory_allocate")
        .or_else(|_| instance.get_typed_func::<i32, i32>(&store, "malloc"))
        .map_err(|_| "the filter exports no proxy_on_memory_allocate (or malloc)")?;
    store.data_mut().memory = Some(memory);
    store.data_mut().alloc = Some(alloc);
    let call_err = |e: wasmi::Error| format!("start-up call failed: {e}");
    if let Ok(init) = instance.get_typed_func::<(), ()>(&store, "_initialize") {
        init.call(&mut store, ()).map_err(call_err)?;
    }
    let context_create = instance
        .get_typed_func::<(i32, i32), ()>(&store, "proxy_on_context_create")
        .map_err(|_| "the filter exports no proxy_on_context_create")?;
    context_create
        .call(&mut store, (ROOT_CONTEXT, 0))
        .map_err(call_err)?;
    if let Ok(start) = instance.get_typed_func::<(i32, i32), i32>(&store, "proxy_on_vm_start") {
        if start
            .call(&mut store, (ROOT_CONTEXT, 0))
            .map_err(call_err)?
            == 0
        {
            return Err("the filter's proxy_on_vm_start failed".into());
        }
    }
    let len = configuration.len() as i32;
    store.data_mut().buffers[PLUGIN_CONFIGURATION] = configuration;
    if let Ok(configure) = instance.get_typed_func::<(i32, i32), i32>(&store, "proxy_on_configure")
    {
        if configure
            .call(&mut store, (ROOT_CONTEXT, len))
            .map_err(call_err)?
            == 0
        {
            return Err("the filter refused its configuration".into());
        }
    }
    let callback = |name| {
        instance
            .get_typed_func::<(i32, i32, i32), i32>(&store, name)
            .ok()
    };
    Ok(WasmFilter {
        request_headers: callback("proxy_on_request_headers"),
        response_headers: callback("proxy_on_response_headers"),
        response_body: callback("proxy_on_response_body"),
        vm: Mutex::new(Vm {
            done: instance.get_typed_func(&store, "proxy_on_done").ok(),
            delete: instance.get_typed_func(&store, "proxy_on_delete").ok(),
            context_create,
            store,
            next_context: ROOT_CONTEXT + 1,
        }),
        file,
    })
}

impl Vm {
    /// Runs `f(context, arg, end_of_stream)` in a fresh context, with a fresh fuel budget.
    fn call(&mut self, f: Callback, arg: i32, end_of_stream: bool) -> Result<i32, wasmi::Error> {
        let ctx = self.next_context;
        self.next_context = self.next_context.checked_add(1).unwrap_or(ROOT_CONTEXT + 1);
        self.store.set_fuel(FUEL_PER_CALLBACK)?;
        self.context_create
            .call(&mut self.store, (ctx, ROOT_CONTEXT))?;
        let action = f.call(&mut self.store, (ctx, arg, end_of_stream as i32));
        if let Some(done) = self.done {
            let _ = done.call(&mut self.store, ctx);
        }
        if let Some(delete) = self.delete {
            let _ = delete.call(&mut self.store, ctx);
        }
        action
    }
}

impl WasmFilter {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vm> {
        self.vm.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a header callback on `headers`: what to remove and what to set afterwards, or
    /// `None` if it failed. The filter neither sees nor changes a header the gateway owns (the
    /// provider's credentials among them).
    fn header_edit(
        &self,
        f: Callback,
        map: usize,
        headers: &HeaderMap,
        owned: fn(&str) -> bool,
    ) -> Option<HeaderEdit> {
        let pairs: Vec<(String, String)> = headers
            .iter()
            .filter(|(k, _)| !owned(k.as_str()))
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let n = pairs.len() as i32;
        let pairs = {
            let mut vm = self.lock();
            vm.store.data_mut().maps[map] = pairs;
            match vm.call(f, n, false) {
                Ok(_) => std::mem::take(&mut vm.store.data_mut().maps[map]),
                Err(e) => {
                    log::warn!(
                        "wasm plugin {}: header callback failed, headers left as they were: {e}",
                        self.file
                    );
                    return None;
                }
            }
        };
        Some(HeaderEdit {
            remove: headers
                .keys()
                .filter(|n| !owned(n.as_str()))
                .cloned()
                .collect(),
            set: pairs
                .into_iter()
                .filter(|(k, _)| !owned(k))
                .filter_map(|(k, v)| {
                    Some((
                        HeaderName::from_bytes(k.as_bytes()).ok()?,
                        HeaderValue::from_str(&v).ok()?,
                    ))
                })
                .collect(),
        })
    }
}

/// A filter's header list as an edit of the original: every header it could see is
/// removed, then its list is set.
struct HeaderEdit {
    remove: Vec<HeaderName>,
    set: Vec<(HeaderName, HeaderValue)>,
}

impl OnUpstreamRequest for WasmFilter {
    fn on_upstream_request(&self, req: &mut RequestHeader, _provider: &str) -> pingora::Result<()> {
        let Some(f) = self.request_headers else {
            return Ok(());
        };
        let Some(edit) = self.header_edit(f, REQUEST_HEADERS, &req.headers, gateway_owns_request)
        else {
            return Ok(());
        };
        for n in &edit.remove {
            req.remove_header(n);
        }
        for (n, v) in edit.set {
            req.append_header(n, v)?;
        }
        Ok(())
    }
}

impl OnResponse for WasmFilter {
    fn on_response(
        &self,
        resp: &mut ResponseHeader,
        _provider: Option<&str>,
    ) -> pingora::Result<()> {
        let Some(f) = self.response_headers else {
            return Ok(());
        };
        let Some(edit) =
            self.header_edit(f, RESPONSE_HEADERS, &resp.headers, gateway_owns_response)
        else {
            return Ok(());
        };
        for n in &edit.remove {
            resp.remove_header(n);
        }
        for (n, v) in edit.set {
            resp.append_header(n, v)?;
        }
        Ok(())
    }
}

impl OnChunk for WasmFilter {
    fn on_chunk(&self, chunk: &mut Option<Bytes>, end_of_stream: bool) {
        let Some(f) = self.response_body else {
            return;
        };
        let data = chunk.as_deref().unwrap_or_default().to_vec();
        if data.is_empty() && !end_of_stream {
            return;
        }
        let n = data.len() as i32;
        let mut vm = self.lock();
        vm.store.data_mut().buffers[RESPONSE_BODY] = data;
        match vm.call(f, n, end_of_stream) {
            Ok(_) => {
                let out = std::mem::take(&mut vm.store.data_mut().buffers[RESPONSE_BODY]);
                if chunk.is_some() || !out.is_empty() {
                    *chunk = Some(Bytes::from(out));
                }
            }
            Err(e) => log::warn!(
                "wasm plugin {}: body callback failed, chunk left as it was: {e}",
                self.file
            ),
        }
    }
}
