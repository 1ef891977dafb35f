//! Decoding: raw slots to [`Insn`], total over all byte strings.
//!
//! Every field the encoding does not use must be zero (RFC 9669 "unused fields"), every
//! register number must be 0-10, every immediate that selects an operation must name one.
//! A refusal is a [`DecodeError`] naming the slot (`pc`) and the fault.

use core::fmt;

use crate::insn::*;
use crate::opcode::{self, RawInsn, SRC_X, atomic, class, mode};

/// A field of the raw instruction, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// Destination register field.
    Dst,
    /// Source register field.
    Src,
    /// Offset field.
    Off,
    /// Immediate field.
    Imm,
    /// Opcode of an `lddw` second slot.
    Opcode,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Dst => "dst",
            Field::Src => "src",
            Field::Off => "offset",
            Field::Imm => "imm",
            Field::Opcode => "opcode",
        })
    }
}

/// Why a program was refused by the decoder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// No instructions at all.
    Empty,
    /// The byte length is not a multiple of 8.
    Truncated {
        /// Bytes left over in the last slot.
        trailing: usize,
    },
    /// No instruction has this opcode.
    BadOpcode {
        /// The opcode byte.
        opcode: u8,
    },
    /// A register field names r11-r15.
    BadRegister {
        /// Which field.
        field: Field,
        /// Its value.
        value: u8,
    },
    /// A field this instruction does not use is not zero.
    ReservedNotZero {
        /// Which field.
        field: Field,
        /// Its value.
        value: i64,
    },
    /// A field holds a value the instruction does not define.
    BadField {
        /// Which field.
        field: Field,
        /// Its value.
        value: i64,
        /// What is allowed.
        expected: &'static str,
    },
    /// An `lddw` is the last slot, so its second half is missing.
    LddwMissingSecondHalf,
    /// A jump or local call lands outside the program.
    JumpOutOfRange {
        /// The target slot (may be negative).
        target: i64,
        /// Number of slots in the program.
        len: usize,
    },
    /// A jump or local call lands on the second slot of an `lddw`.
    JumpIntoLddw {
        /// The target slot.
        target: usize,
    },
}

/// A decoding failure at slot `pc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Index of the 8-byte slot where decoding failed.
    pub pc: usize,
    /// What is wrong with it.
    pub kind: DecodeErrorKind,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DecodeErrorKind::*;
        match &self.kind {
            Empty => write!(f, "the program is empty: it has no instructions"),
            Truncated { trailing } => write!(
                f,
                "instruction {}: truncated: {trailing} trailing byte(s), instructions are 8 bytes",
                self.pc
            ),
            BadOpcode { opcode } => {
                write!(f, "instruction {}: invalid opcode {opcode:#04x}", self.pc)
            }
            BadRegister { field, value } => {
                write!(
                    f,
                    "instruction {}: invalid register r{value} in the {field} field (registers are r0 to r10)",
                    self.pc
                )
            }
            ReservedNotZero { field, value } => write!(
                f,
                "instruction {}: reserved field {field} must be zero for this instruction, found {value:#x}",
                self.pc
            ),
            BadField { field, value, expected } => write!(
                f,
                "instruction {}: invalid {field} {value:#x} for this instruction (expected {expected})",
                self.pc
            ),
            LddwMissingSecondHalf => {
                write!(
                    f,
                    "instruction {}: lddw is missing its second half (it needs two slots)",
                    self.pc
                )
            }
            JumpOutOfRange { target, len } => write!(
                f,
                "instruction {}: jump target {target} is out of range (the program has {len} slots)",
                self.pc
            ),
            JumpIntoLddw { target } => write!(
                f,
                "instruction {}: jump target {target} is the second half of an lddw",
                self.pc
            ),
        }
    }
}

impl core::error::Error for DecodeError {}

struct Ctx {
    pc: usize,
    raw: RawInsn,
}

impl Ctx {
    fn err(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError { pc: self.pc, kind }
    }
    fn reg(&self, field: Field) -> Result<Reg, DecodeError> {
        let value = if field == Field::Dst { self.raw.dst } else { self.raw.src };
        Reg::new(value).ok_or_else(|| self.err(DecodeErrorKind::BadRegister { field, value }))
    }
    fn zero(&self, field: Field) -> Result<(), DecodeError> {
        let value: i64 = match field {
            Field::Dst => self.raw.dst.into(),
            Field::Src => self.raw.src.into(),
            Field::Off => self.raw.off.into(),
            Field::Imm => self.raw.imm.into(),
            Field::Opcode => self.raw.opcode.into(),
        };
        if value == 0 {
            Ok(())
        } else {
            Err(self.err(DecodeErrorKind::ReservedNotZero { field, value }))
        }
    }
    fn zeros(&self, fields: &[Field]) -> Result<(), DecodeError> {
        fields.iter().try_for_each(|&f| self.zero(f))
    }
    fn bad_opcode(&self) -> DecodeError {
        self.err(DecodeErrorKind::BadOpcode { opcode: self.raw.opcode })
    }
    fn bad(&self, field: Field, value: i64, expected: &'static str) -> DecodeError {
        self.err(DecodeErrorKind::BadField { field, value, expected })
    }
    /// Register or immediate operand, checking that the unused one is zero.
    fn source(&self) -> Result<Source, DecodeError> {
        if self.raw.opcode & SRC_X != 0 {
            self.zero(Field::Imm)?;
            Ok(Source::Reg(self.reg(Field::Src)?))
        } else {
            self.zero(Field::Src)?;
            Ok(Source::Imm(self.raw.imm))
        }
    }
}

fn size_of(opcode: u8) -> Size {
    match opcode & 0x18 {
        opcode::size::W => Size::W,
        opcode::size::H => Size::H,
        opcode::size::B => Size::B,
        _ => Size::DW,
    }
}

/// Decodes the instruction starting at slot `pc`. `next` is the following slot, if any,
/// consumed only by the two-slot loads.
pub fn decode_insn(pc: usize, raw: RawInsn, next: Option<RawInsn>) -> Result<Insn, DecodeError> {
    use Field::*;
    let c = Ctx { pc, raw };
    let op = raw.opcode;
    match op & 0x07 {
        class::ALU | class::ALU64 => {
            let width = if op & 0x07 == class::ALU64 { Width::W64 } else { Width::W32 };
            let dst = c.reg(Dst)?;
            match op & 0xf0 {
                0x80 => {
                    if op & SRC_X != 0 {
                        return Err(c.bad_opcode());
                    }
                    c.zeros(&[Src, Off, Imm])?;
                    Ok(Insn::Neg { width, dst })
                }
                0xd0 => {
                    let kind = match (width, op & SRC_X != 0) {
                        (Width::W32, false) => Endian::Le,
                        (Width::W32, true) => Endian::Be,
                        (Width::W64, false) => Endian::Swap,
                        (Width::W64, true) => return Err(c.bad_opcode()),
                    };
                    c.zeros(&[Src, Off])?;
                    let bits = SwapBits::from_bits(raw.imm.into())
                        .ok_or_else(|| c.bad(Imm, raw.imm.into(), "16, 32 or 64"))?;
                    Ok(Insn::End { kind, bits, dst })
                }
                0xe0 | 0xf0 => Err(c.bad_opcode()),
                code => {
                    let src = c.source()?;
                    let is_reg = matches!(src, Source::Reg(_));
                    let off = raw.off;
                    let aluop = match (code, off) {
                        (0x00, 0) => AluOp::Add,
                        (0x10, 0) => AluOp::Sub,
                        (0x20, 0) => AluOp::Mul,
                        (0x30, 0) => AluOp::Div,
                        (0x30, 1) => AluOp::SDiv,
                        (0x40, 0) => AluOp::Or,
                        (0x50, 0) => AluOp::And,
                        (0x60, 0) => AluOp::Lsh,
                        (0x70, 0) => AluOp::Rsh,
                        (0x90, 0) => AluOp::Mod,
                        (0x90, 1) => AluOp::SMod,
                        (0xa0, 0) => AluOp::Xor,
                        (0xb0, 0) => AluOp::Mov,
                        (0xb0, 8) if is_reg => AluOp::MovSx8,
                        (0xb0, 16) if is_reg => AluOp::MovSx16,
                        (0xb0, 32) if is_reg && width == Width::W64 => AluOp::MovSx32,
                        (0xc0, 0) => AluOp::Arsh,
                        (0x30 | 0x90, _) => {
                            return Err(c.bad(Off, off.into(), "0 (unsigned) or 1 (signed)"));
                        }
                        (0xb0, _) if is_reg => {
                            let expected =
                                if width == Width::W64 { "0, 8, 16 or 32" } else { "0, 8 or 16" };
                            return Err(c.bad(Off, off.into(), expected));
                        }
                        _ => {
                            return Err(c.err(DecodeErrorKind::ReservedNotZero {
                                field: Off,
                                value: off.into(),
                            }));
                        }
                    };
                    Ok(Insn::Alu { width, op: aluop, dst, src })
                }
            }
        }
        class::JMP | class::JMP32 => {
            let wide = op & 0x07 == class::JMP;
            match (op, wide) {
                (opcode::JA, true) => {
                    c.zeros(&[Dst, Src, Imm])?;
                    Ok(Insn::Ja { off: raw.off })
                }
                (opcode::JA32, false) => {
                    c.zeros(&[Dst, Src, Off])?;
                    Ok(Insn::Ja32 { imm: raw.imm })
                }
                (opcode::EXIT, true) => {
                    c.zeros(&[Dst, Src, Off, Imm])?;
                    Ok(Insn::Exit)
                }
                (opcode::CALL, true) => {
                    c.zeros(&[Dst, Off])?;
                    match raw.src {
                        0 => Ok(Insn::Call { imm: raw.imm }),
                        1 => Ok(Insn::CallLocal { imm: raw.imm }),
                        2 => Ok(Insn::CallKfunc { imm: raw.imm }),
                        s => Err(c.bad(Src, s.into(), "0 (helper), 1 (local) or 2 (kfunc)")),
                    }
                }
                (opcode::CALLX, true) => {
                    c.zeros(&[Src, Off, Imm])?;
                    Ok(Insn::CallReg { reg: c.reg(Dst)? })
                }
                _ => {
                    let cond = match op & 0xf0 {
                        0x10 => JmpCond::Eq,
                        0x20 => JmpCond::Gt,
                        0x30 => JmpCond::Ge,
                        0x40 => JmpCond::Set,
                        0x50 => JmpCond::Ne,
                        0x60 => JmpCond::Sgt,
                        0x70 => JmpCond::Sge,
                        0xa0 => JmpCond::Lt,
                        0xb0 => JmpCond::Le,
                        0xc0 => JmpCond::Slt,
                        0xd0 => JmpCond::Sle,
                        _ => return Err(c.bad_opcode()),
                    };
                    let width = if wide { Width::W64 } else { Width::W32 };
                    let dst = c.reg(Dst)?;
                    let src = c.source()?;
                    Ok(Insn::Jump { width, cond, dst, src, off: raw.off })
                }
            }
        }
        class::LDX => {
            let size = size_of(op);
            let signed = match op & 0xe0 {
                mode::MEM => false,
                mode::MEMSX if size != Size::DW => true,
                _ => return Err(c.bad_opcode()),
            };
            c.zero(Imm)?;
            Ok(Insn::Load { size, signed, dst: c.reg(Dst)?, base: c.reg(Src)?, off: raw.off })
        }
        class::ST => {
            if op & 0xe0 != mode::MEM {
                return Err(c.bad_opcode());
            }
            c.zero(Src)?;
            Ok(Insn::Store {
                size: size_of(op),
                base: c.reg(Dst)?,
                off: raw.off,
                src: Source::Imm(raw.imm),
            })
        }
        class::STX => {
            let size = size_of(op);
            match op & 0xe0 {
                mode::MEM => {
                    c.zero(Imm)?;
                    Ok(Insn::Store {
                        size,
                        base: c.reg(Dst)?,
                        off: raw.off,
                        src: Source::Reg(c.reg(Src)?),
                    })
                }
                mode::ATOMIC if matches!(size, Size::W | Size::DW) => {
                    let fetch = raw.imm & atomic::FETCH != 0;
                    let aop = match raw.imm {
                        atomic::XCHG => AtomicOp::Xchg,
                        atomic::CMPXCHG => AtomicOp::CmpXchg,
                        i => match i & !atomic::FETCH {
                            atomic::ADD => AtomicOp::Add,
                            atomic::OR => AtomicOp::Or,
                            atomic::AND => AtomicOp::And,
                            atomic::XOR => AtomicOp::Xor,
                            _ => {
                                return Err(c.bad(
                                    Imm,
                                    i.into(),
                                    "an atomic operation: add/or/and/xor (optionally | fetch), xchg, cmpxchg",
                                ));
                            }
                        },
                    };
                    Ok(Insn::Atomic {
                        size,
                        op: aop,
                        fetch,
                        base: c.reg(Dst)?,
                        off: raw.off,
                        src: c.reg(Src)?,
                    })
                }
                _ => Err(c.bad_opcode()),
            }
        }
        _ => {
            // class::LD
            let size = size_of(op);
            match op & 0xe0 {
                mode::IMM if size == Size::DW => {
                    c.zero(Off)?;
                    let dst = c.reg(Dst)?;
                    let Some(hi) = next else {
                        return Err(c.err(DecodeErrorKind::LddwMissingSecondHalf));
                    };
                    let c2 = Ctx { pc: pc + 1, raw: hi };
                    c2.zeros(&[Opcode, Dst, Src, Off])?;
                    if raw.src == 0 {
                        let imm = (raw.imm as u32 as u64) | ((hi.imm as u32 as u64) << 32);
                        return Ok(Insn::LoadImm64 { dst, imm });
                    }
                    let kind = LddwPseudo::from_src(raw.src)
                        .ok_or_else(|| c.bad(Src, raw.src.into(), "0 to 6"))?;
                    if !kind.uses_next_imm() {
                        c2.zero(Imm)?;
                    }
                    Ok(Insn::LoadPseudo { dst, kind, imm: raw.imm, next_imm: hi.imm })
                }
                mode::ABS if size != Size::DW => {
                    c.zeros(&[Dst, Src, Off])?;
                    Ok(Insn::LoadAbs { size, imm: raw.imm })
                }
                mode::IND if size != Size::DW => {
                    c.zeros(&[Dst, Off])?;
                    Ok(Insn::LoadInd { size, src: c.reg(Src)?, imm: raw.imm })
                }
                _ => Err(c.bad_opcode()),
            }
        }
    }
}
