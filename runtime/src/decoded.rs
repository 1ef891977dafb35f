//! The interpreter's decode-once form: one flat, fixed-size [`Op`] per slot, its [`SpecialisedOp`]
//! fully specialised (operation, width, register or immediate source), immediates already
//! extended, jump targets already absolute. The dispatch loop does one `match` per instruction
//! and no decoding.

use alloc::vec::Vec;

use udf_bytecode::Program;
use udf_bytecode::insn::*;
use udf_bytecode::semantics::extend_imm;

/// Specialised operation. `K` = immediate source, `X` = register source; `32` = 32-bit.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SpecialisedOp {
    AddK,
    AddX,
    SubK,
    SubX,
    MulK,
    MulX,
    DivK,
    DivX,
    SDivK,
    SDivX,
    OrK,
    OrX,
    AndK,
    AndX,
    LshK,
    LshX,
    RshK,
    RshX,
    ModK,
    ModX,
    SModK,
    SModX,
    XorK,
    XorX,
    MovK,
    MovX,
    ArshK,
    ArshX,
    MovSx8,
    MovSx16,
    MovSx32,
    Neg,
    Add32K,
    Add32X,
    Sub32K,
    Sub32X,
    Mul32K,
    Mul32X,
    Div32K,
    Div32X,
    SDiv32K,
    SDiv32X,
    Or32K,
    Or32X,
    And32K,
    And32X,
    Lsh32K,
    Lsh32X,
    Rsh32K,
    Rsh32X,
    Mod32K,
    Mod32X,
    SMod32K,
    SMod32X,
    Xor32K,
    Xor32X,
    Mov32K,
    Mov32X,
    Arsh32K,
    Arsh32X,
    MovSx8To32,
    MovSx16To32,
    Neg32,
    Le16,
    Le32,
    Nop,
    Swap16,
    Swap32,
    Swap64,
    Lddw,
    Ldx8,
    Ldx16,
    Ldx32,
    Ldx64,
    Ldxs8,
    Ldxs16,
    Ldxs32,
    St8,
    St16,
    St32,
    St64,
    Stx8,
    Stx16,
    Stx32,
    Stx64,
    Atomic32,
    Atomic64,
    LdAbs8,
    LdAbs16,
    LdAbs32,
    LdInd8,
    LdInd16,
    LdInd32,
    Ja,
    JeqK,
    JeqX,
    JgtK,
    JgtX,
    JgeK,
    JgeX,
    JsetK,
    JsetX,
    JneK,
    JneX,
    JsgtK,
    JsgtX,
    JsgeK,
    JsgeX,
    JltK,
    JltX,
    JleK,
    JleX,
    JsltK,
    JsltX,
    JsleK,
    JsleX,
    Jeq32K,
    Jeq32X,
    Jgt32K,
    Jgt32X,
    Jge32K,
    Jge32X,
    Jset32K,
    Jset32X,
    Jne32K,
    Jne32X,
    Jsgt32K,
    Jsgt32X,
    Jsge32K,
    Jsge32X,
    Jlt32K,
    Jlt32X,
    Jle32K,
    Jle32X,
    Jslt32K,
    Jslt32X,
    Jsle32K,
    Jsle32X,
    Call,
    CallX,
    CallLocal,
    Exit,
    /// An instruction udfkit does not run; `imm` indexes [`UNSUPPORTED`].
    Unsupported,
    /// The second slot of an `lddw` (never reached: jumps into it are refused by the decoder).
    Hole,
    /// Sentinel after the last slot.
    FellOff,
}

/// Messages of [`SpecialisedOp::Unsupported`].
pub const UNSUPPORTED: [&str; 2] = [
    "lddw of a map, variable or code address (udfkit has no maps)",
    "kfunc calls (udfkit has no BTF)",
];

/// One decoded slot (16 bytes: the dispatch loop reads one per instruction).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    /// What to do.
    pub kind: SpecialisedOp,
    /// Destination (or base, for stores) register.
    pub dst: u8,
    /// Source register.
    pub src: u8,
    /// Absolute jump or call target, or the signed memory offset (as `i32` bits).
    pub aux: u32,
    /// Immediate, extended as the operation needs (atomics: operation code).
    pub imm: u64,
}

/// Atomic operation codes carried in [`Op::imm`]: the operation in the low byte, and
/// [`ATOMIC_FETCH`] when the old value is returned.
pub const ATOMIC_FETCH: u64 = 0x100;

/// A program in decode-once form, ready for [`crate::Vm::run`].
#[derive(Clone, Debug)]
pub struct Compiled {
    pub(crate) ops: Vec<Op>,
    /// For each slot, the instructions from it to the end of its straight-line stretch
    /// (through the next jump, local call or exit, or the end sentinel), counted once each.
    /// The interpreter charges the budget a stretch at a time.
    pub(crate) stretch: Vec<u32>,
}

fn alu_kind(op: AluOp, width: Width, reg: bool) -> SpecialisedOp {
    use SpecialisedOp::*;
    let table: [SpecialisedOp; 4] = match op {
        AluOp::Add => [AddK, AddX, Add32K, Add32X],
        AluOp::Sub => [SubK, SubX, Sub32K, Sub32X],
        AluOp::Mul => [MulK, MulX, Mul32K, Mul32X],
        AluOp::Div => [DivK, DivX, Div32K, Div32X],
        AluOp::SDiv => [SDivK, SDivX, SDiv32K, SDiv32X],
        AluOp::Or => [OrK, OrX, Or32K, Or32X],
        AluOp::And => [AndK, AndX, And32K, And32X],
        AluOp::Lsh => [LshK, LshX, Lsh32K, Lsh32X],
        AluOp::Rsh => [RshK, RshX, Rsh32K, Rsh32X],
        AluOp::Mod => [ModK, ModX, Mod32K, Mod32X],
        AluOp::SMod => [SModK, SModX, SMod32K, SMod32X],
        AluOp::Xor => [XorK, XorX, Xor32K, Xor32X],
        AluOp::Mov => [MovK, MovX, Mov32K, Mov32X],
        AluOp::Arsh => [ArshK, ArshX, Arsh32K, Arsh32X],
        // Register form only (the decoder guarantees it).
        AluOp::MovSx8 => [MovSx8, MovSx8, MovSx8To32, MovSx8To32],
        AluOp::MovSx16 => [MovSx16, MovSx16, MovSx16To32, MovSx16To32],
        AluOp::MovSx32 => [MovSx32, MovSx32, Mov32X, Mov32X],
    };
    table[usize::from(width == Width::W32) * 2 + usize::from(reg)]
}

fn jmp_kind(cond: JmpCond, width: Width, reg: bool) -> SpecialisedOp {
    use SpecialisedOp::*;
    let table: [SpecialisedOp; 4] = match cond {
        JmpCond::Eq => [JeqK, JeqX, Jeq32K, Jeq32X],
        JmpCond::Gt => [JgtK, JgtX, Jgt32K, Jgt32X],
        JmpCond::Ge => [JgeK, JgeX, Jge32K, Jge32X],
        JmpCond::Set => [JsetK, JsetX, Jset32K, Jset32X],
        JmpCond::Ne => [JneK, JneX, Jne32K, Jne32X],
        JmpCond::Sgt => [JsgtK, JsgtX, Jsgt32K, Jsgt32X],
        JmpCond::Sge => [JsgeK, JsgeX, Jsge32K, Jsge32X],
        JmpCond::Lt => [JltK, JltX, Jlt32K, Jlt32X],
        JmpCond::Le => [JleK, JleX, Jle32K, Jle32X],
        JmpCond::Slt => [JsltK, JsltX, Jslt32K, Jslt32X],
        JmpCond::Sle => [JsleK, JsleX, Jsle32K, Jsle32X],
    };
    table[usize::from(width == Width::W32) * 2 + usize::from(reg)]
}

fn sized(size: Size, kinds: [SpecialisedOp; 4]) -> SpecialisedOp {
    kinds[match size {
        Size::B => 0,
        Size::H => 1,
        Size::W => 2,
        Size::DW => 3,
    }]
}

impl Compiled {
    /// Decodes `prog` once into the dispatch form.
    pub fn new(prog: &Program) -> Compiled {
        use SpecialisedOp::*;
        let blank = Op { kind: Hole, dst: 0, src: 0, aux: 0, imm: 0 };
        let mut ops = alloc::vec![blank; prog.slot_count() + 1];
        for (pc, insn) in prog.iter() {
            let target = prog.branch_target(pc).unwrap_or(0) as u32;
            let mut op = Op { aux: target, ..blank };
            let operand = match *insn {
                Insn::Alu { src, .. } | Insn::Jump { src, .. } | Insn::Store { src, .. } => src,
                _ => Source::Imm(0),
            };
            let (reg, imm) = match operand {
                Source::Reg(r) => (Some(r), 0),
                Source::Imm(i) => (None, i),
            };
            op.src = reg.map_or(0, Reg::num);
            op.kind = match *insn {
                Insn::Alu { width, op: aop, dst, .. } => {
                    op.dst = dst.num();
                    op.imm = extend_imm(width, imm);
                    alu_kind(aop, width, reg.is_some())
                }
                Insn::Neg { width, dst } => {
                    op.dst = dst.num();
                    if width == Width::W64 { Neg } else { Neg32 }
                }
                Insn::End { kind, bits, dst } => {
                    op.dst = dst.num();
                    match (kind, bits) {
                        (Endian::Le, SwapBits::B16) => Le16,
                        (Endian::Le, SwapBits::B32) => Le32,
                        (Endian::Le, SwapBits::B64) => Nop,
                        (_, SwapBits::B16) => Swap16,
                        (_, SwapBits::B32) => Swap32,
                        (_, SwapBits::B64) => Swap64,
                    }
                }
                Insn::LoadImm64 { dst, imm } => {
                    op.dst = dst.num();
                    op.imm = imm;
                    Lddw
                }
                Insn::LoadPseudo { .. } => {
                    op.imm = 0;
                    Unsupported
                }
                Insn::Load { size, signed, dst, base, off } => {
                    op.dst = dst.num();
                    op.src = base.num();
                    op.aux = i32::from(off) as u32;
                    if signed {
                        sized(size, [Ldxs8, Ldxs16, Ldxs32, Ldx64])
                    } else {
                        sized(size, [Ldx8, Ldx16, Ldx32, Ldx64])
                    }
                }
                Insn::Store { size, base, off, .. } => {
                    op.dst = base.num();
                    op.aux = i32::from(off) as u32;
                    op.imm = extend_imm(Width::W64, imm);
                    if reg.is_some() {
                        sized(size, [Stx8, Stx16, Stx32, Stx64])
                    } else {
                        sized(size, [St8, St16, St32, St64])
                    }
                }
                Insn::Atomic { size, op: aop, fetch, base, off, src } => {
                    op.dst = base.num();
                    op.src = src.num();
                    op.aux = i32::from(off) as u32;
                    op.imm = aop as u64 | if fetch { ATOMIC_FETCH } else { 0 };
                    if size == Size::W { Atomic32 } else { Atomic64 }
                }
                Insn::LoadAbs { size, imm } => {
                    op.imm = u64::from(imm as u32);
                    sized(size, [LdAbs8, LdAbs16, LdAbs32, LdAbs32])
                }
                Insn::LoadInd { size, src, imm } => {
                    op.src = src.num();
                    op.imm = u64::from(imm as u32);
                    sized(size, [LdInd8, LdInd16, LdInd32, LdInd32])
                }
                Insn::Ja { .. } | Insn::Ja32 { .. } => Ja,
                Insn::Jump { width, cond, dst, .. } => {
                    op.dst = dst.num();
                    op.imm = extend_imm(width, imm);
                    jmp_kind(cond, width, reg.is_some())
                }
                Insn::Call { imm } => {
                    op.imm = u64::from(imm as u32);
                    Call
                }
                Insn::CallReg { reg } => {
                    op.dst = reg.num();
                    CallX
                }
                Insn::CallLocal { .. } => CallLocal,
                Insn::CallKfunc { .. } => {
                    op.imm = 1;
                    Unsupported
                }
                Insn::Exit => Exit,
            };
            ops[pc] = op;
        }
        let last = ops.len() - 1;
        ops[last].kind = FellOff;
        let mut stretch = alloc::vec![1u32; ops.len()];
        for (i, insn) in prog.insns().iter().enumerate().rev() {
            let pc = prog.pc(i);
            stretch[pc] = if insn.transfers_control() {
                1
            } else {
                stretch[pc + insn.slots()].saturating_add(1)
            };
        }
        Compiled { ops, stretch }
    }

    /// Number of slots.
    pub fn slot_count(&self) -> usize {
        self.ops.len() - 1
    }
}
