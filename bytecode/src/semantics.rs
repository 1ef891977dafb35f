//! The arithmetic of RFC 9669 as pure functions: the one definition every engine and the
//! verifier's constant folding share.
//!
//! 32-bit operations use the low 32 bits of each operand and zero-extend the result. Shift
//! amounts are masked to the width. Unsigned division by zero gives 0 and modulo by zero leaves
//! the dividend; signed division of the minimum by -1 gives the minimum and the remainder 0;
//! the sign of a signed remainder follows the dividend. Nothing traps.

use crate::insn::{AluOp, Endian, SwapBits, Width};

/// `a OP b` for a binary ALU operation. For immediates, pass the operand as the engine
/// extends it: sign-extended to 64 bits for 64-bit operations, the 32-bit pattern for 32-bit
/// ones (only the low 32 bits are used).
#[inline(always)]
pub const fn alu(op: AluOp, width: Width, a: u64, b: u64) -> u64 {
    match width {
        Width::W64 => alu64(op, a, b),
        Width::W32 => alu32(op, a as u32, b as u32) as u64,
    }
}

/// One body for both widths: `$u`/`$i` the unsigned and signed types of the width. Shift
/// amounts are masked to the width; `movsx` sign-extends from the narrower type (`MovSx32` at
/// 32 bits, not encodable, is a plain move for totality).
macro_rules! alu_at_width {
    ($name:ident, $u:ty, $i:ty) => {
        #[inline(always)]
        const fn $name(op: AluOp, a: $u, b: $u) -> $u {
            const MASK: $u = <$u>::BITS as $u - 1;
            match op {
                AluOp::Add => a.wrapping_add(b),
                AluOp::Sub => a.wrapping_sub(b),
                AluOp::Mul => a.wrapping_mul(b),
                AluOp::Div => match a.checked_div(b) {
                    Some(q) => q,
                    None => 0,
                },
                AluOp::SDiv => {
                    if b == 0 {
                        0
                    } else {
                        (a as $i).wrapping_div(b as $i) as $u
                    }
                }
                AluOp::Or => a | b,
                AluOp::And => a & b,
                AluOp::Lsh => a << (b & MASK),
                AluOp::Rsh => a >> (b & MASK),
                AluOp::Mod => {
                    if b == 0 {
                        a
                    } else {
                        a % b
                    }
                }
                AluOp::SMod => {
                    if b == 0 {
                        a
                    } else {
                        (a as $i).wrapping_rem(b as $i) as $u
                    }
                }
                AluOp::Xor => a ^ b,
                AluOp::Mov => b,
                AluOp::MovSx8 => b as i8 as $i as $u,
                AluOp::MovSx16 => b as i16 as $i as $u,
                AluOp::MovSx32 => b as i32 as $i as $u,
                AluOp::Arsh => ((a as $i) >> (b & MASK)) as $u,
            }
        }
    };
}

alu_at_width!(alu64, u64, i64);
alu_at_width!(alu32, u32, i32);

/// `-a` at the given width.
#[inline(always)]
pub const fn neg(width: Width, a: u64) -> u64 {
    match width {
        Width::W64 => a.wrapping_neg(),
        Width::W32 => (a as u32).wrapping_neg() as u64,
    }
}

/// Byte-order conversion on a little-endian machine (udfkit's memory is little-endian on
/// every target): `le` truncates, `be` and `bswap` swap the low `bits` bits, zero-extended.
#[inline(always)]
pub const fn end(kind: Endian, bits: SwapBits, a: u64) -> u64 {
    match (kind, bits) {
        (Endian::Le, SwapBits::B16) => a as u16 as u64,
        (Endian::Le, SwapBits::B32) => a as u32 as u64,
        (Endian::Le, SwapBits::B64) => a,
        (_, SwapBits::B16) => (a as u16).swap_bytes() as u64,
        (_, SwapBits::B32) => (a as u32).swap_bytes() as u64,
        (_, SwapBits::B64) => a.swap_bytes(),
    }
}

/// The packet offset of a legacy load (`LD_ABS` with `x = 0`, `LD_IND` with `x` the index
/// register's value): `(x + imm) mod 2^32`, as classic BPF computes it in 32 bits (the index is
/// its register's low 32 bits, the immediate unsigned). A load of `size` bytes at this offset
/// is in bounds when `offset + size <= len`; otherwise the program returns 0.
#[inline(always)]
pub const fn packet_offset(x: u64, imm: i32) -> u64 {
    (x as u32).wrapping_add(imm as u32) as u64
}

/// How an instruction's 32-bit immediate is extended for a 64-bit or 32-bit operation.
#[inline(always)]
pub const fn extend_imm(width: Width, imm: i32) -> u64 {
    match width {
        Width::W64 => imm as i64 as u64,
        Width::W32 => imm as u32 as u64,
    }
}
