//! The merged trie as ONE eBPF program of type `filter`, verified by the ordinary verifier and
//! run by the interpreter or the JIT like any filter: its `r0` names the set of owners that
//! accept the packet (0: nobody; otherwise an index into [`Merged::sets`]).
//!
//! No new helper: a node's table becomes a balanced tree of compares (`jeq` on the values in
//! order, split with `jge`), each load is preceded by the length test the verifier needs (for
//! fields past the IPv4 header, the translator's `r6 = 4 * (p[o] & 0xf)`, `r4 = r6 + end`,
//! `if r4 > r2` pattern), and a leaf's tests become compares that jump to the leaf's failure.
//! Where the walk would go on to several places (a table child and the `other` child, a leaf
//! and what follows it), what follows is emitted once per outcome, with the owners found so far
//! carried along, so every exit knows its set; the code for the same work left with the same
//! owners found is made once and jumped to. That is linear for filters that do not overlap
//! (connections) and grows with the overlaps; past `max_insns`
//! instructions [`Demux::compile`] gives up ([`CodegenError::TooLarge`]) and the kernel walks
//! the trie instead. Filters kept whole are not in the program: [`Demux::run_compiled`] adds
//! them.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use udf_bytecode::{
    AluOp, BuildError, Endian, FarJumps, Insn, JmpCond, Label, ProgramBuilder, ProgramType, Reg,
    Size, Source, SwapBits, Width,
};
use udf_runtime::Fault;
use udf_verifier::{Rejection, Verified};

use super::atoms::{Atom, Base, FieldKey, Val};
use super::{Demux, Owner, Scratch};

/// The merged program and what its results mean.
#[derive(Clone, Debug)]
pub struct Merged {
    /// The verified program (type `filter`).
    pub verified: Verified,
    /// `sets[r0]`: the owners (sorted) for each result; `sets[0]` is empty.
    pub sets: Vec<Vec<Owner>>,
}

/// Why the trie was not compiled.
#[derive(Clone, Debug)]
pub enum CodegenError {
    /// More than the instruction limit.
    TooLarge,
    /// A test the generator does not emit (a negative offset, an offset past 16 bits).
    Unsupported,
    /// The builder refused the layout.
    Build(BuildError),
    /// The verifier refused the program: a defect of the generator.
    Rejected(alloc::boxed::Box<Rejection>),
}

/// Work left on one path of the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    Node(u32),
    Leaf(u32, u32),
}

struct Gen<'d> {
    d: &'d Demux,
    b: ProgramBuilder<()>,
    sets: BTreeMap<Vec<Owner>, u32>,
    /// Code already made per (work left, owners found).
    memo: BTreeMap<(Vec<Item>, Vec<Owner>), Label>,
    max: usize,
    depth: usize,
}

/// Deepest recursion of the generator (steps of work on one path).
const MAX_DEPTH: usize = 2048;

const R0: Reg = Reg::R0;
const PKT: Reg = Reg::R1;
const CAPLEN: Reg = Reg::R2;
const WIRE: Reg = Reg::R3;
const R4: Reg = Reg::R4;
const R5: Reg = Reg::R5;
const R6: Reg = Reg::R6;
const R7: Reg = Reg::R7;

fn mov(dst: Reg, src: Source) -> Insn {
    Insn::Alu { width: Width::W64, op: AluOp::Mov, dst, src }
}

impl Gen<'_> {
    fn check_size(&self) -> Result<(), CodegenError> {
        if self.b.len() > self.max { Err(CodegenError::TooLarge) } else { Ok(()) }
    }

    /// `dst = v`.
    fn constant(&mut self, dst: Reg, v: u64) {
        if v <= i32::MAX as u64 {
            self.b.emit(mov(dst, Source::Imm(v as i32)));
        } else {
            self.b.emit(Insn::LoadImm64 { dst, imm: v });
        }
    }

    /// `if reg COND v goto l` (64-bit).
    fn cmp_imm(&mut self, cond: JmpCond, reg: Reg, v: u64, l: Label) {
        if v <= i32::MAX as u64 {
            self.b.jump_if(Width::W64, cond, reg, Source::Imm(v as i32), l);
        } else {
            self.b.emit(Insn::LoadImm64 { dst: R7, imm: v });
            self.b.jump_if(Width::W64, cond, reg, Source::Reg(R7), l);
        }
    }

    /// `r6 = 4 * (p[o] & 0xf)`, going to `fail` when `p[o]` is past the captured bytes.
    fn ihl(&mut self, o: u32, fail: Label) -> Result<(), CodegenError> {
        let off = i16::try_from(o).map_err(|_| CodegenError::Unsupported)?;
        self.cmp_imm(JmpCond::Lt, CAPLEN, u64::from(o) + 1, fail);
        self.b.emit(Insn::Load { size: Size::B, signed: false, dst: R6, base: PKT, off });
        let alu32 = |op, imm| Insn::Alu { width: Width::W32, op, dst: R6, src: Source::Imm(imm) };
        self.b.emit(alu32(AluOp::And, 15));
        self.b.emit(alu32(AluOp::Lsh, 2));
        Ok(())
    }

    /// `dst = ` the bytes at `base + off` as loaded (host order), going to `fail` when past the
    /// captured bytes.
    fn load(
        &mut self,
        dst: Reg,
        base: Base,
        off: i64,
        size: u8,
        fail: Label,
    ) -> Result<(), CodegenError> {
        let sz = match size {
            1 => Size::B,
            2 => Size::H,
            4 => Size::W,
            _ => Size::DW,
        };
        let o = i16::try_from(off).ok().filter(|&o| o >= 0).ok_or(CodegenError::Unsupported)?;
        let end = off as u64 + u64::from(size);
        match base {
            Base::Abs => {
                self.cmp_imm(JmpCond::Lt, CAPLEN, end, fail);
                self.b.emit(Insn::Load { size: sz, signed: false, dst, base: PKT, off: o });
            }
            Base::Ihl(ihl) => {
                self.ihl(ihl, fail)?;
                self.b.emit(mov(R4, Source::Reg(R6)));
                let end = i32::try_from(end).map_err(|_| CodegenError::Unsupported)?;
                self.b.emit(Insn::Alu {
                    width: Width::W64,
                    op: AluOp::Add,
                    dst: R4,
                    src: Source::Imm(end),
                });
                self.b.jump_if(Width::W64, JmpCond::Gt, R4, Source::Reg(CAPLEN), fail);
                self.b.emit(mov(R5, Source::Reg(PKT)));
                self.b.emit(Insn::Alu {
                    width: Width::W64,
                    op: AluOp::Add,
                    dst: R5,
                    src: Source::Reg(R6),
                });
                self.b.emit(Insn::Load { size: sz, signed: false, dst, base: R5, off: o });
            }
        }
        Ok(())
    }

    /// `dst = v` (as [`Val`] evaluates), going to `fail` where it has no value.
    fn val(&mut self, dst: Reg, v: Val, fail: Label) -> Result<(), CodegenError> {
        match v {
            Val::Const(c) => self.constant(dst, c),
            Val::CapLen => self.b.emit(mov(dst, Source::Reg(CAPLEN))),
            Val::WireLen => self.b.emit(mov(dst, Source::Reg(WIRE))),
            Val::Load { base, off, size, be, mask } => {
                self.load(dst, base, off, size, fail)?;
                if be && size > 1 {
                    let bits = match size {
                        2 => SwapBits::B16,
                        4 => SwapBits::B32,
                        _ => SwapBits::B64,
                    };
                    self.b.emit(Insn::End { kind: Endian::Be, bits, dst });
                }
                if mask != ones(size) {
                    self.mask(dst, mask);
                }
            }
            Val::Ihl { o, add } => {
                self.ihl(o, fail)?;
                self.b.emit(mov(dst, Source::Reg(R6)));
                if add != 0 {
                    // `dst` is at most 60: adding in a register keeps every bit.
                    let save = if dst == R7 { R4 } else { R7 };
                    self.constant(save, add);
                    self.b.emit(Insn::Alu {
                        width: Width::W64,
                        op: AluOp::Add,
                        dst,
                        src: Source::Reg(save),
                    });
                }
            }
            Val::Pkt | Val::PktIhl(_) | Val::Unknown => return Err(CodegenError::Unsupported),
        }
        Ok(())
    }

    fn mask(&mut self, dst: Reg, mask: u64) {
        let scratch = if dst == R7 { R4 } else { R7 };
        self.b.emit(Insn::LoadImm64 { dst: scratch, imm: mask });
        self.b.emit(Insn::Alu {
            width: Width::W64,
            op: AluOp::And,
            dst,
            src: Source::Reg(scratch),
        });
    }

    /// The field of `key` (network order, masked) into `r0`.
    fn field(&mut self, key: FieldKey, fail: Label) -> Result<(), CodegenError> {
        let v =
            Val::Load { base: key.base, off: key.off, size: key.size, be: true, mask: key.mask };
        self.val(R0, v, fail)
    }

    /// Goes to `fail` unless `a` is as the leaf needs.
    fn atom(&mut self, a: &Atom, fail: Label) -> Result<(), CodegenError> {
        self.val(R0, a.a, fail)?;
        self.val(R7, a.b, fail)?;
        if a.holds {
            let ok = self.b.label();
            self.b.jump_if(a.width, a.cond, R0, Source::Reg(R7), ok);
            self.b.ja(fail);
            self.b.bind(ok);
        } else {
            self.b.jump_if(a.width, a.cond, R0, Source::Reg(R7), fail);
        }
        Ok(())
    }

    fn set_id(&mut self, acc: &[Owner]) -> u32 {
        if acc.is_empty() {
            return 0;
        }
        let n = self.sets.len() as u32 + 1;
        *self.sets.entry(acc.to_vec()).or_insert(n)
    }

    /// The code of the walk from `items` with `acc` found so far.
    fn walk(&mut self, items: Vec<Item>, acc: &[Owner]) -> Result<(), CodegenError> {
        // Recursion as deep as the work on one path: bounded, for a kernel's stack.
        if self.depth >= MAX_DEPTH {
            return Err(CodegenError::TooLarge);
        }
        self.depth += 1;
        let r = self.walk_at(items, acc);
        self.depth -= 1;
        r
    }

    fn walk_at(&mut self, mut items: Vec<Item>, acc: &[Owner]) -> Result<(), CodegenError> {
        self.check_size()?;
        // The same work left with the same owners found: the code made for it already.
        let state = (items.clone(), acc.to_vec());
        if let Some(&l) = self.memo.get(&state) {
            self.b.ja(l);
            return Ok(());
        }
        let here = self.b.label();
        self.b.bind(here);
        self.memo.insert(state, here);
        let Some(item) = items.pop() else {
            let id = self.set_id(acc);
            self.b.emit(mov(R0, Source::Imm(id as i32)));
            self.b.emit(Insn::Exit);
            return Ok(());
        };
        match item {
            Item::Leaf(n, i) => {
                let leaf = &self.d.nodes[n as usize].leaves[i as usize];
                let mut with: Vec<Owner> = acc.to_vec();
                with.extend(leaf.members.iter().map(|m| m.1));
                with.sort_unstable();
                with.dedup();
                if with.len() == acc.len() {
                    // Nothing new: the leaf's outcome does not matter.
                    return self.walk(items, acc);
                }
                let fail = self.b.label();
                let (lo, hi) = leaf.rule.caplen;
                if lo > 0 {
                    self.cmp_imm(JmpCond::Lt, CAPLEN, lo, fail);
                }
                if hi < u64::from(u32::MAX) {
                    self.cmp_imm(JmpCond::Gt, CAPLEN, hi, fail);
                }
                let pending = leaf.pending.clone();
                let rest = leaf.rule.rest.clone();
                for e in pending {
                    self.field(e.key, fail)?;
                    self.cmp_imm(JmpCond::Ne, R0, e.value, fail);
                }
                for a in &rest {
                    self.atom(a, fail)?;
                }
                self.walk(items.clone(), &with)?;
                self.b.bind(fail);
                self.walk(items, acc)
            }
            Item::Node(n) => {
                let node = &self.d.nodes[n as usize];
                for i in (0..node.leaves.len()).rev() {
                    items.push(Item::Leaf(n, i as u32));
                }
                if node.other != super::NONE {
                    items.push(Item::Node(node.other));
                }
                let Some(key) = node.key.filter(|_| !node.table.is_empty()) else {
                    return self.walk(items, acc);
                };
                let mut entries = node.table.entries.clone();
                entries.sort_unstable();
                let miss = self.b.label();
                self.field(key, miss)?;
                let labels: Vec<Label> = entries.iter().map(|_| self.b.label()).collect();
                self.tree(&entries, &labels, 0, entries.len(), miss);
                for (e, l) in entries.iter().zip(&labels) {
                    self.b.bind(*l);
                    let mut next = items.clone();
                    next.push(Item::Node(e.1));
                    self.walk(next, acc)?;
                }
                self.b.bind(miss);
                self.walk(items, acc)
            }
        }
    }

    /// A balanced compare tree over `entries[lo..hi]` (sorted) on `r0`.
    fn tree(
        &mut self,
        entries: &[(u64, u32)],
        labels: &[Label],
        lo: usize,
        hi: usize,
        miss: Label,
    ) {
        if hi - lo <= 4 {
            for i in lo..hi {
                self.cmp_imm(JmpCond::Eq, R0, entries[i].0, labels[i]);
            }
            self.b.ja(miss);
            return;
        }
        let mid = lo + (hi - lo) / 2;
        let right = self.b.label();
        self.cmp_imm(JmpCond::Ge, R0, entries[mid].0, right);
        self.tree(entries, labels, lo, mid, miss);
        self.b.bind(right);
        self.tree(entries, labels, mid, hi, miss);
    }
}

fn ones(size: u8) -> u64 {
    if size >= 8 { u64::MAX } else { (1u64 << (8 * u32::from(size))) - 1 }
}

impl Demux {
    /// The trie as one verified eBPF program of at most `max_insns` instructions.
    pub fn compile(&self, max_insns: usize) -> Result<Merged, CodegenError> {
        let mut g = Gen {
            d: self,
            b: ProgramBuilder::new(),
            sets: BTreeMap::new(),
            memo: BTreeMap::new(),
            max: max_insns,
            depth: 0,
        };
        g.b.set_far_jumps(FarJumps::Gotol);
        g.walk(alloc::vec![Item::Node(0)], &[])?;
        let (prog, _) = g.b.finish().map_err(CodegenError::Build)?;
        let conf = udf_verifier::Config::new(ProgramType::Filter);
        let verified = udf_verifier::verify(&prog, &conf)
            .map_err(|e| CodegenError::Rejected(alloc::boxed::Box::new(e)))?;
        let mut sets = alloc::vec![Vec::new(); g.sets.len() + 1];
        for (set, id) in g.sets {
            sets[id as usize] = set;
        }
        Ok(Merged { verified, sets })
    }

    /// The owners of a packet from the merged program's result `r0` (however it ran) and the
    /// filters kept whole (run here by the interpreter): sorted, deduplicated, into `out`.
    pub fn run_compiled(
        &self,
        merged: &Merged,
        r0: u64,
        s: &mut Scratch,
        pkt: &[u8],
        wire_len: u32,
        out: &mut Vec<Owner>,
    ) -> Result<(), Fault> {
        out.clear();
        if let Some(set) = usize::try_from(r0).ok().and_then(|i| merged.sets.get(i)) {
            out.extend_from_slice(set);
        }
        self.run_whole(s, pkt, wire_len, out)?;
        out.sort_unstable();
        out.dedup();
        Ok(())
    }
}
