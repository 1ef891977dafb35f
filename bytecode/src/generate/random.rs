//! Unstructured generation: any instruction form, programs whose jumps land on instructions,
//! byte strings that are mostly instruction-shaped.

use alloc::vec::Vec;

use super::*;

use crate::opcode::RawInsn;
use crate::program::Program;

/// Every atomic operation, in the order the generators pick from.
pub(super) const ATOMIC_OPS: [AtomicOp; 6] =
    [AtomicOp::Add, AtomicOp::Or, AtomicOp::And, AtomicOp::Xor, AtomicOp::Xchg, AtomicOp::CmpXchg];

fn reg(rng: &mut Rng) -> Reg {
    Reg::new(rng.below(11) as u8).unwrap_or(Reg::R0)
}

fn size(rng: &mut Rng) -> Size {
    rng.pick(&[Size::B, Size::H, Size::W, Size::DW])
}

pub(super) fn width(rng: &mut Rng) -> Width {
    rng.pick(&[Width::W32, Width::W64])
}

fn source(rng: &mut Rng) -> Source {
    if rng.chance(1, 2) { Source::Reg(reg(rng)) } else { Source::Imm(rng.imm32()) }
}

/// One random instruction; branch offsets are placeholders fixed by [`program`].
pub fn insn(rng: &mut Rng) -> Insn {
    match rng.below(19) {
        0..=3 => {
            let op = rng.pick(&AluOp::ALL);
            let mut w = width(rng);
            let mut src = source(rng);
            if op.is_movsx() {
                src = Source::Reg(reg(rng));
                if op == AluOp::MovSx32 {
                    w = Width::W64;
                }
            }
            Insn::Alu { width: w, op, dst: reg(rng), src }
        }
        4 => Insn::Neg { width: width(rng), dst: reg(rng) },
        5 => Insn::End {
            kind: rng.pick(&[Endian::Le, Endian::Be, Endian::Swap]),
            bits: rng.pick(&[SwapBits::B16, SwapBits::B32, SwapBits::B64]),
            dst: reg(rng),
        },
        6 => Insn::LoadImm64 { dst: reg(rng), imm: rng.next_u64() },
        7 => {
            let kind = rng.pick(&LddwPseudo::ALL);
            let next_imm = if kind.uses_next_imm() { rng.imm32() } else { 0 };
            Insn::LoadPseudo { dst: reg(rng), kind, imm: rng.imm32(), next_imm }
        }
        8 | 9 => {
            let s = size(rng);
            let signed = s != Size::DW && rng.chance(1, 3);
            Insn::Load { size: s, signed, dst: reg(rng), base: reg(rng), off: rng.imm32() as i16 }
        }
        10 | 11 => Insn::Store {
            size: size(rng),
            base: reg(rng),
            off: rng.imm32() as i16,
            src: source(rng),
        },
        12 => {
            let op = rng.pick(&ATOMIC_OPS);
            Insn::Atomic {
                size: rng.pick(&[Size::W, Size::DW]),
                op,
                fetch: op.always_fetches() || rng.chance(1, 2),
                base: reg(rng),
                off: rng.imm32() as i16,
                src: reg(rng),
            }
        }
        13 => {
            let s = rng.pick(&[Size::B, Size::H, Size::W]);
            if rng.chance(1, 2) {
                Insn::LoadAbs { size: s, imm: rng.imm32() }
            } else {
                Insn::LoadInd { size: s, src: reg(rng), imm: rng.imm32() }
            }
        }
        14 | 15 => Insn::Jump {
            width: width(rng),
            cond: rng.pick(&JmpCond::ALL),
            dst: reg(rng),
            src: source(rng),
            off: 0,
        },
        16 => {
            if rng.chance(1, 2) {
                Insn::Ja { off: 0 }
            } else {
                Insn::Ja32 { imm: 0 }
            }
        }
        17 => match rng.below(4) {
            0 => Insn::Call { imm: rng.imm32() },
            1 => Insn::CallLocal { imm: 0 },
            2 => Insn::CallKfunc { imm: rng.imm32() },
            _ => Insn::CallReg { reg: reg(rng) },
        },
        _ => Insn::Exit,
    }
}

/// A random program of `1..=max_len` instructions whose jumps and calls land on instructions
/// (forwards and backwards), ending in `exit`.
pub fn program(rng: &mut Rng, max_len: usize) -> Program {
    let n = 1 + rng.below(max_len.max(1) as u64) as usize;
    let mut insns: Vec<Insn> = (0..n - 1).map(|_| insn(rng)).collect();
    insns.push(Insn::Exit);
    fix_branches(rng, &mut insns);
    Program::from_insns(insns).expect("fix_branches points every branch at an instruction start")
}

/// Points every branch of `insns` at a random instruction start.
pub fn fix_branches(rng: &mut Rng, insns: &mut [Insn]) {
    let mut pcs = Vec::with_capacity(insns.len());
    let mut pc = 0i64;
    for i in insns.iter() {
        pcs.push(pc);
        pc += i.slots() as i64;
    }
    for i in 0..insns.len() {
        let target = pcs[rng.below(pcs.len() as u64) as usize];
        let off = target - (pcs[i] + 1);
        match &mut insns[i] {
            Insn::Ja { off: o } | Insn::Jump { off: o, .. } => *o = off as i16,
            Insn::Ja32 { imm } | Insn::CallLocal { imm } => *imm = off as i32,
            _ => {}
        }
    }
}

/// Byte strings that are mostly instruction-shaped: known opcodes, registers mostly in range,
/// reserved fields mostly zero.
pub fn raw_slots(rng: &mut Rng, max_slots: usize) -> Vec<u8> {
    let n = rng.below(max_slots as u64 + 1) as usize;
    let mut out = Vec::with_capacity(n * 8);
    for _ in 0..n {
        let raw = if rng.chance(3, 4) {
            let (a, b) = crate::encode::encode_insn(&insn(rng));
            let mut a = if rng.chance(1, 2) { b.unwrap_or(a) } else { a };
            // Perturb one field now and then.
            match rng.below(8) {
                0 => a.dst = rng.below(16) as u8,
                1 => a.src = rng.below(16) as u8,
                2 => a.off = rng.imm32() as i16,
                3 => a.imm = rng.imm32(),
                4 => a.opcode = rng.next_u64() as u8,
                _ => {}
            }
            a
        } else {
            RawInsn::from_word(rng.next_u64())
        };
        out.extend_from_slice(&raw.to_bytes());
    }
    if rng.chance(1, 8) {
        out.truncate(out.len().saturating_sub(rng.below(8) as usize));
    }
    out
}
