//! The superblock: the fields the front end uses, read and checked.

use super::*;

/// The superblock fields the front end uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Superblock {
    /// Bytes per block.
    pub block_size: u32,
    /// Blocks in the file system.
    pub blocks: u64,
    /// Free blocks (`s_free_blocks_count`).
    pub free_blocks: u64,
    /// The first block of group 0.
    pub first_data_block: u64,
    /// Blocks per group.
    pub blocks_per_group: u32,
    /// Inodes per group.
    pub inodes_per_group: u32,
    /// Inodes in the file system.
    pub inodes: u32,
    /// Bytes per inode.
    pub inode_size: u32,
    /// Bytes per group descriptor.
    pub desc_size: u32,
    /// `s_reserved_gdt_blocks`.
    pub reserved_gdt: u32,
    /// Feature flags: compatible, incompatible, read-only compatible.
    pub features: [u32; 3],
}

impl Superblock {
    /// Parses the 1024 bytes at byte 1024 of the disk.
    pub fn parse(b: &[u8]) -> Result<Superblock, ExtError> {
        if b.len() < 1024 || le16(b, 56) != MAGIC {
            return Err(ExtError::NoSuperblock);
        }
        let log = le32(b, 24);
        if log > 6 {
            return Err(ExtError::Corrupt(format!("s_log_block_size {log}")));
        }
        let features = [le32(b, 92), le32(b, 96), le32(b, 100)];
        let wide = features[1] & INCOMPAT_64BIT != 0;
        let hi = |at: usize| {
            if wide { u64::from(le32(b, at)) << 32 } else { 0 }
        };
        let rev = le32(b, 76);
        let inode_size = if rev == 0 { 128 } else { u32::from(le16(b, 88)) };
        let desc_size = if wide { u32::from(le16(b, 254)) } else { 32 };
        let sb = Superblock {
            block_size: 1024 << log,
            blocks: u64::from(le32(b, 4)) | hi(0x150),
            free_blocks: u64::from(le32(b, 12)) | hi(0x158),
            first_data_block: u64::from(le32(b, 20)),
            blocks_per_group: le32(b, 32),
            inodes_per_group: le32(b, 40),
            inodes: le32(b, 0),
            inode_size,
            desc_size,
            reserved_gdt: u32::from(le16(b, 206)),
            features,
        };
        let bad = |what: &str| Err(ExtError::Corrupt(String::from(what)));
        if sb.blocks_per_group == 0 || sb.blocks_per_group > 8 * sb.block_size {
            return bad("blocks per group is 0 or more than a bitmap block holds");
        }
        if sb.inodes_per_group == 0 || sb.inodes_per_group > 8 * sb.block_size {
            return bad("inodes per group is 0 or more than a bitmap block holds");
        }
        if sb.inode_size < 128 || !sb.inode_size.is_power_of_two() || sb.inode_size > sb.block_size
        {
            return bad("inode size is not a power of two from 128 to the block size");
        }
        if sb.desc_size < 32 || !sb.desc_size.is_power_of_two() || sb.desc_size > 1024 {
            return bad("group descriptor size");
        }
        if sb.first_data_block >= sb.blocks {
            return bad("first data block past the end");
        }
        Ok(sb)
    }

    /// Number of block groups.
    pub fn groups(&self) -> u64 {
        (self.blocks - self.first_data_block).div_ceil(u64::from(self.blocks_per_group))
    }

    /// The first block of group `g`.
    pub fn group_first(&self, g: u64) -> u64 {
        self.first_data_block + g * u64::from(self.blocks_per_group)
    }

    /// Whether group `g` holds a copy of the superblock and group descriptors.
    pub fn has_super(&self, g: u64) -> bool {
        if g <= 1 || self.features[2] & RO_COMPAT_SPARSE_SUPER == 0 {
            return true;
        }
        [3u64, 5, 7].iter().any(|&p| {
            let mut n = p;
            while n < g {
                n *= p;
            }
            n == g
        })
    }

    /// Blocks of group descriptors.
    pub fn gdt_blocks(&self) -> u64 {
        (self.groups() * u64::from(self.desc_size)).div_ceil(u64::from(self.block_size))
    }

    /// Whether group descriptors carry the high halves of their fields (64-bit, 64-byte
    /// descriptors).
    pub fn wide_desc(&self) -> bool {
        self.features[1] & INCOMPAT_64BIT != 0 && self.desc_size >= 64
    }

    /// Whether the group flags (`*_UNINIT`) mean anything: checksummed group descriptors.
    pub fn uninit_flags(&self) -> bool {
        self.features[2] & (RO_COMPAT_GDT_CSUM | RO_COMPAT_METADATA_CSUM) != 0
    }
}

impl Superblock {
    /// Blocks of one group's inode table.
    pub fn itable_blocks(&self) -> u64 {
        (u64::from(self.inodes_per_group) * u64::from(self.inode_size))
            .div_ceil(u64::from(self.block_size))
    }
}
