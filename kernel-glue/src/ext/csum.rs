//! `metadata_csum`: the crc32c checksums ext4 keeps over its metadata, computed as the kernel
//! and e2fsprogs compute them (Castagnoli polynomial, the raw register chained from a seed: no
//! final inversion).
//!
//! - the superblock: over its first 1020 bytes, from `!0`, in `s_checksum`;
//! - the file system's seed: `s_checksum_seed` with `metadata_csum_seed`, else the crc of
//!   `s_uuid` from `!0`;
//! - an inode: from the inode's seed (the file system's seed, then the inode number and
//!   `i_generation`, each as 4 little-endian bytes) over all `s_inode_size` bytes with
//!   `i_checksum_lo` and, where `i_extra_isize` makes room for it, `i_checksum_hi` taken as
//!   zero; the low half in `i_checksum_lo`, the high half in `i_checksum_hi` when it fits;
//! - an extent-tree block: from its inode's seed over the header and `eh_max` entries, in the
//!   4 bytes after them;
//! - block and inode bitmaps: from the file system's seed over `blocks_per_group / 8`
//!   (`inodes_per_group / 8`) bytes, in the group descriptor (`bg_*_bitmap_csum_lo`, and
//!   `_hi` in 64-byte descriptors);
//! - a group descriptor: the low 16 bits of the crc from the file system's seed over the group
//!   number and the descriptor with `bg_checksum` taken as zero.

use super::*;
use crc::{CRC_32_ISCSI, Crc};

const CASTAGNOLI: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// `INCOMPAT_CSUM_SEED`: the seed is stored in `s_checksum_seed`.
const INCOMPAT_CSUM_SEED: u32 = 0x2000;
/// Superblock offsets.
const SB_UUID: usize = 0x68;
const SB_CSUM_TYPE: usize = 0x175;
const SB_CSUM_SEED: usize = 0x270;
/// Where the superblock's own checksum lies.
pub const SB_CSUM: usize = 0x3FC;
/// Inode offsets.
const I_GENERATION: usize = 0x64;
const I_CSUM_LO: usize = 0x7C;
const I_EXTRA_ISIZE: usize = 0x80;
const I_CSUM_HI: usize = 0x82;
/// Group descriptor offsets.
const GD_BBITMAP_CSUM_LO: usize = 0x18;
const GD_IBITMAP_CSUM_LO: usize = 0x1A;
const GD_CSUM: usize = 0x1E;
const GD_BBITMAP_CSUM_HI: usize = 0x38;
const GD_IBITMAP_CSUM_HI: usize = 0x3A;

/// The crc32c register after `data`, from `seed` (ext4's `ext4_chksum`).
pub fn crc32c(seed: u32, data: &[u8]) -> u32 {
    // `crc` reflects the initial value it is given and inverts at the end: undo both so the
    // register chains as the kernel's does.
    let mut d = CASTAGNOLI.digest_with_initial(seed.reverse_bits());
    d.update(data);
    !d.finalize()
}

/// The checksums of one file system: its seed, and the geometry they cover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Csum {
    /// The file system's seed.
    pub seed: u32,
    /// Bytes per inode.
    pub inode_size: usize,
    /// Bytes per group descriptor.
    pub desc_size: usize,
    /// Bytes of a block bitmap the checksum covers.
    pub block_bitmap_bytes: usize,
    /// Bytes of an inode bitmap the checksum covers.
    pub inode_bitmap_bytes: usize,
}

impl Csum {
    /// The checksums of the file system whose 1024-byte superblock is `raw`, or `None` without
    /// `metadata_csum`; a checksum type other than crc32c is refused.
    pub fn of(sb: &Superblock, raw: &[u8]) -> Result<Option<Csum>, ExtError> {
        if sb.features[2] & RO_COMPAT_METADATA_CSUM == 0 {
            return Ok(None);
        }
        if raw[SB_CSUM_TYPE] != 1 {
            return Err(ExtError::Unsupported(format!(
                "metadata checksum type {} (only crc32c, type 1, is known)",
                raw[SB_CSUM_TYPE]
            )));
        }
        let seed = if sb.features[1] & INCOMPAT_CSUM_SEED != 0 {
            le32(raw, SB_CSUM_SEED)
        } else {
            crc32c(!0, &raw[SB_UUID..SB_UUID + 16])
        };
        Ok(Some(Csum {
            seed,
            inode_size: sb.inode_size as usize,
            desc_size: sb.desc_size as usize,
            block_bitmap_bytes: (sb.blocks_per_group / 8) as usize,
            inode_bitmap_bytes: (sb.inodes_per_group / 8) as usize,
        }))
    }

    /// The superblock's checksum (of its 1024 bytes `raw`).
    pub fn superblock(raw: &[u8]) -> u32 {
        crc32c(!0, &raw[..SB_CSUM])
    }

    /// Sets the superblock's checksum in its 1024 bytes `raw`.
    pub fn seal_superblock(raw: &mut [u8]) {
        let c = Csum::superblock(raw);
        raw[SB_CSUM..SB_CSUM + 4].copy_from_slice(&c.to_le_bytes());
    }

    /// The seed of inode `ino` whose bytes are `inode` (its extent blocks' checksums start
    /// from it).
    pub fn inode_seed(&self, ino: u32, inode: &[u8]) -> u32 {
        let c = crc32c(self.seed, &ino.to_le_bytes());
        crc32c(c, &inode[I_GENERATION..I_GENERATION + 4])
    }

    /// Whether the inode `inode` has room for `i_checksum_hi`.
    fn has_csum_hi(&self, inode: &[u8]) -> bool {
        self.inode_size > 128 && 128 + usize::from(le16(inode, I_EXTRA_ISIZE)) >= I_CSUM_HI + 2
    }

    /// The checksum of inode `ino` (its `inode_size` bytes `inode`); only the low 16 bits
    /// count when the inode has no room for the high half.
    pub fn inode(&self, ino: u32, inode: &[u8]) -> u32 {
        let n = self.inode_size;
        let hi = self.has_csum_hi(inode);
        let zero = [0u8; 2];
        let mut c = crc32c(self.inode_seed(ino, inode), &inode[..I_CSUM_LO]);
        c = crc32c(c, &zero);
        c = crc32c(c, &inode[I_CSUM_LO + 2..128]);
        if n > 128 {
            c = crc32c(c, &inode[128..I_CSUM_HI]);
            let from = if hi {
                c = crc32c(c, &zero);
                I_CSUM_HI + 2
            } else {
                I_CSUM_HI
            };
            c = crc32c(c, &inode[from..n]);
        }
        if hi { c } else { c & 0xFFFF }
    }

    /// The checksum inode `inode` carries.
    pub fn inode_stored(&self, inode: &[u8]) -> u32 {
        let lo = u32::from(le16(inode, I_CSUM_LO));
        if self.has_csum_hi(inode) { lo | u32::from(le16(inode, I_CSUM_HI)) << 16 } else { lo }
    }

    /// Sets the checksum of inode `ino` in its bytes `inode`.
    pub fn seal_inode(&self, ino: u32, inode: &mut [u8]) {
        let c = self.inode(ino, inode);
        inode[I_CSUM_LO..I_CSUM_LO + 2].copy_from_slice(&(c as u16).to_le_bytes());
        if self.has_csum_hi(inode) {
            inode[I_CSUM_HI..I_CSUM_HI + 2].copy_from_slice(&((c >> 16) as u16).to_le_bytes());
        }
    }

    /// Where an extent-tree block's checksum lies (after `eh_max` entries), if inside the block.
    pub fn extent_tail(block: &[u8]) -> Option<usize> {
        let at = 12 + 12 * usize::from(le16(block, 4));
        (at + 4 <= block.len()).then_some(at)
    }

    /// The checksum of an extent-tree block of the inode whose seed is `inode_seed`.
    pub fn extent_block(inode_seed: u32, block: &[u8]) -> Option<u32> {
        Csum::extent_tail(block).map(|at| crc32c(inode_seed, &block[..at]))
    }

    /// Sets an extent-tree block's checksum.
    pub fn seal_extent_block(inode_seed: u32, block: &mut [u8]) {
        if let Some(at) = Csum::extent_tail(block) {
            let c = crc32c(inode_seed, &block[..at]);
            block[at..at + 4].copy_from_slice(&c.to_le_bytes());
        }
    }

    /// A block bitmap's checksum.
    pub fn block_bitmap(&self, bitmap: &[u8]) -> u32 {
        crc32c(self.seed, &bitmap[..self.block_bitmap_bytes])
    }

    /// An inode bitmap's checksum.
    pub fn inode_bitmap(&self, bitmap: &[u8]) -> u32 {
        crc32c(self.seed, &bitmap[..self.inode_bitmap_bytes])
    }

    fn split(&self, desc: &mut [u8], lo: usize, hi: usize, c: u32) {
        desc[lo..lo + 2].copy_from_slice(&(c as u16).to_le_bytes());
        if self.desc_size >= hi + 2 {
            desc[hi..hi + 2].copy_from_slice(&((c >> 16) as u16).to_le_bytes());
        }
    }

    fn joined(&self, desc: &[u8], lo: usize, hi: usize) -> u32 {
        let l = u32::from(le16(desc, lo));
        if self.desc_size >= hi + 2 { l | u32::from(le16(desc, hi)) << 16 } else { l }
    }

    /// Records a block bitmap's checksum in its group descriptor `desc`.
    pub fn set_block_bitmap(&self, desc: &mut [u8], bitmap: &[u8]) {
        let c = self.block_bitmap(bitmap);
        self.split(desc, GD_BBITMAP_CSUM_LO, GD_BBITMAP_CSUM_HI, c);
    }

    /// The block bitmap checksum a group descriptor records (as wide as it records it).
    pub fn block_bitmap_stored(&self, desc: &[u8]) -> u32 {
        self.joined(desc, GD_BBITMAP_CSUM_LO, GD_BBITMAP_CSUM_HI)
    }

    /// The inode bitmap checksum a group descriptor records.
    pub fn inode_bitmap_stored(&self, desc: &[u8]) -> u32 {
        self.joined(desc, GD_IBITMAP_CSUM_LO, GD_IBITMAP_CSUM_HI)
    }

    /// The part of a bitmap checksum a `desc_size`-byte descriptor keeps.
    pub fn narrow(&self, c: u32) -> u32 {
        if self.desc_size >= GD_BBITMAP_CSUM_HI + 2 { c } else { c & 0xFFFF }
    }

    /// Group `g`'s descriptor checksum (of its `desc_size` bytes `desc`).
    pub fn group_desc(&self, g: u32, desc: &[u8]) -> u16 {
        let mut c = crc32c(self.seed, &g.to_le_bytes());
        c = crc32c(c, &desc[..GD_CSUM]);
        c = crc32c(c, &[0, 0]);
        c = crc32c(c, &desc[GD_CSUM + 2..self.desc_size]);
        c as u16
    }

    /// The checksum a group descriptor carries.
    pub fn group_desc_stored(desc: &[u8]) -> u16 {
        le16(desc, GD_CSUM)
    }

    /// Sets group `g`'s descriptor checksum.
    pub fn seal_group_desc(&self, g: u32, desc: &mut [u8]) {
        let c = self.group_desc(g, desc);
        desc[GD_CSUM..GD_CSUM + 2].copy_from_slice(&c.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_is_castagnoli_chained_without_inversion() {
        // The standard check value of CRC-32C is the register from !0, inverted.
        assert_eq!(!crc32c(!0, b"123456789"), 0xE306_9283);
        // Chaining: two halves give the whole.
        assert_eq!(crc32c(crc32c(!0, b"1234"), b"56789"), crc32c(!0, b"123456789"));
        assert_eq!(crc32c(7, b""), 7);
    }
}
