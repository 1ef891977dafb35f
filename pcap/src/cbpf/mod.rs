//! Classic BPF (`struct sock_filter` programs, as tcpdump and libpcap make them): the instruction
//! type and its opcode fields, the importers (`tcpdump -dd` text and the raw array), libpcap's
//! validity rules, a reference interpreter with libpcap's `bpf_filter` semantics, the `tcpdump -d`
//! listing, and the translation to verified eBPF.
//!
//! Semantics (libpcap's `bpf_filter`): A and X are 32-bit and start at 0; the 16 scratch words
//! start at 0; a packet load past the captured bytes makes the filter return 0; division or
//! modulo by a zero X makes the filter return 0; `ld #len` is the length on the wire.

/// One classic BPF instruction, `struct sock_filter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SockFilter {
    /// Opcode: class | size | mode, or class | op | source.
    pub code: u16,
    /// Jump offset when the condition holds.
    pub jt: u8,
    /// Jump offset when it does not.
    pub jf: u8,
    /// The constant operand.
    pub k: u32,
}

impl SockFilter {
    /// A non-jump instruction.
    pub const fn stmt(code: u16, k: u32) -> SockFilter {
        SockFilter { code, jt: 0, jf: 0, k }
    }
    /// A conditional jump.
    pub const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
        SockFilter { code, jt, jf, k }
    }
}

/// Opcode fields (`<pcap/bpf.h>`).
#[allow(missing_docs)]
pub mod op {
    // classes
    pub const LD: u16 = 0x00;
    pub const LDX: u16 = 0x01;
    pub const ST: u16 = 0x02;
    pub const STX: u16 = 0x03;
    pub const ALU: u16 = 0x04;
    pub const JMP: u16 = 0x05;
    pub const RET: u16 = 0x06;
    pub const MISC: u16 = 0x07;
    // sizes
    pub const W: u16 = 0x00;
    pub const H: u16 = 0x08;
    pub const B: u16 = 0x10;
    // modes
    pub const IMM: u16 = 0x00;
    pub const ABS: u16 = 0x20;
    pub const IND: u16 = 0x40;
    pub const MEM: u16 = 0x60;
    pub const LEN: u16 = 0x80;
    pub const MSH: u16 = 0xa0;
    // alu ops
    pub const ADD: u16 = 0x00;
    pub const SUB: u16 = 0x10;
    pub const MUL: u16 = 0x20;
    pub const DIV: u16 = 0x30;
    pub const OR: u16 = 0x40;
    pub const AND: u16 = 0x50;
    pub const LSH: u16 = 0x60;
    pub const RSH: u16 = 0x70;
    pub const NEG: u16 = 0x80;
    pub const MOD: u16 = 0x90;
    pub const XOR: u16 = 0xa0;
    // jump ops
    pub const JA: u16 = 0x00;
    pub const JEQ: u16 = 0x10;
    pub const JGT: u16 = 0x20;
    pub const JGE: u16 = 0x30;
    pub const JSET: u16 = 0x40;
    // sources
    pub const K: u16 = 0x00;
    pub const X: u16 = 0x08;
    // ret sources
    pub const A: u16 = 0x10;
    // misc ops
    pub const TAX: u16 = 0x00;
    pub const TXA: u16 = 0x80;
    /// Scratch memory words.
    pub const MEMWORDS: u32 = 16;
}

mod disasm;
mod interp;
mod parse;
mod translate;
mod validate;

pub use disasm::{disasm, image};
pub use interp::interpret;
pub use parse::{CbpfError, parse_any, parse_dd, parse_raw, to_raw};
pub use translate::{compile, translate};
pub use validate::{MAXINSNS, known_opcode, validate};
