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

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use udf_runtime::Extent;

use crate::device::{BlockDevice, IoError, read_bytes};
use crate::loader::Table;
use crate::xn::{Bitmap, Kind, Obj, Op, Patch, Rebuilt, Refusal, Template, Xn, differences};

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
    /// counts of the group descriptor and the superblock follow too. A refusal writes nothing.
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
                return Err(ExtError::Refused(Refusal::NotOwned(0)));
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
        let slot_bytes = (block as u32).to_le_bytes(); // checked above to fit
        let blocks_bytes = new_blocks.to_le_bytes();
        let patches = [
            Patch {
                offset: 28,
                bytes: &blocks_bytes,
            },
            Patch {
                offset: 40 + 4 * slot as u32,
                bytes: &slot_bytes,
            },
        ];
        xn.apply(progs, dev, obj, &patches, op, 0)?;
        self.account(dev, target, block != 0)?;
        Ok(SlotChange {
            old,
            new: block,
            kind: claimed,
        })
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

impl Superblock {
    /// Blocks of one group's inode table.
    pub fn itable_blocks(&self) -> u64 {
        (u64::from(self.inodes_per_group) * u64::from(self.inode_size))
            .div_ceil(u64::from(self.block_size))
    }
}
