//! `udf jit`: native code for a target, its disassembly and size.

use miette::miette;
use serde_json::json;
use udf_bytecode::ProgramType;

use crate::input::{Failure, ProgramArgs};
use crate::output::emit;
use crate::verify;

/// `udf jit`: compiles for `target` (trusted code for verified types, checked for `raw`) and
/// prints each region's disassembly and the size.
pub fn command(
    json: bool,
    program: ProgramArgs<'_>,
    ctx_size: Option<u32>,
    target: &str,
) -> Result<(), Failure> {
    let target = udf_jit::Target::parse(target).ok_or_else(|| {
        Failure::usage(miette!(
            code = "udf::usage",
            "--target {target}: expected x86_64, aarch64 or riscv64"
        ))
    })?;
    let input = program.path;
    let (loaded, ty) = program.load(Some(ProgramType::Raw))?;
    let ctx_size = ctx_size.or(loaded.ctx_size(ty));
    let facts = if ty.info().verified {
        let conf = verify::config(ty, ctx_size, udf_verifier::DEFAULT_BUDGET);
        Some(
            udf_verifier::verify(&loaded.prog, &conf)
                .map_err(|e| Failure::refused(verify::report(input, &loaded, &e)))?,
        )
    } else {
        None
    };
    let mode = match &facts {
        Some(f) => udf_jit::Mode::Trusted(f),
        None => udf_jit::Mode::Checked,
    };
    let mut jit =
        udf_jit::Jit::new(target).map_err(|e| Failure::usage(miette!(code = "udf::jit", "{e}")))?;
    jit.options.disasm = true;
    let code = jit
        .compile(&loaded.prog, ty, mode)
        .map_err(|e| Failure::refused(miette!(code = "udf::jit", "{}: {e}", input.display())))?;
    let mode = if code.is_checked() { "checked" } else { "trusted" };
    if json {
        let regions: Vec<_> = code
            .regions()
            .iter()
            .zip(code.disasm())
            .map(|(r, text)| json!({"start": r.start, "offset": r.offset, "disasm": text}))
            .collect();
        emit(
            json!({"target": target.name(), "mode": mode, "bytes": code.bytes().len(), "regions": regions}),
        );
    } else {
        for (r, text) in code.regions().iter().zip(code.disasm()) {
            println!("; region from slot {} at byte offset {}", r.start, r.offset);
            print!("{text}");
        }
        println!(
            "; {} code, {mode}: {} bytes in {} region(s)",
            target.name(),
            code.bytes().len(),
            code.regions().len()
        );
    }
    Ok(())
}
