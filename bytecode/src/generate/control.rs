//! Control flow: diamonds and bounded loops, with the counter indexing stack or context.

use alloc::vec::Vec;

use super::*;

impl Gen<'_> {
    pub(super) fn t_diamond(&mut self, f: &mut FnCtx, room: usize) -> bool {
        if room < 8 || f.arm_depth >= 2 {
            return false;
        }
        // An arm that exits runs only when an input value equals a constant, so the code after
        // the diamond stays reachable.
        let input = self.input_reg(f).filter(|_| self.rng.chance(1, 6));
        let (a, w, cond, src) = match input {
            Some(a) => (a, Width::W64, JmpCond::Ne, Source::Imm(self.rng.below(16) as i32)),
            None => {
                let Some(a) = self.scalar_reg(f) else {
                    return false;
                };
                let src = match self.scalar_reg(f) {
                    Some(b) if b != a && self.rng.chance(1, 3) => Source::Reg(b),
                    _ => Source::Imm(if self.rng.chance(1, 2) {
                        self.rng.below(64) as i32
                    } else {
                        self.rng.imm32()
                    }),
                };
                (a, width(self.rng), self.rng.pick(&JmpCond::ALL), src)
            }
        };
        let l_else = f.b.label();
        f.b.branch(jmp(w, cond, a, src), l_else);
        let s0 = f.st.clone();
        f.arm_depth += 1;
        let arm = (room - 4) / 2;
        let budget = self.rng.below(arm.min(12) as u64 + 1) as usize;
        self.segment(f, budget);
        if input.is_some() {
            // an early exit
            f.b.emit(movi(Reg::R0, self.rng.below(3) as i32));
            f.b.emit(Insn::Exit);
            f.st.dead = true;
        }
        let s1 = core::mem::replace(&mut f.st, s0.clone());
        if self.rng.chance(1, 2) {
            let l_join = f.b.label();
            if !s1.dead {
                f.b.branch(Insn::Ja { off: 0 }, l_join);
            }
            f.b.bind(l_else);
            let budget = self.rng.below(arm.min(12) as u64 + 1) as usize;
            self.segment(f, budget);
            let s2 = core::mem::replace(&mut f.st, s0);
            f.b.bind(l_join);
            f.st = State::meet(&s1, &s2);
        } else {
            f.b.bind(l_else);
            f.st = State::meet(&s1, &s0);
        }
        f.arm_depth -= 1;
        self.feats.diamonds += 1;
        true
    }

    pub(super) fn pick_counter(&mut self, f: &FnCtx, avoid_args: bool) -> Option<Reg> {
        let ok = |g: &Self, r: Reg| g.can_write(f, r, Val::Scalar) && !Self::protected(f, r);
        let hi: Vec<Reg> = REGS[6..10].iter().copied().filter(|&r| ok(self, r)).collect();
        if !hi.is_empty() {
            return Some(self.rng.pick(&hi));
        }
        if avoid_args {
            return None;
        }
        let lo: Vec<Reg> = REGS[0..6].iter().copied().filter(|&r| ok(self, r)).collect();
        (!lo.is_empty()).then(|| self.rng.pick(&lo))
    }

    /// A loop: counted up or down, `while` or `do`, bounded by a constant or a masked value,
    /// sometimes indexing an array with its counter; or, as a flaw, one without a bound.
    pub(super) fn t_loop(&mut self, f: &mut FnCtx, room: usize) -> bool {
        if room < 10 || f.loop_depth >= 2 {
            return false;
        }
        let unbounded = self.flaw_now(f, Flaw::UnboundedLoop);
        let idx_flaw = !unbounded && self.flaw_now(f, Flaw::LoopIndexOffByOne);
        // Instructions outside the body: setup, checks and tail (6 + 3), an index (20), a call (10).
        let mut overhead = 9;
        let calls = (self.emit_helper || f.depth < MAX_CALL_DEPTH)
            && !self.force
            && room >= overhead + 12
            && self.clobber_ok(f)
            && self.rng.chance(1, 3);
        if calls {
            overhead += 10;
            self.ensure_saved(f);
        }
        let Some(c) = self.pick_counter(f, calls) else {
            return false;
        };
        // Pinned from here on, so that length checks before the loop keep off them.
        let saved_pins = f.pinned;
        f.pinned |= bit(c);
        // 0 up do-while, 1 down do-while, 2 up while, 3 masked do-while, 4 masked while
        let kind = if unbounded {
            self.rng.below(5) + 10
        } else if idx_flaw {
            self.rng.below(3) // a constant bound, so the last index is reached
        } else {
            self.rng.below(5)
        };
        let span = if self.rng.chance(1, 2) { 8 } else { 20 };
        let mut n = 1 + self.rng.below(span) as i32;
        if idx_flaw || kind == 11 {
            n = n.max(3) | 1; // odd, at least 3
        }
        // A bound register: masked value for kinds 3/4, the constant for some up loops, the
        // data-dependent value for the forever loop.
        let mut bound: Option<Reg> = None;
        let mut hi = n - 1; // counter range in the body is [lo, hi]
        match kind {
            1 => hi = n,
            3 | 4 => {
                let mask = self.rng.pick(&[1, 3, 7, 15, 7]);
                let Some(b) = self.pick_bound(f, calls) else {
                    f.pinned = saved_pins;
                    return false;
                };
                f.pinned |= bit(b);
                let src_ctx =
                    self.rng.chance(1, 2) && self.ctx_reg(f).is_some() && self.ensure_len(f, 1);
                if src_ctx {
                    let (p, o) = self.ctx_reg(f).unwrap_or((Reg::R1, 0));
                    let lim = self.fixed.unwrap_or(f.st.len_min).min(4096);
                    let a = self.rng.below(lim.max(1) as u64) as i32;
                    f.b.emit(ldx(Size::B, b, p, a - o));
                } else {
                    match self.scalar_reg(f) {
                        Some(s) => f.b.emit(mov(b, s)),
                        None => f.b.emit(movi(b, self.rng.imm32())),
                    }
                }
                f.b.emit(alu64(AluOp::And, b, Source::Imm(mask)));
                f.set(b, Val::Scalar);
                bound = Some(b);
                hi = (mask - 1).max(0);
            }
            0 if self.rng.chance(1, 5) => {
                if let Some(b) = self.pick_bound(f, calls) {
                    f.pinned |= bit(b);
                    f.b.emit(movi(b, n));
                    f.set(b, Val::Scalar);
                    bound = Some(b);
                }
            }
            _ => {}
        }
        // Indexing plan.
        let mut index = Index::None;
        if !unbounded && (idx_flaw || self.rng.chance(2, 5)) && room >= overhead + 22 {
            overhead += 20;
            index = self.plan_index(f, hi, idx_flaw);
        }
        // Counter start.
        match kind {
            1 | 13 => f.b.emit(movi(c, n)),
            // not zero for some input
            14 => match self.pick_where(f, |v| v == Val::Input || v == Val::Len) {
                Some(s) => f.b.emit(mov(c, s)),
                None => f.b.emit(movi(c, 1)),
            },
            _ => {
                if self.rng.chance(1, 6) {
                    f.b.emit(alu(Width::W32, AluOp::Mov, c, Source::Imm(0)));
                } else {
                    f.b.emit(movi(c, 0));
                }
            }
        }
        f.set(c, Val::Scalar);
        let mut head_state = f.st.clone();
        if calls {
            for i in 1..=5 {
                head_state.regs[i] = Val::Uninit;
            }
        }
        f.st = head_state.clone();
        f.heads.push(head_state.clone());
        let head = f.b.here();
        let exit = f.b.label();
        let is_while = matches!(kind, 2 | 4 | 14);
        match kind {
            2 => match (bound, self.rng.below(3)) {
                (_, 0) => f.b.branch(jmp(Width::W64, JmpCond::Gt, c, Source::Imm(n - 1)), exit),
                (_, 1) => f.b.branch(jmp(Width::W64, JmpCond::Sge, c, Source::Imm(n)), exit),
                _ => f.b.branch(jmp(Width::W64, JmpCond::Ge, c, Source::Imm(n)), exit),
            },
            4 => {
                let b = bound.unwrap_or(c);
                f.b.branch(jmp(Width::W64, JmpCond::Ge, c, Source::Reg(b)), exit);
            }
            14 => f.b.branch(jmp(Width::W64, JmpCond::Eq, c, Source::Imm(0)), exit),
            _ => {}
        }
        f.loop_depth += 1;
        if f.loop_depth == 2 {
            self.feats.nested_loops += 1;
        }
        let body = room.saturating_sub(overhead).min(6 + self.rng.below(24) as usize);
        let first = self.rng.below(body as u64 / 2 + 1) as usize;
        self.segment(f, first);
        if calls && !(self.emit_helper && self.t_helper(f, false)) {
            let r = room.saturating_sub(overhead);
            self.t_call(f, r);
        }
        if index != Index::None && self.index_access(f, c, index) {
            self.feats.indexed_loops += 1;
            if idx_flaw {
                self.planted(Flaw::LoopIndexOffByOne);
            }
        }
        let used = self.total(f);
        let rest_end = used + body.saturating_sub(first);
        self.segment(f, rest_end.saturating_sub(used));
        f.loop_depth -= 1;
        // Tail.
        match kind {
            0 => {
                f.b.emit(addi(c, 1));
                let br = match (bound, self.rng.below(5)) {
                    (Some(b), _) => jmp(Width::W64, JmpCond::Lt, c, Source::Reg(b)),
                    (None, 0) => jmp(Width::W32, JmpCond::Lt, c, Source::Imm(n)),
                    (None, 1) => jmp(Width::W64, JmpCond::Ne, c, Source::Imm(n)),
                    (None, 2) => jmp(Width::W64, JmpCond::Le, c, Source::Imm(n - 1)),
                    _ => jmp(Width::W64, JmpCond::Lt, c, Source::Imm(n)),
                };
                f.b.branch(br, head);
            }
            1 => {
                if self.rng.chance(1, 2) {
                    f.b.emit(alu64(AluOp::Sub, c, Source::Imm(1)));
                } else {
                    f.b.emit(addi(c, -1));
                }
                let br = match self.rng.below(4) {
                    0 => jmp(Width::W64, JmpCond::Gt, c, Source::Imm(0)),
                    1 => jmp(Width::W64, JmpCond::Sgt, c, Source::Imm(0)),
                    2 => jmp(Width::W32, JmpCond::Ne, c, Source::Imm(0)),
                    _ => jmp(Width::W64, JmpCond::Ne, c, Source::Imm(0)),
                };
                f.b.branch(br, head);
            }
            2 | 4 | 14 => {
                if kind != 14 {
                    f.b.emit(addi(c, 1));
                }
                f.b.branch(Insn::Ja { off: 0 }, head);
            }
            3 => {
                f.b.emit(addi(c, 1));
                let b = bound.unwrap_or(c);
                f.b.branch(jmp(Width::W64, JmpCond::Lt, c, Source::Reg(b)), head);
            }
            // Flaws: no increment; step over an odd `!=` bound; `!= 0` after counting up;
            // unsigned `>= 0` after counting down.
            10 => f.b.branch(jmp(Width::W64, JmpCond::Lt, c, Source::Imm(n)), head),
            11 => {
                f.b.emit(addi(c, 2));
                f.b.branch(jmp(Width::W64, JmpCond::Ne, c, Source::Imm(n)), head);
            }
            12 => {
                f.b.emit(addi(c, 1));
                f.b.branch(jmp(Width::W64, JmpCond::Ne, c, Source::Imm(0)), head);
            }
            _ => {
                f.b.emit(addi(c, -1));
                f.b.branch(jmp(Width::W64, JmpCond::Ge, c, Source::Imm(0)), head);
            }
        }
        if is_while {
            f.b.bind(exit);
            f.st = State::meet(&head_state, &f.st);
        }
        f.heads.pop();
        f.pinned = saved_pins;
        self.feats.loops += 1;
        if unbounded {
            self.planted(Flaw::UnboundedLoop);
        }
        true
    }

    pub(super) fn pick_bound(&mut self, f: &FnCtx, calls: bool) -> Option<Reg> {
        let exclude = if calls { 0b11_1111 } else { 0 };
        let cands: Vec<Reg> = REGS[..10]
            .iter()
            .copied()
            .filter(|&r| {
                exclude & bit(r) == 0 && self.can_write(f, r, Val::Scalar) && !Self::protected(f, r)
            })
            .collect();
        (!cands.is_empty()).then(|| self.rng.pick(&cands))
    }

    /// Chooses and prepares (before the loop) an array the loop indexes with its counter in
    /// `[0, hi]`. With `flaw`, the array has `hi` elements, so the last index is one past it.
    pub(super) fn plan_index(&mut self, f: &mut FnCtx, hi: i32, flaw: bool) -> Index {
        if flaw && hi < 1 {
            return Index::None;
        }
        let elems = if flaw { hi as u32 } else { hi as u32 + 1 };
        let mut e = self.rng.pick(&[1u32, 2, 4, 8, 8, 4]);
        while elems * e > 64 && e > 1 {
            e /= 2;
        }
        let len = elems * e;
        match self.rng.below(4) {
            0 | 1 => {
                let write = self.rng.chance(1, 3);
                // The array [b, b + len): at the top of the frame for the flaw.
                let b = if flaw {
                    -(len as i32)
                } else {
                    let top = (len as i32 + 7) & !7;
                    let room = (512 - top) / 8;
                    -(top + 8 * self.rng.below(room.min(8) as u64 + 1) as i32)
                };
                if write {
                    let lo = sidx(b);
                    let clean = (lo..lo + len as usize).all(|i| {
                        let c = f.st.stack[i];
                        (c == SU || c == SD)
                            && f.heads.last().is_none_or(|h| h.stack[i] != SP)
                            && f.st.stack[i & !7..(i & !7) + 8].iter().all(|&c| c == SU || c == SD)
                    });
                    if !clean {
                        return Index::None;
                    }
                    for t in &mut f.touched[lo..lo + len as usize] {
                        *t = true;
                    }
                    return Index::StackWrite { b, e, n: len };
                }
                // Initialise it with whole-slot stores first.
                let start = b & !7;
                let end = (b + len as i32 + 7) & !7;
                let end = end.min(0);
                let mut a = start;
                while a < end {
                    if !Self::stack_write_ok(f, a, 8, SD) {
                        return Index::None;
                    }
                    a += 8;
                }
                let mut a = start;
                while a < end {
                    if Self::stack_read(f, a, 8) != Some(Val::Scalar) {
                        f.b.emit(st(Size::DW, Reg::R10, a, Source::Imm(self.rng.imm32())));
                        Self::stack_write(f, a, 8, Val::Scalar);
                    }
                    a += 8;
                }
                Index::StackRead { b, e, n: len }
            }
            _ => {
                if self.ctx_reg(f).is_none() {
                    return Index::None;
                }
                match self.fixed {
                    Some(n) => {
                        if n < len || n > 4096 {
                            return Index::None;
                        }
                        let a = if flaw {
                            n - len
                        } else {
                            self.rng.below((n - len + 1) as u64) as u32
                        };
                        Index::Ctx { a, e }
                    }
                    None => {
                        // for the flaw, past what is proven already
                        let a = if flaw {
                            f.st.len_hint + self.rng.below(8) as u32
                        } else {
                            self.rng.below(40) as u32
                        };
                        if self.len_reg(f).is_some() && self.rng.chance(1, 2) {
                            // checked in the body: `end = i*e + a + e - slack; if end > len`
                            let slack = i32::from(flaw);
                            Index::CtxChecked { a, e, slack }
                        } else if self.ensure_len(f, a + len) {
                            Index::Ctx { a, e }
                        } else {
                            Index::None
                        }
                    }
                }
            }
        }
    }

    /// `T = c << log2(e); P = base + T; access [P + off]`.
    pub(super) fn index_access(&mut self, f: &mut FnCtx, c: Reg, index: Index) -> bool {
        let e = match index {
            Index::None => return false,
            Index::StackRead { e, .. }
            | Index::StackWrite { e, .. }
            | Index::Ctx { e, .. }
            | Index::CtxChecked { e, .. } => e,
        };
        // The body may have spilled a pointer into the array since it was planned.
        if let Index::StackRead { b, n, .. } | Index::StackWrite { b, n, .. } = index {
            let lo = sidx(b) & !7;
            let hi = ((sidx(b) + n as usize + 7) & !7).min(512);
            let read = matches!(index, Index::StackRead { .. });
            let clean = f.st.stack[lo..hi].iter().all(|&c| c == SD || (c == SU && !read));
            if !clean {
                return false;
            }
        }
        let ctx = self.ctx_reg(f);
        let (pval, base_reg) = match index {
            Index::StackRead { .. } | Index::StackWrite { .. } => (Val::Stack(0), Reg::R10),
            _ => match ctx {
                Some((p, o)) => (Val::Ctx(o), p),
                None => return false,
            },
        };
        let len = self.len_reg(f);
        let keep = bit(c) | bit(base_reg) | len.map_or(0, bit);
        let Some(t) = self.pick_dst(f, Val::Scalar, keep) else {
            return false;
        };
        let Some(p) = self.pick_dst(f, pval, keep | bit(t)) else {
            return false;
        };
        if !self.can_write(f, p, Val::Junk) {
            return false;
        }
        let mut check = None;
        if let Index::CtxChecked { .. } = index {
            let Some(l) = len else { return false };
            let Some(x) = self.pick_dst(f, Val::Scalar, keep | bit(t) | bit(p)) else {
                return false;
            };
            check = Some((x, l));
        }
        f.b.emit(mov(t, c));
        if e > 1 {
            if self.rng.chance(1, 4) {
                f.b.emit(alu64(AluOp::Mul, t, Source::Imm(e as i32)));
            } else {
                f.b.emit(alu64(AluOp::Lsh, t, Source::Imm(log2(e))));
            }
        }
        f.set(t, Val::Scalar);
        if let (Index::CtxChecked { a, e, slack }, Some((x, l))) = (index, check) {
            f.b.emit(mov(x, t));
            f.b.emit(addi(x, (a + e) as i32 - slack));
            f.set(x, Val::Scalar);
            f.b.branch(jmp(Width::W64, JmpCond::Gt, x, Source::Reg(l)), f.out);
            f.out_used = true;
            self.feats.len_checks += 1;
        }
        f.b.emit(mov(p, base_reg));
        f.b.emit(alu64(AluOp::Add, p, Source::Reg(t)));
        f.set(p, Val::Junk);
        let size = size_of(e);
        match index {
            Index::StackWrite { b, .. } => {
                let src = match self.scalar_reg(f) {
                    Some(r) if self.rng.chance(1, 2) => Source::Reg(r),
                    _ => Source::Imm(self.rng.imm32()),
                };
                f.b.emit(st(size, p, b, src));
            }
            _ => {
                let off = match index {
                    Index::StackRead { b, .. } => b,
                    Index::Ctx { a, .. } | Index::CtxChecked { a, .. } => {
                        let o = match pval {
                            Val::Ctx(o) => o,
                            _ => 0,
                        };
                        self.feats.ctx_reads += 1;
                        a as i32 - o
                    }
                    _ => 0,
                };
                let d = self.pick_dst(f, Val::Scalar, bit(c)).unwrap_or(t);
                f.b.emit(ldx(size, d, p, off));
                f.set(
                    d,
                    if matches!(index, Index::StackRead { .. }) { Val::Scalar } else { Val::Input },
                );
            }
        }
        true
    }
}
