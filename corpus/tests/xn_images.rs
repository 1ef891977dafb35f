//! XN on real file systems: ext2 (1 KiB) and ext4 (1 KiB and 4 KiB) images from `mke2fs -d`
//! over the generated tree, with the corpus owns-udfs installed through the kernel's loader.
//!
//! - The free map rebuilt from the roots (every in-use inode) through the owns-udfs equals the
//!   image's block bitmaps exactly, and no block is owned twice.
//! - Accepted XN allocations and frees (a data block into a hole, an indirect block) keep
//!   `e2fsck -fn` clean, and allocating then freeing gives back the image byte for byte.
//! - A claimed block already in use (by a file, by the inode table), a pointer overwrite, an
//!   extent of the wrong kind, a free of a block the inode does not own: each is refused and the
//!   image stays byte-identical.
//!
//! A missing e2fsprogs fails these tests: nothing is skipped.

mod xn_kernel;
use xn_kernel::kernel;

use std::path::{Path, PathBuf};

use udf_corpus::ext::{self, Spec};
use udf_corpus::{TempDir, debugfs};
use udf_kernel_glue::ext::{ExtError, ExtFs, Flavor, SlotRequest, kind};
use udf_kernel_glue::xn::{Problem, Refusal, Xn};
use udf_kernel_glue::{BlockDevice, MemDevice, Table};

fn xn(table: &Table, fs: &ExtFs) -> Xn {
    fs.xn(table).unwrap_or_else(|e| panic!("{e}"))
}

/// An image of `spec` over the generated tree.
struct Image {
    _dir: TempDir,
    path: PathBuf,
}

fn image(spec: Spec) -> Image {
    let name = format!("xn-{}-{}", spec.flavor.name(), spec.block_size);
    let (dir, path) = ext::build_tree_image(spec, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
    Image { _dir: dir, path }
}

fn open(path: &Path, bs: usize, flavor: Flavor) -> (MemDevice, ExtFs) {
    let mut dev = MemDevice::new(std::fs::read(path).unwrap(), bs);
    let fs = ExtFs::open(&mut dev, flavor).unwrap_or_else(|e| panic!("{e}"));
    (dev, fs)
}

/// Rebuilds the free map of `spec`'s image and compares it with the bitmaps.
fn rebuild_matches(spec: Spec, flavor: Flavor) {
    let table = kernel();
    let img = image(spec);
    let (mut dev, fs) = open(&img.path, spec.block_size as usize, flavor);
    let mut xn = xn(&table, &fs);
    let r = fs.rebuild(&mut xn, &table, &mut dev).unwrap();
    let problems: Vec<String> = r.rebuilt.problems.iter().map(|p| p.to_string()).collect();
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(
        r.differences.is_empty(),
        "{} blocks differ (block, on disk, rebuilt): {:?}",
        r.differences.len(),
        &r.differences[..r.differences.len().min(20)]
    );
    // The walk went below the inodes (indirect blocks or tree nodes) and covers the image.
    assert!(r.rebuilt.objects > r.rebuilt.roots, "{r:?}");
    assert_eq!(r.rebuilt.used.count(), r.on_disk.count());
    let free = fs.sb.blocks - r.rebuilt.used.count();
    assert_eq!(free, fs.sb.free_blocks, "free blocks vs the superblock's count");
}

#[test]
fn rebuilt_free_map_equals_the_bitmaps_ext2_1k() {
    rebuild_matches(ext::EXT2_1K, Flavor::Ext2);
}

#[test]
fn rebuilt_free_map_equals_the_bitmaps_ext4_1k() {
    rebuild_matches(ext::EXT4_1K, Flavor::Ext4);
}

#[test]
fn rebuilt_free_map_equals_the_bitmaps_ext4_4k() {
    rebuild_matches(ext::EXT4_4K, Flavor::Ext4);
}

/// The ext2 (1 KiB) image, opened, with XN's map rebuilt; the inode numbers of `paths`.
struct Ext2 {
    table: Table,
    img: Image,
    dev: MemDevice,
    fs: ExtFs,
    xn: Xn,
}

impl Ext2 {
    fn new() -> Ext2 {
        let table = kernel();
        let img = image(ext::EXT2_1K);
        let (mut dev, fs) = open(&img.path, 1024, Flavor::Ext2);
        let mut xn = xn(&table, &fs);
        let r = fs.rebuild(&mut xn, &table, &mut dev).unwrap();
        assert!(r.differences.is_empty() && r.rebuilt.problems.is_empty());
        Ext2 { table, img, dev, fs, xn }
    }

    fn ino(&self, path: &str) -> u32 {
        debugfs::inode_numbers(&self.img.path, &[path]).unwrap()[0]
    }

    fn slot(
        &mut self,
        ino: u32,
        slot: usize,
        block: u64,
        kind: Option<u32>,
    ) -> Result<(), ExtError> {
        self.fs
            .set_slot(
                &mut self.xn,
                &self.table,
                &mut self.dev,
                SlotRequest { ino, slot, block, kind },
            )
            .map(|_| ())
    }

    /// The first `n` free blocks outside group 0's first 200 blocks.
    fn free_blocks(&self, n: usize) -> Vec<u64> {
        (200..self.fs.sb.blocks).filter(|&b| !self.xn.used.get(b)).take(n).collect()
    }

    /// Writes the device back to the image file and runs `e2fsck -fn` on it.
    fn fsck(&self, after: &str) {
        std::fs::write(&self.img.path, self.dev.bytes()).unwrap();
        ext::fsck(&self.img.path).unwrap_or_else(|e| panic!("after {after}: {e}"));
    }

    /// A block some file owns.
    fn owned_data_block(&mut self, ino: u32) -> u64 {
        let obj = self.fs.inode_obj(ino).unwrap();
        let mut b = vec![0u8; 1024];
        self.dev.read_block(obj.block, &mut b).unwrap();
        let at = obj.offset as usize + 40;
        u64::from(u32::from_le_bytes(b[at..at + 4].try_into().unwrap()))
    }
}

#[test]
fn accepted_allocations_and_frees_keep_e2fsck_clean_ext2_1k() {
    let mut t = Ext2::new();
    let original = t.dev.bytes().to_vec();
    // `sparse/tail_hole`: 4 KiB of data then a hole to 10 MiB: slots 4-14 are empty.
    let ino = t.ino("/sparse/tail_hole");
    let [a, b] = t.free_blocks(2)[..] else { panic!("no free blocks") };

    t.slot(ino, 5, a, None).unwrap();
    assert!(t.xn.used.get(a));
    t.fsck("allocating a data block into slot 5");
    t.slot(ino, 12, b, None).unwrap();
    assert_eq!(t.xn.registry.get(&b).map(|e| e.parent), Some(Some(t.fs.inode_obj(ino).unwrap())));
    t.fsck("allocating an indirect block into slot 12");
    // The rebuilt map agrees with the bitmaps XN kept.
    let mut xn = xn(&t.table, &t.fs);
    let r = t.fs.rebuild(&mut xn, &t.table, &mut t.dev).unwrap();
    assert!(r.differences.is_empty() && r.rebuilt.problems.is_empty(), "{r:?}");

    t.slot(ino, 12, 0, None).unwrap();
    t.fsck("freeing the indirect block");
    t.slot(ino, 5, 0, None).unwrap();
    t.fsck("freeing the data block");
    assert!(t.dev.bytes() == original.as_slice(), "allocate then free gives back the image");

    // A data block past the end of a small regular file: the file grows to the end of the
    // block (i_size), i_blocks counts it, e2fsck is clean; freeing it keeps the size (a hole).
    let small = t.ino("/small.txt");
    let obj = t.fs.inode_obj(small).unwrap();
    let size = |t: &Ext2| {
        let mut b = vec![0u8; 1024];
        t.dev.clone().read_block(obj.block, &mut b).unwrap();
        let at = obj.offset as usize;
        let le = |o: usize| u32::from_le_bytes(b[at + o..at + o + 4].try_into().unwrap());
        (le(4), le(28))
    };
    let (size0, sectors0) = size(&t);
    assert_eq!(size0, 6);
    t.slot(small, 9, a, None).unwrap();
    assert_eq!(size(&t), (10 * 1024, sectors0 + 2));
    t.fsck("allocating slot 9 of a 6-byte file");
    t.slot(small, 9, 0, None).unwrap();
    assert_eq!(size(&t), (10 * 1024, sectors0));
    t.fsck("freeing slot 9 again");
    // A directory is not grown: refused, nothing written.
    let before = t.dev.bytes().to_vec();
    let err = t.slot(t.ino("/links"), 11, a, None).unwrap_err();
    assert!(matches!(err, ExtError::Unsupported(_)), "{err}");
    assert!(t.dev.bytes() == before.as_slice());

    // Freeing the file's first data block leaves a hole e2fsck accepts.
    let first = t.owned_data_block(ino);
    t.slot(ino, 0, 0, None).unwrap();
    assert!(!t.xn.used.get(first));
    t.fsck("freeing slot 0");
}

#[test]
fn refused_operations_leave_the_image_byte_identical_ext2_1k() {
    let mut t = Ext2::new();
    let ino = t.ino("/sparse/tail_hole");
    let other = t.ino("/blocks/direct12");
    let in_use = t.owned_data_block(other);
    let inode_table = t.fs.groups[0].inode_table;
    let [free] = t.free_blocks(1)[..] else { panic!("no free blocks") };
    let before = t.dev.bytes().to_vec();
    let used_before = t.xn.used.clone();

    let cases: Vec<(&str, usize, u64, Option<u32>)> = vec![
        ("a block another file owns", 5, in_use, None),
        ("a block of the inode table", 5, inode_table, None),
        ("a pointer overwrite", 0, free, None),
        ("a data slot claimed as an indirect block", 5, free, Some(kind::IND1)),
        ("an indirect slot claimed as data", 12, free, Some(kind::DATA)),
        ("an extent kind the template does not have", 5, free, Some(9)),
        ("freeing an empty slot", 6, 0, None),
        ("freeing with the wrong kind", 0, 0, Some(kind::IND2)),
    ];
    for (what, slot, block, kind) in cases {
        let err = t.slot(ino, slot, block, kind).expect_err(what);
        assert!(
            matches!(err, ExtError::SlotRefused(_) | ExtError::EmptySlot { .. }),
            "{what}: {err}"
        );
        assert!(t.dev.bytes() == before.as_slice(), "{what}: the image changed");
        assert_eq!(t.xn.used, used_before, "{what}: XN's map changed");
    }
    // The refusals say why.
    let err = t.slot(ino, 5, in_use, None).unwrap_err();
    let ExtError::SlotRefused(r) = &err else { panic!("{err}") };
    assert_eq!(r.refusal, Refusal::InUse(in_use));
    let err = t.slot(ino, 0, free, None).unwrap_err();
    let ExtError::SlotRefused(r) = err else { panic!("{err}") };
    let Refusal::Mismatch { added, removed, .. } = r.refusal else { panic!("{}", r.message) };
    assert_eq!(added, vec![(kind::DATA, free, free)]);
    assert_eq!(removed.len(), 1);
    // Freeing an empty slot says so.
    let err = t.slot(ino, 6, 0, None).unwrap_err();
    assert_eq!(err, ExtError::EmptySlot { ino, slot: 6 });
    assert_eq!(err.to_string(), format!("inode {ino} slot 6 is empty: nothing to free"));
    // A block-mapped inode the image does not use.
    let err = t.slot(t.fs.sb.inodes, 0, free, None).unwrap_err();
    assert_eq!(err, ExtError::Inode(t.fs.sb.inodes));
    assert!(t.dev.bytes() == before.as_slice());
}

/// Writes the little-endian `v` at byte `at` of block `block`.
fn poke(dev: &mut MemDevice, block: u64, at: usize, v: u32) {
    let mut b = vec![0u8; dev.block_size()];
    dev.read_block(block, &mut b).unwrap();
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    dev.write_block(block, &b).unwrap();
}

#[test]
fn rebuild_reports_blocks_owned_twice_cycles_and_bad_extents_ext2_1k() {
    let t = Ext2::new();
    let ino = t.ino("/blocks/dind_first");
    let other = t.ino("/sparse/tail_hole");
    let (mut base, fs, table) = (t.dev.clone(), &t.fs, &t.table);
    let obj = fs.inode_obj(ino).unwrap();
    let mut inode = vec![0u8; 1024];
    base.read_block(obj.block, &mut inode).unwrap();
    let slot = |k: usize| {
        let at = obj.offset as usize + 40 + 4 * k;
        u64::from(u32::from_le_bytes(inode[at..at + 4].try_into().unwrap()))
    };
    let (data0, dind) = (slot(0), slot(13));
    assert!(data0 != 0 && dind != 0, "dind_first has a double-indirect block");
    let other_obj = fs.inode_obj(other).unwrap();
    // Pokes one word into a copy of the image and rebuilds its free map: the problems found.
    let poked = |block: u64, at: usize, v: u32| {
        let mut dev = base.clone();
        poke(&mut dev, block, at, v);
        let mut xn = xn(table, fs);
        fs.rebuild(&mut xn, table, &mut dev).unwrap().rebuilt.problems
    };
    let slot_at = |k: usize| other_obj.offset as usize + 40 + 4 * k;

    // Another inode points at dind_first's first data block.
    let p = poked(other_obj.block, slot_at(5), data0 as u32);
    assert!(
        p.iter().any(|p| matches!(p, Problem::OwnedTwice { block, .. } if *block == data0)),
        "{p:?}"
    );

    // The double-indirect block names itself as one of its indirect blocks: a cycle.
    let p = poked(dind, 4 * 7, dind as u32);
    assert!(p.iter().any(|p| matches!(p, Problem::Cycle { block, .. } if *block == dind)), "{p:?}");

    // A pointer past the end of the disk.
    let p = poked(other_obj.block, slot_at(6), 0x00ff_ffff);
    assert!(
        p.iter()
            .any(|p| matches!(p, Problem::BadExtent { extent, .. } if extent.start == 0x00ff_ffff)),
        "{p:?}"
    );

    // The untouched image has no problem.
    let mut xn = xn(table, fs);
    let r = fs.rebuild(&mut xn, table, &mut base).unwrap();
    assert_eq!(r.rebuilt.problems, vec![]);
}

/// No refusal or problem message shows an object as raw block and byte offsets.
fn assert_named(msg: &str) {
    assert!(!msg.contains(" + ") && !msg.contains("object at"), "a raw object in: {msg}");
}

#[test]
fn refusals_and_problems_name_inodes_slots_and_entries_ext2_1k() {
    let mut t = Ext2::new();
    let ino = t.ino("/sparse/tail_hole");
    let other = t.ino("/blocks/direct12");
    let dind_file = t.ino("/blocks/dind_first");
    let read = |t: &Ext2, block: u64, at: usize| {
        let mut b = vec![0u8; 1024];
        t.dev.clone().read_block(block, &mut b).unwrap();
        u64::from(u32::from_le_bytes(b[at..at + 4].try_into().unwrap()))
    };
    let ind_file = t.ino("/blocks/ind1_full");
    let dobj = t.fs.inode_obj(dind_file).unwrap();
    let dind = read(&t, dobj.block, dobj.offset as usize + 40 + 4 * 13);
    let iobj = t.fs.inode_obj(ind_file).unwrap();
    let ind = read(&t, iobj.block, iobj.offset as usize + 40 + 4 * 12);
    let deep = read(&t, ind, 4 * 3);
    assert!(dind != 0 && ind != 0 && deep != 0);
    let in_use = t.owned_data_block(other);
    let [free] = t.free_blocks(1)[..] else { panic!("no free blocks") };
    let msg = |r: Result<(), ExtError>| {
        let m = r.expect_err("refused").to_string();
        assert_named(&m);
        m
    };

    // Held by another inode's slot, by an entry of an indirect block, by the static layout.
    let m = msg(t.slot(ino, 5, in_use, None));
    assert!(
        m.contains(&format!("inode {ino} slot 5"))
            && m.contains(&format!("inode {other} slot 0 holds it")),
        "{m}"
    );
    let m = msg(t.slot(ino, 5, deep, None));
    assert!(m.contains(&format!("inode {ind_file} indirect block {ind} entry 3 holds it")), "{m}");
    let m = msg(t.slot(ino, 5, t.fs.groups[0].inode_table, None));
    assert!(m.contains("group 0's inode table"), "{m}");
    // A pointer overwrite, a wrong kind, an unknown kind, a free of the wrong kind.
    let first = t.owned_data_block(ino);
    let m = msg(t.slot(ino, 0, free, None));
    assert!(
        m.contains(&format!("inode {ino} slot 0"))
            && m.contains(&format!("already holds block {first}: free it first")),
        "{m}"
    );
    let m = msg(t.slot(ino, 5, free, Some(kind::IND1)));
    assert!(m.contains("as an indirect block") && m.contains("(data)"), "{m}");
    let m = msg(t.slot(ino, 5, free, Some(9)));
    assert!(m.contains("kind 9 is not one"), "{m}");
    let m = msg(t.slot(ino, 0, 0, Some(kind::IND2)));
    assert!(
        m.contains(&format!("inode {ino} does not own block {first} as a double indirect block")),
        "{m}"
    );
    let m = msg(t.slot(ino, 6, 0, None));
    assert_eq!(m, format!("inode {ino} slot 6 is empty: nothing to free"));
    // Freeing an indirect block that still maps blocks.
    let m = msg(t.slot(dind_file, 13, 0, None));
    assert!(
        m.contains(&format!("inode {dind_file} double indirect block {dind} still names")),
        "{m}"
    );

    // Reconstruction problems: the second owner, the cycle and the bad pointer by slot and
    // entry.
    let (base, fs, table) = (t.dev.clone(), &t.fs, &t.table);
    let oobj = fs.inode_obj(other).unwrap();
    let problems = |dev: &mut MemDevice| {
        let mut xn = xn(table, fs);
        let r = fs.rebuild(&mut xn, table, dev).unwrap();
        let out: Vec<String> = r
            .rebuilt
            .problems
            .iter()
            .map(|p| fs.describe_problem(&mut xn, table, dev, p))
            .collect();
        for m in &out {
            assert_named(m);
        }
        out
    };
    let mut dev = base.clone();
    poke(&mut dev, oobj.block, oobj.offset as usize + 40 + 4 * 5, deep as u32);
    let p = problems(&mut dev);
    let want = [
        format!("block {deep} is owned twice"),
        format!("inode {ind_file} indirect block {ind} entry 3"),
        format!("inode {other} slot 5"),
    ];
    assert!(p.iter().any(|m| want.iter().all(|w| m.contains(w.as_str()))), "{p:#?}");
    let mut dev = base.clone();
    poke(&mut dev, dind, 4 * 7, dind as u32);
    let p = problems(&mut dev);
    let want = format!("cycle: inode {dind_file} double indirect block {dind} entry 7");
    assert!(p.iter().any(|m| m.contains(&want)), "{p:#?}");
    let mut dev = base.clone();
    poke(&mut dev, oobj.block, oobj.offset as usize + 40 + 4 * 6, 0x00ff_ffff);
    let p = problems(&mut dev);
    let want = format!("inode {other} slot 6 names 1 block(s) at {}", 0x00ff_ffff);
    assert!(p.iter().any(|m| m.contains(&want)), "{p:#?}");
}

#[test]
fn ext4_blocks_are_named_by_extent_ext4_1k() {
    let table = kernel();
    let img = image(ext::EXT4_1K);
    let (mut dev, fs) = open(&img.path, 1024, Flavor::Ext4);
    let mut xn = xn(&table, &fs);
    let r = fs.rebuild(&mut xn, &table, &mut dev).unwrap();
    assert!(r.rebuilt.problems.is_empty());
    let ino = debugfs::inode_numbers(&img.path, &["/blocks/direct12"]).unwrap()[0];
    let obj = fs.inode_obj(ino).unwrap();
    let mut b = vec![0u8; 1024];
    dev.read_block(obj.block, &mut b).unwrap();
    let i = obj.offset as usize;
    let le16 = |at: usize| u16::from_le_bytes([b[i + at], b[i + at + 1]]);
    let le32 = |at: usize| u32::from_le_bytes(b[i + at..i + at + 4].try_into().unwrap());
    assert_eq!(le16(40), 0xF30A, "direct12 is extent-mapped");
    assert_eq!(le16(46), 0, "a leaf in the inode");
    // The last block of the first extent.
    let start = u64::from(le16(52 + 6)) << 32 | u64::from(le32(52 + 8));
    let last = start + u64::from(le16(52 + 4)) - 1;
    let held = fs.holders(&mut xn, &table, &mut dev, &[last]);
    assert_eq!(held[&last], vec![format!("inode {ino} extent 0")]);
    let it = fs.groups[0].inode_table;
    let held = fs.holders(&mut xn, &table, &mut dev, &[it]);
    assert_eq!(held[&it], vec![String::from("group 0's inode table")]);
}
