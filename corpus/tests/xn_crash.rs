//! Crash safety of XN's write ordering on a real ext2 image (1 KiB blocks, `mke2fs -d` over the
//! generated tree): for each operation (a data block into a direct slot, an indirect block, a
//! data block under it, and the frees in reverse), every crash point `W` = 0..=total is tried
//! (only the first `W` writes of the order the ordering issues reach the image). After each,
//! `e2fsck -fn` may report nothing but what Ganger & Patt's rules leave: leaked blocks (marked
//! used in the bitmap, owned by nothing: `-B` bitmap differences), wrong free counts and, for the
//! change of an indirect block's entry, the inode's `i_blocks` one block off (the count lives in
//! another block than the pointer). The rebuild then reports exactly the leaked blocks, and the
//! repair leaves the image `e2fsck -fn` clean with the rebuilt map equal to the bitmaps.
//!
//! A missing e2fsprogs fails these tests: nothing is skipped.

mod xn_kernel;
use xn_kernel::kernel;

use std::path::Path;
use std::process::Command;

use udf_corpus::ext::{self};
use udf_corpus::{TempDir, debugfs};
use udf_kernel_glue::ext::{EntryRequest, ExtFs, Flavor, MoveRequest, SlotRequest};
use udf_kernel_glue::order::Cache;
use udf_kernel_glue::xn::Xn;
use udf_kernel_glue::{MemDevice, Table};

/// `e2fsck -fn` on `img`: its exit code and report.
fn e2fsck(img: &Path) -> (i32, String) {
    let o = Command::new("e2fsck")
        .arg("-fn")
        .arg(img)
        .env("PATH", format!("{}:/sbin:/usr/sbin", std::env::var("PATH").unwrap_or_default()))
        .output()
        .expect("e2fsck runs (e2fsprogs)");
    let text =
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    (o.status.code().unwrap_or(-1), text)
}

/// The lines of an `e2fsck -fn` report that are neither its headers nor what a crash under the
/// ordering may leave; the blocks it names leaked.
fn unexpected(report: &str, i_blocks_ok: bool) -> (Vec<String>, Vec<u64>) {
    let mut bad = Vec::new();
    let mut leaked = Vec::new();
    for line in report.lines().map(str::trim) {
        let benign = line.is_empty()
            || line.starts_with("e2fsck ")
            || line.starts_with("Pass ")
            || line == "Fix? no"
            || line.contains("***** WARNING: Filesystem still has errors")
            || line.contains(" files (") && line.ends_with(" blocks")
            || line.starts_with("Free blocks count wrong");
        if benign {
            continue;
        }
        if let Some(rest) = line.strip_prefix("Block bitmap differences:") {
            let rest = rest.trim_end_matches("Fix? no").trim();
            for item in rest.split_whitespace() {
                match item.strip_prefix('-').and_then(|b| b.parse::<u64>().ok()) {
                    Some(b) => leaked.push(b),
                    None => bad.push(format!("bitmap difference {item} (not a leak)")),
                }
            }
            continue;
        }
        if i_blocks_ok && line.starts_with("Inode ") && line.contains(", i_blocks is ") {
            continue;
        }
        bad.push(line.to_string());
    }
    (bad, leaked)
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Slot(usize, u64),
    Entry(u64, usize, u64),
    /// The block in `.0`'s slot `.1` to inode `.2` slot `.3`.
    Move(u32, usize, u32, usize),
}

struct Case {
    table: Table,
    _dir: TempDir,
    img: std::path::PathBuf,
    ino: u32,
}

impl Case {
    fn open(&self, bytes: &[u8]) -> (MemDevice, ExtFs, Xn) {
        let mut dev = MemDevice::new(bytes.to_vec(), 1024);
        let fs = ExtFs::open(&mut dev, Flavor::Ext2).unwrap();
        let mut xn = fs.xn(&self.table).unwrap();
        let r = fs.rebuild(&mut xn, &self.table, &mut dev).unwrap();
        assert!(r.rebuilt.problems.is_empty(), "{:?}", r.rebuilt.problems);
        (dev, fs, xn)
    }

    /// Runs `step` on `bytes`, performing the first `limit` writes; the image after and the
    /// writes performed, with how many were left.
    fn run(&self, bytes: &[u8], step: Step, limit: Option<usize>) -> (Vec<u8>, Vec<u64>, usize) {
        let (mut dev, fs, mut xn) = self.open(bytes);
        let mut cache = Cache::new(1024);
        match step {
            Step::Slot(slot, block) => {
                let req = SlotRequest { ino: self.ino, slot, block, kind: None };
                fs.stage_slot(&mut xn, &self.table, &mut cache, &mut dev, req, 0)
            }
            Step::Entry(ind, entry, block) => {
                let req = EntryRequest { ino: self.ino, ind, entry, block };
                fs.stage_entry(&mut xn, &self.table, &mut cache, &mut dev, req, 0)
            }
            Step::Move(a, k, b, j) => {
                let req = MoveRequest { from: (a, k), to: (b, j) };
                fs.stage_move(&mut xn, &self.table, &mut cache, &mut dev, req, 0)
            }
        }
        .unwrap_or_else(|e| panic!("{step:?}: {e}"));
        // A freed block stays in use in XN's map (on its parent's will-free list) until the
        // parent's write completes.
        let freed = match step {
            Step::Slot(slot, 0) => Some(self.held(&dev, &fs, slot)),
            _ => None,
        };
        if let Some(b) = freed {
            assert!(!cache.allocatable(b) && xn.used.get(b), "{step:?}: block {b} allocatable");
        }
        let f = fs.commit(&mut xn, &mut cache, &mut dev, limit).unwrap();
        if let (Some(b), None) = (freed, limit) {
            assert!(cache.allocatable(b) && !xn.used.get(b), "{step:?}: block {b} not released");
        }
        (dev.bytes().to_vec(), f.written, f.left)
    }

    /// The block slot `slot` of the case's inode holds on `dev`'s disk (not the cache's).
    fn held(&self, dev: &MemDevice, fs: &ExtFs, slot: usize) -> u64 {
        let obj = fs.inode_obj(self.ino).unwrap();
        let at = obj.block as usize * 1024 + obj.offset as usize + 40 + 4 * slot;
        u64::from(u32::from_le_bytes(dev.bytes()[at..at + 4].try_into().unwrap()))
    }

    /// Every crash point of `step` from `bytes`; returns the image after the whole step.
    fn every_crash_point(&self, bytes: &[u8], step: Step, leaks: &mut usize) -> Vec<u8> {
        let (done, order, _) = self.run(bytes, step, None);
        let total = order.len();
        let least = if let Step::Move(..) = step { 1 } else { 4 };
        assert!(total >= least, "{step:?}: {order:?}");
        let i_blocks_ok = matches!(step, Step::Entry(..));
        for w in 0..=total {
            let (after, written, left) = self.run(bytes, step, Some(w));
            assert_eq!((written.as_slice(), left), (&order[..w], total - w), "{step:?} W={w}");
            std::fs::write(&self.img, &after).unwrap();
            let (code, report) = e2fsck(&self.img);
            let (bad, leaked) = unexpected(&report, i_blocks_ok);
            assert!(
                bad.is_empty(),
                "{step:?}, crash after {w} of {total} writes ({order:?}): e2fsck reports more \
                 than leaks and counts: {bad:#?}\n{report}"
            );
            if w == total {
                assert_eq!(code, 0, "{step:?} completed: e2fsck -fn must be clean\n{report}");
            }
            // The rebuild names exactly the leaked blocks; the repair makes the image clean.
            let (mut dev, fs, mut xn) = self.open(&after);
            let r = fs.rebuild(&mut xn, &self.table, &mut dev).unwrap();
            let named: Vec<u64> = r.differences.iter().map(|d| d.0).collect();
            assert!(r.differences.iter().all(|d| d.1 && !d.2), "{step:?} W={w}: {r:?}");
            assert_eq!(named, leaked, "{step:?} W={w}: rebuild vs e2fsck's leaks");
            let mut cache = Cache::new(1024);
            let fixed = fs.repair(&mut xn, &self.table, &mut cache, &mut dev, &r).unwrap();
            assert_eq!(fixed.leaked, leaked);
            *leaks += leaked.len();
            fs.commit(&mut xn, &mut cache, &mut dev, None).unwrap();
            std::fs::write(&self.img, dev.bytes()).unwrap();
            let (code, report) = e2fsck(&self.img);
            assert_eq!(code, 0, "{step:?} W={w}: after the repair ({fixed:?})\n{report}");
            let r = fs.rebuild(&mut xn, &self.table, &mut dev).unwrap();
            assert!(r.differences.is_empty() && r.rebuilt.problems.is_empty());
            if w == total {
                assert!(fixed.is_empty(), "{step:?}: nothing to repair after a whole step");
            }
        }
        done
    }
}

#[test]
fn every_crash_point_leaves_at_most_leaks_and_counts_ext2_1k() {
    let table = kernel();
    let (dir, img) = ext::build_tree_image(ext::EXT2_1K, "xn-crash").unwrap();
    let ino = debugfs::inode_numbers(&img, &["/sparse/tail_hole"]).unwrap()[0];
    let case = Case { table, _dir: dir, img, ino };
    let mut original = std::fs::read(&case.img).unwrap();
    let (_, _, xn) = case.open(&original);
    let free: Vec<u64> = (300..8000).filter(|&b| !xn.used.get(b)).take(3).collect();
    let [a, ind, c] = free[..] else { panic!("free blocks") };
    // Free blocks keep what they held: garbage that, read as an indirect block, points
    // everywhere (so a pointer written before the block's initialisation shows).
    for b in [a, ind, c] {
        let at = b as usize * 1024;
        for (i, w) in original[at..at + 1024].chunks_mut(4).enumerate() {
            w.copy_from_slice(&(0xFFFF_0000u32 | i as u32).to_le_bytes());
        }
    }
    std::fs::write(&case.img, &original).unwrap();
    // `tail_hole`: 4 KiB of data then a hole to 10 MiB: slots 4-14 are empty.
    // A file whose inode lies in another inode-table block, for moves between inodes: the
    // block leaves `tail_hole`'s slot 5 for its slot 6 and back; `other`'s last direct block
    // (slot 11) goes to `tail_hole`'s slot 7 and back.
    let other = debugfs::inode_numbers(&case.img, &["/blocks/direct12"]).unwrap()[0];
    let (_, fs, _) = case.open(&original);
    let (x, y) = (fs.inode_obj(ino).unwrap(), fs.inode_obj(other).unwrap());
    assert_ne!(x.block, y.block, "inodes {ino} and {other} share an inode-table block");
    let steps = [
        Step::Slot(5, a),
        Step::Move(ino, 5, ino, 6),
        Step::Move(ino, 6, ino, 5),
        Step::Move(other, 11, ino, 7),
        Step::Move(ino, 7, other, 11),
        Step::Slot(12, ind),
        Step::Entry(ind, 3, c),
        Step::Entry(ind, 3, 0),
        Step::Slot(12, 0),
        Step::Slot(5, 0),
    ];
    let mut bytes = original.clone();
    let mut leaks = 0;
    for step in steps {
        bytes = case.every_crash_point(&bytes, step, &mut leaks);
    }
    // The crash points do fall between the writes: some of them leak.
    assert!(leaks >= 4, "{leaks} leaks over all crash points");
    // Allocating then freeing gives back the image, but for the indirect block's bytes: it
    // was initialised (zeroed) before anything pointed at it.
    let at = ind as usize * 1024;
    assert!(bytes[at..at + 1024].iter().all(|&b| b == 0));
    original[at..at + 1024].fill(0);
    assert!(bytes == original, "allocating then freeing gives back the image");
}
