//! From the decision graph to classic BPF: tests in topological order, each computing its value
//! into A (X for indexes, scratch words for right operands that are not constants), skipping a
//! computation when every path into the test already left that value in A (or X), and jumping
//! with the 8-bit offsets of classic BPF (a long jump goes through `ja`).

use crate::ast::ArithOp;
use crate::cbpf::{SockFilter, op};
use crate::codegen::{Cond, Radio, V};
use crate::opt::{ACCEPT, Graph, Node, REJECT};

/// How many headers a `protochain` walk follows: IPv6 extension headers (and AH), and AH
/// after IPv4. Enough for the longest chain in libpcap's own test captures (100 IPv6 extension
/// headers) within classic BPF's 4096 instructions for `protochain` over both versions.
const CHAIN_STEPS_V6: usize = 104;
const CHAIN_STEPS_V4: usize = 32;

/// Too many nested non-constant operands for the 16 scratch words.
pub(crate) struct TooComplex;

/// What A and X hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Regs {
    a: Option<V>,
    x: Option<V>,
}

/// The classic BPF being written: the instructions so far, what A and X hold, and how many
/// scratch words hold pending operands.
struct Emitter {
    out: Vec<SockFilter>,
    regs: Regs,
    depth: u32,
    /// The first scratch word the tunnel primitives use: temporaries stay below.
    floor: u32,
}

impl Emitter {
    fn stmt(&mut self, code: u16, k: u32) {
        self.out.push(SockFilter::stmt(code, k));
    }

    fn size(s: u8) -> u16 {
        match s {
            1 => op::B,
            2 => op::H,
            _ => op::W,
        }
    }

    fn alu(o: ArithOp) -> u16 {
        match o {
            ArithOp::Add => op::ADD,
            ArithOp::Sub => op::SUB,
            ArithOp::Mul => op::MUL,
            ArithOp::Div => op::DIV,
            ArithOp::Mod => op::MOD,
            ArithOp::And => op::AND,
            ArithOp::Or => op::OR,
            ArithOp::Xor => op::XOR,
            ArithOp::Lsh => op::LSH,
            ArithOp::Rsh => op::RSH,
        }
    }

    /// Computes `v` into A.
    fn a(&mut self, v: &V) -> Result<(), TooComplex> {
        if self.regs.a.as_ref() == Some(v) {
            return Ok(());
        }
        match v {
            V::K(k) => self.stmt(op::LD | op::IMM, *k),
            V::Len => self.stmt(op::LD | op::W | op::LEN, 0),
            V::Ld { size, off } => self.stmt(op::LD | Self::size(*size) | op::ABS, *off),
            V::LdX { size, off, x } => {
                self.x(x)?;
                self.stmt(op::LD | Self::size(*size) | op::IND, *off);
            }
            V::Msh(_) => {
                self.x(v)?;
                self.stmt(op::MISC | op::TXA, 0);
            }
            V::Chain { nl, v6, target } => self.chain(*nl, *v6, *target)?,
            V::WlanHdr(r) => self.wlan_hdr(*r),
            V::WlanPl(r) => self.wlan_pl(*r)?,
            V::Mem(slot) => self.stmt(op::LD | op::MEM, *slot),
            V::St(slot, a) => {
                self.a(a)?;
                self.stmt(op::ST, *slot);
            }
            V::Neg(a) => {
                self.a(a)?;
                self.stmt(op::ALU | op::NEG, 0);
            }
            V::Alu(o, a, b) => {
                if let V::K(k) = **b {
                    self.a(a)?;
                    self.stmt(op::ALU | Self::alu(*o) | op::K, k);
                } else {
                    self.operand_in_x(a, b)?;
                    self.stmt(op::ALU | Self::alu(*o) | op::X, 0);
                }
            }
        }
        self.regs.a = Some(v.clone());
        Ok(())
    }

    /// libpcap's `protochain` walk, unrolled [`CHAIN_STEPS_V6`] or [`CHAIN_STEPS_V4`] times (classic BPF has no
    /// backward jumps); leaves 1 in A when it reaches `target`, else 0. Each step is as
    /// libpcap's loop: stop at the target or at "no next header"; an IPv6 extension header
    /// (when `v6`) adds `(len + 1) * 8` to X; AH sets X to `(len + 2) * 4` (libpcap's own
    /// arithmetic, kept for agreement).
    fn chain(&mut self, nl: u32, v6: bool, target: u32) -> Result<(), TooComplex> {
        if self.depth >= self.floor {
            return Err(TooComplex);
        }
        let m = self.depth;
        if v6 {
            self.stmt(op::LD | op::B | op::ABS, nl + 6);
            self.stmt(op::LDX | op::W | op::IMM, 40);
        } else {
            self.stmt(op::LD | op::B | op::ABS, nl + 9);
            self.stmt(op::LDX | op::B | op::MSH, nl);
        }
        let ext: &[u32] = if v6 { &[0, 60, 43, 44] } else { &[] };
        // Jumps to the two ends are fixed up once their places are known.
        let mut to_found = Vec::new();
        let mut to_end = Vec::new();
        let j = |code: u16, k: u32, jt: usize, jf: usize| {
            SockFilter::jump(op::JMP | code | op::K, k, jt as u8, jf as u8)
        };
        for _ in 0..if v6 { CHAIN_STEPS_V6 } else { CHAIN_STEPS_V4 } {
            // Layout of one step (offsets are from the next instruction):
            //   0 jeq #target   -> found stub
            //   1 jeq #59       -> end stub
            //   .. jeq #ext     -> advance6
            //   jeq #51         -> ah, else end stub
            //   advance6 (8 instructions, then ja next step)   [v6 only]
            //   ah (10 instructions, then ja next step)
            //   found stub: ja found; end stub: ja end
            let n_ext = ext.len();
            let adv6 = if v6 { 9 } else { 0 };
            let ah_len = 11;
            let tests = 2 + n_ext + 1;
            let found_stub = tests + adv6 + ah_len;
            let end_stub = found_stub + 1;
            let base = self.out.len();
            let rel = |at: usize, to: usize| to - at - 1;
            self.out.push(j(op::JEQ, target, rel(0, found_stub), 0));
            self.out.push(j(op::JEQ, 59, rel(1, end_stub), 0));
            for (e, &h) in ext.iter().enumerate() {
                self.out.push(j(op::JEQ, h, rel(2 + e, tests), 0));
            }
            self.out.push(j(op::JEQ, 51, rel(tests - 1, tests + adv6), rel(tests - 1, end_stub)));
            let step_end = end_stub + 1;
            if v6 {
                self.stmt(op::LD | op::B | op::IND, nl);
                self.stmt(op::ST, m);
                self.stmt(op::LD | op::B | op::IND, nl + 1);
                self.stmt(op::ALU | op::ADD | op::K, 1);
                self.stmt(op::ALU | op::MUL | op::K, 8);
                self.stmt(op::ALU | op::ADD | op::X, 0);
                self.stmt(op::MISC | op::TAX, 0);
                self.stmt(op::LD | op::W | op::MEM, m);
                let at = self.out.len() - base;
                self.stmt(op::JMP | op::JA, rel(at, step_end) as u32);
            }
            self.stmt(op::LD | op::B | op::IND, nl);
            self.stmt(op::ST, m);
            self.stmt(op::MISC | op::TXA, 0);
            self.stmt(op::ALU | op::ADD | op::K, 1);
            self.stmt(op::MISC | op::TAX, 0);
            self.stmt(op::LD | op::B | op::IND, nl);
            self.stmt(op::ALU | op::ADD | op::K, 2);
            self.stmt(op::ALU | op::MUL | op::K, 4);
            self.stmt(op::MISC | op::TAX, 0);
            self.stmt(op::LD | op::W | op::MEM, m);
            let at = self.out.len() - base;
            self.stmt(op::JMP | op::JA, rel(at, step_end) as u32);
            to_found.push(self.out.len());
            self.stmt(op::JMP | op::JA, 0);
            to_end.push(self.out.len());
            self.stmt(op::JMP | op::JA, 0);
            debug_assert_eq!(self.out.len() - base, step_end);
        }
        // After the last step: the walk ends where it is (A holds the last protocol).
        let end = self.out.len();
        self.stmt(op::JMP | op::JEQ | op::K, target);
        let last = self.out.len() - 1;
        // found: A = 1; end: A = (A == target)
        self.out[last].jt = 0;
        self.out[last].jf = 2;
        let found = self.out.len();
        self.stmt(op::LD | op::IMM, 1);
        self.stmt(op::JMP | op::JA, 1);
        self.stmt(op::LD | op::IMM, 0);
        for at in to_found {
            self.out[at].k = (found - at - 1) as u32;
        }
        for at in to_end {
            self.out[at].k = (end - at - 1) as u32;
        }
        self.regs.x = None;
        Ok(())
    }

    /// The start of the 802.11 header into A (X may be clobbered).
    fn wlan_hdr(&mut self, r: Radio) {
        match r {
            Radio::Bare => self.stmt(op::LD | op::IMM, 0),
            Radio::Radiotap | Radio::Ppi => {
                // The little-endian length at 2.
                self.stmt(op::LD | op::B | op::ABS, 3);
                self.stmt(op::ALU | op::LSH | op::K, 8);
                self.stmt(op::MISC | op::TAX, 0);
                self.stmt(op::LD | op::B | op::ABS, 2);
                self.stmt(op::ALU | op::OR | op::X, 0);
            }
            Radio::Prism => {
                // An AVS header gives its length; a Prism header is 144 bytes.
                self.stmt(op::LD | op::W | op::ABS, 0);
                self.stmt(op::ALU | op::AND | op::K, 0xffff_f000);
                self.out.push(SockFilter::jump(op::JMP | op::JEQ | op::K, 0x8021_1000, 0, 2));
                self.stmt(op::LD | op::W | op::ABS, 4);
                self.stmt(op::JMP | op::JA, 1);
                self.stmt(op::LD | op::IMM, 144);
            }
        }
        self.regs.x = None;
    }

    /// The start of the 802.11 payload into A, as libpcap computes it: 24 bytes of header,
    /// 2 more for QoS data, rounded up to 4 when radiotap's flags say the frame is padded.
    fn wlan_pl(&mut self, r: Radio) -> Result<(), TooComplex> {
        if self.depth >= self.floor {
            return Err(TooComplex);
        }
        let m = self.depth;
        self.wlan_hdr(r);
        self.stmt(op::MISC | op::TAX, 0);
        self.stmt(op::ALU | op::ADD | op::K, 24);
        self.stmt(op::ST, m);
        // Offsets of the jumps are fixed up below, once the end is known.
        let j = |code: u16, k: u32| SockFilter::jump(op::JMP | code | op::K, k, 0, 0);
        self.stmt(op::LD | op::B | op::IND, 0);
        let data1 = self.out.len();
        self.out.push(j(op::JSET, 0x08));
        let data2 = self.out.len();
        self.out.push(j(op::JSET, 0x04));
        let qos = self.out.len();
        self.out.push(j(op::JSET, 0x80));
        self.stmt(op::LD | op::MEM, m);
        self.stmt(op::ALU | op::ADD | op::K, 2);
        self.stmt(op::ST, m);
        let after_qos = self.out.len();
        let mut to_end = vec![];
        if r == Radio::Radiotap {
            self.stmt(op::LD | op::W | op::ABS, 4);
            let flags = self.out.len();
            self.out.push(j(op::JSET, 0x0200_0000));
            let ext = self.out.len();
            self.out.push(j(op::JSET, 0x80));
            let tsft = self.out.len();
            self.out.push(j(op::JSET, 0x0100_0000));
            self.stmt(op::LD | op::B | op::ABS, 16);
            let pad16 = self.out.len();
            self.out.push(j(op::JSET, 0x20));
            let at8 = self.out.len();
            self.stmt(op::LD | op::B | op::ABS, 8);
            let pad8 = self.out.len();
            self.out.push(j(op::JSET, 0x20));
            let round = self.out.len();
            self.stmt(op::LD | op::MEM, m);
            self.stmt(op::ALU | op::ADD | op::K, 3);
            self.stmt(op::ALU | op::AND | op::K, !3);
            self.stmt(op::ST, m);
            let rel = |from: usize, to: usize| (to - from - 1) as u8;
            self.out[flags].jt = 0;
            to_end.push((flags, false));
            self.out[ext].jf = 0;
            to_end.push((ext, true));
            self.out[tsft].jt = 0;
            self.out[tsft].jf = rel(tsft, at8);
            self.out[pad16].jt = rel(pad16, round);
            to_end.push((pad16, false));
            self.out[pad8].jt = rel(pad8, round);
            to_end.push((pad8, false));
        }
        let end = self.out.len();
        self.stmt(op::LD | op::MEM, m);
        let rel = |from: usize, to: usize| (to - from - 1) as u8;
        self.out[data1].jt = 0;
        self.out[data1].jf = rel(data1, end);
        self.out[data2].jt = rel(data2, end);
        self.out[data2].jf = 0;
        self.out[qos].jt = 0;
        self.out[qos].jf = rel(qos, after_qos);
        for (at, yes) in to_end {
            if yes {
                self.out[at].jt = rel(at, end);
            } else {
                self.out[at].jf = rel(at, end);
            }
        }
        self.regs.x = None;
        Ok(())
    }

    /// Leaves `a` in A and `b` in X.
    fn operand_in_x(&mut self, a: &V, b: &V) -> Result<(), TooComplex> {
        if !a.uses_x() {
            self.x(b)?;
            self.a(a)
        } else {
            if self.depth >= self.floor {
                return Err(TooComplex);
            }
            let m = self.depth;
            self.depth += 1;
            self.a(b)?;
            self.stmt(op::ST, m);
            self.a(a)?;
            self.stmt(op::LDX | op::W | op::MEM, m);
            self.regs.x = Some(b.clone());
            self.depth -= 1;
            Ok(())
        }
    }

    /// Computes `v` into X (through A when classic BPF has no direct load for it).
    fn x(&mut self, v: &V) -> Result<(), TooComplex> {
        if self.regs.x.as_ref() == Some(v) {
            return Ok(());
        }
        match v {
            V::K(k) => self.stmt(op::LDX | op::W | op::IMM, *k),
            V::Len => self.stmt(op::LDX | op::W | op::LEN, 0),
            V::Msh(off) => self.stmt(op::LDX | op::B | op::MSH, *off),
            V::Mem(slot) => self.stmt(op::LDX | op::W | op::MEM, *slot),
            _ => {
                self.a(v)?;
                self.stmt(op::MISC | op::TAX, 0);
            }
        }
        self.regs.x = Some(v.clone());
        Ok(())
    }
}

fn jcode(c: Cond) -> u16 {
    match c {
        Cond::Eq => op::JEQ,
        Cond::Gt => op::JGT,
        Cond::Ge => op::JGE,
        Cond::Set => op::JSET,
    }
}

/// One test's code before its jump, and the jump.
struct Block {
    body: Vec<SockFilter>,
    jump: SockFilter,
    yes: usize,
    no: usize,
}

/// The classic BPF program of a graph; an accepting path returns `snaplen`. Scratch words from
/// `floor` up belong to tunnel primitives.
pub(crate) fn emit(g: &Graph, snaplen: u32, floor: u32) -> Result<Vec<SockFilter>, TooComplex> {
    let ret = |k| SockFilter::stmt(op::RET | op::K, k);
    if g.root == ACCEPT {
        return Ok(vec![ret(snaplen)]);
    }
    if g.root == REJECT {
        return Ok(vec![ret(0)]);
    }
    // Topological order: decreasing index, the root first.
    let order: Vec<usize> = (2..=g.root).rev().collect();
    let mut entry: Vec<Option<Regs>> = vec![None; g.nodes.len()];
    entry[g.root] = Some(Regs::default());
    let mut blocks: Vec<(usize, Block)> = Vec::new();
    for &i in &order {
        let Node::Test { test, yes, no } = &g.nodes[i] else {
            continue;
        };
        let Some(regs) = entry[i].take() else {
            continue;
        };
        let mut c = Emitter { out: Vec::new(), regs, depth: 0, floor };
        let src = if let V::K(k) = test.rhs {
            c.a(&test.v)?;
            (op::K, k)
        } else {
            c.operand_in_x(&test.v, &test.rhs)?;
            (op::X, 0)
        };
        let jump = SockFilter::jump(op::JMP | jcode(test.cond) | src.0, src.1, 0, 0);
        for s in [*yes, *no] {
            entry[s] = Some(match entry[s].take() {
                None => c.regs.clone(),
                Some(prev) => Regs {
                    a: prev.a.filter(|v| c.regs.a.as_ref() == Some(v)),
                    x: prev.x.filter(|v| c.regs.x.as_ref() == Some(v)),
                },
            });
        }
        blocks.push((i, Block { body: c.out, jump, yes: *yes, no: *no }));
    }
    Ok(layout(&merge_tails(blocks), snaplen))
}

/// Blocks with the same code and the same successors are one block, even where they test
/// different values (each path's registers hold its own value, and the code only reads the
/// registers). Bottom-up, so merged successors let their predecessors merge too; the block
/// kept is the last of its kind, so every jump still goes forward.
fn merge_tails(blocks: Vec<(usize, Block)>) -> Vec<(usize, Block)> {
    use std::collections::HashMap;
    let mut canon: HashMap<usize, usize> = HashMap::new();
    let mut seen: HashMap<(Vec<SockFilter>, SockFilter, usize, usize), usize> = HashMap::new();
    let mut keep = Vec::with_capacity(blocks.len());
    for (node, mut b) in blocks.into_iter().rev() {
        b.yes = *canon.get(&b.yes).unwrap_or(&b.yes);
        b.no = *canon.get(&b.no).unwrap_or(&b.no);
        let key = (b.body.clone(), b.jump, b.yes, b.no);
        match seen.get(&key) {
            Some(&other) => {
                canon.insert(node, other);
            }
            None => {
                seen.insert(key, node);
                keep.push((node, b));
            }
        }
    }
    keep.reverse();
    keep
}

/// Places the blocks, then the two returns, with `ja` trampolines for jumps past 255.
fn layout(blocks: &[(usize, Block)], snaplen: u32) -> Vec<SockFilter> {
    let mut far = vec![false; blocks.len()];
    loop {
        // Start of every block (by node), and of the returns.
        let mut start = std::collections::HashMap::new();
        let mut pc = 0usize;
        for (b, (node, blk)) in blocks.iter().enumerate() {
            start.insert(*node, pc);
            pc += blk.body.len() + 1 + if far[b] { 2 } else { 0 };
        }
        start.insert(ACCEPT, pc);
        start.insert(REJECT, pc + 1);
        let mut grew = false;
        let mut out = Vec::with_capacity(pc + 2);
        for (b, (_, blk)) in blocks.iter().enumerate() {
            out.extend_from_slice(&blk.body);
            let at = out.len();
            let (ty, tn) = (start[&blk.yes], start[&blk.no]);
            if far[b] {
                let mut j = blk.jump;
                j.jt = 0;
                j.jf = 1;
                out.push(j);
                out.push(SockFilter::stmt(op::JMP | op::JA, (ty - (at + 2)) as u32));
                out.push(SockFilter::stmt(op::JMP | op::JA, (tn - (at + 3)) as u32));
            } else {
                let (dt, df) = (ty - (at + 1), tn - (at + 1));
                if dt > 255 || df > 255 {
                    far[b] = true;
                    grew = true;
                }
                let mut j = blk.jump;
                j.jt = dt.min(255) as u8;
                j.jf = df.min(255) as u8;
                out.push(j);
            }
        }
        if !grew {
            out.push(SockFilter::stmt(op::RET | op::K, snaplen));
            out.push(SockFilter::stmt(op::RET | op::K, 0));
            return out;
        }
    }
}
