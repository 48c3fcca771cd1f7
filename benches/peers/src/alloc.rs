//! Allocation counters at two levels.
//!
//! - [`Counting`], the Rust global allocator (as in `benches/src/alloc.rs`):
//!   what Rust code asks of `GlobalAlloc`.
//! - `malloc`, `calloc`, `realloc`, `posix_memalign`, `aligned_alloc`,
//!   `memalign` and `free`, defined here and so interposed for the whole
//!   process, shared libraries included (glibc supports replacing malloc
//!   from the main program). They count and forward to glibc's own
//!   `__libc_*` functions. libcurl and OpenSSL allocate with `malloc`, not
//!   through Rust, so only this level sees them; Rust's `System` allocator
//!   calls the same functions, so this level counts every allocation of
//!   the process, Rust's included, one call for one call.
//!
//! Counted as valgrind's DHAT counts: each allocating call is one
//! allocation of the (new) size requested; `realloc(p, 0)` and `free` are
//! not counted.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

static RUST_ALLOCS: AtomicU64 = AtomicU64::new(0);
static C_ALLOCS: AtomicU64 = AtomicU64::new(0);
static C_BYTES: AtomicU64 = AtomicU64::new(0);

/// The counting Rust global allocator.
pub struct Counting;

// SAFETY: every method forwards to `System` with the arguments it was
// given; the counters are atomics and never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        RUST_ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        RUST_ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        RUST_ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

extern "C" {
    fn __libc_malloc(size: usize) -> *mut c_void;
    fn __libc_calloc(n: usize, size: usize) -> *mut c_void;
    fn __libc_realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    fn __libc_memalign(align: usize, size: usize) -> *mut c_void;
    fn __libc_free(ptr: *mut c_void);
}

fn count(size: usize) {
    C_ALLOCS.fetch_add(1, Relaxed);
    C_BYTES.fetch_add(size as u64, Relaxed);
}

/// `malloc(3)`, counted.
///
/// # Safety
/// The C contract of `malloc`.
#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    count(size);
    // SAFETY: glibc's malloc, same contract.
    unsafe { __libc_malloc(size) }
}

/// `calloc(3)`, counted.
///
/// # Safety
/// The C contract of `calloc`.
#[no_mangle]
pub unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    count(n.saturating_mul(size));
    // SAFETY: glibc's calloc, same contract.
    unsafe { __libc_calloc(n, size) }
}

/// `realloc(3)`, counted unless it frees.
///
/// # Safety
/// The C contract of `realloc`.
#[no_mangle]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    if size != 0 || ptr.is_null() {
        count(size);
    }
    // SAFETY: glibc's realloc, same contract.
    unsafe { __libc_realloc(ptr, size) }
}

/// `free(3)`, not counted.
///
/// # Safety
/// The C contract of `free`.
#[no_mangle]
pub unsafe extern "C" fn free(ptr: *mut c_void) {
    // SAFETY: glibc's free, same contract.
    unsafe { __libc_free(ptr) }
}

/// `memalign(3)`, counted.
///
/// # Safety
/// The C contract of `memalign`.
#[no_mangle]
pub unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    count(size);
    // SAFETY: glibc's memalign, same contract.
    unsafe { __libc_memalign(align, size) }
}

/// `aligned_alloc(3)`, counted.
///
/// # Safety
/// The C contract of `aligned_alloc`.
#[no_mangle]
pub unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    count(size);
    // SAFETY: glibc's memalign accepts every alignment aligned_alloc does.
    unsafe { __libc_memalign(align, size) }
}

/// `posix_memalign(3)`, counted.
///
/// # Safety
/// The C contract of `posix_memalign`.
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    const EINVAL: c_int = 22;
    const ENOMEM: c_int = 12;
    if !align.is_power_of_two() || align % std::mem::size_of::<usize>() != 0 {
        return EINVAL;
    }
    count(size);
    // SAFETY: valid alignment checked above; `out` is the caller's.
    let p = unsafe { __libc_memalign(align, size) };
    if p.is_null() {
        return ENOMEM;
    }
    // SAFETY: the caller passes a valid pointer to store the result in.
    unsafe { *out = p };
    0
}

/// Allocation counters at one instant.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counts {
    /// Allocating calls to the C allocator (every allocation of the process).
    pub all: u64,
    /// Bytes requested from the C allocator.
    pub bytes: u64,
    /// Of `all`, those made through Rust's global allocator.
    pub rust: u64,
}

impl Counts {
    /// What happened between `earlier` and `self`.
    pub fn since(self, earlier: Counts) -> Counts {
        Counts {
            all: self.all - earlier.all,
            bytes: self.bytes - earlier.bytes,
            rust: self.rust - earlier.rust,
        }
    }
}

/// The counters now.
pub fn snapshot() -> Counts {
    Counts {
        all: C_ALLOCS.load(Relaxed),
        bytes: C_BYTES.load(Relaxed),
        rust: RUST_ALLOCS.load(Relaxed),
    }
}
