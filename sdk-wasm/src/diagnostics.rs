//! What the package's own tests look at; not part of the package's API (no entry point
//! re-exports it).

use wasm_bindgen::prelude::*;

/// The size of this module's linear memory in bytes (`WebAssembly.Memory.buffer.byteLength`):
/// the leak test checks that many calls leave it unchanged. Memory only ever grows, so a leak
/// shows as growth.
#[wasm_bindgen(js_name = wasmMemoryBytes)]
pub fn wasm_memory_bytes() -> f64 {
    #[cfg(target_arch = "wasm32")]
    {
        // Pages of 64 KiB; at most 65,536 of them, exact in an f64.
        core::arch::wasm32::memory_size::<0>() as f64 * 65_536.0
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0.0
    }
}
