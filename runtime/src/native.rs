//! Native code: the contract between JIT-compiled code and the runtime that runs it, the
//! executable memory a host provides ([`ExecHost`]; with `std`, [`MMAP_HOST`]) and the dispatcher
//! that runs it.
//!
//! # The contract
//! A native program is a blob of position-independent machine code holding one or more
//! *regions*, each a function `extern "C" fn(env: *mut Env, pc: u64) -> u64` that runs the
//! program from slot `pc` (one of its entries) until control leaves the region. It returns the
//! slot to continue at, or [`DONE`] (result in `env.regs[0]`) or [`FAULT`] (details in
//! `env.fault`). Registers travel between regions in `env.regs`; besides, code writes
//! `env.regs` only to pass helper arguments (`r1`-`r5`, to the trampoline) and the result (`r0`), so a run that
//! calls no helper and never leaves its first region changes only `env.regs[0]` there. The code holds no absolute
//! address and no relocation: the context, the stack and the helper table are reached through
//! `env`, so the same bytes run wherever they are mapped.
//!
//! Addresses stay the interpreter's virtual ones ([`crate::CTX_BASE`], [`crate::STACK_BASE`]), so
//! pointer values, and anything stored from them, are identical on both engines; the code
//! adds `ctx_delta` or `stack_delta` to reach host memory. Local calls keep their return slot
//! and `r6`-`r9` in `env.frames`; the depth is implicit in `r10`.
//!
//! Trusted filters whose only memory is the packet and the stack can instead be compiled with
//! the *direct-call ABI* ([`NativeFilter`], with `std`): one function `extern "C"
//! fn(packet: *const u8, len: u64, wire_len: u64) -> u64` taking the packet in registers and
//! returning `r0`, with no environment at all (the same virtual addresses, translated by the
//! packet pointer and a stack slot of its own native frame).
//!
//! Trusted code (from verified bytecode) checks nothing. Checked code bounds-checks every access
//! against the live stack and the context, meters the budget in `env.left` a straight-line
//! stretch at a time, and reports the same [`FaultKind`] at the same slot as the interpreter.

use crate::fault::{Fault, FaultKind};
use crate::interp::MAX_CALL_DEPTH;

/// A region returns this when the program exited; `r0` is in `env.regs[0]`.
pub const DONE: u64 = u64::MAX;
/// A region returns this when the run faulted; see [`Env::fault`].
pub const FAULT: u64 = u64::MAX - 1;

/// Fault codes in `env.fault[0]`.
pub mod code {
    /// Out-of-bounds access: `fault[2]` = address, `fault[3]` = size | write << 8.
    pub const OUT_OF_BOUNDS: u64 = 1;
    /// Budget exhausted before instruction `fault[1]`.
    pub const BUDGET: u64 = 2;
    /// Local calls nested too deep.
    pub const CALL_DEPTH: u64 = 3;
    /// Control reached a slot that is not an instruction.
    pub const FELL_OFF: u64 = 4;
    /// An unsupported instruction; `fault[2]` = 0 for pseudo `lddw`, 1 for kfunc calls.
    pub const UNSUPPORTED: u64 = 5;
    /// A helper failed; the runtime recorded why.
    pub const HELPER: u64 = 6;
}

/// Status a helper trampoline returns.
pub mod status {
    /// Continue with `env.regs[0]` as `r0`.
    pub const VALUE: u64 = 0;
    /// Stop the program with `env.regs[0]` as `r0`.
    pub const STOP: u64 = 1;
    /// The helper failed: the run faults.
    pub const FAILED: u64 = 2;
}

/// The helper trampoline: `(env, helper id, slot of the call) -> status`; arguments in
/// `env.regs[1..=5]`, result in `env.regs[0]`.
pub type HelperFn = unsafe extern "C" fn(*mut Env, u64, u64) -> u64;

/// A helper native code calls through the run's table of direct helpers ([`Env::direct`]),
/// without the trampoline: `(env, r1, r2, r3, r4, r5) -> status`, the result in
/// `env.regs[0]`, as the trampoline's. The runtime makes these functions itself, one per helper
/// id for the helper table's concrete type (`NativeProgram::run_with`), so each is a direct,
/// statically dispatched call of that type's [`crate::Helpers::call`].
pub type DirectFn = unsafe extern "C" fn(*mut Env, u64, u64, u64, u64, u64) -> u64;

/// Helper ids below this have an entry in a table of direct helpers ([`Env::direct`]); the
/// code calls higher ids, and every `callx`, through the trampoline.
pub const DIRECT_HELPERS: usize = 16;

/// What native code sees of a run. `#[repr(C)]`: the JIT emits loads and stores at the
/// offsets below.
#[repr(C)]
#[derive(Debug)]
pub struct Env {
    /// `r0`-`r10`.
    pub regs: [u64; 11],
    /// Host address of the context minus [`crate::CTX_BASE`] (wrapping).
    pub ctx_delta: u64,
    /// Context length in bytes.
    pub ctx_len: u64,
    /// Host address of the stack minus [`crate::STACK_BASE`] (wrapping).
    pub stack_delta: u64,
    /// Budget left (checked code).
    pub left: u64,
    /// 1 when the context may be written (`raw`).
    pub writable: u64,
    /// The helper trampoline.
    pub helper: HelperFn,
    /// Fault code, slot, and two operands (see [`code`]).
    pub fault: [u64; 4],
    /// Per caller: return slot, `r6`-`r9`.
    pub frames: [[u64; 5]; MAX_CALL_DEPTH],
    /// The run's table of direct helpers ([`DIRECT_HELPERS`] entries, indexed by id), or null:
    /// `call imm` with an id below [`DIRECT_HELPERS`] calls its entry directly, any other call
    /// goes through [`Env::helper`].
    pub direct: *const [DirectFn; DIRECT_HELPERS],
}

/// Byte offsets of [`Env`]'s fields, for the code generator.
pub mod offset {
    /// `regs[0]`.
    pub const REGS: i32 = 0;
    /// `ctx_delta`.
    pub const CTX_DELTA: i32 = 88;
    /// `ctx_len`.
    pub const CTX_LEN: i32 = 96;
    /// `stack_delta`.
    pub const STACK_DELTA: i32 = 104;
    /// `left`.
    pub const LEFT: i32 = 112;
    /// `writable`.
    pub const WRITABLE: i32 = 120;
    /// `helper`.
    pub const HELPER: i32 = 128;
    /// `fault[0]`.
    pub const FAULT: i32 = 136;
    /// `frames[0][0]`.
    pub const FRAMES: i32 = 168;
    /// Bytes per frame record.
    pub const FRAME_SIZE: i32 = 40;
    /// `direct`.
    pub const DIRECT: i32 = FRAMES + FRAME_SIZE * super::MAX_CALL_DEPTH as i32;
}

const _: () = {
    assert!(core::mem::offset_of!(Env, regs) == offset::REGS as usize);
    assert!(core::mem::offset_of!(Env, ctx_delta) == offset::CTX_DELTA as usize);
    assert!(core::mem::offset_of!(Env, ctx_len) == offset::CTX_LEN as usize);
    assert!(core::mem::offset_of!(Env, stack_delta) == offset::STACK_DELTA as usize);
    assert!(core::mem::offset_of!(Env, left) == offset::LEFT as usize);
    assert!(core::mem::offset_of!(Env, writable) == offset::WRITABLE as usize);
    assert!(core::mem::offset_of!(Env, helper) == offset::HELPER as usize);
    assert!(core::mem::offset_of!(Env, fault) == offset::FAULT as usize);
    assert!(core::mem::offset_of!(Env, frames) == offset::FRAMES as usize);
    assert!(core::mem::size_of::<[u64; 5]>() == offset::FRAME_SIZE as usize);
    assert!(core::mem::offset_of!(Env, direct) == offset::DIRECT as usize);
};

/// Where a region starts: the first slot it covers and its byte offset in the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionEntry {
    /// First slot of the region (regions are sorted and cover the program).
    pub start: u32,
    /// Offset of its function in the code.
    pub offset: u32,
}

/// Turns the raw fault record of `env` into a [`Fault`] (`helper` holds what a failing helper
/// reported; `budget` is the run's, for [`FaultKind::BudgetExhausted`]).
pub fn decode_fault(env: &Env, helper: Option<FaultKind>, budget: u64) -> Fault {
    let [c, pc, a, b] = env.fault;
    let kind = match c {
        code::OUT_OF_BOUNDS => {
            let size = (b & 0xff) as u8;
            let write = b & 0x100 != 0;
            let off = a.wrapping_sub(crate::CTX_BASE);
            let in_ctx = off <= env.ctx_len && u64::from(size) <= env.ctx_len - off;
            if write && in_ctx && env.writable == 0 {
                FaultKind::ReadOnly { addr: a, size }
            } else {
                FaultKind::OutOfBounds { addr: a, size, write }
            }
        }
        code::BUDGET => FaultKind::BudgetExhausted { budget },
        code::CALL_DEPTH => FaultKind::CallDepthExceeded,
        code::UNSUPPORTED => {
            FaultKind::Unsupported { what: crate::decoded::UNSUPPORTED[(a & 1) as usize] }
        }
        code::HELPER => {
            helper.unwrap_or(FaultKind::HelperFailed { id: 0, reason: "unknown helper failure" })
        }
        _ => FaultKind::FellOffEnd,
    };
    Fault { pc: pc as usize, kind }
}

pub mod signed;
mod target;
pub use target::Target;

mod exec;
pub use exec::{
    CallGuard, ExecHost, ExecMemory, ExecPages, FilterFn, LoadError, MAX_CODE_SIZE, NativeOutcome,
    NativeProgram, NativeRunner, RegionFn,
};
#[cfg(feature = "std")]
pub use exec::{MMAP_HOST, MmapHost, NativeFilter};
