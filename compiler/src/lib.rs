//! udfkit's `.udf` compiler (`docs/language.md`): a logos lexer, a lalrpop grammar with error
//! recovery, one checking-and-lowering pass per entry point, and the verifier run on every
//! program before it is handed out.
//!
//! ```text
//! source ──lexer──► tokens ──grammar──► syntax tree ──items──► constants, layouts, fns
//!                                                      │
//!                         each entry point ──lower──► bytecode + source map ──verify──► Entry
//! ```
//!
//! Errors are data ([`Diagnostic`]: code, message, labelled spans, help) gathered across the whole
//! file; [`Diagnostics`] renders them with miette. A program the verifier rejects for a limit the
//! source can respect (its budget of worst-case instructions, loop nesting) is a user error naming
//! the loop (`udf::budget`, `udf::limit::loops`); any other rejection is a compiler bug, reported
//! as `udf::compiler_bug` with the span of the offending instruction. No source crashes the
//! compiler: depth, size and inlining are bounded ([`limits`]).

pub mod ast;
pub mod diag;
pub mod elf;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod items;
pub mod lexer;
pub mod limits;
mod lower;
mod packet;
pub mod parse;
pub mod srcmap;

/// The pcap-filter front end (`udf-pcap`): `filter NAME = pcap "EXPR";` entries are compiled by it.
use udf_pcap as pcap;

use udf_bytecode::{Program, ProgramType};
use udf_verifier::Verified;

pub use diag::{Diagnostic, Diagnostics, SpanLabel};
pub use srcmap::{SourceMap, Span};

/// One compiled entry point.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Its name.
    pub name: String,
    /// The program type its entry kind fixes.
    pub ty: ProgramType,
    /// The verified program.
    pub prog: Program,
    /// The object size the verifier was told (`owns`, `acl`, `size`); `None` for filters.
    pub ctx_size: Option<u32>,
    /// What the verifier proved (the program, type and size with it: what trusted native
    /// code and packages are made from).
    pub facts: Verified,
    /// The span of every instruction.
    pub map: SourceMap,
    /// The entry point's declaration.
    pub span: Span,
    /// The packet views a filter's code reads (`ether`, `ipv4`, `tcp`, ...: they assume an
    /// Ethernet frame), in name order; empty when it reads the packet only through the raw
    /// accessors (`p.u8[i]`, `p.len`, ...), which fit any link type.
    pub views: Vec<&'static str>,
}

/// Every entry point of a source file, in source order.
#[derive(Clone, Debug)]
pub struct Module {
    /// The entry points.
    pub entries: Vec<Entry>,
}

impl Module {
    /// The entry point called `name`.
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }
}

/// Compiles a source file. `path` only names the file in diagnostics.
pub fn compile(path: &str, src: &str) -> Result<Module, Diagnostics> {
    let mut diags = Vec::new();
    let file = parse::parse(src, &mut diags);
    let items = items::collect(&file, &mut diags);
    let mut entries = Vec::new();
    for e in file.entries() {
        if let Some(out) = lower::entry(&items, e, &mut diags) {
            entries.push(out);
        }
    }
    diags.sort_by_key(|d| (d.primary_start(), d.code));
    diags.dedup();
    // A message quotes source text (a name, a literal): never a megabyte of it.
    for d in &mut diags {
        if d.message.len() > limits::MAX_MESSAGE {
            let mut end = limits::MAX_MESSAGE;
            while !d.message.is_char_boundary(end) {
                end -= 1;
            }
            d.message.truncate(end);
            d.message.push('…');
        }
    }
    if diags.len() > limits::MAX_DIAGNOSTICS {
        let more = diags.len() - limits::MAX_DIAGNOSTICS;
        let next = diags[limits::MAX_DIAGNOSTICS].labels.first().map(|l| l.span);
        diags.truncate(limits::MAX_DIAGNOSTICS);
        let mut d = Diagnostic::new(
            "udf::limit::errors",
            format!(
                "{more} more error(s) not shown (at most {} are reported)",
                limits::MAX_DIAGNOSTICS
            ),
        )
        .help("fix the errors above first");
        if let Some(span) = next {
            d = d.label(span, "the next one is here");
        }
        diags.push(d);
    }
    if diags.is_empty() { Ok(Module { entries }) } else { Err(Diagnostics::new(path, src, diags)) }
}

/// Reads and compiles a file.
pub fn compile_file(path: &std::path::Path) -> Result<Module, Diagnostics> {
    match std::fs::read_to_string(path) {
        Ok(src) => compile(&path.display().to_string(), &src),
        Err(e) => Err(Diagnostics::new(
            &path.display().to_string(),
            "",
            vec![Diagnostic::new("udf::io", format!("cannot read: {e}"))],
        )),
    }
}
