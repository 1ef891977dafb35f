//! The transfer function of one instruction: ALU, loads and stores, and what they do to
//! the state and its symbols.

use super::*;

impl Analyzer<'_> {
    pub(super) fn transfer(&mut self, i: usize, slot: &mut Option<Flow>) -> R<()> {
        let insn = self.insns[i];
        let Some(flow) = slot.as_mut() else {
            return Ok(());
        };
        let st = &mut flow.st;
        // What `lsh r, 32` just before left (for this instruction only).
        let shl32 = st.shl32.take();
        // Symbol `i` names the value this instruction produced the last time it ran: it dies
        // now, whatever this run produces (a pointer, a copy, nothing). A load first uses what
        // is known before it runs (its address may be `v{i} + c`: a walk that reads its next
        // offset from the byte the same load read the last time round), then kills it.
        if !matches!(insn, Insn::Load { .. }) && st.may_hold(i as Sym) {
            st.kill_insn(i);
        }
        match insn {
            Insn::Alu { width, op, dst, src } => {
                let (b, b_reg) = match src {
                    Source::Reg(r) => (Self::read(st, i, r)?, Some(r)),
                    Source::Imm(k) => (Value::scalar(Scalar::constant(extend_imm(width, k))), None),
                };
                let regs = [dst, b_reg.unwrap_or(dst)];
                if matches!(op, AluOp::Mov) && width == Width::W64 {
                    st.regs[dst.index()] = b;
                } else if op.is_movsx() || op == AluOp::Mov {
                    if b.is_pointer() {
                        return rej(
                            st,
                            i,
                            Rule::PointerArithmetic {
                                what: "a pointer may only be copied whole (64-bit mov)",
                            },
                            &regs,
                        );
                    }
                    let n = b.n.alu(op, width, &b.n);
                    // The symbol survives only where the move is the identity on every value
                    // `b` may hold (an equal abstract value is not enough).
                    let sym = if move_is_identity(op, width, &b.n)
                        || self.conf.planted(Plant::NarrowMoveKeepsSymbol)
                    {
                        b.sym
                    } else {
                        None
                    };
                    Self::set_scalar(st, i, dst, n, sym);
                } else {
                    let a = Self::read(st, i, dst)?;
                    self.alu(st, i, width, op, dst, a, b, &regs)?;
                    // `lsh r, 32` then `arsh r, 32` (`rsh r, 32`) sign- (zero-) extends the low
                    // 32 bits: where that is the identity on the value before the shift, the
                    // result is that value, its symbol included.
                    let k = b.n.as_const();
                    let k32 = k == Some(32) && width == Width::W64;
                    if k32 && op == AluOp::Lsh && a.kind == ValueKind::Scalar {
                        st.shl32 = Some(Box::new((dst.index() as u8, a)));
                    } else if k32
                        && matches!(op, AluOp::Arsh | AluOp::Rsh)
                        && let Some(&(r, v)) = shl32.as_deref()
                        && r as usize == dst.index()
                    {
                        let (ext, w) = if op == AluOp::Arsh {
                            (AluOp::MovSx32, Width::W64)
                        } else {
                            (AluOp::Mov, Width::W32)
                        };
                        if move_is_identity(ext, w, &v.n) {
                            let n = st.regs[dst.index()].n.meet(&v.n).unwrap_or(v.n);
                            Self::set_scalar(st, i, dst, n, v.sym);
                        }
                    }
                }
            }
            Insn::Neg { width, dst } => {
                let a = Self::read(st, i, dst)?;
                if a.is_pointer() {
                    return rej(
                        st,
                        i,
                        Rule::PointerArithmetic { what: "negating a pointer" },
                        &[dst],
                    );
                }
                Self::set_scalar(st, i, dst, a.n.neg(width), None);
            }
            Insn::End { kind, bits, dst } => {
                let a = Self::read(st, i, dst)?;
                if a.is_pointer() {
                    return rej(
                        st,
                        i,
                        Rule::PointerArithmetic { what: "byte swap of a pointer" },
                        &[dst],
                    );
                }
                let n = a.n.endian(kind, bits);
                // Only `le` of a value that already fits its width leaves it unchanged; a
                // swap changes the value even where the abstract value looks the same.
                let sym = if swap_is_identity(kind, bits, &a.n)
                    || self.conf.planted(Plant::SwapKeepsSymbol)
                {
                    a.sym
                } else {
                    None
                };
                Self::set_scalar(st, i, dst, n, sym);
            }
            Insn::LoadImm64 { dst, imm } => {
                Self::set_scalar(st, i, dst, Scalar::constant(imm), None);
            }
            Insn::LoadPseudo { .. } | Insn::CallKfunc { .. } => {
                // Refused by the structural checks before the analysis starts.
                return rej(
                    st,
                    i,
                    Rule::Structure(udf_bytecode::CheckErrorKind::Unsupported {
                        what: "map, variable, code or kfunc references",
                    }),
                    &[],
                );
            }
            Insn::Load { size, signed, dst, base, off } => {
                let p = Self::read(st, i, base)?;
                let n = size.bytes();
                self.note_access(i, p.kind);
                let v = match p.kind {
                    ValueKind::Ctx => {
                        self.check_ctx(st, i, base, &p, off, n)?;
                        Ok(if signed {
                            Scalar::signed_bits(8 * n as u32)
                        } else {
                            Scalar::unsigned_bits(8 * n as u32)
                        })
                    }
                    ValueKind::Stack { frame } if frame as usize >= st.frames.len() => {
                        return rej(st, i, Rule::NotAPointer { reg: base }, &[base]);
                    }
                    ValueKind::Stack { frame } => {
                        match self.stack_read(st, i, base, frame, &p.n, off, n, signed)? {
                            Ok(whole) => Err(whole),
                            Err(n) => Ok(n),
                        }
                    }
                    _ => return rej(st, i, Rule::NotAPointer { reg: base }, &[base]),
                };
                if st.may_hold(i as Sym) {
                    st.kill_insn(i);
                }
                match v {
                    Ok(n) => Self::set_scalar(st, i, dst, n, None),
                    // A value spilled whole comes back as it was, its symbol included unless
                    // that is the one just killed.
                    Err(mut whole) => {
                        if matches!(whole.sym, Some((s, _)) if s == i as Sym) {
                            whole.sym = None;
                        }
                        if whole.kind == ValueKind::Scalar {
                            Self::set_scalar(st, i, dst, whole.n, whole.sym);
                        } else {
                            st.regs[dst.index()] = whole;
                        }
                    }
                }
            }
            Insn::Store { size, base, off, src } => {
                let p = Self::read(st, i, base)?;
                let (v, regs) = match src {
                    Source::Reg(r) => (Self::read(st, i, r)?, [base, r]),
                    Source::Imm(k) => {
                        (Value::scalar(Scalar::constant(k as i64 as u64)), [base, base])
                    }
                };
                self.note_access(i, p.kind);
                match p.kind {
                    ValueKind::Ctx => return rej(st, i, Rule::ReadOnly, &regs),
                    ValueKind::Stack { frame } if frame as usize >= st.frames.len() => {
                        return rej(st, i, Rule::NotAPointer { reg: base }, &[base]);
                    }
                    ValueKind::Stack { frame } => {
                        self.stack_write(st, i, &regs, frame, &p.n, off, size.bytes(), v)?
                    }
                    _ => return rej(st, i, Rule::NotAPointer { reg: base }, &regs),
                }
            }
            Insn::Atomic { size, op, fetch, base, off, src } => {
                let p = Self::read(st, i, base)?;
                let v = Self::read(st, i, src)?;
                let regs = [base, src];
                if v.is_pointer() {
                    return rej(
                        st,
                        i,
                        Rule::PointerLeak { to: "into memory through an atomic operation" },
                        &regs,
                    );
                }
                let n = size.bytes();
                self.note_access(i, p.kind);
                let old = match p.kind {
                    ValueKind::Ctx => return rej(st, i, Rule::ReadOnly, &regs),
                    ValueKind::Stack { frame } if frame as usize >= st.frames.len() => {
                        return rej(st, i, Rule::NotAPointer { reg: base }, &[base]);
                    }
                    ValueKind::Stack { frame } => {
                        // The old value must be a readable number; what the slot holds is
                        // what a fetch returns.
                        let (old, old_sym) =
                            match self.stack_read(st, i, base, frame, &p.n, off, n, false)? {
                                Ok(w) if w.is_pointer() => {
                                    return rej(st, i, Rule::PartialPointer, &regs);
                                }
                                Ok(w) => (w.n, w.sym),
                                Err(x) => (x, None),
                            };
                        if op == AtomicOp::CmpXchg {
                            let r0 = Self::read(st, i, Reg::R0)?;
                            if r0.is_pointer() {
                                return rej(st, i, Rule::PointerCompare, &[Reg::R0]);
                            }
                        }
                        // The value stored: the operation on the old value at the access
                        // width (`cmpxchg` stores either).
                        let w = if n == 8 { Width::W64 } else { Width::W32 };
                        let new = match op {
                            AtomicOp::Add => old.alu(AluOp::Add, w, &v.n),
                            AtomicOp::Or => old.alu(AluOp::Or, w, &v.n),
                            AtomicOp::And => old.alu(AluOp::And, w, &v.n),
                            AtomicOp::Xor => old.alu(AluOp::Xor, w, &v.n),
                            AtomicOp::Xchg => v.n.alu(AluOp::Mov, w, &v.n),
                            AtomicOp::CmpXchg => old.join(&v.n.alu(AluOp::Mov, w, &v.n)),
                        };
                        // The engines' atomics come only in 4 and 8 bytes; keep the width's
                        // bits whatever the size.
                        let new = if n < 4 { Scalar::unsigned_bits(8 * n as u32) } else { new };
                        self.stack_write(st, i, &regs, frame, &p.n, off, n, Value::scalar(new))?;
                        (old, old_sym)
                    }
                    _ => return rej(st, i, Rule::NotAPointer { reg: base }, &regs),
                };
                let (old, old_sym) = old;
                if op == AtomicOp::CmpXchg {
                    Self::set_scalar(st, i, Reg::R0, old, old_sym);
                } else if fetch || op.always_fetches() {
                    Self::set_scalar(st, i, src, old, old_sym);
                }
            }
            Insn::LoadAbs { size, .. } | Insn::LoadInd { size, .. } => {
                if let Insn::LoadInd { src, .. } = insn {
                    let x = Self::read(st, i, src)?;
                    if x.is_pointer() {
                        return rej(
                            st,
                            i,
                            Rule::PointerArithmetic { what: "a pointer as LD_IND index" },
                            &[src],
                        );
                    }
                }
                // Out of bounds, the program ends here returning 0.
                self.path_ends(st);
                Self::set_scalar(
                    st,
                    i,
                    Reg::R0,
                    Scalar::unsigned_bits(8 * size.bytes() as u32),
                    None,
                );
            }
            Insn::Ja { .. } | Insn::Ja32 { .. } => {
                let Some(t) = self.cfg.target(i) else {
                    return internal(i, "a jump without a target");
                };
                if let Some(f) = slot.take() {
                    self.flow(i, t, f)?;
                }
                return Ok(());
            }
            Insn::Jump { width, cond, dst, src, .. } => {
                return self.jump(i, slot, width, cond, dst, src);
            }
            Insn::Call { imm } => self.helper_call(st, i, imm)?,
            Insn::CallReg { reg } => {
                let v = Self::read(st, i, reg)?;
                match (v.kind, v.n.as_const()) {
                    (ValueKind::Scalar, Some(id))
                        if u32::try_from(id).is_ok_and(|id| self.helper(id).is_some()) =>
                    {
                        self.helper_call(st, i, id as i32)?
                    }
                    _ => return rej(st, i, Rule::CallxUnknown, &[reg]),
                }
            }
            Insn::CallLocal { .. } => return self.local_call(i, slot),
            Insn::Exit => return self.exit(i, slot),
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn alu(
        &self,
        st: &mut State,
        i: usize,
        width: Width,
        op: AluOp,
        dst: Reg,
        a: Value,
        b: Value,
        regs: &[Reg],
    ) -> R<()> {
        if self.conf.reject_division_by_zero
            && matches!(op, AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod)
            && b.kind == ValueKind::Scalar
            && b.n.alu(AluOp::Mov, width, &b.n).contains(0)
        {
            return rej(st, i, Rule::DivisionByZero, regs);
        }
        match (a.is_pointer(), b.is_pointer()) {
            (false, false) => {
                let n = a.n.alu(op, width, &b.n);
                let n = if self.conf.planted(Plant::AndBelowMin)
                    && op == AluOp::And
                    && width == Width::W64
                {
                    Scalar::urange(0, b.n.umin).meet(&n).unwrap_or(n)
                } else {
                    n
                };
                let sym = match (width, op, a.sym, b.n.as_const()) {
                    (Width::W64, AluOp::Add, Some(s), Some(c))
                        if self.conf.planted(Plant::AddSymbolWraps) =>
                    {
                        Some((s.0, s.1.wrapping_add(c as i64)))
                    }
                    (Width::W64, AluOp::Sub, Some(s), Some(c))
                        if self.conf.planted(Plant::SubSymbolSign) =>
                    {
                        shift(&a, s, c as i64)
                    }
                    (Width::W32, AluOp::Add, Some(s), Some(c))
                        if self.conf.planted(Plant::Add32Unchecked) =>
                    {
                        Some((s.0, s.1.wrapping_add(c as u32 as i32 as i64)))
                    }
                    _ => scalar_sym(width, op, &a, &b),
                };
                Self::set_scalar(st, i, dst, n, sym);
                // The sum of two named numbers, where it cannot wrap: remembered.
                if let (None, Width::W64, AluOp::Add, Some((sa, oa)), Some((sb, ob))) =
                    (sym, width, op, a.sym, b.sym)
                    && a.n.as_const().is_none()
                    && b.n.as_const().is_none()
                    && a.n.umax.checked_add(b.n.umax).is_some()
                    && let Some(c) = oa.checked_add(ob)
                    && st.relational()
                {
                    st.add_sum((i as Sym, sa, sb, c));
                }
            }
            (true, false) if width == Width::W64 && matches!(op, AluOp::Add | AluOp::Sub) => {
                let n = a.n.alu(op, width, &b.n);
                let sym = ptr_sym(&a, &b, op).or_else(|| ptr_sum(st, i, &a, &b, op));
                st.regs[dst.index()] = Value { kind: a.kind, n, sym };
            }
            (false, true) if width == Width::W64 && op == AluOp::Add => {
                let n = a.n.alu(op, width, &b.n);
                let sym = ptr_sym(&b, &a, op).or_else(|| ptr_sum(st, i, &b, &a, op));
                st.regs[dst.index()] = Value { kind: b.kind, n, sym };
            }
            (true, true) if width == Width::W64 && op == AluOp::Sub && a.kind == b.kind => {
                let n = a.n.alu(op, width, &b.n);
                Self::set_scalar(st, i, dst, n, None);
            }
            _ => {
                return rej(
                    st,
                    i,
                    Rule::PointerArithmetic {
                        what: "only 64-bit pointer + number, pointer - number and the difference of two pointers into the same region",
                    },
                    regs,
                );
            }
        }
        Ok(())
    }
}
