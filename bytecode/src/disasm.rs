//! The disassembler: [`Insn`] to the text dialect of [`crate::asm`], one line per instruction.
//! Jump targets are printed as relative offsets (`+3`), so the text assembles back to the
//! same bytes.

use alloc::string::String;
use core::fmt::{self, Write};

use crate::insn::*;
use crate::program::Program;

/// Formats a 32-bit immediate: small values and negatives in decimal, others in hex.
struct Imm(i64);

impl fmt::Display for Imm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 || self.0 <= 1024 {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{:#x}", self.0)
        }
    }
}

struct Mem(Reg, i16);

impl fmt::Display for Mem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            0 => write!(f, "[{}]", self.0),
            o if o > 0 => write!(f, "[{}+{}]", self.0, o),
            o => write!(f, "[{}{}]", self.0, o),
        }
    }
}

struct Rel(i64);

impl fmt::Display for Rel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 >= 0 { write!(f, "+{}", self.0) } else { write!(f, "{}", self.0) }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Source::Reg(r) => write!(f, "{r}"),
            Source::Imm(i) => write!(f, "{}", Imm(i.into())),
        }
    }
}

fn suffix(w: Width) -> &'static str {
    match w {
        Width::W32 => "32",
        Width::W64 => "",
    }
}

impl fmt::Display for Insn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Insn::Alu { width, op, dst, src } if op.is_movsx() => {
                let to = if width == Width::W64 { 64 } else { 32 };
                write!(f, "{}{to} {dst}, {src}", op.mnemonic())
            }
            Insn::Alu { width, op, dst, src } => {
                write!(f, "{}{} {dst}, {src}", op.mnemonic(), suffix(width))
            }
            Insn::Neg { width, dst } => write!(f, "neg{} {dst}", suffix(width)),
            Insn::End { kind, bits, dst } => {
                let m = match kind {
                    Endian::Le => "le",
                    Endian::Be => "be",
                    Endian::Swap => "bswap",
                };
                write!(f, "{m}{} {dst}", bits.bits())
            }
            Insn::LoadImm64 { dst, imm } => {
                if imm <= 1024 {
                    write!(f, "lddw {dst}, {imm}")
                } else {
                    write!(f, "lddw {dst}, {imm:#x}")
                }
            }
            Insn::LoadPseudo { dst, kind, imm, next_imm } => {
                write!(f, "lddw {dst}, {} {}", kind.keyword(), Imm(imm.into()))?;
                if kind.uses_next_imm() {
                    write!(f, ", {}", Imm(next_imm.into()))?;
                }
                Ok(())
            }
            Insn::Load { size, signed, dst, base, off } => {
                let s = if signed { "s" } else { "" };
                write!(f, "ldx{s}{} {dst}, {}", size.suffix(), Mem(base, off))
            }
            Insn::Store { size, base, off, src: Source::Reg(r) } => {
                write!(f, "stx{} {}, {r}", size.suffix(), Mem(base, off))
            }
            Insn::Store { size, base, off, src: Source::Imm(i) } => {
                write!(f, "st{} {}, {}", size.suffix(), Mem(base, off), Imm(i.into()))
            }
            Insn::Atomic { size, op, fetch, base, off, src } => {
                let fetch = if fetch && !op.always_fetches() { "fetch " } else { "" };
                let w = if size == Size::W { "32" } else { "" };
                write!(f, "lock {fetch}{}{w} {}, {src}", op.mnemonic(), Mem(base, off))
            }
            Insn::LoadAbs { size, imm } => write!(f, "ldabs{} {}", size.suffix(), Imm(imm.into())),
            Insn::LoadInd { size, src, imm } => {
                write!(f, "ldind{} {src}, {}", size.suffix(), Imm(imm.into()))
            }
            Insn::Ja { off } => write!(f, "ja {}", Rel(off.into())),
            Insn::Ja32 { imm } => write!(f, "ja32 {}", Rel(imm.into())),
            Insn::Jump { width, cond, dst, src, off } => {
                write!(f, "{}{} {dst}, {src}, {}", cond.mnemonic(), suffix(width), Rel(off.into()))
            }
            Insn::Call { imm } => write!(f, "call {}", Imm(imm.into())),
            Insn::CallLocal { imm } => write!(f, "call local {}", Rel(imm.into())),
            Insn::CallKfunc { imm } => write!(f, "call kfunc {}", Imm(imm.into())),
            Insn::CallReg { reg } => write!(f, "call {reg}"),
            Insn::Exit => f.write_str("exit"),
        }
    }
}

/// The whole program as text, one instruction per line.
pub fn disassemble(prog: &Program) -> String {
    let mut out = String::new();
    for insn in prog.insns() {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{insn}");
    }
    out
}
