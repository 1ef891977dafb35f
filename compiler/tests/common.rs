//! Shared helpers: compile a source and run an entry on the reference interpreter.

#![allow(dead_code)]

use udf_bytecode::{CheckConfig, Program, ProgramType};
use udf_runtime::{Context, EmitHelpers, Extent, NoHelpers, RunOptions, Vm};

/// Compiles `src`, panicking with the rendered diagnostics on error.
pub fn compile(src: &str) -> udf_compiler::Module {
    match udf_compiler::compile("test.udf", src) {
        Ok(m) => m,
        Err(d) => panic!("compile error:\n{}", d.render()),
    }
}

/// Runs entry `name` of `m` on `input` with the interpreter: `r0` and the extents.
pub fn run(m: &udf_compiler::Module, name: &str, input: &[u8]) -> (u64, Vec<Extent>) {
    let e = m.entry(name).expect("entry exists");
    let checks = CheckConfig::for_type(e.ty);
    run_program(&e.prog, e.ty, &checks, input, 10_000_000, 1 << 16)
}

/// Runs `prog`, of type `ty`, on `input` with the interpreter after the pre-run checks
/// `checks`, within `budget` instructions, keeping at most `emits` extents: `r0` and the
/// extents.
pub fn run_program(
    prog: &Program,
    ty: ProgramType,
    checks: &CheckConfig<'_>,
    input: &[u8],
    budget: u64,
    emits: usize,
) -> (u64, Vec<Extent>) {
    let compiled = udf_runtime::prepare(prog, checks).expect("pre-run checks");
    let mut emit = EmitHelpers::new(emits);
    let mut none = NoHelpers;
    let helpers: &mut dyn udf_runtime::Helpers =
        if ty == ProgramType::Owns { &mut emit } else { &mut none };
    let opts = RunOptions { budget, r3: input.len() as u64 };
    let out = Vm::new()
        .run(&compiled, Context::ReadOnly(input), helpers, &opts)
        .expect("a verified program does not fault");
    (out.r0, emit.extents)
}
