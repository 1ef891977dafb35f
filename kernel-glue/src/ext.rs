//! The ext2/ext4 front end of XN: the static layout (superblocks and group-descriptor copies,
//! block and inode bitmaps, inode tables), the roots (every inode the inode bitmaps mark in
//! use), the templates over the corpus owns-udfs (`ext2_inode` or `ext4_inode`, the indirect
//! blocks `ext2_ind{1,2,3}_{1k,4k}`, the extent-tree nodes `ext4_node_{1k,4k}`), the on-disk
//! block bitmaps to compare a rebuilt free map with, and block-slot changes of block-mapped
//! inodes through XN's checked operations, keeping the bitmaps and free counts e2fsck checks.
//!
//! Kinds, as the corpus udfs emit them: 0 data, 1-3 indirect blocks of depth 1-3, 4 the xattr
//! block (shared: ext counts references to it), 5 an extent-tree node.
//!
//! What is refused rather than guessed: block sizes other than 1 and 4 KiB (the corpus has
//! udfs for those), `meta_bg` and `sparse_super2` layouts, and writes to file systems with
//! checksummed metadata (`metadata_csum`, `gdt_csum`), which would need the checksums updated.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use udf_runtime::Extent;

use crate::device::{BlockDevice, IoError, read_bytes};
use crate::loader::Table;
use crate::xn::{
    Bitmap, Kind, Obj, Op, Patch, Problem, Rebuilt, Refusal, Template, Xn, differences,
};

const MAGIC: u16 = 0xEF53;
const COMPAT_RESIZE_INODE: u32 = 0x10;
const COMPAT_SPARSE_SUPER2: u32 = 0x200;
const INCOMPAT_META_BG: u32 = 0x10;
const INCOMPAT_EXTENTS: u32 = 0x40;
const INCOMPAT_64BIT: u32 = 0x80;
const RO_COMPAT_SPARSE_SUPER: u32 = 0x1;
const RO_COMPAT_HUGE_FILE: u32 = 0x8;
const RO_COMPAT_GDT_CSUM: u32 = 0x10;
const RO_COMPAT_METADATA_CSUM: u32 = 0x400;
const BG_INODE_UNINIT: u16 = 0x1;
const BG_BLOCK_UNINIT: u16 = 0x2;
const EXT4_EXTENTS_FL: u32 = 0x8_0000;
const EXT4_HUGE_FILE_FL: u32 = 0x4_0000;
const EXT4_INLINE_DATA_FL: u32 = 0x1000_0000;

/// Extent kinds of the corpus udfs.
pub mod kind {
    /// Data blocks.
    pub const DATA: u32 = 0;
    /// Indirect block (depth 1).
    pub const IND1: u32 = 1;
    /// Double indirect block.
    pub const IND2: u32 = 2;
    /// Triple indirect block.
    pub const IND3: u32 = 3;
    /// The extended-attribute block.
    pub const XATTR: u32 = 4;
    /// An extent-tree node.
    pub const NODE: u32 = 5;
}

/// Which family of owns-udfs reads the inodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `ext2_inode`: block maps only (ext2, ext3).
    Ext2,
    /// `ext4_inode`: extent trees and block maps.
    Ext4,
}

impl Flavor {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Ext2 => "ext2",
            Flavor::Ext4 => "ext4",
        }
    }
}

/// Why the front end could not go on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtError {
    /// No ext superblock.
    NoSuperblock,
    /// A layout or feature this front end does not handle.
    Unsupported(String),
    /// The superblock or a group descriptor is inconsistent.
    Corrupt(String),
    /// The device's block size is not the file system's.
    BlockSize {
        /// The device's.
        device: usize,
        /// The file system's.
        fs: u32,
    },
    /// An owns-udf the templates need is not installed.
    MissingUdf(String),
    /// The inode is not in use, or its number is out of range.
    Inode(u32),
    /// Reading or writing failed.
    Io(IoError),
    /// XN refused the operation; nothing was written.
    Refused(Refusal),
    /// XN refused a block-slot change; nothing was written. The message names the inode, its
    /// slot and whoever else holds the blocks involved.
    SlotRefused(alloc::boxed::Box<SlotRefusal>),
    /// A free of a block slot that holds no block; nothing was written.
    EmptySlot {
        /// The inode.
        ino: u32,
        /// The slot.
        slot: usize,
    },
}

/// A block-slot change XN refused, in the file system's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotRefusal {
    /// The inode.
    pub ino: u32,
    /// Its slot.
    pub slot: usize,
    /// XN's refusal.
    pub refusal: Refusal,
    /// What it means: objects named as a user knows them (`inode 12 slot 5`,
    /// `inode 14 indirect block 37 entry 4`, `group 0's inode table`), never as raw offsets.
    pub message: String,
}

impl fmt::Display for ExtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtError::NoSuperblock => {
                f.write_str("no ext2/3/4 superblock (magic 0xEF53 at byte 1080)")
            }
            ExtError::Unsupported(w) => write!(f, "unsupported: {w}"),
            ExtError::Corrupt(w) => write!(f, "corrupt file system: {w}"),
            ExtError::BlockSize { device, fs } => {
                write!(
                    f,
                    "the device has {device}-byte blocks, the file system {fs}-byte blocks"
                )
            }
            ExtError::MissingUdf(n) => write!(f, "the owns-udf `{n}` is not installed"),
            ExtError::Inode(n) => write!(f, "inode {n} is not an in-use inode"),
            ExtError::Io(e) => write!(f, "{e}"),
            ExtError::Refused(r) => write!(f, "XN refused: {r}"),
            ExtError::SlotRefused(r) => write!(f, "XN refused: {}", r.message),
            ExtError::EmptySlot { ino, slot } => {
                write!(f, "inode {ino} slot {slot} is empty: nothing to free")
            }
        }
    }
}

impl From<IoError> for ExtError {
    fn from(e: IoError) -> ExtError {
        ExtError::Io(e)
    }
}

impl From<Refusal> for ExtError {
    fn from(r: Refusal) -> ExtError {
        match r {
            Refusal::Io(e) => ExtError::Io(e),
            r => ExtError::Refused(r),
        }
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

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
            if wide {
                u64::from(le32(b, at)) << 32
            } else {
                0
            }
        };
        let rev = le32(b, 76);
        let inode_size = if rev == 0 {
            128
        } else {
            u32::from(le16(b, 88))
        };
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

/// A group descriptor's fields the front end uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Group {
    /// The block bitmap's block.
    pub block_bitmap: u64,
    /// The inode bitmap's block.
    pub inode_bitmap: u64,
    /// The inode table's first block.
    pub inode_table: u64,
    /// Free blocks in the group.
    pub free_blocks: u32,
    /// `bg_flags`.
    pub flags: u16,
}

/// An ext file system on a device, and XN's templates over it.
#[derive(Clone, Debug)]
pub struct ExtFs {
    /// The superblock.
    pub sb: Superblock,
    /// The group descriptors.
    pub groups: Vec<Group>,
    /// Which inode udf reads the inodes.
    pub flavor: Flavor,
}

/// Template numbers in the [`Xn`] [`ExtFs::xn`] makes.
pub mod template {
    use crate::xn::TemplateId;
    /// Inodes.
    pub const INODE: TemplateId = TemplateId(0);
    /// Indirect blocks of depth 1.
    pub const IND1: TemplateId = TemplateId(1);
    /// Depth 2.
    pub const IND2: TemplateId = TemplateId(2);
    /// Depth 3.
    pub const IND3: TemplateId = TemplateId(3);
    /// Extent-tree nodes (ext4).
    pub const NODE: TemplateId = TemplateId(4);
}

/// The block size of the ext file system on `dev` (any block size), from its superblock.
pub fn probe_block_size(dev: &mut dyn BlockDevice) -> Result<u32, ExtError> {
    let mut b = vec![0u8; 1024];
    read_bytes(dev, 1024, &mut b)?;
    Ok(Superblock::parse(&b)?.block_size)
}

/// What [`ExtFs::rebuild`] found.
#[derive(Clone, Debug)]
pub struct Rebuild {
    /// The walk's result.
    pub rebuilt: Rebuilt,
    /// The image's own bitmaps (block groups without an initialised bitmap read as their
    /// static layout, as the kernel reads them).
    pub on_disk: Bitmap,
    /// Blocks where they differ: `(block, in use on disk, in use rebuilt)`.
    pub differences: Vec<(u64, bool, bool)>,
}

/// A block-slot change to ask [`ExtFs::set_slot`] for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotRequest {
    /// The inode.
    pub ino: u32,
    /// The slot (0-14).
    pub slot: usize,
    /// The block to point it at; 0 frees the block it holds.
    pub block: u64,
    /// The extent kind claimed (`None`: the slot's).
    pub kind: Option<u32>,
}

/// A block-slot change [`ExtFs::set_slot`] made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotChange {
    /// The block that slot held before.
    pub old: u64,
    /// The block it holds now.
    pub new: u64,
    /// The extent kind claimed.
    pub kind: u32,
    /// The file's new size (`i_size`) when the new data block lay past its end.
    pub grown_to: Option<u64>,
}

impl ExtFs {
    /// Reads the superblock and group descriptors of the file system on `dev`, whose blocks
    /// must be the file system's, and picks the `flavor` of inode udf.
    pub fn open(dev: &mut dyn BlockDevice, flavor: Flavor) -> Result<ExtFs, ExtError> {
        let mut b = vec![0u8; 1024];
        read_bytes(dev, 1024, &mut b)?;
        let sb = Superblock::parse(&b)?;
        if dev.block_size() != sb.block_size as usize {
            return Err(ExtError::BlockSize {
                device: dev.block_size(),
                fs: sb.block_size,
            });
        }
        if sb.block_size != 1024 && sb.block_size != 4096 {
            return Err(ExtError::Unsupported(format!(
                "{}-byte blocks (the corpus owns-udfs read 1 KiB and 4 KiB blocks)",
                sb.block_size
            )));
        }
        if sb.features[1] & INCOMPAT_META_BG != 0 {
            return Err(ExtError::Unsupported("the meta_bg layout".into()));
        }
        if sb.features[0] & COMPAT_SPARSE_SUPER2 != 0 {
            return Err(ExtError::Unsupported("the sparse_super2 layout".into()));
        }
        if flavor == Flavor::Ext2 && sb.features[1] & INCOMPAT_EXTENTS != 0 {
            return Err(ExtError::Unsupported(
                "extent-mapped files with the ext2 udfs (use ext4)".into(),
            ));
        }
        if sb.blocks > dev.blocks() {
            return Err(ExtError::Corrupt(format!(
                "{} blocks in the superblock, {} on the device",
                sb.blocks,
                dev.blocks()
            )));
        }
        let n = sb.groups();
        let first_gdt = sb.first_data_block + 1;
        let mut raw = vec![0u8; (sb.gdt_blocks() * u64::from(sb.block_size)) as usize];
        read_bytes(dev, first_gdt * u64::from(sb.block_size), &mut raw)?;
        let wide = sb.wide_desc();
        let mut groups = Vec::with_capacity(n as usize);
        for g in 0..n as usize {
            let d = &raw[g * sb.desc_size as usize..];
            let hi = |at: usize| {
                if wide {
                    u64::from(le32(d, at)) << 32
                } else {
                    0
                }
            };
            let grp = Group {
                block_bitmap: u64::from(le32(d, 0)) | hi(0x20),
                inode_bitmap: u64::from(le32(d, 4)) | hi(0x24),
                inode_table: u64::from(le32(d, 8)) | hi(0x28),
                free_blocks: u32::from(le16(d, 12))
                    | if wide {
                        u32::from(le16(d, 0x2C)) << 16
                    } else {
                        0
                    },
                flags: le16(d, 18),
            };
            let itable = sb.itable_blocks();
            let ok = |b: u64, len: u64| {
                b >= sb.first_data_block && b.checked_add(len).is_some_and(|e| e <= sb.blocks)
            };
            if !ok(grp.block_bitmap, 1) || !ok(grp.inode_bitmap, 1) || !ok(grp.inode_table, itable)
            {
                return Err(ExtError::Corrupt(format!(
                    "group {g}'s bitmaps or inode table lie outside the disk"
                )));
            }
            groups.push(grp);
        }
        Ok(ExtFs { sb, groups, flavor })
    }

    /// The blocks of the static layout: everything before group 0, superblock and descriptor
    /// copies (and reserved descriptor blocks when no resize inode owns them), bitmaps and
    /// inode tables.
    pub fn fixed(&self) -> Bitmap {
        let sb = &self.sb;
        let mut m = Bitmap::new(sb.blocks);
        for b in 0..sb.first_data_block {
            m.set(b, true);
        }
        let reserved = if sb.features[0] & COMPAT_RESIZE_INODE != 0 {
            0
        } else {
            u64::from(sb.reserved_gdt)
        };
        for g in 0..sb.groups() {
            if sb.has_super(g) {
                let first = sb.group_first(g);
                for b in first..first + 1 + sb.gdt_blocks() + reserved {
                    m.set(b, true);
                }
            }
            let d = &self.groups[g as usize];
            m.set(d.block_bitmap, true);
            m.set(d.inode_bitmap, true);
            for b in d.inode_table..d.inode_table + sb.itable_blocks() {
                m.set(b, true);
            }
        }
        m
    }

    /// The object of inode `ino` (1-based).
    pub fn inode_obj(&self, ino: u32) -> Result<Obj, ExtError> {
        if ino == 0 || ino > self.sb.inodes {
            return Err(ExtError::Inode(ino));
        }
        let i = u64::from(ino - 1);
        let ipg = u64::from(self.sb.inodes_per_group);
        let g = self
            .groups
            .get((i / ipg) as usize)
            .ok_or(ExtError::Inode(ino))?;
        let at = (i % ipg) * u64::from(self.sb.inode_size);
        let bs = u64::from(self.sb.block_size);
        Ok(Obj {
            block: g.inode_table + at / bs,
            offset: (at % bs) as u32,
            template: template::INODE,
        })
    }

    /// Whether the inode bitmap marks `ino` in use.
    pub fn inode_in_use(&self, dev: &mut dyn BlockDevice, ino: u32) -> Result<bool, ExtError> {
        if ino == 0 || ino > self.sb.inodes {
            return Ok(false);
        }
        let i = ino - 1;
        let ipg = self.sb.inodes_per_group;
        let g = &self.groups[(i / ipg) as usize];
        if self.sb.uninit_flags() && g.flags & BG_INODE_UNINIT != 0 {
            return Ok(false);
        }
        let mut bm = vec![0u8; self.sb.block_size as usize];
        dev.read_block(g.inode_bitmap, &mut bm)?;
        let bit = (i % ipg) as usize;
        Ok(bm[bit / 8] >> (bit % 8) & 1 != 0)
    }

    /// The roots: every inode the inode bitmaps mark in use.
    pub fn roots(&self, dev: &mut dyn BlockDevice) -> Result<Vec<Obj>, ExtError> {
        let mut out = Vec::new();
        let mut bm = vec![0u8; self.sb.block_size as usize];
        let ipg = self.sb.inodes_per_group;
        for (g, d) in self.groups.iter().enumerate() {
            if self.sb.uninit_flags() && d.flags & BG_INODE_UNINIT != 0 {
                continue;
            }
            dev.read_block(d.inode_bitmap, &mut bm)?;
            for i in 0..ipg {
                let ino = g as u32 * ipg + i + 1;
                if ino > self.sb.inodes {
                    break;
                }
                if bm[(i / 8) as usize] >> (i % 8) & 1 != 0 {
                    out.push(self.inode_obj(ino)?);
                }
            }
        }
        Ok(out)
    }

    /// The image's block bitmaps as one map (groups marked `BLOCK_UNINIT` read as their share
    /// of the static layout).
    pub fn on_disk(&self, dev: &mut dyn BlockDevice) -> Result<Bitmap, ExtError> {
        let sb = &self.sb;
        let fixed = self.fixed();
        let mut m = Bitmap::new(sb.blocks);
        for b in 0..sb.first_data_block {
            m.set(b, true);
        }
        let mut bm = vec![0u8; sb.block_size as usize];
        for (g, d) in self.groups.iter().enumerate() {
            let first = sb.group_first(g as u64);
            let last = (first + u64::from(sb.blocks_per_group)).min(sb.blocks);
            if sb.uninit_flags() && d.flags & BG_BLOCK_UNINIT != 0 {
                for b in first..last {
                    m.set(b, fixed.get(b));
                }
                continue;
            }
            dev.read_block(d.block_bitmap, &mut bm)?;
            for b in first..last {
                let i = (b - first) as usize;
                m.set(b, bm[i / 8] >> (i % 8) & 1 != 0);
            }
        }
        Ok(m)
    }

    /// XN for this file system: the templates over the udfs installed in `progs` under the
    /// corpus's entry names, the static layout, the inode tables registered.
    pub fn xn(&self, progs: &Table) -> Result<Xn, ExtError> {
        let sfx = if self.sb.block_size == 1024 {
            "1k"
        } else {
            "4k"
        };
        let inode = match self.flavor {
            Flavor::Ext2 => String::from("ext2_inode"),
            Flavor::Ext4 => String::from("ext4_inode"),
        };
        let names = [
            inode,
            format!("ext2_ind1_{sfx}"),
            format!("ext2_ind2_{sfx}"),
            format!("ext2_ind3_{sfx}"),
            format!("ext4_node_{sfx}"),
        ];
        let mut kinds = vec![
            Kind::Data,
            Kind::Meta(template::IND1),
            Kind::Meta(template::IND2),
            Kind::Meta(template::IND3),
            Kind::Shared,
        ];
        if self.flavor == Flavor::Ext4 {
            kinds.push(Kind::Meta(template::NODE));
        }
        let count = if self.flavor == Flavor::Ext4 { 5 } else { 4 };
        let mut templates = Vec::new();
        for name in &names[..count] {
            let id = progs
                .find(name)
                .ok_or_else(|| ExtError::MissingUdf(name.clone()))?;
            let size = progs
                .get(id)
                .and_then(|p| p.ctx_size())
                .ok_or_else(|| ExtError::MissingUdf(name.clone()))?;
            templates.push(Template {
                name: name.clone(),
                size,
                owns: id,
                acl: None,
                size_udf: None,
                kinds: kinds.clone(),
            });
        }
        let isz = self.sb.inode_size;
        if templates[0].size > isz {
            return Err(ExtError::Unsupported(format!(
                "{isz}-byte inodes for a {}-byte inode udf",
                templates[0].size
            )));
        }
        let mut xn = Xn::new(templates, self.sb.block_size as usize, self.fixed());
        let per_block = self.sb.block_size / isz;
        for (g, d) in self.groups.iter().enumerate() {
            let left = self
                .sb
                .inodes
                .saturating_sub(g as u32 * self.sb.inodes_per_group);
            let inodes = self.sb.inodes_per_group.min(left);
            for k in 0..self.sb.itable_blocks() {
                let objects = (inodes.saturating_sub(k as u32 * per_block)).min(per_block);
                xn.register_static(d.inode_table + k, template::INODE, isz, objects);
            }
        }
        Ok(xn)
    }

    /// Rebuilds the free map from the roots and compares it with the image's bitmaps.
    pub fn rebuild(
        &self,
        xn: &mut Xn,
        progs: &Table,
        dev: &mut dyn BlockDevice,
    ) -> Result<Rebuild, ExtError> {
        let roots = self.roots(dev)?;
        let rebuilt = xn.rebuild(progs, dev, &roots)?;
        let on_disk = self.on_disk(dev)?;
        let differences = differences(&on_disk, &rebuilt.used, self.sb.first_data_block);
        Ok(Rebuild {
            rebuilt,
            on_disk,
            differences,
        })
    }

    /// Points block slot `slot` (0-14) of block-mapped inode `ino` at `block` through XN: an
    /// allocation of a free block (claimed as `kind`, by default the slot's: data for 0-11,
    /// indirect blocks of depth 1-3 for 12-14), or, with `block` 0, a free of the block the slot
    /// holds. `i_blocks` follows; after XN applies the change the block bitmap and the free
    /// counts of the group descriptor and the superblock follow too, so `e2fsck -fn` stays
    /// clean.
    ///
    /// `i_size`: a data block allocated past the end of a regular file grows the file to the
    /// end of that block (the blocks between stay holes; the block's bytes are what the disk
    /// holds, for the caller to write); past the end of any other file it is refused
    /// ([`ExtError::Unsupported`]). A free never shrinks the file: the block becomes a hole.
    ///
    /// Refusals write nothing: [`ExtError::EmptySlot`] for a free of an empty slot,
    /// [`ExtError::SlotRefused`] for XN's refusals (and a block the image's bitmap disagrees on
    /// with XN's map), named as a user knows the objects (`inode 12 slot 5`,
    /// `inode 14 indirect block 37 entry 4`, `group 0's inode table`).
    pub fn set_slot(
        &self,
        xn: &mut Xn,
        progs: &Table,
        dev: &mut dyn BlockDevice,
        req: SlotRequest,
    ) -> Result<SlotChange, ExtError> {
        let SlotRequest {
            ino,
            slot,
            block,
            kind,
        } = req;
        if self.sb.uninit_flags() {
            return Err(ExtError::Unsupported(
                "writes to checksummed metadata (metadata_csum, gdt_csum)".into(),
            ));
        }
        if slot > 14 {
            return Err(ExtError::Unsupported(format!(
                "block slot {slot} (an inode has 0-14)"
            )));
        }
        if !self.inode_in_use(dev, ino)? {
            return Err(ExtError::Inode(ino));
        }
        let obj = self.inode_obj(ino)?;
        let bs = self.sb.block_size as usize;
        let mut blk = vec![0u8; bs];
        dev.read_block(obj.block, &mut blk)?;
        let inode = &blk[obj.offset as usize..obj.offset as usize + 128];
        let flags = le32(inode, 32);
        if flags & (EXT4_EXTENTS_FL | EXT4_INLINE_DATA_FL) != 0 {
            return Err(ExtError::Unsupported(format!(
                "inode {ino} is not block-mapped (flags {flags:#x})"
            )));
        }
        if self.sb.features[2] & RO_COMPAT_HUGE_FILE != 0 && flags & EXT4_HUGE_FILE_FL != 0 {
            return Err(ExtError::Unsupported(format!(
                "inode {ino} counts i_blocks in blocks (huge_file)"
            )));
        }
        let old = u64::from(le32(inode, 40 + 4 * slot));
        let i_blocks = le32(inode, 28);
        let mode = le16(inode, 0);
        let size = u64::from(le32(inode, 4)) | u64::from(le32(inode, 108)) << 32;
        let sectors = (bs / 512) as u32;
        let slot_kind = match slot {
            0..=11 => kind::DATA,
            12 => kind::IND1,
            13 => kind::IND2,
            _ => kind::IND3,
        };
        let claimed = kind.unwrap_or(slot_kind);
        let (op, new_blocks, target) = if block == 0 {
            if old == 0 {
                return Err(ExtError::EmptySlot { ino, slot });
            }
            let e = Extent {
                start: old,
                count: 1,
                kind: claimed,
            };
            (Op::Free(e), i_blocks.wrapping_sub(sectors), old)
        } else {
            u32::try_from(block).map_err(|_| {
                ExtError::Unsupported(format!("block {block} does not fit a 32-bit block slot"))
            })?;
            let e = Extent {
                start: block,
                count: 1,
                kind: claimed,
            };
            (Op::Alloc(e), i_blocks.wrapping_add(sectors), block)
        };
        // A data block past the end of the file: a regular file grows to the end of it (the
        // blocks between stay holes, the new block's bytes are what the disk holds there: the
        // caller writes the data); other files are not grown.
        let end = (slot as u64 + 1) * bs as u64;
        let grow = block != 0 && slot < 12 && claimed == kind::DATA && end > size;
        if grow && mode & 0xF000 != 0x8000 {
            return Err(ExtError::Unsupported(format!(
                "inode {ino} slot {slot} lies past the end of the file ({size} bytes), and XN \
                 grows only regular files (mode {mode:#o})"
            )));
        }
        // The image's bitmap must agree with XN's map on the block (a block the bitmap marks in
        // use though nothing owns it is not handed out again, nor a free one freed twice).
        let stray = if block != 0 {
            !xn.used.get(target) && target < self.sb.blocks && self.bitmap_bit(dev, target)?
        } else {
            target < self.sb.blocks && !self.bitmap_bit(dev, target)?
        };
        if stray {
            let refusal = if block != 0 {
                Refusal::InUse(target)
            } else {
                Refusal::NotOwned(target)
            };
            let message = if block != 0 {
                format!(
                    "inode {ino} slot {slot}: block {target} is marked in use in the image's \
                     block bitmap although no inode owns it (run `udf xn rebuild`)"
                )
            } else {
                format!(
                    "inode {ino} slot {slot}: block {target} is already free in the image's \
                     block bitmap (run `udf xn rebuild`)"
                )
            };
            return Err(ExtError::SlotRefused(alloc::boxed::Box::new(SlotRefusal {
                ino,
                slot,
                refusal,
                message,
            })));
        }
        let slot_bytes = (block as u32).to_le_bytes(); // checked above to fit
        let blocks_bytes = new_blocks.to_le_bytes();
        let size_bytes = (end as u32).to_le_bytes(); // at most 12 blocks of 4 KiB
        let mut patches = vec![
            Patch {
                offset: 28,
                bytes: &blocks_bytes,
            },
            Patch {
                offset: 40 + 4 * slot as u32,
                bytes: &slot_bytes,
            },
        ];
        if grow {
            patches.push(Patch {
                offset: 4,
                bytes: &size_bytes,
            });
        }
        if let Err(r) = xn.apply(progs, dev, obj, &patches, op, 0) {
            if let Refusal::Io(e) = r {
                return Err(ExtError::Io(e));
            }
            let message = self.explain(xn, progs, dev, (ino, slot, old), op, &r);
            return Err(ExtError::SlotRefused(alloc::boxed::Box::new(SlotRefusal {
                ino,
                slot,
                refusal: r,
                message,
            })));
        }
        self.account(dev, target, block != 0)?;
        Ok(SlotChange {
            old,
            new: block,
            kind: claimed,
            grown_to: grow.then_some(end),
        })
    }

    /// Whether the image's block bitmap marks `block` in use.
    fn bitmap_bit(&self, dev: &mut dyn BlockDevice, block: u64) -> Result<bool, ExtError> {
        let sb = &self.sb;
        if block < sb.first_data_block {
            return Ok(true);
        }
        let g = ((block - sb.first_data_block) / u64::from(sb.blocks_per_group)) as usize;
        let d = self.groups[g];
        if sb.uninit_flags() && d.flags & BG_BLOCK_UNINIT != 0 {
            return Ok(self.fixed().get(block));
        }
        let mut buf = vec![0u8; sb.block_size as usize];
        dev.read_block(d.block_bitmap, &mut buf)?;
        let i = (block - sb.group_first(g as u64)) as usize;
        Ok(buf[i / 8] >> (i % 8) & 1 != 0)
    }

    /// Marks `block` in use (or free) in its group's bitmap and moves the free counts of the
    /// group descriptor and the superblock by one.
    fn account(&self, dev: &mut dyn BlockDevice, block: u64, used: bool) -> Result<(), ExtError> {
        let sb = &self.sb;
        let bs = sb.block_size as usize;
        let g = ((block - sb.first_data_block) / u64::from(sb.blocks_per_group)) as usize;
        let d = &self.groups[g];
        let mut buf = vec![0u8; bs];
        dev.read_block(d.block_bitmap, &mut buf)?;
        let i = (block - sb.group_first(g as u64)) as usize;
        if used {
            buf[i / 8] |= 1 << (i % 8);
        } else {
            buf[i / 8] &= !(1 << (i % 8));
        }
        dev.write_block(d.block_bitmap, &buf)?;
        let step = |v: u64| {
            if used {
                v.wrapping_sub(1)
            } else {
                v.wrapping_add(1)
            }
        };
        // The group descriptor (primary copy).
        let at = g as u64 * u64::from(sb.desc_size);
        let gd_block = sb.first_data_block + 1 + at / bs as u64;
        let off = (at % bs as u64) as usize;
        dev.read_block(gd_block, &mut buf)?;
        let wide = sb.wide_desc();
        let mut free = u64::from(le16(&buf, off + 12));
        if wide {
            free |= u64::from(le16(&buf, off + 0x2C)) << 16;
        }
        let free = step(free);
        buf[off + 12..off + 14].copy_from_slice(&(free as u16).to_le_bytes());
        if wide {
            buf[off + 0x2C..off + 0x2E].copy_from_slice(&((free >> 16) as u16).to_le_bytes());
        }
        dev.write_block(gd_block, &buf)?;
        // The superblock (primary copy, at byte 1024).
        let sb_block = 1024 / bs as u64;
        let off = 1024 % bs;
        dev.read_block(sb_block, &mut buf)?;
        let mut free = u64::from(le32(&buf, off + 12));
        if sb.features[1] & INCOMPAT_64BIT != 0 {
            free |= u64::from(le32(&buf, off + 0x158)) << 32;
        }
        let free = step(free);
        buf[off + 12..off + 16].copy_from_slice(&(free as u32).to_le_bytes());
        if sb.features[1] & INCOMPAT_64BIT != 0 {
            buf[off + 0x158..off + 0x15C].copy_from_slice(&((free >> 32) as u32).to_le_bytes());
        }
        dev.write_block(sb_block, &buf)?;
        Ok(())
    }
}

/// What an extent kind of the corpus udfs is, in words.
pub fn kind_name(k: u32) -> String {
    match k {
        kind::DATA => String::from("data"),
        kind::IND1 => String::from("an indirect block"),
        kind::IND2 => String::from("a double indirect block"),
        kind::IND3 => String::from("a triple indirect block"),
        kind::XATTR => String::from("the xattr block"),
        kind::NODE => String::from("an extent-tree node"),
        k => format!("kind {k}"),
    }
}

/// Runs of blocks with their kinds in words: `block 5000 (data), blocks 7-9 (data)`.
fn runs_named(r: &crate::xn::Runs) -> String {
    if r.is_empty() {
        return String::from("nothing");
    }
    let mut out = String::new();
    for (i, (k, a, b)) in r.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if a == b {
            out.push_str(&format!("block {a} ({})", kind_name(*k)));
        } else {
            out.push_str(&format!("blocks {a}-{b} ({})", kind_name(*k)));
        }
    }
    out
}

/// Joins names with `, ` and a final ` and `.
fn join_names(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Naming: XN's objects and blocks as a user of the file system knows them (`inode 12 slot 5`,
/// `inode 12 indirect block 37 entry 4`, `group 0's inode table`), for refusals, reconstruction
/// problems and free-map differences.
impl ExtFs {
    /// The number of the inode `obj` is (an object of an inode-table block), if it is one.
    pub fn inode_number(&self, obj: Obj) -> Option<u32> {
        if obj.template != template::INODE {
            return None;
        }
        let bs = u64::from(self.sb.block_size);
        let itable = self.sb.itable_blocks();
        let (g, d) = self
            .groups
            .iter()
            .enumerate()
            .find(|(_, d)| d.inode_table <= obj.block && obj.block < d.inode_table + itable)?;
        let at = (obj.block - d.inode_table) * bs + u64::from(obj.offset);
        let i = at / u64::from(self.sb.inode_size);
        let ino = g as u64 * u64::from(self.sb.inodes_per_group) + i + 1;
        u32::try_from(ino).ok().filter(|&n| n <= self.sb.inodes)
    }

    /// What block `b` of the static layout is (`group 0's inode table`); `None` outside it.
    pub fn name_static(&self, b: u64) -> Option<String> {
        let sb = &self.sb;
        if b < sb.first_data_block {
            return Some(String::from("the boot block"));
        }
        if b >= sb.blocks {
            return None;
        }
        let g = (b - sb.first_data_block) / u64::from(sb.blocks_per_group);
        let d = self.groups.get(g as usize)?;
        let first = sb.group_first(g);
        if sb.has_super(g) {
            if b == first {
                return Some(format!("group {g}'s superblock"));
            }
            if b <= first + sb.gdt_blocks() {
                return Some(format!("group {g}'s group descriptors"));
            }
            let reserved = if sb.features[0] & COMPAT_RESIZE_INODE != 0 {
                0
            } else {
                u64::from(sb.reserved_gdt)
            };
            if b <= first + sb.gdt_blocks() + reserved {
                return Some(format!("group {g}'s reserved descriptor blocks"));
            }
        }
        if b == d.block_bitmap {
            return Some(format!("group {g}'s block bitmap"));
        }
        if b == d.inode_bitmap {
            return Some(format!("group {g}'s inode bitmap"));
        }
        if d.inode_table <= b && b < d.inode_table + sb.itable_blocks() {
            return Some(format!("group {g}'s inode table"));
        }
        // Another group's metadata may lie here (flex_bg).
        for (h, d) in self.groups.iter().enumerate() {
            if b == d.block_bitmap {
                return Some(format!("group {h}'s block bitmap"));
            }
            if b == d.inode_bitmap {
                return Some(format!("group {h}'s inode bitmap"));
            }
            if d.inode_table <= b && b < d.inode_table + sb.itable_blocks() {
                return Some(format!("group {h}'s inode table"));
            }
        }
        None
    }

    /// An object by name: `inode 12`, `inode 12 indirect block 37` (the inode the metadata
    /// block belongs to, through XN's registry), `extent-tree node 500` when no inode is known.
    pub fn name_obj(&self, xn: &Xn, obj: Obj) -> String {
        if obj.template == template::INODE {
            return match self.inode_number(obj) {
                Some(ino) => format!("inode {ino}"),
                None => format!("the inode at byte {} of block {}", obj.offset, obj.block),
            };
        }
        let what = match obj.template {
            template::IND1 => "indirect block",
            template::IND2 => "double indirect block",
            template::IND3 => "triple indirect block",
            template::NODE => "extent-tree node",
            _ => "metadata block",
        };
        let mut at = xn.registry.get(&obj.block).and_then(|e| e.parent);
        let mut steps = 0;
        while let Some(p) = at {
            if p.template == template::INODE {
                return format!("{} {what} {}", self.name_obj(xn, p), obj.block);
            }
            steps += 1;
            if steps > 8 {
                break;
            }
            at = xn.registry.get(&p.block).and_then(|e| e.parent);
        }
        format!("{what} {}", obj.block)
    }

    /// Where `obj` points at `block`: `inode 12 slot 5`, `inode 12 indirect block 37 entry 4`,
    /// `inode 12 extent 2`, `inode 12 extent-tree node 500 entry 3`, `inode 12 xattr block`;
    /// the object's name when no pointer of it holds the block.
    pub fn name_ref(&self, xn: &Xn, dev: &mut dyn BlockDevice, obj: Obj, block: u64) -> String {
        let base = self.name_obj(xn, obj);
        let mut buf = vec![0u8; self.sb.block_size as usize];
        if dev.read_block(obj.block, &mut buf).is_err() {
            return base;
        }
        let o = &buf[(obj.offset as usize).min(buf.len())..];
        let within = |start: u64, len: u64| start <= block && block < start.saturating_add(len);
        // An extent header and its entries: `Some((i, leaf))` for the entry naming `block`.
        let extents = |b: &[u8]| -> Option<(usize, bool)> {
            if b.len() < 12 || le16(b, 0) != 0xF30A {
                return None;
            }
            let (n, depth) = (le16(b, 2) as usize, le16(b, 6));
            (0..n.min((b.len() - 12) / 12)).find_map(|i| {
                let e = &b[12 + 12 * i..];
                if depth == 0 {
                    let len = u64::from(le16(e, 4));
                    let len = if len > 32768 { len - 32768 } else { len };
                    let start = u64::from(le16(e, 6)) << 32 | u64::from(le32(e, 8));
                    within(start, len).then_some((i, true))
                } else {
                    let leaf = u64::from(le16(e, 8)) << 32 | u64::from(le32(e, 4));
                    (leaf == block).then_some((i, false))
                }
            })
        };
        match obj.template {
            template::INODE if o.len() >= 128 => {
                if le32(o, 32) & EXT4_EXTENTS_FL != 0 {
                    if let Some((i, leaf)) = extents(&o[40..100]) {
                        let what = if leaf { "extent" } else { "extent index" };
                        return format!("{base} {what} {i}");
                    }
                } else if let Some(k) = (0..15).find(|k| u64::from(le32(o, 40 + 4 * k)) == block) {
                    return format!("{base} slot {k}");
                }
                let hi = if self.sb.features[1] & INCOMPAT_64BIT != 0 {
                    u64::from(le16(o, 118)) << 32
                } else {
                    0
                };
                if u64::from(le32(o, 104)) | hi == block {
                    return format!("{base} xattr block");
                }
                base
            }
            template::IND1 | template::IND2 | template::IND3 => {
                match (0..o.len() / 4).find(|&i| u64::from(le32(o, 4 * i)) == block) {
                    Some(i) => format!("{base} entry {i}"),
                    None => base,
                }
            }
            template::NODE => match extents(o) {
                Some((i, _)) => format!("{base} entry {i}"),
                None => base,
            },
            _ => base,
        }
    }

    /// Who holds each block of `blocks`: the static layout's part (`group 0's inode table`),
    /// or every pointer that names it now (`inode 14 slot 0`); empty when nothing does.
    pub fn holders(
        &self,
        xn: &mut Xn,
        progs: &Table,
        dev: &mut dyn BlockDevice,
        blocks: &[u64],
    ) -> BTreeMap<u64, Vec<String>> {
        let mut out: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        let mut rest = Vec::new();
        for &b in blocks {
            match self.name_static(b) {
                Some(n) => {
                    out.insert(b, vec![n]);
                }
                None => rest.push(b),
            }
        }
        let owners = self
            .roots(dev)
            .ok()
            .and_then(|roots| xn.owners(progs, dev, &roots, &rest).ok())
            .unwrap_or_default();
        for b in rest {
            let names = owners
                .get(&b)
                .map(|objs| objs.iter().map(|&o| self.name_ref(xn, dev, o, b)).collect())
                .unwrap_or_default();
            out.insert(b, names);
        }
        out
    }

    /// A reconstruction problem with every object named.
    pub fn describe_problem(
        &self,
        xn: &mut Xn,
        progs: &Table,
        dev: &mut dyn BlockDevice,
        p: &Problem,
    ) -> String {
        match p {
            Problem::OwnedTwice { block, by } => {
                let again = self.name_ref(xn, dev, *by, *block);
                let first: Vec<String> = self
                    .holders(xn, progs, dev, &[*block])
                    .remove(block)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|n| *n != again)
                    .collect();
                if first.is_empty() {
                    format!("block {block} is owned twice: again by {again}")
                } else {
                    format!(
                        "block {block} is owned twice: by {} and again by {again}",
                        join_names(&first)
                    )
                }
            }
            Problem::Cycle { block, by } => {
                let at = self.name_ref(xn, dev, *by, *block);
                let target = match xn.registry.get(block) {
                    Some(e) if e.parent.is_some() => self.name_obj(
                        xn,
                        Obj {
                            block: *block,
                            offset: 0,
                            template: e.template,
                        },
                    ),
                    _ => format!("block {block}"),
                };
                format!("cycle: {at} points back at its own ancestor, {target}")
            }
            Problem::BadExtent { extent, by } => {
                let at = self.name_ref(xn, dev, *by, extent.start);
                let why = if extent.count == 0 {
                    String::from("an empty extent")
                } else if extent.kind > kind::NODE {
                    format!("an extent of unknown kind {}", extent.kind)
                } else {
                    format!(
                        "past the end of the file system ({} blocks)",
                        self.sb.blocks
                    )
                };
                format!(
                    "{at} names {} block(s) at {} ({}): {why}",
                    extent.count,
                    extent.start,
                    kind_name(extent.kind)
                )
            }
            Problem::Malformed { obj, why } => {
                format!("{} is malformed: {why}", self.name_obj(xn, *obj))
            }
        }
    }

    /// XN's refusal of a change to slot `slot` of inode `ino` (which held `old`), in the file
    /// system's terms.
    fn explain(
        &self,
        xn: &mut Xn,
        progs: &Table,
        dev: &mut dyn BlockDevice,
        (ino, slot, old): (u32, usize, u64),
        op: Op,
        r: &Refusal,
    ) -> String {
        let at = format!("inode {ino} slot {slot}");
        let (verb, claimed) = match op {
            Op::Alloc(e) => ("allocating", Some(e)),
            Op::Free(e) => ("freeing", Some(e)),
            Op::Write => ("writing", None),
        };
        match r {
            Refusal::InUse(b) => {
                let who = self
                    .holders(xn, progs, dev, &[*b])
                    .remove(b)
                    .unwrap_or_default();
                if let Some(s) = self.name_static(*b) {
                    format!("{at}: block {b} is {s}, file-system metadata XN never hands out")
                } else if who.is_empty() {
                    format!("{at}: block {b} is already in use")
                } else {
                    format!(
                        "{at}: block {b} is already in use: {} holds it",
                        join_names(&who)
                    )
                }
            }
            Refusal::Mismatch { added, removed, .. } => {
                let mut m = match claimed {
                    Some(e) => format!(
                        "{at}: {verb} block {} as {}, but by its owns-udf inode {ino} would gain \
                         {} and lose {}",
                        e.start,
                        kind_name(e.kind),
                        runs_named(added),
                        runs_named(removed)
                    ),
                    None => format!(
                        "{at}: by its owns-udf inode {ino} would gain {} and lose {}",
                        runs_named(added),
                        runs_named(removed)
                    ),
                };
                if matches!(op, Op::Alloc(_))
                    && old != 0
                    && removed.iter().any(|&(_, a, b)| a <= old && old <= b)
                {
                    m.push_str(&format!(
                        " (the slot already holds block {old}: free it first)"
                    ));
                } else if let (Some(e), [(k, _, _)]) = (claimed, &added[..])
                    && *k != e.kind
                {
                    m.push_str(&format!(" (the slot holds {})", kind_name(*k)));
                }
                m
            }
            Refusal::UnknownKind(k) => format!(
                "{at}: kind {k} is not one inode {ino} can own (0 data, 1-3 indirect blocks of \
                 depth 1-3, 4 the xattr block, 5 an extent-tree node)"
            ),
            Refusal::BadExtent(e) => format!(
                "{at}: block {} is past the end of the file system ({} blocks)",
                e.start, self.sb.blocks
            ),
            Refusal::Malformed { after, r0 } => format!(
                "{at}: inode {ino}'s owns-udf finds it malformed {} the change (r0 = {r0})",
                if *after { "after" } else { "before" }
            ),
            Refusal::OwnedTwice(b) => {
                let who = self
                    .holders(xn, progs, dev, &[*b])
                    .remove(b)
                    .unwrap_or_default();
                let also = if who.is_empty() {
                    String::new()
                } else {
                    format!(" (it already holds it at {})", join_names(&who))
                };
                format!("{at}: inode {ino} would then name block {b} twice{also}")
            }
            Refusal::NotEmpty { block, owns } => match (op, claimed) {
                (Op::Alloc(_), Some(e)) => format!(
                    "{at}: block {block}, to become {} of inode {ino}, is not zeroed: its \
                     entries name {owns} extent(s)",
                    kind_name(e.kind)
                ),
                _ => {
                    let name = match xn.registry.get(block) {
                        Some(e) => self.name_obj(
                            xn,
                            Obj {
                                block: *block,
                                offset: 0,
                                template: e.template,
                            },
                        ),
                        None => format!("block {block}"),
                    };
                    format!("{at}: {name} still names {owns} extent(s): free them first")
                }
            },
            Refusal::NotOwned(b) => match (self.name_static(*b), claimed) {
                (Some(s), _) => format!("{at}: block {b} is {s}, which XN never frees"),
                (None, Some(e)) => format!(
                    "{at}: inode {ino} does not own block {b} as {}",
                    kind_name(e.kind)
                ),
                (None, None) => format!("{at}: inode {ino} does not own block {b}"),
            },
            Refusal::Denied => format!("{at}: inode {ino}'s acl-udf denied the {verb}"),
            Refusal::UnknownObject(_) => {
                format!("{at}: inode {ino} is not in a registered inode-table block")
            }
            Refusal::Invoke(e) => format!("{at}: a udf failed on inode {ino}: {e}"),
            Refusal::PatchOutside { .. } | Refusal::Program(_) | Refusal::Io(_) => {
                format!("{at}: {r}")
            }
        }
    }
}

impl Superblock {
    /// Blocks of one group's inode table.
    pub fn itable_blocks(&self) -> u64 {
        (u64::from(self.inodes_per_group) * u64::from(self.inode_size))
            .div_ceil(u64::from(self.block_size))
    }
}
