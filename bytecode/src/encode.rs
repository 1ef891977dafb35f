//! Encoding: [`Insn`] to its one or two raw slots. The exact inverse of [`crate::decode`].

use crate::insn::*;
use crate::opcode::{self, RawInsn, SRC_X, atomic, class, mode};

fn size_bits(s: Size) -> u8 {
    match s {
        Size::B => opcode::size::B,
        Size::H => opcode::size::H,
        Size::W => opcode::size::W,
        Size::DW => opcode::size::DW,
    }
}

fn alu_class(w: Width) -> u8 {
    match w {
        Width::W32 => class::ALU,
        Width::W64 => class::ALU64,
    }
}

fn jmp_class(w: Width) -> u8 {
    match w {
        Width::W32 => class::JMP32,
        Width::W64 => class::JMP,
    }
}

/// `(operation code << 4, offset)` of an ALU operation.
pub(crate) fn alu_code(op: AluOp) -> (u8, i16) {
    match op {
        AluOp::Add => (0x00, 0),
        AluOp::Sub => (0x10, 0),
        AluOp::Mul => (0x20, 0),
        AluOp::Div => (0x30, 0),
        AluOp::SDiv => (0x30, 1),
        AluOp::Or => (0x40, 0),
        AluOp::And => (0x50, 0),
        AluOp::Lsh => (0x60, 0),
        AluOp::Rsh => (0x70, 0),
        AluOp::Mod => (0x90, 0),
        AluOp::SMod => (0x90, 1),
        AluOp::Xor => (0xa0, 0),
        AluOp::Mov => (0xb0, 0),
        AluOp::MovSx8 => (0xb0, 8),
        AluOp::MovSx16 => (0xb0, 16),
        AluOp::MovSx32 => (0xb0, 32),
        AluOp::Arsh => (0xc0, 0),
    }
}

/// Operation code (`<< 4`) of a jump condition.
pub(crate) fn jmp_code(c: JmpCond) -> u8 {
    match c {
        JmpCond::Eq => 0x10,
        JmpCond::Gt => 0x20,
        JmpCond::Ge => 0x30,
        JmpCond::Set => 0x40,
        JmpCond::Ne => 0x50,
        JmpCond::Sgt => 0x60,
        JmpCond::Sge => 0x70,
        JmpCond::Lt => 0xa0,
        JmpCond::Le => 0xb0,
        JmpCond::Slt => 0xc0,
        JmpCond::Sle => 0xd0,
    }
}

fn source(src: Source) -> (u8, u8, i32) {
    match src {
        Source::Reg(r) => (SRC_X, r.num(), 0),
        Source::Imm(i) => (0, 0, i),
    }
}

/// Encodes one instruction; the second slot is `Some` for the two-slot loads.
pub fn encode_insn(insn: &Insn) -> (RawInsn, Option<RawInsn>) {
    let one = |opcode: u8, dst: u8, src: u8, off: i16, imm: i32| {
        (RawInsn { opcode, dst, src, off, imm }, None)
    };
    match *insn {
        Insn::Alu { width, op, dst, src } => {
            let (code, off) = alu_code(op);
            let (x, s, imm) = source(src);
            one(alu_class(width) | code | x, dst.num(), s, off, imm)
        }
        Insn::Neg { width, dst } => one(alu_class(width) | 0x80, dst.num(), 0, 0, 0),
        Insn::End { kind, bits, dst } => {
            let opcode = match kind {
                Endian::Le => class::ALU | 0xd0,
                Endian::Be => class::ALU | 0xd0 | SRC_X,
                Endian::Swap => class::ALU64 | 0xd0,
            };
            one(opcode, dst.num(), 0, 0, bits.bits() as i32)
        }
        Insn::LoadImm64 { dst, imm } => (
            RawInsn {
                opcode: opcode::LDDW,
                dst: dst.num(),
                src: 0,
                off: 0,
                imm: imm as u32 as i32,
            },
            Some(RawInsn { imm: (imm >> 32) as u32 as i32, ..RawInsn::default() }),
        ),
        Insn::LoadPseudo { dst, kind, imm, next_imm } => (
            RawInsn { opcode: opcode::LDDW, dst: dst.num(), src: kind.src(), off: 0, imm },
            Some(RawInsn { imm: next_imm, ..RawInsn::default() }),
        ),
        Insn::Load { size, signed, dst, base, off } => {
            let m = if signed { mode::MEMSX } else { mode::MEM };
            one(class::LDX | m | size_bits(size), dst.num(), base.num(), off, 0)
        }
        Insn::Store { size, base, off, src } => match src {
            Source::Reg(r) => {
                one(class::STX | mode::MEM | size_bits(size), base.num(), r.num(), off, 0)
            }
            Source::Imm(imm) => {
                one(class::ST | mode::MEM | size_bits(size), base.num(), 0, off, imm)
            }
        },
        Insn::Atomic { size, op, fetch, base, off, src } => {
            let imm = match op {
                AtomicOp::Add => atomic::ADD,
                AtomicOp::Or => atomic::OR,
                AtomicOp::And => atomic::AND,
                AtomicOp::Xor => atomic::XOR,
                AtomicOp::Xchg => atomic::XCHG,
                AtomicOp::CmpXchg => atomic::CMPXCHG,
            } | if fetch { atomic::FETCH } else { 0 };
            one(class::STX | mode::ATOMIC | size_bits(size), base.num(), src.num(), off, imm)
        }
        Insn::LoadAbs { size, imm } => one(class::LD | mode::ABS | size_bits(size), 0, 0, 0, imm),
        Insn::LoadInd { size, src, imm } => {
            one(class::LD | mode::IND | size_bits(size), 0, src.num(), 0, imm)
        }
        Insn::Ja { off } => one(opcode::JA, 0, 0, off, 0),
        Insn::Ja32 { imm } => one(opcode::JA32, 0, 0, 0, imm),
        Insn::Jump { width, cond, dst, src, off } => {
            let (x, s, imm) = source(src);
            one(jmp_class(width) | jmp_code(cond) | x, dst.num(), s, off, imm)
        }
        Insn::Call { imm } => one(opcode::CALL, 0, 0, 0, imm),
        Insn::CallLocal { imm } => one(opcode::CALL, 0, 1, 0, imm),
        Insn::CallKfunc { imm } => one(opcode::CALL, 0, 2, 0, imm),
        Insn::CallReg { reg } => one(opcode::CALLX, reg.num(), 0, 0, 0),
        Insn::Exit => one(opcode::EXIT, 0, 0, 0, 0),
    }
}

/// Appends the little-endian bytes of `insn` to `out`.
pub fn encode_into(insn: &Insn, out: &mut alloc::vec::Vec<u8>) {
    let (a, b) = encode_insn(insn);
    out.extend_from_slice(&a.to_bytes());
    if let Some(b) = b {
        out.extend_from_slice(&b.to_bytes());
    }
}
