//! Helper calls, local calls and exits.

use super::*;

impl Analyzer<'_> {
    pub(super) fn helper_call(&mut self, st: &mut State, i: usize, id: i32) -> R<()> {
        let spec = u32::try_from(id).ok().and_then(|id| self.helper(id)).ok_or((
            i,
            Rule::Structure(udf_bytecode::CheckErrorKind::UnknownHelper { id }),
            Vec::new(),
        ))?;
        let mut args = [Scalar::TOP; 5];
        for (k, _) in spec.args.iter().enumerate() {
            let Some(r) = Reg::new(k as u8 + 1) else {
                return internal(i, "a helper with more than five arguments");
            };
            let v = Self::read(st, i, r)?;
            if v.kind != ValueKind::Scalar {
                return rej(
                    st,
                    i,
                    Rule::HelperArg { reg: r, need: "a number, not a pointer" },
                    &[r],
                );
            }
            args[k] = v.n;
        }
        if spec.id == HELPER_EMIT.id {
            if args[2].umax > u32::MAX as u64 {
                return rej(
                    st,
                    i,
                    Rule::HelperArg { reg: Reg::R3, need: "an extent kind that fits in 32 bits" },
                    &[Reg::R3],
                );
            }
            if args[0].umax.checked_add(args[1].umax).is_none() {
                return rej(
                    st,
                    i,
                    Rule::HelperArg {
                        reg: Reg::R2,
                        need: "a count whose sum with the start (r1) cannot overflow 64 bits",
                    },
                    &[Reg::R1, Reg::R2],
                );
            }
            st.emits += 1;
        }
        // The helper may end the run (it stops or fails): an exit path.
        self.path_ends(st);
        for r in 1..=5 {
            st.regs[r] = Value::UNINIT;
        }
        // The contract bounds the result: `0 <= r0 <= ret_max`.
        Self::set_scalar(st, i, Reg::R0, Scalar::urange(0, spec.ret_max), None);
        Ok(())
    }

    /// The helper `id` if this program may call it (its type's set, or the configured one).
    pub(super) fn helper(&self, id: u32) -> Option<&'static HelperSpec> {
        self.conf.helper_set().iter().find(|h| h.id == id)
    }

    pub(super) fn local_call(&mut self, i: usize, slot: &mut Option<Flow>) -> R<()> {
        let Some(flow) = slot.take() else {
            return Ok(());
        };
        let Some((f, (lo, hi))) = self.cfg.target(i).and_then(|t| self.cfg.func_at(t)) else {
            return internal(i, "a local call to no function");
        };
        let depth = flow.st.frames.len();
        if depth >= MAX_FRAMES {
            return rej(&flow.st, i, Rule::CallDepth { depth: depth + 1, max: MAX_FRAMES }, &[]);
        }
        self.max_depth = self.max_depth.max(depth + 1);
        let caller = flow.st.regs;
        let mut callee = flow;
        Self::branch_path(&mut callee, i, true);
        callee.st.frames.push(Rc::new(Frame {
            saved: [caller[6], caller[7], caller[8], caller[9]],
            ..Frame::default()
        }));
        for r in [0, 6, 7, 8, 9] {
            callee.st.regs[r] = Value::UNINIT;
        }
        callee.st.regs[10] = Value {
            kind: ValueKind::Stack { frame: depth as u8 },
            n: Scalar::constant(0),
            sym: None,
        };
        self.returns.push(None);
        self.arrive(&mut callee.st, f.start);
        if self.pending[f.start].is_some() {
            return internal(i, "a call into a function already being analysed");
        }
        self.put(f.start, callee)?;
        self.function(lo as usize, hi as usize)?;
        let Some(mut ret) = self.returns.pop().flatten() else {
            return Ok(());
        };
        // The callee-saved registers come back as they are now (a symbol the callee
        // redefined has died in them), not as they were at the call.
        let Some(frame) = ret.st.frames.pop() else {
            return internal(i, "a return without a frame");
        };
        for r in 1..=5 {
            ret.st.regs[r] = Value::UNINIT;
        }
        ret.st.regs[6..=9].copy_from_slice(&frame.saved);
        if self.conf.planted(Plant::StaleCalleeSaved) {
            ret.st.regs[6..=9].copy_from_slice(&caller[6..=9]);
        }
        ret.st.regs[10] = caller[10];
        *slot = Some(ret);
        Ok(())
    }

    pub(super) fn exit(&mut self, i: usize, slot: &mut Option<Flow>) -> R<()> {
        let Some(mut flow) = slot.take() else {
            return Ok(());
        };
        let depth = flow.st.frames.len();
        let r0 = flow.st.regs[0];
        if depth > 1 {
            // A subprogram's `r0` needs a value only where its caller reads it: an unset one
            // comes back unset, and reading it there is the error.
            if r0.kind == (ValueKind::Stack { frame: depth as u8 - 1 }) {
                return rej(
                    &flow.st,
                    i,
                    Rule::PointerLeak {
                        to: "out of its frame (r0 points into the returning function's stack)",
                    },
                    &[Reg::R0],
                );
            }
            // Pointers into the dying frame left in callers' spills become unreadable.
            let dying = depth as u8 - 1;
            for fr in &mut flow.st.frames[..depth - 1] {
                if !fr.spills.iter().any(|(_, v)| v.kind == ValueKind::Stack { frame: dying }) {
                    continue;
                }
                let fr = Rc::make_mut(fr);
                let places: Vec<state::Place> = fr
                    .spills
                    .iter()
                    .filter(|(_, v)| v.kind == ValueKind::Stack { frame: dying })
                    .map(|(p, _)| *p)
                    .collect();
                for p in places {
                    fr.clobber(p.lo as usize, p.hi());
                }
            }
            let Some(slot) = self.returns.last_mut() else {
                return internal(i, "a return outside a call");
            };
            match slot {
                None => *slot = Some(flow),
                Some(s) => s.join(flow, self.conf, None),
            }
            return Ok(());
        }
        if !self.conf.fragment_exits.contains(&i) {
            match r0.kind {
                ValueKind::Uninit => {
                    return rej(&flow.st, i, Rule::UninitRead { reg: Reg::R0 }, &[Reg::R0]);
                }
                ValueKind::Scalar => {}
                _ => {
                    return rej(
                        &flow.st,
                        i,
                        Rule::PointerLeak { to: "as the result (r0 is a pointer)" },
                        &[Reg::R0],
                    );
                }
            }
        }
        self.path_ends(&flow.st);
        Ok(())
    }
}
