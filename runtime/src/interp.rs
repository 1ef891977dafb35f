//! The reference interpreter: the definition of what a program means.
//!
//! Memory model: programs see virtual addresses. The context starts at [`CTX_BASE`]; the stack
//! is [`MAX_CALL_DEPTH`] frames of [`STACK_FRAME`] bytes ending at [`STACK_TOP`], and `r10`
//! points at the top of the current frame. Every load and store is checked against the context
//! and the live part of the stack (the current frame and its callers'); anything else, and any
//! store into a read-only context, is a [`Fault`]. Each run starts with a zeroed frame and each
//! local call zeroes the frame it enters, so a run is a function of its program and input.
//!
//! Registers on entry: `r1` = [`CTX_BASE`], `r2` = context length, `r3` = wire length (for
//! filters; otherwise 0), `r10` = [`STACK_TOP`], all others 0. A local call saves `r6`-`r9` and
//! restores them on return. `LD_ABS`/`LD_IND` read big-endian from the context with classic
//! BPF's meaning: the offset `X + k` is computed in 32 bits (wrapping, see
//! [`udf_bytecode::semantics::packet_offset`]); out of bounds, the program returns 0 at once.

use alloc::vec::Vec;

use udf_bytecode::insn::{AluOp, AtomicOp, Width};
use udf_bytecode::semantics::{alu, packet_offset};

use crate::decoded::{ATOMIC_FETCH, Compiled, SpecialisedOp, UNSUPPORTED};
use crate::fault::{Fault, FaultKind};
use crate::helpers::{HelperError, HelperReturn, Helpers};

/// Virtual address of the first context byte (the native engines use the same addresses).
pub const CTX_BASE: u64 = 0x1_0000_0000;

// The verifier compares two context pointers as their offsets when both lie in [0, 2^32]:
// sound only while no such address wraps, signed or unsigned.
const _: () = assert!(CTX_BASE <= (i64::MAX as u64) - (1 << 32));
/// Bytes of stack per frame.
pub const STACK_FRAME: usize = 512;
/// Most frames live at once (the entry function and nested local calls).
pub const MAX_CALL_DEPTH: usize = 8;
const STACK_SIZE: usize = STACK_FRAME * MAX_CALL_DEPTH;
/// Virtual address of the lowest stack byte.
pub const STACK_BASE: u64 = 0x2_0000_0000;
/// Virtual address just above the stack: `r10` on entry.
pub const STACK_TOP: u64 = STACK_BASE + STACK_SIZE as u64;

/// The context bytes of a run.
#[derive(Debug)]
pub enum Context<'a> {
    /// Read-only (verified program types).
    ReadOnly(&'a [u8]),
    /// Read-write (`raw`).
    ReadWrite(&'a mut [u8]),
}

impl Context<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Context::ReadOnly(b) => b,
            Context::ReadWrite(b) => b,
        }
    }
}

/// Options of one run.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Most instructions to execute; one more is a [`FaultKind::BudgetExhausted`].
    pub budget: u64,
    /// Value of `r3` on entry (a filter's length on the wire).
    pub r3: u64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { budget: 1_000_000_000, r3: 0 }
    }
}

/// How a run ended normally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `r0` at exit.
    pub r0: u64,
    /// Instructions executed.
    pub executed: u64,
}

#[derive(Clone, Copy, Debug)]
struct Frame {
    ret: usize,
    saved: [u64; 4],
}

/// A machine: the stack and frame storage, reused across runs so a run allocates nothing.
#[derive(Debug)]
pub struct Vm {
    stack: alloc::boxed::Box<[u8; STACK_SIZE]>,
    frames: Vec<Frame>,
}

impl Default for Vm {
    fn default() -> Self {
        Vm::new()
    }
}

struct Mem<'a, 'c> {
    ctx: &'a mut Context<'c>,
    stack: &'a mut [u8; STACK_SIZE],
    /// Lowest live stack address (bottom of the current frame).
    stack_lo: u64,
}

/// Reads `size` (1, 2, 4 or 8) little-endian bytes at `at`; the caller has checked the range.
#[inline(always)]
fn read_le(b: &[u8], at: usize, size: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(src) = b.get(at..at + size) {
        w[..size].copy_from_slice(src);
    }
    u64::from_le_bytes(w)
}

/// Writes the low `size` bytes of `v` little-endian at `at`; the caller has checked the range.
#[inline(always)]
fn write_le(b: &mut [u8], at: usize, size: usize, v: u64) {
    if let Some(dst) = b.get_mut(at..at + size) {
        dst.copy_from_slice(&v.to_le_bytes()[..size]);
    }
}

/// Offset of `[addr, addr+size)` inside a region of `len` bytes at `base`.
#[inline(always)]
fn within(addr: u64, size: usize, base: u64, len: usize) -> Option<usize> {
    let off = addr.wrapping_sub(base);
    if off <= len as u64 && size as u64 <= len as u64 - off { Some(off as usize) } else { None }
}

impl Mem<'_, '_> {
    /// Index into the stack buffer of `[addr, addr+size)` if it lies in the live stack
    /// `[stack_lo, STACK_TOP)`.
    #[inline(always)]
    fn stack_off(&self, addr: u64, size: usize) -> Option<usize> {
        let o = addr.wrapping_sub(STACK_BASE);
        if o >= self.stack_lo - STACK_BASE && o <= (STACK_SIZE - size) as u64 {
            Some(o as usize)
        } else {
            None
        }
    }

    #[inline(always)]
    fn load(&self, addr: u64, size: usize) -> Result<u64, FaultKind> {
        if let Some(o) = self.stack_off(addr, size) {
            return Ok(read_le(self.stack, o, size));
        }
        let ctx = self.ctx.bytes();
        match within(addr, size, CTX_BASE, ctx.len()) {
            Some(o) => Ok(read_le(ctx, o, size)),
            None => Err(FaultKind::OutOfBounds { addr, size: size as u8, write: false }),
        }
    }

    #[inline(always)]
    fn store(&mut self, addr: u64, size: usize, v: u64) -> Result<(), FaultKind> {
        if let Some(o) = self.stack_off(addr, size) {
            write_le(self.stack, o, size, v);
            return Ok(());
        }
        match self.ctx {
            Context::ReadWrite(ctx) => match within(addr, size, CTX_BASE, ctx.len()) {
                Some(o) => {
                    write_le(ctx, o, size, v);
                    Ok(())
                }
                None => Err(FaultKind::OutOfBounds { addr, size: size as u8, write: true }),
            },
            Context::ReadOnly(ctx) => match within(addr, size, CTX_BASE, ctx.len()) {
                Some(_) => Err(FaultKind::ReadOnly { addr, size: size as u8 }),
                None => Err(FaultKind::OutOfBounds { addr, size: size as u8, write: true }),
            },
        }
    }

    /// Classic BPF packet load: big-endian, `None` when out of bounds.
    #[inline(always)]
    fn packet(&self, off: u64, size: usize) -> Option<u64> {
        let ctx = self.ctx.bytes();
        let o = within(CTX_BASE.wrapping_add(off), size, CTX_BASE, ctx.len())?;
        let v = read_le(ctx, o, size);
        Some(match size {
            1 => v,
            2 => u64::from((v as u16).swap_bytes()),
            _ => u64::from((v as u32).swap_bytes()),
        })
    }
}

/// Applies an atomic operation at `addr`; returns the old value (zero-extended).
#[inline(never)]
fn atomic(
    mem: &mut Mem<'_, '_>,
    r: &mut [u64; 16],
    code: u64,
    size: usize,
    addr: u64,
    src: usize,
) -> Result<(), FaultKind> {
    let old = mem.load(addr, size)?;
    let fetch = code & ATOMIC_FETCH != 0;
    let width = if size == 4 { Width::W32 } else { Width::W64 };
    let operand = r[src];
    let new = match code & 0xff {
        c if c == AtomicOp::Add as u64 => alu(AluOp::Add, width, old, operand),
        c if c == AtomicOp::Or as u64 => alu(AluOp::Or, width, old, operand),
        c if c == AtomicOp::And as u64 => alu(AluOp::And, width, old, operand),
        c if c == AtomicOp::Xor as u64 => alu(AluOp::Xor, width, old, operand),
        c if c == AtomicOp::Xchg as u64 => operand,
        _ => {
            // cmpxchg: compare with r0 (low 32 bits for the 32-bit form), old value to r0.
            let expected = if size == 4 { r[0] as u32 as u64 } else { r[0] };
            let new = if old == expected { operand } else { old };
            mem.store(addr, size, new)?;
            r[0] = old;
            return Ok(());
        }
    };
    mem.store(addr, size, new)?;
    if fetch {
        r[src] = old;
    }
    Ok(())
}

impl Vm {
    /// A machine with a fresh stack.
    pub fn new() -> Vm {
        Vm {
            stack: alloc::boxed::Box::new([0; STACK_SIZE]),
            frames: Vec::with_capacity(MAX_CALL_DEPTH),
        }
    }

    /// The whole stack (all frames), as the last run left it.
    pub fn stack(&self) -> &[u8] {
        &self.stack[..]
    }

    /// Zeroes the top `bytes` bytes of the entry frame (at most a frame) and returns the
    /// stack's first byte: for code that writes no other byte of it and reads no stack byte
    /// it did not write first (trusted code, `bytes` the verifier's `Facts::stack_use`).
    pub(crate) fn fresh_stack_top(&mut self, bytes: usize) -> *mut u8 {
        self.stack[STACK_SIZE - bytes.min(STACK_FRAME)..].fill(0);
        self.stack.as_mut_ptr()
    }

    /// Zeroes the entry frame, as every run starts, and returns the stack's first byte.
    pub(crate) fn fresh_stack(&mut self) -> *mut u8 {
        self.stack[STACK_SIZE - STACK_FRAME..].fill(0);
        self.stack.as_mut_ptr()
    }

    /// Runs `prog` on `ctx`, calling helpers through `helpers`.
    pub fn run(
        &mut self,
        prog: &Compiled,
        ctx: Context<'_>,
        helpers: &mut dyn Helpers,
        opts: &RunOptions,
    ) -> Result<Outcome, Fault> {
        self.run_with(prog, ctx, helpers, opts, None)
    }

    /// Runs like [`Vm::run`], one instruction at a time, asking `obs` before each one
    /// (the checking mode, [`crate::checking`]). When it says stop, the run ends with
    /// [`FaultKind::CheckFailed`] at that instruction.
    pub fn run_observed(
        &mut self,
        prog: &Compiled,
        ctx: Context<'_>,
        helpers: &mut dyn Helpers,
        opts: &RunOptions,
        obs: &mut dyn Observer,
    ) -> Result<Outcome, Fault> {
        self.run_with(prog, ctx, helpers, opts, Some(obs))
    }

    fn run_with(
        &mut self,
        prog: &Compiled,
        ctx: Context<'_>,
        helpers: &mut dyn Helpers,
        opts: &RunOptions,
        obs: Option<&mut dyn Observer>,
    ) -> Result<Outcome, Fault> {
        let mut ctx = ctx;
        let ctx_len = ctx.bytes().len() as u64;
        let frame0 = STACK_SIZE - STACK_FRAME;
        self.stack[frame0..].fill(0);
        self.frames.clear();
        let mut mem =
            Mem { ctx: &mut ctx, stack: &mut self.stack, stack_lo: STACK_TOP - STACK_FRAME as u64 };
        let mut st = State { r: [0u64; 16], pc: 0, left: opts.budget };
        st.r[1] = CTX_BASE;
        st.r[2] = ctx_len;
        st.r[3] = opts.r3;
        st.r[10] = STACK_TOP;
        let frames = &mut self.frames;
        if let Some(obs) = obs {
            return match exec::<true, true>(prog, &mut st, &mut mem, frames, helpers, opts, obs)? {
                Step::Done(out) => Ok(out),
                Step::Exact => Err(Fault {
                    pc: st.pc,
                    kind: FaultKind::BudgetExhausted { budget: opts.budget },
                }),
            };
        }
        let obs = &mut NoObserver;
        // Metered per straight-line stretch while the budget lasts; once a stretch would
        // overrun it, per instruction, so the fault names the exact instruction.
        match exec::<false, false>(prog, &mut st, &mut mem, frames, helpers, opts, obs)? {
            Step::Done(out) => Ok(out),
            Step::Exact => {
                match exec::<true, false>(prog, &mut st, &mut mem, frames, helpers, opts, obs)? {
                    Step::Done(out) => Ok(out),
                    // The exact loop never asks to switch; treat it as exhaustion to stay total.
                    Step::Exact => Err(Fault {
                        pc: st.pc,
                        kind: FaultKind::BudgetExhausted { budget: opts.budget },
                    }),
                }
            }
        }
    }
}

/// Watches a run instruction by instruction (the checking mode).
pub trait Observer {
    /// Called before the instruction at slot `pc` runs, with the registers `r0`-`r15` (only
    /// `r0`-`r10` are used) and the number of callers on the call stack. Return `false` to
    /// stop the run.
    fn before(&mut self, pc: usize, regs: &[u64; 16], callers: usize) -> bool;
}

struct NoObserver;

impl Observer for NoObserver {
    fn before(&mut self, _: usize, _: &[u64; 16], _: usize) -> bool {
        true
    }
}

/// Registers, program counter and remaining budget, handed from the metered loop to the exact one.
struct State {
    r: [u64; 16],
    pc: usize,
    left: u64,
}

enum Step {
    Done(Outcome),
    /// The next stretch does not fit the budget: continue in the exact loop.
    Exact,
}

/// The dispatch loop. With `EXACT`, the budget is checked before every instruction. Without,
/// a whole straight-line stretch ([`Compiled::stretch`]) is charged when control enters it at
/// the start, after a branch, call or return; if it does not fit, the loop returns
/// [`Step::Exact`] before executing anything of it.
#[inline(always)]
fn exec<const EXACT: bool, const CHECK: bool>(
    prog: &Compiled,
    st: &mut State,
    mem: &mut Mem<'_, '_>,
    frames: &mut Vec<Frame>,
    helpers: &mut dyn Helpers,
    opts: &RunOptions,
    obs: &mut dyn Observer,
) -> Result<Step, Fault> {
    let ops = prog.ops.as_slice();
    let stretch = prog.stretch.as_slice();
    let mut r = st.r;
    let mut pc = st.pc;
    let mut left = st.left;

    macro_rules! fault {
        ($kind:expr) => {
            return Err(Fault { pc, kind: $kind })
        };
    }
    macro_rules! mem_try {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(kind) => fault!(kind),
            }
        };
    }
    // Instructions executed so far, for a run ending at `pc` (which has been executed).
    macro_rules! executed {
        () => {
            if EXACT {
                opts.budget - left
            } else {
                opts.budget - left - (u64::from(stretch[pc]) - 1)
            }
        };
    }
    // Charges the stretch starting at `$p`, or hands over to the exact loop there.
    macro_rules! charge {
        ($p:expr) => {
            if !EXACT {
                let n = u64::from(stretch[$p]);
                if n > left {
                    st.r = r;
                    st.pc = $p;
                    st.left = left;
                    return Ok(Step::Exact);
                }
                left -= n;
            }
        };
    }
    macro_rules! branch {
        ($cond:expr, $next:ident, $op:ident) => {{
            $next = if $cond { $op.aux as usize } else { pc + 1 };
            charge!($next);
        }};
    }
    if !EXACT {
        charge!(pc);
    }
    loop {
        let op = ops[pc];
        if CHECK && !obs.before(pc, &r, frames.len()) {
            fault!(FaultKind::CheckFailed);
        }
        if EXACT {
            if left == 0 {
                fault!(FaultKind::BudgetExhausted { budget: opts.budget });
            }
            left -= 1;
        }
        let d = (op.dst & 15) as usize;
        let s = (op.src & 15) as usize;
        let imm = op.imm;
        // Memory operands: base register plus the signed offset kept in `aux`.
        macro_rules! addr {
            ($base:expr) => {
                r[$base].wrapping_add(op.aux as i32 as i64 as u64)
            };
        }
        let mut next = pc + 1;
        use SpecialisedOp::*;
        match op.kind {
            AddK => r[d] = r[d].wrapping_add(imm),
            AddX => r[d] = r[d].wrapping_add(r[s]),
            SubK => r[d] = r[d].wrapping_sub(imm),
            SubX => r[d] = r[d].wrapping_sub(r[s]),
            MulK => r[d] = r[d].wrapping_mul(imm),
            MulX => r[d] = r[d].wrapping_mul(r[s]),
            DivK => r[d] = alu(AluOp::Div, Width::W64, r[d], imm),
            DivX => r[d] = alu(AluOp::Div, Width::W64, r[d], r[s]),
            SDivK => r[d] = alu(AluOp::SDiv, Width::W64, r[d], imm),
            SDivX => r[d] = alu(AluOp::SDiv, Width::W64, r[d], r[s]),
            OrK => r[d] |= imm,
            OrX => r[d] |= r[s],
            AndK => r[d] &= imm,
            AndX => r[d] &= r[s],
            LshK => r[d] = alu(AluOp::Lsh, Width::W64, r[d], imm),
            LshX => r[d] = alu(AluOp::Lsh, Width::W64, r[d], r[s]),
            RshK => r[d] = alu(AluOp::Rsh, Width::W64, r[d], imm),
            RshX => r[d] = alu(AluOp::Rsh, Width::W64, r[d], r[s]),
            ModK => r[d] = alu(AluOp::Mod, Width::W64, r[d], imm),
            ModX => r[d] = alu(AluOp::Mod, Width::W64, r[d], r[s]),
            SModK => r[d] = alu(AluOp::SMod, Width::W64, r[d], imm),
            SModX => r[d] = alu(AluOp::SMod, Width::W64, r[d], r[s]),
            XorK => r[d] ^= imm,
            XorX => r[d] ^= r[s],
            MovK => r[d] = imm,
            MovX => r[d] = r[s],
            ArshK => r[d] = alu(AluOp::Arsh, Width::W64, r[d], imm),
            ArshX => r[d] = alu(AluOp::Arsh, Width::W64, r[d], r[s]),
            MovSx8 => r[d] = alu(AluOp::MovSx8, Width::W64, r[d], r[s]),
            MovSx16 => r[d] = alu(AluOp::MovSx16, Width::W64, r[d], r[s]),
            MovSx32 => r[d] = alu(AluOp::MovSx32, Width::W64, r[d], r[s]),
            Neg => r[d] = r[d].wrapping_neg(),
            Add32K => r[d] = alu(AluOp::Add, Width::W32, r[d], imm),
            Add32X => r[d] = alu(AluOp::Add, Width::W32, r[d], r[s]),
            Sub32K => r[d] = alu(AluOp::Sub, Width::W32, r[d], imm),
            Sub32X => r[d] = alu(AluOp::Sub, Width::W32, r[d], r[s]),
            Mul32K => r[d] = alu(AluOp::Mul, Width::W32, r[d], imm),
            Mul32X => r[d] = alu(AluOp::Mul, Width::W32, r[d], r[s]),
            Div32K => r[d] = alu(AluOp::Div, Width::W32, r[d], imm),
            Div32X => r[d] = alu(AluOp::Div, Width::W32, r[d], r[s]),
            SDiv32K => r[d] = alu(AluOp::SDiv, Width::W32, r[d], imm),
            SDiv32X => r[d] = alu(AluOp::SDiv, Width::W32, r[d], r[s]),
            Or32K => r[d] = alu(AluOp::Or, Width::W32, r[d], imm),
            Or32X => r[d] = alu(AluOp::Or, Width::W32, r[d], r[s]),
            And32K => r[d] = alu(AluOp::And, Width::W32, r[d], imm),
            And32X => r[d] = alu(AluOp::And, Width::W32, r[d], r[s]),
            Lsh32K => r[d] = alu(AluOp::Lsh, Width::W32, r[d], imm),
            Lsh32X => r[d] = alu(AluOp::Lsh, Width::W32, r[d], r[s]),
            Rsh32K => r[d] = alu(AluOp::Rsh, Width::W32, r[d], imm),
            Rsh32X => r[d] = alu(AluOp::Rsh, Width::W32, r[d], r[s]),
            Mod32K => r[d] = alu(AluOp::Mod, Width::W32, r[d], imm),
            Mod32X => r[d] = alu(AluOp::Mod, Width::W32, r[d], r[s]),
            SMod32K => r[d] = alu(AluOp::SMod, Width::W32, r[d], imm),
            SMod32X => r[d] = alu(AluOp::SMod, Width::W32, r[d], r[s]),
            Xor32K => r[d] = alu(AluOp::Xor, Width::W32, r[d], imm),
            Xor32X => r[d] = alu(AluOp::Xor, Width::W32, r[d], r[s]),
            Mov32K => r[d] = imm,
            Mov32X => r[d] = r[s] as u32 as u64,
            Arsh32K => r[d] = alu(AluOp::Arsh, Width::W32, r[d], imm),
            Arsh32X => r[d] = alu(AluOp::Arsh, Width::W32, r[d], r[s]),
            MovSx8To32 => r[d] = alu(AluOp::MovSx8, Width::W32, r[d], r[s]),
            MovSx16To32 => r[d] = alu(AluOp::MovSx16, Width::W32, r[d], r[s]),
            Neg32 => r[d] = (r[d] as u32).wrapping_neg() as u64,
            Le16 => r[d] = r[d] as u16 as u64,
            Le32 => r[d] = r[d] as u32 as u64,
            Nop => {}
            Swap16 => r[d] = (r[d] as u16).swap_bytes() as u64,
            Swap32 => r[d] = (r[d] as u32).swap_bytes() as u64,
            Swap64 => r[d] = r[d].swap_bytes(),
            Lddw => {
                r[d] = imm;
                next = pc + 2;
            }
            Ldx8 => r[d] = mem_try!(mem.load(addr!(s), 1)),
            Ldx16 => r[d] = mem_try!(mem.load(addr!(s), 2)),
            Ldx32 => r[d] = mem_try!(mem.load(addr!(s), 4)),
            Ldx64 => r[d] = mem_try!(mem.load(addr!(s), 8)),
            Ldxs8 => r[d] = mem_try!(mem.load(addr!(s), 1)) as i8 as i64 as u64,
            Ldxs16 => r[d] = mem_try!(mem.load(addr!(s), 2)) as i16 as i64 as u64,
            Ldxs32 => r[d] = mem_try!(mem.load(addr!(s), 4)) as i32 as i64 as u64,
            St8 => mem_try!(mem.store(addr!(d), 1, imm)),
            St16 => mem_try!(mem.store(addr!(d), 2, imm)),
            St32 => mem_try!(mem.store(addr!(d), 4, imm)),
            St64 => mem_try!(mem.store(addr!(d), 8, imm)),
            Stx8 => mem_try!(mem.store(addr!(d), 1, r[s])),
            Stx16 => mem_try!(mem.store(addr!(d), 2, r[s])),
            Stx32 => mem_try!(mem.store(addr!(d), 4, r[s])),
            Stx64 => mem_try!(mem.store(addr!(d), 8, r[s])),
            Atomic32 => {
                let a = addr!(d);
                mem_try!(atomic(mem, &mut r, imm, 4, a, s))
            }
            Atomic64 => {
                let a = addr!(d);
                mem_try!(atomic(mem, &mut r, imm, 8, a, s))
            }
            LdAbs8 | LdAbs16 | LdAbs32 | LdInd8 | LdInd16 | LdInd32 => {
                let (size, ind) = match op.kind {
                    LdAbs8 => (1, false),
                    LdAbs16 => (2, false),
                    LdAbs32 => (4, false),
                    LdInd8 => (1, true),
                    LdInd16 => (2, true),
                    _ => (4, true),
                };
                let off = packet_offset(if ind { r[s] } else { 0 }, imm as i32);
                match mem.packet(off, size) {
                    Some(v) => r[0] = v,
                    None => {
                        return Ok(Step::Done(Outcome { r0: 0, executed: executed!() }));
                    }
                }
            }
            Ja => branch!(true, next, op),
            JeqK => branch!(r[d] == imm, next, op),
            JeqX => branch!(r[d] == r[s], next, op),
            JgtK => branch!(r[d] > imm, next, op),
            JgtX => branch!(r[d] > r[s], next, op),
            JgeK => branch!(r[d] >= imm, next, op),
            JgeX => branch!(r[d] >= r[s], next, op),
            JsetK => branch!(r[d] & imm != 0, next, op),
            JsetX => branch!(r[d] & r[s] != 0, next, op),
            JneK => branch!(r[d] != imm, next, op),
            JneX => branch!(r[d] != r[s], next, op),
            JsgtK => branch!((r[d] as i64) > imm as i64, next, op),
            JsgtX => branch!((r[d] as i64) > r[s] as i64, next, op),
            JsgeK => branch!((r[d] as i64) >= imm as i64, next, op),
            JsgeX => branch!((r[d] as i64) >= r[s] as i64, next, op),
            JltK => branch!(r[d] < imm, next, op),
            JltX => branch!(r[d] < r[s], next, op),
            JleK => branch!(r[d] <= imm, next, op),
            JleX => branch!(r[d] <= r[s], next, op),
            JsltK => branch!((r[d] as i64) < imm as i64, next, op),
            JsltX => branch!((r[d] as i64) < r[s] as i64, next, op),
            JsleK => branch!((r[d] as i64) <= imm as i64, next, op),
            JsleX => branch!((r[d] as i64) <= r[s] as i64, next, op),
            Jeq32K => branch!(r[d] as u32 == imm as u32, next, op),
            Jeq32X => branch!(r[d] as u32 == r[s] as u32, next, op),
            Jgt32K => branch!(r[d] as u32 > imm as u32, next, op),
            Jgt32X => branch!(r[d] as u32 > r[s] as u32, next, op),
            Jge32K => branch!(r[d] as u32 >= imm as u32, next, op),
            Jge32X => branch!(r[d] as u32 >= r[s] as u32, next, op),
            Jset32K => branch!(r[d] as u32 & imm as u32 != 0, next, op),
            Jset32X => branch!(r[d] as u32 & r[s] as u32 != 0, next, op),
            Jne32K => branch!(r[d] as u32 != imm as u32, next, op),
            Jne32X => branch!(r[d] as u32 != r[s] as u32, next, op),
            Jsgt32K => branch!((r[d] as i32) > imm as i32, next, op),
            Jsgt32X => branch!((r[d] as i32) > r[s] as i32, next, op),
            Jsge32K => branch!((r[d] as i32) >= imm as i32, next, op),
            Jsge32X => branch!((r[d] as i32) >= r[s] as i32, next, op),
            Jlt32K => branch!((r[d] as u32) < imm as u32, next, op),
            Jlt32X => branch!((r[d] as u32) < r[s] as u32, next, op),
            Jle32K => branch!(r[d] as u32 <= imm as u32, next, op),
            Jle32X => branch!(r[d] as u32 <= r[s] as u32, next, op),
            Jslt32K => branch!((r[d] as i32) < imm as i32, next, op),
            Jslt32X => branch!((r[d] as i32) < r[s] as i32, next, op),
            Jsle32K => branch!((r[d] as i32) <= imm as i32, next, op),
            Jsle32X => branch!((r[d] as i32) <= r[s] as i32, next, op),
            Call | CallX => {
                let id = if op.kind == Call { imm } else { r[d] };
                match helpers.call(id, [r[1], r[2], r[3], r[4], r[5]]) {
                    Ok(HelperReturn::Value(v)) => r[0] = v,
                    Ok(HelperReturn::Stop(v)) => {
                        return Ok(Step::Done(Outcome { r0: v, executed: executed!() }));
                    }
                    Err(HelperError::Unknown) => fault!(FaultKind::UnknownHelper { id }),
                    Err(HelperError::Failed(reason)) => {
                        fault!(FaultKind::HelperFailed { id: id as u32, reason })
                    }
                }
            }
            CallLocal => {
                if frames.len() + 1 >= MAX_CALL_DEPTH {
                    fault!(FaultKind::CallDepthExceeded);
                }
                frames.push(Frame { ret: pc + 1, saved: [r[6], r[7], r[8], r[9]] });
                r[10] = r[10].wrapping_sub(STACK_FRAME as u64);
                mem.stack_lo -= STACK_FRAME as u64;
                let lo = (mem.stack_lo - STACK_BASE) as usize;
                mem.stack[lo..lo + STACK_FRAME].fill(0);
                next = op.aux as usize;
                charge!(next);
            }
            Exit => match frames.pop() {
                None => {
                    return Ok(Step::Done(Outcome { r0: r[0], executed: executed!() }));
                }
                Some(f) => {
                    [r[6], r[7], r[8], r[9]] = f.saved;
                    r[10] = r[10].wrapping_add(STACK_FRAME as u64);
                    mem.stack_lo += STACK_FRAME as u64;
                    next = f.ret;
                    charge!(next);
                }
            },
            Unsupported => fault!(FaultKind::Unsupported { what: UNSUPPORTED[(imm & 1) as usize] }),
            Hole | FellOff => fault!(FaultKind::FellOffEnd),
        }
        pc = next;
    }
}
