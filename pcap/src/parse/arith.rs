//! Arithmetic and comparisons: `pnum`, `byte`, `rel` and grammar.y's arithmetic precedence.

use super::*;

impl<'a> Parser<'a> {
    /// `pnum: NUM | ( pnum )`.
    pub(super) fn pnum(&mut self) -> Result<(u32, Span), Diagnostic> {
        if matches!(self.tok(), Tok::Punct(Punct::LParen)) {
            let open = self.bump();
            let (n, _) = self.pnum()?;
            if !matches!(self.tok(), Tok::Punct(Punct::RParen)) {
                return Err(self.expected("`)`").label(open, "to close this `(`"));
            }
            let close = self.bump();
            return Ok((n, open.to(close)));
        }
        self.raw_num("a number")
    }

    pub(super) fn raw_num(&mut self, what: &str) -> Result<(u32, Span), Diagnostic> {
        match *self.tok() {
            Tok::Num(n) => Ok((n, self.bump())),
            _ => Err(self.expected(what)),
        }
    }

    /// `byte N op V`, written as the comparison on `link[N]` that libpcap generates.
    pub(super) fn byte(&mut self) -> Result<Expr, Diagnostic> {
        let start = self.bump();
        let (idx, is) = self.raw_num("a byte offset after `byte`")?;
        let op = match self.tok() {
            Tok::Punct(p @ (Punct::Amp | Punct::Pipe | Punct::Lt | Punct::Gt | Punct::Eq)) => *p,
            _ => return Err(self.expected("one of `=`, `<`, `>`, `&`, `|` after `byte N`")),
        };
        let os = self.bump();
        let (val, vs) = self.raw_num("a byte value")?;
        if val > 255 {
            return Err(too_large("byte value", val, 255, vs, ""));
        }
        let load = Arith::Index {
            proto: (Proto::Link, start),
            index: Box::new(Arith::Num(idx, is)),
            size: 1,
            span: start.to(is),
        };
        let span = start.to(vs);
        let (lhs, op, rhs) = match op {
            Punct::Eq => (load, RelOp::Eq, Arith::Num(val, vs)),
            Punct::Lt => (load, RelOp::Lt, Arith::Num(val, vs)),
            Punct::Gt => (load, RelOp::Gt, Arith::Num(val, vs)),
            _ => (
                Arith::Bin {
                    op: if op == Punct::Amp { ArithOp::And } else { ArithOp::Or },
                    lhs: Box::new(load),
                    rhs: Box::new(Arith::Num(val, vs)),
                    span,
                },
                RelOp::Ne,
                Arith::Num(0, os),
            ),
        };
        Ok(Expr::Rel { lhs, op, rhs, span })
    }

    /// `arith relop arith`.
    pub(super) fn rel(&mut self) -> Result<Expr, Diagnostic> {
        let lhs = self.arith()?;
        let op = match self.tok() {
            Tok::Punct(Punct::Gt) => RelOp::Gt,
            Tok::Punct(Punct::Ge) => RelOp::Ge,
            Tok::Punct(Punct::Eq) => RelOp::Eq,
            Tok::Punct(Punct::Lt) => RelOp::Lt,
            Tok::Punct(Punct::Le) => RelOp::Le,
            Tok::Punct(Punct::Ne) => RelOp::Ne,
            _ => {
                return Err(self
                    .expected("a comparison (`=`, `!=`, `<`, `<=`, `>`, `>=`)")
                    .label(lhs.span(), "this arithmetic expression must be compared"));
            }
        };
        self.bump();
        let rhs = self.arith()?;
        let span = lhs.span().to(rhs.span());
        Ok(Expr::Rel { lhs, op, rhs, span })
    }

    /// An arithmetic expression, with bison's precedence resolution (see the module docs).
    pub(super) fn arith(&mut self) -> Result<Arith, Diagnostic> {
        enum Op {
            Neg(Span),
            Bin(ArithOp),
        }
        fn prec(op: &Op) -> Option<u8> {
            match op {
                Op::Neg(_) => Some(6),
                Op::Bin(b) => binprec(*b),
            }
        }
        fn binprec(b: ArithOp) -> Option<u8> {
            match b {
                ArithOp::Or => Some(1),
                ArithOp::And => Some(2),
                ArithOp::Lsh | ArithOp::Rsh => Some(3),
                ArithOp::Add | ArithOp::Sub => Some(4),
                ArithOp::Mul | ArithOp::Div => Some(5),
                ArithOp::Mod | ArithOp::Xor => None,
            }
        }
        fn reduce(vals: &mut Vec<Arith>, ops: &mut Vec<Op>) {
            let (Some(op), Some(rhs)) = (ops.pop(), vals.pop()) else {
                return;
            };
            match op {
                Op::Neg(s) => {
                    let span = s.to(rhs.span());
                    vals.push(Arith::Neg(Box::new(rhs), span));
                }
                Op::Bin(b) => {
                    let Some(lhs) = vals.pop() else {
                        return;
                    };
                    let span = lhs.span().to(rhs.span());
                    vals.push(Arith::Bin { op: b, lhs: Box::new(lhs), rhs: Box::new(rhs), span });
                }
            }
        }
        self.enter()?;
        let mut vals: Vec<Arith> = Vec::new();
        let mut ops: Vec<Op> = Vec::new();
        loop {
            // Unary minuses nest: each counts as a level.
            let mut minus = 0;
            while matches!(self.tok(), Tok::Punct(Punct::Minus)) {
                self.op()?;
                self.enter()?;
                minus += 1;
                ops.push(Op::Neg(self.bump()));
            }
            vals.push(self.primary()?);
            self.depth -= minus;
            let b = match self.tok() {
                Tok::Punct(Punct::Plus) => ArithOp::Add,
                Tok::Punct(Punct::Minus) => ArithOp::Sub,
                Tok::Punct(Punct::Star) => ArithOp::Mul,
                Tok::Punct(Punct::Slash) => ArithOp::Div,
                Tok::Punct(Punct::Percent) => ArithOp::Mod,
                Tok::Punct(Punct::Amp) => ArithOp::And,
                Tok::Punct(Punct::Pipe) => ArithOp::Or,
                Tok::Punct(Punct::Caret) => ArithOp::Xor,
                Tok::Punct(Punct::Lsh) => ArithOp::Lsh,
                Tok::Punct(Punct::Rsh) => ArithOp::Rsh,
                _ => break,
            };
            self.op()?;
            // Reduce while the operator on the stack wins (bison: equal precedence and
            // %left reduce; no precedence on either side shifts).
            while let Some(top) = ops.last() {
                match (prec(top), binprec(b)) {
                    (Some(t), Some(i)) if t >= i => reduce(&mut vals, &mut ops),
                    _ => break,
                }
            }
            ops.push(Op::Bin(b));
            self.bump();
        }
        while !ops.is_empty() {
            reduce(&mut vals, &mut ops);
        }
        self.leave();
        vals.pop().ok_or_else(|| self.expected("an arithmetic expression"))
    }

    /// A number, `len`, `proto[index[:size]]` or `( arith )`.
    pub(super) fn primary(&mut self) -> Result<Arith, Diagnostic> {
        let s = self.span();
        match self.tok().clone() {
            Tok::Num(n) => {
                self.bump();
                Ok(Arith::Num(n, s))
            }
            Tok::Kw(Kw::Len) => {
                self.bump();
                Ok(Arith::Len(s))
            }
            Tok::Punct(Punct::LParen) => {
                self.bump();
                let inner = self.arith()?;
                if !matches!(self.tok(), Tok::Punct(Punct::RParen)) {
                    return Err(self
                        .expected("an arithmetic operator or `)`")
                        .label(s, "in the arithmetic group opened here"));
                }
                let close = self.bump();
                Ok(with_span(inner, s.to(close)))
            }
            Tok::Kw(Kw::Pname(p)) => {
                self.bump();
                if !matches!(self.tok(), Tok::Punct(Punct::LBrack)) {
                    return Err(
                        self.expected(&format!("`[` after `{}` in arithmetic", self.text(s)))
                    );
                }
                self.bump();
                let index = self.arith()?;
                let mut size = 1u8;
                if matches!(self.tok(), Tok::Punct(Punct::Colon)) {
                    self.bump();
                    let (n, ns) = self.raw_num("a size (1, 2 or 4) after `:`")?;
                    size = match n {
                        1 | 2 | 4 => n as u8,
                        _ => {
                            return Err(Diagnostic::new(
                                VALUE,
                                format!("data size {n} must be 1, 2 or 4"),
                            )
                            .label(ns, "not 1, 2 or 4")
                            .help("`proto[offset:size]` loads a byte, a halfword or a word"));
                        }
                    };
                }
                if !matches!(self.tok(), Tok::Punct(Punct::RBrack)) {
                    return Err(self.expected("`]`"));
                }
                let close = self.bump();
                Ok(Arith::Index { proto: (p, s), index: Box::new(index), size, span: s.to(close) })
            }
            Tok::Kw(Kw::Unsup(f)) => Err(self.unsupported(s, f)),
            _ => Err(self.expected("a number, `len`, `proto[offset]` or `(`")),
        }
    }
}

fn with_span(a: Arith, new: Span) -> Arith {
    match a {
        Arith::Num(n, _) => Arith::Num(n, new),
        Arith::Len(_) => Arith::Len(new),
        Arith::Neg(x, _) => Arith::Neg(x, new),
        Arith::Index { proto, index, size, .. } => Arith::Index { proto, index, size, span: new },
        Arith::Bin { op, lhs, rhs, .. } => Arith::Bin { op, lhs, rhs, span: new },
    }
}
