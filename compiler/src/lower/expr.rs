//! Expressions: values in temporaries, operators, casts, calls used as statements.

use super::*;

impl Lower<'_, '_> {
    pub(super) fn read_var(&mut self, i: usize, depth: usize) -> Lowered<Val> {
        let v = &self.vars[i];
        let (range, guarded) = (v.range, v.guarded);
        match v.kind {
            VarKind::Scalar { home, ty, .. } => {
                let op = match home {
                    Home::Reg(r) => Operand::Reg(r),
                    Home::Stack(off) => {
                        let t = self.temp(depth)?;
                        self.emit(Insn::Load {
                            size: Size::DW,
                            signed: false,
                            dst: t,
                            base: Reg::R10,
                            off,
                        });
                        Operand::Reg(t)
                    }
                };
                Ok(Val { op, ty: Some(ty), range: range.or_else(|| type_range(ty)), guarded })
            }
            _ => Err(Reported),
        }
    }

    /// `if c { then } else { els }`: the condition as jumps, the guards it proves applied in the
    /// then-branch, and the packet bytes known after it those both branches know.
    pub(super) fn if_else<T, U>(
        &mut self,
        c: &Expr,
        depth: usize,
        then: impl FnOnce(&mut Self) -> Lowered<T>,
        els: impl FnOnce(&mut Self) -> Lowered<U>,
    ) -> Lowered<(Lowered<T>, Lowered<U>)> {
        let else_l = self.label();
        let end = self.label();
        let guards = self.guards_of(c);
        self.cond(c, false, else_l, depth)?;
        let pkt = self.pkt;
        let saved = self.apply_guards(&guards);
        let rt = then(self);
        self.restore_guards(saved);
        let pkt_then = self.pkt;
        self.ja(end);
        self.bind(else_l);
        self.pkt = pkt;
        let re = els(self);
        self.bind(end);
        self.pkt = self.pkt.meet(pkt_then);
        Ok((rt, re))
    }

    /// An expression evaluated for its effect (calls, `if` statements, blocks).
    pub(super) fn effect(&mut self, e: &Expr, depth: usize) -> Lowered<()> {
        match &e.kind {
            ExprKind::If(c, t, els) => {
                let (rt, re) = self.if_else(
                    c,
                    depth,
                    |l| l.block_effect(t, depth),
                    |l| match els {
                        Some(x) => l.effect(x, depth),
                        None => Ok(()),
                    },
                )?;
                rt?;
                re
            }
            ExprKind::Block(b) => self.block_effect(b, depth),
            ExprKind::Call(f, args) if f.name == "emit" => self.emit_call(e, args, depth),
            ExprKind::Call(..) => self.eval(e, depth).map(|_| ()),
            _ => {
                self.eval(e, depth)?;
                Ok(())
            }
        }
    }

    pub(super) fn emit_call(&mut self, e: &Expr, args: &[Expr], depth: usize) -> Lowered<()> {
        if !self.may_emit() {
            return Err(self.error(
                Diagnostic::new("udf::entry::emit", "`emit` is only for `owns` entry points")
                    .label(e.span, format!("in a `{}` entry point", self.kind.keyword())),
            ));
        }
        if args.len() != 3 {
            return Err(self.error(
                Diagnostic::new(
                    "udf::fn::arity",
                    format!("`emit` takes 3 arguments, {} given", args.len()),
                )
                .label(e.span, "emit(start, count, kind)"),
            ));
        }
        let tys = [ScalarType::U64, ScalarType::U64, ScalarType::U32];
        let mut ok = true;
        for (k, (a, t)) in args.iter().zip(tys).enumerate() {
            let r = self.eval(a, depth + k).and_then(|v| {
                self.expect(v, t, a.span)?;
                let v = self.normalize_imm(v, t);
                self.materialize(v.op, depth + k).map(|_| ())
            });
            ok &= r.is_ok();
        }
        if !ok {
            return Err(Reported);
        }
        for (k, &to) in TEMPS.iter().enumerate().take(3) {
            let from = self.temp(depth + k)?;
            if from != to {
                self.emit(mov(to, Source::Reg(from)));
            }
        }
        self.span = e.span;
        self.emit(Insn::Call { imm: 1 });
        Ok(())
    }

    pub(super) fn may_emit(&self) -> bool {
        self.kind == EntryKind::Owns
    }

    /// Evaluates an expression to a value.
    pub(super) fn eval(&mut self, e: &Expr, depth: usize) -> Lowered<Val> {
        self.nested_at(e.span, |l| l.eval_inner(e, depth))
    }

    pub(super) fn eval_inner(&mut self, e: &Expr, depth: usize) -> Lowered<Val> {
        match &e.kind {
            ExprKind::Int(v) => {
                Ok(Val { op: Operand::Imm(*v), ty: None, range: Some((*v, *v)), guarded: false })
            }
            ExprKind::Bool(b) => Ok(Val {
                op: Operand::Imm(*b as u64),
                ty: Some(ScalarType::Bool),
                range: None,
                guarded: false,
            }),
            ExprKind::Paren(x) => self.eval(x, depth),
            ExprKind::Name(n) => {
                if let Some(i) = self.lookup(&n.name) {
                    if !matches!(self.vars[i].kind, VarKind::Scalar { .. }) {
                        return Err(self.error(
                            Diagnostic::new(
                                "udf::type::mismatch",
                                format!("`{}` is not a value", n.name),
                            )
                            .label(n.span, "read one of its fields"),
                        ));
                    }
                    return self.read_var(i, depth);
                }
                match self.items.consts.get(&n.name) {
                    Some(&(t, v)) => Ok(Val {
                        op: Operand::Imm(v),
                        ty: Some(t),
                        range: Some((v, v)),
                        guarded: false,
                    }),
                    None => Err(self.unknown(&n.name, n.span)),
                }
            }
            ExprKind::Field(..) | ExprKind::Index(..) => self.read_place(e, depth),
            ExprKind::Unary(op, x) => {
                let v = self.eval(x, depth)?;
                let t = v.ty.unwrap_or(ScalarType::U64);
                match (op, v.ty) {
                    (UnOp::Not, Some(ScalarType::Bool)) => self.bool_value(e, depth),
                    (UnOp::Neg, Some(ScalarType::Bool)) => Err(self.error(
                        Diagnostic::new("udf::type::mismatch", "`-` on a bool")
                            .label(e.span, "a bool"),
                    )),
                    (_, _) => {
                        if let Operand::Imm(x) = v.op {
                            let r = match op {
                                UnOp::Neg => x.wrapping_neg(),
                                UnOp::Not => !x,
                            };
                            let r = if v.ty.is_some() { t.normalize(r) } else { r };
                            return Ok(Val {
                                op: Operand::Imm(r),
                                ty: v.ty,
                                range: Some((r, r)),
                                guarded: false,
                            });
                        }
                        let d = self.materialize(v.op, depth)?;
                        match op {
                            UnOp::Neg => self.emit(Insn::Neg { width: Width::W64, dst: d }),
                            UnOp::Not => self.emit(alu(Width::W64, AluOp::Xor, d, Source::Imm(-1))),
                        }
                        self.normalize(d, t);
                        Ok(Val {
                            op: Operand::Reg(d),
                            ty: Some(t),
                            range: type_range(t),
                            guarded: false,
                        })
                    }
                }
            }
            ExprKind::Binary(op, a, b) => {
                if op.is_compare() || matches!(op, BinOp::AndAnd | BinOp::OrOr) {
                    return self.bool_value(e, depth);
                }
                let va = self.eval(a, depth)?;
                let vals = self.operands(*op, va, b, depth, e.span)?;
                self.arith(*op, vals, depth)
            }
            ExprKind::Cast(x, t) => {
                let to = self.scalar_type(t)?;
                let v = self.eval(x, depth)?;
                self.cast(v, to, e.span, depth)
            }
            ExprKind::Call(f, args) => {
                if f.name == "emit" {
                    return Err(self.error(
                        Diagnostic::new("udf::type::mismatch", "`emit` has no value")
                            .label(e.span, "call it as a statement"),
                    ));
                }
                self.nested(e.span, INLINE_LEVELS, |l| l.inline_call(f, args, depth, e.span))
            }
            ExprKind::If(c, t, els) => {
                let Some(els) = els else {
                    return Err(self.error(
                        Diagnostic::new(
                            "udf::type::mismatch",
                            "an `if` used as a value needs an `else`",
                        )
                        .label(e.span, "no else branch"),
                    ));
                };
                let dst = self.temp(depth)?;
                let (vt, ve) = self.if_else(
                    c,
                    depth,
                    |l| l.block_value(t, depth),
                    |l| {
                        let v = l.eval(els, depth)?;
                        l.materialize(v.op, depth).map(|r| Val { op: Operand::Reg(r), ..v })
                    },
                )?;
                let (vt, ve) = (vt?, ve?);
                let ty = match unify(vt.ty, ve.ty) {
                    Ok(t) => t,
                    Err(()) => {
                        return Err(self.error(
                            Diagnostic::new(
                                "udf::type::mismatch",
                                "the branches of this `if` have different types",
                            )
                            .label(t.span, type_label(vt.ty))
                            .label(els.span, type_label(ve.ty)),
                        ));
                    }
                };
                // Both branches left their value in `dst`.
                Ok(Val {
                    op: Operand::Reg(dst),
                    ty: Some(ty.unwrap_or(ScalarType::U64)),
                    range: None,
                    guarded: false,
                })
            }
            ExprKind::Block(b) => self.block_value(b, depth),
        }
    }

    /// A block's value, left in the temporary of `depth`.
    pub(super) fn block_value(&mut self, b: &Block, depth: usize) -> Lowered<Val> {
        let v = self.block(b, depth)?;
        let Some(v) = v else {
            return Err(self.error(
                Diagnostic::new("udf::type::mismatch", "this block has no value")
                    .label(b.span, "expected a value"),
            ));
        };
        let dst = self.materialize(v.op, depth)?;
        Ok(Val { op: Operand::Reg(dst), ..v })
    }

    /// Evaluates the right operand of `op` with the left one, `va`, already evaluated at
    /// `depth`, and finds their common type (untyped literals must fit it).
    pub(super) fn operands(
        &mut self,
        op: BinOp,
        va: Val,
        b: &Expr,
        depth: usize,
        span: Span,
    ) -> Lowered<(Val, Val, Option<ScalarType>)> {
        // Keep `va` safe from `b`'s evaluation: a variable register is only read, a temporary
        // at `depth` is below `b`'s.
        let va = match va.op {
            Operand::Reg(r) if TEMPS[depth..].contains(&r) && r != TEMPS[depth] => {
                let t = self.materialize(va.op, depth)?;
                Val { op: Operand::Reg(t), ..va }
            }
            _ => va,
        };
        let vb = self.eval(b, depth + 1)?;
        let ty = match unify(va.ty, vb.ty) {
            Ok(t) if op.is_compare() || t != Some(ScalarType::Bool) => t,
            _ => {
                return Err(self.error(
                    Diagnostic::new(
                        "udf::type::mismatch",
                        format!(
                            "`{}` between {} and {}",
                            op.symbol(),
                            type_label(va.ty),
                            type_label(vb.ty)
                        ),
                    )
                    .label(
                        span,
                        if op.is_compare() {
                            "these types do not compare"
                        } else {
                            "these types do not mix"
                        },
                    )
                    .help("convert one side with `as`"),
                ));
            }
        };
        if let Some(t) = ty {
            for v in [va, vb] {
                if v.ty.is_none() {
                    self.expect(v, t, span)?;
                }
            }
        }
        Ok((va, vb, ty))
    }

    /// `va op vb` for an arithmetic `op`, both operands evaluated, in their common type `ty`.
    pub(super) fn arith(
        &mut self,
        op: BinOp,
        (va, vb, ty): (Val, Val, Option<ScalarType>),
        depth: usize,
    ) -> Lowered<Val> {
        let t = ty.unwrap_or(ScalarType::U64);
        let range = range_of(op, va.range, vb.range, t);
        if let (Operand::Imm(x), Operand::Imm(y)) = (va.op, vb.op) {
            let r = apply(op, t, t.normalize(x), t.normalize(y));
            return Ok(Val { op: Operand::Imm(r), ty, range: Some((r, r)), guarded: false });
        }
        let d = self.materialize(va.op, depth)?;
        let src = match vb.op {
            Operand::Imm(y) => {
                let y = t.normalize(y);
                let y = if matches!(op, BinOp::Shl | BinOp::Shr) { y % t.bits() as u64 } else { y };
                match imm_fits(y) {
                    Some(i) => Source::Imm(i),
                    None => {
                        let r = self.temp(depth + 1)?;
                        self.load_const(r, y);
                        Source::Reg(r)
                    }
                }
            }
            Operand::Reg(r) => {
                if matches!(op, BinOp::Shl | BinOp::Shr) && t.bits() < 32 {
                    // The shift amount is taken modulo the width.
                    let m = self.materialize(Operand::Reg(r), depth + 1)?;
                    self.emit(alu(Width::W64, AluOp::And, m, Source::Imm(t.bits() as i32 - 1)));
                    Source::Reg(m)
                } else {
                    Source::Reg(r)
                }
            }
        };
        let w32 = t.bits() == 32;
        let width = if w32 { Width::W32 } else { Width::W64 };
        let aop = match op {
            BinOp::Add => AluOp::Add,
            BinOp::Sub => AluOp::Sub,
            BinOp::Mul => AluOp::Mul,
            BinOp::Div if t.signed() => AluOp::SDiv,
            BinOp::Div => AluOp::Div,
            BinOp::Rem if t.signed() => AluOp::SMod,
            BinOp::Rem => AluOp::Mod,
            BinOp::And => AluOp::And,
            BinOp::Or => AluOp::Or,
            BinOp::Xor => AluOp::Xor,
            BinOp::Shl => AluOp::Lsh,
            BinOp::Shr if t.signed() => AluOp::Arsh,
            BinOp::Shr => AluOp::Rsh,
            _ => unreachable!("comparisons are lowered as conditions"),
        };
        // Signed division and right shifts work on the sign-extended 64-bit form.
        let width = if t.signed() && matches!(aop, AluOp::SDiv | AluOp::SMod | AluOp::Arsh) {
            Width::W64
        } else {
            width
        };
        self.emit(alu(width, aop, d, src));
        let exact = matches!(op, BinOp::And | BinOp::Or | BinOp::Xor)
            || (!t.signed() && matches!(op, BinOp::Div | BinOp::Rem | BinOp::Shr))
            || (t.signed() && op == BinOp::Shr);
        if !exact && (!w32 || t.signed()) {
            self.normalize(d, t);
        }
        Ok(Val { op: Operand::Reg(d), ty, range, guarded: va.guarded || vb.guarded })
    }

    /// Brings a register holding any 64 bits to `t`'s canonical form.
    pub(super) fn normalize(&mut self, d: Reg, t: ScalarType) {
        match t {
            ScalarType::U8 => self.emit(alu(Width::W64, AluOp::And, d, Source::Imm(0xff))),
            ScalarType::U16 => self.emit(alu(Width::W64, AluOp::And, d, Source::Imm(0xffff))),
            ScalarType::U32 => self.emit(alu(Width::W32, AluOp::Mov, d, Source::Reg(d))),
            ScalarType::I8 => self.emit(alu(Width::W64, AluOp::MovSx8, d, Source::Reg(d))),
            ScalarType::I16 => self.emit(alu(Width::W64, AluOp::MovSx16, d, Source::Reg(d))),
            ScalarType::I32 => self.emit(alu(Width::W64, AluOp::MovSx32, d, Source::Reg(d))),
            ScalarType::U64 | ScalarType::I64 | ScalarType::Bool => {}
        }
    }

    pub(super) fn cast(
        &mut self,
        v: Val,
        to: ScalarType,
        span: Span,
        depth: usize,
    ) -> Lowered<Val> {
        let from = v.ty;
        if to == ScalarType::Bool && from != Some(ScalarType::Bool) {
            return Err(self.error(
                Diagnostic::new("udf::type::mismatch", "integers do not cast to bool")
                    .label(span, "cast to bool")
                    .help("compare instead: `... != 0`"),
            ));
        }
        if let Operand::Imm(x) = v.op {
            let r = to.normalize(x);
            return Ok(Val {
                op: Operand::Imm(r),
                ty: Some(to),
                range: Some((r, r)),
                guarded: false,
            });
        }
        let from = from.unwrap_or(ScalarType::U64);
        let keep = from == ScalarType::Bool
            || from.bits() < to.bits() && (from.signed() == to.signed() || !from.signed())
            || from == to;
        let keep = keep || (from.bits() == to.bits() && from.signed() == to.signed());
        if keep {
            return Ok(Val { ty: Some(to), range: if to.signed() { None } else { v.range }, ..v });
        }
        let d = self.materialize(v.op, depth)?;
        self.normalize(d, to);
        let range = match (v.range, to.signed()) {
            (Some((lo, hi)), false) if hi <= type_range(to).map_or(0, |r| r.1) => Some((lo, hi)),
            (_, false) => type_range(to),
            _ => None,
        };
        Ok(Val { op: Operand::Reg(d), ty: Some(to), range, guarded: v.guarded })
    }
}
