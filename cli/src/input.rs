//! Loading a program from a file (`.udf` source, `.s` text, an ELF object from `clang -target
//! bpf`, or raw `.bin` bytecode), with errors as located miette diagnostics.

use std::ops::Range;
use std::path::{Path, PathBuf};

use miette::{
    LabeledSpan, MietteDiagnostic, MietteError, MietteSpanContents, NamedSource, Report,
    SourceCode, SourceSpan, SpanContents, miette,
};
use udf_bytecode::{AsmError, Program, ProgramType, assemble_with_lines};
use udf_compiler::elf::{CLine, CProgram, ElfError};
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
        Failure { status: EXIT_USAGE, reports: vec![report] }
    }
    /// Understood and refused.
    pub fn refused(report: Report) -> Failure {
        Failure { status: EXIT_REFUSED, reports: vec![report] }
    }
    /// A `.udf` file's compile errors: every one of them, refused.
    pub fn compile(diags: &udf_compiler::Diagnostics) -> Failure {
        let mut reports = diags.reports();
        if reports.is_empty() {
            reports.push(miette!(code = "udf::compile", "{}: not compiled", diags.path));
        }
        Failure { status: EXIT_REFUSED, reports }
    }
}

/// Reads a file, mapping I/O errors to exit status 2.
pub fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| {
        Failure::usage(miette!(code = "udf::io", "cannot read {}: {e}", path.display()))
    })
}

/// Byte offset of 1-based `line`, `col` (in characters) in `src`.
pub(crate) fn offset_of(src: &str, line: usize, col: usize) -> usize {
    let start: usize = src.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    let rest = &src[start.min(src.len())..];
    start + rest.char_indices().nth(col.saturating_sub(1)).map_or(rest.len(), |(i, _)| i)
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
    .with_source_code(NamedSource::new(path.display().to_string(), src.to_string()))
}

/// Every assembler error of `src` as a diagnostic on its line (in line order), then the count:
/// `PATH: N errors`. Each report holds its line only (a window of a long line), so a text with
/// many errors costs one pass over it.
pub fn asm_reports(path: &Path, src: &str, errs: &udf_bytecode::AsmErrors) -> Vec<Report> {
    const WINDOW: usize = 200;
    let mut errors: Vec<&AsmError> = errs.errors.iter().collect();
    errors.sort_by_key(|e| (e.line, e.col));
    let name = path.display().to_string();
    let mut lines = src.lines().enumerate();
    let mut current: Option<(usize, &str)> = None;
    let mut reports = Vec::with_capacity(errors.len() + 1);
    for e in errors {
        while current.is_none_or(|(n, _)| n < e.line) {
            match lines.next() {
                Some((i, l)) => current = Some((i + 1, l)),
                None => break,
            }
        }
        let diag = MietteDiagnostic::new(format!("{name}:{}:{}: {}", e.line, e.col, e.kind))
            .with_code("udf::asm");
        let Some((_, text)) = current.filter(|&(n, _)| n == e.line) else {
            reports.push(Report::new(diag));
            continue;
        };
        let skipped = e.col.saturating_sub(1).saturating_sub(WINDOW / 2);
        let window: String = text.chars().skip(skipped).take(WINDOW).collect();
        let at = window
            .char_indices()
            .nth(e.col.saturating_sub(1) - skipped)
            .map_or(window.len(), |(i, _)| i);
        let len = window[at..]
            .chars()
            .take(e.len)
            .map(char::len_utf8)
            .sum::<usize>()
            .max(usize::from(at < window.len()));
        reports.push(
            Report::new(diag.with_label(LabeledSpan::at(at..at + len, "here"))).with_source_code(
                LineSource { name: name.clone(), text: window, line: e.line, skipped },
            ),
        );
    }
    let n = errs.total;
    let shown = if n > errs.errors.len() {
        format!(" (the first {} shown)", errs.errors.len())
    } else {
        String::new()
    };
    reports.push(miette!(
        code = "udf::asm",
        "{name}: {n} error{}{shown}",
        if n == 1 { "" } else { "s" }
    ));
    reports
}

/// How far into its line a label may sit for the report to show its source: miette's renderer
/// pads to a label's column with a formatting width, which panics past 65,535.
const FAR_COLUMN: usize = 60_000;

/// A report as `{r:?}` draws it, or without its source snippet when a label starts or ends past
/// [`FAR_COLUMN`] of its line (a very long line: the message still names `file:line:col`).
pub fn render(r: &Report) -> String {
    let far = match (r.labels(), r.source_code()) {
        (Some(labels), Some(src)) => labels.into_iter().any(|l| {
            [l.offset(), l.offset() + l.len()].into_iter().any(|at| {
                src.read_span(&SourceSpan::from((at, 0)), 0, 0)
                    .map_or(true, |c| c.column() > FAR_COLUMN)
            })
        }),
        _ => false,
    };
    if !far {
        return format!("{r:?}");
    }
    let mut out = String::new();
    if let Some(code) = r.code() {
        out.push_str(&format!("{code}\n\n"));
    }
    out.push_str(&format!("  × {r}\n"));
    if let Some(help) = r.help() {
        out.push_str(&format!("  help: {help}\n"));
    }
    out
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
    /// The program read from an ELF object (C input): its section's type, BTF object size and
    /// C lines.
    pub c: Option<CProgram>,
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
    /// The object size the input fixes for a `ty` program: a `.udf` entry point's layout, or
    /// for C the size of the struct the function's first parameter points to (BTF), which for
    /// `acl` covers the 16-byte request before the object.
    pub fn ctx_size(&self, ty: ProgramType) -> Option<u32> {
        match (&self.entry, &self.c) {
            (Some(e), _) => e.ctx_size,
            (None, Some(c)) => c.object_size(ty),
            (None, None) => None,
        }
    }

    /// The entry point's or function's name (`.udf` and C input).
    pub fn name(&self) -> Option<&str> {
        match (&self.entry, &self.c) {
            (Some(e), _) => Some(&e.name),
            (None, Some(c)) => Some(&c.name),
            (None, None) => None,
        }
    }

    /// The C line of instruction `index` (ELF input with line info).
    pub fn c_line(&self, index: usize) -> Option<&CLine> {
        self.c.as_ref()?.lines.get(index)?.as_ref()
    }

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
        Some(Located { range: at..at + len, line, col })
    }
}

/// Loads a program: `.s`/`.asm` files are assembled, `.udf` sources compiled (they must have a
/// single entry point), anything else is decoded as raw little-endian bytecode.
pub fn load_program(path: &Path) -> Result<Program, Failure> {
    load(path, None).map(|l| l.prog)
}

/// Reads a text file (not UTF-8: a usage error, `udf::io`).
pub fn read_text(path: &Path) -> Result<String, Failure> {
    String::from_utf8(read(path)?).map_err(|_| {
        Failure::usage(miette!(code = "udf::io", "{}: not UTF-8 text", path.display()))
    })
}

/// [`compile_source`] for a command that `takes` only `.udf` sources (anything else is a usage
/// error: `{path}: {takes}`).
pub fn compile_source_only(path: &Path, takes: &str) -> Result<(String, Module), Failure> {
    if !is_source(path) {
        return Err(Failure::usage(miette!(code = "udf::usage", "{}: {takes}", path.display())));
    }
    compile_source(path)
}

/// The program arguments of `udf run`, `verify`, `jit` and `package`: the file, `--entry` and
/// `--type`.
#[derive(Clone, Copy, Debug)]
pub struct ProgramArgs<'a> {
    /// `.udf` source, `.s` text, an ELF object or raw bytecode.
    pub path: &'a Path,
    /// The entry point or ELF function.
    pub entry: Option<&'a str>,
    /// `--type`, unparsed.
    pub ty: Option<&'a str>,
}

impl ProgramArgs<'_> {
    /// Loads the program (see [`load`]) and its type (see [`program_type`]: `--type` is parsed
    /// before the program is read; `default` when neither the program nor `--type` gives one).
    pub fn load(&self, default: Option<ProgramType>) -> Result<(Loaded, ProgramType), Failure> {
        let given = self.ty.map(parse_type).transpose()?;
        let loaded = load(self.path, self.entry)?;
        let ty = program_type(self.path, &loaded, given, default)?;
        Ok((loaded, ty))
    }
}

/// Reads and compiles a `.udf` source: its text and every entry point, or every compile error.
pub fn compile_source(path: &Path) -> Result<(String, Module), Failure> {
    let src = read_text(path)?;
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
    let mut candidates: Vec<usize> =
        (0..module.entries.len()).filter(|&i| fits(&module.entries[i])).collect();
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
/// entry point of a `.udf` source or the function of an ELF object (known by its magic, whatever
/// its name) and is a usage error for other input.
pub fn load(path: &Path, entry: Option<&str>) -> Result<Loaded, Failure> {
    if is_source(path) && !is_elf_file(path) {
        let (src, module) = compile_source(path)?;
        let entry = select_entry(path, module, entry, None)?;
        return Ok(Loaded {
            prog: entry.prog.clone(),
            src: Some(src),
            lines: Vec::new(),
            entry: Some(entry),
            c: None,
        });
    }
    let bytes = read(path)?;
    if udf_compiler::elf::is_elf(&bytes) {
        let c = udf_compiler::elf::load(&bytes, entry).map_err(|e| elf_failure(path, &e))?;
        return Ok(Loaded {
            prog: c.prog.clone(),
            src: None,
            lines: Vec::new(),
            entry: None,
            c: Some(c),
        });
    }
    if entry.is_some() {
        return Err(Failure::usage(miette!(
            code = "udf::usage",
            "--entry applies to .udf sources and ELF objects only"
        )));
    }
    if is_text(path) {
        let src = String::from_utf8(bytes).map_err(|_| {
            Failure::usage(miette!(code = "udf::io", "{}: not UTF-8 text", path.display()))
        })?;
        match assemble_with_lines(&src) {
            Ok((prog, lines)) => Ok(Loaded { prog, src: Some(src), lines, entry: None, c: None }),
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
        Ok(Loaded { prog, src: None, lines: Vec::new(), entry: None, c: None })
    }
}

/// Whether a file is an ELF object (by its magic, whatever its name).
pub fn is_elf_file(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| udf_compiler::elf::is_elf(&magic))
}

/// An ELF reader error: refused (exit 1) when the object was understood and uses what udfkit
/// has no place for (maps, global data, foreign helpers, kernel functions, undefined functions),
/// else unreadable or misused (exit 2). Shown on its C line when `.BTF.ext` has one.
pub fn elf_failure(path: &Path, e: &ElfError) -> Failure {
    let code = format!("udf::elf::{}", e.code());
    let report = match &e.line {
        Some(line) => {
            c_report(path, line, format!("{}: {e}", path.display()), code, e.code(), String::new())
        }
        None => {
            Report::new(MietteDiagnostic::new(format!("{}: {e}", path.display())).with_code(code))
        }
    };
    if e.is_refusal() { Failure::refused(report) } else { Failure::usage(report) }
}

/// At most this many bytes of a C source are read to show a line of it.
const MAX_C_SOURCE: u64 = 16 << 20;

/// The C source file a line names, read from disk: as given, then relative to the object's
/// folder, then by its file name in that folder. Its display name and text.
fn c_source(obj: &Path, file: &str) -> Option<(String, String)> {
    let dir = obj.parent().unwrap_or(Path::new(""));
    let given = PathBuf::from(file);
    let mut tries = vec![given.clone(), dir.join(&given)];
    if let Some(name) = given.file_name() {
        tries.push(dir.join(name));
    }
    for p in tries {
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        if !meta.is_file() || meta.len() > MAX_C_SOURCE {
            continue;
        }
        if let Ok(bytes) = std::fs::read(&p) {
            return Some((p.display().to_string(), String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    None
}

/// One source line standing for its file (the C line's text BTF records, when the file is not
/// on disk): spans are offsets in the line, reported on the line's real number.
#[derive(Debug)]
struct LineSource {
    name: String,
    text: String,
    /// 1-based.
    line: usize,
    /// Characters of the line before `text` (a window of a long line).
    skipped: usize,
}

impl SourceCode for LineSource {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let c = self.text.as_bytes().read_span(span, before, after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            c.data(),
            *c.span(),
            c.line() + self.line.saturating_sub(1),
            c.column() + if c.line() == 0 { self.skipped } else { 0 },
            c.line_count(),
        )))
    }
}

/// A diagnostic on a C line: the file's text when it is on disk and its line is the one BTF
/// recorded, else the recorded line alone; the label runs from the column to the end of the
/// line's code.
pub fn c_report(
    obj: &Path,
    at: &CLine,
    message: String,
    code: String,
    label: &str,
    help: String,
) -> Report {
    let mut diag = MietteDiagnostic::new(message).with_code(code);
    if !help.is_empty() {
        diag = diag.with_help(help);
    }
    let label_in = |text: &str| -> Range<usize> {
        let end = text.trim_end().len();
        let first = text.len() - text.trim_start().len();
        let start = match at.col {
            0 => first,
            c => text.char_indices().nth(c as usize - 1).map_or(first, |(i, _)| i),
        }
        .min(end);
        start..end
    };
    let line = at.line as usize;
    if let Some((name, src)) = c_source(obj, &at.file) {
        let start = offset_of(&src, line, 1);
        let text = src[start.min(src.len())..].lines().next().unwrap_or("");
        // The object names the file: its line is shown only when it is the line BTF recorded
        // (or, without a recorded text, when the file is C source), never an arbitrary file.
        let same = match at.text.as_deref() {
            Some(t) => t.trim() == text.trim(),
            None => name.ends_with(".c") || name.ends_with(".h"),
        };
        if line >= 1 && start < src.len() && same {
            let r = label_in(text);
            let diag = diag.with_label(LabeledSpan::at(start + r.start..start + r.end, label));
            return Report::new(diag).with_source_code(NamedSource::new(name, src));
        }
    }
    match &at.text {
        Some(text) => {
            let r = label_in(text);
            Report::new(diag.with_label(LabeledSpan::at(r, label))).with_source_code(LineSource {
                name: at.file.clone(),
                text: text.clone(),
                line,
                skipped: 0,
            })
        }
        None => Report::new(diag),
    }
}

/// Where a report points: the file, 1-based line and column of its first label (what `--json`
/// errors carry; `None` where it has none).
pub fn report_location(r: &Report) -> (Option<String>, Option<usize>, Option<usize>) {
    let (Some(label), Some(src)) = (r.labels().and_then(|mut l| l.next()), r.source_code()) else {
        return (None, None, None);
    };
    match src.read_span(label.inner(), 0, 0) {
        Ok(c) => (c.name().map(str::to_string), Some(c.line() + 1), Some(c.column() + 1)),
        Err(_) => (None, None, None),
    }
}

/// The program type: a `.udf` entry point's (`--type`, when given, must agree), an ELF
/// function's section's (`--type`, when given, must agree; required when the section names no
/// type, and the program's helper calls are then checked against it), else `--type`, else
/// `default` (`None`: `--type` is required). `--type` is parsed before the program is read.
pub fn program_type(
    input: &Path,
    loaded: &Loaded,
    given: Option<ProgramType>,
    default: Option<ProgramType>,
) -> Result<ProgramType, Failure> {
    if let Some(c) = &loaded.c {
        return match (c.ty, given) {
            (Some(s), Some(t)) if s != t => Err(Failure::usage(miette!(
                code = "udf::usage",
                help = "the section name fixes the type: leave --type out",
                "--type {t}: function `{}` is in section `{}`, which gives it type {s}",
                c.name,
                c.section
            ))),
            (Some(s), _) => Ok(s),
            (None, Some(t)) => {
                udf_compiler::elf::check_helpers(c, t).map_err(|e| elf_failure(input, &e))?;
                Ok(t)
            }
            (None, None) => Err(Failure::usage(miette!(
                code = "udf::usage",
                help = "name the section filter, owns, acl or size (__attribute__((section(\"owns\")))), or give --type",
                "{}: function `{}` is in section `{}`, which names no program type: give --type",
                input.display(),
                c.name,
                c.section
            ))),
        };
    }
    match (&loaded.entry, given, default) {
        (Some(e), Some(t), _) if t != e.ty => Err(Failure::usage(miette!(
            code = "udf::usage",
            help = "a .udf entry point fixes its type: leave --type out",
            "--type {t}: entry point `{}` is a {} program",
            e.name,
            e.ty
        ))),
        (Some(e), _, _) => Ok(e.ty),
        (None, Some(t), _) => Ok(t),
        (None, None, Some(t)) => Ok(t),
        (None, None, None) => Err(Failure::usage(miette!(
            code = "udf::usage",
            "--type is required for .s and .bin input (filter, owns, acl or size)"
        ))),
    }
}

/// A `--type` argument.
pub fn parse_type(ty: &str) -> Result<ProgramType, Failure> {
    ty.parse().map_err(|e| Failure::usage(miette!(code = "udf::usage", "--type {ty}: {e}")))
}
