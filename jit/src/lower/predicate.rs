//! The if-converted (predicated, branch-free) lowering of a direct filter
//! ([`crate::Jit::compile_filter`]): the whole program becomes one straight block of
//! Cranelift IR, every conditional jump a predicate instead of a branch.
//!
//! Only for programs [`predicable`] accepts: forward jumps only (so slot order is a
//! topological order of the control-flow graph), no calls, no atomics, every access placed
//! by the verifier, at most [`MAX_INSNS`] instructions. The instructions are visited in slot
//! order:
//! - each slot reached by at least one edge gets a *path predicate*, the OR of the predicates
//!   of its incoming edges (the entry's is "true", kept as `None` so that nothing is tested);
//!   a slot no edge reaches is dead and emits nothing;
//! - each register at a slot with several incoming edges is a chain of `select`s over the
//!   edges, by edge predicate (the edges into a slot are exclusive: one run takes one path);
//! - a conditional jump splits the predicate `p` into `p & c` (to the target) and `p & !c`
//!   (falling through); `ja` passes `p` on; the result is the `r0` of the exit whose
//!   predicate holds: exactly one does on every run, so the exit with the heaviest predicate
//!   is the default and its predicate is never computed;
//! - arithmetic is total in every mode (division by zero, `INT_MIN / -1` and shifts are made
//!   total by the shared lowering in [`super`]), so computing it on a path not taken traps
//!   on nothing;
//! - memory: the verifier proved each access in bounds only on the paths that reach it. A load
//!   under a predicate that is not "always" reads from `select(ok, address, safe)`, where `ok`
//!   is computed from the address alone (its `n` bytes lie in the region the verifier placed
//!   the access in: the packet, the one stack frame, or either) and `safe` is the native
//!   stack pointer (the bytes from it up belong to live frames of this thread, at least a
//!   return address or a saved register: 8 readable bytes, the widest load). Its value is
//!   used only where the predicate holds, and where it holds the verifier's bounds do, so
//!   `ok` holds too and the load reads what the interpreter reads; and since `ok` does not
//!   depend on the predicates, loads do not wait for the compares before them. A store
//!   writes to `select(p, address, scratch)`, `scratch` an 8-byte slot of the function's own
//!   frame, so a store on a path not taken changes nothing the program can see (the
//!   verifier's stack slot is written only on the path taken, in program order). Classic
//!   packet loads (`ldabs`, `ldind`) whose bounds test fails are exits with result 0 under
//!   `p & !ok`;
//! - packets at least as long as the span of the fixed-offset loads ([`fixed_span`], tested
//!   once at entry; shorter ones run the branchy code in the same function) need no bounds
//!   test for those loads, and the program's tests of the length against constants up to the
//!   span are decided there (the paths they rule out vanish).

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I8, I64};
use cranelift_codegen::ir::{InstBuilder, StackSlotData, StackSlotKind, Value};
use udf_bytecode::insn::{JmpCond, Reg, Size, Source};
use udf_bytecode::semantics::{extend_imm, packet_offset};
use udf_bytecode::{Insn, Program};
use udf_runtime::{CTX_BASE, STACK_FRAME, STACK_TOP};
use udf_verifier::Access;

use super::{Lower, in_frame, mem_flags, size_bytes, size_type};

/// The most instructions a predicated filter may have: every instruction runs on every
/// packet, so a long program pays for all its paths. The benchmark's filters have 23 to 41.
pub(crate) const MAX_INSNS: usize = 64;

/// Whether `prog` (verified, with `access` the verifier's placement per instruction) can be
/// if-converted: at most `max` instructions, every jump forward and inside the program, no
/// call or atomic, and every load or store placed by the verifier (a load in the context, the
/// stack or either; a store in the stack) or in the current frame through `r10`.
pub(crate) fn predicable(prog: &Program, access: &[Access], max: usize) -> bool {
    if prog.len() > max {
        return false;
    }
    prog.iter().enumerate().all(|(i, (pc, insn))| {
        if let Some(t) = prog.branch_target(pc)
            && (t <= pc || t >= prog.slot_count())
        {
            return false;
        }
        match *insn {
            Insn::Load { base, off, size, .. } => {
                matches!(access[i], Access::Ctx | Access::Stack | Access::Either)
                    || (base == Reg::R10 && in_frame(off, size))
            }
            Insn::Store { base, off, size, .. } => {
                access[i] == Access::Stack || (base == Reg::R10 && in_frame(off, size))
            }
            Insn::Alu { .. }
            | Insn::Neg { .. }
            | Insn::End { .. }
            | Insn::LoadImm64 { .. }
            | Insn::LoadAbs { .. }
            | Insn::LoadInd { .. }
            | Insn::Ja { .. }
            | Insn::Ja32 { .. }
            | Insn::Jump { .. }
            | Insn::Exit => true,
            _ => false,
        }
    })
}

/// A path predicate: `None` is "always".
type Pred = Option<Value>;

/// An edge into a slot: its predicate and the registers along it.
struct Edge {
    pred: Pred,
    regs: [Value; 11],
}

/// The state of the predicated walk.
struct Walk {
    /// Edges into slots not visited yet.
    pending: HashMap<usize, Vec<Edge>>,
    /// The predicate of the current slot (`None`: no path reaches it).
    live: Option<Pred>,
    /// The exits: predicate, `r0`, and the weight of the predicate (edges OR'ed into it).
    exits: Vec<(Pred, Value, usize)>,
    /// Edges joined at the current slot.
    joined: usize,
    /// The stack pointer, for loads on paths not taken.
    safe_load: Option<Value>,
    /// A slot of the function's frame, for stores on paths not taken.
    scratch: Option<Value>,
    /// The packet is at least this long here (the entry tested it).
    min_len: i64,
}

impl Lower<'_, '_> {
    /// Lowers the whole (single-region, direct) program as one straight block ending at
    /// `done` with the result in `r0`, for packets of at least [`fixed_span`] bytes; the
    /// caller checked [`predicable`]. Shorter packets (when the span is not 0) go to the
    /// branchy code, which the caller lowers next, in the current block: then the result is
    /// `false`, and `true` when the branch-free code is the whole function.
    ///
    /// On packets of at least the span, every load at a fixed packet offset is in bounds
    /// whatever path runs (no guard), and the program's own tests of the length against a
    /// constant up to the span are decided (their dead paths vanish).
    pub(super) fn predicated(&mut self) -> bool {
        let inp = self.inp;
        let min_len = fixed_span(inp.prog, inp.access.unwrap_or(&[]));
        let slow = (min_len > 0).then(|| {
            let fast = self.b.create_block();
            let slow = self.b.create_block();
            let long =
                self.b.ins().icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, self.ctx_len, min_len);
            self.b.ins().brif(long, fast, &[], slow, &[]);
            self.b.seal_block(fast);
            self.b.seal_block(slow);
            self.b.switch_to_block(fast);
            slow
        });
        let mut w = Walk {
            pending: HashMap::new(),
            live: Some(None),
            exits: Vec::new(),
            joined: 1,
            safe_load: None,
            scratch: None,
            min_len,
        };
        for pc in inp.region.start..inp.region.end {
            let Some(i) = inp.plan.index[pc] else {
                continue;
            };
            let mut edges = w.pending.remove(&pc).unwrap_or_default();
            if let Some(p) = w.live {
                edges.push(self.edge(p));
            }
            if edges.is_empty() {
                // No path reaches this slot.
                w.live = None;
                continue;
            }
            w.joined = edges.len();
            w.live = Some(self.merge(edges));
            self.cur = pc;
            self.predicated_insn(&mut w, pc, i);
        }
        debug_assert!(w.live.is_none() && w.pending.is_empty(), "a verified program ends");
        let r = self.result(&mut w.exits);
        self.set(Reg::R0, r);
        self.b.ins().jump(self.done, &[]);
        self.open = false;
        let Some(slow) = slow else {
            return true;
        };
        self.b.switch_to_block(slow);
        self.open = true;
        false
    }

    /// The edge leaving the current point under `pred`.
    fn edge(&mut self, pred: Pred) -> Edge {
        Edge { pred, regs: core::array::from_fn(|r| self.b.use_var(self.regs[r])) }
    }

    /// Joins `edges` (at least one): defines every register as the select over the edges by
    /// their predicates, and returns the OR of the predicates.
    fn merge(&mut self, edges: Vec<Edge>) -> Pred {
        let (last, rest) = edges.split_last().expect("at least one edge");
        for r in 0..11 {
            let mut v = last.regs[r];
            for e in rest.iter().rev() {
                v = match e.pred {
                    _ if e.regs[r] == v => v,
                    Some(p) => self.b.ins().select(p, e.regs[r], v),
                    // An edge always taken (the only one into its slot, in fact).
                    None => e.regs[r],
                };
            }
            self.b.def_var(self.regs[r], v);
        }
        let mut pred = Some(last.pred);
        for e in rest {
            pred = match (pred, e.pred) {
                (Some(Some(a)), Some(b)) => Some(Some(self.b.ins().bor(a, b))),
                _ => Some(None),
            };
        }
        pred.flatten()
    }

    fn and(&mut self, p: Pred, c: Value) -> Value {
        match p {
            None => c,
            Some(p) => self.b.ins().band(p, c),
        }
    }

    fn not(&mut self, c: Value) -> Value {
        self.b.ins().icmp_imm_s(IntCC::Equal, c, 0)
    }

    /// `addr` where `p` holds, else `safe`.
    fn guard(&mut self, p: Pred, addr: Value, safe: Value) -> Value {
        match p {
            None => addr,
            Some(p) => self.b.ins().select(p, addr, safe),
        }
    }

    /// Whether the access of `size` bytes at `base + off` (instruction `i`) lies in the region
    /// the verifier placed it in (on the paths that reach it), as a value computed from the
    /// address alone; `None` when it always does (the current frame through `r10`).
    fn readable(
        &mut self,
        w: &Walk,
        i: usize,
        base: Value,
        off: i16,
        size: Size,
        r10: bool,
    ) -> Option<Value> {
        if r10 && in_frame(off, size) {
            return None;
        }
        let n = size_bytes(size);
        let a = self.b.ins().iadd_imm_s(base, i64::from(off));
        let access = self.inp.access.map_or(Access::None, |acc| acc[i]);
        Some(match access {
            Access::Ctx => match self.constant(base) {
                // A fixed offset `k` into the packet: `k + n <= len`, known where the packet
                // is at least that long.
                Some(b) if (0..1 << 32).contains(&(b + i64::from(off) - CTX_BASE as i64)) => {
                    let end = b + i64::from(off) - CTX_BASE as i64 + n;
                    if end <= w.min_len {
                        return None;
                    }
                    self.b.ins().icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, self.ctx_len, end)
                }
                // `off <= len - n`, one compare where `len >= n` (no wrap): `off + n <= len`.
                _ if n <= w.min_len => {
                    let off = self.b.ins().iadd_imm_s(a, -(CTX_BASE as i64));
                    let last = self.b.ins().iadd_imm_s(self.ctx_len, -n);
                    self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, off, last)
                }
                _ => self.in_ctx(a, n),
            },
            Access::Stack => self.in_direct_frame(a, n),
            _ => {
                let c = self.in_ctx(a, n);
                let s = self.in_direct_frame(a, n);
                self.b.ins().bor(c, s)
            }
        })
    }

    /// The value of `v` when it is a constant.
    fn constant(&self, v: Value) -> Option<i64> {
        use cranelift_codegen::ir::{InstructionData, Opcode, ValueDef};
        let dfg = &self.b.func.dfg;
        match dfg.value_def(v) {
            ValueDef::Result(inst, 0) => match dfg.insts[inst] {
                InstructionData::UnaryImm { opcode: Opcode::Iconst, imm } => Some(imm.bits()),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether `n` bytes at virtual address `a` lie in the direct ABI's one stack frame,
    /// `[STACK_TOP - STACK_FRAME, STACK_TOP)`.
    fn in_direct_frame(&mut self, a: Value, n: i64) -> Value {
        let low = STACK_TOP as i64 - STACK_FRAME as i64;
        let off = self.b.ins().iadd_imm_s(a, -low);
        self.b.ins().icmp_imm_s(IntCC::UnsignedLessThanOrEqual, off, STACK_FRAME as i64 - n)
    }

    fn safe_load(&mut self, w: &mut Walk) -> Value {
        *w.safe_load.get_or_insert_with(|| self.b.ins().get_stack_pointer(I64))
    }

    /// The result: the `r0` of the exit whose predicate holds. Exactly one does on every run
    /// (the verifier proved every path ends at an exit, nothing faults, and the predicates
    /// are exact), so the heaviest predicate (the most edges joined, the last on ties) is
    /// never computed: its exit is the default when no other's holds.
    fn result(&mut self, exits: &mut Vec<(Pred, Value, usize)>) -> Value {
        let Some(k) = (0..exits.len()).max_by_key(|&k| exits[k].2) else {
            return self.iconst(0);
        };
        let (_, mut r, _) = exits.remove(k);
        for &(p, r0, _) in exits.iter().rev() {
            r = match p {
                Some(p) => self.b.ins().select(p, r0, r),
                None => r0,
            };
        }
        r
    }

    fn predicated_insn(&mut self, w: &mut Walk, pc: usize, i: usize) {
        let insn = self.inp.prog.insns()[i];
        let p = w.live.expect("a reached slot");
        match insn {
            Insn::Alu { .. } | Insn::Neg { .. } | Insn::End { .. } | Insn::LoadImm64 { .. } => {
                self.insn(pc, i)
            }
            Insn::Load { size, signed, dst, base, off } => {
                let a = self.reg(base);
                let (host, disp) = self.address(pc, i, a, off, size, false, base == Reg::R10);
                let host = self.b.ins().iadd_imm_s(host, i64::from(disp));
                let host = match p {
                    // Every run comes here: the verifier's bounds hold.
                    None => host,
                    Some(_) => match self.readable(w, i, a, off, size, base == Reg::R10) {
                        None => host,
                        Some(ok) => {
                            let safe = self.safe_load(w);
                            self.b.ins().select(ok, host, safe)
                        }
                    },
                };
                // A packet load reads bytes no filter writes, from an address readable on
                // every path (guarded above): Cranelift may place it where its value is used
                // (next to the compare, not all loads first with every value live).
                let f = if self.inp.access.is_some_and(|acc| acc[i] == Access::Ctx) {
                    mem_flags().with_readonly().with_can_move()
                } else {
                    mem_flags()
                };
                let v = match (size, signed) {
                    (Size::DW, _) => self.b.ins().load(I64, f, host, 0),
                    (Size::B, false) => self.b.ins().uload8(I64, f, host, 0),
                    (Size::H, false) => self.b.ins().uload16(I64, f, host, 0),
                    (Size::W, false) => self.b.ins().uload32(f, host, 0),
                    (Size::B, true) => self.b.ins().sload8(I64, f, host, 0),
                    (Size::H, true) => self.b.ins().sload16(I64, f, host, 0),
                    (Size::W, true) => self.b.ins().sload32(f, host, 0),
                };
                self.set(dst, v);
            }
            Insn::Store { size, base, off, src } => {
                let v = match src {
                    Source::Reg(s) => self.reg(s),
                    Source::Imm(k) => self.iconst(k as i64 as u64),
                };
                let a = self.reg(base);
                let (host, disp) = self.address(pc, i, a, off, size, true, base == Reg::R10);
                let host = self.b.ins().iadd_imm_s(host, i64::from(disp));
                let scratch = match (p, w.scratch) {
                    (None, _) => host,
                    (Some(_), Some(s)) => s,
                    (Some(_), None) => {
                        let slot = self.b.create_sized_stack_slot(StackSlotData::new(
                            StackSlotKind::ExplicitSlot,
                            8,
                            3,
                        ));
                        let s = self.b.ins().stack_addr(I64, slot, 0);
                        *w.scratch.insert(s)
                    }
                };
                let host = self.guard(p, host, scratch);
                self.store(size, v, host, 0);
            }
            Insn::LoadAbs { size, imm } => {
                let off = self.iconst(packet_offset(0, imm));
                self.predicated_packet_load(w, p, size, off);
            }
            Insn::LoadInd { size, src, imm } => {
                let x = self.reg(src);
                let x = self.b.ins().ireduce(cranelift_codegen::ir::types::I32, x);
                let off = self.b.ins().iadd_imm_s(x, i64::from(imm));
                let off = self.b.ins().uextend(I64, off);
                self.predicated_packet_load(w, p, size, off);
            }
            Insn::Ja { .. } | Insn::Ja32 { .. } => {
                let t = self.inp.prog.branch_target(pc).expect("a jump has a target");
                let e = self.edge(p);
                w.pending.entry(t).or_default().push(e);
                w.live = None;
            }
            Insn::Jump { width, cond, dst, src, .. } => {
                let t = self.inp.prog.branch_target(pc).expect("a jump has a target");
                match self.decided(w, width, cond, dst, src) {
                    Some(true) => {
                        let e = self.edge(p);
                        w.pending.entry(t).or_default().push(e);
                        w.live = None;
                        return;
                    }
                    Some(false) => return,
                    None => {}
                }
                let c = self.condition(width, cond, dst, src);
                let taken = self.and(p, c);
                let e = self.edge(Some(taken));
                w.pending.entry(t).or_default().push(e);
                let nc = self.not(c);
                w.live = Some(Some(self.and(p, nc)));
            }
            Insn::Exit => {
                let r0 = self.reg(Reg::R0);
                w.exits.push((p, r0, w.joined));
                w.live = None;
            }
            _ => unreachable!("`predicable` admits no other instruction"),
        }
    }

    /// The jump condition when the packet's minimum length here decides it: a 64-bit compare
    /// of the length register, still holding the length, with a constant.
    fn decided(
        &mut self,
        w: &Walk,
        width: udf_bytecode::insn::Width,
        cond: JmpCond,
        dst: Reg,
        src: Source,
    ) -> Option<bool> {
        let Source::Imm(k) = src else {
            return None;
        };
        if width != udf_bytecode::insn::Width::W64 || self.reg(dst) != self.ctx_len {
            return None;
        }
        // `len >= min` (unsigned); `k` is sign-extended to 64 bits.
        let (min, k) = (w.min_len as u64, extend_imm(width, k));
        match cond {
            JmpCond::Lt if k <= min => Some(false),
            JmpCond::Le if k < min => Some(false),
            JmpCond::Ge if k <= min => Some(true),
            JmpCond::Gt if k < min => Some(true),
            _ => None,
        }
    }

    /// The jump condition, as the branchy lowering computes it.
    fn condition(
        &mut self,
        width: udf_bytecode::insn::Width,
        cond: JmpCond,
        dst: Reg,
        src: Source,
    ) -> Value {
        let a = self.reg(dst);
        let c = match src {
            Source::Imm(k) => match self.swapped_compare(width, cond, a, extend_imm(width, k)) {
                Some(c) => c,
                None => {
                    let bv = self.iconst(extend_imm(width, k));
                    self.compare(width, cond, a, bv)
                }
            },
            Source::Reg(s) => {
                let bv = self.reg(s);
                self.compare(width, cond, a, bv)
            }
        };
        debug_assert_eq!(self.b.func.dfg.value_type(c), I8);
        c
    }

    /// Classic BPF packet load at context offset `off` under `p`: big-endian into `r0`, or
    /// the program returns 0 when it is out of bounds (an exit under `p & !ok`).
    fn predicated_packet_load(&mut self, w: &mut Walk, p: Pred, size: Size, off: Value) {
        let n = size_bytes(size);
        let base = self.b.ins().iadd_imm_s(self.ctx_delta, CTX_BASE as i64);
        let host = self.b.ins().iadd(base, off);
        // In bounds on every path where the packet is long enough.
        let fixed = self.constant(off).is_some_and(|k| k + n <= w.min_len);
        let host = if fixed {
            host
        } else {
            // `off` < 2^32 (computed in 32 bits), so `off + n` cannot wrap.
            let end = self.b.ins().iadd_imm_s(off, n);
            let ok = self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, end, self.ctx_len);
            let bad = self.not(ok);
            let out = self.and(p, bad);
            let z = self.iconst(0);
            w.exits.push((Some(out), z, 1));
            w.live = Some(Some(self.and(p, ok)));
            let safe = self.safe_load(w);
            self.b.ins().select(ok, host, safe)
        };
        let t = size_type(size);
        let v = self.b.ins().load(t, mem_flags(), host, 0);
        let v = if t == I8 { v } else { self.b.ins().bswap(v) };
        let v = self.b.ins().uextend(I64, v);
        self.set(Reg::R0, v);
    }
}

/// The packet length that puts every load at a fixed packet offset in bounds: the largest end
/// of a load through `r1` (when no instruction writes `r1`, it is the packet's start) the
/// verifier placed in the packet, or of a classic absolute load (0 when there is none).
pub(crate) fn fixed_span(prog: &Program, access: &[Access]) -> i64 {
    let r1_kept = prog.iter().all(|(_, insn)| !udf_bytecode::check::uses(insn).1.has(Reg::R1));
    let mut span = 0;
    for (i, (_, insn)) in prog.iter().enumerate() {
        let end = match *insn {
            Insn::Load { base: Reg::R1, off, size, .. }
                if r1_kept && off >= 0 && access.get(i) == Some(&Access::Ctx) =>
            {
                i64::from(off) + size_bytes(size)
            }
            Insn::LoadAbs { size, imm } => packet_offset(0, imm) as i64 + size_bytes(size),
            _ => continue,
        };
        span = span.max(end);
    }
    span
}
