//! The checking mode: runs a verified program on the interpreter and, before every
//! instruction, compares the machine with what the verifier recorded there. Any difference is
//! a verifier bug:
//!
//! - each register's value lies in the recorded abstract value (numbers in their intervals and
//!   known bits, pointers at an offset in their recorded range, in their recorded region);
//! - each relational fact holds: a register recorded as `sym + c` equals, as an integer, the
//!   context length plus `c` (`sym` = len) or the value instruction `sym` produced the last time
//!   it ran plus `c` (the checker keeps that value, for the register [`udf_verifier::defines`]
//!   names); each recorded `sym + k <= len` holds; the length lies in the recorded range;
//! - no instruction the verifier found unreachable runs;
//! - every memory access lands in the region the verifier proved for its instruction (the
//!   trusted JIT translates addresses by it), every stack write within the proven stack use of
//!   its frame, and no run nests more frames than proven;
//! - every stack read covers only bytes written before (in this frame's life), and never part
//!   of a spilled pointer;
//! - the run does not fault (out-of-bounds access, helper refusal, call depth), ends within the
//!   verifier's instruction bound (it is the budget) and emits at most its extent bound.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use udf_bytecode::{Insn, Program, ProgramType, Reg, Source};
use udf_verifier::state::{LEN, PTR_INSN, join_of};
use udf_verifier::{Access, Facts, Recorded, Value, ValueKind, defines};

use crate::decoded::Compiled;
use crate::fault::{Fault, FaultKind};
use crate::helpers::Helpers;
use crate::interp::{
    CTX_BASE, Context, MAX_CALL_DEPTH, Observer, Outcome, RunOptions, STACK_BASE, STACK_FRAME,
    STACK_TOP, Vm,
};
use crate::typed::TypeHelpers;

/// What the checking mode found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A register outside its recorded abstract value.
    Register {
        /// Instruction index.
        index: usize,
        /// The register.
        reg: Reg,
        /// Its concrete value.
        value: u64,
        /// What the verifier recorded.
        recorded: Value,
    },
    /// An instruction the verifier never reached ran.
    Unreached {
        /// Instruction index.
        index: usize,
    },
    /// A stack read of bytes not written in this frame's life.
    UninitRead {
        /// Instruction index.
        index: usize,
        /// Address.
        addr: u64,
    },
    /// Part of a spilled pointer read.
    PartialPointer {
        /// Instruction index.
        index: usize,
        /// Address.
        addr: u64,
    },
    /// The run faulted (including exhausting the verifier's instruction bound).
    Fault(Fault),
    /// More extents than the verifier's bound.
    Extents {
        /// Emitted.
        emitted: usize,
        /// The bound.
        bound: u64,
    },
    /// A register's relational symbol does not hold (`value != sym + offset`).
    Symbol {
        /// Instruction index.
        index: usize,
        /// The register.
        reg: Reg,
        /// Its value as an integer (a pointer's offset in its region).
        value: i128,
        /// What the symbol names now (`None`: instruction `sym` never ran).
        base: Option<i128>,
        /// The recorded symbol and offset (`u32::MAX`: the context length).
        sym: (u32, i64),
    },
    /// A recorded `sym + k <= len` that does not hold.
    LenFact {
        /// Instruction index.
        index: usize,
        /// The symbol and `k`.
        fact: (u32, i64),
        /// What the symbol names now (`None`: never produced).
        base: Option<i128>,
        /// The context length.
        len: u64,
    },
    /// A recorded sum `d = a + b + c` that does not hold.
    Sum {
        /// Instruction index.
        index: usize,
        /// The sum.
        sum: (u32, u32, u32, i64),
        /// What `d`, `a` and `b` name now (`None`: never produced).
        values: alloc::boxed::Box<[Option<i128>; 3]>,
    },
    /// The context length outside the recorded range.
    LenRange {
        /// Instruction index.
        index: usize,
        /// The context length.
        len: u64,
        /// The recorded bounds.
        min: u64,
        /// The recorded bounds.
        max: u64,
    },
    /// A memory access outside the region the verifier proved for its instruction.
    Region {
        /// Instruction index.
        index: usize,
        /// Address.
        addr: u64,
        /// What the verifier proved.
        proven: Access,
    },
    /// A stack write deeper in its frame than the verifier's stack use.
    StackUse {
        /// Instruction index.
        index: usize,
        /// Bytes below the frame top the write reaches.
        depth: u64,
        /// The verifier's stack use.
        bound: u32,
    },
    /// More frames live than the verifier's bound.
    Frames {
        /// Instruction index.
        index: usize,
        /// Frames live.
        live: usize,
        /// The verifier's bound.
        bound: usize,
    },
    /// The verifier recorded no states (`Config::record_states` was off).
    NoStates,
}

/// How a symbol prints: `len` or `v{index}`.
struct SymName(u32);

impl fmt::Display for SymName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == udf_verifier::state::LEN {
            f.write_str("len")
        } else if let Some((j, r, _)) = join_of(self.0) {
            write!(f, "r{r}@{j}")
        } else if self.0 >= udf_verifier::state::PTR_INSN {
            write!(f, "p{}", self.0 - udf_verifier::state::PTR_INSN)
        } else {
            write!(f, "v{}", self.0)
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Register { index, reg, value, recorded } => write!(
                f,
                "instruction {index}: {reg} = {value:#x} is outside the verifier's state ({recorded})"
            ),
            Violation::Unreached { index } => {
                write!(f, "instruction {index} runs but the verifier found it unreachable")
            }
            Violation::UninitRead { index, addr } => {
                write!(f, "instruction {index}: reads unwritten stack byte at {addr:#x}")
            }
            Violation::PartialPointer { index, addr } => {
                write!(f, "instruction {index}: reads part of a spilled pointer at {addr:#x}")
            }
            Violation::Fault(e) => write!(f, "verified program faulted: {e}"),
            Violation::Extents { emitted, bound } => {
                write!(f, "{emitted} extents emitted, verifier bound {bound}")
            }
            Violation::Symbol { index, reg, value, base, sym } => write!(
                f,
                "instruction {index}: {reg} = {value} but the verifier says it is {}{:+} (= {})",
                SymName(sym.0),
                sym.1,
                match base {
                    Some(b) => alloc::format!("{}", b + sym.1 as i128),
                    None => "never produced".into(),
                }
            ),
            Violation::LenFact { index, fact, base, len } => write!(
                f,
                "instruction {index}: the verifier says {}{:+} <= len, but {} > {len}",
                SymName(fact.0),
                fact.1,
                match base {
                    Some(b) => alloc::format!("{}", b + fact.1 as i128),
                    None => "it was never produced".into(),
                }
            ),
            Violation::Sum { index, sum, values } => write!(
                f,
                "instruction {index}: the verifier says {} = {} + {} {:+}, but the values are {values:?}",
                SymName(sum.0),
                SymName(sum.1),
                SymName(sum.2),
                sum.3
            ),
            Violation::LenRange { index, len, min, max } => write!(
                f,
                "instruction {index}: context length {len} outside the verifier's [{min}, {max}]"
            ),
            Violation::Region { index, addr, proven } => write!(
                f,
                "instruction {index}: access at {addr:#x} outside the region the verifier proved ({proven:?})"
            ),
            Violation::StackUse { index, depth, bound } => write!(
                f,
                "instruction {index}: stack write {depth} bytes below the frame top, verifier's stack use {bound}"
            ),
            Violation::Frames { index, live, bound } => {
                write!(f, "instruction {index}: {live} frames live, verifier's bound {bound}")
            }
            Violation::NoStates => f.write_str("the verifier recorded no states"),
        }
    }
}

const STACK_BYTES: usize = STACK_FRAME * MAX_CALL_DEPTH;

/// The observer of the checking mode.
pub struct Checker<'a> {
    prog: &'a Program,
    facts: &'a Facts,
    states: &'a [Option<Recorded>],
    /// The context length.
    len: u64,
    /// Per instruction: the value the register it defines held right after it last ran.
    last: Vec<Option<u64>>,
    /// Per instruction: where in `arrivals` its registers are kept when the recorded states
    /// name join symbols of it (`u32::MAX`: they name none).
    join_slot: Vec<u32>,
    /// The registers at the last arrival at each such instruction (`None`: not yet arrived).
    arrivals: Vec<Option<[u64; 11]>>,
    /// The instruction that just ran and the register it defined, read at the next step.
    pending: Option<(usize, Reg)>,
    /// Per stack byte: written in the current life of its frame.
    init: Vec<bool>,
    /// Per stack byte: part of a spilled pointer.
    ptr: Vec<bool>,
    /// The first violation seen.
    pub violation: Option<Violation>,
}

impl<'a> Checker<'a> {
    /// A checker for `prog` against the states in `facts`, on a context of `len` bytes.
    pub fn new(prog: &'a Program, facts: &'a Facts, len: usize) -> Option<Checker<'a>> {
        let states = facts.states.as_deref()?;
        // The join points some recorded state names.
        let mut join_slot = vec![u32::MAX; prog.len()];
        let mut slots = 0u32;
        let mut note = |s: u32| {
            if let Some((j, _, _)) = join_of(s)
                && let Some(x) = join_slot.get_mut(j)
                && *x == u32::MAX
            {
                *x = slots;
                slots += 1;
            }
        };
        for rec in states.iter().flatten() {
            rec.regs.iter().filter_map(|v| v.sym).for_each(|(s, _)| note(s));
            rec.facts.iter().for_each(|f| note(f.0));
            rec.sums.iter().for_each(|&(d, a, b, _)| {
                note(d);
                note(a);
                note(b);
            });
        }
        Some(Checker {
            prog,
            facts,
            states,
            len: len as u64,
            last: vec![None; prog.len()],
            join_slot,
            arrivals: vec![None; slots as usize],
            pending: None,
            init: vec![false; STACK_BYTES],
            ptr: vec![false; STACK_BYTES],
            violation: None,
        })
    }

    fn fail(&mut self, v: Violation) -> bool {
        self.violation = Some(v);
        false
    }

    fn stack_index(addr: u64, size: usize) -> Option<usize> {
        let o = addr.wrapping_sub(STACK_BASE);
        (o < STACK_BYTES as u64 && o + size as u64 <= STACK_BYTES as u64).then_some(o as usize)
    }

    fn read(&mut self, index: usize, addr: u64, size: usize) -> bool {
        let Some(o) = Self::stack_index(addr, size) else {
            return true;
        };
        if !self.init[o..o + size].iter().all(|b| *b) {
            return self.fail(Violation::UninitRead { index, addr });
        }
        let whole = size == 8 && o % 8 == 0;
        if !whole && self.ptr[o..o + size].iter().any(|b| *b) {
            return self.fail(Violation::PartialPointer { index, addr });
        }
        true
    }

    fn write(&mut self, addr: u64, size: usize, pointer: bool) {
        if let Some(o) = Self::stack_index(addr, size) {
            self.init[o..o + size].fill(true);
            // A partial overwrite leaves the rest of a pointer's bytes marked.
            self.ptr[o..o + size].fill(pointer);
        }
    }
}

/// The integer a register stands for in the verifier's relational facts: a number as unsigned,
/// a pointer's offset in its region as signed.
fn integer(v: &Value, x: u64) -> Option<i128> {
    match v.kind {
        ValueKind::Uninit => None,
        ValueKind::Scalar => Some(x as i128),
        ValueKind::Ctx => Some(x.wrapping_sub(CTX_BASE) as i64 as i128),
        ValueKind::Stack { frame } => {
            let top = STACK_TOP - frame as u64 * STACK_FRAME as u64;
            Some(x.wrapping_sub(top) as i64 as i128)
        }
    }
}

impl Checker<'_> {
    /// An access of `size` bytes at `addr` by instruction `index` (a write when `write`) in the
    /// region and stack depth the verifier proved.
    fn access(&mut self, index: usize, addr: u64, size: usize, write: bool) -> bool {
        let proven = self.facts.access.get(index).copied().unwrap_or_default();
        let in_ctx = addr
            .checked_sub(CTX_BASE)
            .is_some_and(|o| o.checked_add(size as u64).is_some_and(|e| e <= self.len));
        let in_stack = Self::stack_index(addr, size).is_some();
        let ok = match proven {
            Access::Ctx => in_ctx,
            Access::Stack => in_stack,
            Access::Either => in_ctx || in_stack,
            Access::None => false,
        };
        if !ok && (in_ctx || in_stack) {
            return self.fail(Violation::Region { index, addr, proven });
        }
        if write && in_stack {
            // Bytes below the top of the frame that holds the address.
            let below_top = STACK_TOP - addr;
            let depth = (below_top - 1) % STACK_FRAME as u64 + 1;
            if depth > self.facts.stack_use as u64 {
                return self.fail(Violation::StackUse {
                    index,
                    depth,
                    bound: self.facts.stack_use,
                });
            }
        }
        true
    }

    /// What symbol `s` names now.
    fn sym_value(&self, s: u32) -> Option<i128> {
        if s == LEN {
            Some(self.len as i128)
        } else if s >= PTR_INSN && join_of(s).is_none() {
            // The context pointer instruction `s - PTR_INSN` produced: its offset.
            let x = self.last.get((s - PTR_INSN) as usize).copied().flatten()?;
            Some(x.wrapping_sub(CTX_BASE) as i64 as i128)
        } else if let Some((j, r, ptr)) = join_of(s) {
            let slot = *self.join_slot.get(j)?;
            let regs = self.arrivals.get(slot as usize).copied().flatten()?;
            let x = *regs.get(r)?;
            // A context pointer's join symbol names its offset.
            Some(if ptr { x.wrapping_sub(CTX_BASE) as i64 as i128 } else { x as i128 })
        } else {
            self.last.get(s as usize).copied().flatten().map(|v| v as i128)
        }
    }

    /// The relational facts recorded before `index` against the machine.
    fn relations(&mut self, index: usize, rec: &Recorded, r: &[u64; 16]) -> bool {
        if self.len < rec.len_min || self.len > rec.len_max {
            return self.fail(Violation::LenRange {
                index,
                len: self.len,
                min: rec.len_min,
                max: rec.len_max,
            });
        }
        for (k, v) in rec.regs.iter().enumerate() {
            let (Some(sym), Some(value)) = (v.sym, integer(v, r[k])) else {
                continue;
            };
            let base = self.sym_value(sym.0);
            if base.map(|b| b + sym.1 as i128) != Some(value) {
                return self.fail(Violation::Symbol {
                    index,
                    reg: Reg::new(k as u8).expect("register"),
                    value,
                    base,
                    sym,
                });
            }
        }
        for &fact in &rec.facts {
            let base = self.sym_value(fact.0);
            if base.is_none_or(|b| b + fact.1 as i128 > self.len as i128) {
                return self.fail(Violation::LenFact { index, fact, base, len: self.len });
            }
        }
        for &sum in &rec.sums {
            let values = [self.sym_value(sum.0), self.sym_value(sum.1), self.sym_value(sum.2)];
            let holds = matches!(values, [Some(d), Some(a), Some(b)] if d == a + b + sum.3 as i128);
            if !holds {
                return self.fail(Violation::Sum {
                    index,
                    sum,
                    values: alloc::boxed::Box::new(values),
                });
            }
        }
        true
    }
}

/// Whether concrete `x` is one of the values of `v` (pointers as addresses; `callers` locates
/// stack frames).
fn holds(v: &Value, x: u64) -> bool {
    match v.kind {
        ValueKind::Uninit => true,
        ValueKind::Scalar => v.n.contains(x),
        ValueKind::Ctx => v.n.contains(x.wrapping_sub(CTX_BASE)),
        ValueKind::Stack { frame } => {
            let top = STACK_TOP - frame as u64 * STACK_FRAME as u64;
            v.n.contains(x.wrapping_sub(top))
        }
    }
}

impl Observer for Checker<'_> {
    fn before(&mut self, pc: usize, r: &[u64; 16], callers: usize) -> bool {
        if let Some((j, reg)) = self.pending.take() {
            self.last[j] = Some(r[reg.index()]);
        }
        let Some(index) = self.prog.index_at(pc) else {
            return true;
        };
        let states = self.states;
        let Some(rec) = states.get(index).and_then(|s| s.as_ref()) else {
            return self.fail(Violation::Unreached { index });
        };
        let insn = self.prog.insns()[index];
        self.pending = defines(&insn).map(|reg| (index, reg));
        // Join symbols of `index` name the registers as control arrives here, now.
        if let Some(&slot) = self.join_slot.get(index)
            && let Some(a) = self.arrivals.get_mut(slot as usize)
        {
            let mut regs = [0u64; 11];
            regs.copy_from_slice(&r[..11]);
            *a = Some(regs);
        }
        if !self.relations(index, rec, r) {
            return false;
        }
        if callers + 1 > self.facts.max_frames {
            return self.fail(Violation::Frames {
                index,
                live: callers + 1,
                bound: self.facts.max_frames,
            });
        }
        let rec = &rec.regs;
        for (k, v) in rec.iter().enumerate() {
            if !holds(v, r[k]) {
                return self.fail(Violation::Register {
                    index,
                    reg: Reg::new(k as u8).expect("register"),
                    value: r[k],
                    recorded: *v,
                });
            }
        }
        let addr = |base: Reg, off: i16| r[base.index()].wrapping_add(off as i64 as u64);
        match insn {
            Insn::Load { size, base, off, .. } => {
                let a = addr(base, off);
                return self.access(index, a, size.bytes(), false)
                    && self.read(index, a, size.bytes());
            }
            Insn::Store { size, base, off, src } => {
                let a = addr(base, off);
                if !self.access(index, a, size.bytes(), true) {
                    return false;
                }
                let pointer = matches!(src, Source::Reg(s) if rec[s.index()].is_pointer());
                self.write(a, size.bytes(), pointer);
            }
            Insn::Atomic { size, base, off, .. } => {
                let a = addr(base, off);
                if !self.access(index, a, size.bytes(), true) || !self.read(index, a, size.bytes())
                {
                    return false;
                }
                self.write(a, size.bytes(), false);
            }
            Insn::CallLocal { .. } => {
                // The callee's frame starts unwritten.
                if let Some(lo) = STACK_BYTES.checked_sub((callers + 2) * STACK_FRAME) {
                    self.init[lo..lo + STACK_FRAME].fill(false);
                    self.ptr[lo..lo + STACK_FRAME].fill(false);
                }
            }
            _ => {}
        }
        true
    }
}

/// What a checked run produced: `r0`, the instruction count and the extents emitted.
pub type CheckedRun = crate::typed::TypedRun;

/// Runs `prog`, which the verifier accepted with `facts` (recorded states), as a program of
/// type `ty` on `input`, checking every instruction. `r3` is a filter's wire length.
pub fn run_checked(
    prog: &Program,
    facts: &Facts,
    ty: ProgramType,
    input: &[u8],
    r3: u64,
) -> Result<CheckedRun, Violation> {
    // The type's helpers, as every engine runs them; the context stays read-only whatever the
    // type (a checked run never writes it).
    let mut helpers =
        TypeHelpers::new(ty, usize::try_from(facts.max_extents).unwrap_or(usize::MAX));
    let outcome = run_checked_with(prog, facts, input, r3, helpers.table())?;
    let extents = helpers.into_extents();
    if extents.len() as u64 > facts.max_extents {
        return Err(Violation::Extents { emitted: extents.len(), bound: facts.max_extents });
    }
    Ok(CheckedRun { outcome, extents })
}

/// [`run_checked`] with the host's own helpers (a merged demultiplexer's lookups, say): every
/// instruction checked as there, so a helper that breaks its contract (returns more than its
/// `ret_max`) shows as a register outside its recorded range at the next instruction.
pub fn run_checked_with(
    prog: &Program,
    facts: &Facts,
    input: &[u8],
    r3: u64,
    helpers: &mut dyn Helpers,
) -> Result<Outcome, Violation> {
    let mut checker = Checker::new(prog, facts, input.len()).ok_or(Violation::NoStates)?;
    let compiled = Compiled::new(prog);
    let mut vm = Vm::new();
    let opts = RunOptions { budget: facts.max_insns, r3 };
    match vm.run_observed(&compiled, Context::ReadOnly(input), helpers, &opts, &mut checker) {
        Ok(outcome) => Ok(outcome),
        Err(Fault { kind: FaultKind::CheckFailed, .. }) => {
            Err(checker.violation.unwrap_or(Violation::NoStates))
        }
        Err(f) => Err(Violation::Fault(f)),
    }
}
