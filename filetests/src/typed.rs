//! Running a checked program as its type says: read-only or read-write context, the type's
//! helper table, `r3` = wire length for filters. One place for `udf run`, `udf demo` and the
//! test files.

use udf_bytecode::ProgramType;
use udf_runtime::{
    Compiled, Context, EmitHelpers, Extent, Fault, Helpers, NoHelpers, Outcome, RunOptions, Vm,
};

/// Most extents one `owns` run may emit before it faults.
pub const MAX_EXTENTS: usize = 1 << 20;

/// What a run of a typed program produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypedRun {
    /// `r0` and the instruction count.
    pub outcome: Outcome,
    /// Extents emitted, in order (`owns` only).
    pub extents: Vec<Extent>,
}

/// Runs `compiled` as a program of type `ty` on `input` (copied first when the type's context
/// is writable, so `input` is never changed).
pub fn run_typed(
    vm: &mut Vm,
    compiled: &Compiled,
    ty: ProgramType,
    input: &[u8],
    budget: u64,
) -> Result<TypedRun, Fault> {
    run_code(vm, Code::Interp(compiled), ty, input, None, budget)
}

/// The code a run executes: the interpreter's form of a program, or native code.
#[derive(Clone, Copy)]
pub enum Code<'a> {
    /// For the reference interpreter.
    Interp(&'a Compiled),
    /// JIT code (trusted or checked).
    Native(&'a udf_jit::Executable),
}

/// Runs `code` as a program of type `ty` on `input`, like [`run_typed`]; for filters `r3` is
/// `wire_len` (the packet's length on the wire), or the input's length when `None`.
pub fn run_code(
    vm: &mut Vm,
    code: Code<'_>,
    ty: ProgramType,
    input: &[u8],
    wire_len: Option<u64>,
    budget: u64,
) -> Result<TypedRun, Fault> {
    as_typed(
        ty,
        input,
        wire_len,
        budget,
        |ctx, helpers, opts| match code {
            Code::Interp(compiled) => vm.run(compiled, ctx, helpers, opts),
            Code::Native(exe) => {
                let out = exe.run(vm, ctx, helpers, opts)?;
                Ok(Outcome {
                    r0: out.r0,
                    executed: out.executed.unwrap_or(0),
                })
            }
        },
    )
}

/// Sets up a run of type `ty` on `input` (context, helper table, `r3`) and hands it to `run`.
fn as_typed(
    ty: ProgramType,
    input: &[u8],
    wire_len: Option<u64>,
    budget: u64,
    run: impl FnOnce(Context<'_>, &mut dyn Helpers, &RunOptions) -> Result<Outcome, Fault>,
) -> Result<TypedRun, Fault> {
    let mut copy;
    let ctx = if ty.info().ctx.writable {
        copy = input.to_vec();
        Context::ReadWrite(&mut copy)
    } else {
        Context::ReadOnly(input)
    };
    let mut emit = EmitHelpers::new(MAX_EXTENTS);
    let mut none = NoHelpers;
    let helpers: &mut dyn Helpers = if ty == ProgramType::Owns {
        &mut emit
    } else {
        &mut none
    };
    let r3 = if ty == ProgramType::Filter {
        wire_len.unwrap_or(input.len() as u64)
    } else {
        0
    };
    let outcome = run(ctx, helpers, &RunOptions { budget, r3 })?;
    Ok(TypedRun {
        outcome,
        extents: emit.extents,
    })
}

thread_local! {
    /// One compiler per thread, reused across programs (its ISA and Cranelift contexts).
    static HOST_JIT: std::cell::RefCell<Option<udf_jit::Jit>> = const { std::cell::RefCell::new(None) };
}

/// Compiles `prog` for this host in `mode` and maps it.
pub fn jit(
    prog: &udf_bytecode::Program,
    ty: ProgramType,
    mode: udf_jit::Mode<'_>,
) -> Result<udf_jit::Executable, udf_jit::JitError> {
    let target =
        udf_jit::Target::host().ok_or(udf_jit::JitError::NotHost(udf_jit::Target::X86_64))?;
    HOST_JIT.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(udf_jit::Jit::new(target)?);
        }
        let jit = slot.as_mut().expect("set above");
        udf_jit::Executable::new(jit.compile(prog, ty, mode)?)
    })
}

/// [`jit`] in checked mode (for unverified programs).
pub fn jit_checked(
    prog: &udf_bytecode::Program,
    ty: ProgramType,
) -> Result<udf_jit::Executable, udf_jit::JitError> {
    jit(prog, ty, udf_jit::Mode::Checked)
}

/// Runs JIT code as a program of type `ty` on `input`, like [`run_typed`] (trusted code does
/// not count instructions: `executed` is then 0).
pub fn run_typed_native(
    vm: &mut Vm,
    exe: &udf_jit::Executable,
    ty: ProgramType,
    input: &[u8],
    budget: u64,
) -> Result<TypedRun, Fault> {
    run_code(vm, Code::Native(exe), ty, input, None, budget)
}
