//! Loading a program from a file (`.s` text or raw `.bin` bytecode), with errors as located
//! miette diagnostics.

use std::path::Path;

use miette::{LabeledSpan, NamedSource, Report, miette};
use udf_bytecode::{AsmError, Program, assemble_with_lines};

use crate::{EXIT_REFUSED, EXIT_USAGE};

/// A failure with the exit status it maps to.
pub struct Failure {
    /// 1 (refused) or 2 (usage, unreadable).
    pub status: u8,
    /// What to print.
    pub report: Report,
}

impl Failure {
    /// Bad usage or unreadable input.
    pub fn usage(report: Report) -> Failure {
        Failure {
            status: EXIT_USAGE,
            report,
        }
    }
    /// Understood and refused.
    pub fn refused(report: Report) -> Failure {
        Failure {
            status: EXIT_REFUSED,
            report,
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

/// A program and, for text input, its source and the line of each instruction.
pub struct Loaded {
    /// The program.
    pub prog: Program,
    /// The source text (`.s` input).
    pub src: Option<String>,
    /// 1-based line of each instruction (`.s` input).
    pub lines: Vec<usize>,
}

/// Loads a program: `.s`/`.asm` files are assembled, anything else is decoded as raw
/// little-endian bytecode. `.udf` needs the compiler, which is not part of udfkit yet.
pub fn load_program(path: &Path) -> Result<Program, Failure> {
    load(path).map(|l| l.prog)
}

/// Like [`load_program`], keeping the source for diagnostics.
pub fn load(path: &Path) -> Result<Loaded, Failure> {
    if path.extension().and_then(|e| e.to_str()) == Some("udf") {
        return Err(Failure::usage(miette!(
            code = "udf::unsupported",
            "{}: .udf sources need the compiler, which this build of udfkit does not have yet",
            path.display()
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
        })
    }
}
