//! Packet lengths in filters: a read past the captured bytes rejects; the bytes known to be
//! captured on each path, and the test hoisted for the filter's result.

use super::*;

impl Lower<'_, '_> {
    /// Before a scalar packet place is read: make sure its bytes are known to be captured.
    pub(super) fn check_packet(&mut self, p: &Place, _span: Span, depth: usize) -> Lowered<()> {
        let PlaceTy::Scalar(s) = p.ty else {
            return Ok(());
        };
        let end = p.off + s.bytes() as u64;
        match p.base {
            Base::Pkt => self.need_fixed(end, depth),
            Base::Transport => self.need_transport(end, depth),
            _ => Ok(()),
        }
    }

    pub(super) fn need_fixed(&mut self, end: u64, _depth: usize) -> Lowered<()> {
        if end <= self.pkt.fixed {
            return Ok(());
        }
        let Some(i) = imm_fits(end) else {
            // Past every capture (the snap length is far below 2^31): the packet is rejected.
            self.ja(self.reject);
            return Ok(());
        };
        self.jump(JmpCond::Lt, LEN, Source::Imm(i), self.reject);
        self.pkt.fixed = end;
        Ok(())
    }

    pub(super) fn need_transport(&mut self, end: u64, depth: usize) -> Lowered<()> {
        if self.pkt.transport.is_none() {
            self.need_fixed(IPV4 as u64 + 1, depth)?;
            let at = self.code.len();
            self.emit(Insn::Load {
                size: Size::B,
                signed: false,
                dst: TBASE,
                base: CTX,
                off: IPV4 as i16,
            });
            self.emit(alu(Width::W64, AluOp::And, TBASE, Source::Imm(15)));
            self.emit(alu(Width::W64, AluOp::Lsh, TBASE, Source::Imm(2)));
            self.pkt.transport = Some((at, 0));
        }
        let (at, known) = self.pkt.transport.expect("just set");
        if end <= known {
            return Ok(());
        }
        let t = self.temp(depth + 1)?;
        self.emit(mov(t, Source::Reg(TBASE)));
        self.emit(alu(Width::W64, AluOp::Add, t, Source::Imm((IPV4 as u64 + end) as i32)));
        self.jump(JmpCond::Gt, t, Source::Reg(LEN), self.reject);
        self.pkt.transport = Some((at, end));
        Ok(())
    }

    /// `p.u8[off]` and friends: a run-time offset, tested against the captured length.
    pub(super) fn raw_packet(
        &mut self,
        p: Place,
        v: Val,
        ty: PlaceTy,
        span: Span,
        slot: usize,
        depth: usize,
    ) -> Lowered<Place> {
        let PlaceTy::Scalar(s) = ty else {
            return Err(Reported);
        };
        let _ = span;
        if let Operand::Imm(k) = v.op {
            let p = Place { off: p.off + k, ty, ..p };
            if k > u32::MAX as u64 {
                self.ja(self.reject);
            } else {
                self.need_fixed(k + s.bytes() as u64, depth)?;
            }
            return Ok(p);
        }
        let r = self.materialize(v.op, slot)?;
        self.jump(JmpCond::Gt, r, Source::Imm(0x7fff_ffff), self.reject);
        let t = self.temp(slot + 1)?;
        self.emit(mov(t, Source::Reg(r)));
        self.emit(alu(Width::W64, AluOp::Add, t, Source::Imm(s.bytes() as i32)));
        self.jump(JmpCond::Gt, t, Source::Reg(LEN), self.reject);
        Ok(Place { base: Base::Pkt, off: p.off, index: Some(r), ty, order: Order::Be })
    }

    /// Tests up front the furthest byte that every accepting evaluation of `e` reads.
    pub(super) fn hoist_checks(&mut self, e: &Expr, depth: usize) -> Lowered<()> {
        let need = self.truth_reads(e);
        if need.fixed > 0 {
            self.need_fixed(need.fixed, depth)?;
        }
        if need.transport > 0 {
            self.need_transport(need.transport, depth)?;
        }
        Ok(())
    }

    /// Reads that must succeed for `e` to be true.
    pub(super) fn truth_reads(&self, e: &Expr) -> Need {
        match &e.kind {
            ExprKind::Paren(x) => self.truth_reads(x),
            ExprKind::Binary(BinOp::AndAnd, a, b) => self.truth_reads(a).join(self.truth_reads(b)),
            ExprKind::Binary(BinOp::OrOr, a, b) => self.truth_reads(a).meet(self.truth_reads(b)),
            ExprKind::Unary(UnOp::Not, x) => self.mandatory_reads(x),
            _ => self.mandatory_reads(e),
        }
    }

    /// Reads every evaluation of `e` makes, whatever its value.
    pub(super) fn mandatory_reads(&self, e: &Expr) -> Need {
        match &e.kind {
            ExprKind::Paren(x) | ExprKind::Unary(_, x) | ExprKind::Cast(x, _) => {
                self.mandatory_reads(x)
            }
            ExprKind::Binary(BinOp::AndAnd | BinOp::OrOr, a, _) => self.mandatory_reads(a),
            ExprKind::Binary(_, a, b) => self.mandatory_reads(a).join(self.mandatory_reads(b)),
            ExprKind::Field(..) | ExprKind::Index(..) => self.static_read(e).unwrap_or_default(),
            _ => Need::default(),
        }
    }

    /// The bytes a packet field read at a constant place needs.
    pub(super) fn static_read(&self, e: &Expr) -> Option<Need> {
        let (view, field, index) = packet_path(e)?;
        let param = match self.vars.iter().find(|v| matches!(v.kind, VarKind::Packet)) {
            Some(v) => v.name.clone(),
            None => return None,
        };
        if view.0 != param {
            return None;
        }
        let &(l, base) = self.views.get(view.1.as_str())?;
        let f = self.layouts[l].fields.iter().find(|f| f.name == field)?;
        let (size, len) = match &f.ty {
            FieldTy::Scalar(s) => (s.bytes() as u64, None),
            FieldTy::Array(el, n) => (self.items.size_of(el), Some(*n as u64)),
            FieldTy::Layout(_) => return None,
        };
        let k = match (index, len) {
            (None, None) => 0,
            (Some(k), Some(n)) if k < n => k,
            _ => return None,
        };
        let end = f.offset as u64 + k * size + size;
        Some(match base {
            ViewBase::Fixed(o) => Need { fixed: o as u64 + end, transport: 0 },
            ViewBase::Transport => Need { fixed: IPV4 as u64 + 1, transport: end },
        })
    }
}

/// `p.VIEW.FIELD` or `p.VIEW.FIELD[K]`: ((param, view), field, K).
pub(super) fn packet_path(e: &Expr) -> Option<((String, String), String, Option<u64>)> {
    let (inner, index) = match &e.kind {
        ExprKind::Index(b, i) => match i.kind {
            ExprKind::Int(k) => (&**b, Some(k)),
            _ => return None,
        },
        _ => (e, None),
    };
    let ExprKind::Field(v, f) = &inner.kind else {
        return None;
    };
    let ExprKind::Field(p, view) = &v.kind else {
        return None;
    };
    let ExprKind::Name(p) = &p.kind else {
        return None;
    };
    Some(((p.name.clone(), view.name.clone()), f.name.clone(), index))
}

/// Bytes needed: captured from the start, and past the transport header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Need {
    pub(super) fixed: u64,
    pub(super) transport: u64,
}

impl Need {
    pub(super) fn join(self, o: Need) -> Need {
        Need { fixed: self.fixed.max(o.fixed), transport: self.transport.max(o.transport) }
    }
    pub(super) fn meet(self, o: Need) -> Need {
        Need { fixed: self.fixed.min(o.fixed), transport: self.transport.min(o.transport) }
    }
}

impl Pkt {
    /// After a short-circuit condition: what held before it still holds.
    pub(super) fn max_fixed(self, before: Pkt) -> Pkt {
        Pkt { fixed: self.fixed.max(before.fixed), ..self }
    }
}
