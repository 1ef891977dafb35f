//! PREVAIL's assembly text (the syntax of its YAML tests and of its printer) to
//! [`udf_bytecode::Program`].
//!
//! One instruction per line; `;` starts a comment. The blocks of `code` are concatenated in
//! document order and each label (`<name>`) stands for the first instruction of its block (or,
//! for an empty block, whatever follows). Offsets are computed in slots (`lddw` takes two).
//!
//! | PREVAIL | instruction |
//! | --- | --- |
//! | `r1 OP= r2`, `w1 OP= 5` (`OP` in `+ - * / % \| & ^ << >> s>> s/ s%`, empty for a move) | ALU64 / ALU32 by the destination's letter (the source's is ignored) |
//! | `r1 = 0x... ll` | `lddw` |
//! | `r2 s8= r1`, `w2 s16= r1`, `r2 s32= r1` | sign-extending moves |
//! | `r1 = -r1`, `r1 = be16 r1`, `le32`, `swap64` | `neg`, byte swaps (`swapN` is `bswapN`) |
//! | `r1 = *(u32 *)(r10 - 4)`, `(s8 *)` | loads, sign-extending loads |
//! | `*(u64 *)(r10 - 8) = r1` or `= 5` | stores |
//! | `lock *(u64 *)(r2 + 4) OP= r1 [fetch]` (`OP` in `+ \| & ^ x cx`) | atomics (`x`: xchg, `cx`: cmpxchg, both always fetch) |
//! | `r0 = *(u8 *)skb[23]`, `skb[r7]`, `skb[r7 + 2]` | legacy packet loads |
//! | `goto <l>`, `if r1 s> r2 goto <l>`, `if w1 &== 3 goto <l>` | jumps (`&==`: `jset`) |
//! | `call 1`, `call <l>`, `exit` | helper call, local call, exit |
//!
//! Immediates follow PREVAIL: a non-negative literal is truncated to 32 bits and then
//! sign-extended (`r0 /= 4096655360` divides by `0xf42e7000` sign-extended), a negative one must
//! fit in 32 bits; `0x` is hex and a leading `0` octal (C's base 0).
//!
//! Two conditions have no single eBPF instruction and become two: `if r1 &!= k goto <l>`
//! ("no bit in common") is `jset r1, k, +1; ja <l>`; `assume COND` (PREVAIL's pseudo-instruction
//! that drops the states where `COND` is false) is refused unless [`AssumeMode::SinkLoop`] asks
//! for `if !COND goto <sink>` with a self-loop sink at the end.
//!
//! Refused ([`Unsupported`]): map and address `lddw`s (`map_fd`, `map_val`, `map_by_idx`, ...;
//! udfkit has no maps), `callx` (PREVAIL resolves a Linux helper from the register's value;
//! udfkit refuses `callx` in verified programs), `call_btf`, the 32-bit `s32=` move and other
//! forms with no encoding, immediates and offsets that do not fit, undefined labels, and lines
//! PREVAIL would read as an undefined instruction (including blank lines).

use std::collections::HashMap;

use udf_bytecode::{
    AluOp, AtomicOp, Endian, Insn, JmpCond, Program, Reg, Size, Source, SwapBits, Width,
};

use super::{Case, Unsupported};

/// What to do with PREVAIL's `assume COND` pseudo-instruction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AssumeMode {
    /// Refuse the case: eBPF has no instruction that prunes a path.
    #[default]
    Refuse,
    /// `if !COND goto <sink>`, where `<sink>` is a `ja -1` placed last. The false branch then
    /// never reaches `exit`, as with PREVAIL, but it loops forever: a verifier that checks
    /// termination must treat [`Assembled::assume_sink`] as a dead end.
    SinkLoop,
}

/// An assembled case with what a caller needs to map it back to PREVAIL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assembled {
    /// The program.
    pub program: Program,
    /// For PREVAIL's instruction `i` (the `i`-th line of the code, which is the number PREVAIL
    /// puts before its messages), the slot of its first instruction here.
    pub line_pcs: Vec<usize>,
    /// Slot of the `exit` appended because the code can run off its end (PREVAIL does not check
    /// `r0` there).
    pub appended_exit: Option<usize>,
    /// Slot of the self-loop that `assume` branches to ([`AssumeMode::SinkLoop`]).
    pub assume_sink: Option<usize>,
}

/// Assembles the code of `case`; `assume` is refused.
pub fn assemble(case: &Case) -> Result<Program, Unsupported> {
    assemble_with(case, AssumeMode::Refuse).map(|a| a.program)
}

/// Assembles the code of `case`.
///
/// PREVAIL's fragments often don't end with `exit` (its tests run with `must_have_exit` off and
/// read the state where control leaves the code). When the last instruction is not `exit` or
/// `goto`, or a jump targets the end (a label whose block is empty and last), an `exit` is
/// appended and labels at the end point at it.
pub fn assemble_with(case: &Case, mode: AssumeMode) -> Result<Assembled, Unsupported> {
    let mut labels: HashMap<&str, usize> = HashMap::new();
    let mut lines = Vec::new();
    for (label, text) in &case.code {
        // Like PREVAIL, the first definition of a label wins.
        labels.entry(label.as_str()).or_insert(lines.len());
        lines.extend(text.lines());
    }
    // PREVAIL's label numbers count lines; ours count items, which a line may expand to.
    let mut items: Vec<Item> = Vec::new();
    let mut line_items = Vec::with_capacity(lines.len());
    for line in &lines {
        line_items.push(items.len());
        parse_line(line, mode, &mut items).map_err(|e| Unsupported(format!("{e}: `{line}`")))?;
    }
    line_items.push(items.len());
    let label_item = |name: &str| -> Result<usize, Unsupported> {
        labels
            .get(name)
            .map(|&line| line_items[line])
            .ok_or_else(|| Unsupported(format!("undefined label {name}")))
    };

    let mut targets_end = false;
    for item in &items {
        if let Some(Target::Label(name)) = &item.target {
            targets_end |= label_item(name)? == items.len();
        }
    }
    let needs_exit = targets_end || items.last().is_none_or(|i| !i.insn.is_terminator());
    let needs_sink = items.iter().any(|i| i.target == Some(Target::Sink));

    let mut pcs = Vec::with_capacity(items.len() + 1);
    let mut pc = 0;
    for item in &items {
        pcs.push(pc);
        pc += item.insn.slots();
    }
    pcs.push(pc);
    let end = pc;
    let appended_exit = needs_exit.then_some(end);
    let assume_sink = needs_sink.then_some(end + usize::from(needs_exit));

    let mut insns = Vec::with_capacity(items.len() + 2);
    for (i, item) in items.iter().enumerate() {
        let mut insn = item.insn;
        if let Some(target) = &item.target {
            let to = match target {
                Target::Label(name) => pcs[label_item(name)?],
                Target::Sink => assume_sink.unwrap_or(end),
            };
            let rel = to as i64 - (pcs[i] as i64 + 1);
            let short = || {
                i16::try_from(rel).map_err(|_| Unsupported(format!("jump offset {rel} too far")))
            };
            match &mut insn {
                Insn::Ja { off } | Insn::Jump { off, .. } => *off = short()?,
                Insn::CallLocal { imm } => *imm = rel as i32,
                _ => unreachable!("only jumps and local calls have targets"),
            }
        }
        insns.push(insn);
    }
    if needs_exit {
        insns.push(Insn::Exit);
    }
    if needs_sink {
        insns.push(Insn::Ja { off: -1 });
    }
    let program =
        Program::from_insns(insns).map_err(|e| Unsupported(format!("bad program: {e:?}")))?;
    Ok(Assembled {
        program,
        line_pcs: line_items[..lines.len()].iter().map(|&i| pcs[i]).collect(),
        appended_exit,
        assume_sink,
    })
}

/// Where a jump or local call goes, resolved once every slot is known.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    Label(String),
    Sink,
}

/// An instruction whose offset is still symbolic when `target` is set.
struct Item {
    insn: Insn,
    target: Option<Target>,
}

impl Item {
    fn plain(insn: Insn) -> Item {
        Item { insn, target: None }
    }
}

/// A jump condition as PREVAIL writes it: eBPF's, or `&!=` (no bit in common).
#[derive(Clone, Copy)]
enum Cond {
    Is(JmpCond),
    NotSet,
}

/// Parses one line, pushing the items it becomes. Errors are reasons, without the line.
fn parse_line(line: &str, mode: AssumeMode, out: &mut Vec<Item>) -> Result<(), String> {
    let text = line.split(';').next().unwrap_or("").trim();
    if text.is_empty() {
        return Err("blank instruction line (PREVAIL: undefined instruction)".to_string());
    }
    let mut c = Cur::new(text);
    let items = if c.word("exit") {
        vec![Item::plain(Insn::Exit)]
    } else if c.word("callx") {
        c.reg()?;
        return Err("callx with a helper".to_string());
    } else if c.word("call_btf") {
        return Err("call_btf (kfunc)".to_string());
    } else if c.word("call") {
        if let Some(label) = c.label() {
            c.end()?;
            vec![Item {
                insn: Insn::CallLocal { imm: 0 },
                target: Some(Target::Label(label.to_string())),
            }]
        } else {
            let imm = c.int()?;
            c.end()?;
            let imm = i32::try_from(imm).map_err(|_| format!("helper id {imm} out of range"))?;
            vec![Item::plain(Insn::Call { imm })]
        }
    } else if c.word("goto") {
        vec![goto(&mut c)?]
    } else if c.word("if") {
        let (width, dst, cond, src) = condition(&mut c)?;
        if !c.word("goto") {
            return Err("expected `goto`".to_string());
        }
        let target = goto(&mut c)?.target;
        match cond {
            Cond::Is(cond) => vec![Item { insn: jump(width, cond, dst, src, 0), target }],
            Cond::NotSet => vec![
                Item::plain(jump(width, JmpCond::Set, dst, src, 1)),
                Item { insn: Insn::Ja { off: 0 }, target },
            ],
        }
    } else if c.word("assume") {
        let (width, dst, cond, src) = condition(&mut c)?;
        c.end()?;
        if mode == AssumeMode::Refuse {
            return Err("assume (no eBPF instruction prunes a path)".to_string());
        }
        let to_sink = |insn| Item { insn, target: Some(Target::Sink) };
        match cond {
            Cond::NotSet => vec![to_sink(jump(width, JmpCond::Set, dst, src, 0))],
            Cond::Is(JmpCond::Set) => vec![
                Item::plain(jump(width, JmpCond::Set, dst, src, 1)),
                to_sink(Insn::Ja { off: 0 }),
            ],
            Cond::Is(cond) => vec![to_sink(jump(width, cond.negate(), dst, src, 0))],
        }
    } else if c.word("lock") {
        vec![Item::plain(atomic(&mut c)?)]
    } else if c.peek('*') {
        let (size, _signed, base, off) = deref(&mut c)?;
        c.ws();
        if !c.eat("=") {
            return Err("expected `=` after the address".to_string());
        }
        let src = match c.reg_opt()? {
            Some((_, r)) => Source::Reg(r),
            None => Source::Imm(imm32(&c.number()?)?),
        };
        c.end()?;
        vec![Item::plain(Insn::Store { size, base, off, src })]
    } else {
        vec![Item::plain(assignment(&mut c)?)]
    };
    out.extend(items);
    Ok(())
}

fn goto(c: &mut Cur) -> Result<Item, String> {
    // PREVAIL allows (and ignores) a numeric offset before the label.
    let label = match c.label() {
        Some(label) => label,
        None => {
            c.number()?;
            c.label().ok_or("expected a `<label>`")?
        }
    };
    c.end()?;
    Ok(Item { insn: Insn::Ja { off: 0 }, target: Some(Target::Label(label.to_string())) })
}

fn jump(width: Width, cond: JmpCond, dst: Reg, src: Source, off: i16) -> Insn {
    Insn::Jump { width, cond, dst, src, off }
}

/// `DST CMPOP SRC` of `if` and `assume`; the width is the destination's letter.
fn condition(c: &mut Cur) -> Result<(Width, Reg, Cond, Source), String> {
    let (width, dst) = c.reg()?;
    c.ws();
    const OPS: [(&str, Cond); 12] = [
        ("&==", Cond::Is(JmpCond::Set)),
        ("&!=", Cond::NotSet),
        ("==", Cond::Is(JmpCond::Eq)),
        ("!=", Cond::Is(JmpCond::Ne)),
        ("s<=", Cond::Is(JmpCond::Sle)),
        ("s>=", Cond::Is(JmpCond::Sge)),
        ("s<", Cond::Is(JmpCond::Slt)),
        ("s>", Cond::Is(JmpCond::Sgt)),
        ("<=", Cond::Is(JmpCond::Le)),
        (">=", Cond::Is(JmpCond::Ge)),
        ("<", Cond::Is(JmpCond::Lt)),
        (">", Cond::Is(JmpCond::Gt)),
    ];
    let cond = c.one_of(&OPS).ok_or("expected a comparison")?;
    let src = match c.reg_opt()? {
        Some((_, r)) => Source::Reg(r),
        None => Source::Imm(imm32(&c.number()?)?),
    };
    Ok((width, dst, cond, src))
}

/// `lock *(uN *)(rB +- off) OP= rS [fetch]`.
fn atomic(c: &mut Cur) -> Result<Insn, String> {
    let (size, _signed, base, off) = deref(c)?;
    c.ws();
    const OPS: [(&str, AtomicOp); 6] = [
        ("+=", AtomicOp::Add),
        ("|=", AtomicOp::Or),
        ("&=", AtomicOp::And),
        ("^=", AtomicOp::Xor),
        ("x=", AtomicOp::Xchg),
        ("cx=", AtomicOp::CmpXchg),
    ];
    let op = c.one_of(&OPS).ok_or("unknown atomic operation")?;
    let (_, src) = c.reg()?;
    let fetch = c.word("fetch") || op.always_fetches();
    c.end()?;
    if !matches!(size, Size::W | Size::DW) {
        return Err("atomic on 8 or 16 bits".to_string());
    }
    Ok(Insn::Atomic { size, op, fetch, base, off, src })
}

/// `*(uN *)(rB +- off)` (or `sN`): size, signedness, base, offset.
fn deref(c: &mut Cur) -> Result<(Size, bool, Reg, i16), String> {
    let (size, signed) = deref_type(c)?;
    c.ws();
    if !c.eat("(") {
        return Err("expected `(` before the address".to_string());
    }
    let (width, base) = c.reg()?;
    if width == Width::W32 {
        return Err("a 32-bit register as an address".to_string());
    }
    let negative =
        c.one_of(&[("+", false), ("-", true)]).ok_or("expected `+` or `-` in the address")?;
    let n = c.int()?;
    let off = if negative { -n } else { n };
    c.ws();
    if !c.eat(")") {
        return Err("expected `)` after the address".to_string());
    }
    let off = i16::try_from(off).map_err(|_| format!("offset {off} out of range"))?;
    Ok((size, signed, base, off))
}

/// `*(uN *)`: the access size and whether it is signed (`sN`).
fn deref_type(c: &mut Cur) -> Result<(Size, bool), String> {
    c.ws();
    let ok = c.eat("*") && {
        c.ws();
        c.eat("(")
    };
    if !ok {
        return Err("expected `*(`".to_string());
    }
    let signed =
        c.one_of(&[("s", true), ("u", false)]).ok_or("expected `u` or `s` in the access type")?;
    let size = c
        .one_of(&[("8", Size::B), ("16", Size::H), ("32", Size::W), ("64", Size::DW)])
        .ok_or("unknown access width")?;
    c.ws();
    let ok = c.eat("*") && {
        c.ws();
        c.eat(")")
    };
    if !ok {
        return Err("expected `*)`".to_string());
    }
    Ok((size, signed))
}

/// Everything that starts with a destination register.
fn assignment(c: &mut Cur) -> Result<Insn, String> {
    let (width, dst) = c.reg_opt()?.ok_or("unknown syntax")?;
    c.ws();
    let op_start = c.i;
    while c.i < c.s.len() && !matches!(c.s[c.i], b'=' | b' ' | b'\t') {
        c.i += 1;
    }
    let op_text = &c.text()[op_start..c.i];
    if !c.eat("=") {
        return Err("unknown syntax".to_string());
    }
    let op = match op_text {
        "" => AluOp::Mov,
        "+" => AluOp::Add,
        "-" => AluOp::Sub,
        "*" => AluOp::Mul,
        "/" => AluOp::Div,
        "%" => AluOp::Mod,
        "|" => AluOp::Or,
        "&" => AluOp::And,
        "^" => AluOp::Xor,
        "<<" => AluOp::Lsh,
        ">>" => AluOp::Rsh,
        "s>>" => AluOp::Arsh,
        "s/" => AluOp::SDiv,
        "s%" => AluOp::SMod,
        "s8" => AluOp::MovSx8,
        "s16" => AluOp::MovSx16,
        "s32" => AluOp::MovSx32,
        other => return Err(format!("unknown operator `{other}=`")),
    };
    c.ws();
    if op == AluOp::Mov
        && let Some(insn) = special_move(c, width, dst)?
    {
        return Ok(insn);
    }
    if let Some((_, src)) = c.reg_opt()? {
        c.end()?;
        if !op.valid_with(width, true) {
            return Err("32-bit s32= move has no encoding".to_string());
        }
        return Ok(Insn::Alu { width, op, dst, src: Source::Reg(src) });
    }
    let literal = c.number()?;
    c.ws();
    if c.eat("ll") {
        c.end()?;
        if op != AluOp::Mov || width != Width::W64 {
            return Err("`ll` immediate outside a 64-bit move".to_string());
        }
        return Ok(Insn::LoadImm64 { dst, imm: imm64(&literal)? });
    }
    c.end()?;
    if !op.valid_with(width, false) {
        return Err("sign-extending move of an immediate".to_string());
    }
    Ok(Insn::Alu { width, op, dst, src: Source::Imm(imm32(&literal)?) })
}

/// The forms of `DST = ...` other than a register or a number: loads, unary operations, map
/// and address loads. `None` when the right-hand side is none of them.
fn special_move(c: &mut Cur, width: Width, dst: Reg) -> Result<Option<Insn>, String> {
    if c.peek('*') {
        if width == Width::W32 {
            return Err("load into a 32-bit register".to_string());
        }
        let save = c.i;
        let (size, signed) = deref_type(c)?;
        c.ws();
        if c.eat("skb[") {
            return packet_load(c, dst, size, signed).map(Some);
        }
        c.i = save;
        let (size, signed, base, off) = deref(c)?;
        c.end()?;
        if signed && size == Size::DW {
            return Err("sign-extending 64-bit load".to_string());
        }
        return Ok(Some(Insn::Load { size, signed, dst, base, off }));
    }
    for (kw, what) in [
        ("map_fd_programs", "map_fd_programs lddw"),
        ("map_fd", "map_fd lddw"),
        ("map_val(", "map_val lddw"),
        ("variable_addr(", "variable_addr lddw"),
        ("code_addr(", "code_addr lddw"),
        ("map_by_idx(", "map_by_idx lddw"),
        ("mva(", "map value by index lddw"),
    ] {
        if c.rest().starts_with(kw) {
            return Err(format!("{what} (udfkit has no maps)"));
        }
    }
    let save = c.i;
    let unary = if c.eat("-") {
        c.ws();
        Some(None)
    } else {
        const SWAPS: [(&str, Endian, SwapBits); 9] = [
            ("be16", Endian::Be, SwapBits::B16),
            ("be32", Endian::Be, SwapBits::B32),
            ("be64", Endian::Be, SwapBits::B64),
            ("le16", Endian::Le, SwapBits::B16),
            ("le32", Endian::Le, SwapBits::B32),
            ("le64", Endian::Le, SwapBits::B64),
            ("swap16", Endian::Swap, SwapBits::B16),
            ("swap32", Endian::Swap, SwapBits::B32),
            ("swap64", Endian::Swap, SwapBits::B64),
        ];
        SWAPS.iter().find(|(kw, _, _)| c.word(kw)).map(|&(_, kind, bits)| Some((kind, bits)))
    };
    let Some(unary) = unary else {
        return Ok(None);
    };
    match c.reg_opt()? {
        // `r1 = -5`: a move of a negative number.
        None => {
            c.i = save;
            Ok(None)
        }
        Some((w, operand)) => {
            c.end()?;
            if operand != dst || w != width {
                return Err("unary operation on another register".to_string());
            }
            Ok(Some(match unary {
                None => Insn::Neg { width, dst },
                Some((kind, bits)) => Insn::End { kind, bits, dst },
            }))
        }
    }
}

/// The rest of `r0 = *(uN *)skb[...]`, after `skb[`.
fn packet_load(c: &mut Cur, dst: Reg, size: Size, signed: bool) -> Result<Insn, String> {
    if dst != Reg::R0 || signed || size == Size::DW {
        return Err("packet load other than r0 = *(u8|u16|u32 *)skb[...]".to_string());
    }
    let insn = match c.reg_opt()? {
        Some((_, src)) => {
            c.ws();
            let imm = if c.eat("+") {
                imm32(&c.number()?)?
            } else if c.eat("-") {
                let n = imm32(&c.number()?)?;
                n.checked_neg().ok_or("packet offset out of range")?
            } else {
                0
            };
            Insn::LoadInd { size, src, imm }
        }
        None => Insn::LoadAbs { size, imm: imm32(&c.number()?)? },
    };
    c.ws();
    if !c.eat("]") {
        return Err("expected `]`".to_string());
    }
    c.end()?;
    Ok(insn)
}

/// A numeric literal as written: sign and digits (`0x` hex, leading `0` octal).
struct Literal {
    negative: bool,
    magnitude: u128,
}

fn parse_literal(text: &str) -> Option<Literal> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude: u128 = if let Some(hex) = digits.strip_prefix("0x") {
        u128::from_str_radix(hex, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        u128::from_str_radix(&digits[1..], 8).ok()?
    } else {
        digits.parse::<u128>().ok()?
    };
    if magnitude > u128::from(u64::MAX) {
        return None;
    }
    Some(Literal { negative, magnitude })
}

/// PREVAIL's 32-bit immediate: negative literals as `long` (must fit 32 bits to be encodable),
/// others as `unsigned long` truncated to 32 bits.
fn imm32(text: &str) -> Result<i32, String> {
    let lit = parse_literal(text).ok_or_else(|| format!("bad number `{text}`"))?;
    if lit.negative {
        i32::try_from(-(lit.magnitude as i128))
            .map_err(|_| format!("immediate {text} does not fit 32 bits"))
    } else {
        let v = u64::try_from(lit.magnitude).map_err(|_| format!("immediate {text} too large"))?;
        Ok(v as u32 as i32)
    }
}

/// PREVAIL's `ll` immediate: `long long` if negative, else `unsigned long long`.
fn imm64(text: &str) -> Result<u64, String> {
    let lit = parse_literal(text).ok_or_else(|| format!("bad number `{text}`"))?;
    if lit.negative {
        i64::try_from(-(lit.magnitude as i128))
            .map(|v| v as u64)
            .map_err(|_| format!("immediate {text} does not fit 64 bits"))
    } else {
        u64::try_from(lit.magnitude).map_err(|_| format!("immediate {text} does not fit 64 bits"))
    }
}

/// A cursor over one line.
struct Cur<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    fn new(text: &'a str) -> Cur<'a> {
        Cur { s: text.as_bytes(), i: 0 }
    }

    fn text(&self) -> &'a str {
        // The cursor only stops at ASCII characters, so this is a char boundary.
        std::str::from_utf8(self.s).unwrap_or("")
    }

    fn rest(&self) -> &'a str {
        &self.text()[self.i..]
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t') {
            self.i += 1;
        }
    }

    /// Skips spaces, then `lit` if it comes next.
    fn eat(&mut self, lit: &str) -> bool {
        self.ws();
        if self.rest().starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    /// The value of the first of `options` whose text comes next (eaten), if any.
    fn one_of<T: Copy>(&mut self, options: &[(&str, T)]) -> Option<T> {
        options.iter().find(|(t, _)| self.eat(t)).map(|&(_, v)| v)
    }

    fn peek(&mut self, ch: char) -> bool {
        self.ws();
        self.rest().starts_with(ch)
    }

    /// `eat` for a keyword: not followed by a letter, digit or `_`.
    fn word(&mut self, kw: &str) -> bool {
        let save = self.i;
        if self.eat(kw) && !self.s.get(self.i).is_some_and(|b| is_ident(*b)) {
            true
        } else {
            self.i = save;
            false
        }
    }

    fn end(&mut self) -> Result<(), String> {
        self.ws();
        if self.i == self.s.len() { Ok(()) } else { Err(format!("unexpected `{}`", self.rest())) }
    }

    /// `rN` (64-bit) or `wN` (32-bit), if one comes next; an error for `r11` and up.
    fn reg_opt(&mut self) -> Result<Option<(Width, Reg)>, String> {
        self.ws();
        let width = match self.s.get(self.i) {
            Some(b'r') => Width::W64,
            Some(b'w') => Width::W32,
            _ => return Ok(None),
        };
        let start = self.i + 1;
        let mut end = start;
        while end < self.s.len() && self.s[end].is_ascii_digit() {
            end += 1;
        }
        if end == start || end - start > 2 || self.s.get(end).is_some_and(|b| is_ident(*b)) {
            return Ok(None);
        }
        let n: u8 = self.text()[start..end].parse().unwrap_or(u8::MAX);
        let reg = Reg::new(n).ok_or_else(|| format!("register {}", &self.text()[self.i..end]))?;
        self.i = end;
        Ok(Some((width, reg)))
    }

    fn reg(&mut self) -> Result<(Width, Reg), String> {
        self.reg_opt()?.ok_or_else(|| "expected a register".to_string())
    }

    /// `<name>`.
    fn label(&mut self) -> Option<&'a str> {
        self.ws();
        let rest = self.rest();
        let body = rest.strip_prefix('<')?;
        let close = body.find('>')?;
        let name = &body[..close];
        let ok = name.bytes().next().is_some_and(is_ident) && name.bytes().all(is_ident);
        if !ok {
            return None;
        }
        self.i += close + 2;
        Some(&rest[..close + 2])
    }

    /// A literal: optional sign, then hex (`0x...`) or decimal digits.
    fn number(&mut self) -> Result<String, String> {
        self.ws();
        let start = self.i;
        let mut j = self.i;
        if matches!(self.s.get(j), Some(b'-' | b'+')) {
            j += 1;
        }
        let digits = j;
        if self.s[j..].starts_with(b"0x") {
            j += 2;
            while j < self.s.len() && self.s[j].is_ascii_hexdigit() {
                j += 1;
            }
        } else {
            while j < self.s.len() && self.s[j].is_ascii_digit() {
                j += 1;
            }
        }
        if j == digits || self.s[digits..j] == *b"0x" {
            return Err(if self.i == self.s.len() {
                "expected a number".to_string()
            } else {
                format!("unknown syntax at `{}`", self.rest())
            });
        }
        self.i = j;
        Ok(self.text()[start..j].to_string())
    }

    /// A literal as a signed integer (offsets, helper ids).
    fn int(&mut self) -> Result<i64, String> {
        let text = self.number()?;
        let lit = parse_literal(&text).ok_or_else(|| format!("bad number `{text}`"))?;
        let v = if lit.negative { -(lit.magnitude as i128) } else { lit.magnitude as i128 };
        i64::try_from(v).map_err(|_| format!("{text} out of range"))
    }
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(blocks: &[(&str, &str)]) -> Case {
        Case {
            name: "t".to_string(),
            code: blocks.iter().map(|(l, t)| (l.to_string(), t.to_string())).collect(),
            ..Case::default()
        }
    }

    fn text(blocks: &[(&str, &str)]) -> String {
        udf_bytecode::disassemble(&assemble(&case(blocks)).unwrap())
    }

    fn one(line: &str) -> String {
        let p = assemble(&case(&[("<start>", line)])).unwrap();
        p.insns()[0].to_string()
    }

    fn refused(line: &str) -> String {
        assemble(&case(&[("<start>", line)])).unwrap_err().0
    }

    #[test]
    fn alu_forms() {
        assert_eq!(one("r1 += r2"), "add %r1, %r2");
        assert_eq!(one("w1 += w2"), "add32 %r1, %r2");
        assert_eq!(one("r1 = 5"), "mov %r1, 5");
        assert_eq!(one("r1=r2"), "mov %r1, %r2");
        assert_eq!(one("w2 = r10"), "mov32 %r2, %r10");
        assert_eq!(one("r1 s>>= 3"), "arsh %r1, 3");
        assert_eq!(one("r1 s/= r2"), "sdiv %r1, %r2");
        assert_eq!(one("w1 s%= 0"), "smod32 %r1, 0");
        assert_eq!(one("r1 %= r2 ; comment = x"), "mod %r1, %r2");
        assert_eq!(one("r0 = 0;"), "mov %r0, 0");
        assert_eq!(one("r1 = -1"), "mov %r1, -1");
        assert_eq!(one("w1 &= -1"), "and32 %r1, -1");
        assert_eq!(one("r1 = 0xfffffffe"), "mov %r1, -2");
        // Truncated to 32 bits, then sign-extended, as PREVAIL does.
        assert_eq!(one("r0 /= 4096655360"), "div %r0, -198311936");
    }

    #[test]
    fn unary_and_moves() {
        assert_eq!(one("r1 = -r1"), "neg %r1");
        assert_eq!(one("w1 = - w1"), "neg32 %r1");
        assert_eq!(one("r1 = be16 r1"), "be16 %r1");
        assert_eq!(one("r1 = le64 r1"), "le64 %r1");
        assert_eq!(one("r1 = swap32 r1"), "bswap32 %r1");
        assert_eq!(one("r2 s8= r1"), "movsx864 %r2, %r1");
        assert_eq!(one("w2 s16= r1"), "movsx1632 %r2, %r1");
        assert_eq!(one("r2 s32= r1"), "movsx3264 %r2, %r1");
        assert!(refused("w2 s32= r2").contains("s32="));
        assert!(refused("r1 = -r2").contains("another register"));
    }

    #[test]
    fn lddw_forms() {
        assert_eq!(one("r1 = 18446744073709551615ll"), "lddw %r1, 0xffffffffffffffff");
        assert_eq!(one("r1 = 0x10 ll"), "lddw %r1, 16");
        assert_eq!(one("r1 = -9223372036854775807ll"), "lddw %r1, 0x8000000000000001");
        assert!(refused("r1 = map_fd 1").contains("map_fd lddw"));
        assert!(refused("r2 = map_val(1) + 8").contains("map_val"));
        assert!(refused("r1 = map_by_idx(0)").contains("map_by_idx"));
        assert!(refused("r2 = mva(map_by_idx(0)) + 0").contains("map value"));
    }

    #[test]
    fn memory_forms() {
        assert_eq!(one("r1 = *(u32 *)(r10 - 4)"), "ldxw %r1, [%r10-4]");
        assert_eq!(one("r2 = *(s8 *)(r1 + 8)"), "ldxsb %r2, [%r1+8]");
        assert_eq!(one("r1 = *(u64 *)(r2 - 0)"), "ldxdw %r1, [%r2]");
        assert_eq!(one("*(u64 *)(r10 - 8) = r1"), "stxdw [%r10-8], %r1");
        assert_eq!(one("*(u8 *)(r10 - 1) = 2"), "stb [%r10-1], 2");
        assert_eq!(one("lock *(u32 *)(r2 + 4) += r1"), "lock add32 [%r2+4], %r1");
        assert_eq!(one("lock *(u64 *)(r2 + 4) ^= r1 fetch"), "lock fetch xor [%r2+4], %r1");
        assert_eq!(one("lock *(u64 *)(r2 + 4) x= r1"), "lock xchg [%r2+4], %r1");
        assert_eq!(one("lock *(u32 *)(r2 + 4) cx= r1"), "lock cmpxchg32 [%r2+4], %r1");
        assert_eq!(one("r0 = *(u16 *)skb[23]"), "ldabsh 23");
        assert_eq!(one("r0 = *(u32 *)skb[r7]"), "ldindw %r7, 0");
        assert!(refused("r1 = *(u64 *)(r10 - 40000)").contains("offset"));
    }

    #[test]
    fn calls() {
        assert_eq!(one("call 1; bpf_map_lookup_elem"), "call 1");
        assert!(refused("callx r8; bpf_map_update_elem").contains("callx"));
        assert!(refused("r11 = 1").contains("r11"));
        assert!(refused("r1 = r2 r3").contains("unexpected"));
        assert!(refused("nonsense").contains("unknown syntax"));
    }

    #[test]
    fn labels_resolve_in_slots() {
        let t = text(&[
            ("<start>", "r1 = 1 ll\nif r1 == 0 goto <out>\ngoto <start>\n"),
            ("<out>", "call <sub>\nexit\n"),
            ("<sub>", "r0 = 0\n"),
        ]);
        assert_eq!(
            t,
            "lddw %r1, 1\njeq %r1, 0, +1\nja -4\ncall local +1\nexit\nmov %r0, 0\nexit\n"
        );
    }

    #[test]
    fn exit_is_appended_when_needed() {
        // Ends with a jump: nothing to add.
        let a = assemble_with(&case(&[("<start>", "goto <start>\n")]), AssumeMode::Refuse).unwrap();
        assert_eq!(a.appended_exit, None);
        assert_eq!(a.program.len(), 1);
        // A label at the end needs somewhere to land, even after an `exit`.
        let a = assemble_with(
            &case(&[("<start>", "if r1 > 2 goto <end>\nexit\n"), ("<end>", "")]),
            AssumeMode::Refuse,
        )
        .unwrap();
        assert_eq!(a.appended_exit, Some(2));
        assert_eq!(udf_bytecode::disassemble(&a.program), "jgt %r1, 2, +1\nexit\nexit\n");
        // Only code that runs off the end.
        assert_eq!(text(&[("<start>", "r0 = 1 ll")]), "lddw %r0, 1\nexit\n");
    }

    #[test]
    fn conditions() {
        let t = text(&[("<start>", "if w1 &!= 3 goto <x>\nr0 = 0\n"), ("<x>", "exit\n")]);
        assert_eq!(t, "jset32 %r1, 3, +1\nja +1\nmov %r0, 0\nexit\n");
        assert_eq!(
            text(&[("<start>", "if r1 s>= r2 goto <start>\n")]),
            "jsge %r1, %r2, -1\nexit\n"
        );
        assert!(refused("assume r1 < 3").contains("assume"));
        let a = assemble_with(
            &case(&[("<start>", "assume w1 < 3\nassume r1 &== 1\nr0 = 1\n")]),
            AssumeMode::SinkLoop,
        )
        .unwrap();
        assert_eq!(
            udf_bytecode::disassemble(&a.program),
            "jge32 %r1, 3, +4\njset %r1, 1, +1\nja +2\nmov %r0, 1\nexit\nja -1\n"
        );
        assert_eq!(a.line_pcs, vec![0, 1, 3]);
        assert_eq!((a.appended_exit, a.assume_sink), (Some(4), Some(5)));
        assert!(refused("goto <nowhere>").contains("undefined label"));
    }
}
