//! Rejections as data: the instruction, the rule it breaks, the abstract values involved and
//! the path that reached it. Rendering with source spans is the caller's business (the CLI
//! uses miette); `Display` gives a plain one-paragraph explanation.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use udf_bytecode::Reg;
use udf_bytecode::check::CheckErrorKind;

use crate::state::Value;

/// Which memory an access went to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Region {
    /// The context (packet or metadata object).
    Ctx,
    /// A stack frame.
    Stack,
}

/// The rule an instruction breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// A pre-run check of `udf_bytecode::check` (unsupported instruction, `r10` written,
    /// fall-through past the end, helper or legacy load not allowed for the type).
    Structure(CheckErrorKind),
    /// A jump leaves its function.
    JumpOutOfFunction {
        /// Target index.
        target: usize,
    },
    /// Execution falls through into the next function.
    FallsIntoFunction {
        /// Start of the next function.
        next: usize,
    },
    /// A local call re-enters a function already on the call chain.
    Recursion {
        /// The callee's first instruction.
        callee: usize,
    },
    /// Too many nested calls.
    CallDepth {
        /// Frames the chain needs.
        depth: usize,
        /// The limit.
        max: usize,
    },
    /// Loops nested deeper than the analysis goes.
    LoopNesting {
        /// Depth reached.
        depth: usize,
        /// The most allowed.
        max: usize,
    },
    /// A register is read that holds nothing usable on some path.
    UninitRead {
        /// The register.
        reg: Reg,
    },
    /// Arithmetic a pointer may not take part in.
    PointerArithmetic {
        /// What was attempted.
        what: &'static str,
    },
    /// A pointer would become visible as a number or outside the stack.
    PointerLeak {
        /// Where it would go.
        to: &'static str,
    },
    /// A comparison of pointers into different regions, or of a pointer with a number.
    PointerCompare,
    /// Memory accessed through a register that is not a pointer.
    NotAPointer {
        /// The address register.
        reg: Reg,
    },
    /// An access that may fall outside its region.
    OutOfBounds {
        /// The region.
        region: Region,
        /// Lowest possible first byte offset.
        lo: i128,
        /// Highest possible end offset (exclusive).
        hi: i128,
        /// Bytes known to be valid: `[0, len)` for the context, `[-512, 0)` for the stack.
        len: i128,
        /// For a context offset `v + c`: the end `v + k <= len` proven (if any) and the end
        /// `v + need` the access reaches.
        relative: Option<(Option<i64>, i128)>,
    },
    /// A stack read of bytes never written on some path.
    UninitStack {
        /// Lowest offset from the frame top.
        lo: i64,
        /// End offset (exclusive).
        hi: i64,
    },
    /// Part of a spilled pointer read, or a pointer stored other than whole.
    PartialPointer,
    /// A store into memory the program type makes read-only.
    ReadOnly,
    /// A helper argument of the wrong kind or range.
    HelperArg {
        /// The argument register.
        reg: Reg,
        /// What it must be.
        need: &'static str,
    },
    /// `callx` through a register that is not a known helper id.
    CallxUnknown,
    /// The verifier reached a state it believes impossible (a verifier bug): the program is
    /// refused rather than trusted, and the verifier never panics on untrusted bytes.
    Internal {
        /// What went wrong.
        what: &'static str,
    },
    /// A divisor that may be zero, where the configuration refuses it.
    DivisionByZero,
    /// A loop whose state repeats: no bound can be proven.
    NoLoopBound {
        /// Head index.
        head: usize,
        /// Tail index.
        tail: usize,
        /// Iterations analysed before the state repeated.
        iterations: u64,
    },
    /// The worst-case instruction count exceeds the budget.
    BudgetExceeded {
        /// The budget.
        budget: u64,
        /// The loop being unrolled when it ran out, if any: head, tail, iteration.
        in_loop: Option<(usize, usize, u64)>,
    },
}

/// One step of the path that reached a rejected instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathStep {
    /// Index of a branch or call instruction.
    pub index: usize,
    /// Whether the branch was taken (calls: true).
    pub taken: bool,
}

/// Why a program was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// Index of the instruction.
    pub index: usize,
    /// Its slot.
    pub pc: usize,
    /// The rule broken.
    pub rule: Rule,
    /// The registers involved and their abstract values just before the instruction.
    pub regs: Vec<(Reg, Value)>,
    /// The most recent branch decisions on a path that reaches the instruction, oldest first.
    pub path: Vec<PathStep>,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Structure(k) => write!(f, "{}", StructureMsg(k)),
            Rule::JumpOutOfFunction { target } => {
                write!(f, "jump to instruction {target}, outside the function")
            }
            Rule::FallsIntoFunction { next } => write!(
                f,
                "execution falls through into the function at instruction {next}; end with exit or a jump"
            ),
            Rule::Recursion { callee } => {
                write!(f, "recursive call of the function at instruction {callee}")
            }
            Rule::CallDepth { depth, max } => {
                write!(f, "call chain needs {depth} stack frames; at most {max} are allowed")
            }
            Rule::LoopNesting { depth, max } => write!(
                f,
                "loops nested {depth} deep (at most {max} are analysed)"
            ),
            Rule::UninitRead { reg } => write!(
                f,
                "{reg} is read but holds no value here (never written on some path, or a different kind on different paths)"
            ),
            Rule::PointerArithmetic { what } => write!(f, "pointer arithmetic not allowed: {what}"),
            Rule::PointerLeak { to } => write!(f, "a pointer would leak {to}"),
            Rule::PointerCompare => f.write_str(
                "comparison of a pointer with a number or with a pointer into another region",
            ),
            Rule::NotAPointer { reg } => {
                write!(f, "memory access through {reg}, which is a number, not a pointer")
            }
            Rule::OutOfBounds {
                region: Region::Ctx,
                lo,
                hi,
                len,
                relative,
            } => {
                if *lo < 0 {
                    return write!(
                        f,
                        "context access may start at offset {lo}, before the first byte"
                    );
                }
                write!(
                    f,
                    "context access may reach offset {hi} (exclusive) but only {len} bytes are proven to exist"
                )?;
                match relative {
                    Some((Some(k), need)) => write!(
                        f,
                        "; its offset is v+c with v+{k} <= len proven, and it needs v+{need} <= len"
                    ),
                    Some((None, need)) => write!(
                        f,
                        "; its offset is v+c and it needs v+{need} <= len: compare v+{need} with the length (r2) first"
                    ),
                    None => f.write_str("; compare the length (r2) first"),
                }
            }
            Rule::OutOfBounds { lo, hi, .. } => write!(
                f,
                "stack access may cover offsets [{lo}, {hi}) from the frame top, outside [-512, 0)"
            ),
            Rule::UninitStack { lo, hi } => write!(
                f,
                "stack bytes [{lo}, {hi}) from the frame top may be read before they are written"
            ),
            Rule::PartialPointer => f.write_str(
                "part of a pointer would be read or written: pointers spill only as whole 8-byte, 8-aligned values",
            ),
            Rule::ReadOnly => f.write_str("store into the context, which is read-only for this program type"),
            Rule::HelperArg { reg, need } => write!(f, "helper argument {reg} must be {need}"),
            Rule::CallxUnknown => f.write_str(
                "callx through a register that does not hold a known helper id of this program type",
            ),
            Rule::DivisionByZero => f.write_str("the divisor may be zero"),
            Rule::Internal { what } => write!(f, "internal verifier error ({what}): refused"),
            Rule::NoLoopBound {
                head,
                tail,
                iterations,
            } => write!(
                f,
                "no bound can be proven for the loop {head}..{tail}: after {iterations} iterations its state repeats, so it may run forever"
            ),
            Rule::BudgetExceeded { budget, in_loop } => {
                write!(f, "the worst case exceeds the budget of {budget} instructions")?;
                if let Some((h, t, k)) = in_loop {
                    write!(f, " (in iteration {k} of the loop {h}..{t})")?;
                }
                Ok(())
            }
        }
    }
}

struct StructureMsg<'a>(&'a CheckErrorKind);

impl fmt::Display for StructureMsg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            CheckErrorKind::UninitializedRead { reg } => {
                write!(f, "{reg} is read before it is written")
            }
            CheckErrorKind::FramePointerWrite => {
                f.write_str("write to r10: the frame pointer is read-only")
            }
            CheckErrorKind::FallsOffEnd => {
                f.write_str("execution falls through past the last instruction")
            }
            CheckErrorKind::Unsupported { what } => write!(f, "unsupported: {what}"),
            CheckErrorKind::LegacyLoadNotAllowed { ty } => {
                write!(f, "LD_ABS/LD_IND are not allowed in `{ty}` programs")
            }
            CheckErrorKind::UnknownHelper { id } => {
                write!(f, "helper {id} is not available to this program type")
            }
        }
    }
}

impl Rule {
    /// A short stable name for the rule, for JSON and diagnostic codes.
    pub fn code(&self) -> &'static str {
        match self {
            Rule::Structure(CheckErrorKind::Unsupported { .. }) => "unsupported",
            Rule::Structure(CheckErrorKind::FramePointerWrite) => "r10-write",
            Rule::Structure(CheckErrorKind::FallsOffEnd) => "falls-off-end",
            Rule::Structure(CheckErrorKind::LegacyLoadNotAllowed { .. }) => "legacy-load",
            Rule::Structure(CheckErrorKind::UnknownHelper { .. }) => "unknown-helper",
            Rule::Structure(CheckErrorKind::UninitializedRead { .. }) => "uninit-read",
            Rule::JumpOutOfFunction { .. } => "jump-out-of-function",
            Rule::FallsIntoFunction { .. } => "falls-into-function",
            Rule::Recursion { .. } => "recursion",
            Rule::CallDepth { .. } => "call-depth",
            Rule::LoopNesting { .. } => "loop-nesting",
            Rule::UninitRead { .. } => "uninit-read",
            Rule::PointerArithmetic { .. } => "pointer-arithmetic",
            Rule::PointerLeak { .. } => "pointer-leak",
            Rule::PointerCompare => "pointer-compare",
            Rule::NotAPointer { .. } => "not-a-pointer",
            Rule::OutOfBounds { region: Region::Ctx, .. } => "ctx-bounds",
            Rule::OutOfBounds { .. } => "stack-bounds",
            Rule::UninitStack { .. } => "uninit-stack",
            Rule::PartialPointer => "partial-pointer",
            Rule::ReadOnly => "read-only",
            Rule::HelperArg { .. } => "helper-arg",
            Rule::CallxUnknown => "callx",
            Rule::Internal { .. } => "internal",
            Rule::DivisionByZero => "division-by-zero",
            Rule::NoLoopBound { .. } => "no-loop-bound",
            Rule::BudgetExceeded { .. } => "budget",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "instruction {} (pc {}): {}", self.index, self.pc, self.rule)?;
        for (r, v) in &self.regs {
            write!(f, "\n  {r}: {v}")?;
        }
        if !self.path.is_empty() {
            write!(f, "\n  path: {}", self.path_text())?;
        }
        Ok(())
    }
}

impl Rejection {
    /// The path as text: `12 taken, 20 not taken, ...`.
    pub fn path_text(&self) -> String {
        use core::fmt::Write;
        let mut s = String::new();
        for (k, p) in self.path.iter().enumerate() {
            if k > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "{} {}", p.index, if p.taken { "taken" } else { "not taken" });
        }
        s
    }
}

impl core::error::Error for Rejection {}
