//! XN's writes at a logical block (`ExtFs::set_lblock`) on a default `mke2fs -t ext4` image
//! (extents, metadata_csum, 64bit, flex_bg, huge_file) and on ext2 block maps, with the corpus
//! owns-udfs installed through the kernel's loader.
//!
//! - The checksums `ext::Csum` computes equal what mke2fs wrote, for every structure.
//! - Extending an extent, new extents, a root growing a level (depth 0 -> 1 -> 2), leaf and
//!   index splits, frees that trim, split and remove extents and free emptied tree blocks:
//!   after each step `e2fsck -fn` is clean, the free map rebuilt from the roots equals the
//!   bitmaps, and the file read back with debugfs `dump` is what the steps made it.
//! - Refusals (a block in use by another file or the static layout, a wrong kind, an
//!   overwrite, a free of an unmapped block, a refusal after the tree already grew) leave the
//!   image byte-identical.
//! - ext2: a logical block maps to its slot or indirect-block entry.
//! - Every crash point of the operations that change a tree's shape leaves at most leaks,
//!   counts and a stale bitmap checksum, and `ExtFs::repair` (its writes sealed with
//!   metadata_csum) then leaves strict e2fsck clean and the rebuilt map equal to the bitmaps.
//!
//! A missing e2fsprogs fails these tests: nothing is skipped.

mod xn_kernel;
use xn_kernel::kernel;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use udf_corpus::ext::{self as cext};
use udf_corpus::{TempDir, debugfs};
use udf_kernel_glue::ext::{
    Csum, ExtError, ExtFs, Flavor, LblockChange, LblockRequest, SlotRequest, kind, template,
};
use udf_kernel_glue::order::Cache;
use udf_kernel_glue::xn::{Refusal, Xn};
use udf_kernel_glue::{BlockDevice, MemDevice, Table};

fn path_env() -> String {
    format!("{}:/sbin:/usr/sbin", std::env::var("PATH").unwrap_or_default())
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// A pattern for logical block `l` of a test file.
fn pattern(l: u64, bs: usize, salt: u8) -> Vec<u8> {
    (0..bs).map(|i| (i as u64 * 7 + l * 13 + u64::from(salt)) as u8).collect()
}

/// An image of one file `/f` of `blocks` patterned blocks, made by `mke2fs -t FS` with its
/// defaults (ext4: extents, metadata_csum, 64bit, flex_bg) and `-d`.
struct Image {
    _dir: TempDir,
    path: PathBuf,
    table: Table,
    dev: MemDevice,
    fs: ExtFs,
    xn: Xn,
    ino: u32,
    bs: usize,
    /// What each logical block of `/f` holds.
    data: BTreeMap<u64, Vec<u8>>,
    size: u64,
}

impl Image {
    fn new(fs_type: &str, bs: usize, size_kib: u64, blocks: u64) -> Image {
        let dir = TempDir::new(&format!("xn-lblock-{fs_type}-{bs}")).unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(&tree).unwrap();
        let mut data = BTreeMap::new();
        let mut bytes = Vec::new();
        for l in 0..blocks {
            let p = pattern(l, bs, 1);
            bytes.extend_from_slice(&p);
            data.insert(l, p);
        }
        std::fs::write(tree.join("f"), &bytes).unwrap();
        // A sparse file of 6 data blocks between holes: more extents than the root holds, so
        // a tree block (on ext4).
        {
            use std::os::unix::fs::FileExt;
            let f = std::fs::File::create(tree.join("holes")).unwrap();
            for k in 0..6u64 {
                f.write_all_at(&pattern(k, bs, 3), 2 * k * bs as u64).unwrap();
            }
        }
        let path = dir.path().join("fs.img");
        let o = Command::new("mke2fs")
            .args(["-q", "-F", "-t", fs_type, "-b", &bs.to_string(), "-d"])
            .arg(&tree)
            .arg(&path)
            .arg(format!("{size_kib}k"))
            .env("PATH", path_env())
            .env("E2FSPROGS_FAKE_TIME", "1700000000")
            .output()
            .expect("mke2fs runs (e2fsprogs)");
        assert!(o.status.success(), "mke2fs: {}", String::from_utf8_lossy(&o.stderr));
        let table = kernel();
        let flavor = if fs_type == "ext4" { Flavor::Ext4 } else { Flavor::Ext2 };
        let mut dev = MemDevice::new(std::fs::read(&path).unwrap(), bs);
        let fs = ExtFs::open(&mut dev, flavor).unwrap();
        let mut xn = fs.xn(&table).unwrap();
        let r = fs.rebuild(&mut xn, &table, &mut dev).unwrap();
        assert!(r.differences.is_empty(), "{fs_type} {bs}: {:?}", r.differences);
        assert!(r.rebuilt.problems.is_empty(), "{fs_type} {bs}: {:?}", r.rebuilt.problems);
        let ino = debugfs::inode_numbers(&path, &["/f"]).unwrap()[0];
        let size = blocks * bs as u64;
        Image { _dir: dir, path, table, dev, fs, xn, ino, bs, data, size }
    }

    fn inode(&self) -> Vec<u8> {
        let obj = self.fs.inode_obj(self.ino).unwrap();
        let mut b = vec![0u8; self.bs];
        self.dev.clone().read_block(obj.block, &mut b).unwrap();
        b[obj.offset as usize..obj.offset as usize + self.fs.sb.inode_size as usize].to_vec()
    }

    /// The root of `/f`'s extent tree: depth and entries.
    fn root(&self) -> (u16, u16) {
        let i = self.inode();
        assert_eq!(le16(&i, 40), 0xF30A, "extent-mapped");
        (le16(&i, 46), le16(&i, 42))
    }

    /// The first physical block of `/f`'s first extent (a depth-0 root).
    fn first_start(&self) -> u64 {
        let i = self.inode();
        u64::from(le16(&i, 52 + 6)) << 32 | u64::from(le32(&i, 52 + 8))
    }

    fn lb(&mut self, l: u64, block: u64) -> Result<LblockChange, ExtError> {
        self.lbk(l, block, None)
    }

    fn lbk(&mut self, l: u64, block: u64, kind: Option<u32>) -> Result<LblockChange, ExtError> {
        let req = LblockRequest { ino: self.ino, lblock: l, block, kind };
        self.fs.set_lblock(&mut self.xn, &self.table, &mut self.dev, req)
    }

    /// Fills free block `b` with a pattern, then maps it at `l` (the file now reads the pattern
    /// there).
    fn map(&mut self, l: u64, b: u64) -> LblockChange {
        assert!(!self.xn.used.get(b), "block {b} is free");
        let p = pattern(l, self.bs, 2);
        self.dev.write_block(b, &p).unwrap();
        let c = self.lb(l, b).unwrap_or_else(|e| panic!("mapping {b} at {l}: {e}"));
        assert_eq!((c.old, c.new, c.kind), (0, b, kind::DATA));
        self.data.insert(l, p);
        self.size = self.size.max((l + 1) * self.bs as u64);
        c
    }

    fn unmap(&mut self, l: u64) -> LblockChange {
        let c = self.lb(l, 0).unwrap_or_else(|e| panic!("freeing {l}: {e}"));
        assert!(c.old != 0 && c.new == 0);
        assert!(!self.xn.used.get(c.old));
        self.data.remove(&l);
        c
    }

    /// `e2fsck -fn` clean, the rebuilt free map equal to the bitmaps, the file as the model.
    fn check(&mut self, after: &str) {
        std::fs::write(&self.path, self.dev.bytes()).unwrap();
        cext::fsck_strict(&self.path).unwrap_or_else(|e| panic!("after {after}: {e}"));
        let mut xn = self.fs.xn(&self.table).unwrap();
        let r = self.fs.rebuild(&mut xn, &self.table, &mut self.dev).unwrap();
        assert!(r.rebuilt.problems.is_empty(), "after {after}: {:?}", r.rebuilt.problems);
        assert!(r.differences.is_empty(), "after {after}: {:?}", r.differences);
        assert_eq!(r.rebuilt.used, self.xn.used, "after {after}: XN's map");
        let out = self.path.with_extension("dump");
        let _ = std::fs::remove_file(&out);
        debugfs::run_script(&self.path, &format!("dump /f {}\n", out.display()), false)
            .unwrap_or_else(|e| panic!("after {after}: {e}"));
        let got = std::fs::read(&out).unwrap();
        assert_eq!(got.len() as u64, self.size, "after {after}: the file's size");
        for (l, chunk) in got.chunks(self.bs).enumerate() {
            let zero = vec![0u8; self.bs];
            let want = self.data.get(&(l as u64)).unwrap_or(&zero);
            assert!(chunk == &want[..chunk.len()], "after {after}: logical block {l} differs");
        }
    }

    /// Free blocks of the image from `from` on, every `stride`-th.
    fn free_from(&self, from: u64, stride: u64, n: usize) -> Vec<u64> {
        (from..self.fs.sb.blocks)
            .step_by(stride as usize)
            .filter(|&b| !self.xn.used.get(b))
            .take(n)
            .collect()
    }
}

/// Every checksum `Csum` computes equals mke2fs's, on 1 KiB and 4 KiB images.
#[test]
fn checksums_equal_mke2fs_s() {
    for bs in [1024usize, 4096] {
        let mut t = Image::new("ext4", bs, 32 * 1024, 40);
        let mut raw = vec![0u8; 1024];
        udf_kernel_glue::device::read_bytes(&mut t.dev, 1024, &mut raw).unwrap();
        let c = Csum::of(&t.fs.sb, &raw).unwrap().expect("metadata_csum");
        assert_eq!(Csum::superblock(&raw), le32(&raw, 0x3FC), "superblock");
        let ds = t.fs.sb.desc_size as usize;
        let mut gdt = vec![0u8; t.fs.sb.gdt_blocks() as usize * bs];
        let first = (t.fs.sb.first_data_block + 1) * bs as u64;
        udf_kernel_glue::device::read_bytes(&mut t.dev, first, &mut gdt).unwrap();
        let mut checked = [0usize; 5];
        for (g, d) in t.fs.groups.iter().enumerate() {
            let desc = &gdt[g * ds..(g + 1) * ds];
            assert_eq!(c.group_desc(g as u32, desc), Csum::group_desc_stored(desc), "gd {g}");
            let mut b = vec![0u8; bs];
            if d.flags & 2 == 0 {
                t.dev.read_block(d.block_bitmap, &mut b).unwrap();
                assert_eq!(c.narrow(c.block_bitmap(&b)), c.block_bitmap_stored(desc), "bb {g}");
                checked[0] += 1;
            }
            if d.flags & 1 == 0 {
                t.dev.read_block(d.inode_bitmap, &mut b).unwrap();
                assert_eq!(c.narrow(c.inode_bitmap(&b)), c.inode_bitmap_stored(desc), "ib {g}");
                checked[1] += 1;
            }
        }
        let roots = t.fs.roots(&mut t.dev).unwrap();
        for obj in roots {
            let ino = t.fs.inode_number(obj).unwrap();
            let mut b = vec![0u8; bs];
            t.dev.read_block(obj.block, &mut b).unwrap();
            let i = &b[obj.offset as usize..obj.offset as usize + c.inode_size];
            if le16(i, 0) == 0 && le16(i, 26) == 0 {
                continue;
            }
            assert_eq!(c.inode(ino, i), c.inode_stored(i), "inode {ino}");
            checked[2] += 1;
        }
        // Extent-tree blocks (the journal's and the root directory's... whatever has them).
        for (&blk, e) in t.xn.registry.iter().filter(|(_, e)| e.template == template::NODE) {
            let parent = e.parent.unwrap();
            let ino = t.fs.inode_number(parent).unwrap_or_else(|| {
                let mut p = parent;
                while let Some(pp) = t.xn.registry.get(&p.block).and_then(|e| e.parent) {
                    p = pp;
                }
                t.fs.inode_number(p).unwrap()
            });
            let obj = t.fs.inode_obj(ino).unwrap();
            let mut b = vec![0u8; bs];
            t.dev.read_block(obj.block, &mut b).unwrap();
            let seed = c.inode_seed(ino, &b[obj.offset as usize..]);
            t.dev.read_block(blk, &mut b).unwrap();
            let at = Csum::extent_tail(&b).unwrap();
            assert_eq!(Csum::extent_block(seed, &b), Some(le32(&b, at)), "extent block {blk}");
            checked[3] += 1;
        }
        assert!(
            checked[0] > 0 && checked[1] > 0 && checked[2] > 4 && checked[3] > 0,
            "{checked:?}"
        );
    }
}

/// The steps on one extent-mapped file: extend, new extents, merge from the right, the root
/// growing a level, frees that trim, split and remove extents (index keys following), the
/// emptied leaf freed: e2fsck clean, rebuild equal, data intact after each.
fn extent_steps(bs: usize) {
    let mut t = Image::new("ext4", bs, 32 * 1024, 3);
    t.check("mke2fs");
    assert_eq!(t.root(), (0, 1), "one extent in the root");
    let p = t.first_start();
    // Far blocks for new extents.
    let far = t.free_from(p + 200, 7, 10);
    t.map(10, far[0]);
    assert_eq!(t.root(), (0, 2));
    t.check("a new extent");
    // Extending that extent at its end.
    t.map(11, far[0] + 1);
    assert_eq!(t.root(), (0, 2), "extended in place");
    t.check("extending the extent");
    // A block just before that extent, physically too: merged from the right.
    assert!(!t.xn.used.get(far[0] - 1));
    t.map(9, far[0] - 1);
    assert_eq!(t.root(), (0, 2), "merged into the extent after it");
    t.check("merging from the right");
    t.map(20, far[1]);
    t.map(30, far[2]);
    assert_eq!(t.root(), (0, 4), "the root is full");
    t.check("four extents");
    // A fifth: the root grows a level, its extents moving to a new leaf block.
    let c = t.map(40, far[3]);
    assert_eq!(c.nodes_allocated.len(), 1, "{c:?}");
    let leaf = c.nodes_allocated[0];
    assert!(t.xn.used.get(leaf));
    assert_eq!(t.root(), (1, 1), "depth 1, one index entry");
    assert_eq!(
        t.xn.registry.get(&leaf).and_then(|e| e.parent),
        Some(t.fs.inode_obj(t.ino).unwrap())
    );
    // The writes, through the write ordering: the new leaf (initialised) first, the bitmap
    // and group descriptor marking it before the inode points at it, the superblock last;
    // then the data block's step: bitmap and descriptor, the inode (the size covering the new
    // block), then the leaf that points at it.
    let inode_block = t.fs.inode_obj(t.ino).unwrap().block;
    let g = &t.fs.groups
        [((leaf - t.fs.sb.first_data_block) / u64::from(t.fs.sb.blocks_per_group)) as usize];
    let gd = t.fs.sb.first_data_block + 1;
    let sb = 1024 / t.bs as u64;
    let want = [leaf, g.block_bitmap, gd, inode_block, sb];
    assert_eq!(&c.writes[..5], &want, "{:?}", c.writes);
    assert_eq!(&c.writes[5..], &[g.block_bitmap, gd, inode_block, leaf, sb], "{:?}", c.writes);
    assert_eq!(c.writes_left, 0);
    t.check("the root growing a level");
    // Frees: in the middle of an extent (split in two), its first block (the leaf's first key
    // and the index key follow), a whole one-block extent.
    t.unmap(1);
    t.check("freeing inside an extent");
    t.unmap(0);
    t.check("freeing the first block");
    t.map(0, p);
    t.check("mapping before the first key");
    t.unmap(40);
    t.check("freeing a one-block extent");
    // Freeing everything: the emptied leaf goes, the root is an empty leaf again.
    let mapped: Vec<u64> = t.data.keys().copied().collect();
    let mut freed_nodes = Vec::new();
    for l in mapped {
        freed_nodes.extend(t.unmap(l).nodes_freed);
    }
    assert_eq!(freed_nodes, vec![leaf]);
    assert!(!t.xn.used.get(leaf) && !t.xn.registry.contains_key(&leaf));
    assert_eq!(t.root(), (0, 0));
    t.check("freeing every block");
}

#[test]
fn extent_writes_keep_e2fsck_clean_ext4_1k() {
    extent_steps(1024);
}

#[test]
fn extent_writes_keep_e2fsck_clean_ext4_4k() {
    extent_steps(4096);
}

/// The free of a block inside an extent of a full root makes room first (the root grows a
/// level during a free); then enough extents for leaf splits under the root and the root
/// growing again (depth 2, an index block); then every block freed, in a scrambled order:
/// emptied leaves and the index block freed, the root an empty leaf again.
#[test]
fn leaf_and_index_splits_and_frees_ext4_1k() {
    let mut t = Image::new("ext4", 1024, 32 * 1024, 3);
    let p = t.first_start();
    let far = t.free_from(p + 100, 3, 400);
    t.map(10, far[0]);
    t.map(20, far[1]);
    t.map(30, far[2]);
    assert_eq!(t.root(), (0, 4));
    let c = t.unmap(1);
    assert_eq!(c.nodes_allocated.len(), 1, "the root grew to split the extent: {c:?}");
    assert_eq!(t.root(), (1, 1));
    t.check("freeing inside an extent of a full root");
    // One-block extents two logical blocks apart: no merging.
    let mut l = 32;
    let mut k = 3;
    let mut allocated = c.nodes_allocated.clone();
    while t.root().0 < 2 {
        let c = t.map(l, far[k]);
        if !c.nodes_allocated.is_empty() {
            allocated.extend(&c.nodes_allocated);
            t.check(&format!("a split at logical block {l}"));
        }
        l += 2;
        k += 1;
    }
    assert!(allocated.len() >= 5, "leaf splits, then a new level: {allocated:?}");
    let (depth, entries) = t.root();
    assert_eq!((depth, entries), (2, 1));
    // A few more, then free everything in a scrambled order.
    for _ in 0..5 {
        t.map(l, far[k]);
        l += 2;
        k += 1;
    }
    t.check("a depth-2 tree");
    let mut mapped: Vec<u64> = t.data.keys().copied().collect();
    let n = mapped.len();
    let mut freed: Vec<u64> = Vec::new();
    for i in 0..n {
        let at = (i * 37) % mapped.len();
        let l = mapped.remove(at);
        let c = t.unmap(l);
        if !c.nodes_freed.is_empty() {
            freed.extend(&c.nodes_freed);
            t.check(&format!("freeing logical block {l} and {:?}", c.nodes_freed));
        }
    }
    freed.sort_unstable();
    allocated.sort_unstable();
    assert_eq!(freed, allocated, "every tree block went back");
    assert_eq!(t.root(), (0, 0));
    t.check("freeing every block");
}

/// Each refusal leaves the image and XN's map as they were, including one that comes after
/// the tree already grew a level in the staged copy (a free refused because the image's bitmap
/// already marks the block free).
#[test]
fn refused_lblock_operations_leave_the_image_byte_identical_ext4_1k() {
    let mut t = Image::new("ext4", 1024, 32 * 1024, 3);
    let p = t.first_start();
    let holes = debugfs::inode_numbers(&t.path, &["/holes"]).unwrap()[0];
    let listing = debugfs::listings(&t.path, &[holes]).unwrap();
    let other = *listing[&holes].owned().last().unwrap();
    let far = t.free_from(p + 200, 5, 10);
    t.map(10, far[0]);
    t.map(20, far[1]);
    t.map(30, far[2]);
    assert_eq!(t.root(), (0, 4), "the next new extent needs a new leaf");
    let before = t.dev.bytes().to_vec();
    let (used, registry) = (t.xn.used.clone(), t.xn.registry.clone());
    let itable = t.fs.groups[0].inode_table;
    let ino = t.ino;
    type Case<'a> = (&'a str, u64, u64, Option<u32>, &'a str);
    let cases: Vec<Case<'_>> = vec![
        ("another file's block", 40, other, None, "holds it"),
        ("the inode table", 40, itable, None, "group 0's inode table"),
        ("its own block", 11, p, None, "is already in use"),
        ("an overwrite", 1, far[3], None, "already maps block"),
        (
            "an indirect kind on an extent-mapped inode",
            50,
            far[3],
            Some(kind::IND1),
            "extent-mapped",
        ),
        ("a kind it has no use for", 50, far[3], Some(9), "extent-mapped"),
        ("past the end of the disk", 11, t.fs.sb.blocks + 5, None, "past the end"),
        ("freeing an unmapped block", 7, 0, None, "maps no block: nothing to free"),
        ("freeing with an indirect kind", 1, 0, Some(kind::IND1), "extent-mapped"),
    ];
    for (what, l, block, kind, says) in cases {
        let err = t.lbk(l, block, kind).expect_err(what);
        let m = err.to_string();
        assert!(m.contains(says), "{what}: {m}");
        assert!(!m.contains(" + ") && !m.contains("object at"), "{what}: a raw object in {m}");
        assert!(t.dev.bytes() == before.as_slice(), "{what}: the image changed");
        assert_eq!(t.xn.used, used, "{what}: XN's map changed");
        assert_eq!(t.xn.registry, registry, "{what}: XN's registry changed");
    }
    let err = t.lb(40, other).unwrap_err();
    let ExtError::LblockRefused(r) = &err else { panic!("{err}") };
    assert_eq!(r.refusal, Refusal::InUse(other));
    assert!(r.message.contains(&format!("inode {ino} logical block 40")), "{}", r.message);
    assert!(r.message.contains(&format!("inode {holes}")), "{}", r.message);
    assert_eq!(t.lb(7, 0).unwrap_err(), ExtError::Unmapped { ino, lblock: 7 });
    // A free inode.
    let free_ino = t.fs.sb.inodes;
    let err = t.fs.set_lblock(
        &mut t.xn,
        &t.table,
        &mut t.dev,
        LblockRequest { ino: free_ino, lblock: 0, block: far[3], kind: None },
    );
    assert_eq!(err.unwrap_err(), ExtError::Inode(free_ino));
    // A directory's block inside it: no holes in directories.
    let err = t.fs.set_lblock(
        &mut t.xn,
        &t.table,
        &mut t.dev,
        LblockRequest { ino: 2, lblock: 0, block: 0, kind: None },
    );
    let m = err.unwrap_err().to_string();
    assert!(m.contains("inode 2 logical block 0: it lies inside the directory"), "{m}");
    assert!(t.dev.bytes() == before.as_slice());
    t.check("the refusals");

    // Freeing logical block 1 splits the extent 0-2 of the full root: the root grows a level
    // (staged), then the free itself is refused: the image's bitmap already marks the block
    // free. Nothing is written.
    let g = t.fs.groups
        [((p + 1 - t.fs.sb.first_data_block) / u64::from(t.fs.sb.blocks_per_group)) as usize];
    let bit = (p + 1 - t.fs.sb.first_data_block) % u64::from(t.fs.sb.blocks_per_group);
    let mut bm = vec![0u8; 1024];
    t.dev.read_block(g.block_bitmap, &mut bm).unwrap();
    bm[(bit / 8) as usize] &= !(1 << (bit % 8));
    t.dev.write_block(g.block_bitmap, &bm).unwrap();
    let before = t.dev.bytes().to_vec();
    let err = t.lb(1, 0).unwrap_err();
    assert!(err.to_string().contains(&format!("block {} is already free", p + 1)), "{err}");
    assert!(t.dev.bytes() == before.as_slice(), "the image changed");
    assert_eq!(t.xn.used, used);
    assert_eq!(t.xn.registry, registry);
    assert_eq!(t.root(), (0, 4));
}

/// ext2: a logical block maps to its slot or indirect-block entry; indirect blocks covering it
/// are allocated with their kind; `--lblock L` in the direct range is `--slot L`.
#[test]
fn lblock_maps_to_slots_and_indirect_entries_ext2_1k() {
    let mut t = Image::new("ext2", 1024, 20 * 1024, 3);
    t.check("mke2fs");
    let free = t.free_from(3000, 1, 10);
    // The direct range: the same bytes as a slot change.
    let mut by_slot = t.dev.clone();
    let mut xn = t.fs.xn(&t.table).unwrap();
    t.fs.rebuild(&mut xn, &t.table, &mut by_slot).unwrap();
    let req = SlotRequest { ino: t.ino, slot: 5, block: free[0], kind: None };
    t.fs.set_slot(&mut xn, &t.table, &mut by_slot, req).unwrap();
    t.dev.write_block(free[0], &pattern(5, 1024, 2)).unwrap();
    by_slot.write_block(free[0], &pattern(5, 1024, 2)).unwrap();
    let c = t.map(5, free[0]);
    assert!(c.nodes_allocated.is_empty());
    assert!(t.dev == by_slot, "--lblock 5 and --slot 5 differ");
    t.check("logical block 5");
    // Under the indirect block: refused until it is there.
    let before = t.dev.bytes().to_vec();
    let err = t.lb(20, free[1]).unwrap_err();
    assert!(err.to_string().contains("allocate that first (--lblock 20 --kind 1)"), "{err}");
    assert!(t.dev.bytes() == before.as_slice());
    let c = t.lbk(20, free[2], Some(kind::IND1)).unwrap();
    assert_eq!((c.old, c.new, c.kind), (0, free[2], kind::IND1));
    t.check("the indirect block covering logical block 20");
    t.map(20, free[1]);
    t.check("logical block 20 (indirect entry 8)");
    // Under the double indirect block.
    let l = 12 + 256 + 3;
    t.lbk(l, free[3], Some(kind::IND2)).unwrap();
    t.lbk(l, free[4], Some(kind::IND1)).unwrap();
    t.map(l, free[5]);
    t.check("logical block 271 (double indirect)");
    // The indirect block still maps a block: freeing it is refused.
    let before = t.dev.bytes().to_vec();
    let err = t.lbk(20, 0, Some(kind::IND1)).unwrap_err();
    assert!(err.to_string().contains("still names 1 extent(s)"), "{err}");
    assert!(t.dev.bytes() == before.as_slice());
    // A direct-range block has no indirect block.
    let err = t.lbk(5, free[6], Some(kind::IND1)).unwrap_err();
    assert!(err.to_string().contains("direct slot 5"), "{err}");
    // Freed again, bottom up.
    t.unmap(l);
    t.lbk(l, 0, Some(kind::IND1)).unwrap();
    t.lbk(l, 0, Some(kind::IND2)).unwrap();
    t.unmap(20);
    t.lbk(20, 0, Some(kind::IND1)).unwrap();
    t.unmap(5);
    t.check("freeing them all");
    for b in &free[..6] {
        assert!(!t.xn.used.get(*b));
    }
}

/// What `e2fsck -fn` may report after a crash: leaked blocks (marked used, owned by nothing:
/// `-N` bitmap differences), free counts and an inode's block count; its prompts and
/// extent-tree hints; and a block bitmap that does not match the checksum its group descriptor
/// records: with `metadata_csum` the bitmap's checksum lives in the descriptor, a different
/// block, and no order of the two writes makes them one (a crash between them leaves the
/// checksum a summary out of date, as the free counts are). Anything else is returned.
fn beyond_leaks_and_counts(report: &str) -> Vec<String> {
    let leak_list = |l: &str| {
        l.trim_start_matches("Block bitmap differences:")
            .split_whitespace()
            .all(|item| item.starts_with('-'))
    };
    report
        .lines()
        .map(str::trim)
        .filter(|l| {
            !(l.is_empty()
                || l.starts_with("Pass ")
                || l.starts_with("e2fsck ")
                || l.contains(" files (")
                || l.contains("WARNING: Filesystem still has errors")
                || l == &"Fix? no"
                || l.starts_with("Free blocks count wrong")
                || (l.starts_with("Block bitmap differences: Group ")
                    && l.ends_with(" block bitmap does not match checksum."))
                || l == &"IGNORED."
                || (l.starts_with("Block bitmap differences:") && leak_list(l))
                || (l.starts_with("Inode ")
                    && l.contains(", i_blocks is ")
                    && l.ends_with("Fix? no"))
                || (l.contains("extent tree (at level ") && l.contains("Optimize? no")))
        })
        .map(String::from)
        .collect()
}

/// Runs `req` on a copy of `t`'s image crashing after every number of writes: `e2fsck -fn`
/// finds at most leaks and counts each time, all writes give the accepted result, and after
/// `ExtFs::repair` strict e2fsck is clean and the rebuilt map equals the bitmaps.
fn every_crash_point(t: &Image, req: LblockRequest, what: &str, stats: &mut RepairStats) -> usize {
    let full = {
        let (mut dev, mut xn) = (t.dev.clone(), t.fs.xn(&t.table).unwrap());
        t.fs.rebuild(&mut xn, &t.table, &mut dev).unwrap();
        t.fs.set_lblock(&mut xn, &t.table, &mut dev, req).unwrap_or_else(|e| panic!("{what}: {e}"))
    };
    let n = full.writes.len();
    for w in 0..=n {
        let (mut dev, mut xn) = (t.dev.clone(), t.fs.xn(&t.table).unwrap());
        t.fs.rebuild(&mut xn, &t.table, &mut dev).unwrap();
        let c = t.fs.set_lblock_ordered(&mut xn, &t.table, &mut dev, req, 0, Some(w)).unwrap();
        assert_eq!((c.writes.len(), c.writes_left), (w, n - w), "{what}, crash after {w}");
        assert_eq!(c.writes[..], full.writes[..w], "{what}: the same order");
        let img = t.path.with_extension(format!("crash{w}"));
        std::fs::write(&img, dev.bytes()).unwrap();
        let o = Command::new("e2fsck").arg("-fn").arg(&img).env("PATH", path_env()).output();
        let o = o.expect("e2fsck runs (e2fsprogs)");
        let report = String::from_utf8_lossy(&o.stdout).into_owned();
        let worse = beyond_leaks_and_counts(&report);
        assert!(worse.is_empty(), "{what}, crash after {w} of {n} writes: {worse:?}\n{report}");
        // The rebuild names only leaks; the repair (every block it changes sealed again)
        // leaves the image strictly e2fsck clean and the rebuilt map equal to the bitmaps.
        let mut dev = MemDevice::new(dev.bytes().to_vec(), t.bs);
        let fs = ExtFs::open(&mut dev, Flavor::Ext4).unwrap();
        let mut xn = fs.xn(&t.table).unwrap();
        let r = fs.rebuild(&mut xn, &t.table, &mut dev).unwrap();
        assert!(r.rebuilt.problems.is_empty(), "{what} W={w}: {:?}", r.rebuilt.problems);
        assert!(r.differences.iter().all(|d| d.1 && !d.2), "{what} W={w}: {r:?}");
        let leaked: Vec<u64> = r.differences.iter().map(|d| d.0).collect();
        let mut cache = Cache::new(t.bs);
        let fixed = fs
            .repair(&mut xn, &t.table, &mut cache, &mut dev, &r)
            .unwrap_or_else(|e| panic!("{what} W={w}: repair: {e}"));
        assert_eq!(fixed.leaked, leaked, "{what} W={w}");
        fs.commit(&mut xn, &mut cache, &mut dev, None).unwrap();
        std::fs::write(&img, dev.bytes()).unwrap();
        cext::fsck_strict(&img).unwrap_or_else(|e| {
            panic!("{what}, crash after {w} of {n} writes, then the repair ({fixed:?}): {e}")
        });
        let again = fs.rebuild(&mut xn, &t.table, &mut dev).unwrap();
        assert!(again.rebuilt.problems.is_empty(), "{what} W={w}: {:?}", again.rebuilt.problems);
        assert!(again.differences.is_empty(), "{what} W={w}: {:?}", again.differences);
        assert_eq!(again.rebuilt.used, fs.on_disk(&mut dev).unwrap(), "{what} W={w}");
        if w == n {
            assert!(fixed.is_empty(), "{what}: nothing to repair after the whole operation");
        }
        if !fixed.leaked.is_empty() {
            stats.leaks += 1;
        }
        if !fixed.bitmap_checksums.is_empty() {
            stats.stale_checksums += 1;
        }
        if !fixed.inodes.is_empty() {
            stats.i_blocks += 1;
        }
        let _ = std::fs::remove_file(&img);
    }
    n
}

/// Crash points whose repair released a leak, recorded a stale bitmap checksum again, or set
/// an inode's `i_blocks` (so the repair's sealing is exercised, not only its no-op).
#[derive(Default, Debug)]
struct RepairStats {
    leaks: usize,
    stale_checksums: usize,
    i_blocks: usize,
}

/// Every crash point of the ext4 operations that change the tree's shape: a root growing a
/// level for a new extent (the new leaf written before the inode points at it), a free that
/// first grows the root to split an extent, and a free that empties and frees a leaf. At every
/// crash point `ExtFs::repair` then leaves the image strictly e2fsck clean (checksums sealed).
#[test]
fn every_crash_point_leaves_at_most_leaks_and_counts_ext4_1k() {
    let mut t = Image::new("ext4", 1024, 8 * 1024, 3);
    let p = t.first_start();
    let far = t.free_from(p + 100, 3, 10);
    t.map(10, far[0]);
    t.map(20, far[1]);
    t.map(30, far[2]);
    std::fs::write(&t.path, t.dev.bytes()).unwrap();
    let ino = t.ino;
    let grow = LblockRequest { ino, lblock: 40, block: far[3], kind: None };
    let mut stats = RepairStats::default();
    let n = every_crash_point(&t, grow, "the root growing a level", &mut stats);
    assert!(n >= 8, "two steps: {n} writes");
    let split = LblockRequest { ino, lblock: 1, block: 0, kind: None };
    every_crash_point(&t, split, "a free splitting an extent of a full root", &mut stats);
    // A depth-1 tree whose leaf holds one block: freeing it frees the leaf.
    let mut t = Image::new("ext4", 1024, 8 * 1024, 1);
    let far = t.free_from(t.first_start() + 100, 3, 10);
    for (i, l) in [10, 20, 30, 40].into_iter().enumerate() {
        t.map(l, far[i]);
    }
    assert_eq!(t.root(), (1, 1));
    for l in [0, 10, 20, 30] {
        t.unmap(l);
    }
    std::fs::write(&t.path, t.dev.bytes()).unwrap();
    let last = LblockRequest { ino: t.ino, lblock: 40, block: 0, kind: None };
    every_crash_point(&t, last, "freeing the last block of a leaf and the leaf", &mut stats);
    assert!(
        stats.leaks > 0 && stats.stale_checksums > 0 && stats.i_blocks > 0,
        "the repairs released leaks, recorded bitmap checksums and set i_blocks: {stats:?}"
    );
}

/// `repair` refuses, by name, the checksums it does not keep: `uninit_bg` (gdt_csum) without
/// metadata_csum, whose crc16 descriptor checksums it would leave wrong; nothing is staged.
#[test]
fn repair_refuses_gdt_csum_without_metadata_csum() {
    let dir = TempDir::new("xn-repair-gdt-csum").unwrap();
    let path = dir.path().join("fs.img");
    let o = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-b", "1024", "-O", "^metadata_csum,uninit_bg"])
        .arg(&path)
        .arg("8192k")
        .env("PATH", path_env())
        .output()
        .expect("mke2fs runs (e2fsprogs)");
    assert!(o.status.success(), "mke2fs: {}", String::from_utf8_lossy(&o.stderr));
    let table = kernel();
    let mut dev = MemDevice::new(std::fs::read(&path).unwrap(), 1024);
    let fs = ExtFs::open(&mut dev, Flavor::Ext4).unwrap();
    let mut xn = fs.xn(&table).unwrap();
    let r = fs.rebuild(&mut xn, &table, &mut dev).unwrap();
    let mut cache = Cache::new(1024);
    let e = fs.repair(&mut xn, &table, &mut cache, &mut dev, &r).unwrap_err();
    assert!(matches!(e, ExtError::Unsupported(_)), "{e}");
    assert!(e.to_string().contains("gdt_csum"), "{e}");
    let flushed = fs.commit(&mut xn, &mut cache, &mut dev, None).unwrap();
    assert!(flushed.written.is_empty(), "nothing staged: {:?}", flushed.written);
    assert!(dev.bytes() == &std::fs::read(&path).unwrap()[..], "the image changed");
}
