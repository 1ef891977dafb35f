//! Following owns-udfs over an image. The caller supplies `owns(entry, bytes)`: run the entry
//! point of that name on those bytes and return the extents it emitted (or why it failed). The
//! walkers decide only what to read next, from the kinds the udfs emit; what is owned is the
//! udfs' answer.
//!
//! ext (kinds of `ext2.udf` / `ext4.udf`): from each in-use inode, run `ext2_inode` (or
//! `ext4_inode` on a file system with extents); for every block of an extent of kind 1, 2 or 3
//! read the block and run `ext2_ind1_1k` / `ext2_ind2_1k` / `ext2_ind3_1k` (`_4k` with 4 KiB
//! blocks), for kind 5 run `ext4_node_1k` / `ext4_node_4k`, recursively. Data (kind 0) and
//! xattr (kind 4) blocks are not read.
//!
//! FAT (kinds of `fat.udf`): run `fat12_group` / `fat16_sector` / `fat32_sector` on every unit of
//! the first FAT; run `fat_dir_sector` on every sector of the root directory and, for every
//! extent of kind 1 (a directory's first cluster), on every sector of that directory. A
//! directory's later clusters are found through the FAT (read in Rust); which FAT unit owns
//! each of them is the FAT udfs' answer, which the tests compare.

use crate::error::{Error, Result};
use crate::ext::{ExtImage, Inode};
use crate::fat::{FatType, FatVolume};
use std::collections::HashSet;

/// An extent an owns-udf emitted: (first block, number of blocks, kind).
pub type Extent = (u64, u64, u32);

/// The function running owns-udfs: `owns(entry name, object bytes)`.
pub type Owns<'a> = dyn FnMut(&str, &[u8]) -> std::result::Result<Vec<Extent>, String> + 'a;

/// ext kind 0: data blocks.
pub const EXT_DATA: u32 = 0;
/// ext kind 1: a single-indirect block.
pub const EXT_IND1: u32 = 1;
/// ext kind 2: a double-indirect block.
pub const EXT_IND2: u32 = 2;
/// ext kind 3: a triple-indirect block.
pub const EXT_IND3: u32 = 3;
/// ext kind 4: an xattr block.
pub const EXT_XATTR: u32 = 4;
/// ext kind 5: an extent tree node.
pub const EXT_NODE: u32 = 5;

/// FAT kind 0: a file's first cluster.
pub const FAT_FILE: u32 = 0;
/// FAT kind 1: a directory's first cluster.
pub const FAT_DIR: u32 = 1;
/// FAT kind 2: a later cluster of a chain.
pub const FAT_NEXT: u32 = 2;

/// Deepest chain of udf runs from an inode (inode, ind3, ind2, ind1; or the root and up to five
/// levels of extent tree nodes).
const MAX_DEPTH: usize = 7;

/// What one inode owns by following the udfs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtOwned {
    /// Every block of every extent except xattr ones (data, indirect, tree nodes), sorted; a
    /// block emitted twice appears twice.
    pub blocks: Vec<u64>,
    /// Xattr blocks (kind 4), in emission order.
    pub xattr: Vec<u64>,
    /// Blocks per kind (0-5).
    pub per_kind: [u64; 6],
    /// Owns-udf runs made (the inode's included).
    pub runs: u32,
}

/// The entry point names for an image: (inode entry, suffix of block entries).
pub fn ext_entries(img: &ExtImage) -> Result<(&'static str, &'static str)> {
    let inode = if img.sb.has_extents() { "ext4_inode" } else { "ext2_inode" };
    let suffix = match img.sb.block_size {
        1024 => "1k",
        4096 => "4k",
        n => return Err(Error::Format(format!("no owns-udfs for {n}-byte blocks"))),
    };
    Ok((inode, suffix))
}

/// Follows the udfs from `inode`.
pub fn ext_inode(img: &ExtImage, inode: &Inode, owns: &mut Owns<'_>) -> Result<ExtOwned> {
    let (entry, suffix) = ext_entries(img)?;
    let mut out = ExtOwned::default();
    follow(img, entry, &format!("inode {}", inode.ino), &inode.bytes, suffix, 0, owns, &mut out)?;
    out.blocks.sort_unstable();
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn follow(
    img: &ExtImage,
    entry: &str,
    object: &str,
    bytes: &[u8],
    suffix: &str,
    depth: usize,
    owns: &mut Owns<'_>,
    out: &mut ExtOwned,
) -> Result<()> {
    let fail = |message: String| Error::Owns {
        entry: entry.to_string(),
        object: object.to_string(),
        message,
    };
    if depth >= MAX_DEPTH {
        return Err(fail(format!("more than {MAX_DEPTH} levels of blocks")));
    }
    out.runs += 1;
    let extents = owns(entry, bytes).map_err(fail)?;
    for (start, count, kind) in extents {
        let end = start
            .checked_add(count)
            .filter(|&e| e <= img.sb.blocks_count)
            .ok_or_else(|| fail(format!("extent ({start}, {count}, {kind}) is past the end")))?;
        let child = match kind {
            EXT_DATA | EXT_XATTR => None,
            EXT_IND1 => Some(format!("ext2_ind1_{suffix}")),
            EXT_IND2 => Some(format!("ext2_ind2_{suffix}")),
            EXT_IND3 => Some(format!("ext2_ind3_{suffix}")),
            EXT_NODE => Some(format!("ext4_node_{suffix}")),
            k => return Err(fail(format!("unknown kind {k}"))),
        };
        out.per_kind[kind as usize] += count;
        for b in start..end {
            if kind == EXT_XATTR {
                out.xattr.push(b);
            } else {
                out.blocks.push(b);
            }
            if let Some(child) = &child {
                let data = img.read_block(b)?;
                follow(img, child, &format!("block {b}"), &data, suffix, depth + 1, owns, out)?;
            }
        }
    }
    Ok(())
}

/// What the FAT udfs emitted over a volume.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FatOwned {
    /// Per FAT unit (see [`FatVolume::fat_units`]), what its udf emitted.
    pub fat_units: Vec<Vec<Extent>>,
    /// Per directory sector visited (absolute sector number), what `fat_dir_sector` emitted,
    /// in visiting order (the root first, then depth first).
    pub dir_sectors: Vec<(u64, Vec<Extent>)>,
}

/// The FAT-unit entry for a type.
pub fn fat_unit_entry(t: FatType) -> &'static str {
    match t {
        FatType::Fat12 => "fat12_group",
        FatType::Fat16 => "fat16_sector",
        FatType::Fat32 => "fat32_sector",
    }
}

/// Runs the FAT udfs over `vol`.
pub fn fat(vol: &FatVolume, owns: &mut Owns<'_>) -> Result<FatOwned> {
    let mut out = FatOwned::default();
    let unit = fat_unit_entry(vol.boot.fat);
    for (u, bytes) in vol.fat_units().iter().enumerate() {
        let ext = owns(unit, bytes).map_err(|message| Error::Owns {
            entry: unit.into(),
            object: format!("FAT unit {u}"),
            message,
        })?;
        out.fat_units.push(ext);
    }
    let mut seen = HashSet::new();
    fat_dir(vol, &vol.root_sectors()?, owns, &mut seen, &mut out)?;
    Ok(out)
}

fn fat_dir(
    vol: &FatVolume,
    sectors: &[u64],
    owns: &mut Owns<'_>,
    seen: &mut HashSet<u64>,
    out: &mut FatOwned,
) -> Result<()> {
    for &s in sectors {
        let bytes = vol.read_sectors(s, 1)?;
        let fail = |message: String| Error::Owns {
            entry: "fat_dir_sector".into(),
            object: format!("sector {s}"),
            message,
        };
        let ext = owns("fat_dir_sector", &bytes).map_err(fail)?;
        out.dir_sectors.push((s, ext.clone()));
        for (c, count, kind) in ext {
            if kind != FAT_DIR {
                continue;
            }
            if count != 1 || !seen.insert(c) {
                return Err(fail(format!(
                    "directory extent ({c}, {count}) again or of several clusters"
                )));
            }
            let c = u32::try_from(c).map_err(|_| fail(format!("cluster {c}")))?;
            fat_dir(vol, &vol.dir_sectors(c)?, owns, seen, out)?;
        }
    }
    Ok(())
}
