;; A proxy-wasm filter in WebAssembly text, for the `wasm` plugin (README "Plugins"):
;;   request headers:  adds `x-wasm-filter: on`, removes `x-remove-me`, copies `x-wasm-echo`
;;                     into `x-wasm-echoed` (a read through the host's allocator)
;;   response headers: sets `x-wasm-response: seen`
;;   response body:    upper-cases ASCII letters
;; Rust's wasm targets cannot be added on the build machines; any proxy-wasm SDK's output
;; loads the same way (`file: filter.wasm`).
(module
  (import "env" "proxy_add_header_map_value" (func $add (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_replace_header_map_value" (func $replace (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_remove_header_map_value" (func $remove (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_header_map_value" (func $get (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_get_buffer_bytes" (func $get_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_set_buffer_bytes" (func $set_buffer (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "proxy_log" (func $log (param i32 i32 i32) (result i32)))
  (import "env" "proxy_get_property" (func $get_property (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  ;; A bump allocator, reset for every context: nothing outlives a callback here.
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 16) "x-wasm-filter")
  (data (i32.const 32) "on")
  (data (i32.const 48) "x-remove-me")
  (data (i32.const 64) "x-wasm-echo")
  (data (i32.const 80) "x-wasm-echoed")
  (data (i32.const 96) "x-wasm-response")
  (data (i32.const 112) "seen")
  (data (i32.const 128) "filter configured")
  ;; 200: returned pointer, 204: returned size.

  (func (export "proxy_abi_version_0_2_1"))

  (func (export "proxy_on_memory_allocate") (param $size i32) (result i32)
    (local $at i32)
    (local.set $at (global.get $heap))
    (global.set $heap (i32.and (i32.add (i32.add (global.get $heap) (local.get $size)) (i32.const 7)) (i32.const -8)))
    (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
      (then (drop (memory.grow (i32.add (i32.shr_u (local.get $size) (i32.const 16)) (i32.const 1))))))
    (local.get $at))

  (func (export "proxy_on_context_create") (param $ctx i32) (param $parent i32)
    (global.set $heap (i32.const 4096)))

  (func (export "proxy_on_configure") (param $ctx i32) (param $size i32) (result i32)
    ;; An import the host does not implement answers 12 (Unimplemented): loading still works.
    (drop (call $get_property (i32.const 0) (i32.const 0) (i32.const 200) (i32.const 204)))
    (drop (call $log (i32.const 2) (i32.const 128) (i32.const 17)))
    (i32.const 1))

  (func (export "proxy_on_request_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (drop (call $add (i32.const 0) (i32.const 16) (i32.const 13) (i32.const 32) (i32.const 2)))
    (drop (call $remove (i32.const 0) (i32.const 48) (i32.const 11)))
    (if (i32.eqz (call $get (i32.const 0) (i32.const 64) (i32.const 11) (i32.const 200) (i32.const 204)))
      (then (drop (call $add (i32.const 0) (i32.const 80) (i32.const 13)
        (i32.load (i32.const 200)) (i32.load (i32.const 204))))))
    (i32.const 0))

  (func (export "proxy_on_response_headers") (param $ctx i32) (param $n i32) (param $eos i32) (result i32)
    (drop (call $replace (i32.const 2) (i32.const 96) (i32.const 15) (i32.const 112) (i32.const 4)))
    (i32.const 0))

  (func (export "proxy_on_response_body") (param $ctx i32) (param $size i32) (param $eos i32) (result i32)
    (local $p i32) (local $end i32) (local $b i32)
    (if (call $get_buffer (i32.const 1) (i32.const 0) (local.get $size) (i32.const 200) (i32.const 204))
      (then (return (i32.const 0))))
    (local.set $p (i32.load (i32.const 200)))
    (local.set $end (i32.add (local.get $p) (i32.load (i32.const 204))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $b (i32.load8_u (local.get $p)))
        (if (i32.and (i32.ge_u (local.get $b) (i32.const 97)) (i32.le_u (local.get $b) (i32.const 122)))
          (then (i32.store8 (local.get $p) (i32.sub (local.get $b) (i32.const 32)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (drop (call $set_buffer (i32.const 1) (i32.const 0) (local.get $size)
      (i32.load (i32.const 200)) (i32.load (i32.const 204))))
    (i32.const 0))
)
