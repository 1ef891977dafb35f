//! Bodies, blocks and statements: `let`, assignments, `if`, `for`, `break`, `return`.

use super::*;

impl Lower<'_, '_> {
    pub(super) fn body(&mut self, def: &EntryDef, block: &Block) {
        let _ = self.block_inner(block, 0, true);
        self.span = block.span;
        let has_result = tail_of(block).is_some() || ends_in_return(block);
        match def.kind {
            EntryKind::Owns => {
                self.emit(mov(Reg::R0, Source::Imm(0)));
                self.emit(Insn::Exit);
            }
            EntryKind::Filter if !has_result => self.diags.push(
                Diagnostic::new(
                    "udf::type::expected_bool",
                    "a filter's body must end in a bool: true accepts the packet",
                )
                .label(block.span, "this block has no value"),
            ),
            EntryKind::Acl | EntryKind::Size if !has_result => self.diags.push(
                Diagnostic::new(
                    "udf::type::mismatch",
                    format!("a `{}` body must end in its result", def.kind.keyword()),
                )
                .label(block.span, "this block has no value"),
            ),
            _ => {}
        }
    }

    /// Lowers a block for its value (`None` when it has none).
    pub(super) fn block(&mut self, b: &Block, depth: usize) -> Lowered<Option<Val>> {
        self.block_inner(b, depth, false)
    }

    /// Lowers a block for its effects: a trailing `if` is a statement.
    pub(super) fn block_effect(&mut self, b: &Block, depth: usize) -> Lowered<()> {
        let scope = self.open_scope();
        let mut failed = false;
        for s in &b.stmts {
            failed |= self.stmt(s, depth).is_err();
        }
        if let Some(t) = &b.tail {
            failed |= self.effect(t, depth).is_err();
        }
        self.close_scope(scope);
        if failed { Err(Reported) } else { Ok(()) }
    }

    /// `top`: the entry's own block, whose value (except for `owns`) is the program's result.
    pub(super) fn block_inner(
        &mut self,
        b: &Block,
        depth: usize,
        top: bool,
    ) -> Lowered<Option<Val>> {
        let scope = self.open_scope();
        let result = top && self.kind != EntryKind::Owns;
        let n = b.stmts.len();
        let mut failed = false;
        let mut value = Ok(None);
        for (k, s) in b.stmts.iter().enumerate() {
            // A final block-like statement without `;` is the block's value.
            if k + 1 == n
                && b.tail.is_none()
                && let Stmt::Expr { expr, semi: false } = s
                && expr.is_block_like()
                && (result || !top)
            {
                value = if result {
                    self.ret_entry(expr).map(|()| None)
                } else {
                    self.eval(expr, depth).map(Some)
                };
                break;
            }
            if self.stmt(s, depth).is_err() {
                failed = true;
            }
        }
        if let Some(t) = &b.tail {
            value = if result {
                self.ret_entry(t).map(|()| None)
            } else {
                self.eval(t, depth).map(Some)
            };
        }
        self.close_scope(scope);
        if failed { Err(Reported) } else { value }
    }

    pub(super) fn ret_entry(&mut self, e: &Expr) -> Lowered<()> {
        let span = self.span;
        self.span = e.span;
        let r = match self.kind {
            EntryKind::Filter => {
                self.hoist_checks(e, 0)?;
                self.cond(e, false, self.reject, 0)?;
                self.ja(self.accept);
                Ok(())
            }
            EntryKind::Acl => {
                let v = self.eval(e, 0)?;
                self.expect(v, ScalarType::Bool, e.span)?;
                self.emit_ret(v)
            }
            EntryKind::Size | EntryKind::Owns => {
                let v = self.eval(e, 0)?;
                self.expect(v, ScalarType::U64, e.span)?;
                self.emit_ret(v)
            }
        };
        self.span = span;
        r
    }

    pub(super) fn emit_ret(&mut self, v: Val) -> Lowered<()> {
        match v.op {
            Operand::Reg(r) if r == Reg::R0 => {}
            Operand::Reg(r) => self.emit(mov(Reg::R0, Source::Reg(r))),
            Operand::Imm(x) => self.load_const(Reg::R0, x),
        }
        self.emit(Insn::Exit);
        Ok(())
    }

    pub(super) fn stmt(&mut self, s: &Stmt, depth: usize) -> Lowered<()> {
        self.enter(stmt_span(s))?;
        let saved = self.span;
        let r = self.stmt_inner(s, depth);
        self.span = saved;
        self.nest -= 1;
        if self.over() && !self.limit_reported && self.inlining.is_empty() {
            self.limit_reported = true;
            let d = self.size_error(stmt_span(s), "this statement crosses the limit");
            return Err(self.error(d));
        }
        r
    }

    pub(super) fn stmt_inner(&mut self, s: &Stmt, depth: usize) -> Lowered<()> {
        match s {
            Stmt::Let { mutable, name, ty, value, span } => {
                self.span = *span;
                let declared = match ty {
                    Some(t) => Some(self.scalar_type(t)?),
                    None => None,
                };
                let v = self.eval(value, depth);
                let (ty, v) = match (declared, v) {
                    // A value of the wrong type is reported, and the name is still bound at
                    // its declared type so later uses do not cascade into more errors.
                    (Some(t), Ok(v)) => match self.expect(v, t, value.span) {
                        Ok(()) => (t, Some(v)),
                        Err(Reported) => (t, None),
                    },
                    (None, Ok(v)) => (v.ty.unwrap_or(ScalarType::U64), Some(v)),
                    (Some(t), Err(_)) => (t, None),
                    (None, Err(_)) => (ScalarType::U64, None),
                };
                let home = self.alloc_home(*span)?;
                if let Some(v) = v {
                    let op = match (v.op, ty) {
                        (Operand::Imm(x), t) => Operand::Imm(t.normalize(x)),
                        (o, _) => o,
                    };
                    self.store(home, op, depth)?;
                }
                self.vars.push(Var {
                    name: name.name.clone(),
                    kind: VarKind::Scalar { home, ty, mutable: *mutable },
                    range: if *mutable { None } else { v.and_then(|v| v.range) },
                    guarded: !*mutable && v.is_some_and(|v| v.guarded),
                });
                if v.is_none() {
                    return Err(Reported);
                }
                Ok(())
            }
            Stmt::Assign { target, op, value, span } => {
                self.span = *span;
                let Some(i) = self.lookup(&target.name) else {
                    return Err(self.unknown(&target.name, target.span));
                };
                let (home, ty, mutable) = match self.vars[i].kind {
                    VarKind::Scalar { home, ty, mutable } => (home, ty, mutable),
                    _ => {
                        return Err(self.error(
                            Diagnostic::new(
                                "udf::assign::immutable",
                                format!("`{}` is a parameter and cannot be assigned", target.name),
                            )
                            .label(target.span, "not a variable"),
                        ));
                    }
                };
                if !mutable {
                    return Err(self.error(
                        Diagnostic::new(
                            "udf::assign::immutable",
                            format!("`{}` is not mutable", target.name),
                        )
                        .label(target.span, "assigned here")
                        .help(format!("declare it with `let mut {}`", target.name)),
                    ));
                }
                let v = match op {
                    None => {
                        let v = self.eval(value, depth)?;
                        self.expect(v, ty, value.span)?;
                        match v.op {
                            Operand::Imm(x) => Val { op: Operand::Imm(ty.normalize(x)), ..v },
                            _ => v,
                        }
                    }
                    Some(op) => {
                        let cur = self.read_var(i, depth)?;
                        let vals = self.operands(*op, cur, value, depth, *span)?;
                        self.arith(*op, vals, depth)?
                    }
                };
                self.store(home, v.op, depth)
            }
            Stmt::Expr { expr, .. } => {
                self.span = expr.span;
                self.effect(expr, depth)
            }
            Stmt::For { var, start, end, max, body, span } => {
                self.span = *span;
                self.for_loop(var, start, end, max.as_ref(), body, depth)
            }
            Stmt::Return(e, span) => {
                self.span = *span;
                self.ret(e.as_ref(), *span, depth)
            }
            Stmt::Break(span) | Stmt::Continue(span) => {
                self.span = *span;
                let base = self.frames.last().expect("a frame").loops_base;
                let Some(&(brk, cont)) = self.loops.get(base..).and_then(|l| l.last()) else {
                    return Err(self.error(
                        Diagnostic::new(
                            "udf::loop::outside",
                            "`break` and `continue` belong inside a loop",
                        )
                        .label(*span, "not in a loop"),
                    ));
                };
                self.ja(if matches!(s, Stmt::Break(_)) { brk } else { cont });
                Ok(())
            }
            Stmt::Error(_) => {
                // A syntax error, reported by the parser.
                self.poisoned = true;
                Err(Reported)
            }
        }
    }

    pub(super) fn ret(&mut self, e: Option<&Expr>, span: Span, depth: usize) -> Lowered<()> {
        let frame = self.frames.last().expect("a frame");
        if let Some((label, reg, ty)) = frame.ret {
            // Inside an inlined helper.
            match (e, ty) {
                (Some(e), Some(t)) => {
                    let v = self.eval(e, depth)?;
                    self.expect(v, t, e.span)?;
                    let v = self.normalize_imm(v, t);
                    self.store(Home::Reg(reg), v.op, depth)?;
                }
                (None, None) => {}
                (Some(e), None) => {
                    return Err(self.error(
                        Diagnostic::new("udf::type::mismatch", "this function returns nothing")
                            .label(e.span, "a value"),
                    ));
                }
                (None, Some(t)) => {
                    return Err(self.error(
                        Diagnostic::new(
                            "udf::type::mismatch",
                            format!("this function returns `{}`", t.name()),
                        )
                        .label(span, "no value"),
                    ));
                }
            }
            self.ja(label);
            return Ok(());
        }
        match (self.kind, e) {
            (EntryKind::Owns, None) => {
                self.emit(mov(Reg::R0, Source::Imm(0)));
                self.emit(Insn::Exit);
                Ok(())
            }
            (_, Some(e)) => self.ret_entry(e),
            (_, None) => Err(self.error(
                Diagnostic::new(
                    "udf::type::mismatch",
                    format!("a `{}` entry returns a value", self.kind.keyword()),
                )
                .label(span, "no value"),
            )),
        }
    }

    pub(super) fn normalize_imm(&self, v: Val, t: ScalarType) -> Val {
        match v.op {
            Operand::Imm(x) => Val { op: Operand::Imm(t.normalize(x)), ty: Some(t), ..v },
            _ => Val { ty: Some(t), ..v },
        }
    }

    pub(super) fn for_loop(
        &mut self,
        var: &crate::ast::Ident,
        start: &Expr,
        end: &Expr,
        max: Option<&Expr>,
        body: &Block,
        depth: usize,
    ) -> Lowered<()> {
        let lo = self.const_count(start, "a loop's start")?;
        let mark = self.vars.len();
        // Bound: a constant end, or a run-time end capped by `max`.
        let (limit, hi) = match max {
            None => match self.const_value(end) {
                Some(v) => (None, v),
                None => {
                    return Err(self.error(
                        Diagnostic::new(
                            "udf::loop::bound",
                            "a loop's end must be a constant, or bounded with `max`",
                        )
                        .label(end.span, "not known when compiling")
                        .help("write `for k in 0..EXPR max N` to run at most N times"),
                    ));
                }
            },
            Some(m) => {
                let n = self.const_count(m, "a loop's `max`")?;
                let v = self.eval(end, depth)?;
                self.expect(v, ScalarType::U64, end.span)?;
                let home = self.alloc_home(end.span)?;
                self.store(home, v.op, depth)?;
                self.vars.push(Var {
                    name: String::from(" limit"),
                    kind: VarKind::Scalar { home, ty: ScalarType::U64, mutable: false },
                    range: None,
                    guarded: false,
                });
                (Some(self.vars.len() - 1), lo.saturating_add(n))
            }
        };
        let home = self.alloc_home(var.span)?;
        self.store(home, Operand::Imm(lo), depth)?;
        self.fors.push((self.span, hi.saturating_sub(lo)));
        let counter = self.vars.len();
        self.vars.push(Var {
            name: var.name.clone(),
            kind: VarKind::Scalar { home, ty: ScalarType::U64, mutable: false },
            range: (hi > lo).then(|| (lo, hi - 1)),
            guarded: false,
        });
        let head = self.label();
        let cont = self.label();
        let exit = self.label();
        let pkt = self.pkt;
        self.bind(head);
        let k = self.read_var(counter, depth)?;
        let Operand::Reg(kr) = k.op else { unreachable!("a variable is in a register") };
        if let Some(hi) = imm_fits(hi) {
            self.jump(JmpCond::Ge, kr, Source::Imm(hi), exit);
        } else {
            let t = self.temp(depth + 1)?;
            self.load_const(t, hi);
            self.jump(JmpCond::Ge, kr, Source::Reg(t), exit);
        }
        if let Some(li) = limit {
            let l = self.read_var(li, depth + 1)?;
            let Operand::Reg(lr) = l.op else { unreachable!("a variable is in a register") };
            self.jump(JmpCond::Ge, kr, Source::Reg(lr), exit);
        }
        self.loops.push((exit, cont));
        let r = self.block_effect(body, depth);
        self.loops.pop();
        self.bind(cont);
        self.span = var.span;
        match home {
            Home::Reg(r) => self.emit(alu(Width::W64, AluOp::Add, r, Source::Imm(1))),
            Home::Stack(_) => {
                let k = self.read_var(counter, depth)?;
                let t = self.materialize(k.op, depth)?;
                self.emit(alu(Width::W64, AluOp::Add, t, Source::Imm(1)));
                self.store(home, Operand::Reg(t), depth)?;
            }
        }
        self.ja(head);
        self.bind(exit);
        self.pkt = pkt;
        self.pop_scope(mark);
        r.map(|_| ())
    }
}

pub(super) fn tail_of(b: &Block) -> Option<&Expr> {
    match (&b.tail, b.stmts.last()) {
        (Some(t), _) => Some(t),
        (None, Some(Stmt::Expr { expr, semi: false })) if expr.is_block_like() => Some(expr),
        _ => None,
    }
}

pub(super) fn stmt_span(s: &Stmt) -> Span {
    match s {
        Stmt::Let { span, .. }
        | Stmt::Assign { span, .. }
        | Stmt::For { span, .. }
        | Stmt::Return(_, span)
        | Stmt::Break(span)
        | Stmt::Continue(span)
        | Stmt::Error(span) => *span,
        Stmt::Expr { expr, .. } => expr.span,
    }
}

pub(super) fn ends_in_return(b: &Block) -> bool {
    matches!(b.stmts.last(), Some(Stmt::Return(..)))
}

/// Source-like text of a simple expression, for help lines.
pub(super) fn expr_text(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Name(n) => n.name.clone(),
        ExprKind::Int(v) => v.to_string(),
        _ => "INDEX".to_string(),
    }
}
