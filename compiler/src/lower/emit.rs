//! Emission through the program builder, errors, and the limits on one entry point's size
//! and depth.

use super::*;

impl Lower<'_, '_> {
    pub(super) fn emit(&mut self, i: Insn) {
        self.code.set_origin(self.span);
        self.code.emit(i);
    }

    pub(super) fn label(&mut self) -> Label {
        self.code.label()
    }

    pub(super) fn bind(&mut self, l: Label) {
        self.code.bind(l);
    }

    /// `goto l`, unless control cannot reach here (code after `return` or `break` is not given
    /// a useless jump).
    pub(super) fn ja(&mut self, l: Label) {
        if self.code.reachable() {
            self.code.set_origin(self.span);
            self.code.ja(l);
        }
    }

    pub(super) fn jump(&mut self, cond: JmpCond, dst: Reg, src: Source, l: Label) {
        self.code.set_origin(self.span);
        self.code.jump_if(Width::W64, cond, dst, src, l);
    }

    pub(super) fn error(&mut self, d: Diagnostic) -> Reported {
        self.diags.push(d);
        Reported
    }

    pub(super) fn finish(&mut self) -> Result<(Program, SourceMap), Diagnostic> {
        // Accept and reject exits (used by filters; harmless, unreachable, elsewhere).
        if self.kind == EntryKind::Filter {
            self.bind(self.accept);
            self.emit(mov(Reg::R0, Source::Imm(ACCEPT_LEN)));
            self.emit(Insn::Exit);
            self.bind(self.reject);
            self.emit(mov(Reg::R0, Source::Imm(0)));
            self.emit(Insn::Exit);
        }
        self.code.drop_jumps_to_next();
        match self.code.finish() {
            Ok((prog, spans)) => Ok((prog, SourceMap { spans })),
            Err(BuildError::TooFar { at, .. }) => Err(Diagnostic::new(
                "udf::unsupported::size",
                "the program is too large for a 16-bit jump",
            )
            .label(self.code.origin_of(at).copied().unwrap_or(self.span), "this jump")),
            Err(e) => Err(Diagnostic::new("udf::compiler_bug", format!("{e}"))),
        }
    }

    /// Whether the entry point has grown past a size limit.
    pub(super) fn over(&self) -> bool {
        self.code.len() > MAX_INSNS || self.lowered > MAX_LOWERED
    }

    pub(super) fn size_error(&self, at: Span, label: &str) -> Diagnostic {
        let what = if self.code.len() > MAX_INSNS {
            format!("more than {MAX_INSNS} instructions")
        } else {
            format!("more than {MAX_LOWERED} statements and expressions, helpers inlined")
        };
        Diagnostic::new("udf::limit::size", format!("this makes the entry point compile to {what}"))
            .label(at, label.to_string())
            .help("split the work over several entry points, or write less code in it")
    }

    /// Enters one level of the lowering's recursion (an expression, a statement, a condition):
    /// refused past [`MAX_DEPTH`] levels, or once the entry point is too large.
    pub(super) fn enter(&mut self, span: Span) -> Lowered<()> {
        if self.diags.len() > self.diags_base + MAX_ENTRY_ERRORS {
            self.poisoned = true;
            return Err(Reported);
        }
        if self.over() {
            if self.crossed_in.is_none()
                && let (Some(s), Some(n)) = (self.call_spans.last(), self.inlining.last())
            {
                self.crossed_in = Some((*s, n.clone()));
            }
            self.poisoned = true;
            return Err(Reported);
        }
        // The levels bound the stack the lowering needs; the stack itself is measured too, as
        // a last guard (it differs between builds, so it is not the limit programs meet).
        let used = self.stack_base.abs_diff(stack_position());
        if self.nest >= MAX_DEPTH || used > STACK_GUARD {
            if self.limit_reported {
                self.poisoned = true;
                return Err(Reported);
            }
            self.limit_reported = true;
            let mut d = Diagnostic::new(
                "udf::limit::depth",
                format!("this nests deeper than the compiler's limit of {MAX_DEPTH} levels"),
            )
            .label(span, "the limit is reached here");
            // The outermost call first: that is what the entry point's author wrote.
            for (s, n) in self.call_spans.iter().zip(&self.inlining).take(4) {
                d = d.label(*s, format!("inside `{n}`, inlined here"));
            }
            return Err(self.error(d.help(format!(
                "helpers are inlined, so their bodies nest inside the expression that calls \
                 them; split the expression with `let`, or call fewer helpers inside each \
                 other (at most {MAX_DEPTH} levels)"
            ))));
        }
        self.nest += 1;
        self.lowered += 1;
        Ok(())
    }

    /// Runs `body` inside `levels` levels of the recursion (refused as [`Lower::enter`]
    /// refuses): one for an expression, [`INLINE_LEVELS`] for an inlined helper's body.
    pub(super) fn nested<T>(
        &mut self,
        span: Span,
        levels: usize,
        body: impl FnOnce(&mut Self) -> Lowered<T>,
    ) -> Lowered<T> {
        self.nest += levels - 1;
        let r = self.enter(span).and_then(|()| {
            let r = body(self);
            self.nest -= 1;
            r
        });
        self.nest -= levels - 1;
        r
    }

    /// Runs `body` one level deeper, its instructions attributed to `span`.
    pub(super) fn nested_at<T>(
        &mut self,
        span: Span,
        body: impl FnOnce(&mut Self) -> Lowered<T>,
    ) -> Lowered<T> {
        self.nested(span, 1, |l| {
            let saved = l.span;
            l.span = span;
            let r = body(l);
            l.span = saved;
            r
        })
    }
}

pub(super) fn mov(dst: Reg, src: Source) -> Insn {
    Insn::Alu { width: Width::W64, op: AluOp::Mov, dst, src }
}

pub(super) fn alu(width: Width, op: AluOp, dst: Reg, src: Source) -> Insn {
    Insn::Alu { width, op, dst, src }
}

pub(super) fn imm_fits(v: u64) -> Option<i32> {
    let s = v as i64;
    (s >= i32::MIN as i64 && s <= i32::MAX as i64).then_some(s as i32)
}

pub(super) fn size_of_bytes(n: u32) -> Size {
    match n {
        1 => Size::B,
        2 => Size::H,
        4 => Size::W,
        _ => Size::DW,
    }
}
