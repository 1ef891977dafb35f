//! The reference interpreter: libpcap's `bpf_filter` (`pcap/bpf_filter.c`), the meaning the
//! translation must keep.
//!
//! A, X and the 16 scratch words start at 0; packet loads are big-endian and a load reaching past
//! the captured bytes makes the filter return 0 (`X + k` is not wrapped: an indirect load is in
//! bounds when `X + k + size <= caplen` over the integers); `ld #len` and `ldx #len` give the
//! length on the wire; arithmetic is on 32 bits, wrapping; division or modulo by a zero X returns
//! 0; a shift by 32 or more gives 0 (libpcap does so for shifts by X; for shifts by a constant C
//! leaves it undefined and `bpf_validate` does not refuse them, so this is our choice).
//!
//! Total: it never panics and always stops, whatever the input. For input [`super::validate`]
//! refuses, an unknown opcode, a missing scratch word or running off the end returns 0 (where
//! libpcap aborts or reads out of bounds). A `ja` whose offset wraps around jumps backwards, as
//! in libpcap's own unoptimised `protochain` code (which `validate` refuses); such a run returns
//! 0 after [`MAX_STEPS`] instructions.

use super::{SockFilter, op};

/// How many instructions a run may execute (only programs with backward jumps come near it).
pub const MAX_STEPS: u32 = 1 << 24;

/// Runs `prog` on the captured bytes `pkt` of a packet `wirelen` bytes long on the wire and
/// returns its result (0 = drop, otherwise the number of bytes to keep).
pub fn interpret(prog: &[SockFilter], pkt: &[u8], wirelen: u32) -> u32 {
    let buflen = pkt.len().min(u32::MAX as usize) as u64;
    let load = |at: u64, size: u64| -> Option<u32> {
        if at + size > buflen {
            return None;
        }
        let at = at as usize;
        Some(match size {
            1 => pkt[at] as u32,
            2 => u16::from_be_bytes([pkt[at], pkt[at + 1]]) as u32,
            _ => u32::from_be_bytes([pkt[at], pkt[at + 1], pkt[at + 2], pkt[at + 3]]),
        })
    };
    let shift = |a: u32, by: u32, left: bool| match (by >= 32, left) {
        (true, _) => 0,
        (false, true) => a << by,
        (false, false) => a >> by,
    };
    let (mut a, mut x) = (0u32, 0u32);
    let mut mem = [0u32; op::MEMWORDS as usize];
    let mut pc = 0usize;
    for _ in 0..MAX_STEPS {
        let Some(f) = prog.get(pc) else { return 0 };
        let k = f.k;
        let mut next = pc + 1;
        let size = match f.code & 0x18 {
            op::H => 2,
            op::B => 1,
            _ => 4,
        };
        match f.code {
            // ret
            0x06 => return k,
            0x16 => return a,
            // ld / ldx
            0x20 | 0x28 | 0x30 => match load(k as u64, size) {
                Some(v) => a = v,
                None => return 0,
            },
            0x40 | 0x48 | 0x50 => match load(x as u64 + k as u64, size) {
                Some(v) => a = v,
                None => return 0,
            },
            0xb1 => match load(k as u64, 1) {
                Some(v) => x = (v & 0xf) << 2,
                None => return 0,
            },
            0x00 => a = k,
            0x01 => x = k,
            0x80 => a = wirelen,
            0x81 => x = wirelen,
            0x60 | 0x61 | 0x02 | 0x03 => {
                let Some(m) = mem.get_mut(k as usize) else {
                    return 0;
                };
                match f.code {
                    0x60 => a = *m,
                    0x61 => x = *m,
                    0x02 => *m = a,
                    _ => *m = x,
                }
            }
            0x07 => x = a,
            0x87 => a = x,
            // jumps
            // 32-bit offsets wrap, so libpcap's backward `ja` lands where it does there.
            0x05 => next = (pc as u32).wrapping_add(1).wrapping_add(k) as usize,
            c if c & 0x07 == op::JMP && c & !0xf8 == op::JMP => {
                let b = if c & op::X != 0 { x } else { k };
                let taken = match c & 0xf0 {
                    op::JEQ => a == b,
                    op::JGT => a > b,
                    op::JGE => a >= b,
                    op::JSET => a & b != 0,
                    _ => return 0,
                };
                next += if taken { f.jt } else { f.jf } as usize;
            }
            // alu
            0x84 => a = a.wrapping_neg(),
            c if c & 0x07 == op::ALU && c & !0xf8 == op::ALU => {
                let b = if c & op::X != 0 { x } else { k };
                a = match c & 0xf0 {
                    op::ADD => a.wrapping_add(b),
                    op::SUB => a.wrapping_sub(b),
                    op::MUL => a.wrapping_mul(b),
                    op::DIV => match a.checked_div(b) {
                        Some(q) => q,
                        None => return 0,
                    },
                    op::MOD => match a.checked_rem(b) {
                        Some(r) => r,
                        None => return 0,
                    },
                    op::OR => a | b,
                    op::AND => a & b,
                    op::XOR => a ^ b,
                    op::LSH => shift(a, b, true),
                    op::RSH => shift(a, b, false),
                    _ => return 0,
                };
            }
            _ => return 0,
        }
        pc = next;
    }
    0
}
