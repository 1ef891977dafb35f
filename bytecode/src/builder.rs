//! Building a program from instructions and labels: the one place where jump targets become
//! offsets.
//!
//! A front end emits instructions in order, jumps to [`Label`]s it binds anywhere (before or
//! after the jump), and takes 8-byte stack slots; [`ProgramBuilder::finish`] lays the program
//! out, resolves every label and gives, per instruction, the origin the front end attached to it
//! (a source span, the classic BPF instruction it came from, or `()`).
//!
//! Jumps are emitted with 16-bit offsets. A jump whose offset does not fit is handled one way,
//! chosen by [`FarJumps`]: refused with [`BuildError::TooFar`] (which names the label), or
//! rewritten with `gotol` (`Ja32`, ISA v4): `goto L` becomes `gotol L`, `if COND goto L` becomes
//! `if !COND goto +1; gotol L`, and `jset`, which has no inverse, becomes
//! `if dst & src goto +1; goto +1; gotol L`. Only the jumps that need it are rewritten (a
//! rewrite moves code, so the layout is repeated until no more jumps need it). No offset is
//! ever truncated.
//!
//! ```
//! use udf_bytecode::builder::ProgramBuilder;
//! use udf_bytecode::{AluOp, Insn, JmpCond, Reg, Source, Width};
//!
//! // r0 = 1; if r1 == 0 goto out; r0 = 2; out: exit
//! let mut b = ProgramBuilder::<()>::new();
//! let out = b.label();
//! let mov = |imm| Insn::Alu { width: Width::W64, op: AluOp::Mov, dst: Reg::R0, src: Source::Imm(imm) };
//! b.emit(mov(1));
//! b.jump_if(Width::W64, JmpCond::Eq, Reg::R1, Source::Imm(0), out);
//! b.emit(mov(2));
//! b.bind(out);
//! b.emit(Insn::Exit);
//! let (prog, origins) = b.finish().unwrap();
//! assert_eq!(prog.insns()[1].branch_offset(), Some(1));
//! assert_eq!(origins.len(), 4);
//!
//! // A stack slot: its offset from r10.
//! let mut b = ProgramBuilder::<()>::new();
//! assert_eq!(b.alloc_slot(8), Ok(-8));
//! assert_eq!(b.alloc_slot(16), Ok(-24));
//! ```

use alloc::vec::Vec;
use core::fmt;

use crate::decode::DecodeError;
use crate::insn::{Insn, JmpCond, Reg, Source, Width};
use crate::program::Program;

/// A place in the program: made by [`ProgramBuilder::label`], bound once by
/// [`ProgramBuilder::bind`], the target of any number of jumps and calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label(usize);

impl Label {
    /// Its number: labels are numbered from 0 in the order they are made.
    pub const fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "L{}", self.0)
    }
}

/// What [`ProgramBuilder::finish`] does with a jump whose offset does not fit 16 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FarJumps {
    /// Refuse it with [`BuildError::TooFar`]: for targets without `gotol` (ISA v1 to v3).
    #[default]
    Refuse,
    /// Rewrite the jumps that need it with `gotol` (ISA v4), as the [module](self) describes.
    Gotol,
    /// Give every jump to a label its `gotol` form, needed or not (to test those forms).
    AlwaysGotol,
}

/// Why a program could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// The jump or call at instruction `at` (counted as [`ProgramBuilder::len`] counts) targets
    /// a label that was never bound.
    Unbound {
        /// The label.
        label: Label,
        /// The jump or call.
        at: usize,
    },
    /// The label was bound twice.
    Rebound {
        /// The label.
        label: Label,
    },
    /// The jump or call at instruction `at` is `distance` slots away from `label`: more than
    /// its offset field holds (16 bits under [`FarJumps::Refuse`], otherwise 32).
    TooFar {
        /// The target.
        label: Label,
        /// The jump or call.
        at: usize,
        /// Target slot minus the slot after the jump.
        distance: i64,
    },
    /// No room on the stack for `size` more bytes: `used` of `limit` are taken.
    StackExhausted {
        /// The bytes asked for (rounded up to 8).
        size: u32,
        /// The bytes already taken.
        used: u32,
        /// The stack's size.
        limit: u32,
    },
    /// The instructions do not make a program (none at all, a jump past the end).
    Program(DecodeError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Unbound { label, at } => {
                write!(f, "instruction {at} jumps to label {label}, never bound")
            }
            BuildError::Rebound { label } => write!(f, "label {label} is bound twice"),
            BuildError::TooFar { label, at, distance } => write!(
                f,
                "instruction {at} jumps {distance} slots to label {label}, beyond its offset field"
            ),
            BuildError::StackExhausted { size, used, limit } => {
                write!(f, "no room for {size} more bytes of stack: {used} of {limit} are taken")
            }
            BuildError::Program(e) => write!(f, "{e}"),
        }
    }
}

/// The stack eBPF gives a function, in bytes.
pub const STACK_SIZE: u32 = 512;

/// One instruction emitted, its target (for jumps and calls) and its origin.
#[derive(Clone, Debug)]
struct Item<N> {
    insn: Insn,
    target: Option<Label>,
    origin: N,
}

/// Instructions, labels and stack slots of one program under construction. `N` is the origin
/// each instruction records: [`ProgramBuilder::set_origin`] sets it for the instructions that
/// follow.
#[derive(Clone, Debug)]
pub struct ProgramBuilder<N = ()> {
    code: Vec<Item<N>>,
    /// The instruction each label is bound to (`code.len()` when bound at the end).
    labels: Vec<Option<usize>>,
    rebound: Option<Label>,
    /// Where the last label was bound.
    last_bind: Option<usize>,
    origin: N,
    far: FarJumps,
    stack_limit: u32,
    stack_used: u32,
    stack_max: u32,
}

impl<N: Clone + Default> Default for ProgramBuilder<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<N: Clone + Default> ProgramBuilder<N> {
    /// An empty program; origins start at `N::default()`, far jumps are refused, the stack has
    /// [`STACK_SIZE`] bytes.
    pub fn new() -> Self {
        Self::with_origin(N::default())
    }
}

impl<N: Clone> ProgramBuilder<N> {
    /// An empty program whose first instructions record `origin`.
    pub fn with_origin(origin: N) -> Self {
        ProgramBuilder {
            code: Vec::new(),
            labels: Vec::new(),
            rebound: None,
            last_bind: None,
            origin,
            far: FarJumps::Refuse,
            stack_limit: STACK_SIZE,
            stack_used: 0,
            stack_max: 0,
        }
    }

    /// Chooses what [`finish`](Self::finish) does with jumps too far for 16 bits.
    pub fn set_far_jumps(&mut self, far: FarJumps) {
        self.far = far;
    }

    /// Sets the stack's size in bytes (slots already taken stay).
    pub fn set_stack_limit(&mut self, bytes: u32) {
        self.stack_limit = bytes;
    }

    /// Sets the origin recorded by the instructions emitted from now on.
    pub fn set_origin(&mut self, origin: N) {
        self.origin = origin;
    }

    /// The origin the next instruction records.
    pub fn origin(&self) -> &N {
        &self.origin
    }

    /// The origin instruction `at` recorded.
    pub fn origin_of(&self, at: usize) -> Option<&N> {
        self.code.get(at).map(|i| &i.origin)
    }

    /// How many instructions were emitted (an `lddw` counts once; far jumps are not yet
    /// rewritten).
    pub fn len(&self) -> usize {
        self.code.len()
    }

    /// Whether nothing was emitted.
    pub fn is_empty(&self) -> bool {
        self.code.is_empty()
    }

    /// The last instruction emitted.
    pub fn last(&self) -> Option<&Insn> {
        self.code.last().map(|i| &i.insn)
    }

    // ---- labels and instructions --------------------------------------------------------------

    /// A new label, not bound yet.
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Binds `l` to the next instruction emitted. Binding a label twice is reported by
    /// [`finish`](Self::finish).
    pub fn bind(&mut self, l: Label) {
        let here = self.code.len();
        match &mut self.labels[l.0] {
            Some(_) => {
                self.rebound.get_or_insert(l);
            }
            slot => *slot = Some(here),
        }
        self.last_bind = Some(here);
    }

    /// A new label bound to the next instruction emitted.
    pub fn here(&mut self) -> Label {
        let l = self.label();
        self.bind(l);
        l
    }

    /// Whether the label is bound.
    pub fn is_bound(&self, l: Label) -> bool {
        self.labels[l.0].is_some()
    }

    /// Emits one instruction. Its offsets are kept as they are: use [`ja`](Self::ja),
    /// [`jump_if`](Self::jump_if) and [`call`](Self::call) to reach a label.
    pub fn emit(&mut self, insn: Insn) {
        self.push(insn, None);
    }

    /// `goto l`.
    pub fn ja(&mut self, l: Label) {
        self.push(Insn::Ja { off: 0 }, Some(l));
    }

    /// `if dst COND src goto l`, comparing `width` bits.
    pub fn jump_if(&mut self, width: Width, cond: JmpCond, dst: Reg, src: Source, l: Label) {
        let insn = Insn::Jump { width, cond, dst, src, off: 0 };
        self.push(insn, Some(l));
    }

    /// Calls the local function that starts at `l`.
    pub fn call(&mut self, l: Label) {
        self.push(Insn::CallLocal { imm: 0 }, Some(l));
    }

    fn push(&mut self, insn: Insn, target: Option<Label>) {
        let origin = self.origin.clone();
        self.code.push(Item { insn, target, origin });
    }

    /// Whether control can reach the next instruction: nothing was emitted yet, the last
    /// instruction falls through, or a label is bound here.
    pub fn reachable(&self) -> bool {
        !matches!(self.code.last(), Some(i) if i.insn.is_terminator())
            || self.last_bind == Some(self.code.len())
    }

    /// Removes every `goto` whose target is the instruction right after it. Labels move with
    /// the code; instructions numbered past a removed one are renumbered.
    pub fn drop_jumps_to_next(&mut self) {
        let n = self.code.len();
        let keep: Vec<bool> = (0..n)
            .map(|k| match &self.code[k] {
                Item { insn: Insn::Ja { .. }, target: Some(l), .. } => {
                    self.labels[l.0] != Some(k + 1)
                }
                _ => true,
            })
            .collect();
        // The new number of each old position (a removed instruction maps to the next kept).
        let mut new_at = Vec::with_capacity(n + 1);
        let mut kept = 0;
        for &k in &keep {
            new_at.push(kept);
            kept += usize::from(k);
        }
        new_at.push(kept);
        for l in self.labels.iter_mut().flatten() {
            *l = new_at[*l];
        }
        if let Some(b) = &mut self.last_bind {
            *b = new_at[*b];
        }
        let mut k = 0;
        self.code.retain(|_| {
            k += 1;
            keep[k - 1]
        });
    }

    // ---- stack --------------------------------------------------------------------------------

    /// Takes `size` bytes of stack (rounded up to 8) and gives the offset from `r10` of their
    /// first byte. Slots are freed last-in first-out with [`free_slot`](Self::free_slot).
    pub fn alloc_slot(&mut self, size: u32) -> Result<i16, BuildError> {
        let size = size.div_ceil(8).saturating_mul(8);
        let used = self.stack_used;
        match used.checked_add(size) {
            Some(end) if end <= self.stack_limit && end <= i16::MAX as u32 + 1 => {
                self.stack_used = end;
                self.stack_max = self.stack_max.max(end);
                Ok(-(end as i32) as i16)
            }
            _ => Err(BuildError::StackExhausted { size, used, limit: self.stack_limit }),
        }
    }

    /// Frees the last slot taken, of `size` bytes (as given to [`alloc_slot`](Self::alloc_slot)).
    pub fn free_slot(&mut self, size: u32) {
        let size = size.div_ceil(8).saturating_mul(8);
        self.stack_used = self.stack_used.saturating_sub(size);
    }

    /// Bytes of stack taken now.
    pub fn stack_used(&self) -> u32 {
        self.stack_used
    }

    /// The most bytes of stack taken at once so far.
    pub fn stack_max(&self) -> u32 {
        self.stack_max
    }

    // ---- layout -------------------------------------------------------------------------------

    /// Lays the program out and resolves every label: the program and, per instruction, its
    /// origin (the instructions of a rewritten far jump all record the jump's).
    ///
    /// The builder is left as it was, so a caller refused with [`BuildError::TooFar`] may
    /// choose other [`FarJumps`] with [`set_far_jumps`](Self::set_far_jumps) and finish again.
    pub fn finish(&self) -> Result<(Program, Vec<N>), BuildError> {
        if let Some(label) = self.rebound {
            return Err(BuildError::Rebound { label });
        }
        // Where each jump or call goes, as an instruction number.
        let mut dest = Vec::with_capacity(self.code.len());
        for (at, item) in self.code.iter().enumerate() {
            dest.push(match item.target {
                None => None,
                Some(label) => match self.labels[label.0] {
                    Some(to) => Some((label, to)),
                    None => return Err(BuildError::Unbound { label, at }),
                },
            });
        }
        let always = self.far == FarJumps::AlwaysGotol;
        let mut far: Vec<bool> =
            self.code.iter().map(|i| always && i.target.is_some() && can_be_far(&i.insn)).collect();
        // Lay out, turn the jumps that do not fit into far ones, again until none changes: a
        // jump only ever grows, so this ends.
        let start = loop {
            let start = self.slots(&far);
            let mut changed = false;
            for (at, d) in dest.iter().enumerate() {
                let Some((label, to)) = *d else { continue };
                let distance = start[to] as i64 - start[at + 1] as i64;
                let fits = if far[at] || matches!(self.code[at].insn, Insn::CallLocal { .. }) {
                    i32::try_from(distance).is_ok()
                } else {
                    i16::try_from(distance).is_ok()
                };
                if fits {
                    continue;
                }
                if far[at] || self.far == FarJumps::Refuse || !can_be_far(&self.code[at].insn) {
                    return Err(BuildError::TooFar { label, at, distance });
                }
                far[at] = true;
                changed = true;
            }
            if !changed {
                break start;
            }
        };
        let mut insns = Vec::with_capacity(start[self.code.len()]);
        let mut origins = Vec::with_capacity(start[self.code.len()]);
        for (at, item) in self.code.iter().enumerate() {
            let mut out = |insn: Insn| {
                insns.push(insn);
                origins.push(item.origin.clone());
            };
            let Some((_, to)) = dest[at] else {
                out(item.insn);
                continue;
            };
            // From the slot after this instruction (after its last one, when rewritten).
            let rel = start[to] as i64 - start[at + 1] as i64;
            // Both were checked by the layout.
            let near = rel as i16;
            let wide = rel as i32;
            match item.insn {
                Insn::Ja { .. } if far[at] => out(Insn::Ja32 { imm: wide }),
                Insn::Ja { .. } => out(Insn::Ja { off: near }),
                Insn::Jump { width, cond, dst, src, .. } if far[at] => {
                    let jump = |cond, off| Insn::Jump { width, cond, dst, src, off };
                    if cond == JmpCond::Set {
                        out(jump(cond, 1));
                        out(Insn::Ja { off: 1 });
                    } else {
                        out(jump(cond.negate(), 1));
                    }
                    out(Insn::Ja32 { imm: wide });
                }
                Insn::Jump { width, cond, dst, src, .. } => {
                    out(Insn::Jump { width, cond, dst, src, off: near })
                }
                Insn::CallLocal { .. } => out(Insn::CallLocal { imm: wide }),
                other => out(other),
            }
        }
        let program = Program::from_insns(insns).map_err(BuildError::Program)?;
        Ok((program, origins))
    }

    /// The first slot of each instruction, and the slot after the last (index `len()`), with
    /// the far jumps `far` marks rewritten.
    fn slots(&self, far: &[bool]) -> Vec<usize> {
        let mut start = Vec::with_capacity(self.code.len() + 1);
        let mut s = 0usize;
        for (item, &far) in self.code.iter().zip(far) {
            start.push(s);
            s += match item.insn {
                Insn::Jump { cond: JmpCond::Set, .. } if far => 3,
                Insn::Jump { .. } if far => 2,
                _ => item.insn.slots(),
            };
        }
        start.push(s);
        start
    }
}

/// Whether `finish` has a far form for the instruction.
fn can_be_far(insn: &Insn) -> bool {
    matches!(insn, Insn::Ja { .. } | Insn::Jump { .. })
}
