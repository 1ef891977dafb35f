//! The directory trees copied into images: fixed names, sizes and (seeded) contents, so every
//! run builds the same trees.
//!
//! [`ext_tree`] covers what the ext owns-udfs must handle with 1 KiB blocks: the 12 direct
//! pointers exactly filled, the first single-indirect block, the single-indirect block exactly
//! full, the first double-indirect block, a dense file of 1 MiB, a sparse file reaching past
//! 12 + 256 + 65536 blocks (triple indirection) while holding 5 blocks (and one past 4 GiB, for
//! triple indirection with 4 KiB blocks), a file of 400 one-block extents (an extent tree of
//! depth 2 at 1 KiB, 1 at 4 KiB), trailing and whole-file holes, a
//! directory of 600 entries (its own block map needs an indirect block at 1 KiB), fast and slow
//! symlinks on both sides of the 60-byte boundary, deep nesting and a hard link. What `mke2fs -d`
//! cannot take from a tree (devices, a FIFO, extended attributes, unwritten extents) is added to
//! the image afterwards with `debugfs -w` ([`crate::ext`]).
//!
//! [`fat_tree`] is the same idea for FAT: sizes around sector and cluster boundaries, long names,
//! a directory spanning many clusters, nesting, an empty file and an empty directory; files to
//! copy and delete afterwards so that a later file's chain is fragmented.
//!
//! Contents are never a whole block of zeros: `mke2fs -d` turns zero blocks into holes.

use crate::error::{Error, Result};
use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// `len` bytes of the seeded generator (`udf_bytecode::rng`) from `seed`: the same bytes on
/// every run.
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    udf_bytecode::rng::Rng::new(seed).bytes(len)
}

/// Writes `len` seeded bytes to `path`.
fn dense(path: &Path, seed: u64, len: usize) -> Result<()> {
    fs::write(path, bytes(seed, len)).map_err(|e| Error::io(path, e))
}

/// Writes `(offset, len)` runs of seeded bytes into a file of `size` bytes; the rest are holes.
fn sparse(path: &Path, seed: u64, runs: &[(u64, usize)], size: u64) -> Result<()> {
    let io = |e| Error::io(path, e);
    let mut f = File::create(path).map_err(io)?;
    for (i, &(off, len)) in runs.iter().enumerate() {
        f.seek(SeekFrom::Start(off)).map_err(io)?;
        f.write_all(&bytes(seed + i as u64, len)).map_err(io)?;
    }
    f.set_len(size).map_err(io)
}

fn mkdir(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(|e| Error::io(path, e))
}

fn symlink(target: &str, link: &Path) -> Result<()> {
    std::os::unix::fs::symlink(target, link).map_err(|e| Error::io(link, e))
}

/// A symlink target of exactly `len` bytes (path-like: components of at most 9 bytes).
pub fn link_target(len: usize) -> String {
    (0..len).map(|i| if i % 10 == 9 { '/' } else { (b'a' + (i % 26) as u8) as char }).collect()
}

/// Entries in [`ext_tree`]'s `bigdir`.
pub const BIG_DIR_ENTRIES: usize = 600;

/// One KiB.
const K: usize = 1024;

/// Builds the ext tree under `root` (which must exist and be empty).
pub fn ext_tree(root: &Path) -> Result<()> {
    let p = |s: &str| root.join(s);
    dense(&p("small.txt"), 1, 6)?;
    dense(&p("empty"), 2, 0)?;
    dense(&p("prealloc"), 3, 4 * K)?; // unwritten extents added by debugfs on ext4

    mkdir(&p("blocks"))?;
    dense(&p("blocks/direct12"), 10, 12 * K)?;
    dense(&p("blocks/ind1_first"), 11, 13 * K)?;
    dense(&p("blocks/ind1_full"), 12, 268 * K)?;
    dense(&p("blocks/dind_first"), 13, 269 * K)?;
    dense(&p("blocks/big"), 14, 1029 * K)?;

    mkdir(&p("sparse"))?;
    // 1 KiB block numbers: 0 (direct), 300 (double), 65804 (the first triple-indirect block,
    // 12 + 256 + 65536) and 71680-71681 (at 70 MiB).
    let kb = |b: u64| b * K as u64;
    sparse(
        &p("sparse/triple"),
        20,
        &[(0, K), (kb(300), K), (kb(65804), K), (kb(71680), 2 * K)],
        kb(71682),
    )?;
    sparse(&p("sparse/tail_hole"), 21, &[(0, 4 * K)], 10 << 20)?;
    sparse(&p("sparse/all_hole"), 22, &[], 3 << 20)?;
    // With 4 KiB blocks, triple indirection starts at block 12 + 1024 + 1024^2 (4100 MiB + 48
    // KiB): 8 KiB a little past it, and 4 KiB at 1 MiB (single-indirect).
    let past = (12 + 1024 + 1024 * 1024 + 10) * 4096;
    sparse(&p("sparse/beyond_4g"), 24, &[(1 << 20, 4 * K), (past, 8 * K)], past + (8 * K) as u64)?;
    let fragments: Vec<(u64, usize)> = (0..400).map(|i| (i * 8 * K as u64, K)).collect();
    sparse(&p("sparse/fragmented"), 23, &fragments, 400 * 8 * K as u64)?;

    mkdir(&p("bigdir"))?;
    for i in 0..BIG_DIR_ENTRIES {
        let name = format!("entry-with-a-rather-long-name-{i:04}");
        let len = if i % 50 == 0 { 100 } else { 0 };
        dense(&p(&format!("bigdir/{name}")), 1000 + i as u64, len)?;
    }

    mkdir(&p("links"))?;
    symlink("../small.txt", &p("links/fast"))?;
    symlink(&link_target(59), &p("links/fast59"))?;
    symlink(&link_target(60), &p("links/slow60"))?;
    symlink(&link_target(300), &p("links/slow"))?;
    symlink(&link_target(1000), &p("links/slow_long"))?;

    mkdir(&p("nested/a/b/c/d/e/f"))?;
    dense(&p("nested/a/b/c/d/e/f/deep.txt"), 30, 3000)?;
    fs::hard_link(p("small.txt"), p("nested/a/hardlink")).map_err(|e| Error::io(p("nested"), e))?;

    mkdir(&p("xattr"))?; // files given extended attributes by debugfs
    dense(&p("xattr/big"), 40, 10)?;
    dense(&p("xattr/small"), 41, 10)?;
    mkdir(&p("devices"))?; // filled by debugfs mknod
    Ok(())
}

/// What [`fat_tree`] made: the tree to copy in, then the fragmentation steps.
#[derive(Clone, Debug)]
pub struct FatTree {
    /// The tree copied first (`root` itself).
    pub root: PathBuf,
    /// Files copied into the volume's root after the tree, in order.
    pub then_copy: Vec<PathBuf>,
    /// Names (in the volume's root) deleted after that.
    pub then_delete: Vec<String>,
    /// Files copied into the volume's root last: their chains fill the holes the deletions left.
    pub finally_copy: Vec<PathBuf>,
}

/// Files in [`fat_tree`]'s `many`.
pub const FAT_DIR_ENTRIES: usize = 100;

/// Builds the FAT tree under `root` (which must exist and be empty), and the files of the
/// fragmentation steps under `extra` (likewise).
pub fn fat_tree(root: &Path, extra: &Path) -> Result<FatTree> {
    let p = |s: &str| root.join(s);
    dense(&p("hello.txt"), 1, 6)?;
    dense(&p("empty.dat"), 2, 0)?;
    dense(&p("SECTOR.BIN"), 3, 512)?;
    dense(&p("sector+1.bin"), 4, 513)?;
    dense(&p("two_clusters_and_a_bit.bin"), 5, 2 * 2048 + 1)?;
    dense(&p("A Long File Name With Spaces.txt"), 6, 40 * K)?;
    dense(&p("big.bin"), 7, 600 * K)?; // past cluster 1024: FAT12's second 3-sector group
    mkdir(&p("emptydir"))?;
    mkdir(&p("nested/a/b/c"))?;
    dense(&p("nested/a/b/c/deep.txt"), 8, 3000)?;
    dense(&p("nested/a/mid.bin"), 9, 5000)?;
    mkdir(&p("many"))?;
    for i in 0..FAT_DIR_ENTRIES {
        let len = if i % 10 == 0 { 700 } else { 0 };
        dense(&p(&format!("many/file number {i:03} with a long name.txt")), 100 + i as u64, len)?;
    }
    let x = |s: &str| extra.join(s);
    let mut then_copy = Vec::new();
    for (i, name) in ["FRAG_A.BIN", "FRAG_B.BIN", "FRAG_C.BIN", "FRAG_D.BIN"].iter().enumerate() {
        dense(&x(name), 50 + i as u64, 6 * K)?;
        then_copy.push(x(name));
    }
    dense(&x("FRAG_E.BIN"), 60, 20 * K)?;
    Ok(FatTree {
        root: root.to_path_buf(),
        then_copy,
        then_delete: vec!["FRAG_B.BIN".into(), "FRAG_D.BIN".into()],
        finally_copy: vec![x("FRAG_E.BIN")],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_are_fixed_and_never_a_zero_block() {
        assert_eq!(bytes(7, 16), bytes(7, 16));
        assert_ne!(bytes(7, 16), bytes(8, 16));
        for chunk in bytes(5, 64 * 1024).chunks(1024) {
            assert!(chunk.iter().any(|&b| b != 0));
        }
    }

    #[test]
    fn link_targets_have_the_asked_length() {
        for n in [1, 59, 60, 1000] {
            assert_eq!(link_target(n).len(), n);
        }
    }
}
