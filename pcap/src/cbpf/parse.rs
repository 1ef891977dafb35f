//! The importers: `tcpdump -dd` text (a C array initialiser), `tcpdump -ddd` text (a count, then
//! one `code jt jf k` line per instruction) and raw little-endian `struct sock_filter` arrays,
//! plus [`CbpfError`], the located error every part of this module returns.
//!
//! Text errors carry the 1-based line and column of the offending token; raw errors the index of
//! the record. Numbers are C literals: decimal, `0x` hexadecimal, or octal with a leading `0`.
//! C comments (`/* */` and `//`) count as white space.

use std::fmt;

use super::SockFilter;

/// Why a classic BPF program could not be read, checked or translated, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CbpfError {
    /// The instruction concerned, when there is one.
    pub index: Option<usize>,
    /// The 1-based line and column in the text form, when the error is in text.
    pub line: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl CbpfError {
    /// An error about instruction `index`.
    pub fn at_insn(index: usize, message: impl Into<String>) -> CbpfError {
        CbpfError { index: Some(index), line: None, message: message.into() }
    }

    /// An error at `line`:`col` (1-based) of a text program.
    pub fn at_line(line: usize, col: usize, message: impl Into<String>) -> CbpfError {
        CbpfError { index: None, line: Some((line, col)), message: message.into() }
    }

    /// An error about the program as a whole.
    pub fn whole(message: impl Into<String>) -> CbpfError {
        CbpfError { index: None, line: None, message: message.into() }
    }
}

impl fmt::Display for CbpfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.index) {
            (Some((l, c)), _) => write!(f, "line {l}:{c}: {}", self.message),
            (None, Some(i)) => write!(f, "instruction {i}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for CbpfError {}

/// Size of one raw `struct sock_filter` record.
pub const RECORD: usize = 8;

/// Reads raw little-endian `struct sock_filter` records (`u16 code, u8 jt, u8 jf, u32 k`).
pub fn parse_raw(bytes: &[u8]) -> Result<Vec<SockFilter>, CbpfError> {
    if !bytes.len().is_multiple_of(RECORD) {
        let whole = bytes.len() / RECORD;
        return Err(CbpfError::at_insn(
            whole,
            format!(
                "truncated record: {} bytes in all, {} left over after {whole} whole 8-byte \
                 records (the length must be a multiple of 8)",
                bytes.len(),
                bytes.len() % RECORD
            ),
        ));
    }
    Ok(bytes
        .chunks_exact(RECORD)
        .map(|c| SockFilter {
            code: u16::from_le_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

/// The raw little-endian bytes of `prog`, the inverse of [`parse_raw`].
pub fn to_raw(prog: &[SockFilter]) -> Vec<u8> {
    let mut out = Vec::with_capacity(prog.len() * RECORD);
    for f in prog {
        out.extend_from_slice(&f.code.to_le_bytes());
        out.push(f.jt);
        out.push(f.jf);
        out.extend_from_slice(&f.k.to_le_bytes());
    }
    out
}

/// Reads text (`tcpdump -dd` or `-ddd`, told apart by the first token) when `bytes` is UTF-8
/// without NUL bytes whose first token is `{` or a number; raw records otherwise. (Every raw
/// record of a known opcode holds a NUL byte: the high byte of its code.)
pub fn parse_any(bytes: &[u8]) -> Result<Vec<SockFilter>, CbpfError> {
    if !bytes.contains(&0)
        && let Ok(text) = std::str::from_utf8(bytes)
    {
        let clean = strip_comments(text);
        if clean.trim_start().starts_with(|c: char| c == '{' || c.is_ascii_digit()) {
            return parse_text(&clean);
        }
    }
    parse_raw(bytes)
}

/// Reads `tcpdump -dd` output (`{ 0x28, 0, 0, 0x0000000c },` per instruction), or `tcpdump -ddd`
/// output (the count, then `code jt jf k` per line) when the first token is a number.
pub fn parse_dd(text: &str) -> Result<Vec<SockFilter>, CbpfError> {
    parse_text(&strip_comments(text))
}

fn parse_text(clean: &str) -> Result<Vec<SockFilter>, CbpfError> {
    let toks = tokenize(clean)?;
    match toks.first() {
        None => Ok(Vec::new()),
        Some(t) if t.kind == Tok::Num => parse_ddd(&toks),
        Some(_) => parse_braces(&toks),
    }
}

/// Replaces C comments by spaces (newlines kept), so positions stay where they were.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('/', Some('*')) => {
                chars.next();
                out.push_str("  ");
                let mut prev = ' ';
                for d in chars.by_ref() {
                    out.push(if d == '\n' { '\n' } else { ' ' });
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
            }
            ('/', Some('/')) => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        out.push('\n');
                        break;
                    }
                    out.push(' ');
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    Open,
    Close,
    Comma,
    Num,
}

#[derive(Clone, Copy, Debug)]
struct Token {
    kind: Tok,
    value: u64,
    line: usize,
    col: usize,
}

impl Token {
    fn error(&self, message: impl Into<String>) -> CbpfError {
        CbpfError::at_line(self.line, self.col, message)
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, CbpfError> {
    let mut toks = Vec::new();
    for (l, line) in text.lines().enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let mut c = 0;
        while c < chars.len() {
            let ch = chars[c];
            let (line, col) = (l + 1, c + 1);
            let simple = |kind| Token { kind, value: 0, line, col };
            match ch {
                _ if ch.is_whitespace() => c += 1,
                '{' => {
                    toks.push(simple(Tok::Open));
                    c += 1;
                }
                '}' => {
                    toks.push(simple(Tok::Close));
                    c += 1;
                }
                ',' => {
                    toks.push(simple(Tok::Comma));
                    c += 1;
                }
                _ if ch.is_ascii_alphanumeric() => {
                    let start = c;
                    while c < chars.len() && (chars[c].is_ascii_alphanumeric() || chars[c] == '_') {
                        c += 1;
                    }
                    let word: String = chars[start..c].iter().collect();
                    let value = number(&word).ok_or_else(|| {
                        CbpfError::at_line(line, col, format!("`{word}` is not a number"))
                    })?;
                    toks.push(Token { kind: Tok::Num, value, line, col });
                }
                _ => {
                    return Err(CbpfError::at_line(
                        line,
                        col,
                        format!("unexpected `{ch}`: expected `{{`, `}}`, `,` or a number"),
                    ));
                }
            }
        }
    }
    Ok(toks)
}

/// A C integer literal (decimal, `0x` hex, leading-`0` octal) that fits 64 bits.
fn number(word: &str) -> Option<u64> {
    let (digits, radix) = if let Some(h) = word.strip_prefix("0x").or(word.strip_prefix("0X")) {
        (h, 16)
    } else if word.len() > 1 && word.starts_with('0') {
        (&word[1..], 8)
    } else {
        (word, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

fn field(t: &Token, what: &str, max: u64) -> Result<u64, CbpfError> {
    if t.value > max {
        return Err(t.error(format!("{what} {} does not fit (at most {max:#x})", t.value)));
    }
    Ok(t.value)
}

fn insn_from(fields: [&Token; 4]) -> Result<SockFilter, CbpfError> {
    Ok(SockFilter {
        code: field(fields[0], "code", u16::MAX as u64)? as u16,
        jt: field(fields[1], "jt", u8::MAX as u64)? as u8,
        jf: field(fields[2], "jf", u8::MAX as u64)? as u8,
        k: field(fields[3], "k", u32::MAX as u64)? as u32,
    })
}

/// `{ code, jt, jf, k }` groups, each optionally followed by a comma (a comma after `k` is
/// allowed too).
fn parse_braces(toks: &[Token]) -> Result<Vec<SockFilter>, CbpfError> {
    let mut out = Vec::new();
    let mut p = 0;
    let expect = |p: usize, kind: Tok, what: &str| -> Result<&Token, CbpfError> {
        match toks.get(p) {
            Some(t) if t.kind == kind => Ok(t),
            Some(t) => Err(t.error(format!("expected {what}"))),
            None => {
                let last = toks.last().expect("not empty");
                Err(CbpfError::at_line(
                    last.line,
                    last.col + 1,
                    format!("unexpected end of text: expected {what}"),
                ))
            }
        }
    };
    while p < toks.len() {
        expect(p, Tok::Open, "`{` starting an instruction")?;
        let mut nums = [&toks[p]; 4];
        p += 1;
        for (n, slot) in nums.iter_mut().enumerate() {
            let name = ["the code", "jt", "jf", "k"][n];
            *slot = expect(p, Tok::Num, name)?;
            p += 1;
            if n < 3 {
                expect(p, Tok::Comma, "`,`")?;
                p += 1;
            }
        }
        if toks.get(p).is_some_and(|t| t.kind == Tok::Comma) {
            p += 1;
        }
        expect(p, Tok::Close, "`}` ending the instruction")?;
        p += 1;
        if toks.get(p).is_some_and(|t| t.kind == Tok::Comma) {
            p += 1;
        }
        out.push(insn_from(nums)?);
    }
    Ok(out)
}

/// The count, then `code jt jf k` per line.
fn parse_ddd(toks: &[Token]) -> Result<Vec<SockFilter>, CbpfError> {
    if let Some(t) = toks.iter().find(|t| t.kind != Tok::Num) {
        return Err(t.error("`tcpdump -ddd` text holds numbers only"));
    }
    let count = &toks[0];
    if toks.get(1).is_some_and(|t| t.line == count.line) {
        return Err(toks[1].error("the first line holds the instruction count only"));
    }
    let mut out = Vec::new();
    let mut p = 1;
    while p < toks.len() {
        let line = toks[p].line;
        let end = toks[p..].iter().position(|t| t.line != line).map_or(toks.len(), |n| p + n);
        let row = &toks[p..end];
        if row.len() != 4 {
            let t = row.get(4).unwrap_or(&row[row.len() - 1]);
            return Err(t.error(format!(
                "expected 4 numbers (code jt jf k) on the line, found {}",
                row.len()
            )));
        }
        out.push(insn_from([&row[0], &row[1], &row[2], &row[3]])?);
        p = end;
    }
    if count.value != out.len() as u64 {
        return Err(count.error(format!(
            "the count says {} instructions but {} follow",
            count.value,
            out.len()
        )));
    }
    Ok(out)
}
