//! ext4 extent trees as XN's ext front end changes them: reading a node (the root in the
//! inode's `i_block`, or a tree block), the path from the root to the leaf covering a logical
//! block, and a node's bytes after its entries change.
//!
//! A node is a 12-byte header (`eh_magic` 0xF30A, `eh_entries`, `eh_max`, `eh_depth`,
//! `eh_generation`) and `eh_max` 12-byte entries: at depth 0 leaf extents (`ee_block`,
//! `ee_len`, more than 32768 meaning unwritten, `ee_start` in 48 bits), above index entries
//! (`ei_block`, the child's block in 48 bits). The root holds 4 entries; a tree block
//! `(block size - 12) / 12`, then the checksum tail. Every index entry's `ei_block` is its
//! child's first key, as e2fsck checks.

use super::*;

/// The extent header's magic.
pub(super) const MAGIC: u16 = 0xF30A;
/// ext4's deepest tree.
pub(super) const MAX_DEPTH: u16 = 5;
/// Longest written extent.
pub(super) const INIT_MAX_LEN: u32 = 32768;

/// Where a node lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Where {
    /// In the inode's `i_block`.
    Root,
    /// A tree block.
    Block(u64),
}

/// One node, as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Node {
    /// Where it lies.
    pub at: Where,
    /// `eh_depth`: 0 for a leaf.
    pub depth: u16,
    /// `eh_max`.
    pub max: u16,
    /// `eh_generation`.
    pub generation: u32,
    /// The entries in use.
    pub entries: Vec<[u8; 12]>,
}

/// A leaf extent, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Leaf {
    /// First logical block.
    pub lblk: u32,
    /// Blocks.
    pub len: u32,
    /// Unwritten (preallocated).
    pub unwritten: bool,
    /// First physical block.
    pub start: u64,
}

impl Leaf {
    /// Decodes a leaf entry.
    pub fn of(e: &[u8; 12]) -> Leaf {
        let raw = u32::from(le16(e, 4));
        let unwritten = raw > INIT_MAX_LEN;
        Leaf {
            lblk: le32(e, 0),
            len: if unwritten { raw - INIT_MAX_LEN } else { raw },
            unwritten,
            start: u64::from(le16(e, 6)) << 32 | u64::from(le32(e, 8)),
        }
    }

    /// Encodes it.
    pub fn entry(&self) -> [u8; 12] {
        let mut e = [0u8; 12];
        e[0..4].copy_from_slice(&self.lblk.to_le_bytes());
        let raw = if self.unwritten { self.len + INIT_MAX_LEN } else { self.len };
        e[4..6].copy_from_slice(&(raw as u16).to_le_bytes());
        e[6..8].copy_from_slice(&((self.start >> 32) as u16).to_le_bytes());
        e[8..12].copy_from_slice(&(self.start as u32).to_le_bytes());
        e
    }

    /// Whether it maps logical block `l`.
    pub fn covers(&self, l: u64) -> bool {
        u64::from(self.lblk) <= l && l < u64::from(self.lblk) + u64::from(self.len)
    }

    /// One past its last logical block.
    pub fn end(&self) -> u64 {
        u64::from(self.lblk) + u64::from(self.len)
    }
}

/// An entry's key (`ee_block` or `ei_block`).
pub(super) fn key(e: &[u8; 12]) -> u32 {
    le32(e, 0)
}

/// Sets an entry's key.
pub(super) fn set_key(e: &mut [u8; 12], k: u32) {
    e[0..4].copy_from_slice(&k.to_le_bytes());
}

/// An index entry's child block.
pub(super) fn child(e: &[u8; 12]) -> u64 {
    u64::from(le16(e, 8)) << 32 | u64::from(le32(e, 4))
}

/// An index entry.
pub(super) fn index_entry(k: u32, child: u64) -> [u8; 12] {
    let mut e = [0u8; 12];
    e[0..4].copy_from_slice(&k.to_le_bytes());
    e[4..8].copy_from_slice(&(child as u32).to_le_bytes());
    e[8..10].copy_from_slice(&((child >> 32) as u16).to_le_bytes());
    e
}

impl Node {
    /// Reads the node in `bytes` (60 bytes of `i_block`, or a tree block).
    pub fn parse(at: Where, bytes: &[u8]) -> Result<Node, String> {
        if bytes.len() < 12 || le16(bytes, 0) != MAGIC {
            return Err(String::from("no extent header"));
        }
        let (n, max, depth) = (le16(bytes, 2), le16(bytes, 4), le16(bytes, 6));
        let room = ((bytes.len() - 12) / 12) as u16;
        if max > room || n > max || depth > MAX_DEPTH {
            return Err(format!("extent header of {n} of {max} entries at depth {depth}"));
        }
        let entries = (0..n as usize)
            .map(|i| bytes[12 + 12 * i..24 + 12 * i].try_into().unwrap_or([0; 12]))
            .collect();
        Ok(Node { at, depth, max, generation: le32(bytes, 8), entries })
    }

    /// An empty node of `max` entries at `depth`.
    pub fn empty(at: Where, depth: u16, max: u16) -> Node {
        Node { at, depth, max, generation: 0, entries: Vec::new() }
    }

    /// The node's bytes over `old` (60 bytes of `i_block`, or a whole tree block whose
    /// checksum tail the caller seals): header, entries, zeros up to `eh_max` entries.
    pub fn write(&self, old: &mut [u8]) {
        old[0..2].copy_from_slice(&MAGIC.to_le_bytes());
        old[2..4].copy_from_slice(&(self.entries.len() as u16).to_le_bytes());
        old[4..6].copy_from_slice(&self.max.to_le_bytes());
        old[6..8].copy_from_slice(&self.depth.to_le_bytes());
        old[8..12].copy_from_slice(&self.generation.to_le_bytes());
        let end = (12 + 12 * usize::from(self.max)).min(old.len());
        old[12..end].fill(0);
        for (i, e) in self.entries.iter().enumerate() {
            old[12 + 12 * i..24 + 12 * i].copy_from_slice(e);
        }
    }

    /// Its first key (`None` when empty).
    pub fn first_key(&self) -> Option<u32> {
        self.entries.first().map(key)
    }

    /// The entry to follow for logical block `l` in an index node: the last one whose key is
    /// at most `l`, else the first.
    pub fn route(&self, l: u64) -> usize {
        self.entries.iter().rposition(|e| u64::from(key(e)) <= l).unwrap_or(0)
    }

    /// Whether it has room for another entry.
    pub fn has_room(&self) -> bool {
        self.entries.len() < usize::from(self.max)
    }
}

/// Entries a tree block holds.
pub(super) fn block_capacity(block_size: usize) -> u16 {
    ((block_size - 12) / 12) as u16
}
