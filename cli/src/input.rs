//! Loading a program from a file (`.udf` source, `.s` text or raw `.bin` bytecode), with errors
//! as located miette diagnostics.

use std::ops::Range;
use std::path::Path;

use miette::{LabeledSpan, NamedSource, Report, miette};
use udf_bytecode::{AsmError, Program, ProgramType, assemble_with_lines};
use udf_compiler::{Entry, Module};

use crate::{EXIT_REFUSED, EXIT_USAGE};

/// A failure with the exit status it maps to.
pub struct Failure {
    /// 1 (refused) or 2 (usage, unreadable).
    pub status: u8,
    /// What to print: one report, or one per error (a `.udf` file's compile errors); never empty.
    pub reports: Vec<Report>,
}

impl Failure {
    /// Bad usage or unreadable input.
    pub fn usage(report: Report) -> Failure {
        Failure {
            status: EXIT_USAGE,
            reports: vec![report],
        }
    }
    /// Understood and refused.
    pub fn refused(report: Report) -> Failure {
        Failure {
            status: EXIT_REFUSED,
            reports: vec![report],
        }
    }
    /// A `.udf` file's compile errors: every one of them, refused.
    pub fn compile(diags: &udf_compiler::Diagnostics) -> Failure {
        let mut reports = diags.reports();
        if reports.is_empty() {
            reports.push(miette!(
                code = "udf::compile",
                "{}: not compiled",
                diags.path
            ));
        }
        Failure {
            status: EXIT_REFUSED,
            reports,
        }
    }
}

/// Reads a file, mapping I/O errors to exit status 2.
pub fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| {
        Failure::usage(miette!(
            code = "udf::io",
            "cannot read {}: {e}",
            path.display()
        ))
    })
}

/// Byte offset of 1-based `line`, `col` (in characters) in `src`.
pub(crate) fn offset_of(src: &str, line: usize, col: usize) -> usize {
    let start: usize = src
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = &src[start.min(src.len())..];
    start
        + rest
            .char_indices()
            .nth(col.saturating_sub(1))
            .map_or(rest.len(), |(i, _)| i)
}

/// An assembler error as a diagnostic pointing into the source.
pub fn asm_report(path: &Path, src: &str, e: &AsmError) -> Report {
    let at = offset_of(src, e.line, e.col);
    let len = src[at..]
        .chars()
        .take(e.len)
        .map(char::len_utf8)
        .sum::<usize>()
        .max(usize::from(at < src.len()));
    miette!(
        code = "udf::asm",
        labels = vec![LabeledSpan::at(at..at + len, "here")],
        "{}:{}:{}: {}",
        path.display(),
        e.line,
        e.col,
        e.kind
    )
    .with_source_code(NamedSource::new(
        path.display().to_string(),
        src.to_string(),
    ))
}

/// Whether a path names assembler text rather than bytecode.
pub fn is_text(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("s" | "asm"))
}

/// Whether a path names `.udf` source.
pub fn is_source(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()) == Some("udf")
}

/// A program and where its instructions come from.
pub struct Loaded {
    /// The program.
    pub prog: Program,
    /// The source text (`.s` and `.udf` input).
    pub src: Option<String>,
    /// 1-based line of each instruction (`.s` input).
    pub lines: Vec<usize>,
    /// The compiled entry point (`.udf` input): its type, context size, facts and source map.
    pub entry: Option<Entry>,
}

/// Where an instruction comes from in the source: the byte range to label, and the 1-based line
/// and column of its start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// Bytes of the source.
    pub range: Range<usize>,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
}

impl Loaded {
    /// The source of instruction `index`: its line (`.s`, indentation and comment left out) or
    /// the span the compiler recorded (`.udf`).
    pub fn locate(&self, index: usize) -> Option<Located> {
        let src = self.src.as_deref()?;
        if let Some(entry) = &self.entry {
            let range = entry.map.span(index)?.range();
            let (line, col) = udf_compiler::srcmap::line_col(src, range.start);
            return Some(Located { range, line, col });
        }
        let line = *self.lines.get(index)?;
        let start = offset_of(src, line, 1);
        let text = src[start.min(src.len())..].lines().next().unwrap_or("");
        let code = text.split('#').next().unwrap_or("");
        let at = start + (code.len() - code.trim_start().len());
        let len = code.trim().len().max(1);
        let col = src[start..at].chars().count() + 1;
        Some(Located {
            range: at..at + len,
            line,
            col,
        })
    }
}

/// Loads a program: `.s`/`.asm` files are assembled, `.udf` sources compiled (they must have a
/// single entry point), anything else is decoded as raw little-endian bytecode.
pub fn load_program(path: &Path) -> Result<Program, Failure> {
    load(path, None).map(|l| l.prog)
}

/// Reads and compiles a `.udf` source: its text and every entry point, or every compile error.
pub fn compile_source(path: &Path) -> Result<(String, Module), Failure> {
    let src = String::from_utf8(read(path)?).map_err(|_| {
        Failure::usage(miette!(
            code = "udf::io",
            "{}: not UTF-8 text",
            path.display()
        ))
    })?;
    match udf_compiler::compile(&path.display().to_string(), &src) {
        Ok(module) => Ok((src, module)),
        Err(diags) => Err(Failure::compile(&diags)),
    }
}

/// The entry point of `module` named `name`, or its only entry point of type `only` (any type
/// when `None`) when no name is given. Anything else is a usage error naming the candidates.
pub fn select_entry(
    path: &Path,
    module: Module,
    name: Option<&str>,
    only: Option<ProgramType>,
) -> Result<Entry, Failure> {
    let fits = |e: &Entry| only.is_none_or(|t| e.ty == t);
    let kind = only.map_or(String::new(), |t| format!("{t} "));
    let names = |m: &Module| {
        m.entries
            .iter()
            .filter(|e| fits(e))
            .map(|e| format!("{} ({})", e.name, e.ty))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut candidates: Vec<usize> = (0..module.entries.len())
        .filter(|&i| fits(&module.entries[i]))
        .collect();
    match name {
        Some(n) => match module.entries.iter().position(|e| e.name == n) {
            Some(i) if fits(&module.entries[i]) => {
                Ok(module.entries.into_iter().nth(i).expect("found"))
            }
            Some(i) => Err(Failure::usage(miette!(
                code = "udf::usage",
                "{}: entry point `{n}` is a {} entry point, not a {kind}one",
                path.display(),
                module.entries[i].ty
            ))),
            None => Err(Failure::usage(miette!(
                code = "udf::usage",
                help = format!("its {kind}entry points: {}", names(&module)),
                "{}: no entry point `{n}`",
                path.display()
            ))),
        },
        None if candidates.len() == 1 => {
            let i = candidates.remove(0);
            Ok(module.entries.into_iter().nth(i).expect("found"))
        }
        None if candidates.is_empty() => Err(Failure::usage(miette!(
            code = "udf::usage",
            "{}: no {kind}entry point",
            path.display()
        ))),
        None => Err(Failure::usage(miette!(
            code = "udf::usage",
            help = "name one with --entry",
            "{}: {} {kind}entry points: {}",
            path.display(),
            candidates.len(),
            names(&module)
        ))),
    }
}

/// Loads a program for the commands that take any input ([`load_program`]); `entry` names the
/// entry point of a `.udf` source and is a usage error for other input.
pub fn load(path: &Path, entry: Option<&str>) -> Result<Loaded, Failure> {
    if is_source(path) {
        let (src, module) = compile_source(path)?;
        let entry = select_entry(path, module, entry, None)?;
        return Ok(Loaded {
            prog: entry.prog.clone(),
            src: Some(src),
            lines: Vec::new(),
            entry: Some(entry),
        });
    }
    if entry.is_some() {
        return Err(Failure::usage(miette!(
            code = "udf::usage",
            "--entry applies to .udf sources only"
        )));
    }
    let bytes = read(path)?;
    if is_text(path) {
        let src = String::from_utf8(bytes).map_err(|_| {
            Failure::usage(miette!(
                code = "udf::io",
                "{}: not UTF-8 text",
                path.display()
            ))
        })?;
        match assemble_with_lines(&src) {
            Ok((prog, lines)) => Ok(Loaded {
                prog,
                src: Some(src),
                lines,
                entry: None,
            }),
            Err(e) => Err(Failure::refused(asm_report(path, &src, &e))),
        }
    } else {
        let prog = Program::decode(&bytes).map_err(|e| {
            Failure::refused(miette!(
                code = "udf::decode",
                help = "the file is read as raw 8-byte little-endian instructions; name text `.s`",
                "{}: {e}",
                path.display()
            ))
        })?;
        Ok(Loaded {
            prog,
            src: None,
            lines: Vec::new(),
            entry: None,
        })
    }
}
