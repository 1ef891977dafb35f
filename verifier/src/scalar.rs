//! Abstract 64-bit numbers: a signed interval, an unsigned interval, known bits and a signed
//! interval for the low 32 bits (what 32-bit signed comparisons see), kept consistent with
//! each other ([`Scalar::normalize`]). Used for scalar registers and for the
//! offsets of pointers.
//!
//! Every transfer function here over-approximates: for all concrete `x` in `a` and `y` in `b`,
//! `semantics::alu(op, x, y)` is in `a.alu(op, b)`. Constant operands fold through
//! [`udf_bytecode::semantics`], the same code the engines use, so constants are exact.

use core::fmt;

use udf_bytecode::insn::{AluOp, Endian, JmpCond, SwapBits, Width};
use udf_bytecode::semantics;

use crate::tnum::Tnum;

/// A set of 64-bit values, as the intersection of its three views.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scalar {
    /// Least value, signed.
    pub smin: i64,
    /// Greatest value, signed.
    pub smax: i64,
    /// Least value, unsigned.
    pub umin: u64,
    /// Greatest value, unsigned.
    pub umax: u64,
    /// Known bits.
    pub t: Tnum,
    /// Least value of the low 32 bits read as a signed 32-bit number.
    pub s32min: i32,
    /// Greatest value of the low 32 bits read as a signed 32-bit number.
    pub s32max: i32,
}

impl fmt::Debug for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(c) = self.as_const() {
            return write!(f, "{}", c as i64);
        }
        let mut sep = "";
        if self.smin != i64::MIN || self.smax != i64::MAX {
            write!(f, "s[{}, {}]", self.smin, self.smax)?;
            sep = " ";
        }
        let same_as_signed =
            self.smin >= 0 && self.smin as u64 == self.umin && self.smax as u64 == self.umax;
        if (self.umin != 0 || self.umax != u64::MAX) && !same_as_signed {
            write!(f, "{sep}u[{}, {}]", self.umin, self.umax)?;
            sep = " ";
        }
        if self.t.mask != u64::MAX && Tnum::range(self.umin, self.umax) != self.t {
            write!(f, "{sep}bits {:#x}/{:#x}", self.t.value, self.t.mask)?;
            sep = " ";
        }
        // The 32-bit view, where neither the signed range nor the known bits say it.
        let own = self.smin >= i32::MIN as i64 && self.smax <= i32::MAX as i64;
        let t32 = self.t.sign_extend(32);
        let clamp = |v: i64| v.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        if !own && (self.s32min, self.s32max) != (clamp(t32.smin()), clamp(t32.smax())) {
            write!(f, "{sep}s32[{}, {}]", self.s32min, self.s32max)?;
            sep = " ";
        }
        if sep.is_empty() {
            f.write_str("any")?;
        }
        Ok(())
    }
}

const U32: u64 = u32::MAX as u64;

impl Scalar {
    /// Every value.
    pub const TOP: Scalar = Scalar {
        smin: i64::MIN,
        smax: i64::MAX,
        umin: 0,
        umax: u64::MAX,
        t: Tnum::UNKNOWN,
        s32min: i32::MIN,
        s32max: i32::MAX,
    };

    /// Exactly `v`.
    pub const fn constant(v: u64) -> Scalar {
        Scalar {
            smin: v as i64,
            smax: v as i64,
            umin: v,
            umax: v,
            t: Tnum::constant(v),
            s32min: v as i32,
            s32max: v as i32,
        }
    }

    /// The unsigned range `[lo, hi]`.
    pub fn urange(lo: u64, hi: u64) -> Scalar {
        Scalar { umin: lo, umax: hi, ..Scalar::TOP }.normalize().unwrap_or(Scalar::TOP)
    }

    /// The signed range `[lo, hi]`.
    pub fn srange(lo: i64, hi: i64) -> Scalar {
        Scalar { smin: lo, smax: hi, ..Scalar::TOP }.normalize().unwrap_or(Scalar::TOP)
    }

    /// Any value of `bits` bits, zero-extended.
    pub fn unsigned_bits(bits: u32) -> Scalar {
        if bits >= 64 { Scalar::TOP } else { Scalar::urange(0, (1u64 << bits) - 1) }
    }

    /// Any value of `bits` bits, sign-extended.
    pub fn signed_bits(bits: u32) -> Scalar {
        if bits >= 64 {
            Scalar::TOP
        } else {
            let m = 1i64 << (bits - 1);
            Scalar::srange(-m, m - 1)
        }
    }

    /// The value, when there is exactly one.
    pub fn as_const(&self) -> Option<u64> {
        (self.umin == self.umax).then_some(self.umin)
    }

    /// Whether `x` is one of the values.
    pub fn contains(&self, x: u64) -> bool {
        self.umin <= x
            && x <= self.umax
            && self.smin <= x as i64
            && x as i64 <= self.smax
            && self.t.contains(x)
            && self.s32min <= x as i32
            && x as i32 <= self.s32max
    }

    /// Tightens the three views against each other; `None` when they share no value.
    pub fn normalize(self) -> Option<Scalar> {
        let mut s = self;
        for round in 0..2 {
            let before = s;
            s.t = s.t.intersect(Tnum::range(s.umin, s.umax))?;
            s.umin = s.umin.max(s.t.umin());
            s.umax = s.umax.min(s.t.umax());
            s.smin = s.smin.max(s.t.smin());
            s.smax = s.smax.min(s.t.smax());
            if s.umin > s.umax || s.smin > s.smax {
                return None;
            }
            // The unsigned range holds only values of the signed one.
            (s.umin, s.umax) = meet_signed(s.umin, s.umax, s.smin, s.smax, 64)?;
            // Where the unsigned range does not cross 2^63, it is a signed range too.
            if (s.umin as i64 >= 0) == (s.umax as i64 >= 0) {
                s.smin = s.smin.max(s.umin as i64);
                s.smax = s.smax.min(s.umax as i64);
            }
            if s.umin > s.umax || s.smin > s.smax {
                return None;
            }
            s = s.sync32()?;
            if round == 0 && s == before {
                break;
            }
        }
        Some(s)
    }

    /// Tightens the 32-bit view and the 64-bit ranges against each other (one step of
    /// [`Scalar::normalize`]). Each rule is about the one number `x` every view describes:
    /// - the known bits of the low half, sign-extended from bit 31, bound the view;
    /// - where `x` lies in `[-2^31, 2^31)` (signed), it is its own view: the two signed ranges
    ///   are one;
    /// - where the high halves of `umin` and `umax` agree, `x` is that high half followed by a
    ///   low half in `[umin, umax]`'s low halves (unsigned), and the view is that same low half
    ///   read as signed: both are ranges of one 32-bit number, tightened against each other as
    ///   the 64-bit ones are ([`meet_signed`]), and an unsigned range on one side of 2^31 is a
    ///   signed one too.
    fn sync32(mut self) -> Option<Scalar> {
        let s = &mut self;
        // (The known bits' signed bounds after sign extension, in the 32-bit range: an unknown
        // bit 31 makes the tnum's bounds reach past it.)
        let t32 = s.t.sign_extend(32);
        let clamp = |v: i64| v.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        s.s32min = s.s32min.max(clamp(t32.smin()));
        s.s32max = s.s32max.min(clamp(t32.smax()));
        if s.smin >= i32::MIN as i64 && s.smax <= i32::MAX as i64 {
            s.s32min = s.s32min.max(s.smin as i32);
            s.s32max = s.s32max.min(s.smax as i32);
            s.smin = s.smin.max(s.s32min as i64);
            s.smax = s.smax.min(s.s32max as i64);
        }
        if s.s32min > s.s32max || s.smin > s.smax {
            return None;
        }
        if s.umin >> 32 == s.umax >> 32 {
            let high = s.umin & !U32;
            let (lo, hi) =
                meet_signed(s.umin & U32, s.umax & U32, s.s32min as i64, s.s32max as i64, 32)?;
            s.umin = high | lo;
            s.umax = high | hi;
            if lo as u32 as i32 <= hi as u32 as i32 {
                s.s32min = s.s32min.max(lo as u32 as i32);
                s.s32max = s.s32max.min(hi as u32 as i32);
            }
        }
        if s.s32min > s.s32max {
            return None;
        }
        Some(self)
    }

    /// The same values, with the 32-bit view narrowed to `o`'s (both describe one low half).
    fn with_view32(&self, o: &Scalar) -> Option<Scalar> {
        Scalar { s32min: self.s32min.max(o.s32min), s32max: self.s32max.min(o.s32max), ..*self }
            .normalize()
    }

    /// Every value of either.
    pub fn join(&self, o: &Scalar) -> Scalar {
        Scalar {
            smin: self.smin.min(o.smin),
            smax: self.smax.max(o.smax),
            umin: self.umin.min(o.umin),
            umax: self.umax.max(o.umax),
            t: self.t.union(o.t),
            s32min: self.s32min.min(o.s32min),
            s32max: self.s32max.max(o.s32max),
        }
    }

    /// The values of both, or `None`.
    pub fn meet(&self, o: &Scalar) -> Option<Scalar> {
        Scalar {
            smin: self.smin.max(o.smin),
            smax: self.smax.min(o.smax),
            umin: self.umin.max(o.umin),
            umax: self.umax.min(o.umax),
            t: self.t.intersect(o.t)?,
            s32min: self.s32min.max(o.s32min),
            s32max: self.s32max.min(o.s32max),
        }
        .normalize()
    }

    /// Whether every value of `self` is in `o`.
    pub fn within(&self, o: &Scalar) -> bool {
        self.smin >= o.smin
            && self.smax <= o.smax
            && self.umin >= o.umin
            && self.umax <= o.umax
            && self.t.intersect(o.t) == Some(self.t)
            && self.s32min >= o.s32min
            && self.s32max <= o.s32max
    }

    fn from_tnum(t: Tnum) -> Scalar {
        Scalar { t, ..Scalar::TOP }.normalize().unwrap_or(Scalar::TOP)
    }

    /// The low 32 bits, zero-extended. (They are the same low 32 bits: the 32-bit view
    /// carries over.)
    pub fn low32(&self) -> Scalar {
        if self.umax <= U32 {
            return *self;
        }
        let t = self.t.truncate(32);
        let view = Scalar { s32min: self.s32min, s32max: self.s32max, ..Scalar::TOP };
        if self.umin >> 32 == self.umax >> 32 {
            Scalar { umin: self.umin & U32, umax: self.umax & U32, t, ..view }
                .normalize()
                .unwrap_or(Scalar::unsigned_bits(32))
        } else {
            Scalar { umax: U32, t, ..view }.normalize().unwrap_or(Scalar::unsigned_bits(32))
        }
    }

    /// The low `bits` bits, zero-extended.
    pub fn low_bits(&self, bits: u32) -> Scalar {
        if bits >= 64 || self.umax < 1u64 << bits {
            return *self;
        }
        if bits == 32 {
            return self.low32();
        }
        let all = Scalar::unsigned_bits(bits);
        Scalar::from_tnum(self.t.truncate(bits)).meet(&all).unwrap_or(all)
    }

    /// The low `bits` bits, sign-extended.
    pub fn sign_extend(&self, bits: u32) -> Scalar {
        if bits >= 64 {
            return *self;
        }
        let m = 1i64 << (bits - 1);
        if self.smin >= -m && self.smax < m {
            return *self;
        }
        let low = if bits == 32 { self.low32() } else { Scalar::from_tnum(self.t.truncate(bits)) };
        // Non-negative after truncation: unchanged by sign extension.
        if low.umax < m as u64 {
            return low;
        }
        let t = self.t.sign_extend(bits);
        // Extending from bit 31 keeps the low 32 bits: the 32-bit view carries over.
        let (s32min, s32max) =
            if bits == 32 { (self.s32min, self.s32max) } else { (i32::MIN, i32::MAX) };
        Scalar { smin: -m, smax: m - 1, t, s32min, s32max, ..Scalar::TOP }
            .normalize()
            .unwrap_or(Scalar::signed_bits(bits))
    }

    /// `self OP b` at `width`.
    pub fn alu(&self, op: AluOp, width: Width, b: &Scalar) -> Scalar {
        match width {
            Width::W64 => self.alu64(op, b),
            Width::W32 => {
                let (a, b) = (self.low32(), b.low32());
                if let (Some(x), Some(y)) = (a.as_const(), b.as_const()) {
                    return Scalar::constant(semantics::alu(op, Width::W32, x, y));
                }
                let r = match op {
                    // Signed operations on the 32-bit views.
                    AluOp::SDiv | AluOp::SMod | AluOp::Arsh | AluOp::MovSx8 | AluOp::MovSx16 => {
                        let sa = a.sign_extend(32);
                        match op {
                            AluOp::Arsh => match b.as_const() {
                                Some(s) => sa.alu64(AluOp::Arsh, &Scalar::constant(s & 31)),
                                None => return Scalar::unsigned_bits(32),
                            },
                            AluOp::MovSx8 => b.sign_extend(8),
                            AluOp::MovSx16 => b.sign_extend(16),
                            _ if a.smax <= i32::MAX as i64
                                && b.umin >= 1
                                && b.umax <= i32::MAX as u64 =>
                            {
                                // Both non-negative and no division by zero: unsigned.
                                a.alu64(if op == AluOp::SDiv { AluOp::Div } else { AluOp::Mod }, &b)
                            }
                            _ => return Scalar::unsigned_bits(32),
                        }
                    }
                    AluOp::Lsh | AluOp::Rsh => match b.as_const() {
                        Some(s) => a.alu64(op, &Scalar::constant(s & 31)),
                        None if op == AluOp::Rsh => Scalar::urange(0, a.umax),
                        None => return Scalar::unsigned_bits(32),
                    },
                    AluOp::MovSx32 => b,
                    _ => a.alu64(op, &b),
                };
                r.low32()
            }
        }
    }

    fn alu64(&self, op: AluOp, b: &Scalar) -> Scalar {
        let a = self;
        if let (Some(x), Some(y)) = (a.as_const(), b.as_const()) {
            return Scalar::constant(semantics::alu(op, Width::W64, x, y));
        }
        let r = match op {
            AluOp::Add => {
                let (smin, o1) = a.smin.overflowing_add(b.smin);
                let (smax, o2) = a.smax.overflowing_add(b.smax);
                let (umin, o3) = a.umin.overflowing_add(b.umin);
                let (umax, o4) = a.umax.overflowing_add(b.umax);
                let (smin, smax) = if o1 || o2 { (i64::MIN, i64::MAX) } else { (smin, smax) };
                let (umin, umax) = if o3 || o4 { (0, u64::MAX) } else { (umin, umax) };
                Scalar { smin, smax, umin, umax, t: a.t.add(b.t), ..Scalar::TOP }
            }
            AluOp::Sub => {
                let (smin, o1) = a.smin.overflowing_sub(b.smax);
                let (smax, o2) = a.smax.overflowing_sub(b.smin);
                let (smin, smax) = if o1 || o2 { (i64::MIN, i64::MAX) } else { (smin, smax) };
                let (umin, umax) = if a.umin >= b.umax {
                    (a.umin - b.umax, a.umax - b.umin)
                } else {
                    (0, u64::MAX)
                };
                Scalar { smin, smax, umin, umax, t: a.t.sub(b.t), ..Scalar::TOP }
            }
            AluOp::Mul => {
                let mut r = Scalar { t: a.t.mul(b.t), ..Scalar::TOP };
                if let Some(umax) = a.umax.checked_mul(b.umax) {
                    r.umin = a.umin * b.umin;
                    r.umax = umax;
                }
                r
            }
            AluOp::Div => {
                if b.umin >= 1 {
                    Scalar::urange(a.umin / b.umax, a.umax / b.umin)
                } else {
                    // Division by zero gives 0; by anything else at most the dividend.
                    Scalar::urange(0, a.umax)
                }
            }
            AluOp::Mod => {
                if b.umin >= 1 {
                    Scalar::urange(0, a.umax.min(b.umax - 1))
                } else {
                    // Modulo by zero keeps the dividend: never more than it.
                    Scalar::urange(0, a.umax)
                }
            }
            AluOp::SDiv | AluOp::SMod => {
                if a.smin >= 0 && b.smin >= 1 {
                    return a.alu64(if op == AluOp::SDiv { AluOp::Div } else { AluOp::Mod }, b);
                }
                Scalar::TOP
            }
            AluOp::And => {
                let mut r = Scalar { t: a.t.and(b.t), ..Scalar::TOP };
                r.umax = a.umax.min(b.umax);
                if a.smin >= 0 || b.smin >= 0 {
                    r.smin = 0;
                    r.smax = if a.smin >= 0 && b.smin >= 0 {
                        a.smax.min(b.smax)
                    } else if a.smin >= 0 {
                        a.smax
                    } else {
                        b.smax
                    };
                }
                r
            }
            AluOp::Or => Scalar { umin: a.umin.max(b.umin), t: a.t.or(b.t), ..Scalar::TOP },
            AluOp::Xor => Scalar { t: a.t.xor(b.t), ..Scalar::TOP },
            AluOp::Lsh => match b.as_const() {
                Some(s) => {
                    let s = (s & 63) as u32;
                    let mut r = Scalar { t: a.t.lsh(s), ..Scalar::TOP };
                    if a.umax.leading_zeros() >= s {
                        r.umin = a.umin << s;
                        r.umax = a.umax << s;
                    }
                    r
                }
                None => Scalar::TOP,
            },
            AluOp::Rsh => match b.as_const() {
                Some(s) => {
                    let s = (s & 63) as u32;
                    Scalar { umin: a.umin >> s, umax: a.umax >> s, t: a.t.rsh(s), ..Scalar::TOP }
                }
                None => Scalar::urange(0, a.umax),
            },
            AluOp::Arsh => match b.as_const() {
                Some(s) => {
                    let s = (s & 63) as u32;
                    Scalar { smin: a.smin >> s, smax: a.smax >> s, t: a.t.arsh(s), ..Scalar::TOP }
                }
                None => Scalar::srange(a.smin.min(0), a.smax.max(0)),
            },
            AluOp::Mov => *b,
            AluOp::MovSx8 => b.sign_extend(8),
            AluOp::MovSx16 => b.sign_extend(16),
            AluOp::MovSx32 => b.sign_extend(32),
        };
        r.normalize().unwrap_or(Scalar::TOP)
    }

    /// `-self` at `width`.
    pub fn neg(&self, width: Width) -> Scalar {
        Scalar::constant(0).alu(AluOp::Sub, width, self)
    }

    /// A byte-order conversion.
    pub fn endian(&self, kind: Endian, bits: SwapBits) -> Scalar {
        if let Some(c) = self.as_const() {
            return Scalar::constant(semantics::end(kind, bits, c));
        }
        let n = match bits {
            SwapBits::B16 => 16,
            SwapBits::B32 => 32,
            SwapBits::B64 => 64,
        };
        // On this little-endian machine `le` truncates and `be`/`swap` reverse bytes.
        let t = if kind == Endian::Le {
            if n == 64 {
                return *self;
            }
            self.t.truncate(n)
        } else {
            self.t.swap_bytes(n)
        };
        Scalar::from_tnum(t).meet(&Scalar::unsigned_bits(n)).unwrap_or(Scalar::unsigned_bits(n))
    }

    /// Narrows `a` and `b` to the values for which `a COND b` holds (64-bit compare);
    /// `None` when it never does.
    pub fn refine(cond: JmpCond, a: &Scalar, b: &Scalar) -> Option<(Scalar, Scalar)> {
        use JmpCond::*;
        let (mut a, mut b) = (*a, *b);
        match cond {
            Eq => {
                let m = a.meet(&b)?;
                return Some((m, m));
            }
            Ne => {
                if let (Some(x), Some(y)) = (a.as_const(), b.as_const())
                    && x == y
                {
                    return None;
                }
                if let Some(y) = b.as_const() {
                    a = a.exclude(y)?;
                }
                if let Some(x) = a.as_const() {
                    b = b.exclude(x)?;
                }
            }
            Gt | Ge | Lt | Le => {
                // Normalise to lo < hi or lo <= hi.
                let strict = matches!(cond, Gt | Lt);
                let (lo, hi) =
                    if matches!(cond, Gt | Ge) { (&mut b, &mut a) } else { (&mut a, &mut b) };
                let d = strict as u64;
                let hmin = lo.umin.checked_add(d)?;
                hi.umin = hi.umin.max(hmin);
                let lmax = hi.umax.checked_sub(d)?;
                lo.umax = lo.umax.min(lmax);
            }
            Sgt | Sge | Slt | Sle => {
                let strict = matches!(cond, Sgt | Slt);
                let (lo, hi) =
                    if matches!(cond, Sgt | Sge) { (&mut b, &mut a) } else { (&mut a, &mut b) };
                let d = strict as i64;
                let hmin = lo.smin.checked_add(d)?;
                hi.smin = hi.smin.max(hmin);
                let lmax = hi.smax.checked_sub(d)?;
                lo.smax = lo.smax.min(lmax);
            }
            Set => {
                // Some bit of both may be set.
                if a.t.umax() & b.t.umax() == 0 {
                    return None;
                }
            }
        }
        if cond == Set {
            return Some((a, b));
        }
        Some((a.normalize()?, b.normalize()?))
    }

    /// Narrows for the negation of `a COND b`.
    pub fn refine_not(cond: JmpCond, a: &Scalar, b: &Scalar) -> Option<(Scalar, Scalar)> {
        if cond == JmpCond::Set {
            // No bit in common: where `b` is known, those bits of `a` are 0.
            if a.t.value & b.t.value != 0 {
                return None;
            }
            let a = match b.as_const() {
                Some(m) => a.meet(&Scalar::from_tnum(Tnum { value: 0, mask: !m }))?,
                None => *a,
            };
            return Some((a, *b));
        }
        Scalar::refine(cond.negate(), a, b)
    }

    /// The narrowed operands when `a COND b` compared on `width` bits (or, `holds` false, its
    /// negation) can hold; `None` when it cannot. A 32-bit comparison narrows the operands'
    /// 32-bit views (sign-extended for signed conditions), and carries the narrowing over to
    /// an operand only where its view is the whole value. This is the analyzer's branch
    /// refinement.
    pub fn refine_branch(
        width: Width,
        cond: JmpCond,
        a: &Scalar,
        b: &Scalar,
        holds: bool,
    ) -> Option<(Scalar, Scalar)> {
        Scalar::refine_branch_as(width, cond, a, b, holds, false)
    }

    /// [`Scalar::refine_branch`]; with `wide`, a 32-bit narrowing is carried over to the whole
    /// value always (the planted bug `Jmp32NarrowsWide`).
    pub(crate) fn refine_branch_as(
        width: Width,
        cond: JmpCond,
        a: &Scalar,
        b: &Scalar,
        holds: bool,
        wide: bool,
    ) -> Option<(Scalar, Scalar)> {
        let r = |x: &Scalar, y: &Scalar| {
            if holds { Scalar::refine(cond, x, y) } else { Scalar::refine_not(cond, x, y) }
        };
        if width == Width::W64 {
            return r(a, b);
        }
        let signed = matches!(cond, JmpCond::Sgt | JmpCond::Sge | JmpCond::Slt | JmpCond::Sle);
        let view = |x: &Scalar| {
            let l = x.low32();
            if signed { l.sign_extend(32) } else { l }
        };
        let (va, vb) = (view(a), view(b));
        let (ra, rb) = r(&va, &vb)?;
        // Where the 32-bit view is the whole value, the narrowing carries over. Elsewhere what
        // it says of the low 32 bits does: the view is those bits zero- or sign-extended (one
        // view value per low half), so the low halves of the narrowed view are the operand's
        // possible low halves, and their signed range (`s32min`/`s32max`) is the operand's.
        let keep = |x: &Scalar, v: &Scalar, n: Scalar| {
            if x == v || wide { n } else { x.with_view32(&n).unwrap_or(*x) }
        };
        Some((keep(a, &va, ra), keep(b, &vb, rb)))
    }

    /// The values other than `x`, as far as intervals can say.
    fn exclude(mut self, x: u64) -> Option<Scalar> {
        if self.umin == x {
            self.umin = self.umin.checked_add(1)?;
        }
        if self.umax == x {
            self.umax = self.umax.checked_sub(1)?;
        }
        if self.smin == x as i64 {
            self.smin = self.smin.checked_add(1)?;
        }
        if self.smax == x as i64 {
            self.smax = self.smax.checked_sub(1)?;
        }
        self.normalize()
    }
}

/// The unsigned range `[lo, hi]` of a `bits`-bit number (64 or 32) narrowed to the values of
/// the signed range `[slo, shi]` of the same number, or `None` when they share none.
///
/// A signed range on one side of zero is one unsigned range, `[slo, shi]` read unsigned.
/// Across zero it is two, `[0, shi]` and `[slo, 2^bits - 1]` (the negative values read
/// unsigned). The values are those of `[lo, hi]` inside one of them: where it meets only one,
/// that meet is the range; where it meets neither, there is no value; where it meets both, it
/// starts in the first and ends in the second, so neither bound moves. Exact set arithmetic on
/// two intervals, whatever made them.
fn meet_signed(lo: u64, hi: u64, slo: i64, shi: i64, bits: u32) -> Option<(u64, u64)> {
    let mask = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
    let (a, b) = (slo as u64 & mask, shi as u64 & mask);
    let r = if (slo >= 0) == (shi >= 0) {
        (lo.max(a), hi.min(b))
    } else {
        match (lo <= b, hi >= a) {
            (false, false) => return None,
            (true, false) => (lo, hi.min(b)),
            (false, true) => (lo.max(a), hi),
            (true, true) => (lo, hi),
        }
    };
    (r.0 <= r.1).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use udf_bytecode::rng::Rng;

    fn sample(rng: &mut Rng) -> (Scalar, alloc::vec::Vec<u64>) {
        let base = match rng.below(4) {
            0 => rng.next_u64(),
            1 => rng.below(64),
            2 => (rng.below(64) as i64 - 32) as u64,
            _ => rng.next_u64() & 0xffff_ffff,
        };
        let vals: alloc::vec::Vec<u64> = (0..rng.below(5) + 1)
            .map(|_| match rng.below(3) {
                0 => base.wrapping_add(rng.below(16)),
                1 => base ^ (rng.below(256) << rng.below(56)),
                _ => base.wrapping_sub(rng.below(1000)),
            })
            .collect();
        let s = vals
            .iter()
            .skip(1)
            .fold(Scalar::constant(vals[0]), |s, v| s.join(&Scalar::constant(*v)));
        (s, vals)
    }

    #[test]
    fn alu_transfer_is_sound() {
        let mut rng = Rng::new(7);
        for _ in 0..20_000 {
            let (a, xs) = sample(&mut rng);
            let (b, ys) = sample(&mut rng);
            let op = rng.pick(&AluOp::ALL);
            let w = if rng.chance(1, 2) { Width::W32 } else { Width::W64 };
            let r = a.alu(op, w, &b);
            for &x in &xs {
                for &y in &ys {
                    let z = semantics::alu(op, w, x, y);
                    assert!(
                        r.contains(z),
                        "{op:?} {w:?}: {a} op {b} = {r} misses {x:#x} op {y:#x} = {z:#x}"
                    );
                }
            }
        }
    }

    #[test]
    fn normalize_keeps_every_value() {
        // Bounds and values at and around the sign boundaries (0 / -1, 2^63 - 1 / 2^63 and
        // their 32-bit counterparts), where the views of a set cross each other: every value in both
        // intervals (and the known bits) survives normalisation, which drops nothing else
        // silently (an empty result means no value was in all three).
        let mut pts: alloc::vec::Vec<u64> = alloc::vec::Vec::new();
        for p in [
            0u64,
            127,
            128,
            1 << 31,
            1 << 32,
            1 << 63,
            (-128i64) as u64,
            (-256i64) as u64,
            0xffff_ff80,
            0x1_0000_0080,
            0x1_8000_0000,
        ] {
            for d in [-2i64, -1, 0, 1, 2] {
                pts.push(p.wrapping_add(d as u64));
            }
        }
        let mut rng = Rng::new(11);
        let mut emptied = 0;
        for _ in 0..100_000 {
            let (s1, s2) = (rng.pick(&pts) as i64, rng.pick(&pts) as i64);
            let (u1, u2) = (rng.pick(&pts), rng.pick(&pts));
            let t = if rng.chance(1, 4) {
                Tnum { value: 0, mask: !(1u64 << rng.below(64)) }
            } else {
                Tnum::UNKNOWN
            };
            let (v1, v2) = if rng.chance(1, 2) {
                (rng.pick(&pts) as i32, rng.pick(&pts) as i32)
            } else {
                (i32::MIN, i32::MAX)
            };
            let s = Scalar {
                smin: s1.min(s2),
                smax: s1.max(s2),
                umin: u1.min(u2),
                umax: u1.max(u2),
                t,
                s32min: v1.min(v2),
                s32max: v1.max(v2),
            };
            let n = s.normalize();
            emptied += usize::from(n.is_none());
            for &x in &pts {
                if s.contains(x) {
                    let n = n.unwrap_or_else(|| panic!("{s:?}: emptied, but holds {x:#x}"));
                    assert!(n.contains(x), "{s:?} -> {n:?} misses {x:#x}");
                }
            }
        }
        // The cases this test is about happen: sets that turn out empty.
        assert!(emptied > 100, "{emptied}");
    }

    #[test]
    fn refine_branch32_is_sound() {
        // 32-bit comparisons narrow a wider operand through its low 32 bits' signed range:
        // every pair on the side it takes stays in the narrowed operands.
        let mut rng = Rng::new(13);
        let conds = [
            JmpCond::Eq,
            JmpCond::Ne,
            JmpCond::Gt,
            JmpCond::Lt,
            JmpCond::Sgt,
            JmpCond::Sge,
            JmpCond::Slt,
            JmpCond::Sle,
            JmpCond::Set,
        ];
        for _ in 0..20_000 {
            let (a, xs) = sample(&mut rng);
            let (b, ys) = sample(&mut rng);
            // Half the time a movsx result (a sign-extended low half, zero-extended) on the left.
            let (a, xs) = if rng.chance(1, 2) {
                let f = |x: u64| semantics::alu(AluOp::MovSx8, Width::W32, 0, x);
                (a.alu(AluOp::MovSx8, Width::W32, &a), xs.iter().map(|&x| f(x)).collect())
            } else {
                (a, xs)
            };
            let c = rng.pick(&conds);
            for holds in [true, false] {
                let r = Scalar::refine_branch(Width::W32, c, &a, &b, holds);
                for &x in &xs {
                    for &y in &ys {
                        if c.eval32(x, y) != holds {
                            continue;
                        }
                        let (ra, rb) = r.expect("feasible side refined away");
                        assert!(
                            ra.contains(x) && rb.contains(y),
                            "{c:?}32 {holds} {a} {b} -> {ra} {rb} misses {x:#x} {y:#x}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn refine_is_sound() {
        let mut rng = Rng::new(9);
        let conds = [
            JmpCond::Eq,
            JmpCond::Ne,
            JmpCond::Gt,
            JmpCond::Ge,
            JmpCond::Lt,
            JmpCond::Le,
            JmpCond::Sgt,
            JmpCond::Sge,
            JmpCond::Slt,
            JmpCond::Sle,
            JmpCond::Set,
        ];
        for _ in 0..20_000 {
            let (a, xs) = sample(&mut rng);
            let (b, ys) = sample(&mut rng);
            let c = rng.pick(&conds);
            let t = Scalar::refine(c, &a, &b);
            let f = Scalar::refine_not(c, &a, &b);
            for &x in &xs {
                for &y in &ys {
                    let holds = c.eval64(x, y);
                    let side = if holds { &t } else { &f };
                    let (ra, rb) = side.expect("feasible side refined away");
                    assert!(
                        ra.contains(x) && rb.contains(y),
                        "{c:?} {a} {b} -> {ra} {rb} misses {x:#x} {y:#x}"
                    );
                }
            }
        }
    }
}
