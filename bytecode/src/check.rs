//! The checks every engine makes before a run, for verified and unverified programs alike:
//!
//! - no register is read before it is written on some path from the entry (a forward
//!   must-be-written dataflow over the control-flow graph, met by intersection at joins; a
//!   local call passes `r1`-`r5` to its callee, returns `r0`, and leaves `r1`-`r5` unreadable);
//! - `r10` is never written;
//! - no reachable instruction falls through past the last one;
//! - only what udfkit supports: no map/variable/code `lddw`, no kfunc calls, the legacy packet
//!   loads only where the program type allows them, helpers only those listed, if a list is given.
//!
//! Unreachable instructions are not checked here (the verifier reports them). Memory safety and
//! termination are the verifier's business; the interpreter enforces them dynamically.

use core::fmt;

use alloc::collections::VecDeque;
use alloc::vec;

use crate::insn::*;
use crate::program::Program;
use crate::progtype::{HelperSpec, ProgramType};

/// A set of registers as a bit mask (bit `n` = `rn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RegSet(pub u16);

impl RegSet {
    /// No registers.
    pub const EMPTY: RegSet = RegSet(0);
    /// `r1`-`r5`, the argument registers.
    pub const ARGS: RegSet = RegSet(0b11_1110);

    /// The set of the given registers.
    pub fn of(regs: &[Reg]) -> RegSet {
        RegSet(regs.iter().fold(0, |m, r| m | 1 << r.num()))
    }
    /// Whether `r` is in the set.
    pub const fn has(self, r: Reg) -> bool {
        self.0 & (1 << r.num()) != 0
    }
    /// The set with `r` added.
    pub const fn with(self, r: Reg) -> RegSet {
        RegSet(self.0 | 1 << r.num())
    }
    const fn without(self, other: RegSet) -> RegSet {
        RegSet(self.0 & !other.0)
    }
}

/// What a pre-run check refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckErrorKind {
    /// A register is read where some path from the entry has not written it.
    UninitializedRead {
        /// The register.
        reg: Reg,
    },
    /// The frame pointer is written.
    FramePointerWrite,
    /// Execution can continue past the last instruction.
    FallsOffEnd,
    /// An instruction udfkit does not run.
    Unsupported {
        /// What it is.
        what: &'static str,
    },
    /// `LD_ABS`/`LD_IND` in a program type without packet semantics.
    LegacyLoadNotAllowed {
        /// The type.
        ty: ProgramType,
    },
    /// A helper the program type does not offer.
    UnknownHelper {
        /// Its id.
        id: i32,
    },
}

/// A refusal at slot `pc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckError {
    /// Slot of the offending instruction.
    pub pc: usize,
    /// Why.
    pub kind: CheckErrorKind,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pc = self.pc;
        match &self.kind {
            CheckErrorKind::UninitializedRead { reg } => write!(
                f,
                "instruction {pc}: invalid read of {reg}: it is not written on every path from the entry"
            ),
            CheckErrorKind::FramePointerWrite => {
                write!(f, "instruction {pc}: invalid write to %r10: the frame pointer is read-only")
            }
            CheckErrorKind::FallsOffEnd => {
                write!(f, "instruction {pc}: execution falls through past the last instruction")
            }
            CheckErrorKind::Unsupported { what } => {
                write!(f, "instruction {pc}: unsupported: {what}")
            }
            CheckErrorKind::LegacyLoadNotAllowed { ty } => write!(
                f,
                "instruction {pc}: legacy packet loads (LD_ABS/LD_IND) are not allowed in `{ty}` programs"
            ),
            CheckErrorKind::UnknownHelper { id } => {
                write!(f, "instruction {pc}: helper {id} is not available to this program type")
            }
        }
    }
}

impl core::error::Error for CheckError {}

/// What the checks assume about the program's environment.
#[derive(Clone, Copy, Debug)]
pub struct CheckConfig<'a> {
    /// Registers defined on entry.
    pub entry_regs: &'a [Reg],
    /// Whether to check that registers are written before they are read (the verifier turns
    /// this off: its abstract interpretation decides it path by path).
    pub check_registers: bool,
    /// The type, for messages and the legacy-load rule.
    pub ty: ProgramType,
    /// Whether `LD_ABS`/`LD_IND` are allowed.
    pub legacy_packet_loads: bool,
    /// The helpers available, or `None` when the caller's table decides at run time (then
    /// helper arguments are not known and not checked).
    pub helpers: Option<&'a [HelperSpec]>,
}

impl CheckConfig<'static> {
    /// The configuration a program type's contract gives. `raw` programs may call whatever
    /// helper table the caller supplies.
    pub fn for_type(ty: ProgramType) -> CheckConfig<'static> {
        let info = ty.info();
        CheckConfig {
            entry_regs: info.entry_regs,
            check_registers: true,
            ty,
            legacy_packet_loads: info.legacy_packet_loads,
            helpers: if ty == ProgramType::Raw { None } else { Some(info.helpers) },
        }
    }
}

/// Registers read and written by an instruction (calls excluded: see [`check`]).
/// The registers `insn` reads and writes (a helper call's arguments are not counted).
pub fn uses(insn: &Insn) -> (RegSet, RegSet) {
    let src = |s: Source| match s {
        Source::Reg(r) => RegSet::EMPTY.with(r),
        Source::Imm(_) => RegSet::EMPTY,
    };
    let one = |r: Reg| RegSet::EMPTY.with(r);
    match *insn {
        Insn::Alu {
            op: AluOp::Mov | AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32,
            dst,
            src: s,
            ..
        } => (src(s), one(dst)),
        Insn::Alu { dst, src: s, .. } => (src(s).with(dst), one(dst)),
        Insn::Neg { dst, .. } | Insn::End { dst, .. } => (one(dst), one(dst)),
        Insn::LoadImm64 { dst, .. } | Insn::LoadPseudo { dst, .. } => (RegSet::EMPTY, one(dst)),
        Insn::Load { dst, base, .. } => (one(base), one(dst)),
        Insn::Store { base, src: s, .. } => (src(s).with(base), RegSet::EMPTY),
        Insn::Atomic { op: AtomicOp::CmpXchg, base, src, .. } => {
            (one(base).with(src).with(Reg::R0), one(Reg::R0))
        }
        Insn::Atomic { fetch, base, src, .. } => {
            (one(base).with(src), if fetch { one(src) } else { RegSet::EMPTY })
        }
        Insn::LoadAbs { .. } => (RegSet::EMPTY, one(Reg::R0)),
        Insn::LoadInd { src, .. } => (one(src), one(Reg::R0)),
        Insn::Jump { dst, src: s, .. } => (src(s).with(dst), RegSet::EMPTY),
        Insn::CallReg { reg } => (one(reg), one(Reg::R0)),
        Insn::Call { .. } | Insn::CallLocal { .. } | Insn::CallKfunc { .. } => {
            (RegSet::EMPTY, one(Reg::R0))
        }
        Insn::Exit => (one(Reg::R0), RegSet::EMPTY),
        Insn::Ja { .. } | Insn::Ja32 { .. } => (RegSet::EMPTY, RegSet::EMPTY),
    }
}

/// Runs the pre-run checks. On failure, the error with the lowest `pc` is returned.
pub fn check(prog: &Program, cfg: &CheckConfig<'_>) -> Result<(), CheckError> {
    let n = prog.slot_count();
    // Must-be-written registers at each slot; `None` until reached.
    let mut state: alloc::vec::Vec<Option<RegSet>> = vec![None; n];
    let mut queue = VecDeque::new();
    let mut queued = vec![false; n];
    let flow = |state: &mut [Option<RegSet>],
                queue: &mut VecDeque<usize>,
                queued: &mut [bool],
                pc: usize,
                s: RegSet| {
        let merged = match state[pc] {
            None => s,
            Some(old) => RegSet(old.0 & s.0),
        };
        if state[pc] != Some(merged) {
            state[pc] = Some(merged);
            if !queued[pc] {
                queued[pc] = true;
                queue.push_back(pc);
            }
        }
    };
    flow(&mut state, &mut queue, &mut queued, 0, RegSet::of(cfg.entry_regs).with(Reg::R10));
    let mut falls_off = None;
    while let Some(pc) = queue.pop_front() {
        queued[pc] = false;
        let Some(s) = state[pc] else { continue };
        let Some(insn) = prog.at(pc) else { continue };
        let (_, writes) = uses(insn);
        let next = pc + insn.slots();
        let after = match insn {
            Insn::Call { .. }
            | Insn::CallReg { .. }
            | Insn::CallLocal { .. }
            | Insn::CallKfunc { .. } => s.without(RegSet::ARGS).with(Reg::R0),
            _ => RegSet(s.0 | writes.0),
        };
        if let Insn::CallLocal { .. } = insn {
            let callee = prog.branch_target(pc).unwrap_or(0);
            let args = RegSet(s.0 & RegSet::ARGS.0).with(Reg::R10);
            flow(&mut state, &mut queue, &mut queued, callee, args);
        } else if let Some(t) = prog.branch_target(pc) {
            flow(&mut state, &mut queue, &mut queued, t, after);
        }
        if !insn.is_terminator() {
            if next < n {
                flow(&mut state, &mut queue, &mut queued, next, after);
            } else {
                falls_off = Some(pc);
            }
        }
    }
    for (pc, insn) in prog.iter() {
        let Some(s) = state[pc] else { continue };
        let err = |kind| Err(CheckError { pc, kind });
        let (reads, writes) = uses(insn);
        if cfg.check_registers
            && let Some(reg) = Reg::all().find(|&r| reads.has(r) && !s.has(r))
        {
            return err(CheckErrorKind::UninitializedRead { reg });
        }
        if let Some(spec) = cfg.helpers {
            if let Insn::Call { imm } = *insn {
                match spec.iter().find(|h| i64::from(h.id) == i64::from(imm)) {
                    None => return err(CheckErrorKind::UnknownHelper { id: imm }),
                    Some(h) => {
                        let mut args = Reg::all().skip(1).take(h.args.len());
                        if cfg.check_registers
                            && let Some(reg) = args.find(|&r| !s.has(r))
                        {
                            return err(CheckErrorKind::UninitializedRead { reg });
                        }
                    }
                }
            }
            if let Insn::CallReg { .. } = insn {
                return err(CheckErrorKind::Unsupported {
                    what: "indirect helper calls (callx) in verified program types",
                });
            }
        }
        if writes.has(Reg::R10) {
            return err(CheckErrorKind::FramePointerWrite);
        }
        match insn {
            Insn::LoadPseudo { .. } => {
                return err(CheckErrorKind::Unsupported {
                    what: "lddw of a map, variable or code address (udfkit has no maps)",
                });
            }
            Insn::CallKfunc { .. } => {
                return err(CheckErrorKind::Unsupported {
                    what: "kfunc calls (udfkit has no BTF)",
                });
            }
            Insn::LoadAbs { .. } | Insn::LoadInd { .. } if !cfg.legacy_packet_loads => {
                return err(CheckErrorKind::LegacyLoadNotAllowed { ty: cfg.ty });
            }
            _ => {}
        }
        if falls_off == Some(pc) {
            return err(CheckErrorKind::FallsOffEnd);
        }
    }
    Ok(())
}
