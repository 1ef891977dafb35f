//! Running a checked program as its type says: read-only or read-write context, the type's
//! helper table, `r3` = wire length for filters. One place for `udf run` and `udf demo`.

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
        input.len() as u64
    } else {
        0
    };
    let outcome = vm.run(compiled, ctx, helpers, &RunOptions { budget, r3 })?;
    Ok(TypedRun {
        outcome,
        extents: emit.extents,
    })
}
