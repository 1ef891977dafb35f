//! Running a checked program as its type says (the runtime's typed runner,
//! [`udf_runtime::typed`]), with the command line's extent limit; compiling for this host.

use udf_bytecode::ProgramType;
use udf_runtime::{Compiled, Extent, Fault, Vm};
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

/// Prints a run as `udf run` does: `r0 = VALUE`, then one `extent START COUNT KIND` line per
/// extent; with `json`, one object holding `r0`, `extents` and the fields of `extra`.
pub fn print_run(json: bool, r0: u64, extents: &[Extent], extra: &[(&str, serde_json::Value)]) {
    if json {
        let extents: Vec<_> = extents
            .iter()
            .map(|e| serde_json::json!({"start": e.start, "count": e.count, "kind": e.kind}))
            .collect();
        let mut obj = serde_json::Map::new();
        obj.insert("r0".into(), r0.into());
        obj.insert("extents".into(), extents.into());
        for (k, v) in extra {
            obj.insert((*k).into(), v.clone());
        }
        crate::output::emit(serde_json::Value::Object(obj));
    } else {
        println!("r0 = {r0}");
        for e in extents {
            println!("extent {} {} {}", e.start, e.count, e.kind);
        }
    }
}
