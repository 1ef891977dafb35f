//! Exhaustive soundness checks of the verifier's abstract operations (issue 15), in the manner
//! of Agni's checks of Linux's tnums and ranges: for **every** abstract input `a`, `b` of a
//! family and **every** concrete `x` in γ(a), `y` in γ(b), the concrete result
//! (`udf_bytecode::semantics`, the engines' own arithmetic) must be in γ(op#(a, b)).
//!
//! # The construction
//!
//! The domain ([`Scalar`]: signed interval × unsigned interval × [`Tnum`] × signed interval
//! of the low 32 bits) is 64-bit and not
//! generic over width, so instead of shrinking the width we shrink the *sets*: the checked
//! abstract values are exactly those whose concretisation is small (at most `limit` values)
//! and whose defining points sit on every boundary the transfer functions care about.
//!
//! * A universe `U` of 64-bit values: every `c + d` for `c` in the centres
//!   {0, 2^7, 2^15, 2^31, 2^32, 2^63} (full run: also 2^8, 2^16) and small offsets `d` (CI:
//!   -1..=1, full: -3..=2), wrapping, so `0 - 1 = 2^64 - 1` and `2^63 - 1`, `2^63` both occur.
//!   These are the carry, wrap-around and sign boundaries of 8-, 16-, 32- and 64-bit views:
//!   sign bit of movsx8/16/32 and of the 32-bit signed view (2^7, 2^15, 2^31), the truncations
//!   of `low32`/`le16`/`le32` and byte swaps (2^8, 2^16, 2^32), the signed/unsigned split of
//!   the 64-bit intervals (2^63) and unsigned wrap (2^64 - 1 next to 0).
//! * The abstract family: for every subset `S` of `U` with one or two members, the best
//!   abstraction α(S) (hulls of each view: what joining constants gives), and *non-best*
//!   variants of it that the verifier can also hold: α(S) normalised, its tnum alone, its
//!   unsigned interval alone, its signed interval alone (each both raw and normalised, so the
//!   operations meet unreduced inputs too). A value is kept when 1 <= |γ| <= `limit`.
//!   γ is computed *exactly* (not sampled): the members of the tnum inside the one or two
//!   unsigned pieces of `[umin, umax] ∩ [smin, smax]`, counted by a digit walk over the bits
//!   and listed by depositing indices into the mask. So γ often holds values outside `U`
//!   (α({1, 2^32 + 3}) holds 2^32 + 1), and each check covers *all* of it.
//! * Dense intervals near zero: every signed and unsigned interval within `dense` (CI:
//!   0..8, full: -4..8), the whole interval lattice of a 3- or 4-bit domain, so intervals of
//!   more than two points meet shifts and products that overflow only part of them.
//! * Shift amounts are in `U` only as 0, 1, 62, 63, so the right operands of the shifts are
//!   the family plus every constant 0..=64 and a few ranges of amounts.
//!
//! Why this exercises the paths a reduced width would: each transfer function branches on
//! interval bounds crossing the boundaries above (overflow of `umax + umax'`, `smin` below
//! -2^31, `umax > 2^32 - 1`, one side of 2^63) and on carries through tnum bits; the family
//! puts interval endpoints on both sides of each boundary, at distance 0 to 3 from it, paired
//! with every other such endpoint, and tnums whose unknown bits are the low bits and the
//! boundary bits (from unions of members of different windows). Additions of two members of
//! a window carry across the boundary bit; members of the 2^63 window and of the 0 window
//! wrap. The 32-bit operations take `low32` of inputs straddling 2^32 and 2^31.
//! What this does not cover: abstract values with large γ (wide intervals); those are
//! covered by the randomized tests in `scalar.rs`.
//!
//! Tnums are also checked on their own, over a proper reduced family: each of a few chosen
//! bit positions (low bits, the byte, 31/32, 63) is 0, 1 or unknown, every other bit is a
//! known copy of a fill (all 0 or all 1).
//!
//! Refinement is checked through the analyzer's own branch refinement,
//! [`Scalar::refine_branch`]: 64-bit by [`Scalar::refine`] /
//! [`Scalar::refine_not`], 32-bit on the low-32 view (sign-extended for signed conditions),
//! carried back whole only where the view is the value, else as the 32-bit signed range. Every pair `(x, y)` that satisfies (or does
//! not satisfy) the condition must stay in the refined values, and a side declared impossible
//! must have no such pair.
//!
//! Size: the default (CI) size takes about 60 s of CPU in a debug build (about 70 s wall on
//! the shared 2-core machine, the eight tests running two at a time).
//! `UDF_EXHAUSTIVE=full` runs the full size (use `--release`); see docs/soundness.md,
//! "Exhaustive operator check". Every test prints precision figures (`--nocapture`): per
//! operation, the share of results that are exactly the best abstraction of the concrete
//! results, and the mean of log2(|γ(result)| / |γ(best)|).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::Instant;

use udf_bytecode::insn::{AluOp, Endian, JmpCond, SwapBits, Width};
use udf_bytecode::semantics;
use udf_verifier::{Scalar, Tnum};

// ---------------------------------------------------------------------------------------------
// Sizes

struct Size {
    name: &'static str,
    centres: Vec<u64>,
    offsets: core::ops::Range<i64>,
    limit: u128,
    /// Every interval within this range is in the family.
    dense: core::ops::Range<i64>,
    /// Bit positions free in the reduced tnum family.
    tnum_bits: Vec<u32>,
}

fn size() -> Size {
    if std::env::var("UDF_EXHAUSTIVE").as_deref() == Ok("full") {
        Size {
            name: "full",
            centres: vec![0, 1 << 7, 1 << 8, 1 << 15, 1 << 16, 1 << 31, 1 << 32, 1 << 63],
            offsets: -3..3,
            dense: -4..8,
            limit: 32,
            tnum_bits: vec![0, 1, 7, 8, 31, 32, 63],
        }
    } else {
        Size {
            name: "ci",
            centres: vec![0, 1 << 7, 1 << 15, 1 << 31, 1 << 32, 1 << 63],
            offsets: -1..2,
            dense: 0..8,
            limit: 16,
            tnum_bits: vec![0, 1, 31, 32, 63],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Exact concretisation

/// How many members of `t` are `<= n` (a walk over the bits from the top, staying equal to
/// `n` as long as possible).
fn count_le(t: Tnum, n: u64) -> u128 {
    if t.value & t.mask != 0 {
        return 0;
    }
    let mut c = 0u128;
    for i in (0..64).rev() {
        let bit = 1u64 << i;
        let free_below = 1u128 << (t.mask & (bit - 1)).count_ones();
        let nb = n & bit != 0;
        if t.mask & bit != 0 {
            if nb {
                // This bit 0: every choice below is smaller than `n`.
                c += free_below;
            }
        } else {
            let vb = t.value & bit != 0;
            if vb != nb {
                if !vb {
                    c += free_below;
                }
                return c;
            }
        }
    }
    c + 1
}

fn count_in(t: Tnum, lo: u64, hi: u64) -> u128 {
    if lo > hi {
        return 0;
    }
    count_le(t, hi) - if lo == 0 { 0 } else { count_le(t, lo - 1) }
}

/// The `i`-th member of `t` in increasing order.
fn nth(t: Tnum, mut i: u128) -> u64 {
    let mut r = t.value;
    let mut m = t.mask;
    while m != 0 {
        let low = m & m.wrapping_neg();
        if i & 1 != 0 {
            r |= low;
        }
        i >>= 1;
        m &= m - 1;
    }
    r
}

/// `[umin, umax] ∩ [smin, smax]` as unsigned pieces.
fn pieces(a: &Scalar) -> Vec<(u64, u64)> {
    if a.smin > a.smax || a.umin > a.umax {
        return vec![];
    }
    let signed: Vec<(u64, u64)> = if (a.smin >= 0) == (a.smax >= 0) {
        vec![(a.smin as u64, a.smax as u64)]
    } else {
        vec![(0, a.smax as u64), (a.smin as u64, u64::MAX)]
    };
    signed
        .into_iter()
        .map(|(l, h)| (l.max(a.umin), h.min(a.umax)))
        .filter(|(l, h)| l <= h)
        .collect()
}

/// |γ(a)|, exactly (ignoring the 32-bit view, so at least |γ(a)|).
fn card(a: &Scalar) -> u128 {
    pieces(a).into_iter().map(|(l, h)| count_in(a.t, l, h)).sum()
}

/// γ(a) when it has at most `limit` members.
fn gamma(a: &Scalar, limit: u128) -> Option<Vec<u64>> {
    if card(a) > limit {
        return None;
    }
    let mut v = Vec::new();
    for (l, h) in pieces(a) {
        let first = if l == 0 { 0 } else { count_le(a.t, l - 1) };
        for k in 0..count_in(a.t, l, h) {
            let x = nth(a.t, first + k);
            // The 32-bit view is the last filter.
            if a.s32min <= x as i32 && x as i32 <= a.s32max {
                debug_assert!(a.contains(x));
                v.push(x);
            }
        }
    }
    Some(v)
}

/// The best abstraction of a non-empty set: the hull of each view.
fn best(xs: impl IntoIterator<Item = u64>) -> Option<Scalar> {
    xs.into_iter().fold(None, |acc, x| {
        let c = Scalar::constant(x);
        Some(match acc {
            None => c,
            Some(s) => s.join(&c),
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Families

type Family = Vec<(Scalar, Vec<u64>)>;

fn universe(sz: &Size) -> Vec<u64> {
    let mut u: Vec<u64> = sz
        .centres
        .iter()
        .flat_map(|&c| sz.offsets.clone().map(move |d| c.wrapping_add(d as u64)))
        .collect();
    u.sort_unstable();
    u.dedup();
    u
}

fn key(s: &Scalar) -> (u64, u64, i64, i64, u64, u64) {
    (s.umin, s.umax, s.smin, s.smax, s.t.value, s.t.mask)
}

fn collect(limit: u128, cands: impl IntoIterator<Item = Scalar>) -> Family {
    let mut seen = HashSet::new();
    let mut fam: Family = cands
        .into_iter()
        .filter(|s| seen.insert(*s))
        .filter_map(|s| gamma(&s, limit).filter(|g| !g.is_empty()).map(|g| (s, g)))
        .collect();
    fam.sort_by_key(|(s, _)| key(s));
    fam
}

/// α(S) for every S ⊆ U of one or two members, and its non-best variants.
fn family(sz: &Size) -> Family {
    let u = universe(sz);
    let mut cands = Vec::new();
    for i in 0..u.len() {
        for j in i..u.len() {
            let b = best([u[i], u[j]]).unwrap();
            let t = Scalar { t: b.t, ..Scalar::TOP };
            let ur = Scalar { umin: b.umin, umax: b.umax, ..Scalar::TOP };
            let sr = Scalar { smin: b.smin, smax: b.smax, ..Scalar::TOP };
            cands.push(b);
            for v in [b, t, ur, sr] {
                cands.push(v);
                if let Some(n) = v.normalize() {
                    cands.push(n);
                }
            }
            cands.push(Scalar::urange(b.umin, b.umax));
            cands.push(Scalar::srange(b.smin, b.smax));
        }
    }
    // Dense intervals at zero: every interval of a small-width domain, so that intervals of
    // more than two points meet shifts and products that overflow part of them.
    for lo in sz.dense.clone() {
        for hi in lo..sz.dense.end {
            cands.push(Scalar::srange(lo, hi));
            cands.push(Scalar::urange(lo as u64, hi as u64));
        }
    }
    collect(sz.limit, cands)
}

/// The family plus every shift amount 0..=64 and a few ranges of amounts.
fn shift_family(sz: &Size, fam: &Family) -> Family {
    let mut c: Vec<Scalar> = fam.iter().map(|(s, _)| *s).collect();
    c.extend((0..=64).map(Scalar::constant));
    for (l, h) in [(0, 7), (1, 2), (7, 9), (15, 17), (30, 33), (31, 32), (62, 64), (0, 63)] {
        c.push(Scalar::urange(l, h));
    }
    collect(sz.limit.max(64), c)
}

// ---------------------------------------------------------------------------------------------
// Bookkeeping

#[derive(Default)]
struct Stat {
    cases: u64,
    exact: u64,
    excess: f64,
    failures: Vec<String>,
    failed: u64,
}

impl Stat {
    fn fail(&mut self, msg: impl FnOnce() -> String) {
        self.failed += 1;
        if self.failures.len() < 5 {
            self.failures.push(msg());
        }
    }

    /// Records the precision of `r` against the best abstraction `b` of the concrete results.
    fn precision(&mut self, r: &Scalar, b: Option<Scalar>) {
        self.cases += 1;
        let Some(b) = b else { return };
        let (cr, cb) = (card(r), card(&b));
        if cr == cb {
            self.exact += 1;
        }
        if cr >= cb && cb > 0 {
            self.excess += (cr as f64).log2() - (cb as f64).log2();
        }
    }
}

struct Report {
    title: String,
    rows: Vec<(String, Stat)>,
    start: Instant,
}

impl Report {
    fn new(title: &str, note: String) -> Report {
        Report { title: format!("{title} ({note})"), rows: Vec::new(), start: Instant::now() }
    }

    fn add(&mut self, name: String, s: Stat) {
        self.rows.push((name, s));
    }

    /// Prints the figures and fails with every counterexample found.
    fn finish(self) {
        let mut out = String::new();
        writeln!(out, "== {} [{} size]", self.title, size().name).unwrap();
        writeln!(out, "{:<22} {:>12} {:>8} {:>12}", "operation", "cases", "best %", "excess log2")
            .unwrap();
        let mut bad = String::new();
        for (name, s) in &self.rows {
            writeln!(
                out,
                "{:<22} {:>12} {:>8.2} {:>12.3}",
                name,
                s.cases,
                100.0 * s.exact as f64 / s.cases.max(1) as f64,
                s.excess / s.cases.max(1) as f64
            )
            .unwrap();
            if s.failed > 0 {
                writeln!(bad, "{name}: {} unsound cases, e.g.", s.failed).unwrap();
                for f in &s.failures {
                    writeln!(bad, "    {f}").unwrap();
                }
            }
        }
        writeln!(out, "({:.1} s)", self.start.elapsed().as_secs_f64()).unwrap();
        println!("{out}");
        assert!(bad.is_empty(), "unsound abstract operations:\n{bad}");
    }
}

fn wname(w: Width) -> &'static str {
    match w {
        Width::W64 => "64",
        Width::W32 => "32",
    }
}

fn check_binary(
    fa: &Family,
    fb: &Family,
    f: impl Fn(&Scalar, &Scalar) -> Scalar,
    conc: impl Fn(u64, u64) -> u64,
) -> Stat {
    let mut st = Stat::default();
    for (a, ga) in fa {
        for (b, gb) in fb {
            let r = f(a, b);
            let mut zs = Vec::with_capacity(ga.len() * gb.len());
            for &x in ga {
                for &y in gb {
                    let z = conc(x, y);
                    if !r.contains(z) {
                        st.fail(|| format!("{a} op {b} = {r} misses {x:#x} op {y:#x} = {z:#x}"));
                    }
                    zs.push(z);
                }
            }
            st.precision(&r, best(zs));
        }
    }
    st
}

fn check_unary(fa: &Family, f: impl Fn(&Scalar) -> Scalar, conc: impl Fn(u64) -> u64) -> Stat {
    let mut st = Stat::default();
    for (a, ga) in fa {
        let r = f(a);
        for &x in ga {
            let z = conc(x);
            if !r.contains(z) {
                st.fail(|| format!("op {a} = {r} misses op {x:#x} = {z:#x}"));
            }
        }
        st.precision(&r, best(ga.iter().map(|&x| conc(x))));
    }
    st
}

fn note(fam: &Family) -> String {
    let n: usize = fam.iter().map(|(_, g)| g.len()).sum();
    format!("{} abstract values, mean |γ| {:.1}", fam.len(), n as f64 / fam.len() as f64)
}

// ---------------------------------------------------------------------------------------------
// The checks

#[test]
fn gamma_is_exact() {
    // The concretisation used by every check, against brute force over tnums on 6 bits and
    // intervals within them (the other bits known 0 or known 1).
    for fill in [0u64, !0x3f] {
        for mask in 0u64..64 {
            for v in 0u64..64 {
                if v & mask != 0 {
                    continue;
                }
                let t = Tnum { value: (fill | v) & !mask, mask };
                for (lo, hi) in [(0u64, u64::MAX), (fill | 5, fill | 40), (fill, fill | 63)] {
                    let s = Scalar { umin: lo, umax: hi, t, ..Scalar::TOP };
                    let brute: Vec<u64> =
                        (0..64).map(|x| fill | x).filter(|&x| s.contains(x)).collect();
                    let mut g = gamma(&s, 64).unwrap();
                    g.sort_unstable();
                    assert_eq!(g, brute, "{s}");
                    assert_eq!(card(&s), brute.len() as u128);
                }
            }
        }
    }
    // Signed pieces.
    let s = Scalar::srange(-2, 1);
    let mut g = gamma(&s, 8).unwrap();
    g.sort_unstable();
    assert_eq!(g, vec![0, 1, u64::MAX - 1, u64::MAX]);
    assert_eq!(card(&Scalar::TOP), 1u128 << 64);
}

#[test]
fn alu64_ops_are_sound() {
    alu_ops(Width::W64);
}

#[test]
fn alu32_ops_are_sound() {
    alu_ops(Width::W32);
}

fn alu_ops(w: Width) {
    let sz = size();
    let fam = family(&sz);
    let shifts = shift_family(&sz, &fam);
    let mut rep = Report::new(&format!("ALU{}", wname(w)), note(&fam));
    {
        for op in AluOp::ALL {
            if w == Width::W32 && op == AluOp::MovSx32 {
                continue; // not encodable
            }
            let fb =
                if matches!(op, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh) { &shifts } else { &fam };
            let s =
                check_binary(&fam, fb, |a, b| a.alu(op, w, b), |x, y| semantics::alu(op, w, x, y));
            rep.add(format!("{}{}", op.mnemonic(), wname(w)), s);
        }
    }
    rep.finish();
}

#[test]
fn unary_ops_are_sound() {
    let sz = size();
    let fam = family(&sz);
    let mut rep = Report::new("unary", note(&fam));
    for w in [Width::W64, Width::W32] {
        let s = check_unary(&fam, |a| a.neg(w), |x| semantics::neg(w, x));
        rep.add(format!("neg{}", wname(w)), s);
    }
    for kind in [Endian::Le, Endian::Be, Endian::Swap] {
        for bits in [SwapBits::B16, SwapBits::B32, SwapBits::B64] {
            let s = check_unary(&fam, |a| a.endian(kind, bits), |x| semantics::end(kind, bits, x));
            let k = match kind {
                Endian::Le => "le",
                Endian::Be => "be",
                Endian::Swap => "bswap",
            };
            rep.add(format!("{k}{}", bits.bits()), s);
        }
    }
    rep.add("low32".into(), check_unary(&fam, |a| a.low32(), |x| x & 0xffff_ffff));
    for bits in [8u32, 16, 32] {
        let s = check_unary(
            &fam,
            |a| a.sign_extend(bits),
            |x| (((x << (64 - bits)) as i64) >> (64 - bits)) as u64,
        );
        rep.add(format!("sign_extend{bits}"), s);
    }
    // normalize keeps every value (and says None only of an empty set).
    let mut st = Stat::default();
    for (a, ga) in &fam {
        match a.normalize() {
            Some(n) => {
                for &x in ga {
                    if !n.contains(x) {
                        st.fail(|| format!("normalize {a:?} = {n:?} misses {x:#x}"));
                    }
                }
                st.precision(&n, best(ga.iter().copied()));
            }
            None => st.fail(|| format!("normalize {a:?} = None, holds {:#x}", ga[0])),
        }
    }
    rep.add("normalize".into(), st);
    rep.finish();
}

#[test]
fn refinements64_are_sound() {
    refinements(Width::W64);
}

#[test]
fn refinements32_are_sound() {
    refinements(Width::W32);
}

fn refinements(w: Width) {
    let sz = size();
    let fam = family(&sz);
    let mut rep = Report::new(&format!("refine{}", wname(w)), note(&fam));
    {
        for cond in JmpCond::ALL {
            for holds in [true, false] {
                let mut st = Stat::default();
                for (a, ga) in &fam {
                    for (b, gb) in &fam {
                        let side = Scalar::refine_branch(w, cond, a, b, holds);
                        let (mut xs, mut ys) = (Vec::new(), Vec::new());
                        for &x in ga {
                            for &y in gb {
                                let c = match w {
                                    Width::W64 => cond.eval64(x, y),
                                    Width::W32 => cond.eval32(x, y),
                                };
                                if c != holds {
                                    continue;
                                }
                                xs.push(x);
                                ys.push(y);
                                match side {
                                    None => st.fail(|| {
                                        format!(
                                            "{a} {} {b}: side declared impossible, \
                                             but {x:#x}, {y:#x}",
                                            cond.mnemonic()
                                        )
                                    }),
                                    Some((ra, rb)) if !(ra.contains(x) && rb.contains(y)) => st
                                        .fail(|| {
                                            format!(
                                                "{a} {} {b} -> {ra}, {rb} misses {x:#x}, {y:#x}",
                                                cond.mnemonic()
                                            )
                                        }),
                                    Some(_) => {}
                                }
                            }
                        }
                        match side {
                            Some((ra, rb)) => {
                                // Precision of both refined operands, counted as two cases.
                                st.precision(&ra, best(xs));
                                st.precision(&rb, best(ys));
                            }
                            None => {
                                // Exact: nothing satisfies it.
                                st.cases += 2;
                                st.exact += 2;
                            }
                        }
                    }
                }
                let name = format!(
                    "{}{}{}",
                    if holds { "" } else { "!" },
                    cond.mnemonic(),
                    if w == Width::W32 { "32" } else { "" }
                );
                rep.add(name, st);
            }
        }
    }
    rep.finish();
}

#[test]
fn lattice_ops_are_sound() {
    let sz = size();
    let fam = family(&sz);
    let mut rep = Report::new("lattice", note(&fam));
    let (mut join, mut meet, mut within) = (Stat::default(), Stat::default(), Stat::default());
    for (a, ga) in &fam {
        for (b, gb) in &fam {
            let j = a.join(b);
            for &x in ga.iter().chain(gb) {
                if !j.contains(x) {
                    join.fail(|| format!("{a} ⊔ {b} = {j} misses {x:#x}"));
                }
            }
            join.precision(&j, best(ga.iter().chain(gb).copied()));
            let m = a.meet(b);
            let common: Vec<u64> = ga.iter().copied().filter(|&x| b.contains(x)).collect();
            for &x in &common {
                match m {
                    Some(m) if m.contains(x) => {}
                    _ => meet.fail(|| format!("{a} ⊓ {b} = {m:?} misses {x:#x}")),
                }
            }
            match m {
                Some(m) => meet.precision(&m, best(common)),
                None => {
                    meet.cases += 1;
                    meet.exact += 1;
                }
            }
            // `within` is the fixpoint test: it must never claim a subset that is not one.
            within.cases += 1;
            if a.within(b)
                && let Some(&x) = ga.iter().find(|&&x| !b.contains(x))
            {
                within.fail(|| format!("{a} within {b}, but {x:#x} is not in it"));
            }
            let sub = ga.iter().all(|&x| b.contains(x));
            if sub == a.within(b) {
                within.exact += 1;
            }
        }
    }
    rep.add("join".into(), join);
    rep.add("meet".into(), meet);
    rep.add("within".into(), within);
    rep.finish();
}

// ---------------------------------------------------------------------------------------------
// Tnums alone

/// Every tnum whose chosen bits are each 0, 1 or unknown and whose other bits copy a fill.
fn tnum_family(sz: &Size) -> Vec<(Tnum, Vec<u64>)> {
    let chosen: u64 = sz.tnum_bits.iter().map(|b| 1u64 << b).sum();
    let n = sz.tnum_bits.len() as u32;
    let mut fam = Vec::new();
    for fill in [0u64, !0] {
        for code in 0..3u32.pow(n) {
            let (mut v, mut m, mut c) = (fill & !chosen, 0u64, code);
            for &b in &sz.tnum_bits {
                match c % 3 {
                    0 => {}
                    1 => v |= 1 << b,
                    _ => m |= 1 << b,
                }
                c /= 3;
            }
            let t = Tnum { value: v, mask: m };
            let members = (0..1u128 << m.count_ones()).map(|i| nth(t, i)).collect();
            fam.push((t, members));
        }
    }
    fam
}

fn best_tnum(xs: impl IntoIterator<Item = u64>) -> Option<Tnum> {
    xs.into_iter().fold(None, |acc, x| {
        let c = Tnum::constant(x);
        Some(match acc {
            None => c,
            Some(t) => t.union(c),
        })
    })
}

fn tnum_precision(st: &mut Stat, r: Tnum, b: Option<Tnum>) {
    st.cases += 1;
    let Some(b) = b else { return };
    let (cr, cb) = (r.mask.count_ones(), b.mask.count_ones());
    if r == b {
        st.exact += 1;
    }
    if cr >= cb {
        st.excess += (cr - cb) as f64;
    }
}

#[test]
fn tnum_ops_are_sound() {
    let sz = size();
    let fam = tnum_family(&sz);
    let mut rep = Report::new("tnum", format!("{} tnums", fam.len()));
    type Bin = (&'static str, fn(Tnum, Tnum) -> Tnum, fn(u64, u64) -> u64);
    let bins: [Bin; 7] = [
        ("add", Tnum::add, u64::wrapping_add),
        ("sub", Tnum::sub, u64::wrapping_sub),
        ("mul", Tnum::mul, u64::wrapping_mul),
        ("and", Tnum::and, |x, y| x & y),
        ("or", Tnum::or, |x, y| x | y),
        ("xor", Tnum::xor, |x, y| x ^ y),
        ("union", Tnum::union, |x, _| x),
    ];
    for (name, f, conc) in bins {
        let mut st = Stat::default();
        for (a, ga) in &fam {
            for (b, gb) in &fam {
                let r = f(*a, *b);
                let mut zs = Vec::new();
                for &x in ga {
                    for &y in gb {
                        let zz = if name == "union" { [x, y] } else { [conc(x, y); 2] };
                        for z in zz {
                            if !r.contains(z) {
                                st.fail(|| format!("{a:?} {name} {b:?} = {r:?} misses {z:#x}"));
                            }
                            zs.push(z);
                        }
                    }
                }
                tnum_precision(&mut st, r, best_tnum(zs));
            }
        }
        rep.add(name.into(), st);
    }
    // Intersection: every common member, and None only when there is none.
    let mut st = Stat::default();
    for (a, ga) in &fam {
        for (b, _) in &fam {
            let common: Vec<u64> = ga.iter().copied().filter(|&x| b.contains(x)).collect();
            match a.intersect(*b) {
                Some(m) => {
                    for &x in &common {
                        if !m.contains(x) {
                            st.fail(|| format!("{a:?} ∩ {b:?} = {m:?} misses {x:#x}"));
                        }
                    }
                    tnum_precision(&mut st, m, best_tnum(common));
                }
                None if !common.is_empty() => {
                    st.fail(|| format!("{a:?} ∩ {b:?} = None, both hold {:#x}", common[0]))
                }
                None => {
                    st.cases += 1;
                    st.exact += 1;
                }
            }
        }
    }
    rep.add("intersect".into(), st);
    type Un = (String, Box<dyn Fn(Tnum) -> Tnum>, Box<dyn Fn(u64) -> u64>);
    let mut uns: Vec<Un> = Vec::new();
    for s in 0..64u32 {
        uns.push((format!("lsh {s}"), Box::new(move |t| t.lsh(s)), Box::new(move |x| x << s)));
        uns.push((format!("rsh {s}"), Box::new(move |t| t.rsh(s)), Box::new(move |x| x >> s)));
        uns.push((
            format!("arsh {s}"),
            Box::new(move |t| t.arsh(s)),
            Box::new(move |x| ((x as i64) >> s) as u64),
        ));
    }
    for bits in [8u32, 16, 32, 64] {
        uns.push((
            format!("truncate {bits}"),
            Box::new(move |t| t.truncate(bits)),
            Box::new(move |x| if bits == 64 { x } else { x & ((1 << bits) - 1) }),
        ));
    }
    for bits in [8u32, 16, 32] {
        uns.push((
            format!("sign_extend {bits}"),
            Box::new(move |t| t.sign_extend(bits)),
            Box::new(move |x| (((x << (64 - bits)) as i64) >> (64 - bits)) as u64),
        ));
    }
    for bits in [SwapBits::B16, SwapBits::B32, SwapBits::B64] {
        uns.push((
            format!("swap_bytes {}", bits.bits()),
            Box::new(move |t| t.swap_bytes(bits.bits())),
            Box::new(move |x| semantics::end(Endian::Swap, bits, x)),
        ));
    }
    // Shifts by every amount are summarised in one row each.
    let mut rows: Vec<(String, Stat)> = Vec::new();
    for (name, f, conc) in &uns {
        let first = name.split(' ').next().unwrap();
        let row = if matches!(first, "lsh" | "rsh" | "arsh") {
            first.to_string()
        } else {
            name.replace(' ', "")
        };
        if !rows.iter().any(|(n, _)| n == &row) {
            rows.push((row.clone(), Stat::default()));
        }
        let st = &mut rows.iter_mut().find(|(n, _)| n == &row).unwrap().1;
        for (a, ga) in &fam {
            let r = f(*a);
            for &x in ga {
                let z = conc(x);
                if !r.contains(z) {
                    st.fail(|| format!("{name} {a:?} = {r:?} misses {z:#x}"));
                }
            }
            tnum_precision(st, r, best_tnum(ga.iter().map(|&x| conc(x))));
        }
    }
    for (n, s) in rows {
        rep.add(n, s);
    }
    // Bounds, and `range` holds every value of its interval.
    let mut st = Stat::default();
    for (a, ga) in &fam {
        st.cases += 1;
        let lo = *ga.iter().min().unwrap();
        let hi = *ga.iter().max().unwrap();
        let slo = ga.iter().map(|&x| x as i64).min().unwrap();
        let shi = ga.iter().map(|&x| x as i64).max().unwrap();
        if (a.umin(), a.umax(), a.smin(), a.smax()) != (lo, hi, slo, shi) {
            st.fail(|| format!("bounds of {a:?}"));
        } else {
            st.exact += 1;
        }
    }
    rep.add("bounds".into(), st);
    let mut st = Stat::default();
    let u = universe(&sz);
    for &lo in &u {
        for &hi in &u {
            if lo > hi {
                continue;
            }
            let r = Tnum::range(lo, hi);
            let want = (hi - lo) as u128 + 1;
            st.cases += 1;
            if count_in(r, lo, hi) != want {
                st.fail(|| format!("range({lo:#x}, {hi:#x}) = {r:?} misses some"));
            } else if r.umin() <= lo && hi <= r.umax() {
                st.exact += 1;
            }
        }
    }
    rep.add("range".into(), st);
    rep.finish();
}
