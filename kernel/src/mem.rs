//! Physical memory, the kernel's own page tables, and the heap.
//!
//! The machine has 128 MiB (`-m 128M`). The layout, physical:
//! - `[0, 8 MiB)`: 4 KiB pages. Page 0 is not mapped (a null access faults); the kernel's
//!   text (`__text_start..__text_end`, from `link.ld`) is read+execute, its read-only data
//!   (`..__rodata_end`) read-only and NX; every other page is read+write and NX;
//! - `[8 MiB, 56 MiB)`: the heap, and `[56 MiB, 64 MiB)`: frames for page tables; 2 MiB pages,
//!   read+write, NX;
//! - `[64 MiB, 128 MiB)`: frames for native code. They are not in the identity map at all:
//!   code is reached only through the code window (virtual `CODE_WINDOW` up), where a page is
//!   mapped read+write+NX while it is filled, then read+execute ([`map_code`]).
//!
//! EFER.NXE and CR0.WP were turned on at boot, so the MMU enforces W^X: nothing is writable and
//! executable at once, even for the kernel.

use alloc::boxed::Box;
use alloc::string::String;
use core::arch::asm;
use core::cell::Cell;

use crate::heap::Bump;

const PRESENT: u64 = 1;
const WRITABLE: u64 = 1 << 1;
const HUGE: u64 = 1 << 7;
const NO_EXEC: u64 = 1 << 63;
const ADDR: u64 = 0x000f_ffff_ffff_f000;

const MIB: usize = 1 << 20;
/// The part of the identity map in 4 KiB pages.
const SMALL_END: usize = 8 * MIB;
const HEAP: (usize, usize) = (8 * MIB, 56 * MIB);
const TABLES: (usize, usize) = (56 * MIB, 64 * MIB);
const CODE_FRAMES: (usize, usize) = (64 * MIB, 128 * MIB);
/// Where code pages are mapped (PML4 slot 1: 512 GiB; the trap handler in `exec.rs` takes an
/// instruction at or above it for native code).
const CODE_WINDOW: usize = 1 << 39;
const PAGE: usize = 4096;

unsafe extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
}

/// The allocators and the root of the page tables (one CPU, interrupts off: no sharing).
struct Memory {
    pml4: Cell<usize>,
    next_table: Cell<usize>,
    next_code_frame: Cell<usize>,
    next_window: Cell<usize>,
}

// SAFETY: the kernel runs on one CPU with interrupts off; nothing reaches `MEMORY`
// concurrently.
unsafe impl Sync for Memory {}

static MEMORY: Memory = Memory {
    pml4: Cell::new(0),
    next_table: Cell::new(TABLES.0),
    next_code_frame: Cell::new(CODE_FRAMES.0),
    next_window: Cell::new(CODE_WINDOW),
};

/// A zeroed frame for a page table (identity-mapped, so its address is its pointer).
fn table_frame() -> usize {
    let at = MEMORY.next_table.get();
    if at >= TABLES.1 {
        crate::fatal(format_args!("out of page-table frames"));
    }
    MEMORY.next_table.set(at + PAGE);
    // SAFETY: `[at, at + 4096)` is in the page-table pool, identity-mapped read+write (by the
    // boot tables and by ours), and handed out once.
    unsafe { core::ptr::write_bytes(at as *mut u8, 0, PAGE) };
    at
}

/// The page table `table` points at in entry `i`, made if absent.
fn next_level(table: usize, i: usize) -> usize {
    // SAFETY: `table` is a page-table frame from `table_frame` (identity-mapped, writable);
    // `i < 512`.
    let entry = unsafe { &mut *(table as *mut u64).add(i) };
    if *entry & PRESENT == 0 {
        // Intermediate levels allow everything; the leaf decides.
        *entry = table_frame() as u64 | PRESENT | WRITABLE;
    }
    (*entry & ADDR) as usize
}

/// The leaf entry of the 4 KiB page at `va` (tables made as needed).
fn pte(va: usize) -> &'static mut u64 {
    let pml4 = MEMORY.pml4.get();
    let pdpt = next_level(pml4, (va >> 39) & 511);
    let pd = next_level(pdpt, (va >> 30) & 511);
    let pt = next_level(pd, (va >> 21) & 511);
    // SAFETY: `pt` is a page-table frame, identity-mapped and writable; the index is < 512.
    unsafe { &mut *(pt as *mut u64).add((va >> 12) & 511) }
}

fn invlpg(va: usize) {
    // SAFETY: flushing one TLB entry has no effect on memory.
    unsafe { asm!("invlpg [{}]", in(reg) va, options(nostack, preserves_flags)) }
}

/// Builds the kernel's page tables, switches to them, and gives the heap its memory.
pub fn init(heap: &Bump) {
    let pml4 = table_frame();
    MEMORY.pml4.set(pml4);
    let text = (&raw const __text_start as usize, &raw const __text_end as usize);
    let rodata_end = &raw const __rodata_end as usize;
    for va in (PAGE..SMALL_END).step_by(PAGE) {
        let flags = if text.0 <= va && va < text.1 {
            PRESENT
        } else if text.1 <= va && va < rodata_end {
            PRESENT | NO_EXEC
        } else {
            PRESENT | WRITABLE | NO_EXEC
        };
        *pte(va) = va as u64 | flags;
    }
    for va in (SMALL_END..CODE_FRAMES.0).step_by(2 * MIB) {
        let pdpt = next_level(pml4, 0);
        let pd = next_level(pdpt, (va >> 30) & 511);
        // SAFETY: `pd` is a page-table frame; the index is < 512.
        unsafe {
            *(pd as *mut u64).add((va >> 21) & 511) =
                va as u64 | PRESENT | WRITABLE | HUGE | NO_EXEC;
        }
    }
    // SAFETY: the new tables map the kernel's text, stack, statics, heap and page tables at
    // the same addresses as the boot tables, so execution continues where it is.
    unsafe { asm!("mov cr3, {}", in(reg) pml4, options(nostack, preserves_flags)) };
    heap.init(HEAP.0, HEAP.1);
}

/// Code pages: `pages` pages at `base` in the code window, read+execute.
#[derive(Debug)]
pub struct CodePages {
    base: usize,
    len: usize,
    pages: usize,
}

impl CodePages {
    /// Address of the first byte.
    pub fn base(&self) -> usize {
        self.base
    }

    /// Bytes of code.
    pub fn len(&self) -> usize {
        self.len
    }
}

impl Drop for CodePages {
    fn drop(&mut self) {
        // Unmapped; the frames are not reused (a bump allocator).
        for p in 0..self.pages {
            let va = self.base + p * PAGE;
            *pte(va) = 0;
            invlpg(va);
        }
    }
}

/// Maps `code` into fresh frames in the code window: each page read+write+NX while the code is
/// copied in, then read+execute (present, not writable, executable).
pub fn map_code(code: &[u8]) -> Result<Box<CodePages>, String> {
    let pages = code.len().div_ceil(PAGE);
    let frames = MEMORY.next_code_frame.get();
    if pages > (CODE_FRAMES.1 - frames) / PAGE {
        return Err(String::from("out of frames for code"));
    }
    MEMORY.next_code_frame.set(frames + pages * PAGE);
    let base = MEMORY.next_window.get();
    // A guard page after each mapping.
    MEMORY.next_window.set(base + (pages + 1) * PAGE);
    for p in 0..pages {
        let va = base + p * PAGE;
        *pte(va) = (frames + p * PAGE) as u64 | PRESENT | WRITABLE | NO_EXEC;
        invlpg(va);
    }
    // SAFETY: `[base, base + pages * 4096)` was just mapped read+write to fresh frames that
    // nothing else maps; the copy stays inside it, and the tail of the last page is zeroed.
    unsafe {
        core::ptr::copy_nonoverlapping(code.as_ptr(), base as *mut u8, code.len());
        core::ptr::write_bytes((base + code.len()) as *mut u8, 0, pages * PAGE - code.len());
    }
    for p in 0..pages {
        let va = base + p * PAGE;
        *pte(va) = (frames + p * PAGE) as u64 | PRESENT;
        invlpg(va);
    }
    Ok(Box::new(CodePages { base, len: code.len(), pages }))
}
