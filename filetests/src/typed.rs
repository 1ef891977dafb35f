//! Running a checked program as its type says: the runtime's typed runner
//! ([`udf_runtime::typed`]: context, helper table, `r3`) with the command line's extent limit,
//! and compiling for this host. One place for `udf run`, `udf demo` and the test files.

use udf_bytecode::ProgramType;
use udf_runtime::{Compiled, Fault, Vm};
pub use udf_runtime::{Runnable, TypedRun};

/// Most extents one `owns` run may emit before it faults.
pub const MAX_EXTENTS: usize = 1 << 20;

/// Runs `compiled` as a program of type `ty` on `input` (copied first when the type's context
/// is writable, so `input` is never changed).
pub fn run_typed(
    vm: &mut Vm,
    compiled: &Compiled,
    ty: ProgramType,
    input: &[u8],
    budget: u64,
) -> Result<TypedRun, Fault> {
    run_code(vm, Runnable::Interp(compiled), ty, input, None, budget)
}

/// Runs `code` as a program of type `ty` on `input`, like [`run_typed`]; for filters `r3` is
/// `wire_len` (the packet's length on the wire), or the input's length when `None`.
pub fn run_code(
    vm: &mut Vm,
    code: Runnable<'_>,
    ty: ProgramType,
    input: &[u8],
    wire_len: Option<u64>,
    budget: u64,
) -> Result<TypedRun, Fault> {
    code.run_typed(vm, ty, input, wire_len, budget, MAX_EXTENTS)
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
    run_code(vm, Runnable::Native(exe.native()), ty, input, None, budget)
}
