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
use crate::opcode::RawInsn;
use crate::program::Program;

/// SplitMix64: small, fast, good enough for test generation.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// True with probability `num/den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
    /// One of `items` (non-empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
    /// An interesting 32-bit immediate: small, boundary or random.
    pub fn imm32(&mut self) -> i32 {
        match self.below(6) {
            0 => self.below(16) as i32 - 4,
            1 => self.pick(&[i32::MIN, i32::MAX, -1, 0, 1, 0xff, 0xffff, 0x7fff, -0x8000]),
            2 => self.below(64) as i32,
            _ => self.next_u64() as i32,
        }
    }

    /// `len` input bytes for a run, biased towards 0 and 0xff (a quarter each), so that
    /// length fields, flags and bounds take their edge values often.
    pub fn input(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| match self.below(4) {
                0 => 0,
                1 => 0xff,
                _ => self.next_u64() as u8,
            })
            .collect()
    }
}

fn reg(rng: &mut Rng) -> Reg {
    Reg::new(rng.below(11) as u8).unwrap_or(Reg::R0)
}

fn size(rng: &mut Rng) -> Size {
    rng.pick(&[Size::B, Size::H, Size::W, Size::DW])
}

fn width(rng: &mut Rng) -> Width {
    rng.pick(&[Width::W32, Width::W64])
}

fn source(rng: &mut Rng) -> Source {
    if rng.chance(1, 2) {
        Source::Reg(reg(rng))
    } else {
        Source::Imm(rng.imm32())
    }
}

/// One random instruction; branch offsets are placeholders fixed by [`program`].
pub fn insn(rng: &mut Rng) -> Insn {
    match rng.below(19) {
        0..=3 => {
            let op = rng.pick(&AluOp::ALL);
            let mut w = width(rng);
            let mut src = source(rng);
            if op.is_movsx() {
                src = Source::Reg(reg(rng));
                if op == AluOp::MovSx32 {
                    w = Width::W64;
                }
            }
            Insn::Alu {
                width: w,
                op,
                dst: reg(rng),
                src,
            }
        }
        4 => Insn::Neg {
            width: width(rng),
            dst: reg(rng),
        },
        5 => Insn::End {
            kind: rng.pick(&[Endian::Le, Endian::Be, Endian::Swap]),
            bits: rng.pick(&[SwapBits::B16, SwapBits::B32, SwapBits::B64]),
            dst: reg(rng),
        },
        6 => Insn::LoadImm64 {
            dst: reg(rng),
            imm: rng.next_u64(),
        },
        7 => {
            let kind = rng.pick(&LddwPseudo::ALL);
            let next_imm = if kind.uses_next_imm() { rng.imm32() } else { 0 };
            Insn::LoadPseudo {
                dst: reg(rng),
                kind,
                imm: rng.imm32(),
                next_imm,
            }
        }
        8 | 9 => {
            let s = size(rng);
            let signed = s != Size::DW && rng.chance(1, 3);
            Insn::Load {
                size: s,
                signed,
                dst: reg(rng),
                base: reg(rng),
                off: rng.imm32() as i16,
            }
        }
        10 | 11 => Insn::Store {
            size: size(rng),
            base: reg(rng),
            off: rng.imm32() as i16,
            src: source(rng),
        },
        12 => {
            let op = rng.pick(&[
                AtomicOp::Add,
                AtomicOp::Or,
                AtomicOp::And,
                AtomicOp::Xor,
                AtomicOp::Xchg,
                AtomicOp::CmpXchg,
            ]);
            Insn::Atomic {
                size: rng.pick(&[Size::W, Size::DW]),
                op,
                fetch: op.always_fetches() || rng.chance(1, 2),
                base: reg(rng),
                off: rng.imm32() as i16,
                src: reg(rng),
            }
        }
        13 => {
            let s = rng.pick(&[Size::B, Size::H, Size::W]);
            if rng.chance(1, 2) {
                Insn::LoadAbs {
                    size: s,
                    imm: rng.imm32(),
                }
            } else {
                Insn::LoadInd {
                    size: s,
                    src: reg(rng),
                    imm: rng.imm32(),
                }
            }
        }
        14 | 15 => Insn::Jump {
            width: width(rng),
            cond: rng.pick(&JmpCond::ALL),
            dst: reg(rng),
            src: source(rng),
            off: 0,
        },
        16 => {
            if rng.chance(1, 2) {
                Insn::Ja { off: 0 }
            } else {
                Insn::Ja32 { imm: 0 }
            }
        }
        17 => match rng.below(4) {
            0 => Insn::Call { imm: rng.imm32() },
            1 => Insn::CallLocal { imm: 0 },
            2 => Insn::CallKfunc { imm: rng.imm32() },
            _ => Insn::CallReg { reg: reg(rng) },
        },
        _ => Insn::Exit,
    }
}

/// A random program of `1..=max_len` instructions whose jumps and calls land on instructions
/// (forwards and backwards), ending in `exit`.
pub fn program(rng: &mut Rng, max_len: usize) -> Program {
    let n = 1 + rng.below(max_len.max(1) as u64) as usize;
    let mut insns: Vec<Insn> = (0..n - 1).map(|_| insn(rng)).collect();
    insns.push(Insn::Exit);
    fix_branches(rng, &mut insns);
    Program::from_insns(insns).expect("fix_branches points every branch at an instruction start")
}

/// Points every branch of `insns` at a random instruction start.
pub fn fix_branches(rng: &mut Rng, insns: &mut [Insn]) {
    let mut pcs = Vec::with_capacity(insns.len());
    let mut pc = 0i64;
    for i in insns.iter() {
        pcs.push(pc);
        pc += i.slots() as i64;
    }
    for i in 0..insns.len() {
        let target = pcs[rng.below(pcs.len() as u64) as usize];
        let off = target - (pcs[i] + 1);
        match &mut insns[i] {
            Insn::Ja { off: o } | Insn::Jump { off: o, .. } => *o = off as i16,
            Insn::Ja32 { imm } | Insn::CallLocal { imm } => *imm = off as i32,
            _ => {}
        }
    }
}

/// Byte strings that are mostly instruction-shaped: known opcodes, registers mostly in range,
/// reserved fields mostly zero.
pub fn raw_slots(rng: &mut Rng, max_slots: usize) -> Vec<u8> {
    let n = rng.below(max_slots as u64 + 1) as usize;
    let mut out = Vec::with_capacity(n * 8);
    for _ in 0..n {
        let raw = if rng.chance(3, 4) {
            let (a, b) = crate::encode::encode_insn(&insn(rng));
            let mut a = if rng.chance(1, 2) { b.unwrap_or(a) } else { a };
            // Perturb one field now and then.
            match rng.below(8) {
                0 => a.dst = rng.below(16) as u8,
                1 => a.src = rng.below(16) as u8,
                2 => a.off = rng.imm32() as i16,
                3 => a.imm = rng.imm32(),
                4 => a.opcode = rng.next_u64() as u8,
                _ => {}
            }
            a
        } else {
            RawInsn::from_word(rng.next_u64())
        };
        out.extend_from_slice(&raw.to_bytes());
    }
    if rng.chance(1, 8) {
        out.truncate(out.len().saturating_sub(rng.below(8) as usize));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Structure-aware generation of mostly valid programs, for testing a verifier.
// ---------------------------------------------------------------------------------------------

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
        Shape {
            ty,
            max_len,
            ctx_size,
            focus: None,
        }
    }

    /// [`Shape::new`] aimed at one hazard.
    pub fn focused(ty: ProgramType, max_len: usize, focus: Hazard) -> Shape {
        Shape {
            focus: Some(focus),
            ..Shape::new(ty, max_len)
        }
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
    let reserve = if g.want.is_some() {
        FORCED_FLAW_ROOM
    } else {
        0
    };
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
    let builders: Vec<Builder> = g
        .funcs
        .into_iter()
        .map(|o| o.map(|f| f.b).unwrap_or_default())
        .collect();
    let program = Program::from_insns(link(builders))
        .expect("the builder resolves every label and call to an instruction");
    Structured {
        program,
        flaw: g.flaw,
        features: g.feats,
        unproven: g.unproven,
    }
}

const MAX_LEN_CAP: usize = 4000;
/// Main is at depth 0; callees at 1 and 2 (three frames at most).
const MAX_CALL_DEPTH: usize = 2;
/// Instructions kept back for a flaw planted at the end.
const FORCED_FLAW_ROOM: usize = 20;

const REGS: [Reg; 11] = [
    Reg::R0,
    Reg::R1,
    Reg::R2,
    Reg::R3,
    Reg::R4,
    Reg::R5,
    Reg::R6,
    Reg::R7,
    Reg::R8,
    Reg::R9,
    Reg::R10,
];

fn bit(r: Reg) -> u16 {
    1 << r.num()
}

fn size_of(bytes: u32) -> Size {
    match bytes {
        1 => Size::B,
        2 => Size::H,
        4 => Size::W,
        _ => Size::DW,
    }
}

fn log2(bytes: u32) -> i32 {
    bytes.trailing_zeros() as i32
}

fn alu(width: Width, op: AluOp, dst: Reg, src: Source) -> Insn {
    Insn::Alu {
        width,
        op,
        dst,
        src,
    }
}

fn alu64(op: AluOp, dst: Reg, src: Source) -> Insn {
    alu(Width::W64, op, dst, src)
}

fn mov(dst: Reg, src: Reg) -> Insn {
    alu64(AluOp::Mov, dst, Source::Reg(src))
}

fn movi(dst: Reg, imm: i32) -> Insn {
    alu64(AluOp::Mov, dst, Source::Imm(imm))
}

fn addi(dst: Reg, imm: i32) -> Insn {
    alu64(AluOp::Add, dst, Source::Imm(imm))
}

fn jmp(width: Width, cond: JmpCond, dst: Reg, src: Source) -> Insn {
    Insn::Jump {
        width,
        cond,
        dst,
        src,
        off: 0,
    }
}

fn ldx(size: Size, dst: Reg, base: Reg, off: i32) -> Insn {
    Insn::Load {
        size,
        signed: false,
        dst,
        base,
        off: off as i16,
    }
}

fn st(size: Size, base: Reg, off: i32, src: Source) -> Insn {
    Insn::Store {
        size,
        base,
        off: off as i16,
        src,
    }
}

// --- Builder: instructions with labels, linked into one program ------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Label(usize);

#[derive(Clone, Copy, Debug)]
enum Fix {
    None,
    Label(Label),
    Func(usize),
}

/// One function's instructions; branch targets are labels, call targets function ids.
#[derive(Default)]
struct Builder {
    insns: Vec<Insn>,
    fix: Vec<Fix>,
    /// Instruction index each label is bound to (`usize::MAX`: not bound).
    labels: Vec<usize>,
}

impl Builder {
    fn len(&self) -> usize {
        self.insns.len()
    }
    fn label(&mut self) -> Label {
        self.labels.push(usize::MAX);
        Label(self.labels.len() - 1)
    }
    /// Binds `l` to the next instruction emitted.
    fn bind(&mut self, l: Label) {
        self.labels[l.0] = self.insns.len();
    }
    fn here(&mut self) -> Label {
        let l = self.label();
        self.bind(l);
        l
    }
    fn emit(&mut self, i: Insn) {
        self.insns.push(i);
        self.fix.push(Fix::None);
    }
    fn branch(&mut self, i: Insn, l: Label) {
        self.insns.push(i);
        self.fix.push(Fix::Label(l));
    }
    fn call(&mut self, func: usize) {
        self.insns.push(Insn::CallLocal { imm: 0 });
        self.fix.push(Fix::Func(func));
    }
}

/// Lays the functions out in order and resolves labels and calls to slot offsets.
fn link(funcs: Vec<Builder>) -> Vec<Insn> {
    let mut bases = Vec::with_capacity(funcs.len());
    let mut pcs_all = Vec::with_capacity(funcs.len());
    let mut base = 0i64;
    for b in &funcs {
        bases.push(base);
        let mut pcs = Vec::with_capacity(b.len());
        let mut pc = 0i64;
        for i in &b.insns {
            pcs.push(pc);
            pc += i.slots() as i64;
        }
        base += pc;
        pcs_all.push(pcs);
    }
    let mut out = Vec::new();
    for (fi, b) in funcs.into_iter().enumerate() {
        let pcs = &pcs_all[fi];
        let Builder { insns, fix, labels } = b;
        for (i, (mut insn, fix)) in insns.into_iter().zip(fix).enumerate() {
            let from = bases[fi] + pcs[i] + 1;
            let target = match fix {
                Fix::None => None,
                Fix::Label(l) => Some(bases[fi] + pcs[labels[l.0]]),
                Fix::Func(id) => Some(bases[id]),
            };
            if let Some(t) = target {
                let off = t - from;
                insn = match insn {
                    Insn::Ja { .. } | Insn::Ja32 { .. } => match i16::try_from(off) {
                        Ok(off) => Insn::Ja { off },
                        Err(_) => Insn::Ja32 { imm: off as i32 },
                    },
                    Insn::Jump {
                        width,
                        cond,
                        dst,
                        src,
                        ..
                    } => Insn::Jump {
                        width,
                        cond,
                        dst,
                        src,
                        off: off as i16,
                    },
                    Insn::CallLocal { .. } => Insn::CallLocal { imm: off as i32 },
                    other => other,
                };
            }
            out.push(insn);
        }
    }
    out
}

// --- Abstract state: what the generator knows on every path to the current point -------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Val {
    /// Not written on some path.
    Uninit,
    /// Written, but nothing usable (pointer on one path, scalar on another; variable offset).
    Junk,
    /// A number, possibly one the verifier can compute (constants and whatever is derived from
    /// them, stack contents).
    Scalar,
    /// A number straight from the input (a context load, the wire length): comparing it with a
    /// constant is decided by the input, never by the verifier alone.
    Input,
    /// The context length (a scalar).
    Len,
    /// Context pointer plus a constant.
    Ctx(i32),
    /// Frame pointer plus a constant.
    Stack(i32),
}

impl Val {
    fn is_scalar(self) -> bool {
        matches!(self, Val::Scalar | Val::Input | Val::Len)
    }
    fn is_ptr(self) -> bool {
        matches!(self, Val::Ctx(_) | Val::Stack(_))
    }
    fn is_ctx(self) -> bool {
        matches!(self, Val::Ctx(_))
    }
    fn meet(a: Val, b: Val) -> Val {
        if a == b {
            a
        } else if a == Val::Uninit || b == Val::Uninit {
            Val::Uninit
        } else if a.is_scalar() && b.is_scalar() {
            Val::Scalar
        } else {
            Val::Junk
        }
    }
    /// Whether a callee generated for an argument `self` may be given `actual`.
    fn accepts(self, actual: Val) -> bool {
        match self {
            Val::Uninit | Val::Junk => true,
            Val::Scalar => actual.is_scalar(),
            _ => self == actual,
        }
    }
}

/// Stack byte states.
const SU: u8 = 0; // not written on some path
const SD: u8 = 1; // scalar data on every path
const SP: u8 = 2; // part of a whole, aligned pointer spill (`State::spill`)
const SX: u8 = 3; // pointer bits on some path: not readable, not partially writable

/// Stack bytes `[r10 - 512, r10 - 448)`: where loop bodies spill pointers.
const SPILL_ZONE: usize = 64;

fn sidx(a: i32) -> usize {
    (a + 512) as usize
}

#[derive(Clone)]
struct State {
    /// No path reaches here (after an `exit`).
    dead: bool,
    regs: [Val; 11],
    stack: [u8; 512],
    spill: [Val; 64],
    /// Context length proven on every path (variable contexts).
    len_min: u32,
    /// A length a verifier may also know (from `LD_ABS`/`LD_IND` that return on short
    /// packets): flaws reach past it, valid code never relies on it.
    len_hint: u32,
}

impl State {
    fn entry(regs: [Val; 11]) -> State {
        State {
            dead: false,
            regs,
            stack: [SU; 512],
            spill: [Val::Uninit; 64],
            len_min: 0,
            len_hint: 0,
        }
    }

    fn meet(a: &State, b: &State) -> State {
        if a.dead {
            return b.clone();
        }
        if b.dead {
            return a.clone();
        }
        let mut s = a.clone();
        for i in 0..11 {
            s.regs[i] = Val::meet(a.regs[i], b.regs[i]);
        }
        for slot in 0..64 {
            let same = a.spill[slot] == b.spill[slot];
            for i in slot * 8..slot * 8 + 8 {
                let (x, y) = (a.stack[i], b.stack[i]);
                s.stack[i] = if x == y && (x != SP || same) {
                    x
                } else if x == SP || y == SP || x == SX || y == SX {
                    SX
                } else {
                    SU
                };
            }
            if s.stack[slot * 8] != SP {
                s.spill[slot] = Val::Uninit;
            }
        }
        s.len_min = a.len_min.min(b.len_min);
        s.len_hint = a.len_hint.min(b.len_hint);
        s
    }
}

/// The function being generated.
struct FnCtx {
    b: Builder,
    st: State,
    /// `out: r0 = 0; exit`, emitted after the function's exit if used.
    out: Label,
    out_used: bool,
    depth: usize,
    /// 1 + the height of the deepest callee.
    height: usize,
    /// State at the head of each enclosing loop: the body may not change the kind of what is
    /// initialised there (so every iteration sees what the first one did).
    heads: Vec<State>,
    /// Registers the enclosing templates rely on (loop counters and bounds).
    pinned: u16,
    /// Stack bytes written on some path so far (for planting uninitialised reads).
    touched: [bool; 512],
    loop_depth: usize,
    arm_depth: usize,
    /// The furthest end of a legacy load here or in a callee: past a call, a verifier may
    /// know the packet is at least this long (shorter, the program returned).
    legacy_end: u32,
}

impl FnCtx {
    fn new(depth: usize, st: State) -> FnCtx {
        let mut b = Builder::default();
        let out = b.label();
        FnCtx {
            b,
            st,
            out,
            out_used: false,
            depth,
            height: 1,
            heads: Vec::new(),
            pinned: 0,
            touched: [false; 512],
            loop_depth: 0,
            arm_depth: 0,
            legacy_end: 0,
        }
    }
    fn reg(&self, r: Reg) -> Val {
        self.st.regs[r.index()]
    }
    fn set(&mut self, r: Reg, v: Val) {
        self.st.regs[r.index()] = v;
    }
    /// Code here runs whenever the entry is reached and the input gets this far.
    fn uncond(&self) -> bool {
        self.depth == 0 && self.loop_depth == 0 && self.arm_depth == 0
    }
}

struct FuncOut {
    b: Builder,
    /// What the body assumed of `r1`-`r5` (index 1-5).
    args: [Val; 6],
    height: usize,
    legacy_end: u32,
    /// Not to be reused by [`Gen::t_call`] (its body relies on more than its arguments).
    private: bool,
}

struct Gen<'r> {
    rng: &'r mut Rng,
    ty: ProgramType,
    fixed: Option<u32>,
    legacy: bool,
    emit_helper: bool,
    ctx_writable: bool,
    limit: usize,
    /// Finished functions by id (0 = main, filled last).
    funcs: Vec<Option<FuncOut>>,
    done_len: usize,
    /// Instructions of callers whose generation is suspended.
    open_len: usize,
    want: Option<Flaw>,
    force: bool,
    flaw: Option<Flaw>,
    leak_at_exit: bool,
    feats: Features,
    focus: Option<Hazard>,
    unproven: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum T {
    Const,
    Arith,
    CtxRead,
    Header,
    Legacy,
    Store,
    Load,
    Spill,
    Fill,
    StackPtr,
    Atomic,
    Loop,
    Diamond,
    Helper,
    Call,
    EarlyOut,
    CtxWrite,
    FlawOnly,
    Hazard(Hazard),
}

/// How a counted loop may index memory with its counter.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Index {
    None,
    /// Read `e`-byte elements of an initialised `n`-byte stack array at `r10 + b`.
    StackRead {
        b: i32,
        e: u32,
        n: u32,
    },
    /// Write `e`-byte elements of an `n`-byte stack array at `r10 + b`.
    StackWrite {
        b: i32,
        e: u32,
        n: u32,
    },
    /// Read `e`-byte elements at context offset `a` (checked before the loop if variable).
    Ctx {
        a: u32,
        e: u32,
    },
    /// The same, checked against the length in every iteration (variable contexts).
    CtxChecked {
        a: u32,
        e: u32,
        slack: i32,
    },
}

impl Gen<'_> {
    fn total(&self, f: &FnCtx) -> usize {
        self.done_len + self.open_len + f.b.len()
    }

    fn pick_flaw(&mut self) -> Flaw {
        let mut kinds: Vec<(u64, Flaw)> = alloc::vec![
            (3, Flaw::CtxOutOfBounds),
            (2, Flaw::StackUninitRead),
            (2, Flaw::StackOutOfBounds),
            (3, Flaw::UnboundedLoop),
            (2, Flaw::LoopIndexOffByOne),
            (3, Flaw::PointerLeak),
            (1, Flaw::BadPointerArith),
            (1, Flaw::UninitRegister),
        ];
        if self.fixed.is_none() {
            kinds.push((2, Flaw::HeaderOffByOne));
        }
        if !self.ctx_writable {
            kinds.push((1, Flaw::CtxWrite));
        }
        let total: u64 = kinds.iter().map(|k| k.0).sum();
        let mut x = self.rng.below(total);
        for (w, k) in kinds {
            if x < w {
                return k;
            }
            x -= w;
        }
        Flaw::PointerLeak
    }

    /// Whether to plant `kind` here (now and then, where it is sure to be reached).
    fn flaw_now(&mut self, f: &FnCtx, kind: Flaw) -> bool {
        self.want == Some(kind) && f.uncond() && (self.force || self.rng.chance(1, 3))
    }

    fn planted(&mut self, kind: Flaw) {
        self.flaw = Some(kind);
        self.want = None;
    }

    // --- register choice ----------------------------------------------------------------------

    /// `r` holds the last copy of the context pointer or length (overall, or among r6-r9).
    fn protected(f: &FnCtx, r: Reg) -> bool {
        let cur = f.reg(r);
        let like = |v: Val| (cur.is_ctx() && v.is_ctx()) || (cur == Val::Len && v == Val::Len);
        if !cur.is_ctx() && cur != Val::Len {
            return false;
        }
        let others = |lo: usize, hi: usize| (lo..=hi).any(|i| i != r.index() && like(f.st.regs[i]));
        if !others(0, 9) {
            return true;
        }
        (6..=9).contains(&r.index()) && !others(6, 9)
    }

    fn can_write(&self, f: &FnCtx, r: Reg, v: Val) -> bool {
        if r == Reg::R10 || f.pinned & bit(r) != 0 {
            return false;
        }
        if let Some(h) = f.heads.last() {
            match h.regs[r.index()] {
                Val::Uninit | Val::Junk => {}
                Val::Scalar if v.is_scalar() => {}
                Val::Len if v == Val::Len => {}
                _ => return false,
            }
        }
        f.reg(r) == v || !Self::protected(f, r)
    }

    fn pick_dst(&mut self, f: &FnCtx, v: Val, exclude: u16) -> Option<Reg> {
        let cands: Vec<Reg> = REGS[..10]
            .iter()
            .copied()
            .filter(|&r| exclude & bit(r) == 0 && self.can_write(f, r, v))
            .collect();
        if cands.is_empty() {
            None
        } else {
            Some(self.rng.pick(&cands))
        }
    }

    fn pick_where(&mut self, f: &FnCtx, pred: impl Fn(Val) -> bool) -> Option<Reg> {
        let cands: Vec<Reg> = REGS.iter().copied().filter(|&r| pred(f.reg(r))).collect();
        if cands.is_empty() {
            None
        } else {
            Some(self.rng.pick(&cands))
        }
    }

    fn scalar_reg(&mut self, f: &FnCtx) -> Option<Reg> {
        self.pick_where(f, Val::is_scalar)
    }

    fn ctx_reg(&mut self, f: &FnCtx) -> Option<(Reg, i32)> {
        let r = self.pick_where(f, Val::is_ctx)?;
        match f.reg(r) {
            Val::Ctx(o) => Some((r, o)),
            _ => None,
        }
    }

    /// Registers holding a context pointer.
    fn ctx_mask(f: &FnCtx) -> u16 {
        REGS.iter()
            .filter(|&&r| f.reg(r).is_ctx())
            .fold(0, |m, &r| m | bit(r))
    }

    fn len_reg(&mut self, f: &FnCtx) -> Option<Reg> {
        self.pick_where(f, |v| v == Val::Len)
    }

    /// Copies the context pointer (and length) into a callee-saved register if none holds one.
    fn ensure_saved(&mut self, f: &mut FnCtx) {
        for want_ctx in [true, false] {
            let like = |v: Val| if want_ctx { v.is_ctx() } else { v == Val::Len };
            let Some(src) = (0..10).find(|&i| like(f.st.regs[i])) else {
                continue;
            };
            if (6..=9).any(|i| like(f.st.regs[i])) {
                continue;
            }
            let v = f.st.regs[src];
            let start = self.rng.below(4) as usize;
            for k in 0..4 {
                let r = REGS[6 + (start + k) % 4];
                if self.can_write(f, r, v) {
                    f.b.emit(mov(r, REGS[src]));
                    f.set(r, v);
                    break;
                }
            }
        }
    }

    /// A helper or local call may clobber `r1`-`r5` and set `r0` here.
    fn clobber_ok(&self, f: &FnCtx) -> bool {
        let args_free = (1..=5).all(|i| {
            f.pinned & (1 << i) == 0
                && f.heads
                    .last()
                    .is_none_or(|h| matches!(h.regs[i], Val::Uninit | Val::Junk))
        });
        args_free && self.can_write(f, Reg::R0, Val::Scalar)
    }

    fn clobber(f: &mut FnCtx) {
        for i in 1..=5 {
            f.st.regs[i] = Val::Uninit;
        }
        f.st.regs[0] = Val::Scalar;
    }

    // --- stack --------------------------------------------------------------------------------

    fn stack_write_ok(f: &FnCtx, a: i32, n: usize, code: u8) -> bool {
        if a < -512 || a + n as i32 > 0 {
            return false;
        }
        let lo = sidx(a);
        let hi = lo + n;
        let whole = n == 8 && lo.is_multiple_of(8);
        if !whole {
            for slot in lo / 8..=(hi - 1) / 8 {
                if f.st.stack[slot * 8..slot * 8 + 8]
                    .iter()
                    .any(|&c| c == SP || c == SX)
                {
                    return false;
                }
            }
        }
        if let Some(h) = f.heads.last() {
            for &c in &h.stack[lo..hi] {
                if c == SP || (c == SD && code != SD) {
                    return false;
                }
            }
            // A pointer spilled in a loop body is still there when the next iteration starts,
            // where the body took the slot for unwritten: spills go to the spill zone only, and
            // the body writes zone slots it found unwritten only whole.
            let zone = lo < SPILL_ZONE;
            if code == SP {
                return whole && zone && h.stack[lo..hi].iter().all(|&c| c == SU || c == SX);
            }
            if !whole && zone {
                let (s0, s1) = (lo & !7, ((hi + 7) & !7).min(SPILL_ZONE));
                if h.stack[s0..s1].iter().any(|&c| c != SD) {
                    return false;
                }
            }
        }
        true
    }

    fn stack_write(f: &mut FnCtx, a: i32, n: usize, v: Val) {
        let lo = sidx(a);
        let code = if v.is_ptr() { SP } else { SD };
        for i in lo..lo + n {
            f.st.stack[i] = code;
            f.touched[i] = true;
        }
        if n == 8 && lo.is_multiple_of(8) {
            f.st.spill[lo / 8] = if code == SP { v } else { Val::Uninit };
        }
    }

    fn stack_read(f: &FnCtx, a: i32, n: usize) -> Option<Val> {
        if a < -512 || a + n as i32 > 0 {
            return None;
        }
        let lo = sidx(a);
        let bytes = &f.st.stack[lo..lo + n];
        if bytes.iter().all(|&c| c == SD) {
            Some(Val::Scalar)
        } else if n == 8 && lo.is_multiple_of(8) && bytes.iter().all(|&c| c == SP) {
            Some(f.st.spill[lo / 8])
        } else {
            None
        }
    }

    /// A base register for stack access: `r10` mostly, else a register holding `r10 + o`.
    fn stack_base(&mut self, f: &FnCtx) -> (Reg, i32) {
        if self.rng.chance(1, 4)
            && let Some(r) = self.pick_where(f, |v| matches!(v, Val::Stack(o) if o != 0))
            && let Val::Stack(o) = f.reg(r)
        {
            return (r, o);
        }
        (Reg::R10, 0)
    }

    /// A stack address for an `n`-byte access: near the top mostly, aligned mostly.
    fn stack_addr(&mut self, n: u32) -> i32 {
        let n = n as i32;
        let span = if self.rng.chance(3, 4) { 64 } else { 512 };
        if self.rng.chance(3, 4) {
            let k = 1 + self.rng.below((span / n) as u64) as i32;
            -(k * n)
        } else {
            -(n + self.rng.below((span - n + 1) as u64) as i32)
        }
    }

    fn pick_size(&mut self) -> u32 {
        self.rng.pick(&[1, 2, 4, 8, 8, 4])
    }

    // --- templates ----------------------------------------------------------------------------

    fn prologue(&mut self, f: &mut FnCtx) {
        if self.rng.chance(3, 5) {
            self.ensure_saved(f);
        }
        if self.rng.chance(1, 3) {
            f.b.emit(movi(Reg::R0, 0));
            f.set(Reg::R0, Val::Scalar);
        }
    }

    fn segment(&mut self, f: &mut FnCtx, budget: usize) {
        let end = (self.total(f) + budget).min(self.limit);
        let mut fails = 0;
        while !f.st.dead && fails < 12 {
            let total = self.total(f);
            if total + 2 > end {
                break;
            }
            if !self.step(f, end - total) {
                fails += 1;
            }
        }
    }

    fn step(&mut self, f: &mut FnCtx, room: usize) -> bool {
        let var = self.fixed.is_none();
        let mut table: Vec<(u64, T)> = alloc::vec![
            (3, T::Const),
            (7, T::Arith),
            (5, T::CtxRead),
            (4, T::Store),
            (3, T::Load),
            (2, T::Spill),
            (2, T::Fill),
            (1, T::StackPtr),
            (1, T::Atomic),
            (1, T::EarlyOut),
        ];
        if var {
            table.push((2, T::Header));
        }
        if self.legacy {
            table.push((2, T::Legacy));
        }
        match f.loop_depth {
            0 => table.push((4, T::Loop)),
            1 => table.push((1, T::Loop)),
            _ => {}
        }
        if f.arm_depth < 2 {
            table.push((3, T::Diamond));
        }
        if self.emit_helper {
            table.push((3, T::Helper));
        }
        if f.depth < MAX_CALL_DEPTH {
            table.push((1, T::Call));
        }
        if self.ctx_writable {
            table.push((1, T::CtxWrite));
        }
        if self.want.is_some() && f.uncond() {
            table.push((2, T::FlawOnly));
        }
        for h in Hazard::ALL {
            let w = match self.focus {
                None => 1,
                Some(x) if x == h => 14,
                Some(_) => 0,
            };
            if w > 0 {
                table.push((w, T::Hazard(h)));
            }
        }
        let total: u64 = table.iter().map(|t| t.0).sum();
        let mut x = self.rng.below(total);
        let mut pick = T::Const;
        for (w, t) in table {
            if x < w {
                pick = t;
                break;
            }
            x -= w;
        }
        match pick {
            T::Const => self.t_const(f),
            T::Arith => self.t_arith(f),
            T::CtxRead => room >= 6 && self.t_ctx_read(f),
            T::Header => room >= 12 && self.t_header(f),
            T::Legacy => self.t_legacy(f),
            T::Store => room >= 3 && self.t_store(f),
            T::Load => self.t_load(f),
            T::Spill => room >= 3 && self.t_spill(f),
            T::Fill => self.t_fill(f),
            T::StackPtr => room >= 3 && self.t_stack_ptr(f),
            T::Atomic => self.t_atomic(f),
            T::Loop => self.t_loop(f, room),
            T::Diamond => self.t_diamond(f, room),
            T::Helper => room >= 8 && self.t_helper(f, false),
            T::Call => self.t_call(f, room),
            T::EarlyOut => self.t_early_out(f),
            T::CtxWrite => room >= 6 && self.t_ctx_write(f),
            T::FlawOnly => room >= 8 && self.t_flaw(f),
            T::Hazard(h) => self.hazard(f, h, room),
        }
    }

    fn imm64(&mut self) -> u64 {
        match self.rng.below(4) {
            0 => self
                .rng
                .pick(&[0, u64::MAX, 1 << 63, 0x8000_0000, 0xffff_ffff, 1 << 32]),
            1 => self.rng.below(1 << 16),
            _ => self.rng.next_u64(),
        }
    }

    fn t_const(&mut self, f: &mut FnCtx) -> bool {
        let Some(d) = self.pick_dst(f, Val::Scalar, 0) else {
            return false;
        };
        let insn = match self.rng.below(5) {
            0 => Insn::LoadImm64 {
                dst: d,
                imm: self.imm64(),
            },
            1 => alu(Width::W32, AluOp::Mov, d, Source::Imm(self.rng.imm32())),
            _ => movi(d, self.rng.imm32()),
        };
        f.b.emit(insn);
        f.set(d, Val::Scalar);
        true
    }

    fn t_arith(&mut self, f: &mut FnCtx) -> bool {
        let cands: Vec<Reg> = REGS[..10]
            .iter()
            .copied()
            .filter(|&r| f.reg(r).is_scalar() && self.can_write(f, r, Val::Scalar))
            .collect();
        if cands.is_empty() {
            return self.t_const(f);
        }
        let d = self.rng.pick(&cands);
        let mut result = Val::Scalar;
        let insn = match self.rng.below(10) {
            0 => Insn::Neg {
                width: width(self.rng),
                dst: d,
            },
            1 => {
                let kind = self.rng.pick(&[Endian::Le, Endian::Be, Endian::Swap]);
                let bits = self
                    .rng
                    .pick(&[SwapBits::B16, SwapBits::B32, SwapBits::B64]);
                Insn::End { kind, bits, dst: d }
            }
            _ => {
                let op = self.rng.pick(&[
                    AluOp::Add,
                    AluOp::Sub,
                    AluOp::Mul,
                    AluOp::Div,
                    AluOp::SDiv,
                    AluOp::Or,
                    AluOp::And,
                    AluOp::Lsh,
                    AluOp::Rsh,
                    AluOp::Mod,
                    AluOp::SMod,
                    AluOp::Xor,
                    AluOp::Arsh,
                    AluOp::Mov,
                    AluOp::MovSx8,
                    AluOp::MovSx16,
                    AluOp::MovSx32,
                    AluOp::Add,
                    AluOp::And,
                ]);
                let mut w = width(self.rng);
                let src_reg = self.scalar_reg(f);
                let use_reg = op.is_movsx() || (src_reg.is_some() && self.rng.chance(1, 2));
                let src = if use_reg {
                    Source::Reg(src_reg.unwrap_or(d))
                } else {
                    let bits = if w == Width::W32 { 32 } else { 64 };
                    Source::Imm(match op {
                        AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => self.rng.below(bits) as i32,
                        AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod => {
                            self.rng.pick(&[0, 0, -1, 1, 3, 7, 10, 255, 4096, i32::MIN])
                        }
                        _ => self.rng.imm32(),
                    })
                };
                if op == AluOp::MovSx32 {
                    w = Width::W64;
                }
                if let (AluOp::Mov, Width::W64, Source::Reg(s)) = (op, w, src)
                    && f.reg(s) == Val::Input
                {
                    result = Val::Input;
                }
                alu(w, op, d, src)
            }
        };
        f.b.emit(insn);
        f.set(d, result);
        true
    }

    /// `if len < k goto out` in one of several spellings; afterwards `len >= k` is proven.
    fn len_check(&mut self, f: &mut FnCtx, k: u32) -> bool {
        let Some(l) = self.len_reg(f) else {
            return false;
        };
        let k = k.max(1) as i32;
        let out = f.out;
        match self.rng.below(14) {
            0..=4 => {
                f.b.branch(jmp(Width::W64, JmpCond::Lt, l, Source::Imm(k)), out)
            }
            5..=6 => {
                f.b.branch(jmp(Width::W64, JmpCond::Le, l, Source::Imm(k - 1)), out)
            }
            7..=8 => {
                let Some(t) = self.pick_dst(f, Val::Scalar, bit(l) | Self::ctx_mask(f)) else {
                    return false;
                };
                f.b.emit(movi(t, k));
                f.set(t, Val::Scalar);
                f.b.branch(jmp(Width::W64, JmpCond::Gt, t, Source::Reg(l)), out);
            }
            9..=10 => {
                let ok = f.b.label();
                f.b.branch(jmp(Width::W64, JmpCond::Ge, l, Source::Imm(k)), ok);
                f.b.emit(movi(Reg::R0, 0));
                f.b.emit(Insn::Exit);
                f.b.bind(ok);
                self.feats.len_checks += 1;
                f.st.len_min = f.st.len_min.max(k as u32);
                f.st.len_hint = f.st.len_hint.max(k as u32);
                return true;
            }
            11 => {
                f.b.branch(jmp(Width::W64, JmpCond::Slt, l, Source::Imm(k)), out)
            }
            12 => {
                f.b.branch(jmp(Width::W32, JmpCond::Lt, l, Source::Imm(k)), out)
            }
            _ => {
                let Some(t) = self.pick_dst(f, Val::Len, bit(l) | Self::ctx_mask(f)) else {
                    return false;
                };
                f.b.emit(mov(t, l));
                f.set(t, Val::Len);
                f.b.branch(jmp(Width::W64, JmpCond::Lt, t, Source::Imm(k)), out);
            }
        }
        f.out_used = true;
        self.feats.len_checks += 1;
        f.st.len_min = f.st.len_min.max(k as u32);
        f.st.len_hint = f.st.len_hint.max(k as u32);
        true
    }

    /// Makes `[0, need)` of the context readable: nothing for a fixed size that covers it, a
    /// length check for a variable one.
    fn ensure_len(&mut self, f: &mut FnCtx, need: u32) -> bool {
        match self.fixed {
            Some(n) => need <= n,
            None => need <= f.st.len_min || self.len_check(f, need),
        }
    }

    fn ctx_offset(&mut self, s: u32) -> Option<u32> {
        match self.fixed {
            Some(n) => {
                let n = n.min(4096);
                if self.ty == ProgramType::Acl && self.rng.chance(1, 3) {
                    // the request: principal u64 at 0, operation u32 at 8
                    let a = self.rng.pick(&[0, 8, 12]);
                    if a + s <= n {
                        return Some(a);
                    }
                }
                (n >= s).then(|| self.rng.below((n - s + 1) as u64) as u32)
            }
            None => Some(if self.rng.chance(1, 3) {
                self.rng.pick(&[12, 14, 16, 20, 23, 26, 30, 34, 36, 0])
            } else {
                self.rng.below(64) as u32
            }),
        }
    }

    fn t_ctx_read(&mut self, f: &mut FnCtx) -> bool {
        if self.ctx_reg(f).is_none() {
            return false;
        }
        let mut s = self.pick_size();
        if let Some(n) = self.fixed {
            while s > n && s > 1 {
                s /= 2;
            }
        }
        let flaw = self.flaw_now(f, Flaw::CtxOutOfBounds);
        let a = if flaw {
            match self.fixed {
                // ends 1..=s bytes past the end
                Some(n) if n <= 4096 => n.saturating_sub(s) + 1 + self.rng.below(s as u64) as u32,
                Some(_) => return false,
                None => {
                    // check one byte short of the end of the access
                    let k = (f.st.len_hint + 1 + self.rng.below(24) as u32).max(s);
                    if k - 1 > f.st.len_min && !self.len_check(f, k - 1) {
                        return false;
                    }
                    k - s
                }
            }
        } else {
            let Some(a) = self.ctx_offset(s) else {
                return false;
            };
            if !self.ensure_len(f, a + s) {
                return false;
            }
            a
        };
        let Some((p, o)) = self.ctx_reg(f) else {
            return false;
        };
        let Some(d) = self.pick_dst(f, Val::Scalar, 0) else {
            return false;
        };
        let signed = s < 8 && self.rng.chance(1, 4);
        f.b.emit(Insn::Load {
            size: size_of(s),
            signed,
            dst: d,
            base: p,
            off: (a as i32 - o) as i16,
        });
        f.set(d, Val::Input);
        self.feats.ctx_reads += 1;
        if flaw {
            self.planted(Flaw::CtxOutOfBounds);
        }
        true
    }

    /// `A = ctx[h]; A &= 15; A <<= 2; B = A + E; if B > len goto out; C = ctx + A; D = C[o2]`.
    fn t_header(&mut self, f: &mut FnCtx) -> bool {
        if self.fixed.is_some() {
            return false;
        }
        if self.ctx_reg(f).is_none() {
            return false;
        }
        let hoff = self.rng.pick(&[14, 14, 0, 12, 20, 9]) as u32;
        if !self.ensure_len(f, hoff + 1) {
            return false;
        }
        let Some((p, o)) = self.ctx_reg(f) else {
            return false;
        };
        let Some(l) = self.len_reg(f) else {
            return false;
        };
        let keep = bit(p) | bit(l);
        let Some(ra) = self.pick_dst(f, Val::Scalar, keep) else {
            return false;
        };
        let Some(rb) = self.pick_dst(f, Val::Scalar, keep | bit(ra)) else {
            return false;
        };
        let Some(rc) = self.pick_dst(f, Val::Ctx(o), keep | bit(ra) | bit(rb)) else {
            return false;
        };
        if !self.can_write(f, rc, Val::Junk) {
            return false;
        }
        let flaw = self.flaw_now(f, Flaw::HeaderOffByOne);
        f.b.emit(ldx(Size::B, ra, p, hoff as i32 - o));
        match self.rng.below(3) {
            0 => {
                f.b.emit(alu64(AluOp::And, ra, Source::Imm(15)));
                f.b.emit(alu64(AluOp::Lsh, ra, Source::Imm(2)));
            }
            1 => f.b.emit(alu64(AluOp::And, ra, Source::Imm(0x3c))),
            _ => {
                f.b.emit(alu(Width::W32, AluOp::And, ra, Source::Imm(7)));
                f.b.emit(alu64(AluOp::Mul, ra, Source::Imm(8)));
            }
        }
        f.set(ra, Val::Scalar);
        let s = self.pick_size();
        let e = (s + self.rng.below(24) as u32).max(self.rng.pick(&[s, 18, 20, 22, 24]));
        // For the flaw, the one-byte overrun must be reachable: `hlen + e` at least what a
        // verifier may know of the length.
        let flaw = flaw && f.st.len_hint <= e + 56;
        let o2 = if flaw {
            e - s + 1
        } else {
            e - s - self.rng.below((e - s + 1).min(4) as u64) as u32
        };
        f.b.emit(mov(rb, ra));
        f.b.emit(addi(rb, e as i32));
        f.set(rb, Val::Scalar);
        if self.rng.chance(1, 2) {
            f.b.branch(jmp(Width::W64, JmpCond::Gt, rb, Source::Reg(l)), f.out);
        } else {
            f.b.branch(jmp(Width::W64, JmpCond::Lt, l, Source::Reg(rb)), f.out);
        }
        f.out_used = true;
        f.b.emit(mov(rc, p));
        f.b.emit(alu64(AluOp::Add, rc, Source::Reg(ra)));
        f.set(rc, Val::Junk);
        let d = self.pick_dst(f, Val::Scalar, 0).unwrap_or(rc);
        f.b.emit(ldx(size_of(s), d, rc, o2 as i32));
        f.set(d, Val::Input);
        self.feats.header_patterns += 1;
        self.feats.len_checks += 1;
        self.feats.ctx_reads += 2;
        if flaw {
            self.planted(Flaw::HeaderOffByOne);
        }
        true
    }

    fn t_legacy(&mut self, f: &mut FnCtx) -> bool {
        if !self.legacy || !self.can_write(f, Reg::R0, Val::Scalar) {
            return false;
        }
        let size = self.rng.pick(&[Size::B, Size::H, Size::W]);
        // An index from the input, masked so that the load is in bounds for some lengths (a
        // constant or the length itself could put everything after out of reach: out of
        // bounds, the program returns).
        let x = self.input_reg(f).filter(|_| self.rng.chance(1, 3));
        let insn = match x {
            Some(x) => {
                let src = match self.pick_dst(f, Val::Scalar, bit(Reg::R0)) {
                    Some(t) => {
                        f.b.emit(mov(t, x));
                        let mask = self.rng.pick(&[15, 63, 255]);
                        f.b.emit(alu64(AluOp::And, t, Source::Imm(mask)));
                        f.set(t, Val::Scalar);
                        t
                    }
                    None => x,
                };
                Insn::LoadInd {
                    size,
                    src,
                    imm: self.rng.below(32) as i32,
                }
            }
            None => Insn::LoadAbs {
                size,
                imm: if self.rng.chance(1, 8) {
                    self.rng.below(256) as i32
                } else {
                    self.rng.below(64) as i32
                },
            },
        };
        if let Insn::LoadAbs { imm, .. } | Insn::LoadInd { imm, .. } = insn {
            let end = imm as u32 + size.bytes() as u32;
            f.st.len_hint = f.st.len_hint.max(end);
            f.legacy_end = f.legacy_end.max(end);
        }
        f.b.emit(insn);
        f.set(Reg::R0, Val::Input);
        self.feats.legacy_loads += 1;
        true
    }

    fn t_store(&mut self, f: &mut FnCtx) -> bool {
        let s = self.pick_size();
        let (base, o) = self.stack_base(f);
        for _ in 0..6 {
            let a = self.stack_addr(s);
            if !Self::stack_write_ok(f, a, s as usize, SD) {
                continue;
            }
            let src = match self.scalar_reg(f) {
                Some(r) if self.rng.chance(1, 2) => Source::Reg(r),
                _ => Source::Imm(self.rng.imm32()),
            };
            f.b.emit(st(size_of(s), base, a - o, src));
            Self::stack_write(f, a, s as usize, Val::Scalar);
            return true;
        }
        false
    }

    /// A stack range that is readable as scalar bytes.
    fn find_readable(&mut self, f: &FnCtx, s: u32) -> Option<i32> {
        let d: Vec<usize> = (0..512).filter(|&i| f.st.stack[i] == SD).collect();
        if d.is_empty() {
            return None;
        }
        for _ in 0..10 {
            let i = self.rng.pick(&d) as i32 - 512;
            let a = if self.rng.chance(1, 2) {
                i & !(s as i32 - 1)
            } else {
                i - self.rng.below(s as u64) as i32
            };
            if Self::stack_read(f, a, s as usize) == Some(Val::Scalar) {
                return Some(a);
            }
        }
        None
    }

    fn t_load(&mut self, f: &mut FnCtx) -> bool {
        let s = self.pick_size();
        let Some(a) = self.find_readable(f, s) else {
            return false;
        };
        let Some(d) = self.pick_dst(f, Val::Scalar, 0) else {
            return false;
        };
        let (base, o) = self.stack_base(f);
        let signed = s < 8 && self.rng.chance(1, 4);
        f.b.emit(Insn::Load {
            size: size_of(s),
            signed,
            dst: d,
            base,
            off: (a - o) as i16,
        });
        f.set(d, Val::Scalar);
        true
    }

    fn t_spill(&mut self, f: &mut FnCtx) -> bool {
        let Some(p) = self.pick_where(f, Val::is_ptr) else {
            return false;
        };
        let v = f.reg(p);
        for _ in 0..6 {
            let a = if f.heads.is_empty() {
                let span = if self.rng.chance(3, 4) { 8 } else { 64 };
                -8 * (1 + self.rng.below(span) as i32)
            } else {
                -512 + 8 * self.rng.below(SPILL_ZONE as u64 / 8) as i32
            };
            if !Self::stack_write_ok(f, a, 8, SP) {
                continue;
            }
            f.b.emit(st(Size::DW, Reg::R10, a, Source::Reg(p)));
            Self::stack_write(f, a, 8, v);
            self.feats.pointer_spills += 1;
            // Often filled straight back, into another register.
            if self.rng.chance(1, 2) {
                self.fill_at(f, a);
            }
            return true;
        }
        false
    }

    fn fill_at(&mut self, f: &mut FnCtx, a: i32) -> bool {
        let Some(v) = Self::stack_read(f, a, 8) else {
            return false;
        };
        let Some(d) = self.pick_dst(f, v, 0) else {
            return false;
        };
        let (base, o) = self.stack_base(f);
        f.b.emit(ldx(Size::DW, d, base, a - o));
        f.set(d, v);
        if v.is_ptr() {
            self.feats.pointer_fills += 1;
        }
        true
    }

    fn t_fill(&mut self, f: &mut FnCtx) -> bool {
        let slots: Vec<usize> = (0..64).filter(|&s| f.st.stack[s * 8] == SP).collect();
        if slots.is_empty() {
            return false;
        }
        let slot = self.rng.pick(&slots);
        self.fill_at(f, slot as i32 * 8 - 512)
    }

    fn t_stack_ptr(&mut self, f: &mut FnCtx) -> bool {
        let k = if self.rng.chance(3, 4) {
            8 * (1 + self.rng.below(8) as i32)
        } else {
            1 + self.rng.below(512) as i32
        };
        let Some(d) = self.pick_dst(f, Val::Stack(-k), 0) else {
            return false;
        };
        f.b.emit(mov(d, Reg::R10));
        if self.rng.chance(1, 4) {
            f.b.emit(alu64(AluOp::Sub, d, Source::Imm(k)));
        } else {
            f.b.emit(addi(d, -k));
        }
        f.set(d, Val::Stack(-k));
        if self.rng.chance(1, 2) {
            self.t_store(f);
        }
        true
    }

    fn t_atomic(&mut self, f: &mut FnCtx) -> bool {
        let s = self.rng.pick(&[4u32, 8]);
        let Some(a) = self.find_readable(f, s) else {
            return false;
        };
        if a % s as i32 != 0 || !Self::stack_write_ok(f, a, s as usize, SD) {
            return false;
        }
        let Some(src) = self.scalar_reg(f) else {
            return false;
        };
        let op = self.rng.pick(&[
            AtomicOp::Add,
            AtomicOp::Or,
            AtomicOp::And,
            AtomicOp::Xor,
            AtomicOp::Xchg,
            AtomicOp::CmpXchg,
        ]);
        let fetch = op.always_fetches() || self.rng.chance(1, 2);
        if fetch && !self.can_write(f, src, Val::Scalar) {
            return false;
        }
        if op == AtomicOp::CmpXchg
            && !(f.reg(Reg::R0).is_scalar() && self.can_write(f, Reg::R0, Val::Scalar))
        {
            return false;
        }
        f.b.emit(Insn::Atomic {
            size: size_of(s),
            op,
            fetch,
            base: Reg::R10,
            off: a as i16,
            src,
        });
        if op == AtomicOp::CmpXchg {
            f.set(Reg::R0, Val::Scalar);
        } else if fetch {
            f.set(src, Val::Scalar);
        }
        true
    }

    /// A register whose comparison with a constant the input decides (not the length: a
    /// `len == k` exit could hide the one length where a planted flaw shows).
    fn input_reg(&mut self, f: &FnCtx) -> Option<Reg> {
        self.pick_where(f, |v| v == Val::Input)
    }

    /// `if x == imm goto out` on an input value: never taken on every path, so what follows
    /// stays reachable.
    fn t_early_out(&mut self, f: &mut FnCtx) -> bool {
        let Some(r) = self.input_reg(f) else {
            return false;
        };
        let w = width(self.rng);
        let imm = self.rng.below(64) as i32;
        f.b.branch(jmp(w, JmpCond::Eq, r, Source::Imm(imm)), f.out);
        f.out_used = true;
        true
    }

    fn t_ctx_write(&mut self, f: &mut FnCtx) -> bool {
        let flaw = !self.ctx_writable && self.flaw_now(f, Flaw::CtxWrite);
        if !self.ctx_writable && !flaw {
            return false;
        }
        if self.ctx_reg(f).is_none() {
            return false;
        }
        let s = self.pick_size();
        let Some(a) = self.ctx_offset(s) else {
            return false;
        };
        if !self.ensure_len(f, a + s) {
            return false;
        }
        let Some((p, o)) = self.ctx_reg(f) else {
            return false;
        };
        let src = match self.scalar_reg(f) {
            Some(r) if self.rng.chance(1, 2) => Source::Reg(r),
            _ => Source::Imm(self.rng.imm32()),
        };
        f.b.emit(st(size_of(s), p, a as i32 - o, src));
        if flaw {
            self.planted(Flaw::CtxWrite);
        }
        true
    }

    /// Sets `r1`-`r3` to scalars (keeping some that already are) and calls `emit`.
    fn t_helper(&mut self, f: &mut FnCtx, leak: bool) -> bool {
        if !self.emit_helper || !self.clobber_ok(f) {
            return false;
        }
        self.ensure_saved(f);
        let leak_arg = if leak {
            Some(REGS[1 + self.rng.below(3) as usize])
        } else {
            None
        };
        for r in [Reg::R3, Reg::R2, Reg::R1] {
            if Some(r) == leak_arg {
                if let Some((p, _)) = self.ctx_reg(f).filter(|_| self.rng.chance(1, 2)) {
                    f.b.emit(mov(r, p));
                } else {
                    f.b.emit(mov(r, Reg::R10));
                    f.b.emit(addi(r, -8 * (1 + self.rng.below(8) as i32)));
                }
                f.set(r, Val::Junk);
                continue;
            }
            // `emit`'s contract, which the verifier proves: the kind fits 32 bits and
            // start + count cannot overflow 64 bits. Start and count are 32-bit values here.
            match self.rng.below(4) {
                0 => {
                    let imm = match r {
                        Reg::R3 => self.rng.below(4) as i32,
                        Reg::R2 => 1 + self.rng.below(16) as i32,
                        _ => self.rng.below(1 << 31) as i32,
                    };
                    f.b.emit(movi(r, imm));
                }
                1 => match self.scalar_reg(f) {
                    Some(s) => f.b.emit(alu(Width::W32, AluOp::Mov, r, Source::Reg(s))),
                    None => f.b.emit(movi(r, 0)),
                },
                _ => {
                    // a field of the object
                    let sz = self.rng.pick(&[4u32, 2]);
                    let readable = match (self.ctx_reg(f), self.ctx_offset(sz)) {
                        (Some((p, o)), Some(a))
                            if self.fixed.is_some() || a + sz <= f.st.len_min =>
                        {
                            Some((p, a as i32 - o))
                        }
                        _ => None,
                    };
                    match readable {
                        Some((p, off)) => {
                            f.b.emit(ldx(size_of(sz), r, p, off));
                            self.feats.ctx_reads += 1;
                        }
                        None => f.b.emit(movi(r, self.rng.below(1000) as i32)),
                    }
                }
            }
            if r == Reg::R3 {
                f.b.emit(alu64(AluOp::And, r, Source::Imm(3)));
            }
            f.set(r, Val::Scalar);
        }
        f.b.emit(Insn::Call { imm: 1 });
        Self::clobber(f);
        self.feats.helper_calls += 1;
        if leak {
            self.planted(Flaw::PointerLeak);
        }
        true
    }

    /// A call of a local function (new, or an earlier one whose assumptions hold).
    fn t_call(&mut self, f: &mut FnCtx, room: usize) -> bool {
        if f.depth >= MAX_CALL_DEPTH || room < 16 || !self.clobber_ok(f) {
            return false;
        }
        self.ensure_saved(f);
        let nargs = self.rng.below(6) as usize;
        let mut passed_ctx = false;
        for (i, &r) in REGS.iter().enumerate().take(nargs + 1).skip(1) {
            if i == 1
                && self.rng.chance(1, 2)
                && let Some((p, _)) = self.ctx_reg(f)
            {
                if p != r {
                    f.b.emit(mov(r, p));
                    f.set(r, f.reg(p));
                }
                passed_ctx = true;
                continue;
            }
            if i == 2
                && passed_ctx
                && self.rng.chance(2, 3)
                && let Some(l) = self.len_reg(f)
            {
                if l != r {
                    f.b.emit(mov(r, l));
                    f.set(r, Val::Len);
                }
                continue;
            }
            if f.reg(r).is_scalar() && self.rng.chance(1, 2) {
                continue;
            }
            match self.scalar_reg(f) {
                Some(s) if self.rng.chance(1, 2) => f.b.emit(mov(r, s)),
                _ => f.b.emit(movi(r, self.rng.imm32())),
            }
            f.set(r, Val::Scalar);
        }
        let mut args = [Val::Uninit; 6];
        for (i, a) in args.iter_mut().enumerate().take(nargs + 1).skip(1) {
            *a = match f.st.regs[i] {
                Val::Input => Val::Scalar,
                v => v,
            };
        }
        // Reuse an earlier function now and then.
        let reusable: Vec<usize> = self
            .funcs
            .iter()
            .enumerate()
            .filter_map(|(id, o)| {
                let fo = o.as_ref()?;
                let fits = !fo.private
                    && f.depth + fo.height <= MAX_CALL_DEPTH
                    && (1..=5).all(|i| fo.args[i].accepts(f.st.regs[i]));
                fits.then_some(id)
            })
            .collect();
        let id = if !reusable.is_empty() && self.rng.chance(1, 3) {
            self.rng.pick(&reusable)
        } else {
            let budget = (room - 12).min(8 + self.rng.below(30) as usize);
            self.gen_function(f, args, budget)
        };
        let (h, end) = self.funcs[id]
            .as_ref()
            .map_or((1, 0), |fo| (fo.height, fo.legacy_end));
        f.height = f.height.max(h + 1);
        f.legacy_end = f.legacy_end.max(end);
        f.st.len_hint = f.st.len_hint.max(end);
        f.b.call(id);
        Self::clobber(f);
        self.feats.local_calls += 1;
        true
    }

    fn gen_function(&mut self, caller: &FnCtx, args: [Val; 6], budget: usize) -> usize {
        let id = self.funcs.len();
        self.funcs.push(None);
        let mut regs = [Val::Uninit; 11];
        regs[1..6].copy_from_slice(&args[1..6]);
        regs[10] = Val::Stack(0);
        let mut g = FnCtx::new(caller.depth + 1, State::entry(regs));
        let open = caller.b.len();
        self.open_len += open;
        self.segment(&mut g, budget);
        self.epilogue(&mut g);
        self.open_len -= open;
        self.done_len += g.b.len();
        self.funcs[id] = Some(FuncOut {
            b: g.b,
            args,
            height: g.height,
            legacy_end: g.legacy_end,
            private: false,
        });
        id
    }

    fn epilogue(&mut self, f: &mut FnCtx) {
        if self.leak_at_exit && f.depth == 0 {
            match self.pick_where(f, Val::is_ptr) {
                Some(p) if self.rng.chance(2, 3) => f.b.emit(mov(Reg::R0, p)),
                _ => {
                    f.b.emit(mov(Reg::R0, Reg::R10));
                    f.b.emit(addi(Reg::R0, -(self.rng.below(64) as i32)));
                }
            }
        } else {
            match self.rng.below(5) {
                0 if f.reg(Reg::R0).is_scalar() => {}
                0 | 1 => f.b.emit(movi(Reg::R0, self.rng.below(3) as i32)),
                _ => match self.scalar_reg(f) {
                    Some(s) => {
                        if s != Reg::R0 {
                            f.b.emit(mov(Reg::R0, s));
                        }
                        if self.rng.chance(1, 3) {
                            f.b.emit(alu(Width::W32, AluOp::And, Reg::R0, Source::Imm(0xffff)));
                        }
                    }
                    None => f.b.emit(movi(Reg::R0, 0)),
                },
            }
        }
        f.b.emit(Insn::Exit);
        if f.out_used {
            f.b.bind(f.out);
            f.b.emit(movi(Reg::R0, self.rng.below(2) as i32));
            f.b.emit(Insn::Exit);
        }
    }

    fn t_diamond(&mut self, f: &mut FnCtx, room: usize) -> bool {
        if room < 8 || f.arm_depth >= 2 {
            return false;
        }
        // An arm that exits runs only when an input value equals a constant, so the code after
        // the diamond stays reachable.
        let input = self.input_reg(f).filter(|_| self.rng.chance(1, 6));
        let (a, w, cond, src) = match input {
            Some(a) => (
                a,
                Width::W64,
                JmpCond::Ne,
                Source::Imm(self.rng.below(16) as i32),
            ),
            None => {
                let Some(a) = self.scalar_reg(f) else {
                    return false;
                };
                let src = match self.scalar_reg(f) {
                    Some(b) if b != a && self.rng.chance(1, 3) => Source::Reg(b),
                    _ => Source::Imm(if self.rng.chance(1, 2) {
                        self.rng.below(64) as i32
                    } else {
                        self.rng.imm32()
                    }),
                };
                (a, width(self.rng), self.rng.pick(&JmpCond::ALL), src)
            }
        };
        let l_else = f.b.label();
        f.b.branch(jmp(w, cond, a, src), l_else);
        let s0 = f.st.clone();
        f.arm_depth += 1;
        let arm = (room - 4) / 2;
        let budget = self.rng.below(arm.min(12) as u64 + 1) as usize;
        self.segment(f, budget);
        if input.is_some() {
            // an early exit
            f.b.emit(movi(Reg::R0, self.rng.below(3) as i32));
            f.b.emit(Insn::Exit);
            f.st.dead = true;
        }
        let s1 = core::mem::replace(&mut f.st, s0.clone());
        if self.rng.chance(1, 2) {
            let l_join = f.b.label();
            if !s1.dead {
                f.b.branch(Insn::Ja { off: 0 }, l_join);
            }
            f.b.bind(l_else);
            let budget = self.rng.below(arm.min(12) as u64 + 1) as usize;
            self.segment(f, budget);
            let s2 = core::mem::replace(&mut f.st, s0);
            f.b.bind(l_join);
            f.st = State::meet(&s1, &s2);
        } else {
            f.b.bind(l_else);
            f.st = State::meet(&s1, &s0);
        }
        f.arm_depth -= 1;
        self.feats.diamonds += 1;
        true
    }

    fn pick_counter(&mut self, f: &FnCtx, avoid_args: bool) -> Option<Reg> {
        let ok = |g: &Self, r: Reg| g.can_write(f, r, Val::Scalar) && !Self::protected(f, r);
        let hi: Vec<Reg> = REGS[6..10]
            .iter()
            .copied()
            .filter(|&r| ok(self, r))
            .collect();
        if !hi.is_empty() {
            return Some(self.rng.pick(&hi));
        }
        if avoid_args {
            return None;
        }
        let lo: Vec<Reg> = REGS[0..6]
            .iter()
            .copied()
            .filter(|&r| ok(self, r))
            .collect();
        (!lo.is_empty()).then(|| self.rng.pick(&lo))
    }

    /// A loop: counted up or down, `while` or `do`, bounded by a constant or a masked value,
    /// sometimes indexing an array with its counter; or, as a flaw, one without a bound.
    fn t_loop(&mut self, f: &mut FnCtx, room: usize) -> bool {
        if room < 10 || f.loop_depth >= 2 {
            return false;
        }
        let unbounded = self.flaw_now(f, Flaw::UnboundedLoop);
        let idx_flaw = !unbounded && self.flaw_now(f, Flaw::LoopIndexOffByOne);
        // Instructions outside the body: setup, checks and tail (6 + 3), an index (20), a call (10).
        let mut overhead = 9;
        let calls = (self.emit_helper || f.depth < MAX_CALL_DEPTH)
            && !self.force
            && room >= overhead + 12
            && self.clobber_ok(f)
            && self.rng.chance(1, 3);
        if calls {
            overhead += 10;
            self.ensure_saved(f);
        }
        let Some(c) = self.pick_counter(f, calls) else {
            return false;
        };
        // Pinned from here on, so that length checks before the loop keep off them.
        let saved_pins = f.pinned;
        f.pinned |= bit(c);
        // 0 up do-while, 1 down do-while, 2 up while, 3 masked do-while, 4 masked while
        let kind = if unbounded {
            self.rng.below(5) + 10
        } else if idx_flaw {
            self.rng.below(3) // a constant bound, so the last index is reached
        } else {
            self.rng.below(5)
        };
        let span = if self.rng.chance(1, 2) { 8 } else { 20 };
        let mut n = 1 + self.rng.below(span) as i32;
        if idx_flaw || kind == 11 {
            n = n.max(3) | 1; // odd, at least 3
        }
        // A bound register: masked value for kinds 3/4, the constant for some up loops, the
        // data-dependent value for the forever loop.
        let mut bound: Option<Reg> = None;
        let mut hi = n - 1; // counter range in the body is [lo, hi]
        match kind {
            1 => hi = n,
            3 | 4 => {
                let mask = self.rng.pick(&[1, 3, 7, 15, 7]);
                let Some(b) = self.pick_bound(f, calls) else {
                    f.pinned = saved_pins;
                    return false;
                };
                f.pinned |= bit(b);
                let src_ctx =
                    self.rng.chance(1, 2) && self.ctx_reg(f).is_some() && self.ensure_len(f, 1);
                if src_ctx {
                    let (p, o) = self.ctx_reg(f).unwrap_or((Reg::R1, 0));
                    let lim = self.fixed.unwrap_or(f.st.len_min).min(4096);
                    let a = self.rng.below(lim.max(1) as u64) as i32;
                    f.b.emit(ldx(Size::B, b, p, a - o));
                } else {
                    match self.scalar_reg(f) {
                        Some(s) => f.b.emit(mov(b, s)),
                        None => f.b.emit(movi(b, self.rng.imm32())),
                    }
                }
                f.b.emit(alu64(AluOp::And, b, Source::Imm(mask)));
                f.set(b, Val::Scalar);
                bound = Some(b);
                hi = (mask - 1).max(0);
            }
            0 if self.rng.chance(1, 5) => {
                if let Some(b) = self.pick_bound(f, calls) {
                    f.pinned |= bit(b);
                    f.b.emit(movi(b, n));
                    f.set(b, Val::Scalar);
                    bound = Some(b);
                }
            }
            _ => {}
        }
        // Indexing plan.
        let mut index = Index::None;
        if !unbounded && (idx_flaw || self.rng.chance(2, 5)) && room >= overhead + 22 {
            overhead += 20;
            index = self.plan_index(f, hi, idx_flaw);
        }
        // Counter start.
        match kind {
            1 | 13 => f.b.emit(movi(c, n)),
            // not zero for some input
            14 => match self.pick_where(f, |v| v == Val::Input || v == Val::Len) {
                Some(s) => f.b.emit(mov(c, s)),
                None => f.b.emit(movi(c, 1)),
            },
            _ => {
                if self.rng.chance(1, 6) {
                    f.b.emit(alu(Width::W32, AluOp::Mov, c, Source::Imm(0)));
                } else {
                    f.b.emit(movi(c, 0));
                }
            }
        }
        f.set(c, Val::Scalar);
        let mut head_state = f.st.clone();
        if calls {
            for i in 1..=5 {
                head_state.regs[i] = Val::Uninit;
            }
        }
        f.st = head_state.clone();
        f.heads.push(head_state.clone());
        let head = f.b.here();
        let exit = f.b.label();
        let is_while = matches!(kind, 2 | 4 | 14);
        match kind {
            2 => match (bound, self.rng.below(3)) {
                (_, 0) => {
                    f.b.branch(jmp(Width::W64, JmpCond::Gt, c, Source::Imm(n - 1)), exit)
                }
                (_, 1) => {
                    f.b.branch(jmp(Width::W64, JmpCond::Sge, c, Source::Imm(n)), exit)
                }
                _ => {
                    f.b.branch(jmp(Width::W64, JmpCond::Ge, c, Source::Imm(n)), exit)
                }
            },
            4 => {
                let b = bound.unwrap_or(c);
                f.b.branch(jmp(Width::W64, JmpCond::Ge, c, Source::Reg(b)), exit);
            }
            14 => {
                f.b.branch(jmp(Width::W64, JmpCond::Eq, c, Source::Imm(0)), exit)
            }
            _ => {}
        }
        f.loop_depth += 1;
        if f.loop_depth == 2 {
            self.feats.nested_loops += 1;
        }
        let body = room
            .saturating_sub(overhead)
            .min(6 + self.rng.below(24) as usize);
        let first = self.rng.below(body as u64 / 2 + 1) as usize;
        self.segment(f, first);
        if calls && !(self.emit_helper && self.t_helper(f, false)) {
            let r = room.saturating_sub(overhead);
            self.t_call(f, r);
        }
        if index != Index::None && self.index_access(f, c, index) {
            self.feats.indexed_loops += 1;
            if idx_flaw {
                self.planted(Flaw::LoopIndexOffByOne);
            }
        }
        let used = self.total(f);
        let rest_end = used + body.saturating_sub(first);
        self.segment(f, rest_end.saturating_sub(used));
        f.loop_depth -= 1;
        // Tail.
        match kind {
            0 => {
                f.b.emit(addi(c, 1));
                let br = match (bound, self.rng.below(5)) {
                    (Some(b), _) => jmp(Width::W64, JmpCond::Lt, c, Source::Reg(b)),
                    (None, 0) => jmp(Width::W32, JmpCond::Lt, c, Source::Imm(n)),
                    (None, 1) => jmp(Width::W64, JmpCond::Ne, c, Source::Imm(n)),
                    (None, 2) => jmp(Width::W64, JmpCond::Le, c, Source::Imm(n - 1)),
                    _ => jmp(Width::W64, JmpCond::Lt, c, Source::Imm(n)),
                };
                f.b.branch(br, head);
            }
            1 => {
                if self.rng.chance(1, 2) {
                    f.b.emit(alu64(AluOp::Sub, c, Source::Imm(1)));
                } else {
                    f.b.emit(addi(c, -1));
                }
                let br = match self.rng.below(4) {
                    0 => jmp(Width::W64, JmpCond::Gt, c, Source::Imm(0)),
                    1 => jmp(Width::W64, JmpCond::Sgt, c, Source::Imm(0)),
                    2 => jmp(Width::W32, JmpCond::Ne, c, Source::Imm(0)),
                    _ => jmp(Width::W64, JmpCond::Ne, c, Source::Imm(0)),
                };
                f.b.branch(br, head);
            }
            2 | 4 | 14 => {
                if kind != 14 {
                    f.b.emit(addi(c, 1));
                }
                f.b.branch(Insn::Ja { off: 0 }, head);
            }
            3 => {
                f.b.emit(addi(c, 1));
                let b = bound.unwrap_or(c);
                f.b.branch(jmp(Width::W64, JmpCond::Lt, c, Source::Reg(b)), head);
            }
            // Flaws: no increment; step over an odd `!=` bound; `!= 0` after counting up;
            // unsigned `>= 0` after counting down.
            10 => {
                f.b.branch(jmp(Width::W64, JmpCond::Lt, c, Source::Imm(n)), head)
            }
            11 => {
                f.b.emit(addi(c, 2));
                f.b.branch(jmp(Width::W64, JmpCond::Ne, c, Source::Imm(n)), head);
            }
            12 => {
                f.b.emit(addi(c, 1));
                f.b.branch(jmp(Width::W64, JmpCond::Ne, c, Source::Imm(0)), head);
            }
            _ => {
                f.b.emit(addi(c, -1));
                f.b.branch(jmp(Width::W64, JmpCond::Ge, c, Source::Imm(0)), head);
            }
        }
        if is_while {
            f.b.bind(exit);
            f.st = State::meet(&head_state, &f.st);
        }
        f.heads.pop();
        f.pinned = saved_pins;
        self.feats.loops += 1;
        if unbounded {
            self.planted(Flaw::UnboundedLoop);
        }
        true
    }

    fn pick_bound(&mut self, f: &FnCtx, calls: bool) -> Option<Reg> {
        let exclude = if calls { 0b11_1111 } else { 0 };
        let cands: Vec<Reg> = REGS[..10]
            .iter()
            .copied()
            .filter(|&r| {
                exclude & bit(r) == 0 && self.can_write(f, r, Val::Scalar) && !Self::protected(f, r)
            })
            .collect();
        (!cands.is_empty()).then(|| self.rng.pick(&cands))
    }

    /// Chooses and prepares (before the loop) an array the loop indexes with its counter in
    /// `[0, hi]`. With `flaw`, the array has `hi` elements, so the last index is one past it.
    fn plan_index(&mut self, f: &mut FnCtx, hi: i32, flaw: bool) -> Index {
        if flaw && hi < 1 {
            return Index::None;
        }
        let elems = if flaw { hi as u32 } else { hi as u32 + 1 };
        let mut e = self.rng.pick(&[1u32, 2, 4, 8, 8, 4]);
        while elems * e > 64 && e > 1 {
            e /= 2;
        }
        let len = elems * e;
        match self.rng.below(4) {
            0 | 1 => {
                let write = self.rng.chance(1, 3);
                // The array [b, b + len): at the top of the frame for the flaw.
                let b = if flaw {
                    -(len as i32)
                } else {
                    let top = (len as i32 + 7) & !7;
                    let room = (512 - top) / 8;
                    -(top + 8 * self.rng.below(room.min(8) as u64 + 1) as i32)
                };
                if write {
                    let lo = sidx(b);
                    let clean = (lo..lo + len as usize).all(|i| {
                        let c = f.st.stack[i];
                        (c == SU || c == SD)
                            && f.heads.last().is_none_or(|h| h.stack[i] != SP)
                            && f.st.stack[i & !7..(i & !7) + 8]
                                .iter()
                                .all(|&c| c == SU || c == SD)
                    });
                    if !clean {
                        return Index::None;
                    }
                    for t in &mut f.touched[lo..lo + len as usize] {
                        *t = true;
                    }
                    return Index::StackWrite { b, e, n: len };
                }
                // Initialise it with whole-slot stores first.
                let start = b & !7;
                let end = (b + len as i32 + 7) & !7;
                let end = end.min(0);
                let mut a = start;
                while a < end {
                    if !Self::stack_write_ok(f, a, 8, SD) {
                        return Index::None;
                    }
                    a += 8;
                }
                let mut a = start;
                while a < end {
                    if Self::stack_read(f, a, 8) != Some(Val::Scalar) {
                        f.b.emit(st(Size::DW, Reg::R10, a, Source::Imm(self.rng.imm32())));
                        Self::stack_write(f, a, 8, Val::Scalar);
                    }
                    a += 8;
                }
                Index::StackRead { b, e, n: len }
            }
            _ => {
                if self.ctx_reg(f).is_none() {
                    return Index::None;
                }
                match self.fixed {
                    Some(n) => {
                        if n < len || n > 4096 {
                            return Index::None;
                        }
                        let a = if flaw {
                            n - len
                        } else {
                            self.rng.below((n - len + 1) as u64) as u32
                        };
                        Index::Ctx { a, e }
                    }
                    None => {
                        // for the flaw, past what is proven already
                        let a = if flaw {
                            f.st.len_hint + self.rng.below(8) as u32
                        } else {
                            self.rng.below(40) as u32
                        };
                        if self.len_reg(f).is_some() && self.rng.chance(1, 2) {
                            // checked in the body: `end = i*e + a + e - slack; if end > len`
                            let slack = i32::from(flaw);
                            Index::CtxChecked { a, e, slack }
                        } else if self.ensure_len(f, a + len) {
                            Index::Ctx { a, e }
                        } else {
                            Index::None
                        }
                    }
                }
            }
        }
    }

    /// `T = c << log2(e); P = base + T; access [P + off]`.
    fn index_access(&mut self, f: &mut FnCtx, c: Reg, index: Index) -> bool {
        let e = match index {
            Index::None => return false,
            Index::StackRead { e, .. }
            | Index::StackWrite { e, .. }
            | Index::Ctx { e, .. }
            | Index::CtxChecked { e, .. } => e,
        };
        // The body may have spilled a pointer into the array since it was planned.
        if let Index::StackRead { b, n, .. } | Index::StackWrite { b, n, .. } = index {
            let lo = sidx(b) & !7;
            let hi = ((sidx(b) + n as usize + 7) & !7).min(512);
            let read = matches!(index, Index::StackRead { .. });
            let clean = f.st.stack[lo..hi]
                .iter()
                .all(|&c| c == SD || (c == SU && !read));
            if !clean {
                return false;
            }
        }
        let ctx = self.ctx_reg(f);
        let (pval, base_reg) = match index {
            Index::StackRead { .. } | Index::StackWrite { .. } => (Val::Stack(0), Reg::R10),
            _ => match ctx {
                Some((p, o)) => (Val::Ctx(o), p),
                None => return false,
            },
        };
        let len = self.len_reg(f);
        let keep = bit(c) | bit(base_reg) | len.map_or(0, bit);
        let Some(t) = self.pick_dst(f, Val::Scalar, keep) else {
            return false;
        };
        let Some(p) = self.pick_dst(f, pval, keep | bit(t)) else {
            return false;
        };
        if !self.can_write(f, p, Val::Junk) {
            return false;
        }
        let mut check = None;
        if let Index::CtxChecked { .. } = index {
            let Some(l) = len else { return false };
            let Some(x) = self.pick_dst(f, Val::Scalar, keep | bit(t) | bit(p)) else {
                return false;
            };
            check = Some((x, l));
        }
        f.b.emit(mov(t, c));
        if e > 1 {
            if self.rng.chance(1, 4) {
                f.b.emit(alu64(AluOp::Mul, t, Source::Imm(e as i32)));
            } else {
                f.b.emit(alu64(AluOp::Lsh, t, Source::Imm(log2(e))));
            }
        }
        f.set(t, Val::Scalar);
        if let (Index::CtxChecked { a, e, slack }, Some((x, l))) = (index, check) {
            f.b.emit(mov(x, t));
            f.b.emit(addi(x, (a + e) as i32 - slack));
            f.set(x, Val::Scalar);
            f.b.branch(jmp(Width::W64, JmpCond::Gt, x, Source::Reg(l)), f.out);
            f.out_used = true;
            self.feats.len_checks += 1;
        }
        f.b.emit(mov(p, base_reg));
        f.b.emit(alu64(AluOp::Add, p, Source::Reg(t)));
        f.set(p, Val::Junk);
        let size = size_of(e);
        match index {
            Index::StackWrite { b, .. } => {
                let src = match self.scalar_reg(f) {
                    Some(r) if self.rng.chance(1, 2) => Source::Reg(r),
                    _ => Source::Imm(self.rng.imm32()),
                };
                f.b.emit(st(size, p, b, src));
            }
            _ => {
                let off = match index {
                    Index::StackRead { b, .. } => b,
                    Index::Ctx { a, .. } | Index::CtxChecked { a, .. } => {
                        let o = match pval {
                            Val::Ctx(o) => o,
                            _ => 0,
                        };
                        self.feats.ctx_reads += 1;
                        a as i32 - o
                    }
                    _ => 0,
                };
                let d = self.pick_dst(f, Val::Scalar, bit(c)).unwrap_or(t);
                f.b.emit(ldx(size, d, p, off));
                f.set(
                    d,
                    if matches!(index, Index::StackRead { .. }) {
                        Val::Scalar
                    } else {
                        Val::Input
                    },
                );
            }
        }
        true
    }

    // --- flaws only -----------------------------------------------------------------------------

    fn t_flaw(&mut self, f: &mut FnCtx) -> bool {
        let Some(kind) = self.want else { return false };
        if !f.uncond() {
            return false;
        }
        match kind {
            Flaw::StackUninitRead => self.f_stack_uninit(f),
            Flaw::StackOutOfBounds => self.f_stack_oob(f),
            Flaw::PointerLeak => self.f_leak(f),
            Flaw::BadPointerArith => self.f_bad_arith(f),
            Flaw::UninitRegister => self.f_uninit_reg(f),
            Flaw::CtxWrite => {
                self.force = true;
                let ok = self.t_ctx_write(f);
                self.force = false;
                ok
            }
            _ => false,
        }
    }

    fn force_flaw(&mut self, f: &mut FnCtx) {
        let Some(kind) = self.want else { return };
        self.force = true;
        let ok = match kind {
            Flaw::CtxOutOfBounds => self.t_ctx_read(f),
            Flaw::HeaderOffByOne => self.t_header(f),
            Flaw::UnboundedLoop | Flaw::LoopIndexOffByOne => {
                // a small loop with an almost empty body
                let saved = self.limit;
                self.limit = self.total(f) + 2;
                let ok = self.t_loop(f, 31);
                self.limit = saved;
                ok && self.flaw.is_some()
            }
            _ => self.t_flaw(f),
        };
        self.force = false;
        if !ok || self.flaw.is_none() {
            self.want = Some(Flaw::PointerLeak);
            self.leak_at_exit = true;
            self.planted(Flaw::PointerLeak);
        }
    }

    fn f_stack_uninit(&mut self, f: &mut FnCtx) -> bool {
        let s = self.pick_size();
        let Some(d) = self.pick_dst(f, Val::Scalar, 0) else {
            return false;
        };
        for _ in 0..20 {
            // next to written bytes half the time
            let a = if self.rng.chance(1, 2) {
                match self.find_readable(f, 1) {
                    Some(i) => i - self.rng.below(s as u64) as i32,
                    None => self.stack_addr(s),
                }
            } else {
                self.stack_addr(s)
            };
            if a < -512 || a + s as i32 > 0 {
                continue;
            }
            let lo = sidx(a);
            if (lo..lo + s as usize).any(|i| !f.touched[i]) {
                f.b.emit(ldx(size_of(s), d, Reg::R10, a));
                f.set(d, Val::Scalar);
                self.planted(Flaw::StackUninitRead);
                return true;
            }
        }
        false
    }

    fn f_stack_oob(&mut self, f: &mut FnCtx) -> bool {
        let Some(d) = self.pick_dst(f, Val::Scalar, 0) else {
            return false;
        };
        match self.rng.below(5) {
            0 => {
                f.b.emit(ldx(Size::DW, d, Reg::R10, 0));
                f.set(d, Val::Scalar);
            }
            1 => {
                f.b.emit(st(Size::DW, Reg::R10, -4, Source::Imm(self.rng.imm32())))
            }
            2 => {
                f.b.emit(ldx(Size::B, d, Reg::R10, -513));
                f.set(d, Val::Scalar);
            }
            3 => {
                let Some(p) = self.pick_dst(f, Val::Stack(-512), bit(d)) else {
                    return false;
                };
                f.b.emit(mov(p, Reg::R10));
                f.b.emit(addi(p, -512));
                f.set(p, Val::Stack(-512));
                f.b.emit(st(Size::W, p, -4, Source::Imm(0)));
            }
            _ => f.b.emit(st(Size::W, Reg::R10, 2, Source::Reg(Reg::R10))),
        }
        self.planted(Flaw::StackOutOfBounds);
        true
    }

    fn f_leak(&mut self, f: &mut FnCtx) -> bool {
        match self.rng.below(4) {
            0 if self.emit_helper => self.t_helper(f, true),
            1 => {
                // read back part of a spilled pointer
                let slots: Vec<usize> = (0..64).filter(|&s| f.st.stack[s * 8] == SP).collect();
                if slots.is_empty() {
                    return false;
                }
                let Some(d) = self.pick_dst(f, Val::Scalar, 0) else {
                    return false;
                };
                let a = self.rng.pick(&slots) as i32 * 8 - 512 + 4 * self.rng.below(2) as i32;
                f.b.emit(ldx(Size::W, d, Reg::R10, a));
                f.set(d, Val::Scalar);
                self.planted(Flaw::PointerLeak);
                true
            }
            2 if self.legacy && self.can_write(f, Reg::R0, Val::Scalar) => {
                let Some((p, _)) = self.ctx_reg(f) else {
                    return false;
                };
                f.b.emit(Insn::LoadInd {
                    size: Size::B,
                    src: p,
                    imm: 0,
                });
                f.set(Reg::R0, Val::Scalar);
                self.planted(Flaw::PointerLeak);
                true
            }
            _ => {
                self.leak_at_exit = true;
                self.planted(Flaw::PointerLeak);
                true
            }
        }
    }

    fn f_bad_arith(&mut self, f: &mut FnCtx) -> bool {
        let stack = self.rng.chance(1, 3);
        let (src, v) = if stack {
            (Reg::R10, Val::Stack(0))
        } else {
            match self.ctx_reg(f) {
                Some((p, o)) => (p, Val::Ctx(o)),
                None => return false,
            }
        };
        let Some(p) = self.pick_dst(f, v, 0) else {
            return false;
        };
        if !self.can_write(f, p, Val::Junk) {
            return false;
        }
        f.b.emit(mov(p, src));
        match self.rng.below(4) {
            0 => f.b.emit(alu64(AluOp::Mul, p, Source::Imm(1))),
            1 => f.b.emit(alu64(AluOp::Or, p, Source::Imm(0))),
            2 => f.b.emit(alu(Width::W32, AluOp::Add, p, Source::Imm(0))),
            _ => f.b.emit(alu64(AluOp::Xor, p, Source::Imm(0))),
        }
        f.set(p, Val::Junk);
        if stack {
            f.b.emit(st(Size::DW, p, -8, Source::Imm(0)));
        } else {
            let Some(d) = self.pick_dst(f, Val::Scalar, 0) else {
                return false;
            };
            let o = match v {
                Val::Ctx(o) => o,
                _ => 0,
            };
            f.b.emit(ldx(Size::B, d, p, -o));
            f.set(d, Val::Scalar);
        }
        self.planted(Flaw::BadPointerArith);
        true
    }

    fn f_uninit_reg(&mut self, f: &mut FnCtx) -> bool {
        let Some(r) = self.pick_where(f, |v| v == Val::Uninit) else {
            return false;
        };
        if !self.can_write(f, r, Val::Scalar) {
            return false;
        }
        let Some(a) = self.scalar_reg(f) else {
            return false;
        };
        let Some(d) = self.pick_dst(f, Val::Scalar, bit(r)) else {
            return false;
        };
        let join = f.b.label();
        let cond = self.rng.pick(&JmpCond::ALL);
        f.b.branch(
            jmp(Width::W64, cond, a, Source::Imm(self.rng.below(16) as i32)),
            join,
        );
        f.b.emit(movi(r, self.rng.imm32()));
        f.b.bind(join);
        f.b.emit(mov(d, r));
        f.set(d, Val::Scalar);
        self.planted(Flaw::UninitRegister);
        true
    }
}

// --- Hazards: the shapes of the relational and region bug classes ------------------------------

/// What a transform did to a value of `bits` significant bits (`64`: any value, signs too).
struct Transformed {
    /// The result equals the operand for every operand of the source's range.
    ident: bool,
    /// The result is always below `2^b` (and not negative).
    out_bits: Option<u32>,
    /// A precise verifier keeps the operand's symbol (the same value, by a copy-like step).
    keeps: bool,
}

fn bits_of(v: u64) -> u32 {
    64 - v.leading_zeros()
}

impl Gen<'_> {
    fn hazard(&mut self, f: &mut FnCtx, h: Hazard, room: usize) -> bool {
        match h {
            Hazard::Transform => self.h_transform(f, room),
            Hazard::CallSymbols => self.h_call_twice(f, room),
            Hazard::FarOffsets => room >= 6 && self.h_far(f),
            Hazard::EitherRegion => self.h_either(f, room),
            Hazard::LoopRegion => self.h_loop_region(f, room),
            Hazard::PathFacts => self.h_path_facts(f, room),
        }
    }

    /// The length's significant bits: 32 for a variable context, the size's for a fixed one.
    fn len_bits(&self) -> u32 {
        match self.fixed {
            None => 32,
            Some(n) => bits_of(n as u64),
        }
    }

    /// `t = v + e; if t > len goto out` (or `len < t`), at `width`: afterwards `v + e <= len`.
    fn check_end(&mut self, f: &mut FnCtx, v: Reg, l: Reg, e: u32, width: Width, t: Reg) {
        f.b.emit(mov(t, v));
        if e != 0 || self.rng.chance(1, 2) {
            f.b.emit(addi(t, e as i32));
        }
        f.set(t, Val::Scalar);
        if self.rng.chance(1, 2) {
            f.b.branch(jmp(width, JmpCond::Gt, t, Source::Reg(l)), f.out);
        } else {
            f.b.branch(jmp(width, JmpCond::Lt, l, Source::Reg(t)), f.out);
        }
        f.out_used = true;
        self.feats.len_checks += 1;
    }

    /// `q = p + v; d = *(q + a - o)`, an `n`-byte context read at offset `v + a`; through a
    /// pointer moved far and brought back now and then.
    #[allow(clippy::too_many_arguments)]
    fn access_via(&mut self, f: &mut FnCtx, p: Reg, o: i32, v: Reg, a: i32, n: u32, q: Reg) {
        f.b.emit(mov(q, p));
        f.b.emit(alu64(AluOp::Add, q, Source::Reg(v)));
        let mut off = a - o;
        if self.rng.chance(1, 4) {
            let k = self.rng.pick(&[600, 4096, 20000]);
            f.b.emit(addi(q, -k));
            off += k;
        }
        f.set(q, Val::Junk);
        let d = self.pick_dst(f, Val::Scalar, 0).unwrap_or(q);
        let signed = n < 8 && self.rng.chance(1, 6);
        f.b.emit(Insn::Load {
            size: size_of(n),
            signed,
            dst: d,
            base: q,
            off: off as i16,
        });
        f.set(d, Val::Input);
        self.feats.ctx_reads += 1;
    }

    /// An 8-aligned 8-byte stack slot that may be written with scalar data.
    fn scalar_slot(&mut self, f: &FnCtx) -> Option<i32> {
        (0..8)
            .map(|_| -8 * (1 + self.rng.below(16) as i32))
            .find(|&a| Self::stack_write_ok(f, a, 8, SD))
    }

    /// Applies a random value-changing or value-keeping operation to `y` (holding a value of
    /// `bits` significant bits).
    fn transform(&mut self, f: &mut FnCtx, y: Reg, bits: u32) -> Transformed {
        let id = |max: u32| bits <= max;
        let same = |ident: bool| if ident && bits < 64 { Some(bits) } else { None };
        let t = |ident, out_bits, keeps| Transformed {
            ident,
            out_bits,
            keeps,
        };
        match self.rng.below(20) {
            0..=5 => {
                let kind = self.rng.pick(&[Endian::Le, Endian::Be, Endian::Swap]);
                let sb = self
                    .rng
                    .pick(&[SwapBits::B16, SwapBits::B32, SwapBits::B64]);
                f.b.emit(Insn::End {
                    kind,
                    bits: sb,
                    dst: y,
                });
                let w = sb.bits();
                if kind == Endian::Le {
                    let ident = id(w);
                    t(ident, if w < 64 { Some(w) } else { same(true) }, true)
                } else {
                    t(false, (w < 64).then_some(w), false)
                }
            }
            6..=7 => {
                let (op, w) = self.rng.pick(&[
                    (AluOp::MovSx8, 7),
                    (AluOp::MovSx16, 15),
                    (AluOp::MovSx32, 31),
                ]);
                f.b.emit(alu64(op, y, Source::Reg(y)));
                t(id(w), same(id(w)), true)
            }
            8 => {
                f.b.emit(alu(Width::W32, AluOp::Mov, y, Source::Reg(y)));
                t(id(32), Some(bits.min(32)), true)
            }
            9 => {
                let (op, imm) = self.rng.pick(&[
                    (AluOp::And, -1),
                    (AluOp::Add, 0),
                    (AluOp::Or, 0),
                    (AluOp::Xor, 0),
                    (AluOp::Lsh, 0),
                    (AluOp::Rsh, 0),
                ]);
                f.b.emit(alu(Width::W32, op, y, Source::Imm(imm)));
                t(id(32), Some(bits.min(32)), false)
            }
            10 => {
                let c = 1 + self.rng.below(16) as i32;
                let op = self.rng.pick(&[AluOp::Add, AluOp::Sub]);
                f.b.emit(alu(Width::W32, op, y, Source::Imm(c)));
                t(false, Some(32), false)
            }
            11 => {
                let w = width(self.rng);
                f.b.emit(Insn::Neg { width: w, dst: y });
                t(false, (w == Width::W32).then_some(32), false)
            }
            12 => {
                f.b.emit(Insn::Neg {
                    width: Width::W64,
                    dst: y,
                });
                f.b.emit(Insn::Neg {
                    width: Width::W64,
                    dst: y,
                });
                t(true, same(true), false)
            }
            13 => {
                let c = 1 + self.rng.below(64) as i32;
                f.b.emit(addi(y, c));
                f.b.emit(alu64(AluOp::Sub, y, Source::Imm(c)));
                t(true, same(bits <= 62), bits <= 62)
            }
            14 => {
                f.b.emit(alu64(AluOp::Lsh, y, Source::Imm(32)));
                if self.rng.chance(1, 2) {
                    f.b.emit(alu64(AluOp::Rsh, y, Source::Imm(32)));
                    t(id(32), Some(bits.min(32)), false)
                } else {
                    f.b.emit(alu64(AluOp::Arsh, y, Source::Imm(32)));
                    t(id(31), same(id(31)), false)
                }
            }
            _ => {
                // through the stack: a whole spill read back whole, in part, or sign-extended
                let Some(a) = self.scalar_slot(f) else {
                    f.b.emit(alu(Width::W32, AluOp::Mov, y, Source::Reg(y)));
                    return t(id(32), Some(bits.min(32)), true);
                };
                f.b.emit(st(Size::DW, Reg::R10, a, Source::Reg(y)));
                Self::stack_write(f, a, 8, Val::Scalar);
                let (size, signed, max) = self.rng.pick(&[
                    (Size::DW, false, 64),
                    (Size::W, false, 32),
                    (Size::W, true, 31),
                    (Size::H, true, 15),
                    (Size::B, true, 7),
                    (Size::H, false, 16),
                ]);
                f.b.emit(Insn::Load {
                    size,
                    signed,
                    dst: y,
                    base: Reg::R10,
                    off: a as i16,
                });
                let out = if signed {
                    same(id(max))
                } else if size == Size::DW {
                    same(true)
                } else {
                    Some((size.bytes() as u32 * 8).min(bits))
                };
                t(id(max), out, size == Size::DW)
            }
        }
    }

    /// A length-derived or loaded value, transformed, compared with the length, and used for
    /// a context access ([`Hazard::Transform`]).
    fn h_transform(&mut self, f: &mut FnCtx, room: usize) -> bool {
        if room < 16 || self.ctx_reg(f).is_none() || self.len_reg(f).is_none() {
            return false;
        }
        let var = self.fixed.is_none();
        // 0: the length, 1: the length minus c, 2: a context load
        let src = match self.rng.below(if var { 3 } else { 2 }) {
            0 => 0,
            1 if var => 1,
            _ => 2,
        };
        let n = self.rng.pick(&[1u32, 2, 4, 8, 1, 2]);
        let a = self.rng.below(8) as u32;
        let c = 1 + self.rng.below(16) as u32;
        // what must be readable before: the load, or room for a trailing read
        let (ls, la, lsigned, lmask) = if src == 2 {
            let s = self.rng.pick(&[2u32, 4, 1, 2, 4, 8]);
            let Some(la) = self.ctx_offset(s) else {
                return false;
            };
            if !self.ensure_len(f, la + s) {
                return false;
            }
            let mask = self
                .rng
                .chance(1, 4)
                .then(|| self.rng.pick(&[15, 63, 255, 0xffff]));
            // (no sign-extending 8-byte load exists)
            (s, la, s < 8 && self.rng.chance(1, 5), mask)
        } else {
            (0, 0, false, None)
        };
        // trailing reads need `len >= c + n` (or `>= n`)
        let trail = src != 2 && self.rng.chance(1, 3);
        if trail && !self.ensure_len(f, if src == 1 { c + n } else { n }) {
            return false;
        }
        if src == 1 && !self.ensure_len(f, c) {
            return false;
        }
        let (Some(l), Some((p, o))) = (self.len_reg(f), self.ctx_reg(f)) else {
            return false;
        };
        let keep = bit(l) | Self::ctx_mask(f);
        let bits;
        let x = if src == 0 {
            bits = self.len_bits();
            l
        } else {
            let Some(x) = self.pick_dst(f, Val::Scalar, keep) else {
                return false;
            };
            if src == 1 {
                f.b.emit(mov(x, l));
                if self.rng.chance(1, 2) {
                    f.b.emit(addi(x, -(c as i32)));
                } else {
                    f.b.emit(alu64(AluOp::Sub, x, Source::Imm(c as i32)));
                }
                bits = 32;
            } else {
                f.b.emit(Insn::Load {
                    size: size_of(ls),
                    signed: lsigned,
                    dst: x,
                    base: p,
                    off: (la as i32 - o) as i16,
                });
                self.feats.ctx_reads += 1;
                bits = match (lsigned, lmask) {
                    (_, Some(m)) => {
                        f.b.emit(alu64(AluOp::And, x, Source::Imm(m)));
                        bits_of(m as u64)
                    }
                    (true, None) => 64,
                    (false, None) => ls * 8,
                };
            }
            f.set(x, Val::Scalar);
            x
        };
        // y: a copy (always of the length itself), or x itself
        let copy = src == 0 || self.rng.chance(2, 3);
        let y = if copy {
            let Some(y) = self.pick_dst(f, Val::Scalar, keep | bit(x)) else {
                return false;
            };
            f.b.emit(mov(y, x));
            f.set(y, Val::Scalar);
            y
        } else {
            x
        };
        let tr = self.transform(f, y, bits);
        f.set(y, Val::Scalar);
        let keep = keep | bit(x) | bit(y);
        let Some(t) = self.pick_dst(f, Val::Scalar, keep) else {
            return true;
        };
        let Some(q) = self.pick_dst(f, Val::Junk, keep | bit(t)) else {
            return true;
        };
        let w = if self.rng.chance(1, 3) {
            Width::W32
        } else {
            Width::W64
        };
        let fits = |b: Option<u32>| b.is_some_and(|b| b <= if w == Width::W32 { 31 } else { 62 });
        let alias_ok = tr.ident && tr.keeps;
        let e = a + n;
        let valid = if trail {
            // q = r1 + y - n: the last n bytes (before the c subtracted)
            f.b.emit(mov(q, p));
            f.b.emit(alu64(AluOp::Add, q, Source::Reg(y)));
            f.set(q, Val::Junk);
            let d = self.pick_dst(f, Val::Scalar, 0).unwrap_or(q);
            f.b.emit(ldx(size_of(n), d, q, -(n as i32) - o));
            f.set(d, Val::Input);
            self.feats.ctx_reads += 1;
            alias_ok
        } else {
            match self.rng.below(if src == 0 {
                2
            } else if copy {
                3
            } else {
                1
            }) {
                0 => {
                    // the transformed value checked and used
                    self.check_end(f, y, l, e, w, t);
                    self.access_via(f, p, o, y, a as i32, n, q);
                    fits(tr.out_bits)
                }
                1 if src == 0 => {
                    // the length judged by its transformed copy
                    let k = match self.fixed {
                        Some(s) => 1 + self.rng.below(s.max(1) as u64) as u32,
                        None => f.st.len_min + 1 + self.rng.below(24) as u32,
                    };
                    let n = n.min(k);
                    let a0 = self.rng.below((k - n + 1) as u64) as u32;
                    match self.rng.below(3) {
                        0 => {
                            f.b.branch(jmp(w, JmpCond::Lt, y, Source::Imm(k as i32)), f.out)
                        }
                        1 => {
                            f.b.branch(jmp(w, JmpCond::Le, y, Source::Imm(k as i32 - 1)), f.out)
                        }
                        _ => {
                            f.b.emit(movi(t, k as i32));
                            f.set(t, Val::Scalar);
                            f.b.branch(jmp(w, JmpCond::Gt, t, Source::Reg(y)), f.out);
                        }
                    }
                    f.out_used = true;
                    self.feats.len_checks += 1;
                    let covered = self.fixed.is_some_and(|s| a0 + n <= s);
                    let valid = covered || alias_ok;
                    if valid && var {
                        f.st.len_min = f.st.len_min.max(k);
                        f.st.len_hint = f.st.len_hint.max(k);
                    }
                    let d = self.pick_dst(f, Val::Scalar, 0).unwrap_or(t);
                    f.b.emit(ldx(size_of(n), d, p, a0 as i32 - o));
                    f.set(d, Val::Input);
                    self.feats.ctx_reads += 1;
                    valid
                }
                _ => {
                    // one checked, the other used
                    let (chk, used, b) = if self.rng.chance(1, 2) {
                        (y, x, Some(bits))
                    } else {
                        (x, y, tr.out_bits)
                    };
                    self.check_end(f, chk, l, e, w, t);
                    self.access_via(f, p, o, used, a as i32, n, q);
                    alias_ok && fits(Some(bits)) && fits(b)
                }
            }
        };
        if !valid {
            self.unproven += 1;
        }
        self.feats.transforms += 1;
        true
    }
}

impl Gen<'_> {
    /// Registers a function built by hand (called from depth `depth`).
    fn private_function(&mut self, b: Builder, args: [Val; 6]) -> usize {
        self.done_len += b.len();
        self.funcs.push(Some(FuncOut {
            b,
            args,
            height: 1,
            legacy_end: 0,
            private: true,
        }));
        self.funcs.len() - 1
    }

    /// A call of `id` (height 1) with the caller-side bookkeeping of [`Gen::t_call`].
    fn call_private(&mut self, f: &mut FnCtx, id: usize) {
        f.height = f.height.max(2);
        f.b.call(id);
        Self::clobber(f);
        self.feats.local_calls += 1;
    }

    /// A value computed by a function with a symbol-producing instruction, called twice, the
    /// first result kept in `r6`-`r9` ([`Hazard::CallSymbols`]).
    fn h_call_twice(&mut self, f: &mut FnCtx, room: usize) -> bool {
        if f.depth >= MAX_CALL_DEPTH || room < 30 || !self.clobber_ok(f) {
            return false;
        }
        let mask: i32 = if self.fixed.is_some() {
            self.rng.pick(&[127, 255, 63])
        } else {
            self.rng.pick(&[15, 63, 255, 31])
        };
        // 0: r1 & mask, 1: r1 % (mask + 1), 2: (ctx[k] + r1) & mask, 3: (r1 & mask) + c
        let kind = self.rng.below(4);
        let k = self.rng.below(16) as u32;
        if kind == 2 && !self.ensure_len(f, k + 1) {
            return false;
        }
        self.ensure_saved(f);
        let Some((_, o)) = self.ctx_reg(f) else {
            return false;
        };
        let mut b = Builder::default();
        let c = 1 + self.rng.below(8) as i32;
        match kind {
            0 => {
                b.emit(mov(Reg::R0, Reg::R1));
                b.emit(alu64(AluOp::And, Reg::R0, Source::Imm(mask)));
            }
            1 => {
                b.emit(mov(Reg::R0, Reg::R1));
                b.emit(alu64(AluOp::Mod, Reg::R0, Source::Imm(mask + 1)));
            }
            2 => {
                b.emit(ldx(Size::B, Reg::R0, Reg::R2, k as i32 - o));
                b.emit(alu64(AluOp::Add, Reg::R0, Source::Reg(Reg::R1)));
                b.emit(alu64(AluOp::And, Reg::R0, Source::Imm(mask)));
            }
            _ => {
                b.emit(mov(Reg::R0, Reg::R1));
                b.emit(alu64(AluOp::And, Reg::R0, Source::Imm(mask)));
                b.emit(addi(Reg::R0, c));
            }
        }
        b.emit(Insn::Exit);
        let hi = mask + if kind == 3 { c } else { 0 };
        let mut args = [Val::Uninit; 6];
        args[1] = Val::Scalar;
        if kind == 2 {
            args[2] = Val::Ctx(o);
        }
        let id = self.private_function(b, args);
        // The arguments: one large, one small (in either order), or from the input.
        let big = hi - self.rng.below(4) as i32;
        let small = self.rng.below(4) as i32;
        let (a1, a2) = if self.rng.chance(1, 2) {
            (big, small)
        } else {
            (small, big)
        };
        let keepers: Vec<Reg> = [Reg::R6, Reg::R7, Reg::R8, Reg::R9]
            .into_iter()
            .filter(|&r| self.can_write(f, r, Val::Scalar) && !Self::protected(f, r))
            .collect();
        let keeper = (!keepers.is_empty()).then(|| self.rng.pick(&keepers));
        let Some(kp) = keeper else {
            return false;
        };
        for (n, arg) in [a1, a2].into_iter().enumerate() {
            if kind == 2 {
                let Some((p, _)) = self.ctx_reg(f) else {
                    return n > 0;
                };
                if p != Reg::R2 {
                    f.b.emit(mov(Reg::R2, p));
                }
            }
            match self.input_reg(f).filter(|_| self.rng.chance(1, 4)) {
                Some(x) => f.b.emit(mov(Reg::R1, x)),
                None => f.b.emit(movi(Reg::R1, arg)),
            }
            self.call_private(f, id);
            if n == 0 {
                f.b.emit(mov(kp, Reg::R0));
                f.set(kp, Val::Scalar);
            }
        }
        self.feats.call_symbols += 1;
        // r0: the second result; kp: the first.
        let (Some(l), Some((p, o))) = (self.len_reg(f), self.ctx_reg(f)) else {
            return true;
        };
        let keep = bit(l) | bit(p) | bit(kp) | bit(Reg::R0);
        let (Some(t), Some(q)) = (
            self.pick_dst(f, Val::Scalar, keep),
            self.pick_dst(f, Val::Junk, keep),
        ) else {
            return true;
        };
        if t == q {
            return true;
        }
        let a = self.rng.below(8) as i32;
        let n = self.rng.pick(&[1u32, 2, 4, 8]);
        let e = a as u32 + n;
        let w = if self.rng.chance(1, 4) {
            Width::W32
        } else {
            Width::W64
        };
        let (chk, used) = match self.rng.below(4) {
            0 | 1 => (Reg::R0, kp),
            2 => (kp, Reg::R0),
            _ => {
                let r = self.rng.pick(&[Reg::R0, kp]);
                (r, r)
            }
        };
        // keep r0 (the second result) alive: copy it where it is needed
        self.check_end(f, chk, l, e, w, t);
        self.access_via(f, p, o, used, a, n, q);
        let covered = self.fixed.is_some_and(|s| hi as u32 + e <= s)
            || (self.fixed.is_none() && hi as u32 + e <= f.st.len_min);
        if chk != used && !covered {
            self.unproven += 1;
        }
        true
    }

    /// Pointers moved outside their region and brought back ([`Hazard::FarOffsets`]).
    fn h_far(&mut self, f: &mut FnCtx) -> bool {
        let Some(q) = self.pick_dst(f, Val::Junk, Self::ctx_mask(f)) else {
            return false;
        };
        let k: i32 = self.rng.pick(&[513, 1024, 4096, 16384, 30000, 32000]);
        let later = self.rng.chance(1, 3);
        // the base moved by -k (stack) or +-k (context); `back`: what the offset must add
        let move_by = |g: &mut Self, f: &mut FnCtx, by: i32| match g.rng.below(3) {
            0 => f.b.emit(addi(q, by)),
            1 => f.b.emit(alu64(AluOp::Sub, q, Source::Imm(-by))),
            _ => {
                let t = g.pick_dst(f, Val::Scalar, bit(q) | Self::ctx_mask(f));
                match t {
                    Some(t) => {
                        f.b.emit(Insn::LoadImm64 {
                            dst: t,
                            imm: (-by) as i64 as u64,
                        });
                        f.b.emit(alu64(AluOp::Sub, q, Source::Reg(t)));
                        f.set(t, Val::Scalar);
                    }
                    None => f.b.emit(addi(q, by)),
                }
            }
        };
        if self.rng.chance(1, 2) {
            // the stack
            let s = self.pick_size();
            let store = self.rng.chance(1, 2);
            let a = if store {
                let Some(a) = (0..6)
                    .map(|_| self.stack_addr(s))
                    .find(|&a| Self::stack_write_ok(f, a, s as usize, SD))
                else {
                    return false;
                };
                a
            } else {
                let Some(a) = self.find_readable(f, s) else {
                    return false;
                };
                a
            };
            f.b.emit(mov(q, Reg::R10));
            move_by(self, f, -k);
            let mut back = k;
            if later {
                let d = self.rng.below(64) as i32;
                f.b.emit(addi(q, k - d));
                back = d;
            }
            f.set(q, Val::Junk);
            if store {
                let src = match self.scalar_reg(f) {
                    Some(r) if self.rng.chance(1, 2) => Source::Reg(r),
                    _ => Source::Imm(self.rng.imm32()),
                };
                f.b.emit(st(size_of(s), q, a + back, src));
                Self::stack_write(f, a, s as usize, Val::Scalar);
            } else {
                let d = self.pick_dst(f, Val::Scalar, 0).unwrap_or(q);
                f.b.emit(ldx(size_of(s), d, q, a + back));
                f.set(d, Val::Scalar);
            }
        } else {
            // the context
            let mut s = self.pick_size();
            if let Some(n) = self.fixed {
                while s > n && s > 1 {
                    s /= 2;
                }
            }
            let Some(a) = self.ctx_offset(s) else {
                return false;
            };
            if !self.ensure_len(f, a + s) {
                return false;
            }
            let Some((p, o)) = self.ctx_reg(f) else {
                return false;
            };
            if q == p {
                return false;
            }
            let by = if self.rng.chance(1, 2) { k } else { -k };
            f.b.emit(mov(q, p));
            move_by(self, f, by);
            let mut back = -by;
            if later {
                let d = self.rng.below(8) as i32;
                f.b.emit(addi(q, -by - d));
                back = d;
            }
            f.set(q, Val::Junk);
            let off = a as i32 - o + back;
            if i16::try_from(off).is_err() {
                return false;
            }
            let d = self.pick_dst(f, Val::Scalar, 0).unwrap_or(q);
            f.b.emit(ldx(size_of(s), d, q, off));
            f.set(d, Val::Input);
            self.feats.ctx_reads += 1;
        }
        self.feats.far_offsets += 1;
        true
    }

    /// Writes scalar data to `[r10 - at, r10 - at + n)` (8-byte stores); false if the
    /// generator's rules forbid it here.
    fn fill_window(&mut self, f: &mut FnCtx, at: i32, n: u32) -> bool {
        let words = n.div_ceil(8) as i32;
        if (0..words).any(|j| !Self::stack_write_ok(f, -at + 8 * j, 8, SD)) {
            return false;
        }
        for j in 0..words {
            let src = match self.scalar_reg(f) {
                Some(r) if self.rng.chance(1, 3) => Source::Reg(r),
                _ => Source::Imm(self.rng.imm32()),
            };
            f.b.emit(st(Size::DW, Reg::R10, -at + 8 * j, src));
            Self::stack_write(f, -at + 8 * j, 8, Val::Scalar);
        }
        true
    }

    /// Reads `[base + a, + sz)` within a window of `n` bytes into `r3` and adds it to `r0`,
    /// directly or through a copy of the base moved far and brought back.
    fn window_read(&mut self, b: &mut Builder, base: Reg, tmp: Reg, n: u32, acc: Reg, dst: Reg) {
        let mut sz = self.rng.pick(&[1u32, 2, 4, 8]);
        while sz > n {
            sz /= 2;
        }
        let a = self.rng.below((n - sz + 1) as u64) as i32;
        match self.rng.below(4) {
            0 | 1 => b.emit(ldx(size_of(sz), dst, base, a)),
            2 => {
                let k = self.rng.pick(&[4096, 20000, 32000, 600]);
                let by = if self.rng.chance(1, 2) { k } else { -k };
                b.emit(mov(tmp, base));
                b.emit(addi(tmp, by));
                b.emit(ldx(size_of(sz), dst, tmp, a - by));
            }
            _ => {
                let k = self.rng.pick(&[4096, 100_000, 1 << 20]);
                b.emit(mov(tmp, base));
                b.emit(addi(tmp, -k));
                b.emit(addi(tmp, k));
                b.emit(ldx(size_of(sz), dst, tmp, a));
            }
        }
        b.emit(alu64(AluOp::Add, acc, Source::Reg(dst)));
    }

    /// A context window and a stack window of `n` readable bytes: the context offset (after
    /// a length check if needed) and the stack distance below `r10`.
    fn windows(&mut self, f: &mut FnCtx, n: u32) -> Option<(u32, i32)> {
        let c0 = self.ctx_offset(n)?;
        if !self.ensure_len(f, c0 + n) {
            return None;
        }
        let at = 8 * (n.div_ceil(8) as i32 + self.rng.below(8) as i32);
        if !self.fill_window(f, at, n) {
            return None;
        }
        Some((c0, at))
    }

    /// A function called with a context pointer and a stack pointer ([`Hazard::EitherRegion`]).
    fn h_either(&mut self, f: &mut FnCtx, room: usize) -> bool {
        if f.depth >= MAX_CALL_DEPTH || room < 26 || !self.clobber_ok(f) {
            return false;
        }
        let mut n = self.rng.pick(&[1u32, 2, 4, 8, 16, 8]);
        if let Some(s) = self.fixed {
            while n > s && n > 1 {
                n /= 2;
            }
        }
        let Some((c0, at)) = self.windows(f, n) else {
            return false;
        };
        self.ensure_saved(f);
        let mut b = Builder::default();
        b.emit(movi(Reg::R0, 0));
        for _ in 0..1 + self.rng.below(3) {
            self.window_read(&mut b, Reg::R1, Reg::R4, n, Reg::R0, Reg::R3);
        }
        b.emit(Insn::Exit);
        let mut args = [Val::Uninit; 6];
        args[1] = Val::Junk;
        let id = self.private_function(b, args);
        let ctx_first = self.rng.chance(1, 2);
        // In two arms of a diamond on an input value now and then, else one after the other.
        let arms = self
            .input_reg(f)
            .filter(|&r| r.index() >= 6 && self.rng.chance(1, 3));
        let site = |g: &mut Self, f: &mut FnCtx, ctx: bool| -> bool {
            if ctx {
                let Some((p, o)) = g.ctx_reg(f) else {
                    return false;
                };
                f.b.emit(mov(Reg::R1, p));
                if c0 as i32 != o {
                    f.b.emit(addi(Reg::R1, c0 as i32 - o));
                }
            } else {
                f.b.emit(mov(Reg::R1, Reg::R10));
                f.b.emit(addi(Reg::R1, -at));
            }
            g.call_private(f, id);
            true
        };
        match arms {
            Some(x) => {
                let l_else = f.b.label();
                let l_join = f.b.label();
                f.b.branch(
                    jmp(
                        Width::W64,
                        JmpCond::Ne,
                        x,
                        Source::Imm(self.rng.below(4) as i32),
                    ),
                    l_else,
                );
                let s0 = f.st.clone();
                if !site(self, f, ctx_first) {
                    return false;
                }
                let s1 = core::mem::replace(&mut f.st, s0);
                f.b.branch(Insn::Ja { off: 0 }, l_join);
                f.b.bind(l_else);
                if !site(self, f, !ctx_first) {
                    return false;
                }
                f.b.bind(l_join);
                f.st = State::meet(&s1, &f.st);
                self.feats.diamonds += 1;
            }
            None => {
                if !site(self, f, ctx_first) || !site(self, f, !ctx_first) {
                    return false;
                }
            }
        }
        self.feats.either_calls += 1;
        true
    }

    /// Loops whose iterations change an access's region or a value's meaning
    /// ([`Hazard::LoopRegion`]).
    fn h_loop_region(&mut self, f: &mut FnCtx, room: usize) -> bool {
        if room < 22 || f.loop_depth >= 2 {
            return false;
        }
        if self.rng.chance(1, 2) {
            self.loop_swap_regions(f)
        } else {
            self.loop_stale_value(f)
        }
    }

    /// `q` = context window, `s` = stack window; each iteration reads through `q`, then swaps
    /// them: the read is on the context in odd iterations and on the stack in even ones.
    fn loop_swap_regions(&mut self, f: &mut FnCtx) -> bool {
        let mut n = self.rng.pick(&[1u32, 2, 4, 8, 8]);
        if let Some(s) = self.fixed {
            while n > s && n > 1 {
                n /= 2;
            }
        }
        let Some((c0, at)) = self.windows(f, n) else {
            return false;
        };
        let Some((p, o)) = self.ctx_reg(f) else {
            return false;
        };
        let mut used = Self::ctx_mask(f);
        let mut take = |g: &mut Self, f: &FnCtx, v: Val| {
            let r = g.pick_dst(f, v, used)?;
            used |= bit(r);
            Some(r)
        };
        let (Some(q), Some(s), Some(t), Some(c), Some(d)) = (
            take(self, f, Val::Junk),
            take(self, f, Val::Junk),
            take(self, f, Val::Junk),
            take(self, f, Val::Scalar),
            take(self, f, Val::Scalar),
        ) else {
            return false;
        };
        f.b.emit(mov(q, p));
        if c0 as i32 != o {
            f.b.emit(addi(q, c0 as i32 - o));
        }
        f.b.emit(mov(s, Reg::R10));
        f.b.emit(addi(s, -at));
        let stack_first = self.rng.chance(1, 3);
        if stack_first {
            f.b.emit(mov(t, q));
            f.b.emit(mov(q, s));
            f.b.emit(mov(s, t));
        }
        f.b.emit(movi(c, 0));
        f.set(d, Val::Scalar);
        f.b.emit(movi(d, 0));
        let iters = 2 + self.rng.below(4) as i32;
        let head = f.b.here();
        let mut b = core::mem::take(&mut f.b);
        self.window_read(&mut b, q, t, n, d, t);
        f.b = b;
        f.b.emit(mov(t, q));
        f.b.emit(mov(q, s));
        f.b.emit(mov(s, t));
        f.b.emit(addi(c, 1));
        f.b.branch(jmp(Width::W64, JmpCond::Lt, c, Source::Imm(iters)), head);
        for r in [q, s, t] {
            f.set(r, Val::Junk);
        }
        f.set(c, Val::Scalar);
        self.feats.loops += 1;
        self.feats.loop_regions += 1;
        true
    }

    /// Each iteration computes `v` (a fresh symbol), checks `v + e <= len` and reads through
    /// `v` or through `k`, the previous iteration's `v` (0 at first); then `k = v`.
    fn loop_stale_value(&mut self, f: &mut FnCtx) -> bool {
        let a = self.rng.below(4) as i32;
        let n = self.rng.pick(&[1u32, 2, 4]);
        let e = a as u32 + n;
        if !self.ensure_len(f, e) {
            return false;
        }
        let (Some(l), Some((p, o))) = (self.len_reg(f), self.ctx_reg(f)) else {
            return false;
        };
        let mut used = Self::ctx_mask(f) | bit(l);
        let mut take = |g: &mut Self, f: &FnCtx, v: Val| {
            let r = g.pick_dst(f, v, used)?;
            used |= bit(r);
            Some(r)
        };
        let (Some(k), Some(v), Some(c), Some(t), Some(q)) = (
            take(self, f, Val::Scalar),
            take(self, f, Val::Scalar),
            take(self, f, Val::Scalar),
            take(self, f, Val::Scalar),
            take(self, f, Val::Junk),
        ) else {
            return false;
        };
        let iters = 2 + self.rng.below(3) as i32;
        let step = self.rng.pick(&[1, 8, 16, 24]);
        let k0 = iters + self.rng.below(4) as i32;
        let stale = self.rng.chance(1, 2);
        f.b.emit(movi(k, 0));
        f.b.emit(movi(c, 0));
        f.b.emit(movi(v, 0));
        let head = f.b.here();
        // v = (k0 - c) * step: decreasing, a new symbol each iteration
        f.b.emit(movi(v, k0));
        f.b.emit(alu64(AluOp::Sub, v, Source::Reg(c)));
        f.b.emit(alu64(AluOp::Mul, v, Source::Imm(step)));
        let w = if self.rng.chance(1, 4) {
            Width::W32
        } else {
            Width::W64
        };
        for r in [k, v, c] {
            f.set(r, Val::Scalar);
        }
        // the loop's registers and the length and context stay as they are in the body
        let saved_pins = f.pinned;
        f.pinned |= bit(k) | bit(v) | bit(c) | bit(l) | bit(p) | bit(t);
        self.check_end(f, v, l, e, w, t);
        self.access_via(f, p, o, if stale { k } else { v }, a, n, q);
        f.pinned = saved_pins;
        f.b.emit(mov(k, v));
        f.b.emit(addi(c, 1));
        f.b.branch(jmp(Width::W64, JmpCond::Lt, c, Source::Imm(iters)), head);
        for r in [k, v, c, t] {
            f.set(r, Val::Scalar);
        }
        if stale {
            self.unproven += 1;
        }
        self.feats.loops += 1;
        self.feats.loop_regions += 1;
        true
    }
}

impl Gen<'_> {
    /// Joins of paths that know different things ([`Hazard::PathFacts`]).
    fn h_path_facts(&mut self, f: &mut FnCtx, room: usize) -> bool {
        let ok = match self.rng.below(3) {
            0 => room >= 24 && self.path_join_facts(f),
            1 => room >= 12 && self.path_stack_join(f),
            _ => room >= 18 && self.path_var_store(f),
        };
        if ok {
            self.feats.path_facts += 1;
        }
        ok
    }

    /// A context offset for an `s`-byte input load, made readable (before any register is
    /// chosen: a length check may take a scratch register).
    fn input_offset(&mut self, f: &mut FnCtx, s: u32) -> Option<u32> {
        let a = self.ctx_offset(s)?;
        self.ensure_len(f, a + s).then_some(a)
    }

    /// `x = *(size *)(ctx + a)`, readable since [`Gen::input_offset`].
    fn load_input(&mut self, f: &mut FnCtx, x: Reg, a: u32, s: u32) -> bool {
        let Some((p, o)) = self.ctx_reg(f) else {
            return false;
        };
        let off = a as i32 - o;
        if i16::try_from(off).is_err() {
            return false;
        }
        f.b.emit(ldx(size_of(s), x, p, off));
        f.set(x, Val::Input);
        self.feats.ctx_reads += 1;
        true
    }

    /// An input to branch on: a register already holding one (`Set` of a low bit) or a byte
    /// loaded at `lb` into a scratch register outside `keep`; then `if b COND imm goto l`,
    /// taken for some inputs and not for others.
    fn input_branch(&mut self, f: &mut FnCtx, lb: u32, keep: u16, l: Label) -> bool {
        let held = self
            .input_reg(f)
            .filter(|r| keep & bit(*r) == 0 && self.rng.chance(1, 3));
        let (b, cond, imm) = match held {
            Some(b) => (b, JmpCond::Set, 1 << self.rng.below(8)),
            None => {
                let Some(b) = self.pick_dst(f, Val::Input, keep | Self::ctx_mask(f)) else {
                    return false;
                };
                if !self.load_input(f, b, lb, 1) {
                    return false;
                }
                let (cond, imm) = match self.rng.below(3) {
                    0 => (JmpCond::Set, 1 << self.rng.below(8)),
                    1 => (JmpCond::Gt, self.rng.below(255) as i32),
                    _ => (JmpCond::Lt, 1 + self.rng.below(255) as i32),
                };
                (b, cond, imm)
            }
        };
        f.b.branch(jmp(Width::W64, cond, b, Source::Imm(imm)), l);
        true
    }

    /// `x` = a context load (masked now and then); on one side of a branch on another input
    /// `x + k1 <= len` is checked, on the other `x + k2 <= len`; after the join a read through
    /// `r1 + x` ends at `x + e`. Proven when `e <= min(k1, k2)`; `e` up to the larger bound
    /// is the unproven variant (a join keeping the larger bound accepts it).
    fn path_join_facts(&mut self, f: &mut FnCtx) -> bool {
        let xs = self.rng.pick(&[1u32, 1, 2]);
        let mask = match self.rng.below(5) {
            0 => None,
            1 => Some(15),
            2 => Some(31),
            _ => Some(63),
        };
        let xmax = match mask {
            Some(m) => m as u32,
            None => (1u32 << (8 * xs)) - 1,
        };
        let (k_lo, k_hi) = if self.rng.chance(1, 2) {
            // aimed at a length: `x + k_lo <= len < x + k_hi` for a good share of the `x`
            let len = self.fixed.unwrap_or(24 + self.rng.below(73) as u32);
            let span = xmax.min(len).max(4);
            let hi = len.saturating_sub(self.rng.below((span / 2) as u64) as u32);
            let lo = hi.saturating_sub(1 + self.rng.below((span / 2) as u64) as u32);
            if lo >= 1 {
                (lo, hi)
            } else {
                (1, 2 + self.rng.below(16) as u32)
            }
        } else {
            let k = 1 + self.rng.below(24) as u32;
            (k, k + 1 + self.rng.below(16) as u32)
        };
        let wide = self.rng.chance(1, 2);
        let mut n = self.rng.pick(&[1u32, 2, 4, 1, 8]);
        let e = if wide {
            if (k_lo + 1).max(n) > k_hi {
                n = 1;
            }
            let lo = (k_lo + 1).max(n);
            lo + self.rng.below((k_hi - lo + 1) as u64) as u32
        } else {
            while n > k_lo {
                n /= 2;
            }
            n + self.rng.below((k_lo - n + 1) as u64) as u32
        };
        let a = e - n;
        let (Some(la), Some(lb)) = (self.ctx_offset(xs), self.ctx_offset(1)) else {
            return false;
        };
        if !self.ensure_len(f, (la + xs).max(lb + 1)) {
            return false;
        }
        let (Some(l), Some((p, o))) = (self.len_reg(f), self.ctx_reg(f)) else {
            return false;
        };
        let keep = bit(l) | Self::ctx_mask(f);
        let Some(x) = self.pick_dst(f, Val::Scalar, keep) else {
            return false;
        };
        let keep = keep | bit(x);
        let Some(t) = self.pick_dst(f, Val::Scalar, keep) else {
            return false;
        };
        let Some(q) = self.pick_dst(f, Val::Junk, keep | bit(t)) else {
            return false;
        };
        if !self.load_input(f, x, la, xs) {
            return false;
        }
        if let Some(m) = mask {
            f.b.emit(alu64(AluOp::And, x, Source::Imm(m)));
            f.set(x, Val::Scalar);
        }
        // the branch's scratch register spares x, t and q
        let l_else = f.b.label();
        let l_join = f.b.label();
        if !self.input_branch(f, lb, keep | bit(t) | bit(q), l_else) {
            // nothing emitted after the load: the production stands as a load
            return true;
        }
        let w = if self.rng.chance(1, 4) {
            Width::W32
        } else {
            Width::W64
        };
        let (k1, k2) = if self.rng.chance(1, 2) {
            (k_lo, k_hi)
        } else {
            (k_hi, k_lo)
        };
        self.check_end(f, x, l, k1, w, t);
        f.b.branch(Insn::Ja { off: 0 }, l_join);
        f.b.bind(l_else);
        self.check_end(f, x, l, k2, w, t);
        f.b.bind(l_join);
        if self.fixed.is_none() {
            f.st.len_min = f.st.len_min.max(k_lo);
            f.st.len_hint = f.st.len_hint.max(k_lo);
        }
        let covered = match self.fixed {
            Some(s) => xmax + e <= s,
            None => xmax + e <= f.st.len_min,
        };
        // q = p + x, now and then moved up and brought back by the offset (not down, as
        // `access_via` may: the verifier keeps no symbol for a pointer moved below its
        // region's start, so a proven variant would be refused)
        f.b.emit(mov(q, p));
        f.b.emit(alu64(AluOp::Add, q, Source::Reg(x)));
        let mut off = a as i32 - o;
        if self.rng.chance(1, 4) {
            let k = self.rng.pick(&[600, 4096, 20000]);
            f.b.emit(addi(q, k));
            off -= k;
        }
        f.set(q, Val::Junk);
        let d = self.pick_dst(f, Val::Scalar, 0).unwrap_or(q);
        f.b.emit(ldx(size_of(n), d, q, off));
        f.set(d, Val::Input);
        self.feats.ctx_reads += 1;
        if wide && !covered {
            self.unproven += 1;
        }
        true
    }

    /// Bytes `[a, a + n)` of the stack hold scalar data or nothing (no pointer bits), and an
    /// `n`-byte scalar store there is allowed.
    fn plain_stack(f: &FnCtx, a: i32, n: usize) -> bool {
        Self::stack_write_ok(f, a, n, SD)
            && f.st.stack[sidx(a)..sidx(a) + n]
                .iter()
                .all(|&c| c == SU || c == SD)
    }

    fn untouched(f: &FnCtx, a: i32, n: usize) -> bool {
        f.touched[sidx(a)..sidx(a) + n].iter().all(|t| !t)
    }

    /// A scalar source for a store.
    fn store_src(&mut self, f: &FnCtx) -> Source {
        match self.scalar_reg(f) {
            Some(r) if self.rng.chance(1, 2) => Source::Reg(r),
            _ => Source::Imm(self.rng.imm32()),
        }
    }

    /// A stack store on one side of a branch on an input (or on both), then a read of those
    /// bytes after the join: unproven where one side leaves them unwritten.
    fn path_stack_join(&mut self, f: &mut FnCtx) -> bool {
        let n = self.pick_size();
        let both = self.rng.chance(1, 2);
        let mut at = None;
        for k in 0..12 {
            let a = self.stack_addr(n);
            if Self::plain_stack(f, a, n as usize)
                && (both || k >= 8 || Self::untouched(f, a, n as usize))
            {
                at = Some(a);
                break;
            }
        }
        let Some(a) = at else {
            return false;
        };
        let Some(lb) = self.input_offset(f, 1) else {
            return false;
        };
        let l_else = f.b.label();
        if !self.input_branch(f, lb, 0, l_else) {
            return false;
        }
        let s0 = f.st.clone();
        // which sides write: then (one-armed: the only arm), else
        let two = both || self.rng.chance(1, 2);
        let then_writes = both || !two || self.rng.chance(1, 2);
        let else_writes = both || (two && !then_writes);
        let write = |g: &mut Self, f: &mut FnCtx| {
            let src = g.store_src(f);
            f.b.emit(st(size_of(n), Reg::R10, a, src));
            Self::stack_write(f, a, n as usize, Val::Scalar);
        };
        if then_writes {
            write(self, f);
        }
        let s1 = core::mem::replace(&mut f.st, s0.clone());
        if two {
            let l_join = f.b.label();
            f.b.branch(Insn::Ja { off: 0 }, l_join);
            f.b.bind(l_else);
            if else_writes {
                write(self, f);
            }
            f.b.bind(l_join);
            let s2 = core::mem::replace(&mut f.st, s0);
            f.st = State::meet(&s1, &s2);
        } else {
            f.b.bind(l_else);
            f.st = State::meet(&s1, &s0);
        }
        let m = self.rng.pick(&[1u32, 2, 4, 8]).min(n);
        let j = self.rng.below((n - m + 1) as u64) as i32;
        let Some(d) = self.pick_dst(f, Val::Scalar, 0) else {
            return true;
        };
        let valid = Self::stack_read(f, a + j, m as usize) == Some(Val::Scalar);
        f.b.emit(ldx(size_of(m), d, Reg::R10, a + j));
        f.set(d, Val::Scalar);
        if !valid {
            self.unproven += 1;
        }
        true
    }

    /// `v = input & m; s = r10 + v; *(s + base) = ...` (a store at one of several
    /// addresses), then a read at one of them: unproven unless every possible address was
    /// written before (or the bytes hold data already).
    fn path_var_store(&mut self, f: &mut FnCtx) -> bool {
        let m = self.rng.pick(&[8i32, 8, 16, 24, 4]);
        let n = if m == 4 {
            self.rng.pick(&[1u32, 2, 4])
        } else {
            self.pick_size()
        };
        let offs: &[i32] = match m {
            24 => &[0, 8, 16, 24],
            _ if m == 16 => &[0, 16],
            _ if m == 8 => &[0, 8],
            _ => &[0, 4],
        };
        let fill = self.rng.chance(1, 2);
        let span = m + n as i32;
        let k0 = (span + 7) / 8;
        let mut at = None;
        for k in 0..12 {
            let base = -8 * (k0 + self.rng.below(if k < 6 { 8 } else { 56 }) as i32);
            if base < -512 {
                continue;
            }
            let plain = Self::plain_stack(f, base, span as usize)
                && offs
                    .iter()
                    .all(|&v| Self::stack_write_ok(f, base + v, n as usize, SD));
            if plain && (fill || k >= 8 || Self::untouched(f, base, span as usize)) {
                at = Some(base);
                break;
            }
        }
        let Some(base) = at else {
            return false;
        };
        let Some(lv) = self.input_offset(f, 1) else {
            return false;
        };
        let keep = Self::ctx_mask(f);
        let Some(v) = self.pick_dst(f, Val::Scalar, keep) else {
            return false;
        };
        let Some(s) = self.pick_dst(f, Val::Junk, keep | bit(v)) else {
            return false;
        };
        if fill {
            for &w in offs {
                let src = self.store_src(f);
                f.b.emit(st(size_of(n), Reg::R10, base + w, src));
                Self::stack_write(f, base + w, n as usize, Val::Scalar);
            }
        }
        match self.input_reg(f).filter(|_| self.rng.chance(1, 3)) {
            Some(r) => f.b.emit(mov(v, r)),
            None => {
                if !self.load_input(f, v, lv, 1) {
                    return true;
                }
            }
        }
        f.b.emit(alu64(AluOp::And, v, Source::Imm(m)));
        f.set(v, Val::Scalar);
        f.b.emit(mov(s, Reg::R10));
        let off = if self.rng.chance(1, 2) {
            f.b.emit(addi(s, base));
            0
        } else {
            base
        };
        f.b.emit(alu64(AluOp::Add, s, Source::Reg(v)));
        f.set(s, Val::Junk);
        let src = self.store_src(f);
        f.b.emit(st(size_of(n), s, off, src));
        for &w in offs {
            let lo = sidx(base + w);
            f.touched[lo..lo + n as usize].fill(true);
        }
        // the read: within the lowest address mostly (what the store may have missed)
        let w = if self.rng.chance(2, 3) {
            0
        } else {
            self.rng.pick(offs)
        };
        let r = self.rng.pick(&[1u32, 2, 4, 8]).min(n);
        let j = self.rng.below((n - r + 1) as u64) as i32;
        let Some(d) = self.pick_dst(f, Val::Scalar, 0) else {
            return true;
        };
        let valid = Self::stack_read(f, base + w + j, r as usize) == Some(Val::Scalar);
        f.b.emit(ldx(size_of(r), d, Reg::R10, base + w + j));
        f.set(d, Val::Scalar);
        if !valid {
            self.unproven += 1;
        }
        true
    }
}
