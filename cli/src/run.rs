//! `udf run`: a program on the bytes of a file, as its type says, on the chosen engine.

use std::path::Path;

use miette::miette;
use udf_bytecode::ProgramType;

use crate::exec::{TypedRun, run_typed};
use crate::input::read;
use crate::input::{Failure, ProgramArgs};
use crate::verify;
use udf_filetests::ExecEngine as Engine;
use udf_runtime::Vm;

/// `udf run`: runs a program on the bytes of `data` as its type says (verified types in
/// trusted mode, only on the context lengths their proof assumed; `raw` on the checking
/// engines with `budget`) and prints `r0` and the extents.
pub fn command(
    json: bool,
    program: ProgramArgs<'_>,
    data: &Path,
    engine: Engine,
    harden: bool,
    budget: u64,
) -> Result<(), Failure> {
    let input = program.path;
    let (loaded, ty) = program.load(Some(ProgramType::Raw))?;
    let prog = &loaded.prog;
    let bytes = read(data)?;
    let mut facts = None;
    // An input of another size than the entry point's layout (or the C function's struct) is
    // the caller's mistake, said as such, not a verifier rejection pointing into the source.
    verify::check_input_size(ty, loaded.ctx_size(ty), loaded.name(), data, bytes.len())?;
    if ty.info().verified {
        // Trusted mode: only what the verifier accepts for this input's size runs (an input
        // too short for the layout is refused where the program would read past it), only on
        // the context lengths its proof assumed, and a `.udf` entry only on its own object size.
        let size = ty.template_object_size(bytes.len());
        let conf = verify::config(ty, size, udf_verifier::DEFAULT_BUDGET);
        let mut f = udf_verifier::verify(prog, &conf)
            .map_err(|e| Failure::refused(verify::report(input, &loaded, &e)))?;
        if let Some(n) = loaded.ctx_size(ty)
            && size != Some(n)
        {
            // The verdict at the entry's own size, so the refusal names the lengths it covers.
            let conf = verify::config(ty, Some(n), udf_verifier::DEFAULT_BUDGET);
            f = udf_verifier::verify(prog, &conf)
                .map_err(|e| Failure::refused(verify::report(input, &loaded, &e)))?;
        }
        refuse_unassumed_len(&f, ty, data, bytes.len())?;
        facts = Some(f);
    }
    let checks = |e: &dyn std::fmt::Display| {
        Failure::refused(miette!(code = "udf::check", "{}: {e}", input.display()))
    };
    let fault = |f: udf_runtime::Fault| {
        Failure::refused(miette!(code = "udf::fault", "{}: {f}", input.display()))
    };
    let TypedRun { outcome: out, extents } = match engine {
        Engine::Interp => {
            let cfg = udf_runtime::pre_run_checks(ty, facts.is_some());
            let compiled = udf_runtime::prepare(prog, &cfg).map_err(|e| checks(&e))?;
            run_typed(&mut Vm::new(), &compiled, ty, &bytes, budget).map_err(fault)?
        }
        Engine::Jit => {
            let mode = match &facts {
                Some(f) if harden => udf_jit::Mode::Hardened(f),
                Some(f) => udf_jit::Mode::Trusted(f),
                None => udf_jit::Mode::Checked,
            };
            let exe = crate::exec::jit(prog, ty, mode).map_err(|e| checks(&e))?;
            crate::exec::run_typed_native(&mut Vm::new(), &exe, ty, &bytes, budget)
                .map_err(fault)?
        }
    };
    crate::exec::print_run(json, out.r0, &extents, &[("executed", out.executed.into())]);
    Ok(())
}

/// Refuses (exit 1, nothing run) a context whose length the verifier's proof did not assume:
/// an `acl` context shorter than its request, an object of another size than the one verified.
fn refuse_unassumed_len(
    facts: &udf_verifier::Facts,
    ty: ProgramType,
    data: &Path,
    len: usize,
) -> Result<(), Failure> {
    if facts.admits(len) {
        return Ok(());
    }
    let (min, max) = facts.ctx_len;
    Err(Failure::refused(miette!(
        code = "udf::context",
        "{}: a context of {len} byte(s) is refused: the {ty} program was verified for {}; nothing ran",
        data.display(),
        udf_runtime::LenRange(min, max)
    )))
}
