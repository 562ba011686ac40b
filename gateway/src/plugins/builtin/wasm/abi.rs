//! The host side of the proxy-wasm ABI (0.2.x) that the `wasm` plugin offers a filter: header
//! maps, buffers, logging, time. Anything else the module imports from `env` answers
//! `Unimplemented`, so filters built with an SDK that imports more still load.

use std::time::{SystemTime, UNIX_EPOCH};
use wasmi::{Caller, Extern, Linker, Memory, Module, TypedFunc, Val};

/// proxy-wasm status codes.
pub const OK: i32 = 0;
const NOT_FOUND: i32 = 1;
const BAD_ARGUMENT: i32 = 2;
const INVALID_MEMORY: i32 = 6;
const INTERNAL_FAILURE: i32 = 10;
const UNIMPLEMENTED: i32 = 12;

/// Map types: request headers, request trailers, response headers, response trailers.
pub const REQUEST_HEADERS: usize = 0;
pub const RESPONSE_HEADERS: usize = 2;
/// Buffer types used here: the response body and the plugin's configuration.
pub const RESPONSE_BODY: usize = 1;
pub const PLUGIN_CONFIGURATION: usize = 7;

/// What the filter reads and changes during one callback.
#[derive(Default)]
pub struct Host {
    pub maps: [Vec<(String, String)>; 4],
    pub buffers: [Vec<u8>; 8],
    pub memory: Option<Memory>,
    pub alloc: Option<TypedFunc<i32, i32>>,
    pub limits: wasmi::StoreLimits,
}

type C<'a> = Caller<'a, Host>;

fn read(c: &C<'_>, ptr: i32, len: i32) -> Option<Vec<u8>> {
    let m = c.data().memory?;
    let (ptr, len) = (usize::try_from(ptr).ok()?, usize::try_from(len).ok()?);
    m.data(c)
        .get(ptr..ptr.checked_add(len)?)
        .map(<[u8]>::to_vec)
}

fn read_str(c: &C<'_>, ptr: i32, len: i32) -> Option<String> {
    String::from_utf8(read(c, ptr, len)?).ok()
}

/// Copies `bytes` into memory the guest allocates and writes its address and size at
/// `ret_ptr` / `ret_size`, as every proxy-wasm getter returns data.
fn give(c: &mut C<'_>, bytes: &[u8], ret_ptr: i32, ret_size: i32) -> i32 {
    let (Some(alloc), Some(m)) = (c.data().alloc, c.data().memory) else {
        return INTERNAL_FAILURE;
    };
    let Ok(len) = i32::try_from(bytes.len()) else {
        return BAD_ARGUMENT;
    };
    let Ok(at) = alloc.call(&mut *c, len) else {
        return INTERNAL_FAILURE;
    };
    let ok = m.write(&mut *c, at as u32 as usize, bytes).is_ok()
        && m.write(&mut *c, ret_ptr as u32 as usize, &(at as u32).to_le_bytes())
            .is_ok()
        && m.write(
            &mut *c,
            ret_size as u32 as usize,
            &(len as u32).to_le_bytes(),
        )
        .is_ok();
    if ok {
        OK
    } else {
        INVALID_MEMORY
    }
}

fn map_index(map: i32) -> Option<usize> {
    usize::try_from(map).ok().filter(|m| *m < 4)
}

fn buffer_index(buf: i32) -> Option<usize> {
    usize::try_from(buf).ok().filter(|b| *b < 8)
}

/// A map type and a header name read from guest memory (names are kept lower case).
fn map_and_key(c: &C<'_>, map: i32, key_ptr: i32, key_len: i32) -> Option<(usize, String)> {
    Some((
        map_index(map)?,
        read_str(c, key_ptr, key_len)?.to_ascii_lowercase(),
    ))
}

/// `u32 count, (u32 key len, u32 value len)*, (key \0 value \0)*`.
fn serialize(pairs: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&(k.len() as u32).to_le_bytes());
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    out
}

fn deserialize(bytes: &[u8]) -> Option<Vec<(String, String)>> {
    let u32_at = |i: usize| -> Option<usize> {
        Some(u32::from_le_bytes(bytes.get(i..i + 4)?.try_into().ok()?) as usize)
    };
    let n = u32_at(0)?;
    let mut lens = Vec::with_capacity(n.min(1024));
    for i in 0..n {
        lens.push((u32_at(4 + i * 8)?, u32_at(8 + i * 8)?));
    }
    let mut at = 4 + n * 8;
    let mut take = |len: usize| -> Option<String> {
        let s = std::str::from_utf8(bytes.get(at..at + len)?)
            .ok()?
            .to_string();
        at += len + 1;
        Some(s)
    };
    lens.into_iter()
        .map(|(k, v)| Some((take(k)?, take(v)?)))
        .collect()
}

/// Defines every host function; unknown `env` imports of `module` answer `Unimplemented`.
pub fn link(linker: &mut Linker<Host>, module: &Module) -> Result<(), wasmi::Error> {
    linker.func_wrap(
        "env",
        "proxy_log",
        |c: C<'_>, level: i32, ptr: i32, len: i32| -> i32 {
            let Some(msg) = read_str(&c, ptr, len) else {
                return INVALID_MEMORY;
            };
            let level = match level {
                0 => log::Level::Trace,
                1 => log::Level::Debug,
                2 => log::Level::Info,
                3 => log::Level::Warn,
                _ => log::Level::Error,
            };
            log::log!(level, "wasm plugin: {msg}");
            OK
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_current_time_nanoseconds",
        |mut c: C<'_>, ret: i32| -> i32 {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let Some(m) = c.data().memory else {
                return INVALID_MEMORY;
            };
            match m.write(&mut c, ret as u32 as usize, &now.to_le_bytes()) {
                Ok(()) => OK,
                Err(_) => INVALID_MEMORY,
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        |mut c: C<'_>, map: i32, ret_ptr: i32, ret_size: i32| -> i32 {
            let Some(m) = map_index(map) else {
                return BAD_ARGUMENT;
            };
            let bytes = serialize(&c.data().maps[m]);
            give(&mut c, &bytes, ret_ptr, ret_size)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_header_map_pairs",
        |mut c: C<'_>, map: i32, ptr: i32, len: i32| -> i32 {
            let Some(m) = map_index(map) else {
                return BAD_ARGUMENT;
            };
            match read(&c, ptr, len).as_deref().and_then(deserialize) {
                Some(pairs) => {
                    c.data_mut().maps[m] = pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_ascii_lowercase(), v))
                        .collect();
                    OK
                }
                None => BAD_ARGUMENT,
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_value",
        |mut c: C<'_>, map: i32, kp: i32, kl: i32, ret_ptr: i32, ret_size: i32| -> i32 {
            let Some((m, key)) = map_and_key(&c, map, kp, kl) else {
                return BAD_ARGUMENT;
            };
            let value = c.data().maps[m]
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone());
            match value {
                Some(v) => give(&mut c, v.as_bytes(), ret_ptr, ret_size),
                None => NOT_FOUND,
            }
        },
    )?;
    for (name, replace) in [
        ("proxy_add_header_map_value", false),
        ("proxy_replace_header_map_value", true),
    ] {
        linker.func_wrap(
            "env",
            name,
            move |mut c: C<'_>, map: i32, kp: i32, kl: i32, vp: i32, vl: i32| -> i32 {
                let (Some((m, key)), Some(value)) =
                    (map_and_key(&c, map, kp, kl), read_str(&c, vp, vl))
                else {
                    return BAD_ARGUMENT;
                };
                let pairs = &mut c.data_mut().maps[m];
                if replace {
                    pairs.retain(|(k, _)| *k != key);
                }
                pairs.push((key, value));
                OK
            },
        )?;
    }
    linker.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        |mut c: C<'_>, map: i32, kp: i32, kl: i32| -> i32 {
            let Some((m, key)) = map_and_key(&c, map, kp, kl) else {
                return BAD_ARGUMENT;
            };
            c.data_mut().maps[m].retain(|(k, _)| *k != key);
            OK
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut c: C<'_>, buf: i32, start: i32, max: i32, ret_ptr: i32, ret_size: i32| -> i32 {
            let Some(b) = buffer_index(buf) else {
                return BAD_ARGUMENT;
            };
            let data = &c.data().buffers[b];
            let start = (start.max(0) as usize).min(data.len());
            let end = start.saturating_add(max.max(0) as usize).min(data.len());
            let bytes = data[start..end].to_vec();
            give(&mut c, &bytes, ret_ptr, ret_size)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_buffer_bytes",
        |mut c: C<'_>, buf: i32, start: i32, size: i32, ptr: i32, len: i32| -> i32 {
            let (Some(b), Some(bytes)) = (buffer_index(buf), read(&c, ptr, len)) else {
                return BAD_ARGUMENT;
            };
            let data = &mut c.data_mut().buffers[b];
            let start = (start.max(0) as usize).min(data.len());
            let end = start.saturating_add(size.max(0) as usize).min(data.len());
            data.splice(start..end, bytes);
            OK
        },
    )?;
    // Everything else an SDK may import (properties, metrics, HTTP calls, timers, ...).
    for import in module.imports() {
        let wasmi::ExternType::Func(ty) = import.ty() else {
            continue;
        };
        if import.module() != "env" || DEFINED.contains(&import.name()) {
            continue;
        }
        let results = ty.results().to_vec();
        linker.func_new(
            "env",
            import.name(),
            ty.clone(),
            move |_c, _params, out: &mut [Val]| {
                for (slot, t) in out.iter_mut().zip(&results) {
                    *slot = match t {
                        wasmi::ValType::I32 => Val::I32(UNIMPLEMENTED),
                        _ => Val::default_for_ty(*t),
                    };
                }
                Ok(())
            },
        )?;
    }
    Ok(())
}

/// The host functions [`link`] implements.
const DEFINED: &[&str] = &[
    "proxy_log",
    "proxy_get_current_time_nanoseconds",
    "proxy_get_header_map_pairs",
    "proxy_set_header_map_pairs",
    "proxy_get_header_map_value",
    "proxy_add_header_map_value",
    "proxy_replace_header_map_value",
    "proxy_remove_header_map_value",
    "proxy_get_buffer_bytes",
    "proxy_set_buffer_bytes",
];

pub fn memory_of(instance: &wasmi::Instance, store: &wasmi::Store<Host>) -> Option<Memory> {
    instance
        .get_export(store, "memory")
        .and_then(Extern::into_memory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_maps_round_trip_through_the_abi_encoding() {
        let pairs = vec![
            ("x-a".to_string(), "1".to_string()),
            ("content-type".to_string(), "application/json".to_string()),
            ("empty".to_string(), String::new()),
        ];
        assert_eq!(deserialize(&serialize(&pairs)).unwrap(), pairs);
        assert_eq!(deserialize(&[1, 0, 0, 0, 9, 0]), None, "truncated");
    }
}
