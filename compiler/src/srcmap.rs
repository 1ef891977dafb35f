//! Spans and source maps: every emitted instruction remembers the source it came from.

pub use udf_diag::{Span, line_col};

/// The span of each instruction (by instruction index, not slot).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceMap {
    /// One span per instruction.
    pub spans: Vec<Span>,
}

impl SourceMap {
    /// The span of instruction `index`.
    pub fn span(&self, index: usize) -> Option<Span> {
        self.spans.get(index).copied()
    }

    /// The text form written beside `NAME.bin`: `INDEX LINE:COL-LINE:COL` per instruction.
    pub fn to_text(&self, src: &str) -> String {
        let mut out = String::new();
        for (i, s) in self.spans.iter().enumerate() {
            let (l0, c0) = line_col(src, s.start as usize);
            let (l1, c1) = line_col(src, s.end as usize);
            out.push_str(&format!("{i} {l0}:{c0}-{l1}:{c1}\n"));
        }
        out
    }
}
