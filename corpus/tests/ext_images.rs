//! ext2 (1 KiB and 4 KiB blocks), ext3 (1 KiB) and ext4 (1 KiB and 4 KiB) images from
//! `mke2fs -d` over the generated tree: for every in-use inode, the blocks owned by following the
//! owns-udfs of `ext2.udf` and `ext4.udf` (run on the interpreter and the JIT, which must agree)
//! are exactly what `debugfs -R "blocks <N>"` lists (none for fast symlinks and devices, whose
//! `i_block` debugfs lists as if it were a block map), and the xattr block is `stat`'s `File ACL`;
//! no block is owned by two inodes.
//!
//! A missing e2fsprogs fails these tests: nothing is skipped.

mod common;

use common::Engines;
use udf_corpus::debugfs;
use udf_corpus::ext::{self, ExtImage, Flavor, Spec};
use udf_corpus::walk::{self, EXT_IND1, EXT_IND2, EXT_IND3, EXT_NODE, EXT_XATTR};

/// Builds the image of `spec` and checks every inode; returns blocks owned per kind.
fn check(spec: Spec) -> [u64; 6] {
    let mut eng = Engines::load(&["ext2.udf", "ext4.udf"]);
    let name = format!("{}-{}", spec.flavor.name(), spec.block_size);
    let (_dir, path) = ext::build_tree_image(spec, &name).unwrap_or_else(|e| panic!("{name}: {e}"));
    let img = ExtImage::open(&path).unwrap();
    let inodes = img.inodes().unwrap();
    let inos: Vec<u32> = inodes.iter().map(|i| i.ino).collect();
    let listed = debugfs::listings(&path, &inos).unwrap_or_else(|e| panic!("{name}: {e}"));

    let mut bad = Vec::new();
    let mut per_kind = [0u64; 6];
    let mut owned = std::collections::HashMap::new();
    let mut owner = std::collections::HashMap::new();
    for inode in &inodes {
        let o = match walk::ext_inode(&img, inode, &mut |n, b| eng.owns(n, b)) {
            Ok(o) => o,
            Err(e) => {
                bad.push(format!("inode {}: {e}", inode.ino));
                continue;
            }
        };
        let d = &listed[&inode.ino];
        let expect = d.owned();
        if o.blocks != expect {
            let missing: Vec<_> =
                expect.iter().filter(|b| !o.blocks.contains(b)).take(10).collect();
            let extra: Vec<_> = o.blocks.iter().filter(|b| !expect.contains(b)).take(10).collect();
            bad.push(format!(
                "inode {} (mode {:o}, flags {:#x}): udfs own {} blocks, debugfs lists {} \
                 (missing {missing:?}, extra {extra:?})",
                inode.ino,
                inode.mode(),
                inode.flags(),
                o.blocks.len(),
                expect.len()
            ));
        }
        let acl: Vec<u64> = if d.file_acl == 0 { vec![] } else { vec![d.file_acl] };
        if o.xattr != acl {
            bad.push(format!("inode {}: xattr {:?}, File ACL {}", inode.ino, o.xattr, d.file_acl));
        }
        for &b in o.blocks.iter().chain(&o.xattr) {
            if let Some(other) = owner.insert(b, inode.ino) {
                bad.push(format!("block {b} owned by inodes {other} and {}", inode.ino));
            }
        }
        for (t, k) in per_kind.iter_mut().zip(o.per_kind) {
            *t += k;
        }
        owned.insert(inode.ino, o);
    }
    eprintln!(
        "{name}: {} in-use inodes, {} udf runs on each engine, blocks per kind {per_kind:?}",
        inodes.len(),
        eng.runs
    );
    common::assert_no_mismatch(&name, &bad);

    // The tree's cases are really there.
    let paths = ["/sparse/fragmented", "/prealloc", "/xattr/big", "/links/fast", "/links/slow60"];
    let ino = debugfs::inode_numbers(&path, &paths).unwrap();
    let of = |i: usize| &owned[&ino[i]];
    assert_eq!(of(2).xattr.len(), 1, "{name}: /xattr/big has an xattr block");
    assert_eq!(of(3).xattr.len(), 1, "{name}: the fast link has an xattr block");
    assert!(of(3).blocks.is_empty(), "{name}: the fast link owns no block");
    assert_eq!(of(4).blocks.len(), 1, "{name}: a 60-byte link is slow");
    if spec.flavor == Flavor::Ext4 {
        let bs = spec.block_size as u64;
        // 4 KiB of data and blocks 8-40 unwritten.
        assert_eq!(of(1).per_kind[0], 4096 / bs + 33, "{name}: /prealloc's unwritten extent");
        // 400 one-block extents: a tree of depth 2 at 1 KiB (84 per leaf, 4 in the inode), of
        // depth 1 at 4 KiB (340 per leaf); eh_depth is at 40 + 6 in the inode.
        let root = img.inode(ino[0]).unwrap();
        let depth = u16::from_le_bytes([root.bytes[46], root.bytes[47]]);
        assert_eq!(depth, if bs == 1024 { 2 } else { 1 }, "{name}: /sparse/fragmented's depth");
        assert!(of(0).per_kind[EXT_NODE as usize] >= 2, "{name}: /sparse/fragmented's tree");
    }
    per_kind
}

#[test]
fn ext2_1k() {
    let k = check(ext::EXT2_1K);
    for kind in [EXT_IND1, EXT_IND2, EXT_IND3] {
        assert!(k[kind as usize] > 0, "no block of kind {kind}");
    }
    assert!(k[EXT_XATTR as usize] >= 2);
}

#[test]
fn ext2_4k() {
    let k = check(ext::EXT2_4K);
    for kind in [EXT_IND1, EXT_IND2, EXT_IND3] {
        assert!(k[kind as usize] > 0, "no block of kind {kind}");
    }
}

#[test]
fn ext3_1k() {
    let k = check(ext::EXT3_1K);
    for kind in [EXT_IND1, EXT_IND2, EXT_IND3] {
        assert!(k[kind as usize] > 0, "no block of kind {kind}");
    }
}

#[test]
fn ext4_1k() {
    let k = check(ext::EXT4_1K);
    // A tree of depth 2 (an index node over leaves) besides the depth-1 ones.
    assert!(k[EXT_NODE as usize] >= 6, "{k:?}");
}

#[test]
fn ext4_4k() {
    let k = check(ext::EXT4_4K);
    assert!(k[EXT_NODE as usize] >= 2, "{k:?}");
}

/// Malformed extent trees are reported (r0 = 1) by both engines, not followed.
#[test]
fn malformed_extent_trees() {
    let mut eng = Engines::load(&["ext2.udf", "ext4.udf"]);
    let malformed = Err("malformed (r0 = 1)".to_string());
    let header = |magic: u16, entries: u16, depth: u16| {
        let mut b = [magic, entries, 4, depth].map(u16::to_le_bytes).concat();
        b.extend([0; 4]);
        b
    };
    // A regular file with EXTENTS_FL: the header at 40.
    let inode = |hdr: &[u8]| {
        let mut b = vec![0u8; 128];
        b[0..2].copy_from_slice(&0x81A4u16.to_le_bytes());
        b[26..28].copy_from_slice(&1u16.to_le_bytes());
        b[32..36].copy_from_slice(&0x8_0000u32.to_le_bytes());
        b[40..52].copy_from_slice(hdr);
        b
    };
    assert_eq!(eng.owns("ext4_inode", &inode(&header(0, 0, 0))), malformed);
    assert_eq!(eng.owns("ext4_inode", &inode(&header(0xF30A, 5, 0))), malformed);
    assert_eq!(eng.owns("ext4_inode", &inode(&header(0xF30A, 0, 6))), malformed);
    assert_eq!(eng.owns("ext4_inode", &inode(&header(0xF30A, 0, 0))), Ok(vec![]));
    for (entry, size, cap) in [("ext4_node_1k", 1024, 84), ("ext4_node_4k", 4096, 340)] {
        let node = |hdr: Vec<u8>| {
            let mut b = hdr;
            b.resize(size, 0);
            b
        };
        assert_eq!(eng.owns(entry, &node(vec![0; 12])), malformed);
        assert_eq!(eng.owns(entry, &node(header(0xF30A, cap + 1, 0))), malformed);
        assert_eq!(eng.owns(entry, &node(header(0xF30A, 0, 5))), malformed);
        assert_eq!(eng.owns(entry, &node(header(0xF30A, 0, 1))), Ok(vec![]));
        // An unwritten leaf extent of 7 blocks at 2^32 + 9, and one of 32768 written blocks.
        let mut leaf = header(0xF30A, 2, 0);
        leaf.extend([0, 0, 0, 0, 0x07, 0x80, 1, 0, 9, 0, 0, 0]);
        leaf.extend([0, 0, 0, 0, 0x00, 0x80, 0, 0, 3, 0, 0, 0]);
        let want = vec![((1 << 32) + 9, 7, 0), (3, 32768, 0)];
        assert_eq!(eng.owns(entry, &node(leaf)), Ok(want));
    }
}
