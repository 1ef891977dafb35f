//! Conditions as jumps (`&&`, `||`, `!`, comparisons), and the ranges an `if` proves for
//! immutable variables (guards).

use super::*;

impl Lower<'_, '_> {
    /// A bool-valued expression as 0 or 1 in the temporary of `depth`.
    pub(super) fn bool_value(&mut self, e: &Expr, depth: usize) -> Lowered<Val> {
        let t = self.temp(depth)?;
        let yes = self.label();
        let end = self.label();
        let pkt = self.pkt;
        self.cond(e, true, yes, depth)?;
        self.emit(mov(t, Source::Imm(0)));
        self.ja(end);
        self.bind(yes);
        self.emit(mov(t, Source::Imm(1)));
        self.bind(end);
        self.pkt = self.pkt.meet(pkt);
        Ok(Val {
            op: Operand::Reg(t),
            ty: Some(ScalarType::Bool),
            range: Some((0, 1)),
            guarded: false,
        })
    }

    /// Jumps to `to` when `e` (a bool) equals `when`, else falls through.
    pub(super) fn cond(&mut self, e: &Expr, when: bool, to: Label, depth: usize) -> Lowered<()> {
        self.nested_at(e.span, |l| l.cond_inner(e, when, to, depth))
    }

    pub(super) fn cond_inner(
        &mut self,
        e: &Expr,
        when: bool,
        target: Label,
        depth: usize,
    ) -> Lowered<()> {
        match &e.kind {
            ExprKind::Paren(x) => self.cond(x, when, target, depth),
            ExprKind::Unary(UnOp::Not, x) if self.is_bool(x) => self.cond(x, !when, target, depth),
            ExprKind::Bool(b) => {
                if *b == when {
                    self.ja(target);
                }
                Ok(())
            }
            ExprKind::Binary(op @ (BinOp::AndAnd | BinOp::OrOr), a, b) => {
                let is_and = *op == BinOp::AndAnd;
                // (a && b) == false: either false; (a || b) == true: either true: `a` jumps to
                // `target` too. Otherwise `a` deciding the other way skips `b`.
                let skip = (is_and == when).then(|| self.label());
                let pkt = self.pkt;
                let ra = match skip {
                    None => self.cond(a, when, target, depth),
                    Some(skip) => self.cond(a, !when, skip, depth),
                };
                let guards = if is_and { self.guards_of(a) } else { Vec::new() };
                let saved = self.apply_guards(&guards);
                let rb = self.cond(b, when, target, depth);
                self.restore_guards(saved);
                if let Some(skip) = skip {
                    self.bind(skip);
                }
                self.pkt = self.pkt.meet(pkt).max_fixed(pkt);
                ra.and(rb)
            }
            ExprKind::Binary(op, a, b) if op.is_compare() => {
                let va = self.eval(a, depth)?;
                let (va, vb, ty) = self.operands(*op, va, b, depth, e.span)?;
                let t = ty.unwrap_or(ScalarType::U64);
                if t == ScalarType::Bool && !matches!(op, BinOp::Eq | BinOp::Ne) {
                    return Err(self.error(
                        Diagnostic::new("udf::type::mismatch", "bools compare only with == and !=")
                            .label(e.span, "here"),
                    ));
                }
                let mut op = *op;
                let (mut x, mut y) = (va.op, vb.op);
                if let (Operand::Imm(p), Operand::Imm(q)) = (x, y) {
                    if (apply(op, t, t.normalize(p), t.normalize(q)) != 0) == when {
                        self.ja(target);
                    }
                    return Ok(());
                }
                if let Operand::Imm(_) = x {
                    std::mem::swap(&mut x, &mut y);
                    op = mirror(op);
                }
                let Operand::Reg(xr) = x else { unreachable!("swapped") };
                let src = match y {
                    Operand::Reg(r) => Source::Reg(r),
                    Operand::Imm(q) => match imm_fits(t.normalize(q)) {
                        Some(i) => Source::Imm(i),
                        None => {
                            let r = self.temp(depth + 1)?;
                            self.load_const(r, t.normalize(q));
                            Source::Reg(r)
                        }
                    },
                };
                let op = if when { op } else { negate(op) };
                self.jump(jcond(op, t.signed()), xr, src, target);
                Ok(())
            }
            _ => {
                let v = self.eval(e, depth)?;
                self.expect(v, ScalarType::Bool, e.span)?;
                match v.op {
                    Operand::Imm(x) => {
                        if (x != 0) == when {
                            self.ja(target);
                        }
                    }
                    Operand::Reg(r) => {
                        let c = if when { JmpCond::Ne } else { JmpCond::Eq };
                        self.jump(c, r, Source::Imm(0), target);
                    }
                }
                Ok(())
            }
        }
    }

    pub(super) fn is_bool(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Bool(_) => true,
            ExprKind::Binary(op, ..) => {
                op.is_compare() || matches!(op, BinOp::AndAnd | BinOp::OrOr)
            }
            ExprKind::Unary(UnOp::Not, x) | ExprKind::Paren(x) => self.is_bool(x),
            ExprKind::Name(n) => match self.lookup(&n.name).map(|i| &self.vars[i].kind) {
                Some(VarKind::Scalar { ty, .. }) => *ty == ScalarType::Bool,
                _ => self.items.consts.get(&n.name).is_some_and(|c| c.0 == ScalarType::Bool),
            },
            _ => false,
        }
    }

    pub(super) fn guards_of(&self, c: &Expr) -> Vec<(usize, (u64, u64))> {
        let mut out = Vec::new();
        self.collect_guards(c, &mut out);
        out
    }

    pub(super) fn collect_guards(&self, c: &Expr, out: &mut Vec<(usize, (u64, u64))>) {
        match &c.kind {
            ExprKind::Paren(x) => self.collect_guards(x, out),
            ExprKind::Binary(BinOp::AndAnd, a, b) => {
                self.collect_guards(a, out);
                self.collect_guards(b, out);
            }
            ExprKind::Binary(op, a, b) if op.is_compare() => {
                let (var, k, op) = match (&a.kind, &b.kind) {
                    (ExprKind::Name(n), _) => match self.eval_const_pure(b) {
                        Some(k) => (n, k, *op),
                        None => return,
                    },
                    (_, ExprKind::Name(n)) => match self.eval_const_pure(a) {
                        Some(k) => (n, k, mirror(*op)),
                        None => return,
                    },
                    _ => return,
                };
                let Some(i) = self.lookup(&var.name) else {
                    return;
                };
                let VarKind::Scalar { ty, mutable: false, .. } = self.vars[i].kind else {
                    return;
                };
                if ty.signed() || !ty.is_int() {
                    return;
                }
                let (lo, hi) =
                    self.vars[i].range.or_else(|| type_range(ty)).unwrap_or((0, u64::MAX));
                let r = match op {
                    BinOp::Lt if k > 0 => (lo, hi.min(k - 1)),
                    BinOp::Le => (lo, hi.min(k)),
                    BinOp::Gt => (lo.max(k.saturating_add(1)), hi),
                    BinOp::Ge => (lo.max(k), hi),
                    BinOp::Eq => (k, k),
                    _ => return,
                };
                out.push((i, r));
            }
            _ => {}
        }
    }

    pub(super) fn eval_const_pure(&self, e: &Expr) -> Option<u64> {
        match &e.kind {
            ExprKind::Int(v) => Some(*v),
            ExprKind::Paren(x) => self.eval_const_pure(x),
            ExprKind::Name(n) if self.lookup(&n.name).is_none() => {
                self.items.consts.get(&n.name).map(|c| c.1)
            }
            _ => None,
        }
    }

    pub(super) fn apply_guards(&mut self, g: &[(usize, (u64, u64))]) -> Vec<SavedGuard> {
        let mut saved = Vec::new();
        for &(i, r) in g {
            saved.push((i, self.vars[i].range, self.vars[i].guarded));
            self.vars[i].range = Some(r);
            self.vars[i].guarded = true;
        }
        saved
    }

    pub(super) fn restore_guards(&mut self, saved: Vec<SavedGuard>) {
        for (i, r, g) in saved.into_iter().rev() {
            if let Some(v) = self.vars.get_mut(i) {
                v.range = r;
                v.guarded = g;
            }
        }
    }
}

pub(super) fn mirror(op: BinOp) -> BinOp {
    match op {
        BinOp::Lt => BinOp::Gt,
        BinOp::Le => BinOp::Ge,
        BinOp::Gt => BinOp::Lt,
        BinOp::Ge => BinOp::Le,
        o => o,
    }
}

pub(super) fn negate(op: BinOp) -> BinOp {
    match op {
        BinOp::Eq => BinOp::Ne,
        BinOp::Ne => BinOp::Eq,
        BinOp::Lt => BinOp::Ge,
        BinOp::Le => BinOp::Gt,
        BinOp::Gt => BinOp::Le,
        BinOp::Ge => BinOp::Lt,
        o => o,
    }
}

pub(super) fn jcond(op: BinOp, signed: bool) -> JmpCond {
    match (op, signed) {
        (BinOp::Eq, _) => JmpCond::Eq,
        (BinOp::Ne, _) => JmpCond::Ne,
        (BinOp::Lt, false) => JmpCond::Lt,
        (BinOp::Le, false) => JmpCond::Le,
        (BinOp::Gt, false) => JmpCond::Gt,
        (BinOp::Ge, false) => JmpCond::Ge,
        (BinOp::Lt, true) => JmpCond::Slt,
        (BinOp::Le, true) => JmpCond::Sle,
        (BinOp::Gt, true) => JmpCond::Sgt,
        (BinOp::Ge, true) => JmpCond::Sge,
        _ => unreachable!("not a comparison"),
    }
}
