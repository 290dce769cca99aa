//! OpenSSL's memory through mimalloc, the allocator the rest of the proxy uses.
//!
//! OpenSSL keeps its record buffers only while a connection has data in flight (the
//! `openssl` crate sets `SSL_MODE_RELEASE_BUFFERS` on every context, as nginx and HAProxy
//! do, so an idle connection holds no 17 KB read buffer): each request on a TLS
//! connection therefore allocates and frees its read and write buffers again. Through
//! the C library's malloc those large blocks took about 3,000 instructions per HTTP/2
//! request (callgrind, `docs/benchmarks.md`); mimalloc serves them from per-thread pages.
//!
//! OpenSSL accepts another allocator only before its first allocation, so [`install`]
//! runs first thing in `main`; [`name`] says which one OpenSSL ended up with (the
//! "proxy listening" log line carries it).
//!
//! Must never: hand OpenSSL an allocator after it has allocated (OpenSSL refuses that,
//! and memory would otherwise be freed by the allocator that did not allocate it).

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, Ordering};

static INSTALLED: AtomicBool = AtomicBool::new(false);

unsafe extern "C" {
    /// OpenSSL 1.1+ (`crypto/mem.c`); openssl-sys does not declare it.
    fn CRYPTO_set_mem_functions(
        malloc: unsafe extern "C" fn(usize, *const c_char, c_int) -> *mut c_void,
        realloc: unsafe extern "C" fn(*mut c_void, usize, *const c_char, c_int) -> *mut c_void,
        free: unsafe extern "C" fn(*mut c_void, *const c_char, c_int),
    ) -> c_int;
}

unsafe extern "C" fn malloc(size: usize, _file: *const c_char, _line: c_int) -> *mut c_void {
    // SAFETY: mi_malloc has malloc's contract.
    unsafe { libmimalloc_sys::mi_malloc(size) }
}

unsafe extern "C" fn realloc(
    ptr: *mut c_void,
    size: usize,
    _file: *const c_char,
    _line: c_int,
) -> *mut c_void {
    // SAFETY: `ptr` is null or came from `malloc`/`realloc` above (OpenSSL allocated
    // nothing before `install`), and mi_realloc has realloc's contract.
    unsafe { libmimalloc_sys::mi_realloc(ptr, size) }
}

unsafe extern "C" fn free(ptr: *mut c_void, _file: *const c_char, _line: c_int) {
    // SAFETY: as for `realloc`; mi_free accepts null.
    unsafe { libmimalloc_sys::mi_free(ptr) }
}

/// Makes OpenSSL allocate with mimalloc; `false` when OpenSSL had already allocated
/// (it then keeps the C library's malloc).
pub fn install() -> bool {
    // SAFETY: the three functions have the signatures OpenSSL declares; OpenSSL only
    // switches when it has not allocated yet, so every block is freed by the allocator
    // that allocated it.
    let ok = unsafe { CRYPTO_set_mem_functions(malloc, realloc, free) } == 1;
    INSTALLED.store(ok, Ordering::Relaxed);
    ok
}

/// The allocator OpenSSL uses: `mimalloc` after a successful [`install`], else `libc`.
pub fn name() -> &'static str {
    if INSTALLED.load(Ordering::Relaxed) {
        "mimalloc"
    } else {
        "libc"
    }
}
