//! The XN oracle the fuzz target `xn_ops` and the short in-test runs call: arbitrary
//! operations with arbitrary modifications on a small file system, checking after each one that
//! a refused operation changed nothing (device bytes, map of blocks in use, registry) and that
//! after an accepted one XN's map equals the map rebuilt from the roots, with no block owned
//! twice.
//!
//! The file system is built for the oracle, from hand-assembled owns programs (no compiler in
//! the kernel): 64-byte blocks; block 0 holds two 32-byte "inodes" of eight `u32` block
//! pointers (slots 0-5 data, slot 6 an indirect block, slot 7 a shared block); an indirect
//! block holds sixteen pointers to data blocks.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use udf_bytecode::{ProgramType, assemble};
use udf_runtime::Extent;

use crate::device::{BlockDevice, MemDevice};
use crate::loader::Table;
use crate::xn::{Bitmap, ExtentKind, Obj, Op, Patch, Template, TemplateId, Xn};

const BS: usize = 64;
const BLOCKS: u64 = 256;
const INODE: TemplateId = TemplateId(0);
const IND: TemplateId = TemplateId(1);

/// An owns program reading `n` `u32` pointers; pointer `k` is emitted with `kind(k)`.
fn owns_source(n: usize, kind: impl Fn(usize) -> u32) -> String {
    let mut s = String::from("mov %r9, %r1\n");
    for k in 0..n {
        s += &format!(
            "ldxw %r1, [%r9+{}]\njeq %r1, 0, skip{k}\nmov %r2, 1\nmov %r3, {}\ncall 1\nskip{k}:\n",
            4 * k,
            kind(k)
        );
    }
    s + "mov %r0, 0\nexit\n"
}

/// The oracle's file system: the programs, XN (its map rebuilt), the device.
pub struct Fs {
    table: Table,
    /// XN.
    pub xn: Xn,
    /// The device.
    pub dev: MemDevice,
    roots: [Obj; 2],
}

impl Fs {
    /// The file system with `inodes` as the two inodes' pointers and `ind` as the contents of
    /// block 10 (an indirect block when an inode's slot 6 names it).
    pub fn new(inodes: [[u32; 8]; 2], ind: [u32; 16]) -> Fs {
        let mut table = Table::new();
        let mut install = |name: &str, src: String, size: u32| {
            let prog = assemble(&src).expect("the oracle's owns programs assemble");
            table
                .install_bytecode(name, ProgramType::Owns, Some(size), &prog)
                .expect("the oracle's owns programs verify")
        };
        let inode = install(
            "oracle_inode",
            owns_source(8, |k| match k {
                0..=5 => 0,
                6 => 1,
                _ => 2,
            }),
            32,
        );
        let ind_prog = install("oracle_ind", owns_source(16, |_| 0), BS as u32);
        let kinds = vec![ExtentKind::Data, ExtentKind::Meta(IND), ExtentKind::Shared];
        let template = |name: &str, size, owns| Template {
            name: name.into(),
            size,
            owns,
            acl: None,
            size_udf: None,
            kinds: kinds.clone(),
        };
        let templates = vec![template("inode", 32, inode), template("ind", BS as u32, ind_prog)];
        let mut bytes = vec![0u8; BS * BLOCKS as usize];
        for (i, ptrs) in inodes.iter().enumerate() {
            for (k, p) in ptrs.iter().enumerate() {
                let at = i * 32 + 4 * k;
                bytes[at..at + 4].copy_from_slice(&p.to_le_bytes());
            }
        }
        for (k, p) in ind.iter().enumerate() {
            let at = 10 * BS + 4 * k;
            bytes[at..at + 4].copy_from_slice(&p.to_le_bytes());
        }
        let mut fixed = Bitmap::new(BLOCKS);
        fixed.set(0, true);
        let mut xn = Xn::new(templates, BS, fixed);
        xn.register_static(0, INODE, 32, 2);
        let roots = [0, 32].map(|offset| Obj { block: 0, offset, template: INODE });
        let mut fs = Fs { table, xn, dev: MemDevice::new(bytes, BS), roots };
        fs.xn.rebuild(&fs.table, &mut fs.dev, &fs.roots).expect("the oracle's device reads");
        fs
    }

    /// A consistent start: inode 0 owns blocks 20-22 and the indirect block 10 (owning 30
    /// and 31); inode 1 owns block 40 and the shared block 50.
    pub fn seeded() -> Fs {
        let mut ind = [0u32; 16];
        ind[0] = 30;
        ind[3] = 31;
        Fs::new([[20, 21, 22, 0, 0, 0, 10, 0], [40, 0, 0, 0, 0, 0, 0, 50]], ind)
    }

    /// The objects an operation may name: the two inodes and every registered indirect block.
    fn objects(&self) -> Vec<Obj> {
        let mut v = self.roots.to_vec();
        v.extend(
            self.xn.registry.iter().filter(|(_, e)| e.template == IND).map(|(&block, _)| Obj {
                block,
                offset: 0,
                template: IND,
            }),
        );
        v
    }

    /// Applies one operation decoded from 8 bytes; panics when an oracle fails. Returns
    /// whether XN accepted it.
    pub fn step(&mut self, b: [u8; 8]) -> bool {
        let objs = self.objects();
        let obj = objs[b[0] as usize % objs.len()];
        let slots = if obj.template == INODE { 8 } else { 16 };
        let slot = b[1] as usize % slots;
        let at = obj.offset as usize + 4 * slot;
        let mut blk = vec![0u8; BS];
        self.dev.read_block(obj.block, &mut blk).expect("in range");
        let cur = u32::from_le_bytes(blk[at..at + 4].try_into().expect("4 bytes"));
        let value = u32::from(b[2]) | u32::from(b[3] & 1) << 8; // 0..512: past the end too
        let slot_kind = match (obj.template == INODE, slot) {
            (true, 6) => 1,
            (true, 7) => 2,
            _ => 0,
        };
        let kind = if b[4] & 0x80 != 0 { u32::from(b[4] & 3) } else { slot_kind };
        let count = 1 + u64::from(b[5] & 0x40 != 0);
        let (op, new) = match b[5] % 4 {
            0 | 1 => (Op::Alloc(Extent { start: u64::from(value), count, kind }), value),
            2 => (Op::Free(Extent { start: u64::from(cur), count, kind }), 0),
            _ => (Op::Write, u32::from_le_bytes([b[2], b[3], b[6], b[7]])),
        };
        // Mostly the slot the operation is about; sometimes a raw write anywhere in the object.
        let bytes = new.to_le_bytes();
        let raw = [b[6], b[7]];
        let patch = if b[6] & 0xc0 == 0xc0 {
            Patch { offset: u32::from(b[7]) % (obj.offset.max(32) + 8), bytes: &raw }
        } else {
            Patch { offset: 4 * slot as u32, bytes: &bytes }
        };
        let (dev0, used0, reg0) =
            (self.dev.clone(), self.xn.used.clone(), self.xn.registry.clone());
        match self.xn.apply(&self.table, &mut self.dev, obj, &[patch], op, 0) {
            Err(why) => {
                assert!(self.dev == dev0, "refused ({why}) but the device changed");
                assert!(self.xn.used == used0, "refused ({why}) but the map changed");
                assert!(self.xn.registry == reg0, "refused ({why}) but the registry changed");
                false
            }
            Ok(()) => {
                let (used, reg) = (self.xn.used.clone(), self.xn.registry.clone());
                let r = self
                    .xn
                    .rebuild(&self.table, &mut self.dev, &self.roots)
                    .expect("the oracle's device reads");
                assert!(
                    r.problems.is_empty(),
                    "accepted {op:?} of {patch:?} on {obj}, then the rebuild finds {:?}",
                    r.problems
                );
                assert!(
                    r.used == used,
                    "accepted {op:?} of {patch:?} on {obj}: XN's map differs from the rebuilt one"
                );
                assert!(
                    reg == self.xn.registry,
                    "accepted {op:?}: the registry differs from the rebuilt one"
                );
                true
            }
        }
    }
}

/// The fuzz oracle: the operations `data` encodes (8 bytes each), from the seeded start.
pub fn xn_ops(data: &[u8]) -> usize {
    let mut fs = Fs::seeded();
    let mut accepted = 0;
    for chunk in data.chunks_exact(8).take(64) {
        let b: [u8; 8] = chunk.try_into().expect("8 bytes");
        accepted += usize::from(fs.step(b));
    }
    accepted
}
