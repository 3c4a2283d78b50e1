//! The server process's live heap, counted by a global allocator that forwards to the system
//! allocator: what the program holds, independent of what the allocator keeps for reuse (RSS).
//! The same pattern as the counting allocators of `tests/alloc_steady_state.rs` and
//! `benches/deflate.rs`; the library crates themselves forbid `unsafe` (`wsx` but for a few
//! blocks, each with its SAFETY comment: see `crates/wsx/src/lib.rs`).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts live bytes.
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Bytes allocated and not yet freed.
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, only
// counting sizes; `System` upholds the `GlobalAlloc` contract.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE.fetch_add(new_size, Ordering::Relaxed);
        }
        new
    }
}

// glibc's `malloc_trim` (malloc.h): hands the free pages of every arena back to the kernel.
unsafe extern "C" {
    fn malloc_trim(pad: usize) -> i32;
}

/// Asks glibc to give back to the kernel the memory it keeps for reuse, so that RSS shows what
/// is live (plus page-level fragmentation) rather than the allocator's high-water mark.
pub fn trim() {
    // SAFETY: `malloc_trim` takes a size and only releases memory that is free in the
    // allocator's own bookkeeping; it is thread-safe (it locks each arena) and the process
    // uses glibc's malloc (every target this example runs on links glibc).
    unsafe {
        malloc_trim(0);
    }
}
