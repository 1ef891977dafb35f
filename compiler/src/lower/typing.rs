//! Types and constants: what a type expression names, whether a value has the type a
//! place wants, compile-time values, and the ranges each type allows.

use super::*;

impl Lower<'_, '_> {
    pub(super) fn const_value(&mut self, e: &Expr) -> Option<u64> {
        let n = self.diags.len();
        let v = self.eval_const(e);
        self.diags.truncate(n);
        v
    }

    /// Evaluates `e` if it is a compile-time constant (no code is emitted).
    pub(super) fn eval_const(&mut self, e: &Expr) -> Option<u64> {
        match &e.kind {
            ExprKind::Int(v) => Some(*v),
            ExprKind::Paren(x) => self.eval_const(x),
            ExprKind::Name(n) if self.lookup(&n.name).is_none() => {
                self.items.consts.get(&n.name).map(|c| c.1)
            }
            ExprKind::Binary(op, a, b) if !op.is_compare() => {
                let a = self.eval_const(a)?;
                let b = self.eval_const(b)?;
                Some(apply(*op, ScalarType::U64, a, b))
            }
            _ => None,
        }
    }

    pub(super) fn const_count(&mut self, e: &Expr, what: &str) -> Lowered<u64> {
        match self.const_value(e) {
            Some(v) if v <= 1 << 24 => Ok(v),
            _ => Err(self.error(
                Diagnostic::new(
                    "udf::loop::bound",
                    format!("{what} must be a constant of at most 2^24"),
                )
                .label(e.span, "not a small constant"),
            )),
        }
    }

    pub(super) fn scalar_type(&mut self, t: &TypeExpr) -> Lowered<ScalarType> {
        match t {
            TypeExpr::Named(n) => match ScalarType::from_name(&n.name) {
                Some(s) => Ok(s),
                None => Err(self.error(
                    Diagnostic::new(
                        "udf::type::mismatch",
                        format!("`{}` is not a scalar type", n.name),
                    )
                    .label(n.span, "expected u8..u64, i8..i64 or bool"),
                )),
            },
            TypeExpr::Array(_, _, s) => Err(self.error(
                Diagnostic::new("udf::type::mismatch", "variables hold scalars, not arrays")
                    .label(*s, "an array type"),
            )),
        }
    }

    pub(super) fn unknown(&mut self, name: &str, span: Span) -> Reported {
        self.error(
            Diagnostic::new("udf::name::unknown", format!("no variable or constant `{name}`"))
                .label(span, "not defined here"),
        )
    }

    /// Whether `v` may be used where `t` is wanted; reports a mismatch.
    pub(super) fn expect(&mut self, v: Val, t: ScalarType, span: Span) -> Lowered<()> {
        match v.ty {
            None => {
                let Operand::Imm(x) = v.op else { return Ok(()) };
                if t.is_int() && (t.fits(x) || (t.signed() && t.normalize(x) == x)) {
                    Ok(())
                } else if t == ScalarType::Bool {
                    Err(self.error(
                        Diagnostic::new(
                            "udf::type::expected_bool",
                            "expected `bool`, found an integer",
                        )
                        .label(span, "an integer")
                        .help("compare it: `... != 0`"),
                    ))
                } else {
                    Err(self.error(
                        Diagnostic::new(
                            "udf::type::literal",
                            format!("{x} does not fit `{}`", t.name()),
                        )
                        .label(span, "too large"),
                    ))
                }
            }
            Some(s) if s.widens_to(t) => Ok(()),
            Some(s) => {
                let help = if t == ScalarType::Bool {
                    "compare it: `... != 0`".to_string()
                } else {
                    format!("convert it: `(...) as {}`", t.name())
                };
                Err(self.error(
                    Diagnostic::new(
                        "udf::type::mismatch",
                        format!("expected `{}`, found `{}`", t.name(), s.name()),
                    )
                    .label(span, format!("this is `{}`", s.name()))
                    .help(help),
                ))
            }
        }
    }
}

pub(super) fn type_range(t: ScalarType) -> Option<(u64, u64)> {
    match t {
        ScalarType::U8 => Some((0, 0xff)),
        ScalarType::U16 => Some((0, 0xffff)),
        ScalarType::U32 => Some((0, 0xffff_ffff)),
        ScalarType::Bool => Some((0, 1)),
        _ => None,
    }
}

pub(super) fn range_of(
    op: BinOp,
    a: Option<(u64, u64)>,
    b: Option<(u64, u64)>,
    t: ScalarType,
) -> Option<(u64, u64)> {
    let max = type_range(t).map_or(u64::MAX, |r| r.1);
    let r = match (op, a, b) {
        (BinOp::And, _, Some((_, m))) | (BinOp::And, Some((_, m)), _) => Some((0, m)),
        (BinOp::Rem, _, Some((m, _))) if m > 0 => Some((0, m - 1)),
        (BinOp::Add, Some((a0, a1)), Some((b0, b1))) => {
            Some((a0.checked_add(b0)?, a1.checked_add(b1)?))
        }
        (BinOp::Sub, Some((a0, a1)), Some((b0, b1))) if a0 >= b1 => Some((a0 - b1, a1 - b0)),
        (BinOp::Mul, Some((a0, a1)), Some((b0, b1))) => {
            Some((a0.checked_mul(b0)?, a1.checked_mul(b1)?))
        }
        (BinOp::Shr, Some((a0, a1)), Some((b0, b1))) if b1 < 64 => Some((a0 >> b1, a1 >> b0)),
        (BinOp::Div, Some((a0, a1)), Some((b0, b1))) if b0 > 0 => Some((a0 / b1, a1 / b0)),
        _ => None,
    };
    if t.signed() {
        return None;
    }
    r.filter(|&(_, hi)| hi <= max).or_else(|| type_range(t))
}

pub(super) fn type_label(t: Option<ScalarType>) -> String {
    match t {
        Some(s) => format!("`{}`", s.name()),
        None => "an integer literal".to_string(),
    }
}
