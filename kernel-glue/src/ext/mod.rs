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
//! Changes at a logical block (`lblock.rs`) work on block maps and on ext4 extent trees
//! (`extents.rs`), keeping the `metadata_csum` checksums (`csum.rs`).
//!
//! What is refused rather than guessed: block sizes other than 1 and 4 KiB (the corpus has
//! udfs for those), `meta_bg` and `sparse_super2` layouts; block-slot changes
//! ([`ExtFs::set_slot`]) on file systems with checksummed metadata (`metadata_csum`,
//! `gdt_csum`); and for changes at a logical block bigalloc, `gdt_csum` without
//! `metadata_csum` (crc16 descriptor checksums), a journal needing recovery, inline data,
//! `huge_file` inodes and allocation in a group whose bitmap is uninitialised.

mod csum;
mod entry;
mod extents;
mod lblock;
mod moves;
mod names;
mod open;
mod repair;
mod slots;
mod superblock;

pub use csum::Csum;
pub use entry::{EntryRequest, IND_TEMPLATES};
pub use lblock::{LblockChange, LblockRequest};
pub use moves::MoveRequest;
pub use names::kind_name;
pub use repair::Repaired;
pub use superblock::Superblock;

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
    Bitmap, ExtentKind, Obj, Op, Patch, Problem, Rebuilt, Refusal, Template, Xn, differences,
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
const RO_COMPAT_BIGALLOC: u32 = 0x200;
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
    /// XN refused a change at a logical block; nothing was written. The message names the
    /// inode, the logical block and whoever else holds the blocks involved.
    LblockRefused(alloc::boxed::Box<LblockRefusal>),
    /// A free of a logical block that maps no block; nothing was written.
    Unmapped {
        /// The inode.
        ino: u32,
        /// The logical block.
        lblock: u64,
    },
    /// A free of a directory's block inside the directory (its size by the size-udf): ext has
    /// no holes in directories; nothing was written.
    DirectoryHole {
        /// The inode.
        ino: u32,
        /// The slot.
        slot: usize,
        /// The directory's size in bytes.
        size: u64,
    },
    /// A free of a block slot that holds no block; nothing was written.
    EmptySlot {
        /// The inode.
        ino: u32,
        /// The slot.
        slot: usize,
    },
}

/// A change at a logical block XN refused, in the file system's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LblockRefusal {
    /// The inode.
    pub ino: u32,
    /// The logical block.
    pub lblock: u64,
    /// XN's refusal.
    pub refusal: Refusal,
    /// What it means, objects named as a user knows them.
    pub message: String,
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
                write!(f, "the device has {device}-byte blocks, the file system {fs}-byte blocks")
            }
            ExtError::MissingUdf(n) => write!(f, "the owns-udf `{n}` is not installed"),
            ExtError::Inode(n) => write!(f, "inode {n} is not an in-use inode"),
            ExtError::Io(e) => write!(f, "{e}"),
            ExtError::Refused(r) => write!(f, "XN refused: {r}"),
            ExtError::SlotRefused(r) => write!(f, "XN refused: {}", r.message),
            ExtError::LblockRefused(r) => write!(f, "XN refused: {}", r.message),
            ExtError::Unmapped { ino, lblock } => {
                write!(f, "inode {ino} logical block {lblock} maps no block: nothing to free")
            }
            ExtError::DirectoryHole { ino, slot, size } => write!(
                f,
                "XN refused: inode {ino} slot {slot} lies inside the directory ({size} bytes, by \
                 its size-udf): freeing it would leave a hole in the directory"
            ),
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
