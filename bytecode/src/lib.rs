//! udfkit's instruction set: eBPF as RFC 9669 defines it (v1 to v4), as typed data.
//!
//! - [`Insn`] and its parts: every instruction, nothing else ([`insn`]);
//! - [`Program::decode`] / [`Program::encode`]: total decoding with located errors, and its exact
//!   inverse ([`decode`], [`encode`], [`program`]);
//! - [`assemble`] / [`disassemble`]: the text dialect of the bpf_conformance suite ([`asm`],
//!   [`disasm`]);
//! - [`ProgramType`]: the program types of the ABI as data ([`progtype`]);
//! - [`ProgramBuilder`]: instructions, labels and stack slots laid out into a [`Program`], far
//!   jumps handled one way ([`builder`]);
//! - [`check()`]: the checks every engine makes before a run ([`check`](mod@check)).
//!
//! `no_std` + `alloc`: a kernel links this crate.
#![no_std]

extern crate alloc;

pub mod asm;
pub mod builder;
pub mod check;
pub mod decode;
pub mod disasm;
pub mod encode;
pub mod generate;
pub mod insn;
pub mod opcode;
pub mod program;
pub mod progtype;
pub mod semantics;
pub mod shapes;

pub use asm::{AsmError, AsmErrorKind, AsmErrors, assemble, assemble_all, assemble_with_lines};
pub use builder::{BuildError, FarJumps, Label, ProgramBuilder};
pub use check::{CheckConfig, CheckError, CheckErrorKind, check};
pub use decode::{DecodeError, DecodeErrorKind};
pub use disasm::disassemble;
pub use insn::{
    AluOp, AtomicOp, Endian, Insn, JmpCond, LddwPseudo, Reg, Size, Source, SwapBits, Width,
};
pub use program::Program;
pub use progtype::{ProgramType, TypeInfo};
