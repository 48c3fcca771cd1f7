//! A global allocator that counts calls and requested bytes, then hands
//! every call to the system allocator unchanged.
//!
//! The binary installs it with
//! `#[global_allocator] static A: Counting = Counting;` and reads
//! [`snapshot`] before and after the measured loop; the difference is what
//! the loop allocated (the process has no other thread that allocates: the
//! client runs its event loop on the calling thread and nginx is a separate
//! process).
//!
//! What is counted follows valgrind's DHAT: `alloc`, `alloc_zeroed` and
//! `realloc` each count as one allocation, of the (new) size requested.
//!
//! This is the only `unsafe` code in the crate, and it is unavoidable:
//! `GlobalAlloc` is an unsafe trait, and forwarding to `System` means calling
//! its unsafe methods with the caller's own arguments, whose contract the
//! caller has already promised to uphold.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static REALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
/// Bytes allocated and not yet freed (for the soak's heap figures).
static LIVE: AtomicU64 = AtomicU64::new(0);

/// The counting allocator (a unit struct: all counters are global).
pub struct Counting;

// SAFETY: every method forwards to `System` with exactly the arguments it
// was given, so `System`'s guarantees carry over; the counters are atomics
// and never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        LIVE.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        LIVE.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds the contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as u64, Relaxed);
        // SAFETY: forwarded unchanged; `ptr` came from `System` through us.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        REALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size as u64, Relaxed);
        LIVE.fetch_add(new_size as u64, Relaxed);
        LIVE.fetch_sub(layout.size() as u64, Relaxed);
        // SAFETY: forwarded unchanged; `ptr` came from `System` through us.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocator counters at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Calls to `alloc`, `alloc_zeroed` and `realloc`.
    pub allocs: u64,
    /// Of which `realloc`.
    pub reallocs: u64,
    /// Bytes requested (the new size, for `realloc`).
    pub bytes: u64,
}

impl Counts {
    /// What happened between `earlier` and `self`.
    pub fn since(self, earlier: Counts) -> Counts {
        Counts {
            allocs: self.allocs - earlier.allocs,
            reallocs: self.reallocs - earlier.reallocs,
            bytes: self.bytes - earlier.bytes,
        }
    }
}

/// The counters now. Meaningful only when [`Counting`] is the global
/// allocator; otherwise they stay at zero.
pub fn snapshot() -> Counts {
    Counts {
        allocs: ALLOCS.load(Relaxed),
        reallocs: REALLOCS.load(Relaxed),
        bytes: BYTES.load(Relaxed),
    }
}

/// Heap bytes allocated through [`Counting`] and not freed yet (requested
/// sizes, without the allocator's own overhead). Zero when [`Counting`] is
/// not the global allocator.
pub fn live_bytes() -> u64 {
    LIVE.load(Relaxed)
}
