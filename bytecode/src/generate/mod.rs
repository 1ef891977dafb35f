//! Generators of programs for property tests and fuzzing, driven by a seedable [`Rng`], so the
//! same generator serves `cargo test` (proptest picks seeds) and fuzz targets (seeds from bytes).
//!
//! [`program`] covers every instruction form with valid registers and in-range jumps: every
//! output is a [`Program`]. [`raw_slots`] makes byte strings that are mostly well-formed
//! instruction words, to reach deep into the decoder's refusals.
//! [`structured`] builds programs the way people and compilers write them (checked context
//! reads, spills, bounded loops, helper and local calls) for a program type: most are meant to
//! pass a sound, precise verifier and the rest carry one planted [`Flaw`], to test verifiers.

use alloc::vec::Vec;

use crate::insn::*;
use crate::program::Program;

mod build;
mod calls;
mod choose;
mod control;
mod flaws;
mod hazard_paths;
mod hazard_regions;
mod hazard_transform;
mod memory;
mod random;
mod state;
mod templates;

use build::*;
use random::{ATOMIC_OPS, width};
use state::*;

use crate::rng::Rng;
pub use random::{fix_branches, insn, program, raw_slots};

use crate::progtype::ProgramType;

/// Shape knobs for [`structured`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// The program type the program is written for: decides helpers (`owns` may call `emit`),
    /// legacy packet loads (`filter`, `raw`) and whether the context may be written (`raw`).
    pub ty: ProgramType,
    /// Approximate number of instructions (at least 8): programs stay within it, give or take
    /// the few instructions of their final exits (measured: at most 6 more; 16 is a safe bound).
    pub max_len: usize,
    /// A fixed context size in bytes (`owns`, `acl`, `size`: the template size), so reads at
    /// constant offsets below it are in bounds; `None`: the length is known only at run time
    /// (`r2`, as for `filter`), and reads are guarded by length checks.
    pub ctx_size: Option<u32>,
    /// `None`: every production, the [`Hazard`]s at a low weight; `Some(h)`: `h` much more
    /// often (a campaign aimed at one bug class).
    pub focus: Option<Hazard>,
}

/// Productions aimed at the relational facts a verifier keeps about the context length (a
/// value `v = sym + c`, a comparison `sym + k <= len`) and at the engines' choice of region:
/// the shapes of the bug classes a campaign of plain structured programs missed. Each builds
/// something that is safe when the verifier's reasoning is right and, in some variants, a
/// program that is safe only if the verifier *wrongly* carries a fact over (counted in
/// [`Structured::unproven`]): an accepted one of those that faults is a verifier bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hazard {
    /// A length-derived value (`r2`, a copy, `r2 - c`) or a loaded one, transformed (byte
    /// swaps `le`/`be`/`bswap` of every width, sign extensions `movsx` and `ldsx` through a
    /// spill, 32-bit ALU and moves, `neg`, shifts out and back), then compared with the length
    /// (64- and 32-bit jumps) and used for a context access through `r1 +` it (or through the
    /// untransformed value, or the length judged by the transformed copy).
    Transform,
    /// A local function computing a value with a symbol-producing instruction (a mask, a
    /// remainder, a context load), called twice with the first result kept in `r6`-`r9`; then
    /// one result compared with the length and a context access through one of them.
    CallSymbols,
    /// Stack and context pointers moved outside their region by a large constant (an `add`,
    /// a `sub`, a register from `lddw`) and brought back by the access's offset field or a
    /// later `add`.
    FarOffsets,
    /// A function called with a context pointer at one site and a stack pointer at another
    /// (so its accesses are on the context on some paths and the stack on others), reading
    /// through the pointer, sometimes moved far away and back.
    EitherRegion,
    /// Loops whose iterations change what an access means: a pointer that is the context in
    /// one iteration and the stack in the next, or a value from the previous iteration used
    /// where the current one was compared with the length.
    LoopRegion,
    /// Two paths that know different things, joined: a value `x` with a symbol (a context
    /// load, masked or not) checked as `x + k1 <= len` on one side of a branch on an unrelated
    /// input and as `x + k2 <= len` on the other, then read through `r1 + x`; a stack write on
    /// one side only (or on both), then a read of those bytes; a store through `r10 - c + v`
    /// with `v` a bounded input (`ldxb; and 8`), then a read at one of its possible addresses
    /// (or at addresses every one of them wrote before). The variants that need the larger
    /// bound, bytes written on one path, or bytes the variable store may have missed are the
    /// unproven ones.
    PathFacts,
}

impl Hazard {
    /// Every hazard.
    pub const ALL: [Hazard; 6] = [
        Hazard::Transform,
        Hazard::CallSymbols,
        Hazard::FarOffsets,
        Hazard::EitherRegion,
        Hazard::LoopRegion,
        Hazard::PathFacts,
    ];
}

impl Shape {
    /// The shape a type's contract suggests: a variable-length context for `filter` and `raw`,
    /// a 64-byte one for the others (`acl`: the 16-byte request then a 48-byte object).
    pub fn new(ty: ProgramType, max_len: usize) -> Shape {
        let ctx_size = match ty {
            ProgramType::Filter | ProgramType::Raw => None,
            _ => Some(64),
        };
        Shape { ty, max_len, ctx_size, focus: None }
    }

    /// [`Shape::new`] aimed at one hazard.
    pub fn focused(ty: ProgramType, max_len: usize, focus: Hazard) -> Shape {
        Shape { focus: Some(focus), ..Shape::new(ty, max_len) }
    }
}

/// The deliberate mistakes [`structured_labeled`] plants, at most one per program, always on
/// code the entry reaches for some input (never in a branch arm or a callee).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flaw {
    /// A context read past what is proven in bounds: a length check one byte short, or a
    /// constant offset ending past the fixed size.
    CtxOutOfBounds,
    /// The variable-header pattern (`ldxb; and 15; lsh 2; ... if end > len goto out`) with the
    /// load ending one byte past the checked end.
    HeaderOffByOne,
    /// A stack read of bytes never written (or written only in part).
    StackUninitRead,
    /// A stack access outside the 512-byte frame (at or above `r10`, or below `r10 - 512`).
    StackOutOfBounds,
    /// A loop that need not terminate: no increment, a step that jumps over its `!=` bound,
    /// a condition that holds until the counter wraps, or a data-dependent exit.
    UnboundedLoop,
    /// A counted loop indexing the stack or the context one element past its array.
    LoopIndexOffByOne,
    /// A pointer escapes: returned in `r0`, passed to `emit`, used as an `LD_IND` index, or
    /// read back partially from a spill slot.
    PointerLeak,
    /// A store into the read-only context.
    CtxWrite,
    /// Arithmetic that turns a pointer into a scalar (`mul`, `or`, a 32-bit `add`) followed by
    /// a dereference.
    BadPointerArith,
    /// A register read where one path has not written it (the pre-run check refuses these).
    UninitRegister,
}

/// What a structured program contains, as counted by the generator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// Loops (backward jumps).
    pub loops: u32,
    /// Loops inside loops.
    pub nested_loops: u32,
    /// Loops indexing the stack or the context with their counter.
    pub indexed_loops: u32,
    /// Pointers stored whole to the stack.
    pub pointer_spills: u32,
    /// Spilled pointers loaded back whole.
    pub pointer_fills: u32,
    /// Calls of helper 1 (`emit`).
    pub helper_calls: u32,
    /// Local calls.
    pub local_calls: u32,
    /// Checks of a load's end against the context length.
    pub len_checks: u32,
    /// Variable-header patterns.
    pub header_patterns: u32,
    /// Context loads (`ldx` from a context pointer).
    pub ctx_reads: u32,
    /// `LD_ABS`/`LD_IND`.
    pub legacy_loads: u32,
    /// Forward conditional diamonds.
    pub diamonds: u32,
    /// [`Hazard::Transform`] productions.
    pub transforms: u32,
    /// [`Hazard::CallSymbols`] productions.
    pub call_symbols: u32,
    /// [`Hazard::FarOffsets`] productions.
    pub far_offsets: u32,
    /// [`Hazard::EitherRegion`] productions.
    pub either_calls: u32,
    /// [`Hazard::LoopRegion`] productions.
    pub loop_regions: u32,
    /// [`Hazard::PathFacts`] productions.
    pub path_facts: u32,
}

/// A structured program with what the generator meant by it.
#[derive(Clone, Debug)]
pub struct Structured {
    /// The program.
    pub program: Program,
    /// The mistake planted, if any (`None`: meant to be accepted by a sound, precise verifier).
    pub flaw: Option<Flaw>,
    /// What it contains.
    pub features: Features,
    /// Hazard variants whose safety rests on a fact the code does not establish (a check of
    /// one value and an access through another that differs from it for some input): a
    /// sound verifier may reject the program, and if it accepts, the checking run must not
    /// fault. Programs with any are not counted as meant to be valid.
    pub unproven: u32,
}

/// A program for `shape.ty` built from typical eBPF patterns (constants, ALU, stack stores,
/// spills and fills, checked context reads, variable headers, bounded loops, diamonds, helper
/// and local calls), every path ending in `exit` with a scalar `r0`. About four in five are
/// meant to be valid; the others carry one subtle [`Flaw`]. Deterministic in the seed.
///
/// Entry convention: `r1` = context pointer (read-only unless `raw`), `r2` = its length,
/// `r3` = wire length for `filter`, `r10` = frame pointer.
pub fn structured(rng: &mut Rng, shape: &Shape) -> Program {
    structured_labeled(rng, shape).program
}

/// [`structured`] with the planted flaw and the feature counts.
pub fn structured_labeled(rng: &mut Rng, shape: &Shape) -> Structured {
    let info = shape.ty.info();
    let max_len = shape.max_len.clamp(8, MAX_LEN_CAP);
    let mut g = Gen {
        rng,
        ty: shape.ty,
        fixed: shape.ctx_size,
        legacy: info.legacy_packet_loads,
        emit_helper: info.helpers.iter().any(|h| h.id == 1),
        ctx_writable: info.ctx.writable,
        limit: max_len.saturating_sub(4),
        funcs: alloc::vec![None],
        done_len: 0,
        open_len: 0,
        want: None,
        force: false,
        flaw: None,
        leak_at_exit: false,
        feats: Features::default(),
        focus: shape.focus,
        unproven: 0,
    };
    // Types with the same shape get different programs from one seed.
    for _ in 0..shape.ty as usize {
        g.rng.next_u64();
    }
    if g.rng.chance(1, 5) {
        g.want = Some(g.pick_flaw());
    }
    let mut regs = [Val::Uninit; 11];
    for r in info.entry_regs {
        regs[r.index()] = Val::Input;
    }
    regs[1] = Val::Ctx(0);
    regs[2] = Val::Len;
    regs[10] = Val::Stack(0);
    let mut f = FnCtx::new(0, State::entry(regs));
    g.prologue(&mut f);
    let reserve = if g.want.is_some() { FORCED_FLAW_ROOM } else { 0 };
    let budget = g.limit.saturating_sub(reserve + f.b.len());
    g.segment(&mut f, budget);
    if g.want.is_some() {
        g.force_flaw(&mut f);
    }
    g.epilogue(&mut f);
    let main = FuncOut {
        b: f.b,
        args: [Val::Uninit; 6],
        height: f.height,
        legacy_end: f.legacy_end,
        private: true,
    };
    g.funcs[0] = Some(main);
    let builders: Vec<Builder> =
        g.funcs.into_iter().map(|o| o.map(|f| f.b).unwrap_or_default()).collect();
    let program = link(builders)
        .unwrap_or_else(|e| panic!("the generator left a jump or call unresolved: {e:?}"));
    Structured { program, flaw: g.flaw, features: g.feats, unproven: g.unproven }
}
