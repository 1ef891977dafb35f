//! Atom extraction: a verified filter's accept condition as a list of rules, each the
//! conjunction of atoms one path of the program tests, found by running the bytecode
//! symbolically.
//!
//! A verified filter here is loop-free straight-line code with forward jumps. Every path from
//! the entry to an `exit` is followed with a symbolic value per register:
//!
//! - a constant, the captured length (`r2`), the wire length (`r3`), the packet pointer (`r1`);
//! - a packet field: `size` bytes at `off` from a [`Base`] (the packet start, or the packet start
//!   plus the IP header length `4 * (p[o] & 0xf)`, classic BPF's `ldx msh`), read in host (little)
//!   or network (big) byte order, under a mask;
//! - the IP header length plus a constant, and the packet pointer plus the IP header length (the
//!   translator's `r5 = r1 + X`).
//!
//! A conditional jump on known values becomes an atom on each of its two edges; a jump whose
//! outcome the path already decides (the same field compared again, a length already tested)
//! follows its one feasible edge. A path ending in `exit` with `r0` a non-zero constant (or a
//! field: then `r0 != 0` is one more atom) is a [`Rule`]; one ending with 0 is dropped.
//!
//! Equalities on fields (`jeq`, the fall-through of `jne`, the fall-through of `jset`: a masked
//! field equal to 0) are what the trie merges ([`EqAtom`], in network byte order); every other
//! test (inequalities, ordered compares, the length tests) stays with the rule as a residual
//! [`Atom`] checked at its leaf. Whatever the extraction does not model (arithmetic on fields,
//! stack memory read back, helper or local calls, backward jumps, signed loads, too many paths)
//! makes the whole filter [`Opaque`]: it then runs as it is, verified, beside the trie.
//!
//! Why a rule is exact: the program is deterministic, so its paths are disjoint and the filter
//! accepts exactly when one accepting path's conditions all hold. A field a rule reads past the
//! captured bytes makes the rule false: the verifier proved every load of a path in bounds for
//! every packet that follows the path, so such a packet does not follow it.

use alloc::vec::Vec;

use udf_bytecode::{AluOp, Endian, Insn, JmpCond, Program, Size, Source, Width};

/// Where a field's offset counts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Base {
    /// The first byte of the packet.
    Abs,
    /// The packet start plus `4 * (p[o] & 0xf)` (the IPv4 header length when `o` is the
    /// offset of the IP header).
    Ihl(u32),
}

impl Base {
    /// The packet offset this base stands for, or `None` past the captured bytes.
    #[inline]
    fn start(self, pkt: &[u8]) -> Option<u64> {
        match self {
            Base::Abs => Some(0),
            Base::Ihl(o) => pkt.get(o as usize).map(|b| 4 * u64::from(b & 0xf)),
        }
    }
}

/// A packet field compared in network byte order: `size` bytes at `base + off`, read
/// big-endian, then masked: the key of a trie node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FieldKey {
    /// Where `off` counts from.
    pub base: Base,
    /// Offset from the base.
    pub off: i64,
    /// 1, 2, 4 or 8 bytes.
    pub size: u8,
    /// Bits kept (never 0; at most `size` bytes' worth).
    pub mask: u64,
}

/// Reads `size` bytes at `base + off`, big-endian; `None` when any is past the captured bytes.
#[inline]
fn read_be(pkt: &[u8], base: Base, off: i64, size: u8) -> Option<u64> {
    let start = i64::try_from(base.start(pkt)?).ok()?.checked_add(off)?;
    let start = usize::try_from(start).ok()?;
    let bytes = pkt.get(start..start.checked_add(usize::from(size))?)?;
    Some(bytes.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)))
}

impl FieldKey {
    /// The field's value in `pkt` (masked), or `None` past the captured bytes.
    #[inline]
    pub fn fetch(&self, pkt: &[u8]) -> Option<u64> {
        read_be(pkt, self.base, self.off, self.size).map(|v| v & self.mask)
    }
}

/// `field == value` (network byte order, `value` within the mask).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EqAtom {
    /// The field.
    pub key: FieldKey,
    /// Its value.
    pub value: u64,
}

/// A symbolic value the extraction tracks (anything else is [`Val::Unknown`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Val {
    /// A constant.
    Const(u64),
    /// The captured length (`r2` on entry).
    CapLen,
    /// The length on the wire (`r3` on entry).
    WireLen,
    /// A field as a load made it: `size` bytes at `base + off`, in network order (`be`) or
    /// host order (little-endian), then masked (in that order).
    Load {
        /// Where `off` counts from.
        base: Base,
        /// Offset.
        off: i64,
        /// 1, 2, 4 or 8.
        size: u8,
        /// Network byte order.
        be: bool,
        /// Bits kept, in the value's own order.
        mask: u64,
    },
    /// `4 * (p[o] & 0xf) + add`.
    Ihl {
        /// Offset of the byte.
        o: u32,
        /// Added constant.
        add: u64,
    },
    /// The packet pointer.
    Pkt,
    /// The packet pointer plus `4 * (p[o] & 0xf)`.
    PktIhl(u32),
    /// Not modelled.
    Unknown,
}

/// Swaps the low `size` bytes of `v`.
fn swap(v: u64, size: u8) -> u64 {
    v.swap_bytes() >> (64 - 8 * u32::from(size))
}

/// All ones over `size` bytes.
fn ones(size: u8) -> u64 {
    if size >= 8 { u64::MAX } else { (1u64 << (8 * u32::from(size))) - 1 }
}

impl Val {
    /// The value in `pkt` (`None`: a field past the captured bytes).
    #[inline]
    fn eval(&self, pkt: &[u8], wire_len: u64) -> Option<u64> {
        match *self {
            Val::Const(c) => Some(c),
            Val::CapLen => Some(pkt.len() as u64),
            Val::WireLen => Some(wire_len),
            Val::Load { base, off, size, be, mask } => {
                let v = read_be(pkt, base, off, size)?;
                Some(if be { v } else { swap(v, size) } & mask)
            }
            Val::Ihl { o, add } => Some(Base::Ihl(o).start(pkt)?.wrapping_add(add)),
            // Pointers and unknowns never reach an atom.
            Val::Pkt | Val::PktIhl(_) | Val::Unknown => None,
        }
    }

    /// `field & mask` in network order, when this is a field.
    fn key(&self) -> Option<(FieldKey, u8, bool)> {
        match *self {
            Val::Load { base, off, size, be, mask } => {
                let mask = if be { mask } else { swap(mask, size) };
                Some((FieldKey { base, off, size, mask }, size, be))
            }
            _ => None,
        }
    }
}

/// `a COND b` on `width` (as the jump computes it); a residual test of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Atom {
    /// 32 or 64 bits.
    pub width: Width,
    /// The condition.
    pub cond: JmpCond,
    /// Left operand.
    pub a: Val,
    /// Right operand.
    pub b: Val,
    /// Whether the rule needs it to hold (false: needs it not to).
    pub holds: bool,
}

impl Atom {
    /// Whether the atom is as the rule needs on `pkt` (false when an operand is a field past
    /// the captured bytes).
    #[inline]
    pub fn check(&self, pkt: &[u8], wire_len: u64) -> bool {
        let (Some(a), Some(b)) = (self.a.eval(pkt, wire_len), self.b.eval(pkt, wire_len)) else {
            return false;
        };
        let r = match self.width {
            Width::W64 => self.cond.eval64(a, b),
            Width::W32 => self.cond.eval32(a, b),
        };
        r == self.holds
    }
}

/// One accepting path: its field equalities (in the order the program tests them) and the
/// rest of its tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Field equalities, merged in the trie.
    pub eqs: Vec<EqAtom>,
    /// The captured length must lie in `[lo, hi]`.
    pub caplen: (u64, u64),
    /// Other tests, checked at the leaf.
    pub rest: Vec<Atom>,
}

impl Rule {
    /// Whether the residual tests hold on `pkt` (the equalities are the trie's).
    #[inline]
    pub fn residual_holds(&self, pkt: &[u8], wire_len: u64) -> bool {
        let len = pkt.len() as u64;
        self.caplen.0 <= len
            && len <= self.caplen.1
            && self.rest.iter().all(|a| a.check(pkt, wire_len))
    }

    /// Whether the whole rule holds (equalities included): the reference the tests use.
    pub fn holds(&self, pkt: &[u8], wire_len: u64) -> bool {
        self.eqs.iter().all(|e| e.key.fetch(pkt) == Some(e.value))
            && self.residual_holds(pkt, wire_len)
    }
}

/// Why a filter is not decomposed (it then runs whole, beside the trie).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opaque {
    /// An instruction the extraction does not model decides a branch or the result.
    Unmodelled(usize),
    /// A backward jump (a loop) or a local call at this instruction.
    Control(usize),
    /// More paths or steps than the extraction follows.
    TooManyPaths,
}

/// Most accepting rules one filter may have and still be merged.
pub const MAX_RULES: usize = 64;
/// Most paths (accepting or not) followed per filter.
const MAX_PATHS: usize = 1024;
/// Most instructions followed per filter, over all paths.
const MAX_STEPS: usize = 65_536;

/// What one path knows.
#[derive(Clone, Debug)]
struct Path {
    regs: [Val; 11],
    eqs: Vec<EqAtom>,
    /// `(key, v)`: the field is not `v`.
    nes: Vec<EqAtom>,
    caplen: (u64, u64),
    /// `(o, n)`: `4 * (p[o] & 0xf) + n <= caplen` holds (largest `n` per `o`).
    ihl_ok: Vec<(u32, u64)>,
    /// `(o, n)`: `4 * (p[o] & 0xf) + n > caplen` holds (smallest `n` per `o`).
    ihl_short: Vec<(u32, u64)>,
    rest: Vec<Atom>,
}

/// What adding a condition to a path gives.
enum Add {
    /// The path already implied it.
    Known,
    /// The path contradicts it: the edge is infeasible.
    Infeasible,
    /// Recorded.
    Added,
}

impl Path {
    fn entry() -> Path {
        let mut regs = [Val::Unknown; 11];
        regs[1] = Val::Pkt;
        regs[2] = Val::CapLen;
        regs[3] = Val::WireLen;
        Path {
            regs,
            eqs: Vec::new(),
            nes: Vec::new(),
            caplen: (0, u64::from(u32::MAX)),
            ihl_ok: Vec::new(),
            ihl_short: Vec::new(),
            rest: Vec::new(),
        }
    }

    /// Adds `field == value` (`eq`) or `field != value`.
    fn add_eq(&mut self, key: FieldKey, value: u64, eq: bool) -> Add {
        if value & !key.mask != 0 {
            // A masked field never equals a value with bits outside the mask.
            return if eq { Add::Infeasible } else { Add::Known };
        }
        if let Some(e) = self.eqs.iter().find(|e| e.key == key) {
            return if (e.value == value) == eq { Add::Known } else { Add::Infeasible };
        }
        let known_ne = self.nes.iter().any(|e| e.key == key && e.value == value);
        if known_ne {
            return if eq { Add::Infeasible } else { Add::Known };
        }
        let atom = EqAtom { key, value };
        if eq {
            self.nes.retain(|e| e.key != key);
            self.eqs.push(atom);
        } else {
            self.nes.push(atom);
        }
        Add::Added
    }

    /// Adds `caplen COND c` (holding or not), as an interval.
    fn add_caplen(&mut self, cond: JmpCond, c: u64, holds: bool, swapped: bool) -> Option<Add> {
        // As `caplen OP c`: swap the operands' roles when the constant is on the left.
        let cond = if swapped {
            match cond {
                JmpCond::Lt => JmpCond::Gt,
                JmpCond::Le => JmpCond::Ge,
                JmpCond::Gt => JmpCond::Lt,
                JmpCond::Ge => JmpCond::Le,
                other => other,
            }
        } else {
            cond
        };
        let cond = if holds { cond } else { cond.negate() };
        let max = u64::from(u32::MAX);
        let (lo, hi) = match cond {
            JmpCond::Lt => (0, c.checked_sub(1)?),
            JmpCond::Le => (0, c),
            JmpCond::Gt => (c.checked_add(1)?, max),
            JmpCond::Ge => (c, max),
            JmpCond::Eq => (c, c),
            _ => return None,
        };
        let (lo, hi) = (lo.max(self.caplen.0), hi.min(self.caplen.1));
        if lo > hi {
            return Some(Add::Infeasible);
        }
        if (lo, hi) == self.caplen {
            return Some(Add::Known);
        }
        self.caplen = (lo, hi);
        Some(Add::Added)
    }

    /// Adds `4 * (p[o] & 0xf) + n > caplen` (`short`) or its negation.
    fn add_ihl(&mut self, o: u32, n: u64, short: bool) -> Add {
        let ok = self.ihl_ok.iter().find(|e| e.0 == o).map(|e| e.1);
        let sh = self.ihl_short.iter().find(|e| e.0 == o).map(|e| e.1);
        if short {
            if ok.is_some_and(|k| n <= k) {
                return Add::Infeasible;
            }
            if sh.is_some_and(|k| k <= n) {
                return Add::Known;
            }
            self.ihl_short.retain(|e| e.0 != o);
            self.ihl_short.push((o, n));
        } else {
            if sh.is_some_and(|k| k <= n) {
                return Add::Infeasible;
            }
            if ok.is_some_and(|k| n <= k) {
                return Add::Known;
            }
            self.ihl_ok.retain(|e| e.0 != o);
            self.ihl_ok.push((o, n));
        }
        Add::Added
    }

    /// Adds the outcome `holds` of `a COND b`; `None`: not modelled.
    fn add(&mut self, width: Width, cond: JmpCond, a: Val, b: Val, holds: bool) -> Option<Add> {
        if matches!(a, Val::Unknown | Val::Pkt | Val::PktIhl(_))
            || matches!(b, Val::Unknown | Val::Pkt | Val::PktIhl(_))
        {
            return None;
        }
        if let (Val::Const(x), Val::Const(y)) = (a, b) {
            let r = match width {
                Width::W64 => cond.eval64(x, y),
                Width::W32 => cond.eval32(x, y),
            };
            return Some(if r == holds { Add::Known } else { Add::Infeasible });
        }
        // Field against constant: equalities in network order.
        let field = match (a, b) {
            (f @ Val::Load { .. }, Val::Const(c)) | (Val::Const(c), f @ Val::Load { .. }) => {
                Some((f, c))
            }
            _ => None,
        };
        if let Some((f, c)) = field {
            let (key, size, be) = f.key().expect("a load");
            // A 32-bit compare of an 8-byte field sees only its low half: left as a residual.
            if !(width == Width::W32 && size == 8) {
                let c = if width == Width::W32 { c & 0xffff_ffff } else { c };
                let in_range = c & !ones(size) == 0;
                let cbe = if be { c } else { swap(c, size) };
                match (cond, holds) {
                    (JmpCond::Eq, _) | (JmpCond::Ne, _) => {
                        let eq = (cond == JmpCond::Eq) == holds;
                        if !in_range {
                            return Some(if eq { Add::Infeasible } else { Add::Known });
                        }
                        return Some(self.add_eq(key, cbe, eq));
                    }
                    (JmpCond::Set, _) => {
                        let m = key.mask & if be { c } else { swap(c & ones(size), size) };
                        if m == 0 {
                            return Some(if holds { Add::Infeasible } else { Add::Known });
                        }
                        let k = FieldKey { mask: m, ..key };
                        // `jset` taken: the masked field is not 0; else it is 0.
                        return Some(self.add_eq(k, 0, !holds));
                    }
                    _ => {}
                }
            }
        }
        // Length tests.
        match (a, b) {
            (Val::CapLen, Val::Const(c)) | (Val::Const(c), Val::CapLen) => {
                let swapped = matches!(a, Val::Const(_));
                let c = if width == Width::W32 { c & 0xffff_ffff } else { c };
                if let Some(r) = self.add_caplen(cond, c, holds, swapped) {
                    return Some(r);
                }
            }
            (Val::Ihl { o, add }, Val::CapLen) if width == Width::W64 => {
                // `X + add > caplen` / `>=` / `<=` / `<`.
                let (short, n) = match (cond, holds) {
                    (JmpCond::Gt, true) | (JmpCond::Le, false) => (true, add),
                    (JmpCond::Gt, false) | (JmpCond::Le, true) => (false, add),
                    (JmpCond::Ge, true) | (JmpCond::Lt, false) => (true, add.wrapping_add(1)),
                    (JmpCond::Ge, false) | (JmpCond::Lt, true) => (false, add.wrapping_add(1)),
                    _ => (false, u64::MAX),
                };
                if n != u64::MAX && add < 1 << 32 {
                    let r = self.add_ihl(o, n, short);
                    if matches!(r, Add::Added) {
                        self.rest.push(Atom { width, cond, a, b, holds });
                    }
                    return Some(r);
                }
            }
            _ => {}
        }
        let atom = Atom { width, cond, a, b, holds };
        if self.rest.contains(&atom) {
            return Some(Add::Known);
        }
        if self.rest.contains(&Atom { holds: !holds, ..atom }) {
            return Some(Add::Infeasible);
        }
        self.rest.push(atom);
        Some(Add::Added)
    }

    /// The rule this accepting path gives.
    fn rule(&self) -> Rule {
        let mut rest = self.rest.clone();
        for ne in &self.nes {
            rest.push(Atom {
                width: Width::W64,
                cond: JmpCond::Eq,
                a: Val::Load {
                    base: ne.key.base,
                    off: ne.key.off,
                    size: ne.key.size,
                    be: true,
                    mask: ne.key.mask,
                },
                b: Val::Const(ne.value),
                holds: false,
            });
        }
        Rule { eqs: self.eqs.clone(), caplen: self.caplen, rest }
    }
}

/// The value `op` gives from `d` and `s` (`None`: not modelled).
fn alu(width: Width, op: AluOp, d: Val, s: Val) -> Val {
    let w32 = width == Width::W32;
    let trunc = |v: u64| if w32 { v & 0xffff_ffff } else { v };
    match (op, d, s) {
        (AluOp::Mov, _, Val::Const(c)) => Val::Const(trunc(c)),
        (AluOp::Mov, _, v @ (Val::CapLen | Val::WireLen | Val::Ihl { .. })) => {
            // Both lengths are below 2^32; so is a header length plus a small constant.
            match v {
                Val::Ihl { add, .. } if w32 && add >= 1 << 31 => Val::Unknown,
                v => v,
            }
        }
        (AluOp::Mov, _, v @ Val::Load { size, mask, .. }) => {
            if w32 && size == 8 && mask > 0xffff_ffff { Val::Unknown } else { v }
        }
        (AluOp::Mov, _, v @ (Val::Pkt | Val::PktIhl(_))) if !w32 => v,
        (_, Val::Const(a), Val::Const(b)) => {
            Val::Const(udf_bytecode::semantics::alu(op, width, a, b))
        }
        (AluOp::And, Val::Load { base, off, size, be, mask }, Val::Const(c)) => {
            let c = trunc(c);
            let mask = mask & c;
            Val::Load { base, off, size, be, mask }
        }
        (AluOp::Lsh, Val::Load { base: Base::Abs, off, size: 1, mask: 0xf, .. }, Val::Const(2)) => {
            match u32::try_from(off) {
                Ok(o) => Val::Ihl { o, add: 0 },
                Err(_) => Val::Unknown,
            }
        }
        (AluOp::Add, Val::Ihl { o, add }, Val::Const(c)) if !w32 && c < 1 << 16 => {
            Val::Ihl { o, add: add + c }
        }
        (AluOp::Add, Val::Pkt, Val::Ihl { o, add: 0 })
        | (AluOp::Add, Val::Ihl { o, add: 0 }, Val::Pkt)
            if !w32 =>
        {
            Val::PktIhl(o)
        }
        _ => Val::Unknown,
    }
}

/// A load through `base` (`None`: not modelled).
fn load(base: Val, off: i16, size: Size) -> Val {
    let size = size.bytes() as u8;
    let base = match base {
        Val::Pkt => Base::Abs,
        Val::PktIhl(o) => Base::Ihl(o),
        _ => return Val::Unknown,
    };
    Val::Load { base, off: i64::from(off), size, be: false, mask: ones(size) }
}

/// The accepting rules of a verified filter, or why it does not decompose.
pub fn extract(prog: &Program) -> Result<Vec<Rule>, Opaque> {
    let insns = prog.insns();
    let mut rules: Vec<Rule> = Vec::new();
    let mut stack: Vec<(usize, Path)> = alloc::vec![(0, Path::entry())];
    let mut steps = 0usize;
    let mut paths = 0usize;
    let target = |i: usize, off: i64| -> Result<usize, Opaque> {
        if off < 0 {
            return Err(Opaque::Control(i));
        }
        let pc = prog.pc(i) as i64 + 1 + off;
        usize::try_from(pc).ok().and_then(|pc| prog.index_at(pc)).ok_or(Opaque::Control(i))
    };
    while let Some((mut i, mut p)) = stack.pop() {
        paths += 1;
        if paths > MAX_PATHS {
            return Err(Opaque::TooManyPaths);
        }
        loop {
            steps += 1;
            if steps > MAX_STEPS {
                return Err(Opaque::TooManyPaths);
            }
            let Some(insn) = insns.get(i) else { return Err(Opaque::Control(i)) };
            match *insn {
                Insn::Alu { width, op, dst, src } => {
                    let s = match src {
                        Source::Reg(r) => p.regs[r.index()],
                        Source::Imm(k) => Val::Const(if width == Width::W64 {
                            k as i64 as u64
                        } else {
                            k as u32 as u64
                        }),
                    };
                    p.regs[dst.index()] = alu(width, op, p.regs[dst.index()], s);
                }
                Insn::Neg { dst, .. } => p.regs[dst.index()] = Val::Unknown,
                Insn::End { kind, bits, dst } => {
                    let v = p.regs[dst.index()];
                    p.regs[dst.index()] = match v {
                        Val::Load { base, off, size, be, mask }
                            if bits.bits() == 8 * u32::from(size) =>
                        {
                            match kind {
                                // On a little-endian machine `le` only truncates.
                                Endian::Le => v,
                                Endian::Be | Endian::Swap => {
                                    Val::Load { base, off, size, be: !be, mask: swap(mask, size) }
                                }
                            }
                        }
                        Val::Load { .. } | Val::Ihl { .. } | Val::CapLen | Val::WireLen
                            if kind == Endian::Le && bits.bits() >= 32 =>
                        {
                            // Values below 2^32: truncation to 32 or 64 bits keeps them (a
                            // load of 8 bytes only at 64).
                            match v {
                                Val::Load { size: 8, .. } if bits.bits() == 32 => Val::Unknown,
                                v => v,
                            }
                        }
                        _ => Val::Unknown,
                    };
                }
                Insn::LoadImm64 { dst, imm } => p.regs[dst.index()] = Val::Const(imm),
                Insn::LoadPseudo { dst, .. } => p.regs[dst.index()] = Val::Unknown,
                Insn::Load { size, signed, dst, base, off } => {
                    p.regs[dst.index()] =
                        if signed { Val::Unknown } else { load(p.regs[base.index()], off, size) };
                }
                Insn::Store { .. } => {}
                Insn::Atomic { fetch, src, op, .. } => {
                    if fetch || matches!(op, udf_bytecode::AtomicOp::Xchg) {
                        p.regs[src.index()] = Val::Unknown;
                    }
                    if matches!(op, udf_bytecode::AtomicOp::CmpXchg) {
                        p.regs[0] = Val::Unknown;
                    }
                }
                Insn::LoadAbs { size, imm } | Insn::LoadInd { size, imm, .. } => {
                    // A load past the captured bytes returns 0: the path that goes on needs
                    // the bytes there.
                    let n = size.bytes() as u64;
                    let (v, ok) = match *insn {
                        Insn::LoadInd { src, .. } => match p.regs[src.index()] {
                            Val::Ihl { o, add } => {
                                let off = add as i64 + i64::from(imm);
                                if off < 0 {
                                    return Err(Opaque::Unmodelled(i));
                                }
                                let ok = p.add(
                                    Width::W64,
                                    JmpCond::Gt,
                                    Val::Ihl { o, add: off as u64 + n },
                                    Val::CapLen,
                                    false,
                                );
                                let v = Val::Load {
                                    base: Base::Ihl(o),
                                    off,
                                    size: n as u8,
                                    be: true,
                                    mask: ones(n as u8),
                                };
                                (v, ok)
                            }
                            _ => return Err(Opaque::Unmodelled(i)),
                        },
                        _ => {
                            if imm < 0 {
                                return Err(Opaque::Unmodelled(i));
                            }
                            let end = imm as u64 + n;
                            let ok =
                                p.add(Width::W64, JmpCond::Ge, Val::CapLen, Val::Const(end), true);
                            let v = Val::Load {
                                base: Base::Abs,
                                off: i64::from(imm),
                                size: n as u8,
                                be: true,
                                mask: ones(n as u8),
                            };
                            (v, ok)
                        }
                    };
                    match ok {
                        None => return Err(Opaque::Unmodelled(i)),
                        Some(Add::Infeasible) => break,
                        Some(_) => {}
                    }
                    p.regs[0] = v;
                }
                Insn::Ja { off } => {
                    i = target(i, i64::from(off))?;
                    continue;
                }
                Insn::Ja32 { imm } => {
                    i = target(i, i64::from(imm))?;
                    continue;
                }
                Insn::Jump { width, cond, dst, src, off } => {
                    let a = p.regs[dst.index()];
                    let b = match src {
                        Source::Reg(r) => p.regs[r.index()],
                        Source::Imm(k) => Val::Const(if width == Width::W64 {
                            k as i64 as u64
                        } else {
                            k as u32 as u64
                        }),
                    };
                    let to = target(i, i64::from(off))?;
                    let mut taken = p.clone();
                    let t = taken.add(width, cond, a, b, true).ok_or(Opaque::Unmodelled(i))?;
                    let f = p.add(width, cond, a, b, false).ok_or(Opaque::Unmodelled(i))?;
                    let t_ok = !matches!(t, Add::Infeasible);
                    let f_ok = !matches!(f, Add::Infeasible);
                    match (t_ok, f_ok) {
                        (true, true) => {
                            stack.push((to, taken));
                            i += 1;
                        }
                        (true, false) => {
                            p = taken;
                            i = to;
                        }
                        (false, true) => i += 1,
                        (false, false) => break,
                    }
                    continue;
                }
                Insn::Call { .. }
                | Insn::CallKfunc { .. }
                | Insn::CallReg { .. }
                | Insn::CallLocal { .. } => return Err(Opaque::Control(i)),
                Insn::Exit => {
                    match p.regs[0] {
                        Val::Const(0) => {}
                        Val::Const(_) => push_rule(&mut rules, p.rule())?,
                        v @ (Val::Load { .. } | Val::CapLen | Val::WireLen | Val::Ihl { .. }) => {
                            match p.add(Width::W64, JmpCond::Ne, v, Val::Const(0), true) {
                                Some(Add::Infeasible) => {}
                                Some(_) => push_rule(&mut rules, p.rule())?,
                                None => return Err(Opaque::Unmodelled(i)),
                            }
                        }
                        _ => return Err(Opaque::Unmodelled(i)),
                    }
                    break;
                }
            }
            i += 1;
        }
    }
    Ok(rules)
}

fn push_rule(rules: &mut Vec<Rule>, r: Rule) -> Result<(), Opaque> {
    if rules.len() >= MAX_RULES {
        return Err(Opaque::TooManyPaths);
    }
    if !rules.contains(&r) {
        rules.push(r);
    }
    Ok(())
}

/// `field != value` as [`Path::rule`] writes it into a rule's residual tests.
fn as_ne(a: &Atom) -> Option<EqAtom> {
    match (*a, a.b) {
        (
            Atom {
                width: Width::W64,
                cond: JmpCond::Eq,
                a: Val::Load { base, off, size, be: true, mask },
                holds: false,
                ..
            },
            Val::Const(value),
        ) => Some(EqAtom { key: FieldKey { base, off, size, mask }, value }),
        _ => None,
    }
}

/// Drops the residual `field != v` tests that the filter's other rules make redundant, so rules
/// of one shape differ in values only (`port 80`: `sport == 80`, and `sport != 80 && dport ==
/// 80`, which becomes `dport == 80`).
///
/// Why it is exact: the filter accepts when one of its rules holds. Let `R2 = (f != v) && C2`
/// and `R1` another rule whose tests are `f == v` and tests all found in `C2` (its equalities
/// and residual tests among `C2`'s, its captured-length bounds no narrower). Then
/// `R1 || R2 == R1 || C2`: a packet with `C2` and `f == v` passes every test of `R1`. Each drop
/// is justified by the rules as they are at that moment, so the union never changes.
pub fn drop_covered_nes(rules: &mut [Rule]) {
    for i in 0..rules.len() {
        let mut k = 0;
        while k < rules[i].rest.len() {
            let covered = as_ne(&rules[i].rest[k]).is_some_and(|ne| {
                let r2 = &rules[i];
                rules.iter().enumerate().any(|(j, r1)| {
                    j != i
                        && r1.eqs.contains(&ne)
                        && r1.eqs.iter().all(|e| *e == ne || r2.eqs.contains(e))
                        && r1.rest.iter().all(|a| r2.rest.contains(a))
                        && r1.caplen.0 <= r2.caplen.0
                        && r2.caplen.1 <= r1.caplen.1
                })
            });
            if covered {
                rules[i].rest.remove(k);
            } else {
                k += 1;
            }
        }
    }
}
