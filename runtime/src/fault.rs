//! Typed faults: why a run stopped early, and at which instruction.

use core::fmt;

/// Why a run stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A load or store outside every region the run was given.
    OutOfBounds {
        /// The address.
        addr: u64,
        /// Access size in bytes.
        size: u8,
        /// Store (true) or load.
        write: bool,
    },
    /// A store into the read-only context.
    ReadOnly {
        /// The address.
        addr: u64,
        /// Access size in bytes.
        size: u8,
    },
    /// The instruction budget ran out before this instruction.
    BudgetExhausted {
        /// The budget.
        budget: u64,
    },
    /// A call to a helper the table does not have.
    UnknownHelper {
        /// The id called.
        id: u64,
    },
    /// A helper refused its arguments.
    HelperFailed {
        /// The helper id.
        id: u32,
        /// Its reason.
        reason: &'static str,
    },
    /// Local calls nested deeper than [`crate::MAX_CALL_DEPTH`].
    CallDepthExceeded,
    /// Execution continued past the last instruction.
    FellOffEnd,
    /// An instruction udfkit does not run (map `lddw`, kfunc call).
    Unsupported {
        /// What.
        what: &'static str,
    },
    /// The checking mode's observer stopped the run: a state the verifier did not predict
    /// (the details are with the observer, see [`crate::checking`]).
    CheckFailed,
    /// Refused before anything ran: a context whose length the verifier's proof does not
    /// cover (code compiled from facts runs only on the lengths they assumed).
    ContextRefused {
        /// The context's length.
        len: u64,
        /// The shortest length the proof covers.
        min: u64,
        /// The longest length the proof covers.
        max: u64,
    },
}

/// A fault at slot `pc`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Slot of the faulting instruction.
    pub pc: usize,
    /// What happened.
    pub kind: FaultKind,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pc = self.pc;
        match &self.kind {
            FaultKind::CheckFailed => write!(
                f,
                "instruction {pc}: the checking mode found a state the verifier did not predict"
            ),
            FaultKind::OutOfBounds { addr, size, write } => write!(
                f,
                "instruction {pc}: {} of {size} byte(s) at {addr:#x} is out of bounds",
                if *write { "store" } else { "load" }
            ),
            FaultKind::ReadOnly { addr, size } => {
                write!(
                    f,
                    "instruction {pc}: store of {size} byte(s) at {addr:#x} into the read-only context"
                )
            }
            FaultKind::BudgetExhausted { budget } => {
                write!(f, "instruction {pc}: instruction budget of {budget} exhausted")
            }
            FaultKind::UnknownHelper { id } => {
                write!(f, "instruction {pc}: call to unknown helper {id}")
            }
            FaultKind::HelperFailed { id, reason } => {
                write!(f, "instruction {pc}: helper {id} failed: {reason}")
            }
            FaultKind::CallDepthExceeded => write!(
                f,
                "instruction {pc}: local calls nested deeper than {} frames",
                crate::MAX_CALL_DEPTH
            ),
            FaultKind::FellOffEnd => {
                write!(f, "instruction {pc}: execution ran past the last instruction")
            }
            FaultKind::Unsupported { what } => write!(f, "instruction {pc}: unsupported: {what}"),
            FaultKind::ContextRefused { len, min, max } => write!(
                f,
                "a context of {len} byte(s) is refused: the program was verified for {}; nothing ran",
                LenRange(*min, *max)
            ),
        }
    }
}

impl core::error::Error for Fault {}

/// A range of context lengths as a reader wants it: `16 bytes`, `16 to 1500 bytes`, ...
#[derive(Clone, Copy, Debug)]
pub struct LenRange(pub u64, pub u64);

impl fmt::Display for LenRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LenRange(a, b) if a == b => write!(f, "exactly {a} byte(s)"),
            LenRange(a, b) => write!(f, "{a} to {b} bytes"),
        }
    }
}
