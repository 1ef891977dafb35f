//! Instruction constructors and the per-function builder: instructions with labels, linked
//! into one program.

use alloc::vec::Vec;

use super::*;
use crate::builder::{BuildError, Label as ProgramLabel, ProgramBuilder};

pub(super) const MAX_LEN_CAP: usize = 4000;
/// Main is at depth 0; callees at 1 and 2 (three frames at most).
pub(super) const MAX_CALL_DEPTH: usize = 2;
/// Instructions kept back for a flaw planted at the end.
pub(super) const FORCED_FLAW_ROOM: usize = 20;

pub(super) const REGS: [Reg; 11] = [
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

pub(super) fn bit(r: Reg) -> u16 {
    1 << r.num()
}

pub(super) fn size_of(bytes: u32) -> Size {
    match bytes {
        1 => Size::B,
        2 => Size::H,
        4 => Size::W,
        _ => Size::DW,
    }
}

pub(super) fn log2(bytes: u32) -> i32 {
    bytes.trailing_zeros() as i32
}

pub(super) fn alu(width: Width, op: AluOp, dst: Reg, src: Source) -> Insn {
    Insn::Alu { width, op, dst, src }
}

pub(super) fn alu64(op: AluOp, dst: Reg, src: Source) -> Insn {
    alu(Width::W64, op, dst, src)
}

pub(super) fn mov(dst: Reg, src: Reg) -> Insn {
    alu64(AluOp::Mov, dst, Source::Reg(src))
}

pub(super) fn movi(dst: Reg, imm: i32) -> Insn {
    alu64(AluOp::Mov, dst, Source::Imm(imm))
}

pub(super) fn addi(dst: Reg, imm: i32) -> Insn {
    alu64(AluOp::Add, dst, Source::Imm(imm))
}

pub(super) fn jmp(width: Width, cond: JmpCond, dst: Reg, src: Source) -> Insn {
    Insn::Jump { width, cond, dst, src, off: 0 }
}

pub(super) fn ldx(size: Size, dst: Reg, base: Reg, off: i32) -> Insn {
    load(size, false, dst, base, off)
}

/// `dst = *(size *)(base + off)`, sign-extended if `signed`.
pub(super) fn load(size: Size, signed: bool, dst: Reg, base: Reg, off: i32) -> Insn {
    Insn::Load { size, signed, dst, base, off: off as i16 }
}

pub(super) fn st(size: Size, base: Reg, off: i32, src: Source) -> Insn {
    Insn::Store { size, base, off: off as i16, src }
}

// --- Builder: instructions with labels, linked into one program ------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Label(usize);

#[derive(Clone, Copy, Debug)]
pub(super) enum Fix {
    None,
    Label(Label),
    Func(usize),
}

/// One function's instructions; branch targets are labels, call targets function ids.
#[derive(Default)]
pub(super) struct Builder {
    pub(super) insns: Vec<Insn>,
    pub(super) fix: Vec<Fix>,
    /// Instruction index each label is bound to (`usize::MAX`: not bound).
    pub(super) labels: Vec<usize>,
}

impl Builder {
    pub(super) fn len(&self) -> usize {
        self.insns.len()
    }
    pub(super) fn label(&mut self) -> Label {
        self.labels.push(usize::MAX);
        Label(self.labels.len() - 1)
    }
    /// Binds `l` to the next instruction emitted.
    pub(super) fn bind(&mut self, l: Label) {
        self.labels[l.0] = self.insns.len();
    }
    pub(super) fn here(&mut self) -> Label {
        let l = self.label();
        self.bind(l);
        l
    }
    pub(super) fn emit(&mut self, i: Insn) {
        self.insns.push(i);
        self.fix.push(Fix::None);
    }
    pub(super) fn branch(&mut self, i: Insn, l: Label) {
        self.insns.push(i);
        self.fix.push(Fix::Label(l));
    }
    pub(super) fn call(&mut self, func: usize) {
        self.insns.push(Insn::CallLocal { imm: 0 });
        self.fix.push(Fix::Func(func));
    }
}

/// Lays the functions out in order (function `i` starts at its entry label) and lets the
/// program builder resolve labels and calls to slot offsets.
pub(super) fn link(funcs: Vec<Builder>) -> Result<Program, BuildError> {
    let mut pb = ProgramBuilder::<()>::new();
    let entries: Vec<ProgramLabel> = funcs.iter().map(|_| pb.label()).collect();
    for (fi, b) in funcs.into_iter().enumerate() {
        let Builder { insns, fix, labels } = b;
        // The builder's label for each of this function's, and the labels bound at each
        // instruction.
        let own: Vec<ProgramLabel> = labels.iter().map(|_| pb.label()).collect();
        let mut bound_at: Vec<Vec<ProgramLabel>> = alloc::vec![Vec::new(); insns.len() + 1];
        for (l, &at) in labels.iter().enumerate() {
            if at != usize::MAX {
                bound_at[at].push(own[l]);
            }
        }
        pb.bind(entries[fi]);
        for (i, (insn, fix)) in insns.into_iter().zip(fix).enumerate() {
            for &l in &bound_at[i] {
                pb.bind(l);
            }
            match (fix, insn) {
                (Fix::None, insn) => pb.emit(insn),
                (Fix::Label(l), Insn::Ja { .. } | Insn::Ja32 { .. }) => pb.ja(own[l.0]),
                (Fix::Label(l), Insn::Jump { width, cond, dst, src, .. }) => {
                    pb.jump_if(width, cond, dst, src, own[l.0])
                }
                (Fix::Label(_), insn) => pb.emit(insn),
                (Fix::Func(id), _) => pb.call(entries[id]),
            }
        }
        for &l in &bound_at[bound_at.len() - 1] {
            pb.bind(l);
        }
    }
    pb.finish().map(|(program, _)| program)
}
