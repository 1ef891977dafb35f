//! Places: layout fields, array elements, packet bytes; reading them in the byte order
//! they are declared with.

use super::*;

impl Lower<'_, '_> {
    pub(super) fn read_place(&mut self, e: &Expr, depth: usize) -> Lowered<Val> {
        let p = self.place(e, depth)?;
        let PlaceTy::Scalar(s) = p.ty else {
            return Err(self.error(
                Diagnostic::new("udf::type::mismatch", "this is not a scalar")
                    .label(e.span, "read a field or element of it"),
            ));
        };
        let dst = self.temp(depth)?;
        let range = type_range(s);
        match p.base {
            Base::Len => {
                return Ok(Val {
                    op: Operand::Reg(LEN),
                    ty: Some(ScalarType::U32),
                    range: None,
                    guarded: false,
                });
            }
            Base::Wire => {
                return Ok(Val {
                    op: Operand::Reg(WIRE),
                    ty: Some(ScalarType::U32),
                    range: None,
                    guarded: false,
                });
            }
            Base::Ctx | Base::Pkt => {
                let (base, off) = match p.index {
                    None => (CTX, p.off),
                    Some(r) => {
                        self.emit(alu(Width::W64, AluOp::Add, r, Source::Reg(CTX)));
                        (r, p.off)
                    }
                };
                self.load(dst, base, off, s, p.order)?;
            }
            Base::Transport => {
                let r = match p.index {
                    Some(r) => r,
                    None => {
                        let r = self.temp(depth + 1)?;
                        self.emit(mov(r, Source::Reg(TBASE)));
                        r
                    }
                };
                self.emit(alu(Width::W64, AluOp::Add, r, Source::Reg(CTX)));
                self.load(dst, r, p.off + IPV4 as u64, s, p.order)?;
            }
        }
        Ok(Val { op: Operand::Reg(dst), ty: Some(s), range, guarded: false })
    }

    pub(super) fn load(
        &mut self,
        dst: Reg,
        base: Reg,
        off: u64,
        s: ScalarType,
        order: Order,
    ) -> Lowered<()> {
        let off = match i16::try_from(off) {
            Ok(o) => o,
            Err(_) => {
                let Ok(step) = i32::try_from(off) else {
                    return Err(self.error(
                        Diagnostic::new(
                            "udf::layout::out_of_range",
                            format!("this reads byte {off} of the object, past the largest offset an instruction reaches (2^31 - 1)"),
                        )
                        .label(self.span, "this read")
                        .help("keep layouts below 2^31 bytes (an `acl`'s object starts after its 16-byte request)"),
                    ));
                };
                // Far fields: move the base first.
                if base == CTX {
                    self.emit(mov(dst, Source::Reg(CTX)));
                }
                let b = if base == CTX { dst } else { base };
                self.emit(alu(Width::W64, AluOp::Add, b, Source::Imm(step)));
                return self.load(dst, b, 0, s, order);
            }
        };
        let size = size_of_bytes(s.bytes());
        let swap = order == Order::Be && s.bytes() > 1;
        self.emit(Insn::Load {
            size,
            signed: s.signed() && !swap && s.bits() < 64,
            dst,
            base,
            off,
        });
        if swap {
            let bits = match s.bytes() {
                2 => SwapBits::B16,
                4 => SwapBits::B32,
                _ => SwapBits::B64,
            };
            self.emit(Insn::End { kind: Endian::Be, bits, dst });
            if s.signed() {
                self.normalize(dst, s);
            }
        }
        if s == ScalarType::Bool {
            self.emit(alu(Width::W64, AluOp::And, dst, Source::Imm(1)));
        }
        Ok(())
    }

    /// Resolves a field/index chain to a place. Dynamic indexes leave a byte offset in a
    /// temporary above `depth`; packet places are length-checked on the way.
    pub(super) fn place(&mut self, e: &Expr, depth: usize) -> Lowered<Place> {
        self.nested(e.span, 1, |l| l.place_inner(e, depth))
    }

    pub(super) fn place_inner(&mut self, e: &Expr, depth: usize) -> Lowered<Place> {
        match &e.kind {
            ExprKind::Paren(x) => self.place(x, depth),
            ExprKind::Name(n) => {
                let Some(i) = self.lookup(&n.name) else {
                    return Err(self.unknown(&n.name, n.span));
                };
                match self.vars[i].kind {
                    VarKind::Object { layout, offset } => Ok(Place {
                        base: Base::Ctx,
                        off: offset as u64,
                        index: None,
                        ty: PlaceTy::Layout(layout),
                        order: Order::Le,
                    }),
                    VarKind::Packet => Ok(Place {
                        base: Base::Pkt,
                        off: 0,
                        index: None,
                        ty: PlaceTy::Packet,
                        order: Order::Be,
                    }),
                    VarKind::Scalar { .. } => Err(self.error(
                        Diagnostic::new(
                            "udf::type::mismatch",
                            format!("`{}` has no fields", n.name),
                        )
                        .label(n.span, "a scalar"),
                    )),
                }
            }
            ExprKind::Field(b, f) => {
                let p = self.place(b, depth)?;
                match p.ty {
                    PlaceTy::Packet => self.packet_member(f, e.span),
                    PlaceTy::Layout(l) => {
                        let layout = &self.layouts[l];
                        let Some(field) = layout.fields.iter().find(|x| x.name == f.name) else {
                            let names: Vec<&str> =
                                layout.fields.iter().map(|x| x.name.as_str()).collect();
                            let lname = layout.name.clone();
                            return Err(self.error(
                                Diagnostic::new(
                                    "udf::name::unknown",
                                    format!("`{lname}` has no field `{}`", f.name),
                                )
                                .label(f.span, "no such field")
                                .help(format!("its fields: {}", names.join(", "))),
                            ));
                        };
                        let ty = match &field.ty {
                            FieldTy::Scalar(s) => PlaceTy::Scalar(*s),
                            FieldTy::Layout(i) => PlaceTy::Layout(*i),
                            FieldTy::Array(el, n) => PlaceTy::Array((**el).clone(), *n),
                        };
                        let p =
                            Place { off: p.off + field.offset as u64, ty, order: field.order, ..p };
                        self.check_packet(&p, e.span, depth)?;
                        Ok(p)
                    }
                    _ => Err(self.error(
                        Diagnostic::new("udf::type::mismatch", "this has no fields")
                            .label(b.span, "not a layout"),
                    )),
                }
            }
            ExprKind::Index(b, idx) => {
                let p = self.place(b, depth)?;
                let (elem, n) = match &p.ty {
                    PlaceTy::Array(el, n) => (el.clone(), Some(*n)),
                    PlaceTy::Raw(s) => (FieldTy::Scalar(*s), None),
                    _ => {
                        return Err(self.error(
                            Diagnostic::new("udf::type::mismatch", "only arrays can be indexed")
                                .label(b.span, "not an array"),
                        ));
                    }
                };
                let esize = self.items.size_of(&elem).max(match &elem {
                    FieldTy::Layout(i) => self.layouts[*i].size as u64,
                    _ => 0,
                });
                let ty = match &elem {
                    FieldTy::Scalar(s) => PlaceTy::Scalar(*s),
                    FieldTy::Layout(i) => PlaceTy::Layout(*i),
                    FieldTy::Array(el, n) => PlaceTy::Array((**el).clone(), *n),
                };
                let slot = depth + 1 + usize::from(p.index.is_some());
                let v = self.eval(idx, slot)?;
                if let Some(t) = v.ty
                    && (!t.is_int() || t.signed())
                {
                    return Err(self.error(
                        Diagnostic::new(
                            "udf::type::mismatch",
                            format!("an index is an unsigned integer, not `{}`", t.name()),
                        )
                        .label(idx.span, "this index"),
                    ));
                }
                if n.is_none() {
                    // Raw packet bytes: any offset, checked against the captured length.
                    return self.raw_packet(p, v, ty, idx.span, slot, depth);
                }
                let n = n.expect("arrays have a length") as u64;
                if let Operand::Imm(k) = v.op {
                    if k >= n {
                        return Err(self.error(
                            Diagnostic::new(
                                "udf::index::out_of_range",
                                format!("index {k} is past the end of an array of {n}"),
                            )
                            .label(idx.span, format!("valid indexes are 0..{n}")),
                        ));
                    }
                    let p = Place { off: p.off + k * esize, ty, ..p };
                    self.check_packet(&p, e.span, depth)?;
                    return Ok(p);
                }
                match v.range {
                    Some((_, hi)) if hi < n => {}
                    _ => {
                        let name = expr_text(idx);
                        return Err(self.error(
                            Diagnostic::new(
                                "udf::index::unproven",
                                format!("cannot prove this index is below {n}"),
                            )
                            .label(idx.span, "may be out of range")
                            .help(format!(
                                "guard the access: `if {name} < {n} {{ ... }}`, or mask it"
                            )),
                        ));
                    }
                }
                // The byte offset of the element, in a temporary the place owns.
                let r = self.materialize(v.op, slot)?;
                if v.guarded {
                    // The bound came from a guard the verifier may not have seen on this
                    // register: restate it (a no-op for every value the guard lets through).
                    let ok = self.label();
                    self.jump(JmpCond::Le, r, Source::Imm((n - 1) as i32), ok);
                    self.emit(mov(r, Source::Imm((n - 1) as i32)));
                    self.bind(ok);
                }
                if esize.is_power_of_two() {
                    if esize > 1 {
                        self.emit(alu(
                            Width::W64,
                            AluOp::Lsh,
                            r,
                            Source::Imm(esize.trailing_zeros() as i32),
                        ));
                    }
                } else {
                    self.emit(alu(Width::W64, AluOp::Mul, r, Source::Imm(esize as i32)));
                }
                let index = match p.index {
                    Some(prev) => {
                        self.emit(alu(Width::W64, AluOp::Add, prev, Source::Reg(r)));
                        Some(prev)
                    }
                    None => Some(r),
                };
                if p.base != Base::Ctx {
                    return Err(self.error(
                        Diagnostic::new(
                            "udf::unsupported::index",
                            "variable indexes into packet views are not supported",
                        )
                        .label(idx.span, "use a constant, or p.u8[offset]"),
                    ));
                }
                Ok(Place { index, ty, ..p })
            }
            _ => Err(self.error(
                Diagnostic::new("udf::type::mismatch", "this has no fields")
                    .label(e.span, "not a layout"),
            )),
        }
    }

    pub(super) fn packet_member(&mut self, f: &crate::ast::Ident, span: Span) -> Lowered<Place> {
        if let Some((&name, &(l, base))) = self.views.get_key_value(f.name.as_str()) {
            self.used_views.insert(name);
            return Ok(match base {
                ViewBase::Fixed(o) => Place {
                    base: Base::Pkt,
                    off: o as u64,
                    index: None,
                    ty: PlaceTy::Layout(l),
                    order: Order::Be,
                },
                ViewBase::Transport => Place {
                    base: Base::Transport,
                    off: 0,
                    index: None,
                    ty: PlaceTy::Layout(l),
                    order: Order::Be,
                },
            });
        }
        if let Some(&(_, s)) = packet::RAW.iter().find(|(n, _)| *n == f.name) {
            return Ok(Place {
                base: Base::Pkt,
                off: 0,
                index: None,
                ty: PlaceTy::Raw(s),
                order: Order::Be,
            });
        }
        match f.name.as_str() {
            "len" => Ok(Place {
                base: Base::Len,
                off: 0,
                index: None,
                ty: PlaceTy::Scalar(ScalarType::U32),
                order: Order::Le,
            }),
            "wirelen" => Ok(Place {
                base: Base::Wire,
                off: 0,
                index: None,
                ty: PlaceTy::Scalar(ScalarType::U32),
                order: Order::Le,
            }),
            _ => {
                let mut names: Vec<&str> = packet::VIEWS.iter().map(|v| v.0).collect();
                names.extend(packet::RAW.iter().map(|r| r.0));
                names.extend(["len", "wirelen"]);
                Err(self.error(
                    Diagnostic::new("udf::name::unknown", format!("a packet has no `{}`", f.name))
                        .label(span, "no such view")
                        .help(format!("packet members: {}", names.join(", "))),
                ))
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Base {
    Ctx,
    Pkt,
    Transport,
    Len,
    Wire,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum PlaceTy {
    Scalar(ScalarType),
    Layout(usize),
    Array(FieldTy, u32),
    Raw(ScalarType),
    Packet,
}

#[derive(Clone, Debug)]
pub(super) struct Place {
    pub(super) base: Base,
    pub(super) off: u64,
    /// A register holding a byte offset to add (dynamic indexes).
    pub(super) index: Option<Reg>,
    pub(super) ty: PlaceTy,
    pub(super) order: Order,
}
