//! An installed program and how the kernel invokes it: the context is checked against the type
//! (an `owns`, `acl` or `size` context has exactly the template's size) and against the
//! lengths the verifier's proof assumed (an `acl` context holds at least its request), the helper table is
//! the one the kernel owns for the type, and the run's budget is the verifier's instruction
//! bound, so a verified program that overran it would fault instead of running on.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use udf_bytecode::{Program, ProgramType};
use udf_runtime::{
    Compiled, Context, EmitHelpers, Extent, Fault, Helpers, NoHelpers, RunOptions, Runnable, Vm,
};
use udf_verifier::Facts;

/// The code an installed program runs: the interpreter's form, or native code.
#[derive(Debug)]
pub enum InstalledCode {
    /// The reference interpreter (on [`Installed`]'s decoded program).
    Interp,
    /// Native code mapped read+execute (from an authenticated package, or the kernel's JIT).
    Native(udf_runtime::native::NativeProgram),
}

/// A program that passed every check of the loader.
#[derive(Debug)]
pub struct Installed {
    pub(crate) name: String,
    pub(crate) ty: ProgramType,
    pub(crate) ctx_size: Option<u32>,
    pub(crate) prog: Program,
    pub(crate) facts: Facts,
    pub(crate) compiled: Compiled,
    pub(crate) code: InstalledCode,
}

/// What one invocation produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// `r0` at exit.
    pub r0: u64,
    /// The extents emitted, in order (`owns`).
    pub extents: Vec<Extent>,
}

/// Why an invocation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvokeError {
    /// The context is not the size the program was verified for.
    ContextSize {
        /// What the program was verified for.
        expected: u64,
        /// What it was given.
        got: u64,
    },
    /// The context's length is not one the verifier's proof assumed ([`Facts::admits`]):
    /// nothing ran.
    ContextLength {
        /// What it was given.
        got: u64,
        /// The shortest length the proof covers.
        min: u64,
        /// The longest.
        max: u64,
    },
    /// The run faulted: for a verified program, a verifier or engine bug.
    Fault(Fault),
}

impl fmt::Display for InvokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvokeError::ContextSize { expected, got } => {
                write!(f, "a context of {got} bytes for a program verified for {expected}")
            }
            InvokeError::ContextLength { got, min, max } => write!(
                f,
                "a context of {got} bytes is refused: the program was verified for {}; nothing ran",
                udf_runtime::LenRange(*min, *max)
            ),
            InvokeError::Fault(fault) => write!(f, "the program faulted: {fault}"),
        }
    }
}

impl Installed {
    /// The program's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its type.
    pub fn ty(&self) -> ProgramType {
        self.ty
    }

    /// The metadata size it was verified for (`owns`, `acl`, `size`).
    pub fn ctx_size(&self) -> Option<u32> {
        self.ctx_size
    }

    /// The bytecode.
    pub fn program(&self) -> &Program {
        &self.prog
    }

    /// What the kernel's verifier proved.
    pub fn facts(&self) -> &Facts {
        &self.facts
    }

    /// Whether it runs as native code.
    pub fn is_native(&self) -> bool {
        !matches!(self.code, InstalledCode::Interp)
    }

    /// The exact context length the program accepts, if fixed.
    pub fn expected_len(&self) -> Option<u64> {
        self.ctx_size.and_then(|n| self.ty.context_len(n))
    }

    /// Runs on `ctx` with the type's helpers (`emit` for `owns`, none otherwise); `wire_len`
    /// is a filter's `r3`. `vm` is the kernel's per-CPU stack.
    /// Native code calls the helpers directly (a table of plain function pointers made for
    /// their type; a host with its own helper dispatch, the bare-metal kernel, keeps it).
    pub fn invoke(&self, vm: &mut Vm, ctx: &[u8], wire_len: u64) -> Result<Run, InvokeError> {
        if self.ty == ProgramType::Owns {
            let mut emit = EmitHelpers::new(self.extent_limit());
            let r0 = self.invoke_typed(vm, ctx, wire_len, &mut emit)?;
            Ok(Run { r0, extents: emit.extents })
        } else {
            let r0 = self.invoke_typed(vm, ctx, wire_len, &mut NoHelpers)?;
            Ok(Run { r0, extents: Vec::new() })
        }
    }

    /// Most extents a run may emit: the verifier's bound.
    pub fn extent_limit(&self) -> usize {
        usize::try_from(self.facts.max_extents).unwrap_or(usize::MAX)
    }

    /// Runs on `ctx` calling `helpers` (the kernel's table for this type); returns `r0`.
    pub fn invoke_with(
        &self,
        vm: &mut Vm,
        ctx: &[u8],
        wire_len: u64,
        helpers: &mut dyn Helpers,
    ) -> Result<u64, InvokeError> {
        let opts = self.admit(ctx, wire_len)?;
        self.runnable()
            .run(vm, Context::ReadOnly(ctx), helpers, &opts)
            .map(|o| o.r0)
            .map_err(InvokeError::Fault)
    }

    /// [`Program::invoke_with`] with helpers of a known type, called directly by native code.
    fn invoke_typed<H: Helpers>(
        &self,
        vm: &mut Vm,
        ctx: &[u8],
        wire_len: u64,
        helpers: &mut H,
    ) -> Result<u64, InvokeError> {
        let opts = self.admit(ctx, wire_len)?;
        self.runnable()
            .run_with(vm, Context::ReadOnly(ctx), helpers, &opts)
            .map(|o| o.r0)
            .map_err(InvokeError::Fault)
    }

    /// Refuses a context the proof does not cover; else the run's options.
    fn admit(&self, ctx: &[u8], wire_len: u64) -> Result<RunOptions, InvokeError> {
        let got = ctx.len() as u64;
        if let Some(expected) = self.expected_len() {
            if got != expected {
                return Err(InvokeError::ContextSize { expected, got });
            }
        } else if got > udf_verifier::MAX_CTX_LEN {
            return Err(InvokeError::ContextSize { expected: udf_verifier::MAX_CTX_LEN, got });
        }
        // Whatever the type says, only the lengths the proof covers run (an `acl` context
        // shorter than its request, ...).
        if !self.facts.admits(ctx.len()) {
            let (min, max) = self.facts.ctx_len;
            return Err(InvokeError::ContextLength { got, min, max });
        }
        Ok(RunOptions { budget: self.facts.max_insns, r3: wire_len })
    }

    /// The code a run executes.
    fn runnable(&self) -> Runnable<'_> {
        match &self.code {
            InstalledCode::Interp => Runnable::Interp(&self.compiled),
            InstalledCode::Native(native) => Runnable::Native(native),
        }
    }
}
