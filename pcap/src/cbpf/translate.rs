//! Classic BPF to eBPF of program type `filter`, with direct packet loads the verifier proves in
//! bounds (no `LD_ABS`/`LD_IND`), and few length tests.
//!
//! Registers: the entry registers stay where the ABI puts them: `r1` the packet, `r2` the
//! captured length, `r3` the length on the wire. A is `r0` (so `ret A` is a bare `exit`), X is
//! `r6`; `r4` is a scratch register within one classic instruction and `r5` holds `r1 + X` while
//! X does not change (so an indirect load is one load). The three scratch words used most live in
//! `r7`-`r9`, the others in 4-byte stack words below `r10`. Only the cells that some path reads
//! before writing are zeroed on entry (the verifier refuses reads of unwritten cells). All
//! arithmetic is 32-bit, so every cell stays zero-extended and 64-bit compares are exact.
//!
//! Every path that makes the filter return 0 without reading more (a load past the captured
//! bytes, a division by a zero X, `ret #0`) goes to one shared `r0 = 0; exit`.
//!
//! Length tests are merged, from two passes over the (forward-only) control flow:
//! - backwards, per instruction, the furthest byte that *every* path from there reads at a fixed
//!   offset before it returns something other than 0 (paths that end in `ret #0` or always fail
//!   ask for nothing: they return 0 whatever the length), and the same for `[x + k]` loads while
//!   X keeps its value;
//! - forwards, while emitting, the length already tested on every path into an instruction.
//!
//! A load not covered by what is already tested tests the anticipated maximum instead of its own
//! end. That is exact: when the test fails, every path from here would have read out of bounds
//! (or returned 0) anyway, and the result is 0 either way. An indirect test is `X + n > caplen`
//! over 64 bits, libpcap's unwrapped `X + k + size <= caplen`. Instructions from which every
//! path returns 0 are not emitted at all (a jump to them goes to the shared exit); neither is
//! dead code.
//!
//! What the verifier sees: a constant test `caplen < n` raises its minimum length; an indirect
//! test ties the fact `X + n <= len` to the symbol of the value in `r6`, which is one symbol on
//! every path where the emitter believes X unchanged (one joined state per instruction). Where
//! paths carrying different X values meet, X is re-defined (`w6 = w6`) before its next test, so
//! the fact has a symbol to hold on to.

use udf_bytecode::{
    AluOp, BuildError, Endian, FarJumps, Insn, JmpCond, Label, Program, ProgramBuilder,
    ProgramType, Reg, Size, Source, SwapBits, Width,
};
use udf_verifier::{Config, Verified};

use super::validate::validate;
use super::{CbpfError, SockFilter, op};

const A: Reg = Reg::R0;
const PKT: Reg = Reg::R1;
const CAPLEN: Reg = Reg::R2;
const WIRE: Reg = Reg::R3;
const TMP: Reg = Reg::R4;
const XP: Reg = Reg::R5;
const X: Reg = Reg::R6;
const MEM_REGS: [Reg; 3] = [Reg::R7, Reg::R8, Reg::R9];

/// "Every path from here returns 0": no length can make a difference.
const INF: u64 = u64::MAX;
/// The longest packet the engines run a filter on.
const MAX_LEN: u64 = u32::MAX as u64;

/// One classic instruction, decoded.
#[derive(Clone, Copy, Debug)]
enum Op {
    RetK(u32),
    RetA,
    /// `ld`/`ldx #k`; `x` for ldx.
    Imm {
        x: bool,
        k: u32,
    },
    /// `ld`/`ldx #len` (wire length).
    Len {
        x: bool,
    },
    /// `ld`/`ldx M[k]`.
    LdMem {
        x: bool,
        k: u32,
    },
    /// `st`/`stx M[k]`.
    St {
        x: bool,
        k: u32,
    },
    /// `ld[h|b] [k]`.
    Abs {
        size: Size,
        k: u32,
    },
    /// `ld[h|b] [x + k]`.
    Ind {
        size: Size,
        k: u32,
    },
    /// `ldxb 4*([k]&0xf)`.
    Msh {
        k: u32,
    },
    Tax,
    Txa,
    Alu {
        op: u16,
        x: bool,
        k: u32,
    },
    Neg,
    Ja(usize),
    Jcc {
        op: u16,
        x: bool,
        k: u32,
        t: usize,
        f: usize,
    },
}

fn decode(i: usize, f: &SockFilter) -> Op {
    let size = match f.code & 0x18 {
        op::H => Size::H,
        op::B => Size::B,
        _ => Size::W,
    };
    let k = f.k;
    match f.code {
        0x06 => Op::RetK(k),
        0x16 => Op::RetA,
        0x00 | 0x01 => Op::Imm {
            x: f.code == 0x01,
            k,
        },
        0x80 | 0x81 => Op::Len { x: f.code == 0x81 },
        0x60 | 0x61 => Op::LdMem {
            x: f.code == 0x61,
            k,
        },
        0x02 | 0x03 => Op::St {
            x: f.code == 0x03,
            k,
        },
        0x20 | 0x28 | 0x30 => Op::Abs { size, k },
        0x40 | 0x48 | 0x50 => Op::Ind { size, k },
        0xb1 => Op::Msh { k },
        0x07 => Op::Tax,
        0x87 => Op::Txa,
        0x84 => Op::Neg,
        0x05 => Op::Ja(i + 1 + k as usize),
        c if c & 0x07 == op::JMP => Op::Jcc {
            op: c & 0xf0,
            x: c & op::X != 0,
            k,
            t: i + 1 + f.jt as usize,
            f: i + 1 + f.jf as usize,
        },
        c => Op::Alu {
            op: c & 0xf0,
            x: c & op::X != 0,
            k,
        },
    }
}

/// Cells whose first read needs a written value: bit 0 = A, bit 1 = X, bit 2 + k = M[k].
const CELL_A: u32 = 1;
const CELL_X: u32 = 2;
const fn cell_m(k: u32) -> u32 {
    4 << k
}

/// (reads, writes) of an instruction, as cell masks.
fn cells(o: &Op) -> (u32, u32) {
    match *o {
        Op::RetK(_) | Op::Ja(_) => (0, 0),
        Op::RetA => (CELL_A, 0),
        Op::Imm { x, .. } | Op::Len { x } => (0, if x { CELL_X } else { CELL_A }),
        Op::LdMem { x, k } => (cell_m(k), if x { CELL_X } else { CELL_A }),
        Op::St { x, k } => (if x { CELL_X } else { CELL_A }, cell_m(k)),
        Op::Abs { .. } => (0, CELL_A),
        Op::Ind { .. } => (CELL_X, CELL_A),
        Op::Msh { .. } => (0, CELL_X),
        Op::Tax => (CELL_A, CELL_X),
        Op::Txa => (CELL_X, CELL_A),
        Op::Alu { x, .. } => (CELL_A | if x { CELL_X } else { 0 }, CELL_A),
        Op::Jcc { x, .. } => (CELL_A | if x { CELL_X } else { 0 }, 0),
        Op::Neg => (CELL_A, CELL_A),
    }
}

/// The end of a packet load (`k + size`), or `None` when it can never be in bounds.
fn load_end(k: u32, size: Size) -> Option<u64> {
    let end = k as u64 + size.bytes() as u64;
    (end <= MAX_LEN).then_some(end)
}

/// Where a scratch word lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Home {
    Reg(Reg),
    Stack(i16),
}

/// Stack offset of M[k]: pairs of words share an 8-byte slot, so one store zeroes both.
fn stack_off(k: u32) -> i16 {
    -8 * (k as i16 / 2 + 1) + 4 * (k as i16 % 2)
}

/// What the passes over the classic program found.
struct Plan {
    ops: Vec<Op>,
    /// Every path from the instruction returns 0.
    zero: Vec<bool>,
    /// Reachable and not `zero`: emitted.
    live: Vec<bool>,
    /// Furthest fixed-offset byte every non-zero path from here reads.
    ant_fixed: Vec<u64>,
    /// Furthest `X + n` every non-zero path from here reads before X changes.
    ant_ind: Vec<u64>,
    /// Cells to zero on entry.
    init: u32,
    homes: [Home; 16],
}

fn successors(o: &Op, i: usize) -> ([usize; 2], usize) {
    match *o {
        Op::RetK(_) | Op::RetA => ([0, 0], 0),
        Op::Abs { k, size } | Op::Ind { k, size } if load_end(k, size).is_none() => ([0, 0], 0),
        Op::Msh { k } if load_end(k, Size::B).is_none() => ([0, 0], 0),
        Op::Ja(t) => ([t, t], 1),
        Op::Jcc { t, f, .. } => ([t, f], 2),
        _ => ([i + 1, i + 1], 1),
    }
}

impl Plan {
    fn new(prog: &[SockFilter]) -> Plan {
        let n = prog.len();
        let ops: Vec<Op> = prog.iter().enumerate().map(|(i, f)| decode(i, f)).collect();
        // Backward pass; index `n` stands for running off the end (a 0 result).
        let mut zero = vec![true; n + 1];
        let mut ant_fixed = vec![INF; n + 1];
        let mut ant_ind = vec![INF; n + 1];
        for i in (0..n).rev() {
            let nx = (i + 1).min(n);
            let (z, af, ai) = match ops[i] {
                Op::RetK(0) => (true, INF, INF),
                Op::RetK(_) | Op::RetA => (false, 0, 0),
                Op::Abs { k, size } => match load_end(k, size) {
                    None => (true, INF, INF),
                    Some(e) => (zero[nx], e.max(ant_fixed[nx]), ant_ind[nx]),
                },
                Op::Msh { k } => match load_end(k, Size::B) {
                    None => (true, INF, INF),
                    Some(e) => (zero[nx], e.max(ant_fixed[nx]), 0),
                },
                Op::Ind { k, size } => match load_end(k, size) {
                    None => (true, INF, INF),
                    Some(e) => (zero[nx], ant_fixed[nx], e.max(ant_ind[nx])),
                },
                Op::Imm { x: true, .. }
                | Op::Len { x: true }
                | Op::LdMem { x: true, .. }
                | Op::Tax => (zero[nx], ant_fixed[nx], 0),
                Op::Ja(t) => {
                    let t = t.min(n);
                    (zero[t], ant_fixed[t], ant_ind[t])
                }
                Op::Jcc { t, f, .. } => {
                    let (t, f) = (t.min(n), f.min(n));
                    (
                        zero[t] && zero[f],
                        ant_fixed[t].min(ant_fixed[f]),
                        ant_ind[t].min(ant_ind[f]),
                    )
                }
                _ => (zero[nx], ant_fixed[nx], ant_ind[nx]),
            };
            zero[i] = z;
            ant_fixed[i] = if z { INF } else { af };
            ant_ind[i] = if z { INF } else { ai };
        }
        // Forward: reachability through emitted instructions, and cells written on every path.
        let mut live = vec![false; n];
        let mut defined: Vec<Option<u32>> = vec![None; n];
        let mut init = 0u32;
        if n > 0 && !zero[0] {
            defined[0] = Some(0);
        }
        for i in 0..n {
            let Some(d) = defined[i] else { continue };
            live[i] = true;
            let (reads, writes) = cells(&ops[i]);
            init |= reads & !d;
            let out = d | reads | writes;
            let (succ, count) = successors(&ops[i], i);
            for &s in &succ[..count] {
                if s < n && !zero[s] {
                    defined[s] = Some(defined[s].map_or(out, |e| e & out));
                }
            }
        }
        // Scratch homes: the three words used most (ties: lower index) in registers.
        let mut uses = [0usize; 16];
        for (i, o) in ops.iter().enumerate() {
            if let (true, Op::LdMem { k, .. } | Op::St { k, .. }) = (live[i], o) {
                uses[*k as usize] += 1;
            }
        }
        let mut order: Vec<usize> = (0..16).filter(|&k| uses[k] > 0).collect();
        order.sort_by_key(|&k| (std::cmp::Reverse(uses[k]), k));
        let mut homes = [Home::Stack(0); 16];
        for (k, h) in homes.iter_mut().enumerate() {
            *h = Home::Stack(stack_off(k as u32));
        }
        for (&k, &r) in order.iter().zip(MEM_REGS.iter()) {
            homes[k] = Home::Reg(r);
        }
        Plan {
            ops,
            zero,
            live,
            ant_fixed,
            ant_ind,
            init,
            homes,
        }
    }
}

/// What is known on entry to an instruction, on every path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct KnownOnEntry {
    /// `caplen >= checked_len` has been tested.
    checked_len: u64,
    /// Which definition of X is in `r6` (`None`: different ones on different paths).
    x_def: Option<usize>,
    /// `X + x_checked_len <= caplen` has been tested (for `x_def`).
    x_checked_len: u64,
    /// `r5 == r1 + X` (for `x_def`).
    x_pointer: bool,
    /// X is not 0 (for `x_def`).
    x_nonzero: bool,
}

impl KnownOnEntry {
    fn meet(self, o: KnownOnEntry) -> KnownOnEntry {
        let same = self.x_def.is_some() && self.x_def == o.x_def;
        KnownOnEntry {
            checked_len: self.checked_len.min(o.checked_len),
            x_def: if same { self.x_def } else { None },
            x_checked_len: if same {
                self.x_checked_len.min(o.x_checked_len)
            } else {
                0
            },
            x_pointer: same && self.x_pointer && o.x_pointer,
            x_nonzero: same && self.x_nonzero && o.x_nonzero,
        }
    }

    fn new_x(&mut self, id: usize, nonzero: bool) {
        self.x_def = Some(id);
        self.x_checked_len = 0;
        self.x_pointer = false;
        self.x_nonzero = nonzero;
    }
}

/// A jump destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Insn(usize),
    Ret0,
}

/// The eBPF being written, through a program builder whose origin of each instruction is the
/// classic instruction it came from (`None` for the prologue and the shared exit).
struct Emitter<'a> {
    plan: &'a Plan,
    code: ProgramBuilder<Option<usize>>,
    /// The label of each classic instruction, bound where its code starts (if emitted).
    labels: Vec<Label>,
    /// The shared `r0 = 0; exit`.
    ret0: Label,
    ret0_used: bool,
}

fn alu32(op: AluOp, dst: Reg, src: Source) -> Insn {
    Insn::Alu {
        width: Width::W32,
        op,
        dst,
        src,
    }
}

fn alu64(op: AluOp, dst: Reg, src: Source) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op,
        dst,
        src,
    }
}

fn imm(k: u32) -> Source {
    Source::Imm(k as i32)
}

impl<'a> Emitter<'a> {
    fn new(plan: &'a Plan) -> Emitter<'a> {
        let mut code = ProgramBuilder::new();
        let labels = (0..plan.ops.len()).map(|_| code.label()).collect();
        let ret0 = code.label();
        Emitter {
            plan,
            code,
            labels,
            ret0,
            ret0_used: false,
        }
    }

    fn push(&mut self, insn: Insn) {
        self.code.emit(insn);
    }

    /// The label of a jump destination.
    fn label(&mut self, t: Target) -> Label {
        match t {
            Target::Insn(i) => self.labels[i],
            Target::Ret0 => {
                self.ret0_used = true;
                self.ret0
            }
        }
    }

    /// `goto t`.
    fn ja(&mut self, t: Target) {
        let l = self.label(t);
        self.code.ja(l);
    }

    /// `if dst COND src goto t`.
    fn jcc(&mut self, width: Width, cond: JmpCond, dst: Reg, src: Source, t: Target) {
        let l = self.label(t);
        self.code.jump_if(width, cond, dst, src, l);
    }

    fn target(&self, s: usize) -> Target {
        if s < self.plan.zero.len() - 1 && !self.plan.zero[s] {
            Target::Insn(s)
        } else {
            Target::Ret0
        }
    }

    /// `caplen < end` returns 0.
    fn len_test(&mut self, end: u64) {
        if end <= i32::MAX as u64 {
            self.jcc(
                Width::W64,
                JmpCond::Lt,
                CAPLEN,
                Source::Imm(end as i32),
                Target::Ret0,
            );
        } else {
            self.push(alu32(AluOp::Mov, TMP, imm(end as u32)));
            self.jcc(
                Width::W64,
                JmpCond::Gt,
                TMP,
                Source::Reg(CAPLEN),
                Target::Ret0,
            );
        }
    }

    /// `dst = ntoh(*(size *)(base + k))`.
    fn load(&mut self, size: Size, dst: Reg, base: Reg, k: u32) {
        if let Ok(off) = i16::try_from(k) {
            self.push(Insn::Load {
                size,
                signed: false,
                dst,
                base,
                off,
            });
        } else {
            self.push(alu32(AluOp::Mov, TMP, imm(k)));
            self.push(alu64(AluOp::Add, TMP, Source::Reg(base)));
            self.push(Insn::Load {
                size,
                signed: false,
                dst,
                base: TMP,
                off: 0,
            });
        }
        let bits = match size {
            Size::H => SwapBits::B16,
            Size::W => SwapBits::B32,
            _ => return,
        };
        self.push(Insn::End {
            kind: Endian::Be,
            bits,
            dst,
        });
    }

    fn prologue(&mut self) {
        let init = self.plan.init;
        if init & CELL_A != 0 {
            self.push(alu32(AluOp::Mov, A, Source::Imm(0)));
        }
        if init & CELL_X != 0 {
            self.push(alu32(AluOp::Mov, X, Source::Imm(0)));
        }
        let mut k = 0;
        while k < 16 {
            let want = |k: u32| init & cell_m(k) != 0;
            match self.plan.homes[k as usize] {
                Home::Reg(r) if want(k) => self.push(alu32(AluOp::Mov, r, Source::Imm(0))),
                Home::Stack(off) if want(k) => {
                    let pair = k % 2 == 0
                        && want(k + 1)
                        && matches!(self.plan.homes[k as usize + 1], Home::Stack(_));
                    self.push(Insn::Store {
                        size: if pair { Size::DW } else { Size::W },
                        base: Reg::R10,
                        off,
                        src: Source::Imm(0),
                    });
                    if pair {
                        k += 1;
                    }
                }
                _ => {}
            }
            k += 1;
        }
    }

    /// Emits instruction `i` in state `s`; returns the state after it.
    fn insn(&mut self, i: usize, mut s: KnownOnEntry, next: Target) -> KnownOnEntry {
        let plan = self.plan;
        match plan.ops[i] {
            Op::RetK(k) => {
                self.push(alu32(AluOp::Mov, A, imm(k)));
                self.push(Insn::Exit);
            }
            Op::RetA => self.push(Insn::Exit),
            Op::Imm { x, k } => {
                self.push(alu32(AluOp::Mov, if x { X } else { A }, imm(k)));
                if x {
                    s.new_x(i, k != 0);
                }
            }
            Op::Len { x } => {
                self.push(alu32(AluOp::Mov, if x { X } else { A }, Source::Reg(WIRE)));
                if x {
                    s.new_x(i, false);
                }
            }
            Op::LdMem { x, k } => {
                let dst = if x { X } else { A };
                match plan.homes[k as usize] {
                    Home::Reg(r) => self.push(alu32(AluOp::Mov, dst, Source::Reg(r))),
                    Home::Stack(off) => self.push(Insn::Load {
                        size: Size::W,
                        signed: false,
                        dst,
                        base: Reg::R10,
                        off,
                    }),
                }
                if x {
                    s.new_x(i, false);
                }
            }
            Op::St { x, k } => {
                let src = if x { X } else { A };
                match plan.homes[k as usize] {
                    Home::Reg(r) => self.push(alu32(AluOp::Mov, r, Source::Reg(src))),
                    Home::Stack(off) => self.push(Insn::Store {
                        size: Size::W,
                        base: Reg::R10,
                        off,
                        src: Source::Reg(src),
                    }),
                }
            }
            Op::Abs { size, k } => {
                let end = k as u64 + size.bytes() as u64;
                if s.checked_len < end {
                    let t = plan.ant_fixed[i];
                    self.len_test(t);
                    s.checked_len = t;
                }
                self.load(size, A, PKT, k);
            }
            Op::Msh { k } => {
                if s.checked_len < k as u64 + 1 {
                    let t = plan.ant_fixed[i];
                    self.len_test(t);
                    s.checked_len = t;
                }
                self.load(Size::B, X, PKT, k);
                self.push(alu32(AluOp::And, X, Source::Imm(0xf)));
                self.push(alu32(AluOp::Lsh, X, Source::Imm(2)));
                s.new_x(i, false);
            }
            Op::Ind { size, k } => {
                let end = k as u64 + size.bytes() as u64;
                if s.x_def.is_none() || s.x_checked_len < end {
                    if s.x_def.is_none() {
                        // Paths with different X meet here: give X one symbol again.
                        self.push(alu32(AluOp::Mov, X, Source::Reg(X)));
                        s.new_x(plan.ops.len() + i, false);
                    }
                    let t = plan.ant_ind[i];
                    self.push(alu64(AluOp::Mov, TMP, Source::Reg(X)));
                    if t <= i32::MAX as u64 {
                        self.push(alu64(AluOp::Add, TMP, Source::Imm(t as i32)));
                    } else {
                        self.push(alu32(AluOp::Mov, XP, imm(t as u32)));
                        self.push(alu64(AluOp::Add, TMP, Source::Reg(XP)));
                        s.x_pointer = false;
                    }
                    self.jcc(
                        Width::W64,
                        JmpCond::Gt,
                        TMP,
                        Source::Reg(CAPLEN),
                        Target::Ret0,
                    );
                    s.x_checked_len = t;
                }
                if !s.x_pointer {
                    self.push(alu64(AluOp::Mov, XP, Source::Reg(PKT)));
                    self.push(alu64(AluOp::Add, XP, Source::Reg(X)));
                    s.x_pointer = true;
                }
                self.load(size, A, XP, k);
            }
            Op::Tax => {
                self.push(alu32(AluOp::Mov, X, Source::Reg(A)));
                s.new_x(i, false);
            }
            Op::Txa => self.push(alu32(AluOp::Mov, A, Source::Reg(X))),
            Op::Neg => self.push(Insn::Neg {
                width: Width::W32,
                dst: A,
            }),
            Op::Alu { op: o, x, k } => {
                let aop = match o {
                    op::ADD => AluOp::Add,
                    op::SUB => AluOp::Sub,
                    op::MUL => AluOp::Mul,
                    op::DIV => AluOp::Div,
                    op::MOD => AluOp::Mod,
                    op::OR => AluOp::Or,
                    op::AND => AluOp::And,
                    op::XOR => AluOp::Xor,
                    op::LSH => AluOp::Lsh,
                    _ => AluOp::Rsh,
                };
                let shift = matches!(aop, AluOp::Lsh | AluOp::Rsh);
                if !x {
                    if shift && k >= 32 {
                        self.push(alu32(AluOp::Mov, A, Source::Imm(0)));
                    } else {
                        self.push(alu32(aop, A, imm(k)));
                    }
                } else if shift {
                    // eBPF masks the count; cBPF (ours) gives 0 from 32 on.
                    self.push(alu32(aop, A, Source::Reg(X)));
                    self.push(Insn::Jump {
                        width: Width::W64,
                        cond: JmpCond::Lt,
                        dst: X,
                        src: Source::Imm(32),
                        off: 1,
                    });
                    self.push(alu32(AluOp::Mov, A, Source::Imm(0)));
                } else {
                    if matches!(aop, AluOp::Div | AluOp::Mod) && !s.x_nonzero {
                        self.jcc(Width::W64, JmpCond::Eq, X, Source::Imm(0), Target::Ret0);
                        s.x_nonzero = true;
                    }
                    self.push(alu32(aop, A, Source::Reg(X)));
                }
            }
            Op::Ja(t) => {
                let t = self.target(t);
                if t != next {
                    self.ja(t);
                }
            }
            Op::Jcc { op: o, x, k, t, f } => {
                let cond = match o {
                    op::JEQ => JmpCond::Eq,
                    op::JGT => JmpCond::Gt,
                    op::JGE => JmpCond::Ge,
                    _ => JmpCond::Set,
                };
                let (width, src) = if x {
                    (Width::W64, Source::Reg(X))
                } else if cond == JmpCond::Set || k <= i32::MAX as u32 {
                    // A is zero-extended: a 64-bit compare with a non-negative constant (or a
                    // bit test with the sign-extended one) is the 32-bit one.
                    (Width::W64, imm(k))
                } else {
                    (Width::W32, imm(k))
                };
                let (tt, ft) = (self.target(t), self.target(f));
                if tt == ft {
                    if tt != next {
                        self.ja(tt);
                    }
                } else if tt == next {
                    if cond == JmpCond::Set {
                        self.push(Insn::Jump {
                            width,
                            cond,
                            dst: A,
                            src,
                            off: 1,
                        });
                        self.ja(ft);
                    } else {
                        self.jcc(width, cond.negate(), A, src, ft);
                    }
                } else {
                    self.jcc(width, cond, A, src, tt);
                    if ft != next {
                        self.ja(ft);
                    }
                }
            }
        }
        s
    }

    /// Emits the whole program; the builder holds it, labels not yet resolved.
    fn run(mut self) -> ProgramBuilder<Option<usize>> {
        let plan = self.plan;
        let n = plan.ops.len();
        self.prologue();
        let mut states: Vec<Option<KnownOnEntry>> = vec![None; n];
        if n > 0 && plan.live[0] {
            states[0] = Some(KnownOnEntry {
                checked_len: 0,
                x_def: Some(2 * n),
                x_checked_len: 0,
                x_pointer: false,
                x_nonzero: false,
            });
        }
        let live: Vec<usize> = (0..n).filter(|&i| plan.live[i]).collect();
        for (p, &i) in live.iter().enumerate() {
            let s = states[i].expect("a live instruction is reached");
            self.code.bind(self.labels[i]);
            self.code.set_origin(Some(i));
            let next = live.get(p + 1).map_or(Target::Ret0, |&j| Target::Insn(j));
            let out = self.insn(i, s, next);
            let (succ, count) = successors(&plan.ops[i], i);
            for &t in &succ[..count] {
                if let Target::Insn(t) = self.target(t) {
                    states[t] = Some(states[t].map_or(out, |e| e.meet(out)));
                }
            }
            // The last instruction may fall through into the shared exit.
            if next == Target::Ret0 && !matches!(plan.ops[i], Op::RetK(_) | Op::RetA) {
                self.ret0_used = true;
            }
        }
        self.code.set_origin(None);
        if self.ret0_used || live.is_empty() {
            self.code.bind(self.ret0);
            self.push(alu32(AluOp::Mov, A, Source::Imm(0)));
            self.push(Insn::Exit);
        }
        self.code
    }
}

/// The eBPF and, per eBPF instruction, the classic instruction it came from. Jumps have 16-bit
/// offsets; when one does not fit, every jump to a label takes its `gotol` form
/// ([`FarJumps::AlwaysGotol`]), which `far` asks for from the start.
fn translate_mapped(
    prog: &[SockFilter],
    far: bool,
) -> Result<(Program, Vec<Option<usize>>), CbpfError> {
    validate(prog)?;
    let plan = Plan::new(prog);
    let mut code = Emitter::new(&plan).run();
    if far {
        code.set_far_jumps(FarJumps::AlwaysGotol);
    }
    let built = match code.finish() {
        Err(BuildError::TooFar { .. }) if !far => {
            code.set_far_jumps(FarJumps::AlwaysGotol);
            code.finish()
        }
        built => built,
    };
    built.map_err(|e| CbpfError::whole(format!("translator bug: {e}")))
}

/// Validates `prog` ([`validate`]) and translates it to eBPF of program type `filter`.
pub fn translate(prog: &[SockFilter]) -> Result<Program, CbpfError> {
    translate_mapped(prog, false).map(|(p, _)| p)
}

/// [`translate`], then verifies the result as a `filter`. A rejection is a translator bug; it is
/// reported as an error naming the classic instruction whose code the verifier refused.
pub fn compile(prog: &[SockFilter]) -> Result<(Program, Verified), CbpfError> {
    let (p, origin) = translate_mapped(prog, false)?;
    let conf = Config::new(ProgramType::Filter);
    match udf_verifier::verify(&p, &conf) {
        Ok(facts) => Ok((p, facts)),
        Err(rej) => Err(CbpfError {
            index: origin.get(rej.index).copied().flatten(),
            line: None,
            message: format!(
                "translator bug: the verifier rejects eBPF instruction {} made for it: {rej}",
                rej.index
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use udf_bytecode::CheckConfig;
    use udf_runtime::{Context, NoHelpers, RunOptions, Vm};

    /// 32-bit jumps (for programs too long for 16-bit offsets, which the classic instruction
    /// limit makes hard to reach) verify and compute the same as 16-bit ones.
    #[test]
    fn far_jumps_verify_and_agree() {
        let s = SockFilter::stmt;
        let j = SockFilter::jump;
        let progs: [&[SockFilter]; 2] = [
            // ldh [12]; jset #0x100 (true falls through); jeq x; ldb [x + 1]; div x; ret a
            &[
                s(0x28, 12),
                j(0x45, 0x100, 0, 5),
                s(0xb1, 14),
                j(0x1d, 0, 3, 0),
                s(0x50, 1),
                s(0x3c, 0),
                s(0x16, 0),
                s(0x06, 7),
            ],
            // ld [2]; jgt #0x80000000; jge #3; ja; ret
            &[
                s(0x20, 2),
                j(0x25, 0x8000_0000, 1, 0),
                j(0x35, 3, 1, 2),
                s(0x05, 1),
                s(0x06, 9),
                s(0x16, 0),
            ],
        ];
        let mut vm = Vm::new();
        for prog in progs {
            let (near, _) = translate_mapped(prog, false).unwrap();
            let (far, _) = translate_mapped(prog, true).unwrap();
            assert!(far.insns().iter().any(|i| matches!(i, Insn::Ja32 { .. })));
            udf_verifier::verify(&far, &Config::new(ProgramType::Filter)).unwrap();
            let cfg = CheckConfig::for_type(ProgramType::Filter);
            let (cn, cf) = (
                udf_runtime::prepare(&near, &cfg).unwrap(),
                udf_runtime::prepare(&far, &cfg).unwrap(),
            );
            for len in 0..24u8 {
                for fill in [0u8, 1, 2, 0x81, 0xff] {
                    let pkt: Vec<u8> = (0..len).map(|b| b.wrapping_mul(fill)).collect();
                    let opts = RunOptions {
                        budget: 1000,
                        r3: 30,
                    };
                    let mut run = |c| {
                        vm.run(c, Context::ReadOnly(&pkt), &mut NoHelpers, &opts)
                            .unwrap()
                            .r0
                    };
                    let want = super::super::interpret(prog, &pkt, 30) as u64;
                    assert_eq!((run(&cn), run(&cf)), (want, want));
                }
            }
        }
    }
}
