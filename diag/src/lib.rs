//! Spans and diagnostics shared by udfkit's front ends (the `.udf` compiler, `udf-compiler`, and
//! the pcap-filter front end, `udf-pcap`): a [`Span`] is a byte range of the source; a
//! [`Diagnostic`] is data (a code, a message, labelled spans and a help line), rendered with miette
//! only at the edge ([`Diagnostics::reports`]).

use core::fmt;

use miette::{
    LabeledSpan, MietteDiagnostic, MietteError, MietteSpanContents, Report, SourceCode, SourceSpan,
    SpanContents,
};

mod span;

pub use span::{Span, line_col};

/// A labelled span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanLabel {
    /// Where.
    pub span: Span,
    /// What it is.
    pub text: String,
}

/// One error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable code, `udf::...`.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// The spans involved; the first is the primary one.
    pub labels: Vec<SpanLabel>,
    /// How to fix it, where known.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic with no span yet.
    pub fn new(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic { code, message: message.into(), labels: Vec::new(), help: None }
    }
    /// Adds a labelled span.
    pub fn label(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.labels.push(SpanLabel { span, text: text.into() });
        self
    }
    /// Adds a help line.
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }
    /// Start of the primary span (0 when there is none).
    pub fn primary_start(&self) -> u32 {
        self.labels.first().map_or(0, |l| l.span.start)
    }
}

/// All errors of one file, with the source to render them against.
#[derive(Clone, Debug)]
pub struct Diagnostics {
    /// The file's name.
    pub path: String,
    /// Its text.
    pub src: String,
    /// The errors, in source order.
    pub list: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Wraps a list.
    pub fn new(path: &str, src: &str, list: Vec<Diagnostic>) -> Diagnostics {
        Diagnostics { path: path.to_string(), src: src.to_string(), list }
    }

    /// `path:line:col` of a diagnostic's primary span.
    pub fn location(&self, d: &Diagnostic) -> String {
        match d.labels.first() {
            Some(l) => {
                let (line, col) = line_col(&self.src, l.span.start as usize);
                format!("{}:{line}:{col}", self.path)
            }
            None => self.path.clone(),
        }
    }

    /// One miette report per error, each naming `file:line:col`. Labels are cut to
    /// [`WINDOW`] bytes, and lines longer than that are shown from the label on (see
    /// [`Excerpted`]), so a huge source renders in bounded space.
    pub fn reports(&self) -> Vec<Report> {
        let src = std::sync::Arc::new(self.src.clone());
        self.list
            .iter()
            .map(|d| {
                let mut m = MietteDiagnostic::new(format!("{}: {}", self.location(d), d.message))
                    .with_code(d.code)
                    .with_labels(d.labels.iter().map(|l| {
                        let r = l.span.range();
                        let start = r.start.min(src.len());
                        let mut end = r.end.max(start).min(src.len()).min(start + WINDOW);
                        while !src.is_char_boundary(end) {
                            end -= 1;
                        }
                        LabeledSpan::at(start..end.max(start), l.text.clone())
                    }));
                if let Some(h) = &d.help {
                    m = m.with_help(h.clone());
                }
                Report::new(m)
                    .with_source_code(Excerpted { name: self.path.clone(), text: src.clone() })
            })
            .collect()
    }

    /// Every report rendered as miette draws it without colour (for tests and logs).
    pub fn render(&self) -> String {
        let handler =
            miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
                .with_width(100);
        let mut out = String::new();
        for r in self.reports() {
            let _ = handler.render_report(&mut out, r.as_ref());
        }
        out
    }
}

/// The longest label, and the most of an overlong line, a report shows (bytes).
pub const WINDOW: usize = 160;

/// The source as miette reads it, except that a snippet longer than a few windows (a line of
/// thousands of characters) is cut to a window starting at the span asked for: miette lays out
/// whole lines, which for a hostile source is megabytes per report, and it panics on a label
/// past column 65,535. Lines and columns stay those of the whole file.
#[derive(Debug)]
struct Excerpted {
    name: String,
    text: std::sync::Arc<String>,
}

impl SourceCode for Excerpted {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        let text: &'a str = self.text.as_str();
        let full = text.read_span(span, before, after)?;
        if full.data().len() <= 4 * WINDOW {
            return Ok(Box::new(MietteSpanContents::new_named(
                self.name.clone(),
                full.data(),
                *full.span(),
                full.line(),
                full.column(),
                full.line_count(),
            )));
        }
        let start = span.offset().min(text.len());
        let mut start = start;
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (start + span.len().min(WINDOW) + WINDOW).min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        if let Some(nl) = text[start..end].find('\n') {
            end = start + nl.max(span.len().min(end - start));
            while !text.is_char_boundary(end) {
                end -= 1;
            }
        }
        let (line, col) = line_col(text, start);
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.clone(),
            &text.as_bytes()[start..end],
            SourceSpan::new(start.into(), end - start),
            line - 1,
            col - 1,
            1,
        )))
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.list {
            writeln!(f, "{}: {} [{}]", self.location(d), d.message, d.code)?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
