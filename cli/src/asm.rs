//! `udf asm` and `udf disasm`: text to raw bytecode and back.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::EXIT_REFUSED;
use crate::input::Failure;
use crate::input::load_program;
use crate::output::emit;
use crate::output::write_file;
use udf_bytecode::disassemble;

/// `udf asm`: assembles text (every error of it reported), or re-encodes a program, into raw
/// bytecode in `output` (default: the input with extension `.bin`).
pub fn asm(json: bool, input: &Path, output: Option<PathBuf>) -> Result<(), Failure> {
    let prog = if crate::input::is_text(input) {
        // Every error of the text, not only the first.
        let src = crate::input::read_text(input)?;
        udf_bytecode::assemble_all(&src)
            .map_err(|e| Failure {
                status: EXIT_REFUSED,
                reports: crate::input::asm_reports(input, &src, &e),
            })?
            .0
    } else {
        load_program(input)?
    };
    let out = output.unwrap_or_else(|| input.with_extension("bin"));
    let bytes = prog.encode();
    write_file(&out, &bytes)?;
    if json {
        emit(
            json!({"output": out.display().to_string(), "instructions": prog.len(), "bytes": bytes.len()}),
        );
    } else {
        eprintln!("{}: {} instructions, {} bytes", out.display(), prog.len(), bytes.len());
    }
    Ok(())
}

/// `udf disasm`: the text form of a program.
pub fn disasm(json: bool, input: &Path) -> Result<(), Failure> {
    let prog = load_program(input)?;
    if json {
        let insns: Vec<_> =
            prog.iter().map(|(pc, i)| json!({"pc": pc, "text": i.to_string()})).collect();
        emit(json!({"instructions": insns}));
    } else {
        print!("{}", disassemble(&prog));
    }
    Ok(())
}
