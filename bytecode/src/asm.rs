//! The assembler for the text dialect of the bpf_conformance suite.
//!
//! One instruction per line; `#` starts a comment; `name:` defines a label (alone or before an
//! instruction on the same line); the first `exit` also defines the label `exit` unless the
//! program defines it. Registers are `%r0`-`%r10`; memory operands `[%rB]`, `[%rB+OFF]`,
//! `[%rB-OFF]`; jump targets are labels or `+N`/`-N` slots from the next instruction.
//!
//! Numbers: decimal (signed) or `0x` hexadecimal. A hexadecimal immediate is a bit pattern of
//! the field's width (`0xffffffff` is -1 in a 32-bit field); a decimal one must fit the signed
//! range. Beyond the suite's mnemonics this dialect adds `ldabs{b,h,w} IMM`,
//! `ldind{b,h,w} %rS, IMM`, `call kfunc N`, and `lddw %rD, map_fd N` (and the other pseudo
//! sources of [`LddwPseudo`]) so that every decodable program has a text form:
//! `disassemble` then `assemble` gives back the same bytes.

use alloc::borrow::ToOwned;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::decode::{DecodeError, DecodeErrorKind};
use crate::insn::*;
use crate::program::Program;

/// What went wrong while assembling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AsmErrorKind {
    /// The text has no instructions.
    Empty,
    /// Unknown mnemonic.
    UnknownMnemonic(String),
    /// Wrong number of operands.
    OperandCount {
        /// The mnemonic.
        mnemonic: String,
        /// What it takes.
        expected: &'static str,
        /// How many were given.
        found: usize,
    },
    /// Not a register, or a register other than `%r0`-`%r10`.
    InvalidRegister(String),
    /// A register was expected here.
    ExpectedRegister(String),
    /// A number was expected here.
    BadNumber(String),
    /// A number does not fit its field.
    OutOfRange {
        /// The text.
        text: String,
        /// The field.
        field: &'static str,
    },
    /// A memory operand `[%rB+OFF]` was expected.
    BadMemoryOperand(String),
    /// A jump names a label that is not defined.
    UnknownLabel(String),
    /// A label is defined twice.
    DuplicateLabel {
        /// The label.
        name: String,
        /// Line of the first definition.
        first_line: usize,
    },
    /// A label's distance does not fit the jump's offset field.
    LabelTooFar {
        /// The label.
        name: String,
        /// The distance in slots.
        distance: i64,
    },
    /// `lock` without a valid `[fetch] OP [mem], %rS`.
    BadLock(String),
    /// The instructions assembled but do not form a valid program (e.g. `ja +100`).
    Program(DecodeError),
}

/// An assembler error, located at 1-based `line` and `col` (in characters), spanning `len`
/// characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsmError {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
    /// Length of the offending text, in characters (at least 1).
    pub len: usize,
    /// The fault.
    pub kind: AsmErrorKind,
}

/// Text quoted in a message, cut to its first 60 characters (a token may be megabytes long).
struct Short<'a>(&'a str);

impl fmt::Display for Short<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.char_indices().nth(60) {
            Some((i, _)) => write!(f, "{}...", &self.0[..i]),
            None => f.write_str(self.0),
        }
    }
}

impl fmt::Display for AsmErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use AsmErrorKind::*;
        match self {
            Empty => write!(f, "the program is empty: no instructions"),
            UnknownMnemonic(m) => write!(f, "invalid mnemonic `{}`", Short(m)),
            OperandCount { mnemonic, expected, found } => write!(
                f,
                "invalid number of operands for {mnemonic}: expected {expected}, found {found}"
            ),
            InvalidRegister(r) => {
                write!(f, "invalid register `{}`: registers are %r0 to %r10", Short(r))
            }
            ExpectedRegister(t) => {
                write!(f, "expected a register (%r0 to %r10), found `{}`", Short(t))
            }
            BadNumber(t) => {
                write!(f, "expected a number (decimal or 0x hexadecimal), found `{}`", Short(t))
            }
            OutOfRange { text, field } => {
                write!(f, "`{}` is out of range for {field}", Short(text))
            }
            BadMemoryOperand(t) => {
                write!(
                    f,
                    "expected a memory operand like [%r1+8], found `{}` (invalid offset)",
                    Short(t)
                )
            }
            UnknownLabel(l) => {
                write!(f, "invalid label `{}`: no such label in this program", Short(l))
            }
            DuplicateLabel { name, first_line } => {
                write!(f, "duplicate label `{}` (first defined on line {first_line})", Short(name))
            }
            LabelTooFar { name, distance } => write!(
                f,
                "label `{}` is {distance} slots away, beyond the 16-bit jump offset (use ja32)",
                Short(name)
            ),
            BadLock(t) => write!(
                f,
                "invalid number of operands for lock: expected `lock [fetch] add|or|and|xor|xchg|cmpxchg[32] [%rB+OFF], %rS`{}",
                Short(t)
            ),
            Program(e) => write!(f, "{e}"),
        }
    }
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.kind)
    }
}

impl core::error::Error for AsmError {}

#[derive(Clone, Copy, Debug)]
struct Tok<'a> {
    text: &'a str,
    line: usize,
    col: usize,
}

impl<'a> Tok<'a> {
    fn err(&self, kind: AsmErrorKind) -> AsmError {
        AsmError { line: self.line, col: self.col, len: self.text.chars().count().max(1), kind }
    }
}

/// Splits a line (comment already removed) into tokens at whitespace and commas, keeping
/// bracketed memory operands (which may contain spaces) whole.
fn tokenize(line: &str, lineno: usize) -> Vec<Tok<'_>> {
    let mut toks = Vec::new();
    let mut start: Option<(usize, usize)> = None; // (byte, column)
    let mut depth = 0u32;
    for (col, (i, ch)) in line.char_indices().enumerate() {
        if depth == 0 && (ch.is_whitespace() || ch == ',') {
            if let Some((s, c)) = start.take() {
                toks.push(Tok { text: &line[s..i], line: lineno, col: c });
            }
            continue;
        }
        if start.is_none() {
            start = Some((i, col + 1));
        }
        match ch {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if let Some((s, c)) = start {
        toks.push(Tok { text: &line[s..], line: lineno, col: c });
    }
    toks
}

/// Parses a signed integer: optional `+`/`-`, then decimal or `0x` hex. Returns the value and
/// whether it was written in hex.
fn parse_int(text: &str) -> Option<(i128, bool)> {
    let (neg, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (digits, radix) = match rest.strip_prefix("0x").or_else(|| rest.strip_prefix("0X")) {
        Some(h) => (h, 16),
        None => (rest, 10),
    };
    if digits.is_empty() || digits.len() > 40 || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i128::from_str_radix(digits, radix).ok()?;
    Some((if neg { -v } else { v }, radix == 16))
}

/// A number for a field of `bits` bits: hex without a minus sign is a bit pattern up to
/// `2^bits - 1`; anything else must fit the signed range.
fn int_field(tok: &Tok<'_>, text: &str, bits: u32, field: &'static str) -> Result<i64, AsmError> {
    let (v, hex) =
        parse_int(text).ok_or_else(|| tok.err(AsmErrorKind::BadNumber(text.to_owned())))?;
    let min = -(1i128 << (bits - 1));
    let smax = (1i128 << (bits - 1)) - 1;
    let umax = (1i128 << bits) - 1;
    let ok = if hex && v >= 0 { v <= umax } else { v >= min && v <= smax };
    if !ok {
        return Err(tok.err(AsmErrorKind::OutOfRange { text: text.to_owned(), field }));
    }
    // Reinterpret a hex bit pattern as signed of `bits` bits.
    let v = if v > smax { v - (1i128 << bits) } else { v };
    Ok(v as i64)
}

fn imm32(tok: &Tok<'_>) -> Result<i32, AsmError> {
    Ok(int_field(tok, tok.text, 32, "a 32-bit immediate")? as i32)
}

fn reg(tok: &Tok<'_>) -> Result<Reg, AsmError> {
    reg_text(tok, tok.text)
}

fn reg_text(tok: &Tok<'_>, text: &str) -> Result<Reg, AsmError> {
    let Some(num) = text.strip_prefix("%r") else {
        return Err(tok.err(AsmErrorKind::ExpectedRegister(text.to_owned())));
    };
    let valid = !num.is_empty() && num.len() <= 2 && num.chars().all(|c| c.is_ascii_digit());
    num.parse::<u8>()
        .ok()
        .filter(|_| valid)
        .and_then(Reg::new)
        .ok_or_else(|| tok.err(AsmErrorKind::InvalidRegister(text.to_owned())))
}

fn source(tok: &Tok<'_>) -> Result<Source, AsmError> {
    if tok.text.starts_with('%') {
        Ok(Source::Reg(reg(tok)?))
    } else {
        Ok(Source::Imm(imm32(tok)?))
    }
}

/// `[%rB]`, `[%rB+OFF]` or `[%rB-OFF]` (spaces allowed inside the brackets).
fn mem(tok: &Tok<'_>) -> Result<(Reg, i16), AsmError> {
    let bad = || tok.err(AsmErrorKind::BadMemoryOperand(tok.text.to_owned()));
    let inner = tok.text.strip_prefix('[').and_then(|s| s.strip_suffix(']')).ok_or_else(bad)?;
    let inner: String = inner.chars().filter(|c| !c.is_whitespace()).collect();
    let split = inner.find(['+', '-']).unwrap_or(inner.len());
    let base = reg_text(tok, &inner[..split])?;
    if split == inner.len() {
        return Ok((base, 0));
    }
    let off = int_field(tok, &inner[split..], 16, "a 16-bit offset")?;
    Ok((base, off as i16))
}

/// A jump target as written: a relative offset or a label to resolve later.
enum Target<'a> {
    Rel(i64),
    Label(Tok<'a>),
}

fn target<'a>(tok: &Tok<'a>, bits: u32) -> Result<Target<'a>, AsmError> {
    if tok.text.starts_with(['+', '-']) {
        let field = if bits == 16 { "a 16-bit jump offset" } else { "a 32-bit jump offset" };
        Ok(Target::Rel(int_field(tok, tok.text, bits, field)?))
    } else {
        Ok(Target::Label(*tok))
    }
}

struct Pending<'a> {
    insn: Insn,
    line: usize,
    target: Option<Target<'a>>,
}

fn alu_op(base: &str) -> Option<AluOp> {
    Some(match base {
        "add" => AluOp::Add,
        "sub" => AluOp::Sub,
        "mul" => AluOp::Mul,
        "div" => AluOp::Div,
        "sdiv" => AluOp::SDiv,
        "or" => AluOp::Or,
        "and" => AluOp::And,
        "lsh" => AluOp::Lsh,
        "rsh" => AluOp::Rsh,
        "mod" => AluOp::Mod,
        "smod" => AluOp::SMod,
        "xor" => AluOp::Xor,
        "mov" => AluOp::Mov,
        "arsh" => AluOp::Arsh,
        _ => return None,
    })
}

fn size_suffix(s: &str) -> Option<Size> {
    Some(match s {
        "b" => Size::B,
        "h" => Size::H,
        "w" => Size::W,
        "dw" => Size::DW,
        _ => return None,
    })
}

/// Splits a trailing `32`/`64` width suffix (none means 64).
fn width_suffix(m: &str) -> (&str, Width) {
    if let Some(b) = m.strip_suffix("32") {
        (b, Width::W32)
    } else if let Some(b) = m.strip_suffix("64") {
        (b, Width::W64)
    } else {
        (m, Width::W64)
    }
}

fn expect<'a, 'b>(
    m: &Tok<'a>,
    ops: &'b [Tok<'a>],
    n: usize,
    expected: &'static str,
) -> Result<&'b [Tok<'a>], AsmError> {
    if ops.len() == n {
        Ok(ops)
    } else {
        Err(m.err(AsmErrorKind::OperandCount {
            mnemonic: m.text.to_owned(),
            expected,
            found: ops.len(),
        }))
    }
}

fn parse_lock<'a>(m: &Tok<'a>, ops: &[Tok<'a>]) -> Result<Insn, AsmError> {
    let bad = |extra: &str| m.err(AsmErrorKind::BadLock(extra.to_owned()));
    let (fetch, rest) = match ops.first() {
        Some(t) if t.text == "fetch" => (true, &ops[1..]),
        Some(_) => (false, ops),
        None => return Err(bad("")),
    };
    if rest.len() != 3 {
        return Err(bad(""));
    }
    let (name, width) = width_suffix(rest[0].text);
    let size = if width == Width::W32 { Size::W } else { Size::DW };
    let op = match name {
        "add" => AtomicOp::Add,
        "or" => AtomicOp::Or,
        "and" => AtomicOp::And,
        "xor" => AtomicOp::Xor,
        "xchg" => AtomicOp::Xchg,
        "cmpxchg" => AtomicOp::CmpXchg,
        _ => {
            return Err(
                rest[0].err(AsmErrorKind::UnknownMnemonic(alloc::format!("lock {}", rest[0].text)))
            );
        }
    };
    let (base, off) = mem(&rest[1])?;
    let src = reg(&rest[2])?;
    Ok(Insn::Atomic { size, op, fetch: fetch || op.always_fetches(), base, off, src })
}

fn parse_insn<'a>(m: &Tok<'a>, ops: &[Tok<'a>]) -> Result<(Insn, Option<Target<'a>>), AsmError> {
    let name = m.text;
    let plain = |insn: Insn| Ok((insn, None));
    let unknown = || m.err(AsmErrorKind::UnknownMnemonic(name.to_owned()));
    match name {
        "exit" => {
            expect(m, ops, 0, "no operands")?;
            return plain(Insn::Exit);
        }
        "lock" => return plain(parse_lock(m, ops)?),
        "ja" => {
            let o = expect(m, ops, 1, "a target")?;
            return Ok((Insn::Ja { off: 0 }, Some(target(&o[0], 16)?)));
        }
        "ja32" => {
            let o = expect(m, ops, 1, "a target")?;
            return Ok((Insn::Ja32 { imm: 0 }, Some(target(&o[0], 32)?)));
        }
        "call" | "callx" => return parse_call(m, ops),
        "lddw" => return plain(parse_lddw(m, ops)?),
        _ => {}
    }
    if let Some(rest) = name.strip_prefix("ldabs") {
        let size = size_suffix(rest).filter(|s| *s != Size::DW).ok_or_else(unknown)?;
        let o = expect(m, ops, 1, "an offset")?;
        return plain(Insn::LoadAbs { size, imm: imm32(&o[0])? });
    }
    if let Some(rest) = name.strip_prefix("ldind") {
        let size = size_suffix(rest).filter(|s| *s != Size::DW).ok_or_else(unknown)?;
        let o = expect(m, ops, 2, "a register and an offset")?;
        return plain(Insn::LoadInd { size, src: reg(&o[0])?, imm: imm32(&o[1])? });
    }
    if let Some(rest) = name.strip_prefix("ldxs")
        && let Some(size) = size_suffix(rest).filter(|s| *s != Size::DW)
    {
        let o = expect(m, ops, 2, "a register and a memory operand")?;
        let (base, off) = mem(&o[1])?;
        return plain(Insn::Load { size, signed: true, dst: reg(&o[0])?, base, off });
    }
    if let Some(size) = name.strip_prefix("ldx").and_then(size_suffix) {
        let o = expect(m, ops, 2, "a register and a memory operand")?;
        let (base, off) = mem(&o[1])?;
        return plain(Insn::Load { size, signed: false, dst: reg(&o[0])?, base, off });
    }
    if let Some(size) = name.strip_prefix("stx").and_then(size_suffix) {
        let o = expect(m, ops, 2, "a memory operand and a register")?;
        let (base, off) = mem(&o[0])?;
        return plain(Insn::Store { size, base, off, src: Source::Reg(reg(&o[1])?) });
    }
    if let Some(size) = name.strip_prefix("st").and_then(size_suffix) {
        let o = expect(m, ops, 2, "a memory operand and an immediate")?;
        let (base, off) = mem(&o[0])?;
        return plain(Insn::Store { size, base, off, src: Source::Imm(imm32(&o[1])?) });
    }
    for (prefix, kind) in
        [("le", Endian::Le), ("be", Endian::Be), ("bswap", Endian::Swap), ("swap", Endian::Swap)]
    {
        if let Some(bits) = name.strip_prefix(prefix).and_then(|b| b.parse::<i64>().ok()) {
            let bits = SwapBits::from_bits(bits).ok_or_else(unknown)?;
            let o = expect(m, ops, 1, "a register")?;
            return plain(Insn::End { kind, bits, dst: reg(&o[0])? });
        }
    }
    if let Some(rest) = name.strip_prefix("movsx") {
        let (op, width) = match rest {
            "864" => (AluOp::MovSx8, Width::W64),
            "832" => (AluOp::MovSx8, Width::W32),
            "1664" => (AluOp::MovSx16, Width::W64),
            "1632" => (AluOp::MovSx16, Width::W32),
            "3264" => (AluOp::MovSx32, Width::W64),
            _ => return Err(unknown()),
        };
        let o = expect(m, ops, 2, "two registers")?;
        return plain(Insn::Alu { width, op, dst: reg(&o[0])?, src: Source::Reg(reg(&o[1])?) });
    }
    let (base, width) = width_suffix(name);
    if base == "neg" {
        let o = expect(m, ops, 1, "a register")?;
        return plain(Insn::Neg { width, dst: reg(&o[0])? });
    }
    if let Some(op) = alu_op(base) {
        let o = expect(m, ops, 2, "a register and a register or immediate")?;
        return plain(Insn::Alu { width, op, dst: reg(&o[0])?, src: source(&o[1])? });
    }
    if let Some(cond) = JmpCond::ALL.into_iter().find(|c| c.mnemonic() == base) {
        if name.ends_with("64") {
            return Err(unknown());
        }
        let o = expect(m, ops, 3, "a register, a register or immediate, and a target")?;
        let insn = Insn::Jump { width, cond, dst: reg(&o[0])?, src: source(&o[1])?, off: 0 };
        return Ok((insn, Some(target(&o[2], 16)?)));
    }
    Err(unknown())
}

fn parse_call<'a>(m: &Tok<'a>, ops: &[Tok<'a>]) -> Result<(Insn, Option<Target<'a>>), AsmError> {
    let count_err = || {
        m.err(AsmErrorKind::OperandCount {
            mnemonic: m.text.to_owned(),
            expected: "a helper id, `local TARGET`, `kfunc ID` or a register",
            found: ops.len(),
        })
    };
    let (mode, arg) = match ops {
        [arg] => ("helper", arg),
        [mode, arg] => (mode.text, arg),
        _ => return Err(count_err()),
    };
    match mode {
        _ if m.text == "callx" => Ok((Insn::CallReg { reg: reg(arg)? }, None)),
        "helper" if arg.text.starts_with('%') => Ok((Insn::CallReg { reg: reg(arg)? }, None)),
        "helper" => Ok((Insn::Call { imm: imm32(arg)? }, None)),
        "local" => Ok((Insn::CallLocal { imm: 0 }, Some(target(arg, 32)?))),
        "kfunc" | "runtime" => Ok((Insn::CallKfunc { imm: imm32(arg)? }, None)),
        _ => Err(ops[0].err(AsmErrorKind::UnknownMnemonic(alloc::format!("call {mode}")))),
    }
}

fn parse_lddw(m: &Tok<'_>, ops: &[Tok<'_>]) -> Result<Insn, AsmError> {
    let count = |expected| {
        m.err(AsmErrorKind::OperandCount {
            mnemonic: m.text.to_owned(),
            expected,
            found: ops.len(),
        })
    };
    let Some(first) = ops.first() else {
        return Err(count("a register and a 64-bit immediate"));
    };
    let dst = reg(first)?;
    if let Some(kind) =
        ops.get(1).and_then(|t| LddwPseudo::ALL.into_iter().find(|k| k.keyword() == t.text))
    {
        let want = if kind.uses_next_imm() { 4 } else { 3 };
        if ops.len() != want {
            return Err(count(if want == 4 {
                "a register, a kind, an id and an offset"
            } else {
                "a register, a kind and an id"
            }));
        }
        let imm = imm32(&ops[2])?;
        let next_imm = if want == 4 { imm32(&ops[3])? } else { 0 };
        return Ok(Insn::LoadPseudo { dst, kind, imm, next_imm });
    }
    if ops.len() != 2 {
        return Err(count("a register and a 64-bit immediate"));
    }
    let t = &ops[1];
    let (v, hex) =
        parse_int(t.text).ok_or_else(|| t.err(AsmErrorKind::BadNumber(t.text.to_owned())))?;
    let fits =
        if hex || v >= 0 { (0..=u64::MAX as i128).contains(&v) } else { v >= i64::MIN as i128 };
    if !fits {
        return Err(t.err(AsmErrorKind::OutOfRange {
            text: t.text.to_owned(),
            field: "a 64-bit immediate",
        }));
    }
    Ok(Insn::LoadImm64 { dst, imm: v as u64 })
}

/// Assembles text into a [`Program`].
pub fn assemble(src: &str) -> Result<Program, AsmError> {
    assemble_with_lines(src).map(|(p, _)| p)
}

/// Assembles text into a [`Program`] and the 1-based source line of each instruction (by
/// instruction index), so diagnostics about instructions can point at the text. On failure, the
/// first error of [`assemble_all`].
pub fn assemble_with_lines(src: &str) -> Result<(Program, Vec<usize>), AsmError> {
    assemble_all(src).map_err(|mut e| e.errors.swap_remove(0))
}

/// Every error of a text, in the order found (each line's error, then each jump's label, then
/// the program's structure when nothing else is wrong); the first [`AsmErrors::KEPT`] are kept,
/// the rest only counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsmErrors {
    /// The errors kept (never empty).
    pub errors: Vec<AsmError>,
    /// How many errors in all (at least `errors.len()`).
    pub total: usize,
}

impl AsmErrors {
    /// How many errors are kept; a text of a million bad lines costs no more than this.
    pub const KEPT: usize = 100;

    fn push(&mut self, e: AsmError) {
        self.total += 1;
        if self.errors.len() < Self::KEPT {
            self.errors.push(e);
        }
    }
}

/// Assembles text into a [`Program`] and the line of each instruction, as
/// [`assemble_with_lines`], or reports every error (a line with an error is skipped, the rest
/// assembled). Linear in the text.
pub fn assemble_all(src: &str) -> Result<(Program, Vec<usize>), AsmErrors> {
    let mut errs = AsmErrors { errors: Vec::new(), total: 0 };
    let mut pending: Vec<Pending<'_>> = Vec::new();
    let mut labels: BTreeMap<&str, (usize, usize)> = BTreeMap::new(); // name -> (slot, line)
    let mut first_exit: Option<usize> = None;
    let mut slot = 0usize;
    'lines: for (i, raw_line) in src.lines().enumerate() {
        let lineno = i + 1;
        let line = raw_line.split('#').next().unwrap_or("");
        let toks = tokenize(line, lineno);
        let mut rest: &[Tok<'_>] = &toks;
        while let Some(first) = rest.first() {
            let Some(name) = first.text.strip_suffix(':') else {
                break;
            };
            if name.is_empty() || name.starts_with(['+', '-', '%', '[']) {
                errs.push(first.err(AsmErrorKind::UnknownMnemonic(first.text.to_owned())));
                continue 'lines;
            }
            if let Some(&(_, first_line)) = labels.get(name) {
                errs.push(
                    first.err(AsmErrorKind::DuplicateLabel { name: name.to_owned(), first_line }),
                );
            } else {
                labels.insert(name, (slot, lineno));
            }
            rest = &rest[1..];
        }
        let Some((m, ops)) = rest.split_first() else {
            continue;
        };
        let (insn, target) = match parse_insn(m, ops) {
            Ok(x) => x,
            Err(e) => {
                errs.push(e);
                continue;
            }
        };
        if insn == Insn::Exit && first_exit.is_none() {
            first_exit = Some(slot);
        }
        slot += insn.slots();
        pending.push(Pending { insn, line: lineno, target });
    }
    if pending.is_empty() && errs.total == 0 {
        let line = src.lines().count().max(1);
        errs.push(AsmError { line, col: 1, len: 1, kind: AsmErrorKind::Empty });
        return Err(errs);
    }
    let mut insns = Vec::with_capacity(pending.len());
    let mut lines = BTreeMap::new(); // slot -> line
    let mut pc = 0usize;
    for p in &pending {
        let mut insn = p.insn;
        if let Some(t) = &p.target {
            let off = match t {
                Target::Rel(off) => Some(*off),
                Target::Label(tok) => {
                    let dest = match labels.get(tok.text) {
                        Some(&(s, _)) => Some(s),
                        None if tok.text == "exit" && first_exit.is_some() => first_exit,
                        None => {
                            errs.push(tok.err(AsmErrorKind::UnknownLabel(tok.text.to_owned())));
                            None
                        }
                    };
                    dest.and_then(|dest| {
                        let distance = dest as i64 - (pc as i64 + 1);
                        let limit = if matches!(insn, Insn::Ja { .. } | Insn::Jump { .. }) {
                            16
                        } else {
                            32
                        };
                        if distance < -(1i64 << (limit - 1)) || distance >= 1i64 << (limit - 1) {
                            errs.push(tok.err(AsmErrorKind::LabelTooFar {
                                name: tok.text.to_owned(),
                                distance,
                            }));
                            return None;
                        }
                        Some(distance)
                    })
                }
            };
            if let Some(off) = off {
                set_branch_offset(&mut insn, off);
            }
        }
        lines.insert(pc, p.line);
        pc += insn.slots();
        insns.push(insn);
    }
    if errs.total > 0 {
        // With a line skipped the slots after it are off: the structure is not checked.
        return Err(errs);
    }
    let by_index: Vec<usize> = pending.iter().map(|p| p.line).collect();
    Program::from_insns(insns).map(|p| (p, by_index)).map_err(|e| {
        let line = match e.kind {
            DecodeErrorKind::Empty => 1,
            _ => lines.get(&e.pc).copied().unwrap_or(1),
        };
        errs.push(AsmError { line, col: 1, len: 1, kind: AsmErrorKind::Program(e) });
        errs
    })
}

fn set_branch_offset(insn: &mut Insn, off: i64) {
    match insn {
        Insn::Ja { off: o } | Insn::Jump { off: o, .. } => *o = off as i16,
        Insn::Ja32 { imm } | Insn::CallLocal { imm } => *imm = off as i32,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    /// Every bad line is reported, in order, with its line and column; then the unknown label.
    #[test]
    fn all_errors_reported() {
        let src = "mov %r0, 1\nfoo %r1\nadd %r0, %r11\nja nowhere\nx: mov %r0, 2\nx: exit\n";
        let e = assemble_all(src).unwrap_err();
        let at: Vec<(usize, usize)> = e.errors.iter().map(|e| (e.line, e.col)).collect();
        assert_eq!(at, [(2, 1), (3, 10), (6, 1), (4, 4)], "{e:?}");
        assert_eq!(e.total, 4);
        assert!(matches!(e.errors[3].kind, AsmErrorKind::UnknownLabel(_)));
        // The first error is what `assemble` reports.
        assert_eq!(assemble(src).unwrap_err(), e.errors[0]);
    }

    /// A million bad lines: all counted, [`AsmErrors::KEPT`] kept.
    #[test]
    fn errors_are_capped() {
        let src = "bogus\n".repeat(1_000_000);
        let e = assemble_all(&src).unwrap_err();
        assert_eq!(e.total, 1_000_000);
        assert_eq!(e.errors.len(), AsmErrors::KEPT);
        assert_eq!(e.errors[99].line, 100);
    }

    /// A good text assembles as before.
    #[test]
    fn good_text_unchanged() {
        let src = "mov %r0, 1\nja +0\nexit\n";
        let (p, lines) = assemble_all(src).unwrap();
        assert_eq!(lines, [1, 2, 3]);
        assert_eq!(format!("{:?}", assemble(src).unwrap()), format!("{p:?}"));
    }
}
