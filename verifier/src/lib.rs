//! udfkit's verifier: proves that a program of a verified type (`filter`, `owns`, `acl`,
//! `size`) is memory safe and terminates within a budget, or explains why it cannot.
//! It trusts nothing but the instructions it is given and depends on `udf-bytecode` only.
//!
//! # What is checked, in order
//! 1. The pre-run checks every engine makes ([`udf_bytecode::check()`]): only supported
//!    instructions, `r10` never written, no fall-through past the end, helpers and legacy packet
//!    loads only where the type allows them.
//! 2. Structure ([`cfg`]): functions, no recursion, at most 8 frames, jumps inside their
//!    function, loops nested at most 64 deep (any layout: each function gets a weak
//!    topological order, see [`cfg`]).
//! 3. Abstract interpretation ([`analyze`]) from the type's entry state: every register read
//!    holds a value; every load and store is inside the context (read-only for every verified
//!    type) or inside the initialised bytes of a live stack frame; pointers are only copied,
//!    offset by numbers, subtracted from pointers into the same region, compared with pointers
//!    into the same region, and spilled whole to 8-aligned stack slots; `r0` at exit is a
//!    number; helper arguments are numbers (and `emit`'s kind fits 32 bits and its
//!    `start + count` cannot overflow); the worst-case number of instructions executed on any
//!    path is at most [`Config::budget`].
//!
//! # The lattice
//! A state ([`state::State`]) maps each register to a [`state::Value`]: a kind (uninitialised <
//! scalar | ctx pointer | stack pointer of frame `f`; different kinds join to uninitialised,
//! which may not be read) and a [`scalar::Scalar`]: the intersection of a signed interval, an
//! unsigned interval, known bits ([`tnum::Tnum`]) and a signed interval of the low 32 bits (the
//! view 32-bit signed comparisons and sign extensions see), for a scalar its value, for a
//! pointer its offset. The views are tightened against each other, also across the sign
//! boundaries (a signed range across zero is two unsigned ranges, and the unsigned range may
//! meet only one). Joins take interval hulls and the tnum union. Each stack frame keeps one bit
//! per byte (initialised or not; joined by intersection) and the values stored at known places
//! (joined place-wise): pointers spilled whole to 8-aligned slots (a pointer spill that does not
//! survive the join makes its bytes unreadable, so no pointer byte is ever read as a number),
//! numbers stored whole or in part (their low 1, 2 or 4 bytes), from which a load inside the
//! place gets the number's bytes it covers (the very number, name included, where they hold it
//! unchanged).
//!
//! Relational facts for variable-length contexts: a value may carry a symbol, `v = sym + c`
//! exactly (as integers: a number unsigned, a pointer's offset signed), where `sym` is the
//! length (`r2` on entry) or "the value the register [`defines`] names held right after
//! instruction `i` last ran". Whenever `i` runs, symbol `i` dies everywhere: registers, spills,
//! the caller's saved `r6`-`r9` kept in each frame ([`state::Frame::saved`]) and the facts. An
//! operation passes its operand's symbol on only where it is the identity on every value the
//! operand may hold (a 32-bit move of a value below 2^32, `le` of a value that fits, sign
//! extension of a value in range; a byte swap never), or shifts it by a constant that cannot
//! wrap (64-bit; 32-bit where operand and result fit 32 bits; `or`/`xor` of bits never set),
//! or keeps every bit (`and` with a covering mask; `lsh 32` then `arsh 32` of a value that fits).
//! A conditional jump names the number it compares when it has no name (symbol `i` = its `dst`
//! after the jump), and narrowing it narrows every number equal to it up to a constant (a copy
//! of the length narrows the length's bounds). Where paths that name a number (or a context
//! pointer's offset) differently meet at instruction `j`, the register gets the join symbol
//! `r@j` ("what register `r` held when control last arrived at `j`", [`state::join_sym`]) with
//! the weaker of the length bounds the paths proved; arriving at `j` again kills them, except at
//! a loop head, where one whose register still holds it stays, and each iteration's registers
//! are named there ([`state::State::name_at`]) so that in-place updates keep a name. A named
//! pointer plus a named number is named `p{i}` by its instruction ([`state::ptr_insn_sym`]).
//! Sums `d = a + b + c` of two named values are kept ([`state::Sum`]): a bound on `d` bounds
//! `a` once `b`'s least value is known. A comparison `x <= y` records `sym(x) + k <= len` where
//! `y` is the length or is bounded by it, and two context pointers with offsets in
//! `[0, 2^32]` compare as their offsets; a context access through `r1 + x + off` is proven in
//! bounds by such a fact or by the least length the facts imply. Before a context load's state
//! is recorded, what the facts imply there is made explicit. This is what lets variable-length
//! headers, option walks and pointer walks verify. The checking interpreter checks every one
//! of these facts, names and sums on every run.
//!
//! # Transfer functions
//! ALU operations use [`scalar::Scalar::alu`]: interval arithmetic with overflow detection, tnum
//! arithmetic, constants folded by `udf_bytecode::semantics` (the engines' own code). 32-bit
//! operations work on the low 32-bit views and zero-extend. Conditional jumps narrow both
//! operands on each side ([`scalar::Scalar::refine`]); a side that cannot be taken is dead.
//! 32-bit comparisons narrow a register whole only when its 32-bit view is its whole value,
//! else its low 32 bits' signed range. A register compared with itself is one value: the
//! outcome is fixed (`jset r, r`: whether it is non-zero).
//!
//! # Loops and termination: no widening
//! Loops are not summarised by a fixpoint with widening: each loop (a component of the weak
//! topological order, whatever its layout: rotated, entered by a jump to its test, or
//! irreducible, entered at several points) is analysed iteration by iteration (the state
//! entering iteration `k + 1` is the join of the back edges of iteration `k`; states entering
//! elsewhere than at the head join in during the first) until no back edge is feasible. So every accepted loop has a proven iteration bound,
//! and the instruction bound is the longest path through the unrolled program (each state
//! carries the most instructions executed to reach it; joins take the maximum). A loop whose
//! entry state repeats is rejected at once (it can run forever); one that keeps changing is
//! rejected when the count passes the budget, naming the loop and the iteration. The analysis
//! cost is thus bounded by the budget; straight-line code and branches cost one transfer per
//! instruction and state, with states joined where paths meet.
//!
//! Local calls are analysed at each call site in the caller's state (context-sensitive),
//! with a fresh frame that keeps the caller's `r6`-`r9`; they are restored from it (as they are
//! at the return, with any symbol the callee redefined dead) and `r1`-`r5` are unreadable after
//! the return.
//!
//! # Untrusted input
//! The verifier runs in the kernel on untrusted bytes: it never panics. A state it believes
//! impossible is refused as [`Rule::Internal`], never trusted. Of the caller it assumes only
//! what the engines enforce before a run (the context's length, in [`Config::ctx_len`]): a
//! filter's `r3`, the length on the wire, is any 64-bit number ([`entry_state`]).
//!
//! # Not checked (yet)
//! - Determinism beyond what the instruction set gives: programs of verified types have no
//!   source of nondeterminism (no writable context, no time, no maps), so none is checked.
//! - Pointer comparisons are allowed only between pointers into the same region; they narrow
//!   and relate to the length only for two context pointers whose offsets lie in [0, 2^32]
//!   (the engines place the context at `CTX_BASE` = 2^32, so such addresses never wrap).
//! - Helper return values are unknown numbers; the helper contract is only `emit`.
//! - The stack bytes the interpreter zeroes on entry are treated as uninitialised (stricter).

#![no_std]

extern crate alloc;

pub mod analyze;
pub mod cfg;
pub mod error;
pub mod scalar;
pub mod state;
pub mod tnum;

use alloc::vec;
use alloc::vec::Vec;

use udf_bytecode::check::CheckConfig;
use udf_bytecode::progtype::HelperSpec;
use udf_bytecode::{Program, ProgramType, Reg};

pub use error::{PathStep, Region, Rejection, Rule};
pub use scalar::Scalar;
pub use state::{Value, ValueKind};
pub use tnum::Tnum;

use state::{Frame, LEN, State};

/// The longest context a variable-length program may be given (the engines refuse longer).
pub const MAX_CTX_LEN: u64 = u32::MAX as u64;

/// The default instruction budget.
pub const DEFAULT_BUDGET: u64 = 1_000_000;

/// What to verify against.
#[derive(Clone, Debug)]
pub struct Config {
    /// The program type.
    pub ty: ProgramType,
    /// Size of the metadata object for `owns`, `acl` (after the 16-byte request) and `size`;
    /// `None` when not known (then the length in `r2` is all the program knows).
    pub ctx_size: Option<u32>,
    /// Most instructions any run may execute.
    pub budget: u64,
    /// Register values on entry instead of the type's (for test suites such as PREVAIL's).
    pub entry: Option<[Value; 11]>,
    /// Refuse divisions and remainders whose divisor may be zero (they are defined as 0 and
    /// the dividend, so the default allows them).
    pub reject_division_by_zero: bool,
    /// Indices of `exit` instructions that end a code fragment rather than the program: there
    /// `r0` need not hold a number (for test suites of fragments, such as PREVAIL's).
    pub fragment_exits: Vec<usize>,
    /// Keep each instruction's joined register state in [`Facts::states`], for the checking
    /// interpreter.
    pub record_states: bool,
    /// The helpers the program may call instead of its type's (`None`: the type's own). A
    /// merged packet demultiplexer is a `filter` verified with
    /// [`udf_bytecode::progtype::DEMUX_HELPERS`]; [`Verified::helpers`] remembers the set, and
    /// the engines admit exactly those calls.
    pub helpers: Option<&'static [HelperSpec]>,
    /// Plant one deliberately unsound step ([`Plant`]), to show the oracles catch it.
    #[cfg(feature = "fault-injection")]
    pub fault_injection: Option<Plant>,
}

/// Deliberately unsound one-line mistakes the verifier can be built to make (only with the
/// `fault-injection` feature, which only tests enable; the command line never does): each is a
/// plausible slip in one part of the analysis, and the oracles (the checking interpreter, the
/// JIT differential) must catch every one. docs/soundness.md records what it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Plant {
    /// Transfer function: 64-bit `and` claims `x & y <= y.umin`.
    AndBelowMin,
    /// Symbols: a byte swap keeps its operand's symbol.
    SwapKeepsSymbol,
    /// Symbols: a 32-bit or sign-extending move keeps its operand's symbol.
    NarrowMoveKeepsSymbol,
    /// Symbols: adding a constant keeps the symbol even where the sum may wrap.
    AddSymbolWraps,
    /// Symbols: subtracting a constant adds it to the symbol's offset.
    SubSymbolSign,
    /// Call/return: `r6`-`r9` come back as they were at the call.
    StaleCalleeSaved,
    /// Refinement: a 32-bit comparison narrows a register whose value is wider than 32 bits.
    Jmp32NarrowsWide,
    /// Refinement: `a <= b` is recorded as `a + 1 <= b` against the length.
    LeAsLt,
    /// Refinement: a 32-bit comparison relates values wider than 32 bits to the length.
    Relate32Unchecked,
    /// Join: a length fact keeps the larger of its two bounds.
    JoinFactsMax,
    /// Join: a register keeps the first path's symbol when the paths disagree.
    JoinKeepsSymbol,
    /// Stack tracking: the join keeps bytes initialised on either path.
    StackJoinUnion,
    /// Stack tracking: a store at a variable offset marks the bytes of its lowest offset
    /// initialised.
    StackInexactInit,
    /// Bounds: a context access may end one byte past the proven length.
    CtxBoundOffByOne,
    /// Join symbols: the joined number keeps the stronger of the paths' bounds.
    JoinSymbolStronger,
    /// Equal numbers: narrowing one narrows the others to the same range, offsets ignored.
    NarrowEqualsUnshifted,
    /// 32-bit symbols: `add32` of a constant keeps the symbol without checking the sum fits.
    Add32Unchecked,
    /// Sums: a bound on `a + b` gives `a` a bound using `b`'s greatest value, not its least.
    SumUsesGreatest,
    /// Loop heads: arriving again keeps every join symbol of the head, though it now names
    /// the new arrival.
    HeadKeepsNames,
}

impl Plant {
    /// Every planted bug.
    pub const ALL: [Plant; 19] = [
        Plant::AndBelowMin,
        Plant::SwapKeepsSymbol,
        Plant::NarrowMoveKeepsSymbol,
        Plant::AddSymbolWraps,
        Plant::SubSymbolSign,
        Plant::StaleCalleeSaved,
        Plant::Jmp32NarrowsWide,
        Plant::LeAsLt,
        Plant::Relate32Unchecked,
        Plant::JoinFactsMax,
        Plant::JoinKeepsSymbol,
        Plant::StackJoinUnion,
        Plant::StackInexactInit,
        Plant::CtxBoundOffByOne,
        Plant::JoinSymbolStronger,
        Plant::NarrowEqualsUnshifted,
        Plant::Add32Unchecked,
        Plant::SumUsesGreatest,
        Plant::HeadKeepsNames,
    ];
}

impl Config {
    /// The defaults for a program type.
    pub fn new(ty: ProgramType) -> Config {
        Config {
            ty,
            ctx_size: None,
            budget: DEFAULT_BUDGET,
            entry: None,
            reject_division_by_zero: false,
            fragment_exits: Vec::new(),
            record_states: false,
            helpers: None,
            #[cfg(feature = "fault-injection")]
            fault_injection: None,
        }
    }

    /// The helpers the program may call: [`Config::helpers`], else its type's.
    pub fn helper_set(&self) -> &'static [HelperSpec] {
        self.helpers.unwrap_or(self.ty.info().helpers)
    }

    /// Whether planted bug `p` is switched on (never, without the `fault-injection` feature).
    #[inline(always)]
    pub(crate) fn planted(&self, p: Plant) -> bool {
        #[cfg(feature = "fault-injection")]
        {
            self.fault_injection == Some(p)
        }
        #[cfg(not(feature = "fault-injection"))]
        {
            let _ = p;
            false
        }
    }

    /// The context length range `[min, max]` the type and size give.
    pub fn ctx_len(&self) -> (u64, u64) {
        match self.ctx_size.and_then(|n| self.ty.context_len(n)) {
            Some(len) => (len, len),
            None => (u64::from(self.ty.header_len()), MAX_CTX_LEN),
        }
    }
}

/// A loop and its proven bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopFact {
    /// Index of the head.
    pub head: usize,
    /// Index of the last instruction.
    pub tail: usize,
    /// Most iterations of one execution of the loop.
    pub max_iterations: u64,
}

/// Something worth knowing that does not make the program unsafe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// Instructions `[from, to]` never execute.
    Unreachable {
        /// First index.
        from: usize,
        /// Last index.
        to: usize,
    },
}

/// What the verifier proved about an accepted program.
#[derive(Clone, Debug)]
pub struct Facts {
    /// Most instructions any run executes.
    pub max_insns: u64,
    /// Most extents any run emits (`owns`).
    pub max_extents: u64,
    /// Bytes of the deepest stack frame written.
    pub stack_use: u32,
    /// Most frames live at once.
    pub max_frames: usize,
    /// Loops with their iteration bounds.
    pub loops: Vec<LoopFact>,
    /// Warnings.
    pub warnings: Vec<Warning>,
    /// With [`Config::record_states`]: for each instruction, the join of the states the
    /// analysis saw before it (`None`: never reached).
    pub states: Option<Vec<Option<Recorded>>>,
    /// For each instruction, the memory its loads, stores or atomics were proven to touch
    /// (the JIT's trusted mode translates addresses with this and checks nothing).
    pub access: Vec<Access>,
    /// The context lengths `[min, max]` the proof assumed: every engine that runs the program
    /// on the strength of these facts must refuse any other length ([`Facts::admits`]).
    pub ctx_len: (u64, u64),
}

impl Facts {
    /// Whether a context of `len` bytes is one the proof covers.
    pub fn admits(&self, len: usize) -> bool {
        let len = len as u64;
        self.ctx_len.0 <= len && len <= self.ctx_len.1
    }
}

/// What the analysis knew before one instruction, joined over every path and call site that
/// reached it: what the checking interpreter holds every run to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// `r0`-`r10`, with their symbols (`v = sym + c`).
    pub regs: [Value; 11],
    /// `sym + k <= len` for each `(sym, k)`.
    pub facts: state::LenFacts,
    /// `d = a + b + c` for each `(d, a, b, c)`.
    pub sums: Vec<state::Sum>,
    /// The context length is at least this.
    pub len_min: u64,
    /// The context length is at most this.
    pub len_max: u64,
}

impl Recorded {
    /// Keeps what holds in both.
    pub fn join_with(&mut self, o: &Recorded) {
        for (r, s) in self.regs.iter_mut().zip(o.regs.iter()) {
            *r = r.join(s);
        }
        state::join_facts(&mut self.facts, &o.facts);
        state::join_sums(&mut self.sums, &o.sums);
        self.len_min = self.len_min.min(o.len_min);
        self.len_max = self.len_max.max(o.len_max);
    }
}

/// The register whose new value symbol `i` names when instruction `i` (this instruction)
/// runs: `v{i}` in the verifier's relational facts is "what this register held right after
/// instruction `i` last ran". The checking interpreter records exactly this.
pub fn defines(insn: &udf_bytecode::Insn) -> Option<Reg> {
    use udf_bytecode::Insn;
    use udf_bytecode::insn::AtomicOp;
    match *insn {
        Insn::Alu { dst, .. }
        | Insn::Neg { dst, .. }
        | Insn::End { dst, .. }
        | Insn::LoadImm64 { dst, .. }
        | Insn::Load { dst, .. } => Some(dst),
        Insn::Atomic { op, fetch, src, .. } => {
            if op == AtomicOp::CmpXchg {
                Some(Reg::R0)
            } else if fetch || op.always_fetches() {
                Some(src)
            } else {
                None
            }
        }
        Insn::LoadAbs { .. } | Insn::LoadInd { .. } | Insn::Call { .. } | Insn::CallReg { .. } => {
            Some(Reg::R0)
        }
        // A conditional jump names the value it compared (which it leaves unchanged).
        Insn::Jump { dst, .. } => Some(dst),
        _ => None,
    }
}

/// The memory one instruction touches, over every path the analysis took to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Access {
    /// Not a memory instruction, or never reached.
    #[default]
    None,
    /// Always the context.
    Ctx,
    /// Always a stack frame.
    Stack,
    /// The context on some paths and the stack on others (a function called with both).
    Either,
}

impl Access {
    /// This and `o` together.
    pub fn with(self, o: Access) -> Access {
        match (self, o) {
            (Access::None, x) | (x, Access::None) => x,
            (a, b) if a == b => a,
            _ => Access::Either,
        }
    }
}

/// The entry state of a type.
pub fn entry_state(conf: &Config) -> [Value; 11] {
    let (lo, hi) = conf.ctx_len();
    let mut regs = [Value::UNINIT; 11];
    regs[1] = Value { kind: ValueKind::Ctx, n: Scalar::constant(0), sym: None };
    regs[2] = Value { kind: ValueKind::Scalar, n: Scalar::urange(lo, hi), sym: Some((LEN, 0)) };
    if conf.ty == ProgramType::Filter {
        // The length on the wire is whatever the caller passes (kernel-glue's `invoke` takes
        // any `u64`): nothing is assumed about it, not even that it fits 32 bits.
        regs[3] = Value::scalar(Scalar::TOP);
    }
    regs[10] = Value { kind: ValueKind::Stack { frame: 0 }, n: Scalar::constant(0), sym: None };
    regs
}

/// A program the verifier accepted, with everything the proof assumed: the program itself, its
/// type, the object size it was told, and the facts. Only [`verify`] makes one (its fields are
/// private and it has no other constructor), so whatever takes a `Verified` (the trusted and
/// hardened JIT, the download package, the kernel's installation) cannot be handed facts that
/// belong to another program, another type or another size.
#[derive(Clone, Debug)]
pub struct Verified {
    program: Program,
    ty: ProgramType,
    ctx_size: Option<u32>,
    standard: bool,
    helpers: &'static [HelperSpec],
    facts: Facts,
}

impl Verified {
    /// The program that was proven.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Its type.
    pub fn ty(&self) -> ProgramType {
        self.ty
    }

    /// The object size the verifier was told (`owns`, `acl`, `size`).
    pub fn ctx_size(&self) -> Option<u32> {
        self.ctx_size
    }

    /// What was proven.
    pub fn facts(&self) -> &Facts {
        &self.facts
    }

    /// The helpers it was proven to call correctly (its type's, or [`Config::helpers`]):
    /// the engines' pre-run checks admit these and no other.
    pub fn helpers(&self) -> &'static [HelperSpec] {
        self.helpers
    }

    /// Whether the proof started from the type's own entry state and treats every `exit` of
    /// the entry function as the program's end: false for test-suite settings
    /// ([`Config::entry`], [`Config::fragment_exits`]), whose proofs say nothing about running
    /// the program for real (the JIT's trusted and hardened modes refuse them).
    pub fn for_type(&self) -> bool {
        self.standard
    }

    /// The facts alone (for reports that outlive the program).
    pub fn into_facts(self) -> Facts {
        self.facts
    }

    /// Pairs `program` with facts the verifier never proved for it: only with the
    /// `fault-injection` feature, which only tests enable (the command line and the kernel's
    /// crates never do; the test script checks), for tests that must show what native code
    /// does with wrong facts.
    #[cfg(feature = "fault-injection")]
    pub fn assume_for_tests(
        program: Program,
        ty: ProgramType,
        ctx_size: Option<u32>,
        facts: Facts,
    ) -> Verified {
        Verified { program, ty, ctx_size, standard: true, helpers: ty.info().helpers, facts }
    }
}

impl core::ops::Deref for Verified {
    type Target = Facts;

    fn deref(&self) -> &Facts {
        &self.facts
    }
}

/// Verifies `prog` against `conf`.
// The rejection is the product as much as the facts are: returned by value, not boxed.
#[allow(clippy::result_large_err)]
pub fn verify(prog: &Program, conf: &Config) -> Result<Verified, Rejection> {
    let insns = prog.insns();
    let at = |index: usize, rule: Rule, regs: Vec<(Reg, Value)>, path| Rejection {
        index,
        pc: if index < insns.len() { prog.pc(index) } else { prog.slot_count() },
        rule,
        regs,
        path,
    };
    if insns.is_empty() {
        return Err(at(
            0,
            Rule::Structure(udf_bytecode::CheckErrorKind::FallsOffEnd),
            Vec::new(),
            Vec::new(),
        ));
    }
    // Pre-run checks, with every register counted as written: the abstract interpretation
    // decides reads of unwritten registers precisely, path by path.
    let mut cc = CheckConfig::for_type(conf.ty);
    cc.check_registers = false;
    if let Some(h) = conf.helpers {
        cc.helpers = Some(h);
    }
    if let Err(e) = udf_bytecode::check(prog, &cc) {
        let index = prog.index_at(e.pc).unwrap_or(insns.len() - 1);
        return Err(at(index, Rule::Structure(e.kind), Vec::new(), Vec::new()));
    }
    let cfg = cfg::build(prog).map_err(|(i, rule)| at(i, rule, Vec::new(), Vec::new()))?;

    let regs = conf.entry.unwrap_or_else(|| entry_state(conf));
    let (len_min, len_max) = conf.ctx_len();
    let entry = State {
        regs,
        frames: vec![alloc::rc::Rc::new(Frame::default())],
        len_min,
        len_max,
        facts: Vec::new(),
        sums: Vec::new(),
        count: 0,
        emits: 0,
        syms_below: 0,
        joins_below: 0,
        shl32: None,
    };
    let mut a = analyze::Analyzer::new(prog, &cfg, conf);
    if let Err(e) = a.run(entry) {
        let (i, rule, regs) = *e;
        return Err(at(i, rule, regs, a.path_of()));
    }

    let mut warnings = Vec::new();
    let mut k = 0;
    while k < insns.len() {
        if !a.visited[k] {
            let from = k;
            while k + 1 < insns.len() && !a.visited[k + 1] {
                k += 1;
            }
            warnings.push(Warning::Unreachable { from, to: k });
        }
        k += 1;
    }
    let facts = Facts {
        max_insns: a.exit_count,
        max_extents: a.exit_emits,
        stack_use: a.stack_use,
        max_frames: a.max_depth,
        loops: a.loop_facts.clone(),
        warnings,
        states: a.record.take(),
        access: core::mem::take(&mut a.access),
        ctx_len: (len_min, len_max),
    };
    Ok(Verified {
        program: prog.clone(),
        ty: conf.ty,
        ctx_size: conf.ctx_size,
        standard: conf.entry.is_none() && conf.fragment_exits.is_empty(),
        helpers: conf.helper_set(),
        facts,
    })
}
