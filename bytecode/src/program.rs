//! [`Program`]: a decoded instruction sequence whose jumps are known to land on instructions.

use alloc::vec::Vec;

use crate::decode::{DecodeError, DecodeErrorKind, decode_insn};
use crate::encode::{encode_insn, encode_into};
use crate::insn::Insn;
use crate::opcode::RawInsn;

/// A program: instructions in order, each with its slot index (`pc`).
///
/// Invariants, established by [`Program::decode`] and [`Program::from_insns`]: at least one
/// instruction; every jump and local call lands on the first slot of an instruction of the
/// program. (Falling through past the end, unreachable code and register use are checked later,
/// by [`crate::check`] and the verifier.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    insns: Vec<Insn>,
    /// `pcs[i]` is the slot of `insns[i]`; one extra entry holds the slot count.
    pcs: Vec<usize>,
    /// For each slot, the index of the instruction starting there, or `usize::MAX` for the
    /// second half of an `lddw`.
    at_slot: Vec<usize>,
}

/// Refers to "no instruction starts at this slot".
const MID: usize = usize::MAX;

impl Program {
    /// Builds a program from instructions, checking its jump targets.
    pub fn from_insns(insns: Vec<Insn>) -> Result<Program, DecodeError> {
        if insns.is_empty() {
            return Err(DecodeError { pc: 0, kind: DecodeErrorKind::Empty });
        }
        let mut pcs = Vec::with_capacity(insns.len() + 1);
        let mut at_slot = Vec::with_capacity(insns.len() + 1);
        let mut pc = 0usize;
        for (i, insn) in insns.iter().enumerate() {
            pcs.push(pc);
            at_slot.push(i);
            if insn.slots() == 2 {
                at_slot.push(MID);
            }
            pc += insn.slots();
        }
        pcs.push(pc);
        let prog = Program { insns, pcs, at_slot };
        for (i, insn) in prog.insns.iter().enumerate() {
            if let Some(off) = insn.branch_offset() {
                let from = prog.pcs[i];
                let target = from as i64 + 1 + off;
                prog.slot_index(target).map_err(|kind| DecodeError { pc: from, kind })?;
            }
        }
        Ok(prog)
    }

    /// Decodes little-endian bytes. Total: any input gives a program or a located error.
    pub fn decode(bytes: &[u8]) -> Result<Program, DecodeError> {
        let slots = bytes.len() / 8;
        if !bytes.len().is_multiple_of(8) {
            return Err(DecodeError {
                pc: slots,
                kind: DecodeErrorKind::Truncated { trailing: bytes.len() % 8 },
            });
        }
        let raw: Vec<RawInsn> = bytes
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                RawInsn::from_bytes(b)
            })
            .collect();
        Program::from_raw(&raw)
    }

    /// Decodes raw slots.
    pub fn from_raw(raw: &[RawInsn]) -> Result<Program, DecodeError> {
        let mut insns = Vec::with_capacity(raw.len());
        let mut pc = 0;
        while pc < raw.len() {
            let insn = decode_insn(pc, raw[pc], raw.get(pc + 1).copied())?;
            pc += insn.slots();
            insns.push(insn);
        }
        Program::from_insns(insns)
    }

    /// The little-endian bytes; `Program::decode(&p.encode()) == Ok(p)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.slot_count() * 8);
        for insn in &self.insns {
            encode_into(insn, &mut out);
        }
        out
    }

    /// The raw slots.
    pub fn to_raw(&self) -> Vec<RawInsn> {
        let mut out = Vec::with_capacity(self.slot_count());
        for insn in &self.insns {
            let (a, b) = encode_insn(insn);
            out.push(a);
            out.extend(b);
        }
        out
    }

    /// The instructions in order.
    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }

    /// Number of instructions (an `lddw` counts once).
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Never true: a program has at least one instruction.
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// Number of 8-byte slots.
    pub fn slot_count(&self) -> usize {
        self.pcs[self.insns.len()]
    }

    /// Slot of instruction `index`.
    pub fn pc(&self, index: usize) -> usize {
        self.pcs[index]
    }

    /// Index of the instruction starting at slot `pc`, if one does.
    pub fn index_at(&self, pc: usize) -> Option<usize> {
        self.at_slot.get(pc).copied().filter(|&i| i != MID)
    }

    /// The instruction starting at slot `pc`.
    pub fn at(&self, pc: usize) -> Option<&Insn> {
        self.index_at(pc).map(|i| &self.insns[i])
    }

    /// Iterates over `(pc, instruction)`.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &Insn)> {
        self.pcs.iter().copied().zip(self.insns.iter())
    }

    /// Slot that the jump or local call at slot `pc` lands on (`None` for other instructions).
    pub fn branch_target(&self, pc: usize) -> Option<usize> {
        let off = self.at(pc)?.branch_offset()?;
        Some((pc as i64 + 1 + off) as usize)
    }

    fn slot_index(&self, target: i64) -> Result<usize, DecodeErrorKind> {
        let len = self.slot_count();
        if target < 0 || target >= len as i64 {
            return Err(DecodeErrorKind::JumpOutOfRange { target, len });
        }
        let t = target as usize;
        match self.at_slot[t] {
            MID => Err(DecodeErrorKind::JumpIntoLddw { target: t }),
            i => Ok(i),
        }
    }
}
