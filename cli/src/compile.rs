//! `udf compile`: each entry point of a `.udf` source to bytecode and its source map.

use std::path::{Path, PathBuf};

use miette::miette;
use serde_json::{Value as Json, json};

use crate::input::Failure;
use crate::input::select_entry;
use crate::output::emit;
use crate::output::write_file;

/// `udf compile`: writes `NAME.bin` and `NAME.map` for each entry point (or `entry`) of a
/// `.udf` source into `dir` (default: the source's folder).
pub fn command(
    json: bool,
    input: &Path,
    dir: Option<PathBuf>,
    entry: Option<&str>,
) -> Result<(), Failure> {
    let (src, module) =
        crate::input::compile_source_only(input, "`udf compile` takes .udf sources")?;
    let entries = match entry {
        Some(_) => vec![select_entry(input, module, entry, None)?],
        None => module.entries,
    };
    let dir = dir.unwrap_or_else(|| match input.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    });
    std::fs::create_dir_all(&dir).map_err(|e| {
        Failure::usage(miette!(code = "udf::io", "cannot create {}: {e}", dir.display()))
    })?;
    let mut out = Vec::new();
    for e in &entries {
        let bin = dir.join(format!("{}.bin", e.name));
        let map = dir.join(format!("{}.map", e.name));
        write_file(&bin, &e.prog.encode())?;
        write_file(&map, e.map.to_text(&src).as_bytes())?;
        if json {
            out.push(json!({
                "name": e.name,
                "type": e.ty.name(),
                "ctx_size": e.ctx_size,
                "instructions": e.prog.len(),
                "max_insns": e.facts.max_insns,
                "max_extents": e.facts.max_extents,
                "stack_use": e.facts.stack_use,
                "bin": bin.display().to_string(),
                "map": map.display().to_string(),
            }));
        } else {
            let ctx = e.ctx_size.map_or(String::new(), |n| format!(", {n}-byte object"));
            eprintln!(
                "{} ({}{ctx}): {} instructions, instruction bound {} -> {}",
                e.name,
                e.ty,
                e.prog.len(),
                e.facts.max_insns,
                bin.display()
            );
        }
    }
    if json {
        emit(json!({"entries": Json::Array(out)}));
    } else if entries.is_empty() {
        eprintln!("{}: no entry points", input.display());
    }
    Ok(())
}
