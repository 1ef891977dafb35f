//! The kernel heap: a bump allocator over a fixed range of physical memory (identity-mapped,
//! writable, not executable). Frees are ignored except for the most recent allocation; a
//! kernel that serves one package per boot needs no more.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;

/// A bump allocator over `[start, end)`.
pub struct Bump {
    next: Cell<usize>,
    end: Cell<usize>,
}

// SAFETY: the kernel runs on one CPU with interrupts off; nothing reaches the allocator
// concurrently.
unsafe impl Sync for Bump {}

impl Bump {
    /// An allocator with no memory yet ([`Bump::init`] gives it some).
    pub const fn empty() -> Bump {
        Bump { next: Cell::new(0), end: Cell::new(0) }
    }

    /// Gives it `[start, end)`.
    pub fn init(&self, start: usize, end: usize) {
        self.next.set(start);
        self.end.set(end);
    }
}

// SAFETY: every block handed out is inside `[start, end)`, aligned as asked, and disjoint from
// every other live block (the cursor only moves up, except that freeing the most recent block
// moves it back to that block's start).
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let start = self.next.get().next_multiple_of(layout.align());
        match start.checked_add(layout.size()) {
            Some(end) if end <= self.end.get() => {
                self.next.set(end);
                start as *mut u8
            }
            _ => core::ptr::null_mut(),
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // The most recent block grows or shrinks in place (a `Vec` being filled).
        let at = ptr as usize;
        if at + layout.size() == self.next.get()
            && let Some(end) = at.checked_add(new_size)
            && end <= self.end.get()
        {
            self.next.set(end);
            return ptr;
        }
        // SAFETY: `layout` with `new_size` is valid (the caller's contract); the new block is
        // disjoint from the old one, which stays live until the copy is done.
        let new =
            unsafe { self.alloc(Layout::from_size_align_unchecked(new_size, layout.align())) };
        if !new.is_null() {
            // SAFETY: both blocks are live, disjoint, and at least this long.
            unsafe { core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        }
        new
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ptr as usize + layout.size() == self.next.get() {
            self.next.set(ptr as usize);
        }
    }
}
