//! The `pre` of a PREVAIL case (the facts assumed on entry) as a state per register.
//!
//! Understood: `rN.type=number|stack|ctx`, `rN.svalue=`, `rN.uvalue=` (a number `K`, hex or
//! decimal, or an interval `[a, b]`; `-oo`/`+oo` bounds are accepted), `rN.stack_offset=`,
//! `rN.ctx_offset=`, and the relation `rN.uvalue=rN.svalue`. Repeated facts intersect.
//! `svalue` / `uvalue` facts about a stack or context pointer (its address, e.g.
//! `r1.svalue=[1, 2147418112]`: "not null") are dropped and listed in [`Pre::ignored`]: udfkit's
//! pointers have no numeric address, and a weaker entry state is a sound one. So are value
//! facts about a register with no `type` fact: its type is unknown (it may be uninitialized),
//! which makes it [`RegPre::Uninit`].
//! Everything else is [`Unsupported`], its reason starting with `pre ` and a category: other
//! types (`packet`, `shared`, `map_fd`, ...) and their fields, `packet_size` / `meta_offset`,
//! stack cells (`s[a...b].type=number`, ...), `stack_numeric_size`, `rN.type in {...}`,
//! relations between registers, and a `pre` that is `_|_`.

use super::{Case, Unsupported};

/// The entry state of the eleven registers.
///
/// An empty `pre` means: every register [`RegPre::Uninit`]. PREVAIL's YAML runner turns
/// `setup_constraints` off, so the entry state is exactly the conjunction of the `pre` facts and
/// nothing is set up: not `r1` (no context pointer) and not even `r10`. A register with no fact
/// has an unconstrained type, which includes "uninitialized", so any instruction that needs its
/// type fails (`"Invalid type (r3.type in {number, ctx, stack, packet, shared})"`); that is
/// what `Uninit` means to a verifier. For `r10` that includes stack accesses, which are checked
/// against `r10.stack_offset`; udfkit's verifier treats `r10` as the frame pointer regardless
/// (no case of the data uses `r10` without stating `r10.type=stack`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pre {
    /// Indexed by register number.
    pub regs: [RegPre; 11],
    /// Facts that were dropped: the numeric value of a pointer or of a register of unknown type.
    pub ignored: Vec<String>,
}

/// What `pre` says about one register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegPre {
    /// No fact: unknown type (may be uninitialized).
    Uninit,
    /// `type=number`, with the signed and unsigned interpretations of its 64 bits bounded where
    /// `svalue` / `uvalue` say so (inclusive bounds). Both describe the same bits, so a caller
    /// may intersect them; `uvalue=svalue` has already been applied (both then lie in
    /// `[0, i64::MAX]`).
    Number {
        /// Bounds of the value as `i64`.
        s: Option<(i64, i64)>,
        /// Bounds of the value as `u64`.
        u: Option<(u64, u64)>,
    },
    /// `type=stack`: a pointer at PREVAIL's `stack_offset`, an offset into its stack region of
    /// 8 frames x 512 bytes (0 to 4096). The cases put `r10` at 512 (one frame below it; a
    /// local call moves `r10` down by 512), a few at 1024, 1536 or 4096.
    Stack {
        /// Bounds of `stack_offset` (inclusive).
        offset: (i64, i64),
    },
    /// `type=ctx`: a pointer into the 64-byte context at `ctx_offset`.
    Ctx {
        /// Bounds of `ctx_offset` (inclusive).
        offset: (i64, i64),
    },
}

/// Bounds as wide integers while facts are combined.
type Range = (i128, i128);

#[derive(Default)]
struct Facts {
    ty: Option<String>,
    s: Option<Range>,
    u: Option<Range>,
    stack_offset: Option<Range>,
    ctx_offset: Option<Range>,
    /// `rN.uvalue=rN.svalue`.
    s_eq_u: bool,
    /// The text of the value facts, dropped if the register is a pointer.
    value_facts: Vec<String>,
}

fn meet(a: Option<Range>, b: Range) -> Option<Range> {
    Some(match a {
        None => b,
        Some(a) => (a.0.max(b.0), a.1.min(b.1)),
    })
}

/// Reads the `pre` of `case`.
pub fn parse_pre(case: &Case) -> Result<Pre, Unsupported> {
    let mut facts: [Facts; 11] = Default::default();
    for fact in &case.pre {
        apply(fact.trim(), &mut facts)
            .map_err(|why| Unsupported(format!("pre {why}: `{fact}`")))?;
    }
    let mut regs: [RegPre; 11] = std::array::from_fn(|_| RegPre::Uninit);
    let mut ignored = Vec::new();
    for (n, f) in facts.iter().enumerate() {
        regs[n] = reg_state(f).map_err(|why| Unsupported(format!("pre {why}: r{n}")))?;
        if !matches!(regs[n], RegPre::Number { .. }) {
            ignored.extend(f.value_facts.iter().cloned());
        }
    }
    Ok(Pre { regs, ignored })
}

fn reg_state(f: &Facts) -> Result<RegPre, String> {
    let Some(ty) = f.ty.as_deref() else {
        if f.stack_offset.is_some() || f.ctx_offset.is_some() {
            return Err("offset without a type".to_string());
        }
        return Ok(RegPre::Uninit);
    };
    let offset = |r: Option<Range>, what: &str| -> Result<(i64, i64), String> {
        let (lo, hi) = r.ok_or_else(|| format!("{ty} pointer without {what}"))?;
        if lo > hi {
            return Err("empty (contradictory)".to_string());
        }
        Ok((clamp_i64(lo), clamp_i64(hi)))
    };
    match ty {
        "number" => {
            if f.stack_offset.is_some() || f.ctx_offset.is_some() {
                return Err("pointer offset on a number".to_string());
            }
            let (mut s, mut u) = (f.s, f.u);
            if f.s_eq_u {
                // Both interpretations agree exactly when the sign bit is clear.
                let mut both = (0, i128::from(i64::MAX));
                for r in [s, u].into_iter().flatten() {
                    both = (both.0.max(r.0), both.1.min(r.1));
                }
                (s, u) = (Some(both), Some(both));
            }
            if [s, u].into_iter().flatten().any(|(lo, hi)| lo > hi) {
                return Err("empty (contradictory)".to_string());
            }
            Ok(RegPre::Number {
                s: s.map(|(lo, hi)| (clamp_i64(lo), clamp_i64(hi))),
                u: u.map(|(lo, hi)| (clamp_u64(lo), clamp_u64(hi))),
            })
        }
        "stack" if f.ctx_offset.is_none() => {
            Ok(RegPre::Stack { offset: offset(f.stack_offset, "stack_offset")? })
        }
        "ctx" if f.stack_offset.is_none() => {
            Ok(RegPre::Ctx { offset: offset(f.ctx_offset, "ctx_offset")? })
        }
        "stack" | "ctx" => Err("offsets of two regions".to_string()),
        other => Err(format!("type {other}")),
    }
}

fn clamp_i64(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

fn clamp_u64(v: i128) -> u64 {
    v.clamp(0, i128::from(u64::MAX)) as u64
}

/// Adds one fact; the error is the category of what is not understood.
fn apply(fact: &str, facts: &mut [Facts; 11]) -> Result<(), String> {
    if fact == "_|_" {
        return Err("is _|_ (no entry state)".to_string());
    }
    if fact.starts_with("s[") {
        return Err("stack cells".to_string());
    }
    if fact.starts_with("packet_size") || fact.starts_with("meta_offset") {
        return Err("packet_size/meta_offset".to_string());
    }
    if fact.contains(" in ") {
        return Err("type set".to_string());
    }
    let (lhs, rhs) = fact.split_once('=').ok_or("unknown fact")?;
    let (n, field) = reg_field(lhs.trim()).ok_or("unknown fact")?;
    let rhs = rhs.trim();
    let f = &mut facts[n];
    if let Some((m, other)) = reg_field(rhs) {
        return if m == n && matches!((field, other), ("uvalue", "svalue") | ("svalue", "uvalue")) {
            f.s_eq_u = true;
            f.value_facts.push(fact.to_string());
            Ok(())
        } else {
            Err("relation".to_string())
        };
    }
    match field {
        "type" => {
            if f.ty.as_deref().is_some_and(|t| t != rhs) {
                return Err("two types".to_string());
            }
            f.ty = Some(rhs.to_string());
        }
        "svalue" => {
            f.s = meet(f.s, range(rhs, Signedness::Signed)?);
            f.value_facts.push(fact.to_string());
        }
        "uvalue" => {
            f.u = meet(f.u, range(rhs, Signedness::Unsigned)?);
            f.value_facts.push(fact.to_string());
        }
        "stack_offset" => f.stack_offset = meet(f.stack_offset, range(rhs, Signedness::Signed)?),
        "ctx_offset" => f.ctx_offset = meet(f.ctx_offset, range(rhs, Signedness::Signed)?),
        other if other.contains('-') => return Err("relation".to_string()),
        other => return Err(other.to_string()),
    }
    Ok(())
}

/// `rN.field` with `N <= 10`.
fn reg_field(text: &str) -> Option<(usize, &str)> {
    let rest = text.strip_prefix('r')?;
    let (num, field) = rest.split_once('.')?;
    if num.is_empty() || num.len() > 2 || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: usize = num.parse().ok()?;
    (n <= 10).then_some((n, field.trim()))
}

/// How a bound in a `pre` line is read: as an `i64` or as a `u64`.
#[derive(Clone, Copy, PartialEq)]
enum Signedness {
    Signed,
    Unsigned,
}

/// `K`, `[K]` or `[a, b]`.
fn range(text: &str, kind: Signedness) -> Result<Range, String> {
    let bad = || format!("bad value `{text}`");
    let inner = text.strip_prefix('[').map_or(text, |t| t.strip_suffix(']').unwrap_or(t));
    match inner.split_once(',') {
        Some((a, b)) => {
            let lo = bound(a.trim(), kind).ok_or_else(bad)?;
            let hi = bound(b.trim(), kind).ok_or_else(bad)?;
            Ok((lo, hi))
        }
        None => {
            let v = bound(inner.trim(), kind).ok_or_else(bad)?;
            Ok((v, v))
        }
    }
}

/// One bound: a decimal or `0x` number, or `-oo` / `+oo`. Like PREVAIL's `stoull`, an unsigned
/// bound written negative wraps around 2^64.
fn bound(text: &str, kind: Signedness) -> Option<i128> {
    let (lo, hi) = match kind {
        Signedness::Signed => (i128::from(i64::MIN), i128::from(i64::MAX)),
        Signedness::Unsigned => (0, i128::from(u64::MAX)),
    };
    match text {
        "-oo" => return Some(lo),
        "+oo" | "oo" => return Some(hi),
        _ => {}
    }
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = match digits.strip_prefix("0x") {
        Some(hex) => i128::from_str_radix(hex, 16).ok()?,
        None if digits.bytes().all(|b| b.is_ascii_digit()) => digits.parse::<i128>().ok()?,
        None => return None,
    };
    let v = if negative { -magnitude } else { magnitude };
    match kind {
        Signedness::Unsigned if negative && magnitude <= i128::from(u64::MAX) => {
            Some(v.rem_euclid(1 << 64))
        }
        _ => (lo..=hi).contains(&v).then_some(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pre(facts: &[&str]) -> Result<Pre, Unsupported> {
        parse_pre(&Case { pre: facts.iter().map(|s| s.to_string()).collect(), ..Case::default() })
    }

    #[test]
    fn empty_is_all_uninit() {
        let p = pre(&[]).unwrap();
        assert!(p.regs.iter().all(|r| *r == RegPre::Uninit));
    }

    #[test]
    fn numbers() {
        let p = pre(&[
            "r1.type=number",
            "r1.svalue=[-5, 5]",
            "r2.type=number",
            "r2.uvalue=18446744073709551615",
            "r2.svalue=-1",
            "r3.type=number",
            "r4.type=number",
            "r4.svalue=0x10",
            "r5.type=number",
            "r5.uvalue=-1",
        ])
        .unwrap();
        assert_eq!(p.regs[1], RegPre::Number { s: Some((-5, 5)), u: None });
        assert_eq!(p.regs[2], RegPre::Number { s: Some((-1, -1)), u: Some((u64::MAX, u64::MAX)) });
        assert_eq!(p.regs[3], RegPre::Number { s: None, u: None });
        assert_eq!(p.regs[4], RegPre::Number { s: Some((16, 16)), u: None });
        assert_eq!(p.regs[5], RegPre::Number { s: None, u: Some((u64::MAX, u64::MAX)) });
        assert_eq!(p.regs[0], RegPre::Uninit);
    }

    #[test]
    fn unsigned_equals_signed() {
        let p = pre(&["r1.type=number", "r1.svalue=[-3, 7]", "r1.uvalue=r1.svalue"]).unwrap();
        assert_eq!(p.regs[1], RegPre::Number { s: Some((0, 7)), u: Some((0, 7)) });
        let p = pre(&["r1.type=number", "r1.uvalue=r1.svalue"]).unwrap();
        let max = i64::MAX;
        assert_eq!(p.regs[1], RegPre::Number { s: Some((0, max)), u: Some((0, max as u64)) });
        assert!(pre(&["r1.type=number", "r1.svalue=-1", "r1.uvalue=r1.svalue"]).is_err());
    }

    #[test]
    fn pointers_and_infinities() {
        let p = pre(&[
            "r10.type=stack",
            "r10.stack_offset=512",
            "r1.type=ctx",
            "r1.ctx_offset=[6, 10]",
            "r2.type=number",
            "r2.svalue=[-oo, 5]",
            "r3.type=number",
            "r3.uvalue=[1, +oo]",
        ])
        .unwrap();
        assert_eq!(p.regs[10], RegPre::Stack { offset: (512, 512) });
        assert!(p.ignored.is_empty());
        assert_eq!(p.regs[1], RegPre::Ctx { offset: (6, 10) });
        assert_eq!(p.regs[2], RegPre::Number { s: Some((i64::MIN, 5)), u: None });
        assert_eq!(p.regs[3], RegPre::Number { s: None, u: Some((1, u64::MAX)) });
    }

    #[test]
    fn pointer_values_are_dropped() {
        let p = pre(&[
            "r1.type=ctx",
            "r1.ctx_offset=0",
            "r1.svalue=[1, 2147418112]",
            "r1.uvalue=r1.svalue",
        ])
        .unwrap();
        assert_eq!(p.regs[1], RegPre::Ctx { offset: (0, 0) });
        assert_eq!(p.ignored, vec!["r1.svalue=[1, 2147418112]", "r1.uvalue=r1.svalue"]);
        // No type: may be uninitialized, whatever its value.
        let p = pre(&["r2.svalue=1", "r2.uvalue=1"]).unwrap();
        assert_eq!((&p.regs[2], p.ignored.len()), (&RegPre::Uninit, 2));
    }

    #[test]
    fn refusals() {
        let why = |facts: &[&str]| pre(facts).unwrap_err().0;
        assert!(why(&["r2.type=packet", "r2.packet_offset=0"]).starts_with("pre packet_offset"));
        assert!(why(&["r2.type=packet"]).starts_with("pre type packet"));
        assert!(why(&["s[500...507].type=number"]).starts_with("pre stack cells"));
        assert!(why(&["packet_size=4"]).starts_with("pre packet_size"));
        assert!(why(&["r2.svalue=r1.svalue"]).starts_with("pre relation"));
        assert!(why(&["r1.type in {ctx, shared}"]).starts_with("pre type set"));
        assert!(why(&["r1.ctx_offset=5"]).starts_with("pre offset without a type"));
        assert!(why(&["r1.type=stack"]).contains("without stack_offset"));
        assert!(why(&["r1.type=number", "r1.svalue=[3, 2]"]).contains("empty"));
        assert!(why(&["_|_"]).starts_with("pre is _|_"));
        assert!(why(&["r11.type=number"]).starts_with("pre unknown fact"));
    }
}
