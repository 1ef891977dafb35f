//! Lowers one region of a program to Cranelift IR, following the contract of
//! [`udf_runtime::native`] and the semantics of [`udf_bytecode::semantics`].
//!
//! Registers are Cranelift variables, loaded from `env.regs` on entry and stored back when
//! control leaves the region. Every arithmetic rule of RFC 9669 that could trap on hardware is
//! made total here: division by zero gives 0, modulo by zero keeps the dividend, `INT_MIN / -1`
//! gives `INT_MIN`; shifts use Cranelift's masking shifts. Blocks are sealed as soon as their
//! last predecessor has been emitted.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I8, I16, I32, I64};
use cranelift_codegen::ir::{
    AbiParam, Block, Function, InstBuilder, MemFlagsData, SigRef, Signature, StackSlotData,
    StackSlotKind, Type, Value,
};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Switch, Variable};
use udf_bytecode::check::RegSet;
use udf_bytecode::insn::{AluOp, AtomicOp, Endian, JmpCond, Reg, Size, Source, SwapBits, Width};
use udf_bytecode::semantics::{extend_imm, packet_offset};
use udf_bytecode::{Insn, Program};
use udf_runtime::native::{DIRECT_HELPERS, DONE, FAULT, code, offset, status};
use udf_runtime::{CTX_BASE, MAX_CALL_DEPTH, STACK_BASE, STACK_FRAME, STACK_TOP};
use udf_verifier::Access;

use crate::plan::{Plan, Region, touches_stack};

pub(crate) mod predicate;

const STACK_SIZE: i64 = (STACK_FRAME * MAX_CALL_DEPTH) as i64;

/// The signature of a region function: `(env, entry slot) -> next slot | DONE | FAULT`.
pub(crate) fn region_signature(cc: CallConv) -> Signature {
    let mut sig = Signature::new(cc);
    sig.params.push(AbiParam::new(I64));
    sig.params.push(AbiParam::new(I64));
    sig.returns.push(AbiParam::new(I64));
    sig
}

/// The signature of a direct-call filter: `(packet, captured length, wire length) -> r0`.
pub(crate) fn filter_signature(cc: CallConv) -> Signature {
    let mut sig = Signature::new(cc);
    sig.params.extend([AbiParam::new(I64); 3]);
    sig.returns.push(AbiParam::new(I64));
    sig
}

fn helper_signature(cc: CallConv) -> Signature {
    let mut sig = Signature::new(cc);
    sig.params.extend([AbiParam::new(I64); 3]);
    sig.returns.push(AbiParam::new(I64));
    sig
}

/// A direct helper ([`udf_runtime::native::DirectFn`]): `(env, r1, r2, r3, r4, r5) -> status`.
fn direct_helper_signature(cc: CallConv) -> Signature {
    let mut sig = Signature::new(cc);
    sig.params.extend([AbiParam::new(I64); 6]);
    sig.returns.push(AbiParam::new(I64));
    sig
}

/// What the lowering of one region works from.
pub(crate) struct Input<'a> {
    pub prog: &'a Program,
    pub plan: &'a Plan,
    pub region: &'a Region,
    /// Trusted mode: per instruction, the region each access was proven to touch.
    pub access: Option<&'a [Access]>,
    /// Hardened trusted mode: context accesses are still checked against the context's length
    /// (stack accesses are translated as proven; nothing is metered).
    pub harden: bool,
    /// The planted region-choice bug (`fault-injection` only; always false otherwise).
    pub plant_either_by_base: bool,
    /// The direct-call filter ABI ([`filter_signature`]): the whole program is one function
    /// taking the packet, its length and the wire length in registers and returning `r0`;
    /// no environment, the stack a slot of the function's own frame. Only for trusted
    /// single-region programs without calls (the caller checks); a lowering that still needs
    /// a way out through the environment (a fault or a region exit) says so in
    /// [`Lowered::env_exit`], and the code must not be used.
    pub direct: bool,
    /// The planted off-by-one in the direct ABI's length register (`fault-injection` only;
    /// always false otherwise), to show the equivalence oracle catches it.
    pub plant_direct_len: bool,
    /// Direct ABI only: lower branch-free ([`predicate`]; the caller checked it applies).
    pub predicated: bool,
    pub call_conv: CallConv,
    pub frontend: TargetFrontendConfig,
}

/// What the lowering of a region reports.
pub(crate) struct Lowered {
    /// The first slot whose code leaves through the environment (a fault exit, or control
    /// leaving the region): code of the direct ABI, which has no environment, is then unusable.
    pub env_exit: Option<usize>,
}

struct Lower<'a, 'b> {
    b: FunctionBuilder<'b>,
    inp: &'a Input<'a>,
    regs: [Variable; 11],
    left: Variable,
    /// The environment (`None` for the direct ABI).
    env: Option<Value>,
    /// The slot being lowered.
    cur: usize,
    /// See [`Lowered::env_exit`].
    env_exit: Option<usize>,
    ctx_delta: Value,
    ctx_len: Value,
    stack_delta: Value,
    writable: Value,
    blocks: HashMap<usize, Block>,
    leave: Block,
    fault: Block,
    done: Block,
    helper_sig: SigRef,
    direct_sig: SigRef,
    checked: bool,
    /// The current block still needs a terminator.
    open: bool,
    /// Stub blocks to fill once the current block is finished.
    stubs: Vec<(Block, Target)>,
}

fn env_flags() -> MemFlagsData {
    MemFlagsData::trusted()
}

fn mem_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// Lowers `inp.region` into `func`.
pub(crate) fn lower(
    func: &mut Function,
    fctx: &mut FunctionBuilderContext,
    inp: &Input<'_>,
) -> Lowered {
    func.signature =
        if inp.direct { filter_signature(inp.call_conv) } else { region_signature(inp.call_conv) };
    let mut b = FunctionBuilder::new(func, fctx);
    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    b.seal_block(entry);
    let params = b.block_params(entry).to_vec();
    let regs: [Variable; 11] = core::array::from_fn(|_| b.declare_var(I64));
    let left = b.declare_var(I64);
    let checked = inp.access.is_none();
    let (env, pc_in, ctx_delta, ctx_len, stack_delta, writable);
    if inp.direct {
        // r1 = the context's virtual address, r2 = its length, r3 = the wire length, r10 =
        // the top of the stack, every other register 0 (as the interpreter starts them; the
        // verifier refuses reading them anyway). The code keeps the interpreter's virtual
        // addresses (pointers compare and spill as there) and translates them by deltas
        // computed here, from the arguments and the frame's own stack slot: nothing is
        // loaded, nothing stored, nothing zeroed.
        let (pkt, len, wire) = (params[0], params[1], params[2]);
        let len = if inp.plant_direct_len { b.ins().iadd_imm_s(len, 1) } else { len };
        for (r, &var) in regs.iter().enumerate() {
            let v = match r {
                1 => b.ins().iconst(I64, CTX_BASE as i64),
                2 => len,
                3 => wire,
                10 => b.ins().iconst(I64, STACK_TOP as i64),
                _ => b.ins().iconst(I64, 0),
            };
            b.def_var(var, v);
        }
        let zero = b.ins().iconst(I64, 0);
        b.def_var(left, zero);
        env = None;
        pc_in = zero;
        ctx_delta = b.ins().iadd_imm_s(pkt, (CTX_BASE as i64).wrapping_neg());
        ctx_len = len;
        // One frame of the program's stack in the native frame, when the program touches
        // the stack; trusted code reads only stack bytes it wrote before (the verifier's
        // rule), so it is not zeroed.
        stack_delta = if touches_stack(inp) {
            let slot = b.create_sized_stack_slot(StackSlotData::new(
                StackSlotKind::ExplicitSlot,
                STACK_FRAME as u32,
                3,
            ));
            let base = b.ins().stack_addr(I64, slot, 0);
            b.ins().iadd_imm_s(base, STACK_FRAME as i64 - STACK_TOP as i64)
        } else {
            zero
        };
        writable = zero;
    } else {
        let e = params[0];
        pc_in = params[1];
        let live = live_in(inp);
        for (r, &var) in regs.iter().enumerate() {
            let v = if live.has(Reg::new(r as u8).expect("r0-r10")) {
                b.ins().load(I64, env_flags(), e, offset::REGS + 8 * r as i32)
            } else {
                b.ins().iconst(I64, 0)
            };
            b.def_var(var, v);
        }
        let l = if checked {
            b.ins().load(I64, env_flags(), e, offset::LEFT)
        } else {
            b.ins().iconst(I64, 0)
        };
        b.def_var(left, l);
        // Fields the code never writes: pure loads, dropped when unused.
        let fixed = env_flags().with_readonly().with_can_move();
        ctx_delta = b.ins().load(I64, fixed, e, offset::CTX_DELTA);
        ctx_len = b.ins().load(I64, fixed, e, offset::CTX_LEN);
        stack_delta = b.ins().load(I64, fixed, e, offset::STACK_DELTA);
        writable = b.ins().load(I64, fixed, e, offset::WRITABLE);
        env = Some(e);
    }
    let helper_sig = b.import_signature(helper_signature(inp.call_conv));
    let direct_sig = b.import_signature(direct_helper_signature(inp.call_conv));

    let leave = b.create_block();
    b.append_block_param(leave, I64);
    let fault = b.create_block();
    for _ in 0..4 {
        b.append_block_param(fault, I64);
    }
    let done = b.create_block();
    b.set_cold_block(fault);

    let region = inp.region;
    let mut blocks = HashMap::new();
    for pc in region.start..region.end {
        if inp.plan.index[pc].is_some() && (inp.plan.leader[pc] || pc == region.start) {
            blocks.insert(pc, b.create_block());
        }
    }
    let mut lw = Lower {
        b,
        inp,
        regs,
        left,
        env,
        cur: region.start,
        env_exit: None,
        ctx_delta,
        ctx_len,
        stack_delta,
        writable,
        blocks,
        leave,
        fault,
        done,
        helper_sig,
        direct_sig,
        checked,
        open: true,
        stubs: Vec::new(),
    };
    if inp.predicated && lw.predicated() {
        return lw.finish();
    }
    // Dispatch to the entry slot.
    if region.entries.len() == 1 {
        let to = lw.target(region.entries[0]);
        lw.jump_to(to);
    } else {
        let bad = lw.b.create_block();
        let mut sw = Switch::new();
        for &e in &region.entries {
            let blk = lw.target_block(e);
            sw.set_entry(e as u128, blk);
        }
        sw.emit(&mut lw.b, pc_in, bad);
        lw.flush_stubs();
        lw.b.seal_block(bad);
        lw.b.switch_to_block(bad);
        let c = lw.b.ins().iconst(I64, code::FELL_OFF as i64);
        let z = lw.b.ins().iconst(I64, 0);
        lw.b.ins().jump(lw.fault, &[c.into(), pc_in.into(), z.into(), z.into()]);
        lw.env_exit.get_or_insert(region.start);
    }
    lw.open = false;
    lw.body();
    lw.finish()
}

/// Registers whose values the region may need from `env.regs`: all of them when control can
/// leave the region (they travel on), else those its instructions read, `r0` (the result) and
/// `r10`.
fn live_in(inp: &Input<'_>) -> RegSet {
    if inp.plan.regions.len() > 1 {
        return RegSet(0x7ff);
    }
    let mut live = RegSet::EMPTY.with(Reg::R0);
    if inp.access.is_none() || inp.harden || inp.plan.has_calls {
        // Checked code (and hardened code, at accesses that may be either region) bounds stack
        // accesses by r10; calls and exits track depth by it.
        live = live.with(Reg::R10);
    }
    for pc in inp.region.start..inp.region.end {
        let Some(i) = inp.plan.index[pc] else {
            continue;
        };
        let insn = &inp.prog.insns()[i];
        live = RegSet(live.0 | udf_bytecode::check::uses(insn).0.0);
        match insn {
            Insn::Call { .. } | Insn::CallReg { .. } => live = RegSet(live.0 | RegSet::ARGS.0),
            Insn::CallLocal { .. } => live = RegSet(live.0 | 0b11_1100_0000),
            _ => {}
        }
    }
    live
}

/// Where a transfer to `slot` goes: a block of this region, or out through `leave`.
enum Target {
    Block(Block),
    Leave(usize),
    Bad(usize),
}

impl Lower<'_, '_> {
    fn reg(&mut self, r: Reg) -> Value {
        self.b.use_var(self.regs[r.index()])
    }

    fn set(&mut self, r: Reg, v: Value) {
        self.b.def_var(self.regs[r.index()], v);
    }

    fn iconst(&mut self, v: u64) -> Value {
        self.b.ins().iconst(I64, v as i64)
    }

    fn target(&mut self, slot: usize) -> Target {
        match self.blocks.get(&slot) {
            Some(&blk) => Target::Block(blk),
            None if self.inp.plan.index.get(slot).copied().flatten().is_some() => {
                Target::Leave(slot)
            }
            None => Target::Bad(slot),
        }
    }

    /// A block that continues at `slot` (for `brif` and switch arms).
    fn target_block(&mut self, slot: usize) -> Block {
        match self.target(slot) {
            Target::Block(blk) => blk,
            t => {
                // Filled by `flush_stubs` once the current block has its terminator (Cranelift
                // may not leave a block unfinished to build another).
                let blk = self.b.create_block();
                self.stubs.push((blk, t));
                blk
            }
        }
    }

    /// Fills the stub blocks `target_block` made: each jumps on to its target.
    fn flush_stubs(&mut self) {
        for (blk, t) in std::mem::take(&mut self.stubs) {
            self.b.switch_to_block(blk);
            self.b.seal_block(blk);
            self.jump_to(t);
        }
    }

    fn jump_to(&mut self, t: Target) {
        match t {
            Target::Block(blk) => {
                self.b.ins().jump(blk, &[]);
            }
            Target::Leave(slot) => {
                self.env_exit.get_or_insert(self.cur);
                let s = self.iconst(slot as u64);
                self.b.ins().jump(self.leave, &[s.into()]);
            }
            Target::Bad(slot) => self.fault_now(code::FELL_OFF, slot, 0, 0),
        }
        self.open = false;
    }

    fn fault_now(&mut self, c: u64, pc: usize, a: u64, x: u64) {
        let pcv = self.iconst(pc as u64);
        self.fault_dyn(c, pcv, a, x);
    }

    fn fault_dyn(&mut self, c: u64, pc: Value, a: u64, x: u64) {
        self.env_exit.get_or_insert(self.cur);
        let c = self.iconst(c);
        let a = self.iconst(a);
        let x = self.iconst(x);
        self.b.ins().jump(self.fault, &[c.into(), pc.into(), a.into(), x.into()]);
        self.open = false;
    }

    /// Continues in a fresh block (after a `brif` that left the current one).
    fn continue_in(&mut self, blk: Block) {
        self.b.seal_block(blk);
        self.b.switch_to_block(blk);
        self.open = true;
    }

    fn body(&mut self) {
        let inp = self.inp;
        let (start, end) = (inp.region.start, inp.region.end);
        // Blocks to seal once the instruction at a slot has been emitted: a block's last
        // predecessor is the latest jump to it, or the slot before it (fall-through); return
        // sites are sealed at the end (their predecessors are the exits).
        let mut seal_after: HashMap<usize, Vec<Block>> = HashMap::new();
        let mut last_pred: HashMap<usize, usize> = HashMap::new();
        let mut prev = None;
        for pc in start..end {
            let Some(i) = inp.plan.index[pc] else {
                continue;
            };
            let insn = &inp.prog.insns()[i];
            if let Some(p) = prev
                && self.blocks.contains_key(&pc)
            {
                last_pred.insert(pc, p);
            }
            // Jumps and local calls alike.
            if let Some(t) = inp.prog.branch_target(pc)
                && self.blocks.contains_key(&t)
            {
                let e = last_pred.entry(t).or_insert(pc);
                *e = (*e).max(pc);
            }
            prev = if insn.is_terminator() || matches!(insn, Insn::CallLocal { .. }) {
                None
            } else {
                Some(pc)
            };
        }
        let mut unsealed = Vec::new();
        for (&slot, &blk) in &self.blocks {
            if inp.plan.return_site[slot] {
                unsealed.push(blk);
            } else if let Some(&p) = last_pred.get(&slot) {
                seal_after.entry(p).or_default().push(blk);
            } else {
                // Reached only through the entry switch (already emitted) or not at all.
                self.b.seal_block(blk);
            }
        }
        let mut last = None;
        for pc in start..end {
            let Some(i) = inp.plan.index[pc] else {
                continue;
            };
            let here = self.blocks.get(&pc).copied();
            // The fall-through edge into a block is emitted here, before sealing what waited
            // for the previous instruction.
            if let Some(blk) = here
                && self.open
            {
                self.b.ins().jump(blk, &[]);
            }
            for blk in last.and_then(|p| seal_after.remove(&p)).unwrap_or_default() {
                self.b.seal_block(blk);
            }
            if let Some(blk) = here {
                self.b.switch_to_block(blk);
                self.open = true;
            }
            if !self.open {
                // After an instruction that always faults: nothing reaches this code.
                let dead = self.b.create_block();
                self.continue_in(dead);
            }
            self.cur = pc;
            if self.checked && inp.plan.stretch[pc] > 0 {
                self.charge(pc, inp.plan.stretch[pc]);
            }
            self.insn(pc, i);
            last = Some(pc);
        }
        if self.open {
            let t = self.target(end);
            self.jump_to(t);
        }
        for (_, list) in seal_after {
            for blk in list {
                self.b.seal_block(blk);
            }
        }
        for blk in unsealed {
            self.b.seal_block(blk);
        }
    }

    /// Checked mode: takes `n` instructions from the budget, or faults at the instruction
    /// where it runs out.
    fn charge(&mut self, pc: usize, n: u32) {
        let left = self.b.use_var(self.left);
        let ok = self.b.ins().icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, left, i64::from(n));
        let cont = self.b.create_block();
        let out = self.b.create_block();
        self.b.ins().brif(ok, cont, &[], out, &[]);
        self.b.seal_block(out);
        self.b.switch_to_block(out);
        // The slot of instruction number `left` of the stretch: `pc + left`, plus one for each
        // two-slot `lddw` before it.
        let mut at = self.b.ins().iadd_imm_s(left, pc as i64);
        let (mut slot, mut k) = (pc, 0i64);
        while k < i64::from(n) {
            let Some(i) = self.inp.plan.index.get(slot).copied().flatten() else {
                break;
            };
            let w = self.inp.prog.insns()[i].slots();
            if w == 2 {
                let past = self.b.ins().icmp_imm_s(IntCC::UnsignedGreaterThan, left, k);
                let one = self.b.ins().uextend(I64, past);
                at = self.b.ins().iadd(at, one);
            }
            slot += w;
            k += 1;
        }
        self.fault_dyn(code::BUDGET, at, 0, 0);
        self.continue_in(cont);
        let rest = self.b.ins().iadd_imm_s(left, -i64::from(n));
        self.b.def_var(self.left, rest);
    }

    fn finish(mut self) -> Lowered {
        let Some(env) = self.env else {
            // The direct ABI: `done` returns r0. `leave` and `fault` have no way out but
            // the environment it lacks; they get a body so the function is well formed, and
            // `env_exit` tells the caller the code is unusable if anything reaches them.
            self.b.switch_to_block(self.done);
            let r0 = self.b.use_var(self.regs[0]);
            self.b.ins().return_(&[r0]);
            for blk in [self.leave, self.fault] {
                self.b.switch_to_block(blk);
                let z = self.iconst(0);
                self.b.ins().return_(&[z]);
            }
            self.b.seal_all_blocks();
            self.b.finalize(self.inp.frontend);
            return Lowered { env_exit: self.env_exit };
        };
        // leave(next): store the registers, return the slot to continue at.
        self.b.switch_to_block(self.leave);
        let next = self.b.block_params(self.leave)[0];
        self.store_regs(0..11);
        self.b.ins().return_(&[next]);
        // done: store r0, return DONE.
        self.b.switch_to_block(self.done);
        self.store_regs(0..1);
        let d = self.iconst(DONE);
        self.b.ins().return_(&[d]);
        // fault(code, pc, a, b).
        self.b.switch_to_block(self.fault);
        let params = self.b.block_params(self.fault).to_vec();
        for (k, v) in params.into_iter().enumerate() {
            self.b.ins().store(env_flags(), v, env, offset::FAULT + 8 * k as i32);
        }
        let f = self.iconst(FAULT);
        self.b.ins().return_(&[f]);
        self.b.seal_all_blocks();
        self.b.finalize(self.inp.frontend);
        Lowered { env_exit: self.env_exit }
    }

    /// The environment: only code of the region ABI has one (the direct ABI is only used
    /// for programs without helpers or local calls, and code that would leave through the
    /// environment is refused: [`Lowered::env_exit`]).
    fn env(&self) -> Value {
        self.env.expect("the direct ABI is refused for programs with helpers or local calls")
    }

    fn store_regs(&mut self, range: core::ops::Range<usize>) {
        for r in range {
            let v = self.b.use_var(self.regs[r]);
            let env = self.env();
            self.b.ins().store(env_flags(), v, env, offset::REGS + 8 * r as i32);
        }
        if self.checked {
            let l = self.b.use_var(self.left);
            let env = self.env();
            self.b.ins().store(env_flags(), l, env, offset::LEFT);
        }
    }

    fn insn(&mut self, pc: usize, i: usize) {
        let insn = self.inp.prog.insns()[i];
        let next = pc + insn.slots();
        match insn {
            Insn::Alu { width, op, dst, src } => {
                // A move does not read its destination: reading it anyway would keep the old
                // value alive into the block (a block parameter, moves on every edge).
                let a =
                    if matches!(op, AluOp::Mov | AluOp::MovSx8 | AluOp::MovSx16 | AluOp::MovSx32) {
                        self.iconst(0)
                    } else {
                        self.reg(dst)
                    };
                let v = match src {
                    Source::Reg(s) => {
                        let bv = self.reg(s);
                        self.alu(op, width, a, Operand::Reg(bv))
                    }
                    Source::Imm(k) => self.alu(op, width, a, Operand::Imm(extend_imm(width, k))),
                };
                self.set(dst, v);
            }
            Insn::Neg { width, dst } => {
                let a = self.reg(dst);
                let v = match width {
                    Width::W64 => self.b.ins().ineg(a),
                    Width::W32 => {
                        let a = self.b.ins().ireduce(I32, a);
                        let n = self.b.ins().ineg(a);
                        self.b.ins().uextend(I64, n)
                    }
                };
                self.set(dst, v);
            }
            Insn::End { kind, bits, dst } => {
                let a = self.reg(dst);
                let v = match (kind, bits) {
                    (Endian::Le, SwapBits::B64) => a,
                    (Endian::Le, b) => self.narrow(a, bits_type(b)),
                    (_, SwapBits::B64) => self.b.ins().bswap(a),
                    (_, b) => {
                        let t = bits_type(b);
                        let n = self.b.ins().ireduce(t, a);
                        let s = self.b.ins().bswap(n);
                        self.b.ins().uextend(I64, s)
                    }
                };
                self.set(dst, v);
            }
            Insn::LoadImm64 { dst, imm } => {
                let v = self.iconst(imm);
                self.set(dst, v);
            }
            Insn::LoadPseudo { .. } => self.fault_now(code::UNSUPPORTED, pc, 0, 0),
            Insn::CallKfunc { .. } => self.fault_now(code::UNSUPPORTED, pc, 1, 0),
            Insn::Load { size, signed, dst, base, off } => {
                let a = self.reg(base);
                let (host, disp) = self.address(pc, i, a, off, size, false, base == Reg::R10);
                let f = mem_flags();
                let v = match (size, signed) {
                    (Size::DW, _) => self.b.ins().load(I64, f, host, disp),
                    (Size::B, false) => self.b.ins().uload8(I64, f, host, disp),
                    (Size::H, false) => self.b.ins().uload16(I64, f, host, disp),
                    (Size::W, false) => self.b.ins().uload32(f, host, disp),
                    (Size::B, true) => self.b.ins().sload8(I64, f, host, disp),
                    (Size::H, true) => self.b.ins().sload16(I64, f, host, disp),
                    (Size::W, true) => self.b.ins().sload32(f, host, disp),
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
                self.store(size, v, host, disp);
            }
            Insn::Atomic { size, op, fetch, base, off, src } => {
                self.atomic(pc, i, size, op, fetch, base, off, src)
            }
            Insn::LoadAbs { size, imm } => {
                let off = self.iconst(packet_offset(0, imm));
                self.packet_load(size, off);
            }
            Insn::LoadInd { size, src, imm } => {
                // `packet_offset`: `(X + k) mod 2^32`.
                let x = self.reg(src);
                let x = self.b.ins().ireduce(I32, x);
                let off = self.b.ins().iadd_imm_s(x, i64::from(imm));
                let off = self.b.ins().uextend(I64, off);
                self.packet_load(size, off);
            }
            Insn::Ja { .. } | Insn::Ja32 { .. } => {
                let t = self.target(self.inp.prog.branch_target(pc).unwrap_or(usize::MAX));
                self.jump_to(t);
            }
            Insn::Jump { width, cond, dst, src, .. } => {
                let a = self.reg(dst);
                let c = match src {
                    Source::Imm(k) => {
                        match self.swapped_compare(width, cond, a, extend_imm(width, k)) {
                            Some(c) => c,
                            None => {
                                let bv = self.iconst(extend_imm(width, k));
                                self.compare(width, cond, a, bv)
                            }
                        }
                    }
                    Source::Reg(s) => {
                        let bv = self.reg(s);
                        self.compare(width, cond, a, bv)
                    }
                };
                let t = self.inp.prog.branch_target(pc).unwrap_or(usize::MAX);
                let tb = self.target_block(t);
                let fb = self.target_block(next);
                self.b.ins().brif(c, tb, &[], fb, &[]);
                self.open = false;
                self.flush_stubs();
            }
            Insn::Call { imm } => {
                let k = u64::from(imm as u32);
                let id = self.iconst(k);
                self.helper(pc, id, (k < DIRECT_HELPERS as u64).then_some(k));
            }
            Insn::CallReg { reg } => {
                let id = self.reg(reg);
                self.helper(pc, id, None);
            }
            Insn::CallLocal { .. } => {
                let t = self.inp.prog.branch_target(pc).unwrap_or(usize::MAX);
                self.call_local(pc, next, t);
            }
            Insn::Exit => self.exit(),
        }
    }

    /// Zero-extends the low bits (type `t`) of `v` to 64 bits.
    fn narrow(&mut self, v: Value, t: Type) -> Value {
        let n = self.b.ins().ireduce(t, v);
        self.b.ins().uextend(I64, n)
    }

    fn alu(&mut self, op: AluOp, width: Width, a: Value, b: Operand) -> Value {
        match width {
            Width::W64 => self.alu_at(op, I64, a, b),
            Width::W32 => {
                let a = self.b.ins().ireduce(I32, a);
                let b = match b {
                    Operand::Reg(v) => Operand::Reg(self.b.ins().ireduce(I32, v)),
                    Operand::Imm(k) => Operand::Imm(k as u32 as u64),
                };
                let v = self.alu_at(op, I32, a, b);
                self.b.ins().uextend(I64, v)
            }
        }
    }

    /// `a OP b` at type `t` (I32 or I64), total.
    fn alu_at(&mut self, op: AluOp, t: Type, a: Value, b: Operand) -> Value {
        // Immediates as the signed constant of type `t`.
        let imm = |k: u64| {
            if t == I32 { k as u32 as i32 as i64 } else { k as i64 }
        };
        let bits = t.bits() as i64;
        match (op, b) {
            (AluOp::Add, Operand::Imm(k)) => self.b.ins().iadd_imm_s(a, imm(k)),
            // Multiplying by 3, 5 or 9 is a shift and an add (one `lea` on x86-64), shorter
            // in latency than a multiply.
            (AluOp::Mul, Operand::Imm(k)) if matches!(imm(k), 3 | 5 | 9) => {
                let sh = self.b.ins().ishl_imm_s(a, (imm(k) - 1).trailing_zeros() as i64);
                self.b.ins().iadd(a, sh)
            }
            (AluOp::Mul, Operand::Imm(k)) => self.b.ins().imul_imm_s(a, imm(k)),
            (AluOp::Or, Operand::Imm(k)) => self.b.ins().bor_imm_s(a, imm(k)),
            (AluOp::And, Operand::Imm(k)) => self.b.ins().band_imm_s(a, imm(k)),
            (AluOp::Xor, Operand::Imm(k)) => self.b.ins().bxor_imm_s(a, imm(k)),
            (AluOp::Lsh, Operand::Imm(k)) => self.b.ins().ishl_imm_s(a, imm(k) & (bits - 1)),
            (AluOp::Rsh, Operand::Imm(k)) => self.b.ins().ushr_imm_s(a, imm(k) & (bits - 1)),
            (AluOp::Arsh, Operand::Imm(k)) => self.b.ins().sshr_imm_s(a, imm(k) & (bits - 1)),
            (AluOp::Mov, Operand::Imm(k)) => self.b.ins().iconst(t, imm(k)),
            (AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod, Operand::Imm(k)) => {
                self.div_imm(op, t, a, imm(k))
            }
            (_, Operand::Imm(k)) => {
                let b = self.b.ins().iconst(t, imm(k));
                self.alu_at(op, t, a, Operand::Reg(b))
            }
            (AluOp::Add, Operand::Reg(b)) => self.b.ins().iadd(a, b),
            (AluOp::Sub, Operand::Reg(b)) => self.b.ins().isub(a, b),
            (AluOp::Mul, Operand::Reg(b)) => self.b.ins().imul(a, b),
            (AluOp::Or, Operand::Reg(b)) => self.b.ins().bor(a, b),
            (AluOp::And, Operand::Reg(b)) => self.b.ins().band(a, b),
            (AluOp::Xor, Operand::Reg(b)) => self.b.ins().bxor(a, b),
            (AluOp::Lsh, Operand::Reg(b)) => self.b.ins().ishl(a, b),
            (AluOp::Rsh, Operand::Reg(b)) => self.b.ins().ushr(a, b),
            (AluOp::Arsh, Operand::Reg(b)) => self.b.ins().sshr(a, b),
            (AluOp::Mov, Operand::Reg(b)) => b,
            (AluOp::MovSx8, Operand::Reg(b)) => self.sext_low(t, b, I8),
            (AluOp::MovSx16, Operand::Reg(b)) => self.sext_low(t, b, I16),
            (AluOp::MovSx32, Operand::Reg(b)) => {
                if t == I32 {
                    b
                } else {
                    self.sext_low(t, b, I32)
                }
            }
            (AluOp::Div, Operand::Reg(b)) => {
                let (zero, safe) = self.nonzero(t, b);
                let q = self.b.ins().udiv(a, safe);
                let z = self.b.ins().iconst(t, 0);
                self.b.ins().select(zero, z, q)
            }
            (AluOp::Mod, Operand::Reg(b)) => {
                let (zero, safe) = self.nonzero(t, b);
                let r = self.b.ins().urem(a, safe);
                self.b.ins().select(zero, a, r)
            }
            (AluOp::SDiv | AluOp::SMod, Operand::Reg(b)) => {
                // Divide by 1 where the hardware would trap (0) or overflow (-1).
                let zero = self.b.ins().icmp_imm_s(IntCC::Equal, b, 0);
                let minus1 = self.b.ins().icmp_imm_s(IntCC::Equal, b, -1);
                let special = self.b.ins().bor(zero, minus1);
                let one = self.b.ins().iconst(t, 1);
                let safe = self.b.ins().select(special, one, b);
                if op == AluOp::SDiv {
                    let q = self.b.ins().sdiv(a, safe);
                    let neg = self.b.ins().ineg(a);
                    let z = self.b.ins().iconst(t, 0);
                    let q = self.b.ins().select(minus1, neg, q);
                    self.b.ins().select(zero, z, q)
                } else {
                    let r = self.b.ins().srem(a, safe);
                    let z = self.b.ins().iconst(t, 0);
                    let r = self.b.ins().select(minus1, z, r);
                    self.b.ins().select(zero, a, r)
                }
            }
        }
    }

    /// Division and remainder by a constant: the special divisors fold away.
    fn div_imm(&mut self, op: AluOp, t: Type, a: Value, k: i64) -> Value {
        match (op, k) {
            (AluOp::Div | AluOp::SDiv, 0) => self.b.ins().iconst(t, 0),
            (AluOp::Mod | AluOp::SMod, 0) => a,
            (AluOp::SDiv, -1) => self.b.ins().ineg(a),
            (AluOp::SMod, -1) => self.b.ins().iconst(t, 0),
            (AluOp::Div, _) => self.b.ins().udiv_imm_s(a, k),
            (AluOp::Mod, _) => self.b.ins().urem_imm_s(a, k),
            (AluOp::SDiv, _) => self.b.ins().sdiv_imm_s(a, k),
            _ => self.b.ins().srem_imm_s(a, k),
        }
    }

    /// `(b == 0, b or 1 when it is 0)`.
    fn nonzero(&mut self, t: Type, b: Value) -> (Value, Value) {
        let zero = self.b.ins().icmp_imm_s(IntCC::Equal, b, 0);
        let one = self.b.ins().iconst(t, 1);
        let safe = self.b.ins().select(zero, one, b);
        (zero, safe)
    }

    /// Sign-extends the low `from` bits of `b` to type `t`.
    fn sext_low(&mut self, t: Type, b: Value, from: Type) -> Value {
        let n = self.b.ins().ireduce(from, b);
        self.b.ins().sextend(t, n)
    }

    /// `a == k`, `a != k` or `a & k != 0` where `a` is a byte-swapped narrow value
    /// zero-extended (`be16`/`be32` of a load: packet fields), tested on the unswapped value
    /// against the swapped constant instead, so the swap (and often the register holding the
    /// field) goes away. Exact: the swap is a bijection of the narrow type, `a` has no bits
    /// above it, and a constant with bits above it is left to the general path. `None` when
    /// the pattern does not apply.
    fn swapped_compare(&mut self, width: Width, cond: JmpCond, a: Value, k: u64) -> Option<Value> {
        use cranelift_codegen::ir::{Opcode, ValueDef};
        if !matches!(cond, JmpCond::Eq | JmpCond::Ne | JmpCond::Set) {
            return None;
        }
        let dfg = &self.b.func.dfg;
        let def = |v: Value, op: Opcode| match dfg.value_def(v) {
            ValueDef::Result(inst, 0) if dfg.insts[inst].opcode() == op => {
                Some(dfg.inst_args(inst)[0])
            }
            _ => None,
        };
        let swapped = def(a, Opcode::Uextend)?;
        let x = def(swapped, Opcode::Bswap)?;
        let t = dfg.value_type(x);
        let k = match width {
            Width::W64 => k,
            Width::W32 => k & 0xffff_ffff,
        };
        let k = match t {
            I16 if cond == JmpCond::Set => u64::from((k as u16).swap_bytes()),
            I32 if cond == JmpCond::Set => u64::from((k as u32).swap_bytes()),
            I16 if k <= 0xffff => u64::from((k as u16).swap_bytes()),
            I32 if k <= 0xffff_ffff => u64::from((k as u32).swap_bytes()),
            _ => return None,
        };
        // A 16-bit field loaded from memory (`ireduce.i16` of a `uload16`) is compared as the
        // 64-bit load itself, its zero extension: the constant is at most 0xffff, so the
        // results are equal, and x86-64 then needs no 16-bit immediate (its operand-size
        // prefix stalls the decoder).
        let x = match def(x, Opcode::Ireduce) {
            Some(wide)
                if t == I16
                    && matches!(dfg.value_def(wide), ValueDef::Result(inst, 0)
                        if dfg.insts[inst].opcode() == Opcode::Uload16) =>
            {
                wide
            }
            _ => x,
        };
        Some(match cond {
            JmpCond::Eq => self.b.ins().icmp_imm_s(IntCC::Equal, x, k as i64),
            JmpCond::Ne => self.b.ins().icmp_imm_s(IntCC::NotEqual, x, k as i64),
            _ => {
                let m = self.b.ins().band_imm_s(x, k as i64);
                self.b.ins().icmp_imm_s(IntCC::NotEqual, m, 0)
            }
        })
    }

    fn compare(&mut self, width: Width, cond: JmpCond, a: Value, b: Value) -> Value {
        let (a, b) = match width {
            Width::W64 => (a, b),
            Width::W32 => (self.b.ins().ireduce(I32, a), self.b.ins().ireduce(I32, b)),
        };
        let cc = match cond {
            JmpCond::Eq => IntCC::Equal,
            JmpCond::Ne => IntCC::NotEqual,
            JmpCond::Gt => IntCC::UnsignedGreaterThan,
            JmpCond::Ge => IntCC::UnsignedGreaterThanOrEqual,
            JmpCond::Lt => IntCC::UnsignedLessThan,
            JmpCond::Le => IntCC::UnsignedLessThanOrEqual,
            JmpCond::Sgt => IntCC::SignedGreaterThan,
            JmpCond::Sge => IntCC::SignedGreaterThanOrEqual,
            JmpCond::Slt => IntCC::SignedLessThan,
            JmpCond::Sle => IntCC::SignedLessThanOrEqual,
            JmpCond::Set => {
                let m = self.b.ins().band(a, b);
                return self.b.ins().icmp_imm_s(IntCC::NotEqual, m, 0);
            }
        };
        self.b.ins().icmp(cc, a, b)
    }

    fn store(&mut self, size: Size, v: Value, host: Value, disp: i32) {
        match size {
            Size::B => self.b.ins().istore8(mem_flags(), v, host, disp),
            Size::H => self.b.ins().istore16(mem_flags(), v, host, disp),
            Size::W => self.b.ins().istore32(mem_flags(), v, host, disp),
            Size::DW => self.b.ins().store(mem_flags(), v, host, disp),
        };
    }

    /// The host address of `base + off` for an access of `size` bytes by instruction `i` at
    /// slot `pc`, as a value and a displacement. Trusted code translates by the region the
    /// verifier proved (`base + delta`, shared by every access through the same base); checked
    /// code (and trusted code at an instruction the verifier never reached) checks the live
    /// stack and the context, and faults like the interpreter.
    #[allow(clippy::too_many_arguments)]
    fn address(
        &mut self,
        pc: usize,
        i: usize,
        base: Value,
        off: i16,
        size: Size,
        write: bool,
        frame_slot: bool,
    ) -> (Value, i32) {
        let proven = self.inp.access.map_or(Access::None, |acc| acc[i]);
        let delta = match proven {
            Access::Ctx if !write && self.inp.harden => {
                let a = self.b.ins().iadd_imm_s(base, i64::from(off));
                return (self.ctx_checked_address(pc, a, size), 0);
            }
            Access::Ctx if !write => self.ctx_delta,
            Access::Stack => self.stack_delta,
            Access::Either if !write && self.inp.harden => {
                let a = self.b.ins().iadd_imm_s(base, i64::from(off));
                return (self.checked_address(pc, a, size, false), 0);
            }
            Access::Either if !write => {
                // The region is the one the address `base + off` lies in (the verifier proved
                // it lies in one of them), not the one `base` does: a pointer may be moved
                // outside its region and brought back by the offset. The stack lies above
                // the whole context.
                let a = self.b.ins().iadd_imm_s(base, i64::from(off));
                let placed = if self.inp.plant_either_by_base { base } else { a };
                let st = self.b.ins().icmp_imm_s(
                    IntCC::UnsignedGreaterThanOrEqual,
                    placed,
                    STACK_BASE as i64,
                );
                let d = self.b.ins().select(st, self.stack_delta, self.ctx_delta);
                return (self.b.ins().iadd(a, d), 0);
            }
            // The current frame through r10 is always live and in the stack: nothing to check.
            _ if frame_slot && in_frame(off, size) => self.stack_delta,
            _ => {
                let a = self.b.ins().iadd_imm_s(base, i64::from(off));
                return (self.checked_address(pc, a, size, write), 0);
            }
        };
        (self.b.ins().iadd(base, delta), i32::from(off))
    }

    /// Hardened code's context access at virtual address `a`: checked against the context's
    /// length (a fault like the interpreter's out-of-bounds fault), then translated.
    fn ctx_checked_address(&mut self, pc: usize, a: Value, size: Size) -> Value {
        let n = size_bytes(size);
        let ok = self.in_ctx(a, n);
        self.fault_unless(ok, pc, a, n as u64);
        self.b.ins().iadd(a, self.ctx_delta)
    }

    /// Whether `n` bytes at virtual address `a` lie in the context: `off <= len` and
    /// `n <= len - off`.
    fn in_ctx(&mut self, a: Value, n: i64) -> Value {
        let off_c = self.b.ins().iadd_imm_s(a, -(CTX_BASE as i64));
        let within = self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, off_c, self.ctx_len);
        let room = self.b.ins().isub(self.ctx_len, off_c);
        let fits = self.b.ins().icmp_imm_s(IntCC::UnsignedGreaterThanOrEqual, room, n);
        self.b.ins().band(within, fits)
    }

    /// Continues where `ok` holds; elsewhere the run ends with the interpreter's
    /// out-of-bounds fault at slot `pc`, address `a` (`what`: size, and 0x100 for a write).
    fn fault_unless(&mut self, ok: Value, pc: usize, a: Value, what: u64) {
        self.env_exit.get_or_insert(pc);
        let cont = self.b.create_block();
        let out = self.b.create_block();
        self.b.ins().brif(ok, cont, &[], out, &[]);
        self.b.seal_block(out);
        self.b.switch_to_block(out);
        let c = self.iconst(code::OUT_OF_BOUNDS);
        let p = self.iconst(pc as u64);
        let x = self.iconst(what);
        self.b.ins().jump(self.fault, &[c.into(), p.into(), a.into(), x.into()]);
        self.continue_in(cont);
    }

    fn checked_address(&mut self, pc: usize, a: Value, size: Size, write: bool) -> Value {
        let n = size_bytes(size);
        // Live stack: [r10 - 512, STACK_TOP).
        let r10 = self.b.use_var(self.regs[10]);
        let off_s = self.b.ins().iadd_imm_s(a, -(STACK_BASE as i64));
        let lo = self.b.ins().iadd_imm_s(r10, -(STACK_FRAME as i64) - STACK_BASE as i64);
        let above = self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, off_s, lo);
        let below = self.b.ins().icmp_imm_s(IntCC::UnsignedLessThanOrEqual, off_s, STACK_SIZE - n);
        let in_stack = self.b.ins().band(above, below);
        let mut in_ctx = self.in_ctx(a, n);
        if write {
            let w = self.b.ins().icmp_imm_s(IntCC::NotEqual, self.writable, 0);
            in_ctx = self.b.ins().band(in_ctx, w);
        }
        let ok = self.b.ins().bor(in_stack, in_ctx);
        self.fault_unless(ok, pc, a, n as u64 | if write { 0x100 } else { 0 });
        let d = self.b.ins().select(in_stack, self.stack_delta, self.ctx_delta);
        self.b.ins().iadd(a, d)
    }

    #[allow(clippy::too_many_arguments)]
    fn atomic(
        &mut self,
        pc: usize,
        i: usize,
        size: Size,
        op: AtomicOp,
        fetch: bool,
        base: Reg,
        off: i16,
        src: Reg,
    ) {
        let frame_slot = base == Reg::R10;
        let in_frame = frame_slot && in_frame(off, size);
        let base = self.reg(base);
        // The interpreter loads (and may fault as a load) before it stores.
        let (host, disp) = if in_frame || self.inp.access.is_some_and(|acc| acc[i] == Access::Stack)
        {
            self.address(pc, i, base, off, size, true, frame_slot)
        } else {
            let a = self.b.ins().iadd_imm_s(base, i64::from(off));
            self.checked_address(pc, a, size, false);
            (self.checked_address(pc, a, size, true), 0)
        };
        let t = size_type(size);
        let width = if t == I32 { Width::W32 } else { Width::W64 };
        let old = self.b.ins().load(t, mem_flags(), host, disp);
        let old = if t == I32 { self.b.ins().uextend(I64, old) } else { old };
        let operand = self.reg(src);
        let alu = |s: &mut Self, op| s.alu(op, width, old, Operand::Reg(operand));
        let new = match op {
            AtomicOp::Add => alu(self, AluOp::Add),
            AtomicOp::Or => alu(self, AluOp::Or),
            AtomicOp::And => alu(self, AluOp::And),
            AtomicOp::Xor => alu(self, AluOp::Xor),
            AtomicOp::Xchg => operand,
            AtomicOp::CmpXchg => {
                let r0 = self.reg(Reg::R0);
                let expected = if t == I32 { self.narrow(r0, I32) } else { r0 };
                let same = self.b.ins().icmp(IntCC::Equal, old, expected);
                let new = self.b.ins().select(same, operand, old);
                self.store(size, new, host, disp);
                self.set(Reg::R0, old);
                return;
            }
        };
        self.store(size, new, host, disp);
        if fetch {
            self.set(src, old);
        }
    }

    /// Classic BPF packet load at context offset `off`: big-endian into `r0`, or the program
    /// returns 0 when it is out of bounds.
    fn packet_load(&mut self, size: Size, off: Value) {
        let n = size_bytes(size);
        // `off` < 2^32 (computed in 32 bits), so `off + n` cannot wrap.
        let end = self.b.ins().iadd_imm_s(off, n);
        let ok = self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, end, self.ctx_len);
        let cont = self.b.create_block();
        let out = self.b.create_block();
        self.b.ins().brif(ok, cont, &[], out, &[]);
        self.b.seal_block(out);
        self.b.switch_to_block(out);
        let z = self.iconst(0);
        self.set(Reg::R0, z);
        self.b.ins().jump(self.done, &[]);
        self.continue_in(cont);
        let base = self.b.ins().iadd_imm_s(self.ctx_delta, CTX_BASE as i64);
        let host = self.b.ins().iadd(base, off);
        let t = size_type(size);
        let v = self.b.ins().load(t, mem_flags(), host, 0);
        let v = if t == I8 { v } else { self.b.ins().bswap(v) };
        let v = self.b.ins().uextend(I64, v);
        self.set(Reg::R0, v);
    }

    /// A helper call: helper `direct` (an id below [`DIRECT_HELPERS`], for `call imm`)
    /// through the run's table of direct helpers when it has one (`env.direct`: arguments in
    /// registers, a plain function pointer), else through the trampoline (`env.helper`:
    /// arguments stored in `env.regs`). Both return the status, the result in `env.regs[0]`.
    fn helper(&mut self, pc: usize, id: Value, direct: Option<u64>) {
        let env = self.env();
        let join = self.b.create_block();
        self.b.append_block_param(join, I64);
        if let Some(k) = direct {
            let table = self.b.ins().load(I64, env_flags(), env, offset::DIRECT);
            let fast = self.b.create_block();
            let slow = self.b.create_block();
            self.b.ins().brif(table, fast, &[], slow, &[]);
            self.b.seal_block(fast);
            self.b.seal_block(slow);
            self.b.switch_to_block(fast);
            // The table is a constant of the runtime, never written.
            let flags = MemFlagsData::trusted().with_readonly();
            let f = self.b.ins().load(I64, flags, table, 8 * k as i32);
            let mut args = vec![env];
            for r in 1..=5 {
                args.push(self.b.use_var(self.regs[r]));
            }
            let call = self.b.ins().call_indirect(self.direct_sig, f, &args);
            let st = self.b.inst_results(call)[0];
            self.b.ins().jump(join, &[st.into()]);
            self.b.switch_to_block(slow);
        }
        for r in 1..=5 {
            let v = self.b.use_var(self.regs[r]);
            self.b.ins().store(env_flags(), v, env, offset::REGS + 8 * r as i32);
        }
        let f = self.b.ins().load(I64, env_flags(), env, offset::HELPER);
        let p = self.iconst(pc as u64);
        let call = self.b.ins().call_indirect(self.helper_sig, f, &[env, id, p]);
        let st = self.b.inst_results(call)[0];
        self.b.ins().jump(join, &[st.into()]);
        self.b.seal_block(join);
        self.b.switch_to_block(join);
        let st = self.b.block_params(join)[0];
        let r0 = self.b.ins().load(I64, env_flags(), env, offset::REGS);
        self.set(Reg::R0, r0);
        let cont = self.b.create_block();
        let odd = self.b.create_block();
        self.b.ins().brif(st, odd, &[], cont, &[]);
        self.b.seal_block(odd);
        self.b.switch_to_block(odd);
        let stop = self.b.ins().icmp_imm_s(IntCC::Equal, st, status::STOP as i64);
        let failed = self.b.create_block();
        self.b.ins().brif(stop, self.done, &[], failed, &[]);
        self.b.seal_block(failed);
        self.b.switch_to_block(failed);
        self.fault_now(code::HELPER, pc, 0, 0);
        self.continue_in(cont);
    }

    /// Address of the frame record for `index` callers.
    fn frame_record(&mut self, index: Value) -> Value {
        let off = self.b.ins().imul_imm_s(index, i64::from(offset::FRAME_SIZE));
        let env = self.env();
        let rec = self.b.ins().iadd(env, off);
        self.b.ins().iadd_imm_s(rec, i64::from(offset::FRAMES))
    }

    /// Callers on the stack now: `(STACK_TOP - r10) / 512`.
    fn callers(&mut self) -> Value {
        let r10 = self.b.use_var(self.regs[10]);
        let top = self.iconst(STACK_TOP);
        let used = self.b.ins().isub(top, r10);
        self.b.ins().ushr_imm_s(used, STACK_FRAME.trailing_zeros() as i64)
    }

    fn call_local(&mut self, pc: usize, ret: usize, target: usize) {
        let d = self.callers();
        let deep = self.b.ins().icmp_imm_s(
            IntCC::UnsignedGreaterThanOrEqual,
            d,
            MAX_CALL_DEPTH as i64 - 1,
        );
        let cont = self.b.create_block();
        let out = self.b.create_block();
        self.b.ins().brif(deep, out, &[], cont, &[]);
        self.b.seal_block(out);
        self.b.switch_to_block(out);
        self.fault_now(code::CALL_DEPTH, pc, 0, 0);
        self.continue_in(cont);
        let rec = self.frame_record(d);
        let r = self.iconst(ret as u64);
        self.b.ins().store(env_flags(), r, rec, 0);
        for k in 0..4 {
            let v = self.b.use_var(self.regs[6 + k]);
            self.b.ins().store(env_flags(), v, rec, 8 + 8 * k as i32);
        }
        let r10 = self.b.use_var(self.regs[10]);
        let r10 = self.b.ins().iadd_imm_s(r10, -(STACK_FRAME as i64));
        self.b.def_var(self.regs[10], r10);
        // Each call starts with a zeroed frame: [r10 - 512, r10).
        let host = self.b.ins().iadd(r10, self.stack_delta);
        let zero = self.iconst(0);
        for k in 1..=(STACK_FRAME / 8) as i32 {
            self.b.ins().store(env_flags(), zero, host, -8 * k);
        }
        let t = self.target(target);
        self.jump_to(t);
    }

    fn exit(&mut self) {
        if !self.inp.plan.has_calls {
            self.b.ins().jump(self.done, &[]);
            self.open = false;
            return;
        }
        let r10 = self.b.use_var(self.regs[10]);
        let top = self.b.ins().icmp_imm_s(IntCC::Equal, r10, STACK_TOP as i64);
        let ret = self.b.create_block();
        self.b.ins().brif(top, self.done, &[], ret, &[]);
        self.continue_in(ret);
        let d = self.callers();
        let d = self.b.ins().iadd_imm_s(d, -1);
        let rec = self.frame_record(d);
        let slot = self.b.ins().load(I64, env_flags(), rec, 0);
        for k in 0..4 {
            let v = self.b.ins().load(I64, env_flags(), rec, 8 + 8 * k as i32);
            self.b.def_var(self.regs[6 + k], v);
        }
        let r10 = self.b.use_var(self.regs[10]);
        let r10 = self.b.ins().iadd_imm_s(r10, STACK_FRAME as i64);
        self.b.def_var(self.regs[10], r10);
        let away = self.b.create_block();
        let mut sw = Switch::new();
        let sites: Vec<usize> = self
            .inp
            .region
            .entries
            .iter()
            .copied()
            .filter(|&e| self.inp.plan.return_site[e])
            .collect();
        for e in sites {
            let blk = self.target_block(e);
            sw.set_entry(e as u128, blk);
        }
        sw.emit(&mut self.b, slot, away);
        self.flush_stubs();
        self.b.seal_block(away);
        self.b.switch_to_block(away);
        self.b.ins().jump(self.leave, &[slot.into()]);
        self.open = false;
    }
}

#[derive(Clone, Copy)]
enum Operand {
    Reg(Value),
    Imm(u64),
}

/// `[r10 + off, r10 + off + size)` lies in the current frame `[r10 - 512, r10)`.
fn in_frame(off: i16, size: Size) -> bool {
    (-(STACK_FRAME as i64)..=-size_bytes(size)).contains(&i64::from(off))
}

fn size_type(size: Size) -> Type {
    match size {
        Size::B => I8,
        Size::H => I16,
        Size::W => I32,
        Size::DW => I64,
    }
}

fn size_bytes(size: Size) -> i64 {
    size_type(size).bytes() as i64
}

fn bits_type(bits: SwapBits) -> Type {
    match bits {
        SwapBits::B16 => I16,
        SwapBits::B32 => I32,
        SwapBits::B64 => I64,
    }
}
