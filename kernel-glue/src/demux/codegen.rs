//! The merged demultiplexer as ONE eBPF program of type `filter` verified with the demux
//! helper set ([`udf_bytecode::progtype::DEMUX_HELPERS`]) by the ordinary verifier, and run by
//! the interpreter or the JIT like any filter with the helper table [`Demux::lookup`] gives.
//!
//! The program is one straight block per group of rules of one shape ([`super::groups`]): the
//! group's captured-length bounds, its fixed equalities, its guards (key fields all its entries
//! agree on) and its residual tests as compares that skip to the next group, then its fields loaded (each load preceded by the length test the
//! verifier needs; for fields past the IPv4 header, the translator's `r6 = 4 * (p[o] & 0xf)`,
//! `r4 = r6 + end`, `if r4 > r8` pattern), packed into up to four key words on the stack, and
//! one call `demux_lookup(group, w0, w1, w2, w3)`, which adds the owners of the matching table
//! entry to the run's result. The packet pointer and length live in `r9` and `r8` (a call
//! clobbers `r1`-`r5`), the wire length on the stack. The program's size is linear in the
//! number of groups, not of filters, and its `r0` is 0: the result is what the lookups added
//! ([`Demux::run_merged`], [`Demux::finish_merged`] add the filters kept whole). A change that
//! only adds or removes table entries leaves the program as it is; one that makes or drops a
//! group makes it stale ([`Demux::is_current`]), and a stale program is never trusted for a
//! result (the trie is walked instead) until it is made again.
//!
//! Two things spare work per packet. The groups are ordered by the equalities they test before
//! their lookup (fixed ones and guards, by field), and groups that share leading ones share
//! their code: the Ethernet type, then the IPv4 fragment offset, then the protocol are tested
//! once for the run of groups that need them, so a packet of another protocol skips the run
//! with one compare. And a group that covers others ([`super::groups::Group::covers`]: a
//! connection's 4-tuple covering the port and host groups its key implies) records its hit in
//! a stack slot (zeroed on entry, so the verifier sees it written on every path); the groups
//! it covers, coming after it, test the slot first and skip their lookup after a hit, whose
//! entry delivered their owners already.

use alloc::vec::Vec;

use udf_bytecode::progtype::{DEMUX_HELPERS, HELPER_DEMUX_LOOKUP};
use udf_bytecode::{
    AluOp, BuildError, CheckConfig, Endian, FarJumps, Insn, JmpCond, Label, ProgramBuilder,
    ProgramType, Reg, Size, Source, SwapBits, Width,
};
use udf_runtime::{Compiled, Context, Fault, RunOptions};
use udf_verifier::{Rejection, Verified};

use super::atoms::{Atom, Base, EqAtom, FieldKey, Val};
use super::groups::{Group, Lookup, WORDS, bits};
use super::{Demux, Owner, Scratch};

/// The merged program.
#[derive(Clone, Debug)]
pub struct Merged {
    /// The verified program (type `filter`, helpers [`DEMUX_HELPERS`]).
    pub verified: Verified,
    /// For the interpreter.
    code: Compiled,
    /// The groups' version it was made at.
    version: u64,
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

/// A group as the program tests it: its number, and the equalities tested before its lookup
/// (its fixed ones and its guards, sorted: by field, so the Ethernet type comes before the IP
/// protocol).
struct Planned<'a> {
    n: u32,
    group: &'a Group,
    tests: Vec<EqAtom>,
    /// The stack slot where the group records whether its lookup hit, when a later group is
    /// one it covers ([`Group::covers`]).
    flag: Option<i16>,
    /// The flags of the earlier groups covering this one: when one is set, this group's
    /// owners were delivered with that hit, and its lookup is skipped.
    skip_if: Vec<i16>,
}

/// Stack slot of the first flag: `FLAG_SLOT - 8 * i`.
const FLAG_SLOT: i16 = WORD_SLOT - 8 * WORDS as i16;
/// Most flags (the rest of the 512-byte frame).
const MAX_FLAGS: usize = 48;

fn tests(grp: &Group) -> Vec<EqAtom> {
    let mut t: Vec<EqAtom> = grp.sig.fixed.iter().chain(&grp.guard).copied().collect();
    t.sort_unstable();
    t.dedup();
    t
}

struct Gen {
    b: ProgramBuilder<()>,
    max: usize,
}

const R0: Reg = Reg::R0;
const PKT: Reg = Reg::R9;
const CAPLEN: Reg = Reg::R8;
const R4: Reg = Reg::R4;
const R5: Reg = Reg::R5;
const R6: Reg = Reg::R6;
const R7: Reg = Reg::R7;
/// Stack slot of the wire length.
const WIRE_SLOT: i16 = -8;
/// Stack slot of key word `k`: `WORD_SLOT - 8 * k`.
const WORD_SLOT: i16 = -16;

fn mov(dst: Reg, src: Source) -> Insn {
    Insn::Alu { width: Width::W64, op: AluOp::Mov, dst, src }
}

impl Gen {
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
            Val::WireLen => self.b.emit(Insn::Load {
                size: Size::DW,
                signed: false,
                dst,
                base: Reg::R10,
                off: WIRE_SLOT,
            }),
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

    /// The code of groups `gs`, which all have the same first `depth` equalities tested before
    /// their lookup (fixed and guards, [`tests`]), tested already: the groups with no further
    /// such equality each on their own, and those that share the next one as a run behind one
    /// test of it (a packet of another protocol skips all the run's groups with that one
    /// compare), recursively. The groups come sorted by those equalities ([`Demux::compile`]),
    /// so the runs are contiguous.
    fn groups(&mut self, gs: &[Planned<'_>], depth: usize) -> Result<(), CodegenError> {
        let mut i = 0;
        while i < gs.len() {
            let Some(&e) = gs[i].tests.get(depth) else {
                self.group(&gs[i], depth)?;
                i += 1;
                continue;
            };
            let run = gs[i..].iter().take_while(|g| g.tests.get(depth) == Some(&e)).count();
            if run == 1 {
                self.group(&gs[i], depth)?;
            } else {
                self.check_size()?;
                let past = self.b.label();
                self.field(e.key, past)?;
                self.cmp_imm(JmpCond::Ne, R0, e.value, past);
                self.groups(&gs[i..i + run], depth + 1)?;
                self.b.bind(past);
            }
            i += run;
        }
        Ok(())
    }

    /// The code of a group: its tests (but the first `shared` equalities, tested before it),
    /// its key, its lookup.
    fn group(&mut self, p: &Planned<'_>, shared: usize) -> Result<(), CodegenError> {
        let (g, grp) = (p.n, p.group);
        self.check_size()?;
        let next = self.b.label();
        for &f in &p.skip_if {
            self.b.emit(Insn::Load {
                size: Size::DW,
                signed: false,
                dst: R0,
                base: Reg::R10,
                off: f,
            });
            self.b.jump_if(Width::W64, JmpCond::Ne, R0, Source::Imm(0), next);
        }
        let (lo, hi) = grp.sig.caplen;
        if lo > 0 {
            self.cmp_imm(JmpCond::Lt, CAPLEN, lo, next);
        }
        if hi < u64::from(u32::MAX) {
            self.cmp_imm(JmpCond::Gt, CAPLEN, hi, next);
        }
        for e in p.tests.iter().skip(shared) {
            self.field(e.key, next)?;
            self.cmp_imm(JmpCond::Ne, R0, e.value, next);
        }
        for a in &grp.sig.rest {
            self.atom(a, next)?;
        }
        let mut used = [false; WORDS];
        for &(key, w) in &grp.sig.keys {
            self.field(key, next)?;
            let slot = WORD_SLOT - 8 * i16::from(w);
            let st = |src| Insn::Store { size: Size::DW, base: Reg::R10, off: slot, src };
            if used[usize::from(w)] {
                // word = (word << bits) | field
                let b = bits(&key);
                self.b.emit(Insn::Load {
                    size: Size::DW,
                    signed: false,
                    dst: R4,
                    base: Reg::R10,
                    off: slot,
                });
                self.b.emit(Insn::Alu {
                    width: Width::W64,
                    op: AluOp::Lsh,
                    dst: R4,
                    src: Source::Imm(b as i32),
                });
                self.b.emit(Insn::Alu {
                    width: Width::W64,
                    op: AluOp::Or,
                    dst: R4,
                    src: Source::Reg(R0),
                });
                self.b.emit(st(Source::Reg(R4)));
            } else {
                self.b.emit(st(Source::Reg(R0)));
                used[usize::from(w)] = true;
            }
        }
        let group = i32::try_from(g).map_err(|_| CodegenError::TooLarge)?;
        self.b.emit(mov(Reg::R1, Source::Imm(group)));
        for (k, r) in [Reg::R2, Reg::R3, Reg::R4, Reg::R5].into_iter().enumerate() {
            if used[k] {
                self.b.emit(Insn::Load {
                    size: Size::DW,
                    signed: false,
                    dst: r,
                    base: Reg::R10,
                    off: WORD_SLOT - 8 * k as i16,
                });
            } else {
                self.b.emit(mov(r, Source::Imm(0)));
            }
        }
        self.b.emit(Insn::Call { imm: HELPER_DEMUX_LOOKUP.id as i32 });
        if let Some(f) = p.flag {
            self.b.emit(Insn::Store {
                size: Size::DW,
                base: Reg::R10,
                off: f,
                src: Source::Reg(R0),
            });
        }
        self.b.bind(next);
        Ok(())
    }
}

fn ones(size: u8) -> u64 {
    if size >= 8 { u64::MAX } else { (1u64 << (8 * u32::from(size))) - 1 }
}

/// The interpreter's pre-run checks for a verified merged program.
fn checks(v: &Verified) -> CheckConfig<'static> {
    let mut cfg = udf_runtime::pre_run_checks(ProgramType::Filter, true);
    cfg.helpers = Some(v.helpers());
    cfg
}

impl Demux {
    /// The demultiplexer as one verified eBPF program of at most `max_insns` instructions.
    pub fn compile(&self, max_insns: usize) -> Result<Merged, CodegenError> {
        let mut g = Gen { b: ProgramBuilder::new(), max: max_insns };
        g.b.set_far_jumps(FarJumps::Gotol);
        g.b.emit(mov(PKT, Source::Reg(Reg::R1)));
        g.b.emit(mov(CAPLEN, Source::Reg(Reg::R2)));
        g.b.emit(Insn::Store {
            size: Size::DW,
            base: Reg::R10,
            off: WIRE_SLOT,
            src: Source::Reg(Reg::R3),
        });
        // Sorted by the equalities tested before the lookup (then by number): groups that share
        // leading tests are neighbours and share their code.
        let mut gs: Vec<Planned<'_>> = self
            .groups
            .iter()
            .map(|(n, group)| Planned {
                n,
                group,
                tests: tests(group),
                flag: None,
                skip_if: Vec::new(),
            })
            .collect();
        // Longer lists of tests first where one is a prefix of the other (then more key fields
        // first): a group that covers others tends to come before them, so that its hit can
        // skip them (one that comes after gains nothing, but loses nothing either: the owners
        // it delivers again are deduplicated).
        gs.sort_by(|a, b| {
            let common = a.tests.iter().zip(&b.tests).find(|(x, y)| x != y);
            match common {
                Some((x, y)) => x.cmp(y),
                None => b.tests.len().cmp(&a.tests.len()),
            }
            .then(b.group.sig.keys.len().cmp(&a.group.sig.keys.len()))
            .then(a.n.cmp(&b.n))
        });
        let mut flags = 0usize;
        for i in 0..gs.len() {
            let later = gs[i + 1..].iter().any(|p| gs[i].group.covers.contains(&p.n));
            if later && flags < MAX_FLAGS {
                let f = FLAG_SLOT - 8 * flags as i16;
                flags += 1;
                gs[i].flag = Some(f);
                g.b.emit(Insn::Store {
                    size: Size::DW,
                    base: Reg::R10,
                    off: f,
                    src: Source::Imm(0),
                });
                for j in i + 1..gs.len() {
                    if gs[i].group.covers.contains(&gs[j].n) {
                        gs[j].skip_if.push(f);
                    }
                }
            }
        }
        g.groups(&gs, 0)?;
        g.b.emit(mov(R0, Source::Imm(0)));
        g.b.emit(Insn::Exit);
        g.check_size()?;
        let (prog, _) = g.b.finish().map_err(CodegenError::Build)?;
        let mut conf = udf_verifier::Config::new(ProgramType::Filter);
        conf.helpers = Some(DEMUX_HELPERS);
        let verified = udf_verifier::verify(&prog, &conf)
            .map_err(|e| CodegenError::Rejected(alloc::boxed::Box::new(e)))?;
        let code = udf_runtime::prepare(&prog, &checks(&verified))
            .map_err(|_| CodegenError::Unsupported)?;
        Ok(Merged { verified, code, version: self.groups.version })
    }

    /// Whether `merged` was made from the groups as they are now (inserting or removing a
    /// filter of a known shape changes only the tables; a new shape or a shape gone needs the
    /// program made again).
    pub fn is_current(&self, merged: &Merged) -> bool {
        merged.version == self.groups.version
    }

    /// The helper table a merged program runs with: its lookups append owners to `out`.
    pub fn lookup<'a>(&'a self, out: &'a mut Vec<Owner>) -> Lookup<'a> {
        Lookup { groups: &self.groups, out }
    }

    /// Runs `merged` on the interpreter: the owners of `pkt`, sorted, deduplicated, into `out`.
    pub fn run_merged(
        &self,
        merged: &Merged,
        s: &mut Scratch,
        pkt: &[u8],
        wire_len: u32,
        out: &mut Vec<Owner>,
    ) -> Result<(), Fault> {
        out.clear();
        let opts =
            RunOptions { budget: merged.verified.facts().max_insns, r3: u64::from(wire_len) };
        let mut l = self.lookup(out);
        s.vm.run(&merged.code, Context::ReadOnly(pkt), &mut l, &opts)?;
        self.finish_merged(merged, s, pkt, wire_len, out)
    }

    /// After a run of `merged` (however it ran) with [`Demux::lookup`] over `out` (cleared
    /// before the run): adds the filters kept whole, sorts and deduplicates `out`
    /// ([`super::groups::sort_owners`]). A stale
    /// program's result is not trusted: the trie is walked instead.
    pub fn finish_merged(
        &self,
        merged: &Merged,
        s: &mut Scratch,
        pkt: &[u8],
        wire_len: u32,
        out: &mut Vec<Owner>,
    ) -> Result<(), Fault> {
        if !self.is_current(merged) {
            return self.run(s, pkt, wire_len, out);
        }
        self.run_whole(s, pkt, wire_len, out)?;
        super::groups::sort_owners(out);
        Ok(())
    }
}
