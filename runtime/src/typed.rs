//! Running a program as its type says, on any engine: one runner for the command line, the
//! kernel and the checking interpreter.
//!
//! A type fixes the context's mode (read-write for `raw`, read-only otherwise), the helper
//! table ([`TypeHelpers`]: `emit` for `owns`, none for the others) and `r3` (a filter's wire
//! length, [`r3_for`]). [`run_as_type`] sets these up around any engine and returns the result
//! with the extents the helpers recorded ([`TypedRun`]); [`Runnable`] names the engines a run
//! may execute: the interpreter's form of a program or mapped native code.

use alloc::vec::Vec;

use udf_bytecode::ProgramType;

use crate::decoded::Compiled;
use crate::fault::Fault;
use crate::helpers::{EmitHelpers, Extent, Helpers, NoHelpers};
use crate::interp::{Context, Outcome, RunOptions, Vm};

/// What a run of a typed program produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypedRun {
    /// `r0` and the instruction count.
    pub outcome: Outcome,
    /// Extents emitted, in order (`owns` only).
    pub extents: Vec<Extent>,
}

/// The helper table of a program type, and what its helpers recorded.
#[derive(Debug)]
pub struct TypeHelpers {
    owns: bool,
    emit: EmitHelpers,
    none: NoHelpers,
}

impl TypeHelpers {
    /// The table of `ty`: `emit` (at most `max_extents` extents) for `owns`, none otherwise.
    pub fn new(ty: ProgramType, max_extents: usize) -> TypeHelpers {
        TypeHelpers {
            owns: ty == ProgramType::Owns,
            emit: EmitHelpers::new(max_extents),
            none: NoHelpers,
        }
    }

    /// The table to hand an engine.
    pub fn table(&mut self) -> &mut dyn Helpers {
        if self.owns { &mut self.emit } else { &mut self.none }
    }

    /// The extents emitted so far, in order.
    pub fn extents(&self) -> &[Extent] {
        &self.emit.extents
    }

    /// The extents emitted, in order.
    pub fn into_extents(self) -> Vec<Extent> {
        self.emit.extents
    }
}

/// `r3` on entry for a program of type `ty` on a context of `len` bytes: a filter's wire length
/// (`wire_len`, else the captured length), 0 for the other types.
pub fn r3_for(ty: ProgramType, len: usize, wire_len: Option<u64>) -> u64 {
    if ty == ProgramType::Filter { wire_len.unwrap_or(len as u64) } else { 0 }
}

/// Runs a program of type `ty` on `input` through `run` (an engine): the context as the type
/// says (copied first when writable, so `input` is never changed), the type's helpers (at most
/// `max_extents` extents), `r3` and `budget`; returns the outcome and the extents.
pub fn run_as_type<E>(
    ty: ProgramType,
    input: &[u8],
    r3: u64,
    budget: u64,
    max_extents: usize,
    run: impl FnOnce(Context<'_>, &mut dyn Helpers, &RunOptions) -> Result<Outcome, E>,
) -> Result<TypedRun, E> {
    let mut copy;
    let ctx = if ty.info().ctx.writable {
        copy = input.to_vec();
        Context::ReadWrite(&mut copy)
    } else {
        Context::ReadOnly(input)
    };
    let mut helpers = TypeHelpers::new(ty, max_extents);
    let outcome = run(ctx, helpers.table(), &RunOptions { budget, r3 })?;
    Ok(TypedRun { outcome, extents: helpers.into_extents() })
}

/// The code a run executes: the interpreter's form of a program, or mapped native code.
#[derive(Clone, Copy, Debug)]
pub enum Runnable<'a> {
    /// For the reference interpreter.
    Interp(&'a Compiled),
    /// Native code (trusted, hardened or checked).
    Native(&'a crate::native::NativeProgram),
}

impl Runnable<'_> {
    /// Runs on `ctx` with `vm`'s stack, calling `helpers`. Native code that does not count
    /// instructions (trusted code) reports 0 executed.
    pub fn run(
        self,
        vm: &mut Vm,
        ctx: Context<'_>,
        helpers: &mut dyn Helpers,
        opts: &RunOptions,
    ) -> Result<Outcome, Fault> {
        match self {
            Runnable::Interp(compiled) => vm.run(compiled, ctx, helpers, opts),
            Runnable::Native(native) => {
                let out = native.run(vm, ctx, helpers, opts)?;
                Ok(Outcome { r0: out.r0, executed: out.executed.unwrap_or(0) })
            }
        }
    }

    /// [`Runnable::run`] with helpers of a known type: native code calls them directly
    /// ([`crate::native::NativeProgram::run_with`]); the same results and faults.
    pub fn run_with<H: Helpers>(
        self,
        vm: &mut Vm,
        ctx: Context<'_>,
        helpers: &mut H,
        opts: &RunOptions,
    ) -> Result<Outcome, Fault> {
        match self {
            Runnable::Interp(compiled) => vm.run(compiled, ctx, helpers, opts),
            Runnable::Native(native) => {
                let out = native.run_with(vm, ctx, helpers, opts)?;
                Ok(Outcome { r0: out.r0, executed: out.executed.unwrap_or(0) })
            }
        }
    }

    /// Runs as a program of type `ty` on `input` ([`run_as_type`]; `r3` from [`r3_for`]).
    pub fn run_typed(
        self,
        vm: &mut Vm,
        ty: ProgramType,
        input: &[u8],
        wire_len: Option<u64>,
        budget: u64,
        max_extents: usize,
    ) -> Result<TypedRun, Fault> {
        let r3 = r3_for(ty, input.len(), wire_len);
        run_as_type(ty, input, r3, budget, max_extents, |ctx, helpers, opts| {
            self.run(vm, ctx, helpers, opts)
        })
    }
}
