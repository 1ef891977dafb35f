//! `udf verify` and the trusted-mode gate of `udf run`: the verifier's verdict as a miette
//! diagnostic pointing at the source line (`.s` input), the source span (`.udf` input) or the
//! instruction, and as JSON.

use std::path::Path;

use miette::{LabeledSpan, MietteDiagnostic, NamedSource, Report, miette};
use serde_json::{Value as Json, json};
use udf_bytecode::{Program, ProgramType};
use udf_verifier::{Config, Facts, Rejection, Warning};

use crate::input::{Failure, Loaded, ProgramArgs};
use crate::output::emit;

/// The verifier configuration for a type and an optional object size.
pub fn config(ty: ProgramType, ctx_size: Option<u32>, budget: u64) -> Config {
    let mut c = Config::new(ty);
    c.ctx_size = ctx_size;
    c.budget = budget;
    c
}

/// The rejection as a located diagnostic: on the source line (`.s`) or the source span the
/// instruction was compiled from (`.udf`), else on the instruction.
pub fn report(path: &Path, loaded: &Loaded, e: &Rejection) -> Report {
    report_hinted(path, loaded, e, None)
}

/// What to tell the author of a `ty` program rejected for reading past a context whose object
/// size was not given (`ctx_size` `None`): give `--ctx-size N`, with the smallest `N` this
/// access needs.
pub fn ctx_size_hint(ty: ProgramType, ctx_size: Option<u32>, e: &Rejection) -> Option<String> {
    use udf_bytecode::progtype::CtxSize;
    let header = match ty.info().ctx.size {
        CtxSize::Template => 0,
        CtxSize::HeaderThenTemplate(h) => i128::from(h),
        _ => return None,
    };
    let udf_verifier::Rule::OutOfBounds { region: udf_verifier::Region::Ctx, lo, hi, .. } = &e.rule
    else {
        return None;
    };
    if ctx_size.is_some() || *lo < 0 {
        return None;
    }
    let need = (*hi - header).max(1);
    let n = if need <= i128::from(u32::MAX) {
        format!("--ctx-size N (N >= {need} for this access)")
    } else {
        "--ctx-size N".to_string()
    };
    Some(format!(
        "the {ty} object's size is unknown, so no byte of it is known to exist: give {n}, the \
         size of the object the program reads"
    ))
}

/// [`report`] with `hint` as the help's first line.
pub fn report_hinted(path: &Path, loaded: &Loaded, e: &Rejection, hint: Option<String>) -> Report {
    let insn = loaded.prog.insns().get(e.index).map(|i| i.to_string()).unwrap_or_default();
    let mut help = hint.map_or(String::new(), |h| h + "\n");
    for (r, v) in &e.regs {
        help.push_str(&format!("{r} before it: {v}\n"));
    }
    if !e.path.is_empty() {
        help.push_str(&format!("reached by: {}", e.path_text()));
    }
    let code = format!("udf::verify::{}", e.rule.code());
    if let Some(c) = &loaded.c {
        let func = c.origin(e.index).map_or(c.name.clone(), |(f, _)| f.name.clone());
        let of = format!(" of `{func}`");
        return match loaded.c_line(e.index) {
            Some(at) => crate::input::c_report(
                path,
                at,
                format!(
                    "{}:{}:{}: instruction {} (`{insn}`){of}: {}",
                    at.file, at.line, at.col, e.index, e.rule
                ),
                code,
                e.rule.code(),
                help.trim_end().to_string(),
            ),
            None => Report::new(
                MietteDiagnostic::new(format!(
                    "{}: instruction {} (pc {}, `{insn}`){of}: {}",
                    path.display(),
                    e.index,
                    e.pc,
                    e.rule
                ))
                .with_code(code)
                .with_help(help.trim_end().to_string()),
            ),
        };
    }
    let of_entry =
        loaded.entry.as_ref().map_or(String::new(), |en| format!(" of entry point `{}`", en.name));
    match (&loaded.src, loaded.locate(e.index)) {
        (Some(src), Some(at)) => {
            let diag = MietteDiagnostic::new(format!(
                "{}:{}:{}: instruction {} (`{insn}`){of_entry}: {}",
                path.display(),
                at.line,
                at.col,
                e.index,
                e.rule
            ))
            .with_code(code)
            .with_labels([LabeledSpan::at(at.range, e.rule.code())])
            .with_help(help.trim_end().to_string());
            Report::new(diag)
                .with_source_code(NamedSource::new(path.display().to_string(), src.clone()))
        }
        _ => {
            let diag = MietteDiagnostic::new(format!(
                "{}: instruction {} (pc {}, `{insn}`){of_entry}: {}",
                path.display(),
                e.index,
                e.pc,
                e.rule
            ))
            .with_code(code)
            .with_help(help.trim_end().to_string());
            Report::new(diag)
        }
    }
}

/// The rejection as JSON: `file`, `line` and `col` are the C line's for ELF input (from BTF),
/// the source's for `.s` and `.udf` input (`file` is then `input`).
pub fn rejection_json(input: &Path, loaded: &Loaded, e: &Rejection) -> Json {
    let regs: Vec<Json> =
        e.regs.iter().map(|(r, v)| json!({"reg": r.to_string(), "state": v.to_string()})).collect();
    let path: Vec<Json> =
        e.path.iter().map(|p| json!({"index": p.index, "taken": p.taken})).collect();
    let (file, line, col) = match (&loaded.c, loaded.locate(e.index)) {
        (Some(_), _) => match loaded.c_line(e.index) {
            Some(l) => (Some(l.file.clone()), Some(l.line as usize), Some(l.col as usize)),
            None => (None, None, None),
        },
        (None, Some(a)) => (Some(input.display().to_string()), Some(a.line), Some(a.col)),
        (None, None) => (None, None, None),
    };
    let function = loaded.c.as_ref().and_then(|c| c.origin(e.index)).map(|(f, _)| f.name.clone());
    json!({
        "accepted": false,
        "index": e.index,
        "pc": e.pc,
        "file": file,
        "line": line,
        "col": col,
        "function": function,
        "rule": e.rule.code(),
        "message": e.rule.to_string(),
        "registers": regs,
        "path": path,
    })
}

/// The facts as JSON.
pub fn facts_json(ty: ProgramType, prog: &Program, f: &Facts) -> Json {
    let loops: Vec<Json> = f
        .loops
        .iter()
        .map(|l| json!({"head": l.head, "tail": l.tail, "max_iterations": l.max_iterations}))
        .collect();
    json!({
        "accepted": true,
        "type": ty.name(),
        "instructions": prog.len(),
        "max_insns": f.max_insns,
        "max_extents": f.max_extents,
        "stack_use": f.stack_use,
        "max_frames": f.max_frames,
        "loops": loops,
        "warnings": warnings(f),
    })
}

fn warnings(f: &Facts) -> Vec<String> {
    f.warnings
        .iter()
        .map(|w| match w {
            Warning::Unreachable { from, to } if from == to => {
                format!("instruction {from} never executes")
            }
            Warning::Unreachable { from, to } => {
                format!("instructions {from}..{to} never execute")
            }
        })
        .collect()
}

/// The facts as text.
pub fn facts_text(ty: ProgramType, prog: &Program, f: &Facts) -> String {
    let mut s = format!(
        "accepted: {} program, {} instructions\n  instruction bound: {}\n  stack use: {} bytes, {} frame(s)\n",
        ty.name(),
        prog.len(),
        f.max_insns,
        f.stack_use,
        f.max_frames
    );
    if ty == ProgramType::Owns {
        s.push_str(&format!("  extents bound: {}\n", f.max_extents));
    }
    for l in &f.loops {
        s.push_str(&format!(
            "  loop {}..{}: at most {} iterations\n",
            l.head, l.tail, l.max_iterations
        ));
    }
    for w in warnings(f) {
        s.push_str(&format!("  warning: {w}\n"));
    }
    s
}

/// The context length a `ty` program with an object of `ctx_size` bytes takes: the object, after
/// the type's header (`acl`: the 16-byte request); `None` when the type's context has no
/// template or no size is fixed.
pub fn context_len(ty: ProgramType, ctx_size: Option<u32>) -> Option<u64> {
    ctx_size.and_then(|n| ty.context_len(n))
}

/// Refuses (exit 1, nothing run) an input whose size is not the one a `ty` program whose
/// object is `ctx_size` bytes takes (a `.udf` entry point's layout, a C function's struct, a
/// package's recorded size): `udf::input::short` when it is shorter, `udf::input::size` when
/// longer. The one check of `udf run` and `udf kernel load`. `name` is the entry point's,
/// function's or package's.
pub fn check_input_size(
    ty: ProgramType,
    ctx_size: Option<u32>,
    name: Option<&str>,
    data: &Path,
    len: usize,
) -> Result<(), crate::input::Failure> {
    let Some(want) = context_len(ty, ctx_size) else {
        return Ok(());
    };
    let got = len as u64;
    if got == want {
        return Ok(());
    }
    let of = name.map_or(String::new(), |n| format!(" `{n}`"));
    let object = ctx_size.unwrap_or(0);
    let layout = if want == u64::from(object) {
        format!("its layout is {object} bytes")
    } else {
        format!("a {}-byte request, then its {object}-byte layout", want - u64::from(object))
    };
    let (code, how) = if got < want {
        ("udf::input::short", "shorter than")
    } else {
        ("udf::input::size", "longer than")
    };
    Err(crate::input::Failure::refused(miette::miette!(
        code = code,
        help = format!("give an input of exactly {want} bytes"),
        "{}: the input is {got} bytes, {how} the {want} bytes the {ty} program{of} takes ({layout}): refused, nothing ran",
        data.display(),
    )))
}

/// `udf verify`: the facts of an accepted program, or its located rejection.
pub fn command(
    json: bool,
    program: ProgramArgs<'_>,
    ctx_size: Option<u32>,
    budget: u64,
) -> Result<bool, Failure> {
    let input = program.path;
    let (loaded, ty) = program.load(None)?;
    let ctx_size = ctx_size.or(loaded.ctx_size(ty));
    if !ty.info().verified {
        return Err(Failure::usage(miette!(
            code = "udf::usage",
            "`{ty}` programs are not verified (they run on the checking engines only)"
        )));
    }
    match udf_verifier::verify(&loaded.prog, &config(ty, ctx_size, budget)) {
        Ok(facts) => {
            if json {
                emit(facts_json(ty, &loaded.prog, &facts));
            } else {
                print!("{}", facts_text(ty, &loaded.prog, &facts));
            }
            Ok(true)
        }
        Err(e) => {
            if json {
                emit(rejection_json(input, &loaded, &e));
            }
            let hint = ctx_size_hint(ty, ctx_size, &e);
            Err(Failure::refused(report_hinted(input, &loaded, &e, hint)))
        }
    }
}
