//! Spans and source maps: every emitted instruction remembers the source it came from.

use core::fmt;

/// A byte range of the source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// The span `start..end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end.max(start) as u32,
        }
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
    /// As a range of byte offsets.
    pub fn range(self) -> core::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// 1-based line and column (in characters) of byte `offset` of `src`.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    (line, before[line_start..].chars().count() + 1)
}

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

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}
