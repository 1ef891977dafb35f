//! The abstract state at one program point: registers, the stack of every live frame, and the
//! relational facts about the context length.

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::fmt;

use crate::scalar::Scalar;

/// A symbolic value: "the value the instruction at this index produced when it last ran",
/// or [`LEN`], the context length on entry.
pub type Sym = u32;

/// The symbol of the context length (`r2` on entry).
pub const LEN: Sym = u32::MAX;

/// Pointer results of instructions: `PTR_INSN + i` is the offset of the context pointer
/// instruction `i` produced when it last ran (instruction `i`'s own symbol `i` names a number
/// it produced). Used for a named pointer plus a named number.
pub const PTR_INSN: Sym = 1 << 30;

/// The pointer symbol of instruction `i` (`None` for programs too large to have one).
pub const fn ptr_insn_sym(i: usize) -> Option<Sym> {
    if i < PTR_INSN as usize { Some(PTR_INSN + i as Sym) } else { None }
}

/// Whether `s` names a context pointer's offset (which may be negative) rather than a number.
pub const fn names_pointer(s: Sym) -> bool {
    (s >= PTR_INSN && s < JOIN) || (s >= PTR_JOIN && s != LEN)
}

/// Join symbols start here: `JOIN + 16 * j + r` is "the number register `r` held when control
/// last arrived at instruction `j`", given where paths with different names for it meet;
/// `PTR_JOIN + 16 * j + r` is the same for a context pointer's offset.
pub const JOIN: Sym = 1 << 31;

/// Join symbols of context pointers start here.
pub const PTR_JOIN: Sym = JOIN + (1 << 30);

/// Join points with an index up to this get join symbols (larger programs do without).
pub const MAX_JOIN_POINT: usize = (1 << 26) - 1;

/// The join symbol of register `r` at instruction `j` (`ptr`: a context pointer's offset).
pub const fn join_sym(j: usize, r: usize, ptr: bool) -> Sym {
    (if ptr { PTR_JOIN } else { JOIN }) + (j as Sym) * 16 + r as Sym
}

/// The instruction and register a join symbol names, and whether it is a pointer's offset
/// (`None`: not a join symbol).
pub const fn join_of(s: Sym) -> Option<(usize, usize, bool)> {
    if s == LEN || s < JOIN {
        return None;
    }
    let ptr = s >= PTR_JOIN;
    let k = (s - if ptr { PTR_JOIN } else { JOIN }) as usize;
    Some((k / 16, k % 16, ptr))
}

/// Where join symbol `s` of instruction `j` sits among `j`'s 32 (16 registers as numbers, 16 as
/// pointers), or `None` when `s` is no join symbol of `j`.
fn join_slot(s: Sym, j: usize) -> Option<usize> {
    match join_of(s) {
        Some((jj, r, ptr)) if jj == j => Some(r + 16 * usize::from(ptr)),
        _ => None,
    }
}

/// What a register (or a spilled stack slot) holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// Nothing usable: never written, or different kinds on different paths.
    Uninit,
    /// A number.
    Scalar,
    /// A pointer into the context; the scalar is its offset from the first byte.
    Ctx,
    /// A pointer into the stack frame of call depth `frame` (0 = the entry function); the
    /// scalar is its offset from that frame's top (so valid bytes are at -512..-1).
    Stack {
        /// Call depth of the frame.
        frame: u8,
    },
}

/// An abstract register value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Value {
    /// Its kind.
    pub kind: ValueKind,
    /// For scalars the value, for pointers the offset.
    pub n: Scalar,
    /// `n == sym + off` exactly (as integers, no wrap-around), when known.
    pub sym: Option<(Sym, i64)>,
}

impl Value {
    /// Unusable.
    pub const UNINIT: Value = Value { kind: ValueKind::Uninit, n: Scalar::TOP, sym: None };

    /// A scalar.
    pub const fn scalar(n: Scalar) -> Value {
        Value { kind: ValueKind::Scalar, n, sym: None }
    }

    /// The same value named `sym` (`v = sym.0 + sym.1`, or unnamed).
    pub const fn with_sym(self, sym: Option<(Sym, i64)>) -> Value {
        Value { sym, ..self }
    }

    /// What a join symbol for this value names: `Some(false)` a number, `Some(true)` a
    /// context pointer's offset, `None` nothing (other kinds get no join symbols).
    pub const fn join_kind(&self) -> Option<bool> {
        match self.kind {
            ValueKind::Scalar => Some(false),
            ValueKind::Ctx => Some(true),
            _ => None,
        }
    }

    /// Whether this is a pointer.
    pub const fn is_pointer(&self) -> bool {
        matches!(self.kind, ValueKind::Ctx | ValueKind::Stack { .. })
    }

    /// Every value of either; different kinds give [`Value::UNINIT`].
    pub fn join(&self, o: &Value) -> Value {
        if self.kind != o.kind || self.kind == ValueKind::Uninit {
            return Value::UNINIT;
        }
        Value {
            kind: self.kind,
            n: self.n.join(&o.n),
            sym: if self.sym == o.sym { self.sym } else { None },
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ValueKind::Uninit => f.write_str("uninitialised"),
            ValueKind::Scalar => write!(f, "scalar {}", self.n),
            ValueKind::Ctx => write!(f, "ctx pointer, offset {}", self.n),
            ValueKind::Stack { frame } => {
                write!(f, "stack pointer (frame {frame}), offset {}", self.n)
            }
        }?;
        if let Some((s, o)) = self.sym {
            if s == LEN {
                write!(f, " (= len{o:+})")?;
            } else if let Some((j, r, _)) = join_of(s) {
                write!(f, " (= r{r}@{j}{o:+})")?;
            } else if s >= PTR_INSN {
                write!(f, " (= p{}{o:+})", s - PTR_INSN)?;
            } else {
                write!(f, " (= v{s}{o:+})")?;
            }
        }
        Ok(())
    }
}

/// Bytes of one stack frame.
pub const FRAME: usize = 512;

/// Where a stored value lies in a frame: bytes `[lo, lo + len)` (0 = the lowest byte), holding
/// the value's low `len` bytes, least significant first. A whole spill is an 8-aligned place
/// of 8 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Place {
    /// First byte.
    pub lo: u16,
    /// Bytes.
    pub len: u8,
}

impl Place {
    /// The 8-byte slot `slot` (`slot * 8 - 512` from the frame top).
    pub const fn slot(slot: usize) -> Place {
        Place { lo: (slot * 8) as u16, len: 8 }
    }

    /// One past the last byte.
    pub const fn hi(self) -> usize {
        self.lo as usize + self.len as usize
    }

    /// Whether it shares a byte with `[lo, hi)`.
    pub const fn overlaps(self, lo: usize, hi: usize) -> bool {
        (self.lo as usize) < hi && lo < self.hi()
    }
}

/// One frame: which bytes are initialised, values stored at known places (spills), and the
/// caller's `r6`-`r9`, saved at the call that made the frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Bit `i` set: byte `i` (offset `i - 512` from the frame top) holds data that may be read.
    pub init: [u64; FRAME / 64],
    /// Values stored at a known place, by place, never overlapping: a register stored whole
    /// (8 bytes) or in part (its low 1, 2 or 4 bytes: a number only). Pointer spills are
    /// always here, whole and 8-aligned; their bytes may only be read back whole.
    pub spills: Vec<(Place, Value)>,
    /// The caller's `r6`-`r9` while this frame's function runs (uninitialised for the entry
    /// frame). They are part of the state, so a symbol the callee redefines dies in them too,
    /// and the return restores what is true then, not what was true at the call.
    pub saved: [Value; 4],
}

impl Default for Frame {
    fn default() -> Frame {
        Frame { init: [0; FRAME / 64], spills: Vec::new(), saved: [Value::UNINIT; 4] }
    }
}

impl Frame {
    /// The bits of word `w` covering bytes `[lo, hi)`.
    fn word_mask(w: usize, lo: usize, hi: usize) -> u64 {
        let (a, b) = (lo.max(w * 64), hi.min(w * 64 + 64));
        if a >= b {
            return 0;
        }
        let n = b - a;
        let m = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
        m << (a - w * 64)
    }

    /// Whether bytes `[lo, hi)` (0-based from the frame bottom) are all initialised.
    pub fn all_init(&self, lo: usize, hi: usize) -> bool {
        if lo >= hi {
            return true;
        }
        (lo / 64..=(hi - 1) / 64).all(|w| {
            let m = Self::word_mask(w, lo, hi);
            self.init[w] & m == m
        })
    }

    /// Marks bytes `[lo, hi)` initialised or not.
    pub fn set_init(&mut self, lo: usize, hi: usize, on: bool) {
        if lo >= hi {
            return;
        }
        for w in lo / 64..=(hi - 1) / 64 {
            let m = Self::word_mask(w, lo, hi);
            if on {
                self.init[w] |= m;
            } else {
                self.init[w] &= !m;
            }
        }
    }

    /// The spill at exactly `place`.
    pub fn spill(&self, place: Place) -> Option<&Value> {
        self.spills.binary_search_by_key(&place, |s| s.0).ok().map(|i| &self.spills[i].1)
    }

    /// The spill whose place holds all of bytes `[lo, hi)`, with its place.
    pub fn spill_covering(&self, lo: usize, hi: usize) -> Option<(Place, &Value)> {
        self.spills.iter().find(|(p, _)| p.lo as usize <= lo && hi <= p.hi()).map(|(p, v)| (*p, v))
    }

    /// Records a spill at `place`; the caller has clobbered what overlapped it.
    pub fn put_spill(&mut self, place: Place, v: Value) {
        match self.spills.binary_search_by_key(&place, |s| s.0) {
            Ok(i) => self.spills[i].1 = v,
            Err(i) => self.spills.insert(i, (place, v)),
        }
    }

    /// Forgets spills overlapping bytes `[lo, hi)`: scalar spills become plain initialised
    /// bytes (a store over part of one changes those bytes only, which no spill describes any
    /// more), pointer spills become unreadable.
    pub fn clobber(&mut self, lo: usize, hi: usize) {
        let mut poison = Vec::new();
        self.spills.retain(|(p, v)| {
            let overlaps = p.overlaps(lo, hi);
            if overlaps && v.is_pointer() {
                poison.push(*p);
            }
            !overlaps
        });
        for p in poison {
            self.set_init(p.lo as usize, p.hi(), false);
        }
    }

    /// Keeps only the bytes and spills readable in both.
    pub fn join_with(&mut self, o: &Frame) {
        for (w, x) in self.init.iter_mut().zip(o.init.iter()) {
            *w &= x;
        }
        for (r, x) in self.saved.iter_mut().zip(o.saved.iter()) {
            *r = r.join(x);
        }
        if self.spills.is_empty() && o.spills.is_empty() {
            return;
        }
        let mut poison: Vec<Place> = Vec::new();
        self.spills.retain_mut(|(slot, v)| match o.spill(*slot) {
            Some(w) if v == w => true,
            Some(w) => {
                let j = v.join(w);
                if j.kind == ValueKind::Uninit {
                    if v.is_pointer() || w.is_pointer() {
                        poison.push(*slot);
                    }
                    false
                } else {
                    *v = j;
                    true
                }
            }
            None => {
                if v.is_pointer() {
                    poison.push(*slot);
                }
                false
            }
        });
        for (slot, w) in &o.spills {
            if w.is_pointer() && self.spill(*slot).is_none() {
                poison.push(*slot);
            }
        }
        for p in poison {
            self.set_init(p.lo as usize, p.hi(), false);
        }
    }
}

/// `sym + k <= len` holds for each entry `(sym, k)`; `LEN`'s own entry is never kept,
/// and the constant fact `k <= len` is [`State::len_min`].
pub type LenFacts = Vec<(Sym, i64)>;

/// Keeps in `facts` what holds in both: each symbol bounded in both, with the weaker bound.
pub fn join_facts(facts: &mut LenFacts, o: &LenFacts) {
    facts.retain_mut(|(s, k)| match o.iter().find(|f| f.0 == *s) {
        Some(f) => {
            *k = (*k).min(f.1);
            true
        }
        None => false,
    });
}

/// Most relational facts kept (the oldest are dropped first).
pub const MAX_FACTS: usize = 32;

/// `d = a + b + c` exactly (as integers): a sum of two named numbers, kept so that a bound
/// proven for the sum becomes one for each part once the other part's least value is known
/// (`opt + optlen <= end`, then `optlen == 4`, then a read of 4 bytes at `opt`).
pub type Sum = (Sym, Sym, Sym, i64);

/// Keeps in `sums` those in both.
pub fn join_sums(sums: &mut Vec<Sum>, o: &[Sum]) {
    sums.retain(|x| o.contains(x));
}

/// Most sums kept (the oldest are dropped first).
pub const MAX_SUMS: usize = 8;

/// The abstract state at a program point.
#[derive(Clone, Debug)]
pub struct State {
    /// `r0`-`r10`.
    pub regs: [Value; 11],
    /// Frames of the live calls, the entry function first; shared between states until one
    /// writes (`Rc::make_mut`), so a branch does not copy the stack.
    pub frames: Vec<Rc<Frame>>,
    /// The context length is at least this.
    pub len_min: u64,
    /// The context length is at most this.
    pub len_max: u64,
    /// Relational facts.
    pub facts: LenFacts,
    /// Sums of two named numbers.
    pub sums: Vec<Sum>,
    /// Most instructions executed on any path to here (not counting this one).
    pub count: u64,
    /// Most extents emitted on any path to here.
    pub emits: u64,
    /// Every instruction symbol in the state is below this, so that redefining a symbol that
    /// cannot be present (straight-line code: always) costs nothing.
    pub syms_below: Sym,
    /// Every join symbol in the state names a join point below this.
    pub joins_below: u32,
    /// Set by `lsh r, 32` for the next instruction only: `r` holds this value shifted left
    /// by 32 (so `arsh r, 32` or `rsh r, 32` next is a sign or zero extension of it: clang's
    /// `(int)x` before `-mcpu=v3`).
    pub shl32: Option<alloc::boxed::Box<(u8, Value)>>,
}

impl State {
    /// Same abstract facts (ignoring the path counters).
    pub fn same_as(&self, o: &State) -> bool {
        self.regs == o.regs
            && self.frames == o.frames
            && self.len_min == o.len_min
            && self.len_max == o.len_max
            && self.facts == o.facts
            && self.sums == o.sums
            && self.shl32 == o.shl32
    }

    /// Joins `o` into `self`.
    pub fn join_with(&mut self, o: &State) {
        for (r, s) in self.regs.iter_mut().zip(o.regs.iter()) {
            if r != s {
                *r = r.join(s);
            }
        }
        for (f, g) in self.frames.iter_mut().zip(o.frames.iter()) {
            if !Rc::ptr_eq(f, g) && **f != **g {
                Rc::make_mut(f).join_with(g);
            }
        }
        self.len_min = self.len_min.min(o.len_min);
        self.len_max = self.len_max.max(o.len_max);
        join_facts(&mut self.facts, &o.facts);
        join_sums(&mut self.sums, &o.sums);
        self.count = self.count.max(o.count);
        self.emits = self.emits.max(o.emits);
        self.syms_below = self.syms_below.max(o.syms_below);
        self.joins_below = self.joins_below.max(o.joins_below);
        if self.shl32 != o.shl32 {
            self.shl32 = None;
        }
    }

    /// Joins `o` into `self` where control arrives at instruction `j`: a number both paths
    /// hold under different names (or none) gets the join symbol of its register at `j`
    /// (registers equal on both paths share one), with the weaker of the bounds each path
    /// proves for it against the length. Both states must have had `j`'s join symbols killed
    /// ([`State::kill_join`]): they name the previous arrival.
    /// (`stronger`: the planted mistake of keeping the stronger bound, for the oracles' tests.)
    pub fn join_at(&mut self, o: &State, j: usize, stronger: bool) {
        if j > MAX_JOIN_POINT {
            return self.join_with(o);
        }
        // Every register named alike on both paths (or equal and unnamed), or a context of one
        // fixed length (where names serve only equalities, not bounds): a plain join.
        let relational = self.relational() || o.relational();
        if !relational
            || self
                .regs
                .iter()
                .zip(o.regs.iter())
                .all(|(a, b)| a.sym == b.sym && (a.sym.is_some() || a == b))
        {
            return self.join_with(o);
        }
        let mut fresh: [Option<(Sym, Option<i64>)>; 11] = [None; 11];
        for (r, slot) in fresh.iter_mut().enumerate() {
            let (a, b) = (&self.regs[r], &o.regs[r]);
            let Some(ptr) = a.join_kind().filter(|_| a.kind == b.kind) else {
                continue;
            };
            if a.sym.is_some() && a.sym == b.sym {
                continue;
            }
            // A pointer named on neither path keeps no name (`r1 + x` names the sum by `x`).
            if ptr && a.sym.is_none() && b.sym.is_none() {
                continue;
            }
            // Registers holding the same names on both paths hold the same number.
            let rep = (0..r)
                .find(|&q| {
                    a.sym.is_some()
                        && b.sym.is_some()
                        && self.regs[q].kind == a.kind
                        && o.regs[q].kind == b.kind
                        && self.regs[q].sym == a.sym
                        && o.regs[q].sym == b.sym
                })
                .unwrap_or(r);
            let k = match (self.slack(a), o.slack(b)) {
                (Some(x), Some(y)) if stronger => Some(x.max(y)),
                (Some(x), Some(y)) => Some(x.min(y)),
                _ => None,
            };
            *slot = Some((join_sym(j, rep, ptr), k));
        }
        self.join_with(o);
        for (r, f) in fresh.iter().enumerate() {
            let Some((s, k)) = *f else { continue };
            self.regs[r].sym = Some((s, 0));
            self.joins_below = self.joins_below.max(j as u32 + 1);
            self.add_join_fact(s, k);
        }
    }

    /// Records the bound a new join symbol inherits, unless it is far below the length:
    /// such a bound helps no access and would only crowd out others.
    fn add_join_fact(&mut self, s: Sym, k: Option<i64>) {
        if let Some(k) = k.filter(|&k| k > -4096) {
            self.add_fact(s, k);
        }
    }

    /// Whether the context length may vary here: only then do bounds relative to it (facts,
    /// sums) say more than the value ranges, so only then are they kept.
    pub fn relational(&self) -> bool {
        self.len_min < self.len_max
    }

    /// Gives every named number and context pointer the join symbol of its register at `j`
    /// (control arrives at `j`, a loop head; `j`'s own join symbols were killed): registers
    /// sharing a name share the new one (up to their offsets), and the new names get the
    /// bounds the old ones had. Spills and saved registers naming the same value follow.
    pub fn name_at(&mut self, j: usize) {
        if j > MAX_JOIN_POINT || !self.relational() {
            return;
        }
        // (old symbol, kind is pointer, new symbol, offset of the representative)
        let mut map: [(Sym, bool, Sym, i64); 11] = [(0, false, 0, 0); 11];
        let mut n = 0;
        let mut new_facts: [(Sym, Option<i64>); 11] = [(0, None); 11];
        for r in 0..11 {
            let v = self.regs[r];
            let Some(ptr) = v.join_kind() else { continue };
            let Some((s, o)) = v.sym else {
                // A number with no name gets one (a pointer without one keeps none: `r1 + x`
                // names the sum by `x`).
                if !ptr {
                    self.regs[r].sym = Some((join_sym(j, r, false), 0));
                    self.joins_below = self.joins_below.max(j as u32 + 1);
                }
                continue;
            };
            if s == LEN || join_of(s).is_some_and(|(jj, _, _)| jj == j) {
                continue;
            }
            if map[..n].iter().any(|m| m.0 == s && m.1 == ptr) {
                continue;
            }
            let js = join_sym(j, r, ptr);
            // The representative holds `s + o`, so its new name `js` stands for `s + o`.
            map[n] = (s, ptr, js, o);
            new_facts[n] = (js, self.derived_fact(s, false).and_then(|k| k.checked_sub(o)));
            n += 1;
        }
        if n == 0 {
            return;
        }
        let map = &map[..n];
        let rename = |v: &mut Value| {
            if let Some(ptr) = v.join_kind()
                && let Some((s, o)) = v.sym
                && let Some(m) = map.iter().find(|m| m.0 == s && m.1 == ptr)
                && let Some(d) = o.checked_sub(m.3)
            {
                v.sym = Some((m.2, d));
            }
        };
        self.regs.iter_mut().for_each(rename);
        for f in &mut self.frames {
            let named = |v: &Value| matches!(v.sym, Some((s, _)) if map.iter().any(|m| m.0 == s));
            if f.spills.iter().any(|(_, v)| named(v)) || f.saved.iter().any(named) {
                let f = Rc::make_mut(f);
                f.spills.iter_mut().for_each(|(_, v)| rename(v));
                f.saved.iter_mut().for_each(rename);
            }
        }
        self.joins_below = self.joins_below.max(j as u32 + 1);
        for &(js, k) in &new_facts[..n] {
            self.add_join_fact(js, k);
        }
    }

    /// Drops the facts and sums about names nothing holds any more (no register, spill or
    /// saved register): they can bound nothing.
    pub fn drop_unheld(&mut self) {
        if self.facts.is_empty() && self.sums.is_empty() {
            return;
        }
        let mut held: Vec<Sym> = Vec::new();
        let mut note = |v: &Value| {
            if let Some((s, _)) = v.sym
                && !held.contains(&s)
            {
                held.push(s);
            }
        };
        self.regs.iter().for_each(&mut note);
        for f in &self.frames {
            f.spills.iter().for_each(|(_, v)| note(v));
            f.saved.iter().for_each(&mut note);
        }
        self.sums
            .retain(|&(d, a, b, _)| held.contains(&d) && (held.contains(&a) || held.contains(&b)));
        let sums = &self.sums;
        self.facts.retain(|&(s, _)| {
            held.contains(&s) || sums.iter().any(|&(d, a, b, _)| s == d || s == a || s == b)
        });
    }

    /// The largest `k` this state proves `v + k <= len` for: from `v`'s symbol and its fact,
    /// or from its greatest value and the least length.
    fn slack(&self, v: &Value) -> Option<i64> {
        let by_sym = v.sym.and_then(|(s, o)| {
            let k = if s == LEN { 0 } else { self.derived_fact(s, false)? };
            k.checked_sub(o)
        });
        // A number's greatest value, or a context pointer's greatest offset.
        let top = match v.kind {
            ValueKind::Ctx if v.n.smin >= 0 => v.n.smax as i128,
            ValueKind::Ctx => return by_sym,
            _ => v.n.umax as i128,
        };
        // (A negative bound from the ranges says nothing the ranges do not: keep none.)
        let by_range = i64::try_from(self.len_min as i128 - top).ok().filter(|&k| k >= 0);
        match (by_sym, by_range) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        }
    }

    /// Control arrives at loop head `j` again: its join symbols are about to name this
    /// arrival. One whose register still holds exactly it keeps its meaning (the register's
    /// value now is the value it names) and stays, with its bounds; the others die.
    pub fn arrive_at_head(&mut self, j: usize) {
        if j as u64 >= self.joins_below as u64 || j > MAX_JOIN_POINT {
            return;
        }
        let mut keep = [false; 32];
        for (r, v) in self.regs.iter().enumerate() {
            if let Some(ptr) = v.join_kind()
                && v.sym == Some((join_sym(j, r, ptr), 0))
                && let Some(k) = join_slot(join_sym(j, r, ptr), j)
            {
                keep[k] = true;
            }
        }
        self.kill_matching(|s| join_slot(s, j).is_some_and(|k| !keep[k]));
    }

    /// Forgets the join symbols of instruction `j` (control arrives there again: they are
    /// about to name the new arrival).
    pub fn kill_join(&mut self, j: usize) {
        if j as u64 >= self.joins_below as u64 || j > MAX_JOIN_POINT {
            return;
        }
        self.kill_matching(|s| join_slot(s, j).is_some());
    }

    /// The proven bound `sym + k <= len` for `sym`.
    pub fn fact(&self, sym: Sym) -> Option<i64> {
        self.facts.iter().find(|f| f.0 == sym).map(|f| f.1)
    }

    /// The best bound `sym + k <= len` known for `sym`: its own fact, or one derived from a sum
    /// it is part of (`d = sym + b + c` with `d + kd <= len` gives `sym + kd + c + min(b)`).
    /// (`greatest`: the planted mistake of using the other part's greatest value.)
    pub fn derived_fact(&self, sym: Sym, greatest: bool) -> Option<i64> {
        let mut best = self.fact(sym).map(i128::from);
        for &(d, a, b, c) in &self.sums {
            let other = if a == sym {
                b
            } else if b == sym {
                a
            } else {
                continue;
            };
            let Some(kd) = self.fact(d) else { continue };
            let Some(least) = self.least(other, greatest) else {
                continue;
            };
            let k = kd as i128 + c as i128 + least;
            best = Some(best.map_or(k, |x| x.max(k)));
        }
        best.and_then(|k| i64::try_from(k).ok())
    }

    /// The least value a name stands for here, from the registers holding it: a number is
    /// never negative (0 when no register holds it); a context pointer's offset (a pointer
    /// join symbol) may be, so with no register holding it nothing is known.
    fn least(&self, sym: Sym, greatest: bool) -> Option<i128> {
        if sym == LEN {
            return Some(self.len_min as i128);
        }
        let ptr = names_pointer(sym);
        let want = if ptr { ValueKind::Ctx } else { ValueKind::Scalar };
        let known = self
            .regs
            .iter()
            .filter(|v| v.kind == want)
            .filter_map(|v| match v.sym {
                Some((s, o)) if s == sym => Some(if ptr {
                    v.n.smin as i128 - o as i128
                } else if greatest {
                    v.n.umax as i128 - o as i128
                } else {
                    v.n.umin as i128 - o as i128
                }),
                _ => None,
            })
            .max();
        if ptr { known } else { Some(known.unwrap_or(0).max(0)) }
    }

    /// The least length the facts imply: `sym + k <= len` with `sym` at least `m` gives
    /// `len >= m + k`.
    pub fn len_floor(&self) -> u64 {
        let mut floor = self.len_min as i128;
        for &(s, k) in &self.facts {
            if let Some(least) = self.least(s, false) {
                floor = floor.max(least + k as i128);
            }
        }
        floor.clamp(0, u64::MAX as i128) as u64
    }

    /// Records `d = a + b + c`.
    pub fn add_sum(&mut self, sum: Sum) {
        if self.sums.contains(&sum) {
            return;
        }
        if self.sums.len() == MAX_SUMS {
            self.sums.remove(0);
        }
        self.sums.push(sum);
    }

    /// Records `sym + k <= len`.
    pub fn add_fact(&mut self, sym: Sym, k: i64) {
        if sym == LEN {
            return;
        }
        if let Some(f) = self.facts.iter_mut().find(|f| f.0 == sym) {
            f.1 = f.1.max(k);
            return;
        }
        if self.facts.len() == MAX_FACTS {
            self.facts.remove(0);
        }
        self.facts.push((sym, k));
    }

    /// Narrows every number `sym + o2` (registers, spills, saved registers) knowing that
    /// `sym + o` lies in `n`: they are equal up to a constant, as integers.
    /// (`unshifted`: the planted mistake of ignoring the offsets, for the oracles' tests.)
    pub fn narrow_equals(&mut self, sym: Sym, o: i64, n: &Scalar, unshifted: bool) {
        let narrow = |v: &mut Value| {
            let Some((s, o2)) = v.sym else { return };
            if s != sym || v.kind != ValueKind::Scalar {
                return;
            }
            let d = if unshifted { 0 } else { o2 as i128 - o as i128 };
            let lo = (n.umin as i128 + d).max(0);
            let hi = (n.umax as i128 + d).min(u64::MAX as i128);
            if lo > hi {
                return;
            }
            if let Some(m) = Scalar::urange(lo as u64, hi as u64).meet(&v.n) {
                v.n = m;
            }
        };
        self.regs.iter_mut().for_each(narrow);
        // The length itself: `len + o` in `n` bounds the length.
        if sym == LEN && !unshifted {
            let lo = n.umin as i128 - o as i128;
            let hi = n.umax as i128 - o as i128;
            if lo > self.len_min as i128 {
                self.len_min = lo.min(u64::MAX as i128) as u64;
            }
            if hi >= 0 && hi < self.len_max as i128 {
                self.len_max = hi as u64;
            }
        }
        let holds =
            |v: &Value| v.kind == ValueKind::Scalar && matches!(v.sym, Some((s, _)) if s == sym);
        for f in &mut self.frames {
            if f.spills.iter().any(|(_, v)| holds(v)) || f.saved.iter().any(holds) {
                let f = Rc::make_mut(f);
                f.spills.iter_mut().for_each(|(_, v)| narrow(v));
                f.saved.iter_mut().for_each(narrow);
            }
        }
    }

    /// Whether `sym` may appear anywhere in the state: only once its instruction has run.
    pub fn may_hold(&self, sym: Sym) -> bool {
        sym < self.syms_below
    }

    /// Forgets everything said about instruction `i`'s symbols, number and pointer (it is
    /// about to run again).
    pub fn kill_insn(&mut self, i: usize) {
        match ptr_insn_sym(i) {
            Some(p) => self.kill_matching(|s| s == i as Sym || s == p),
            None => self.kill_sym(i as Sym),
        }
    }

    /// Forgets everything said about `sym` (its instruction is about to run again).
    pub fn kill_sym(&mut self, sym: Sym) {
        self.kill_matching(|s| s == sym);
    }

    /// Forgets everything said about the symbols `dies` picks.
    fn kill_matching(&mut self, dies: impl Fn(Sym) -> bool) {
        let holds = |v: &Value| matches!(v.sym, Some((s, _)) if dies(s));
        let dead = |v: &mut Value| {
            if holds(v) {
                v.sym = None;
            }
        };
        self.regs.iter_mut().for_each(dead);
        if self.shl32.as_deref().is_some_and(|(_, v)| holds(v)) {
            self.shl32 = None;
        }
        for f in &mut self.frames {
            if f.spills.iter().any(|(_, v)| holds(v)) || f.saved.iter().any(holds) {
                let f = Rc::make_mut(f);
                f.spills.iter_mut().for_each(|(_, v)| dead(v));
                f.saved.iter_mut().for_each(dead);
            }
        }
        self.facts.retain(|f| !dies(f.0));
        self.sums.retain(|&(d, a, b, _)| !dies(d) && !dies(a) && !dies(b));
    }
}
