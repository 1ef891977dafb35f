//! Calls to helpers, inlined: arguments bound as variables, `return` as a jump to the end.

use super::*;

impl Lower<'_, '_> {
    /// Inlines a call (inside [`Lower::nested`], for [`INLINE_LEVELS`] levels: its arguments
    /// and body take more stack than a level of an expression).
    pub(super) fn inline_call(
        &mut self,
        f: &crate::ast::Ident,
        args: &[Expr],
        depth: usize,
        span: Span,
    ) -> Lowered<Val> {
        let Some(def) = self.items.fns.get(&f.name).copied() else {
            return Err(self.error(
                Diagnostic::new("udf::name::unknown", format!("no function `{}`", f.name))
                    .label(f.span, "not defined"),
            ));
        };
        if self.inlining.contains(&f.name) {
            // Reported once as udf::fn::recursion; the entry point is not finished, so no
            // second error follows.
            self.poisoned = true;
            return Err(Reported);
        }
        if self.over() {
            self.poisoned = true;
            return Err(Reported); // reported by the outermost call
        }
        if def.params.len() != args.len() {
            return Err(self.error(
                Diagnostic::new(
                    "udf::fn::arity",
                    format!(
                        "`{}` takes {} argument(s), {} given",
                        f.name,
                        def.params.len(),
                        args.len()
                    ),
                )
                .label(span, "this call")
                .label(def.name.span, "defined here"),
            ));
        }
        if self.items.emitting.contains(&f.name) {
            if !self.may_emit() {
                return Err(self.error(
                    Diagnostic::new(
                        "udf::entry::emit",
                        format!("`{}` calls `emit`, which only `owns` entry points may", f.name),
                    )
                    .label(span, "called here"),
                ));
            }
            if depth > self.frames.last().expect("a frame").base_depth {
                return Err(self.error(
                    Diagnostic::new(
                        "udf::entry::emit",
                        format!("`{}` calls `emit`, so it must be called on its own", f.name),
                    )
                    .label(span, "inside a larger expression")
                    .help("call it as a statement, or bind its result first: `let v = f(...);`"),
                ));
            }
        }
        let ret = match &def.ret {
            Some(t) => Some(self.scalar_type(t)?),
            None => None,
        };
        // Arguments, evaluated in order into fresh variables.
        let mark = self.vars.len();
        let mut ok = true;
        let mut new_vars = Vec::new();
        for (p, a) in def.params.iter().zip(args) {
            let r = (|| {
                let t = self.scalar_type(&p.ty)?;
                let v = self.eval(a, depth)?;
                self.expect(v, t, a.span)?;
                let v = self.normalize_imm(v, t);
                let home = self.alloc_home(a.span)?;
                self.store(home, v.op, depth)?;
                Ok(Var {
                    name: p.name.name.clone(),
                    kind: VarKind::Scalar { home, ty: t, mutable: false },
                    range: v.range,
                    guarded: v.guarded,
                })
            })();
            match r {
                Ok(v) => {
                    self.vars.push(v.clone());
                    new_vars.push(v);
                }
                Err(Reported) => ok = false,
            }
        }
        if !ok {
            self.pop_scope(mark);
            return Err(Reported);
        }
        // The body sees only its parameters (and constants): hide the caller's variables.
        let hidden: Vec<Var> = self.vars.drain(..mark).collect();
        let dst = self.temp(depth)?;
        let end = self.label();
        self.frames.push(Frame {
            ret: Some((end, dst, ret)),
            loops_base: self.loops.len(),
            base_depth: depth,
        });
        self.inlining.push(f.name.clone());
        self.call_spans.push(span);
        let pkt = self.pkt;
        let v = if ret.is_some() {
            self.block(&def.body, depth)
        } else {
            self.block_effect(&def.body, depth).map(|()| None)
        };
        if self.over() && self.crossed_in.is_none() {
            self.crossed_in = Some((span, f.name.clone()));
        }
        self.call_spans.pop();
        self.inlining.pop();
        self.frames.pop();
        if self.over() && self.inlining.is_empty() && !self.limit_reported {
            // Report at the call the entry point makes, and name where the limit was crossed.
            self.limit_reported = true;
            let what = if self.code.len() > MAX_INSNS {
                format!("more than {MAX_INSNS} instructions")
            } else {
                format!("more than {MAX_LOWERED} inlined statements and expressions")
            };
            let mut d = Diagnostic::new(
                "udf::limit::inline",
                format!("inlining `{}` here makes the entry point {what}", f.name),
            )
            .label(span, "this call");
            if let Some((s, n)) = self.crossed_in.take()
                && s != span
            {
                d = d.label(s, format!("the limit is crossed inlining `{n}` here"));
            }
            d = d.help(
                "helpers are inlined at every call, so helpers that call others more than \
                 once grow exponentially: call each one once and reuse the result, or use a \
                 loop",
            );
            self.diags.push(d);
        }
        let r = match (v, ret) {
            (Ok(Some(v)), Some(t)) => {
                self.span = def.body.tail.as_ref().map_or(def.body.span, |t| t.span);
                let tail_span = self.span;
                self.expect(v, t, tail_span).and_then(|()| {
                    let v = self.normalize_imm(v, t);
                    self.materialize(v.op, depth).map(|_| ())
                })
            }
            (Ok(None), Some(_)) if !ends_in_return(&def.body) => Err(self.error(
                Diagnostic::new(
                    "udf::type::mismatch",
                    format!("`{}` must end in its result", f.name),
                )
                .label(def.body.span, "no value at the end"),
            )),
            (Ok(_), _) => Ok(()),
            (Err(e), _) => Err(e),
        };
        self.bind(end);
        self.pkt = self.pkt.meet(pkt);
        let n = self.vars.len();
        let mut restored = hidden;
        restored.extend(self.vars.drain(..n));
        self.vars = restored;
        self.pop_scope(mark);
        r?;
        Ok(Val {
            op: Operand::Reg(dst),
            ty: ret.or(Some(ScalarType::U64)),
            range: ret.and_then(type_range),
            guarded: false,
        })
    }
}
