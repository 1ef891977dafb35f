//! Allocation and free at a logical block of a file, through XN's checked operations, with
//! the bitmaps, free counts and `metadata_csum` checksums kept as e2fsck checks them.
//!
//! - Block-mapped inodes (ext2/ext3, and ext4 files without `EXTENTS_FL`): logical block `L`
//!   maps to the inode slot or the indirect-block entry that holds its pointer; the pointer
//!   goes there, and the inode's `i_blocks` (and `i_size`) change with it, one group
//!   operation. With an indirect kind (`--kind 1-3`) it is the indirect block of that depth
//!   covering `L` that is allocated or freed.
//! - Extent-mapped inodes: the block is merged into the extent it extends (at either end), or
//!   inserted as an extent of its own; a full node first makes room: the root grows a level
//!   (its entries move to a new tree block), or a full tree block splits in two under a parent
//!   with room. Each new tree block is its own allocation of a metadata block of the
//!   extent-node kind, initialised with the entries it takes over and checked by XN with the
//!   objects it takes them from; then the data block is allocated in the leaf. A free trims,
//!   removes or splits the extent; a tree block left empty is freed in turn (its parent
//!   losing the entry; a root left without entries becomes an empty leaf). Index keys follow
//!   the first key of their children.
//!
//! Everything runs on a staged copy of the blocks it touches: any refusal, at any step, leaves
//! the device and XN's map as they were. An accepted operation's writes then go through the
//! write ordering ([`crate::order::Cache`], [`issue`]) step by step, each step's writes with
//! the constraints Ganger & Patt's rules put on them: a new tree block is initialised before
//! anything points at it; the bitmap (and its group descriptor, which carries the bitmap's
//! checksum) marks an allocated block before a pointer to it is written; a pointer is removed
//! before the bitmap releases its block, which goes on the pointer holder's will-free list
//! (XN's map keeps it in use until that write completes); the superblock follows the
//! descriptor. Steps are flushed one after another (a later step's constraints could run
//! against an earlier one's in one cache: a tree growing to make room for a free marks the new
//! block before the inode points at it, and releases the freed one after), and a crash limit
//! counts writes across them.

use super::csum::Csum;
use super::extents::{self, Leaf, Node, Where, block_capacity, child, index_entry, key};
use super::names::{join_names, runs_named};
use super::*;
use crate::order::Cache;
use crate::xn::Change;
use alloc::collections::BTreeSet;

const INCOMPAT_RECOVER: u32 = 0x4;

/// A change at a logical block to ask [`ExtFs::set_lblock`] for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LblockRequest {
    /// The inode.
    pub ino: u32,
    /// The logical block of its file.
    pub lblock: u64,
    /// The block to map there; 0 frees the block mapped there.
    pub block: u64,
    /// The extent kind claimed (`None`: data; an indirect kind for the indirect block of that
    /// depth covering the logical block of a block-mapped inode).
    pub kind: Option<u32>,
}

/// What [`ExtFs::set_lblock`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LblockChange {
    /// The block mapped there before (0: none).
    pub old: u64,
    /// The block mapped there now (0: none).
    pub new: u64,
    /// The kind allocated or freed.
    pub kind: u32,
    /// The file's new size when the new data block lay past its end.
    pub grown_to: Option<u64>,
    /// Extent-tree blocks allocated to make room (a level grown, a node split).
    pub nodes_allocated: Vec<u64>,
    /// Extent-tree blocks freed because they were left empty.
    pub nodes_freed: Vec<u64>,
    /// Every block write, in the order issued.
    pub writes: Vec<u64>,
    /// Writes not performed because the crash limit was reached.
    pub writes_left: usize,
}

/// The writes of one XN step, and what they mean for the write ordering.
#[derive(Clone, Debug, Default)]
struct StepLog {
    /// Every write, in the order the step made them.
    writes: Vec<(u64, Vec<u8>)>,
    /// A new tree block.
    init: Option<u64>,
    /// The blocks of the objects XN checked (pointer holders), children first.
    holders: Vec<u64>,
    /// The block allocated (`true`) or freed.
    target: Option<(u64, bool)>,
    /// The bitmap, group descriptor and superblock blocks written for it.
    counts: Option<[u64; 3]>,
    /// The inode's block.
    inode: u64,
}

/// A device whose writes are held back: reads see them, the device does not until [`issue`].
struct Staged<'a> {
    dev: &'a mut dyn BlockDevice,
    blocks: BTreeMap<u64, Vec<u8>>,
    log: Vec<(u64, Vec<u8>)>,
}

impl BlockDevice for Staged<'_> {
    fn block_size(&self) -> usize {
        self.dev.block_size()
    }
    fn blocks(&self) -> u64 {
        self.dev.blocks()
    }
    fn read_block(&mut self, block: u64, buf: &mut [u8]) -> Result<(), IoError> {
        match self.blocks.get(&block) {
            Some(b) if b.len() == buf.len() => {
                buf.copy_from_slice(b);
                Ok(())
            }
            _ => self.dev.read_block(block, buf),
        }
    }
    fn write_block(&mut self, block: u64, buf: &[u8]) -> Result<(), IoError> {
        let bs = self.dev.block_size();
        if buf.len() != bs {
            return Err(IoError::BufferSize { len: buf.len(), block_size: bs });
        }
        if block >= self.dev.blocks() {
            return Err(IoError::OutOfRange { block, blocks: self.dev.blocks() });
        }
        self.blocks.insert(block, buf.to_vec());
        self.log.push((block, buf.to_vec()));
        Ok(())
    }
}

/// Issues an accepted operation's steps to the device through the write ordering (see the
/// module doc), all of their writes or the first `limit`; blocks whose parents' writes
/// completed become allocatable in XN's map again. Returns the blocks written, in order, and
/// the number of writes left undone.
fn issue(
    fs: &ExtFs,
    xn: &mut Xn,
    dev: &mut dyn BlockDevice,
    steps: &[StepLog],
    limit: Option<usize>,
) -> Result<(Vec<u64>, usize), ExtError> {
    // Steps go to the disk in flush groups: a step that frees a tree block an earlier step
    // emptied joins that step's group, and the emptied block is never written (it is
    // unreachable once its parent is written, and its old entries keep what they map in use
    // until then): an empty leaf under an index is something e2fsck cannot walk.
    let mut groups: Vec<(usize, usize, BTreeSet<u64>)> = Vec::new();
    let mut i = 0;
    while i < steps.len() {
        let mut j = i + 1;
        let mut dropped = BTreeSet::new();
        while let Some(StepLog { target: Some((t, false)), .. }) = steps.get(j) {
            if !steps[i..j].iter().any(|s| s.writes.iter().any(|w| w.0 == *t)) {
                break;
            }
            dropped.insert(*t);
            j += 1;
        }
        groups.push((i, j, dropped));
        i = j;
    }
    let blocks_of = |&(i, j, ref dropped): &(usize, usize, BTreeSet<u64>)| {
        steps[i..j]
            .iter()
            .flat_map(|s| s.writes.iter().map(|w| w.0))
            .filter(|b| !dropped.contains(b))
            .collect::<BTreeSet<u64>>()
            .len()
    };
    let mut written = Vec::new();
    let mut left = 0;
    let mut cache = Cache::new(fs.sb.block_size as usize);
    for (g, group) in groups.iter().enumerate() {
        let (i, j, dropped) = group;
        let room = limit.map(|l| l.saturating_sub(written.len()));
        for st in &steps[*i..*j] {
            stage(&mut cache, xn, st, dropped)?;
        }
        let f = fs.commit(xn, &mut cache, dev, room)?;
        written.extend(f.written);
        left += f.left;
        if room == Some(0) || f.left > 0 {
            // A crash: the groups after this one are never issued.
            left += groups[g + 1..].iter().map(blocks_of).sum::<usize>();
            break;
        }
    }
    Ok((written, left))
}

/// Puts one step's writes into the cache with their ordering constraints (writes to the
/// blocks of `dropped` left out).
fn stage(
    cache: &mut Cache,
    xn: &mut Xn,
    st: &StepLog,
    dropped: &BTreeSet<u64>,
) -> Result<(), ExtError> {
    for (b, bytes) in st.writes.iter().filter(|w| !dropped.contains(&w.0)) {
        if Some(*b) == st.init {
            cache.init(*b, bytes)?;
        } else {
            cache.write(*b, bytes)?;
        }
    }
    if let Some(n) = st.init {
        for &h in &st.holders {
            cache.points_to(h, n);
        }
    }
    if let (Some((t, alloc)), Some([bitmap, gd, sb])) = (st.target, st.counts) {
        cache.depends(gd, bitmap);
        cache.depends(sb, gd);
        if alloc {
            for &h in &st.holders {
                cache.depends(h, bitmap);
                cache.depends(h, gd);
                // A tree block mapping a new data block waits for the inode, which carries
                // the size covering it and the block count: a crash between leaves a count
                // one too high, never an extent past the end of the file.
                if st.init.is_none() && h != st.inode {
                    cache.depends(h, st.inode);
                }
            }
        } else {
            for &h in &st.holders {
                cache.depends(bitmap, h);
            }
            if let Some(&parent) = st.holders.iter().find(|h| !dropped.contains(h)) {
                cache.will_free(parent, t);
                if !cache.allocatable(t) {
                    xn.used.set(t, true);
                }
            }
        }
    }
    Ok(())
}

/// Where a block-mapped pointer lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Holder {
    /// Slot `k` of the inode.
    Slot(usize),
    /// Entry `i` of an indirect block (of the template holding it).
    Entry { block: u64, template: crate::xn::TemplateId, i: usize },
}

/// One operation in progress.
struct Lop<'f, 'x, 'd, 's> {
    fs: &'f ExtFs,
    xn: &'x mut Xn,
    progs: &'x Table,
    dev: &'s mut Staged<'d>,
    ino: u32,
    lblock: u64,
    obj: Obj,
    csum: Option<Csum>,
    nodes_allocated: Vec<u64>,
    nodes_freed: Vec<u64>,
    grown_to: Option<u64>,
    principal: u64,
    steps: Vec<StepLog>,
}

/// What a step changes beside the objects XN checks: the inode's edits.
type InodeEdit<'a> = &'a dyn Fn(&mut [u8]);

impl ExtFs {
    /// Refuses, by name, what the lblock writes do not handle.
    fn lblock_writable(&self) -> Result<(), ExtError> {
        let f = &self.sb.features;
        if f[2] & RO_COMPAT_BIGALLOC != 0 {
            return Err(ExtError::Unsupported(
                "writes to a bigalloc file system (blocks allocated in clusters)".into(),
            ));
        }
        if f[2] & RO_COMPAT_GDT_CSUM != 0 && f[2] & RO_COMPAT_METADATA_CSUM == 0 {
            return Err(ExtError::Unsupported(
                "writes to an uninit_bg (gdt_csum) file system: its crc16 group-descriptor \
                 checksums are not kept (metadata_csum is)"
                    .into(),
            ));
        }
        if f[1] & INCOMPAT_RECOVER != 0 {
            return Err(ExtError::Unsupported(
                "writes while the journal needs recovery (mount it or run e2fsck first)".into(),
            ));
        }
        Ok(())
    }

    /// Maps `block` at logical block `lblock` of inode `ino` (or, with `block` 0, frees the
    /// block mapped there) through XN; see the module doc. Refusals write nothing:
    /// [`ExtError::Unmapped`] for a free where nothing is mapped, [`ExtError::LblockRefused`]
    /// for XN's refusals (and blocks the image's bitmap disagrees on with XN's map), named as a
    /// user knows the objects, [`ExtError::Unsupported`] for what is not handled (bigalloc,
    /// uninit_bg without metadata_csum, a journal needing recovery, inline data, huge_file
    /// inodes, a block in a group whose bitmap is uninitialised, a tree deeper than 5, a free
    /// inside a directory, which would leave a hole).
    pub fn set_lblock(
        &self,
        xn: &mut Xn,
        progs: &Table,
        dev: &mut dyn BlockDevice,
        req: LblockRequest,
    ) -> Result<LblockChange, ExtError> {
        self.set_lblock_ordered(xn, progs, dev, req, 0, None)
    }

    /// [`ExtFs::set_lblock`] for principal `principal` (the acl-udfs' request), performing
    /// only the first `crash_after` writes of the write ordering (a simulated power cut) when
    /// given.
    pub fn set_lblock_ordered(
        &self,
        xn: &mut Xn,
        progs: &Table,
        dev: &mut dyn BlockDevice,
        req: LblockRequest,
        principal: u64,
        crash_after: Option<usize>,
    ) -> Result<LblockChange, ExtError> {
        self.lblock_writable()?;
        let mut raw = vec![0u8; 1024];
        read_bytes(dev, 1024, &mut raw)?;
        let csum = Csum::of(&self.sb, &raw)?;
        if !self.inode_in_use(dev, req.ino)? {
            return Err(ExtError::Inode(req.ino));
        }
        let obj = self.inode_obj(req.ino)?;
        let saved = (xn.used.clone(), xn.registry.clone());
        let mut staged = Staged { dev, blocks: BTreeMap::new(), log: Vec::new() };
        let result = {
            let mut op = Lop {
                fs: self,
                xn: &mut *xn,
                progs,
                dev: &mut staged,
                ino: req.ino,
                lblock: req.lblock,
                obj,
                csum,
                nodes_allocated: Vec::new(),
                nodes_freed: Vec::new(),
                grown_to: None,
                principal,
                steps: Vec::new(),
            };
            op.run(req).map(|(old, new, kind)| {
                let change = LblockChange {
                    old,
                    new,
                    kind,
                    grown_to: op.grown_to,
                    nodes_allocated: op.nodes_allocated,
                    nodes_freed: op.nodes_freed,
                    writes: Vec::new(),
                    writes_left: 0,
                };
                (change, op.steps)
            })
        };
        match result {
            Ok((mut change, steps)) => {
                let Staged { dev, .. } = staged;
                let (written, left) = issue(self, xn, dev, &steps, crash_after)?;
                change.writes = written;
                change.writes_left = left;
                Ok(change)
            }
            Err(e) => {
                (xn.used, xn.registry) = saved;
                Err(e)
            }
        }
    }
}

impl Lop<'_, '_, '_, '_> {
    fn bs(&self) -> usize {
        self.fs.sb.block_size as usize
    }

    fn at(&self) -> String {
        format!("inode {} logical block {}", self.ino, self.lblock)
    }

    /// The inode's bytes (`s_inode_size` of them).
    fn inode(&mut self) -> Result<Vec<u8>, ExtError> {
        let mut blk = vec![0u8; self.bs()];
        self.dev.read_block(self.obj.block, &mut blk)?;
        let at = self.obj.offset as usize;
        Ok(blk[at..at + self.fs.sb.inode_size as usize].to_vec())
    }

    fn run(&mut self, req: LblockRequest) -> Result<(u64, u64, u32), ExtError> {
        let inode = self.inode()?;
        let (mode, flags) = (le16(&inode, 0), le32(&inode, 32));
        let ino = self.ino;
        if flags & EXT4_INLINE_DATA_FL != 0 {
            return Err(ExtError::Unsupported(format!("inode {ino} keeps its data inline")));
        }
        if self.fs.sb.features[2] & RO_COMPAT_HUGE_FILE != 0 && flags & EXT4_HUGE_FILE_FL != 0 {
            return Err(ExtError::Unsupported(format!(
                "inode {ino} counts i_blocks in blocks (huge_file)"
            )));
        }
        if !matches!(mode & 0xF000, 0x8000 | 0x4000) {
            return Err(ExtError::Unsupported(format!(
                "inode {ino} is not a regular file or a directory (mode {mode:#o}): XN maps \
                 logical blocks of those only"
            )));
        }
        let size = u64::from(le32(&inode, 4)) | u64::from(le32(&inode, 108)) << 32;
        if req.block == 0 && mode & 0xF000 == 0x4000 && self.lblock * (self.bs() as u64) < size {
            return Err(ExtError::Unsupported(format!(
                "{}: it lies inside the directory ({size} bytes): freeing it would leave a hole \
                 in the directory",
                self.at()
            )));
        }
        if flags & EXT4_EXTENTS_FL != 0 {
            if self.fs.flavor != Flavor::Ext4 {
                return Err(ExtError::Unsupported(format!(
                    "inode {ino} is extent-mapped: use the ext4 udfs (--fs ext4)"
                )));
            }
            let kind = req.kind.unwrap_or(kind::DATA);
            if kind != kind::DATA {
                return Err(ExtError::Unsupported(format!(
                    "{}: inode {ino} is extent-mapped: only data blocks are mapped at a logical \
                     block (extent-tree nodes are allocated as the tree needs them)",
                    self.at()
                )));
            }
            if self.lblock >= 1 << 32 {
                return Err(ExtError::Unsupported(format!(
                    "logical block {} (extents map 32-bit logical blocks)",
                    self.lblock
                )));
            }
            if req.block == 0 { self.tree_free() } else { self.tree_alloc(req.block) }
        } else {
            self.map_change(req)
        }
    }

    // ---- steps -------------------------------------------------------------------------------

    /// One XN operation: the inode edited (`edit`, then `i_blocks` moved by one block for an
    /// allocation or a free, the size grown to `grow`, the checksum sealed), the tree or
    /// indirect blocks `blocks` (whole new contents; extent blocks sealed), the new block
    /// `init`; then the bitmap and counts.
    fn step(
        &mut self,
        edit: InodeEdit<'_>,
        blocks: Vec<(u64, crate::xn::TemplateId, Vec<u8>)>,
        init: Option<Vec<u8>>,
        op: Op,
        grow: Option<u64>,
    ) -> Result<(), ExtError> {
        let (target, alloc) = match op {
            Op::Alloc(e) => (Some(e.start), true),
            Op::Free(e) => (Some(e.start), false),
            Op::Write => (None, false),
        };
        if let Some(b) = target {
            self.bitmap_agrees(b, alloc)?;
        }
        let mut inode = self.inode()?;
        edit(&mut inode);
        if target.is_some() {
            self.move_i_blocks(&mut inode, alloc);
        }
        if let Some(end) = grow {
            inode[4..8].copy_from_slice(&(end as u32).to_le_bytes());
            inode[108..112].copy_from_slice(&((end >> 32) as u32).to_le_bytes());
            self.grown_to = Some(end);
        }
        let seed = self.csum.map(|c| c.inode_seed(self.ino, &inode));
        if let Some(c) = &self.csum {
            c.seal_inode(self.ino, &mut inode);
        }
        let mut blocks = blocks;
        let mut init = init;
        if let Some(seed) = seed {
            for (_, t, bytes) in blocks.iter_mut() {
                if *t == template::NODE {
                    Csum::seal_extent_block(seed, bytes);
                }
            }
            if let Some(bytes) = init.as_mut() {
                Csum::seal_extent_block(seed, bytes);
            }
        }
        let ipatch = [Patch { offset: 0, bytes: &inode }];
        let bpatches: Vec<[Patch<'_>; 1]> =
            blocks.iter().map(|(_, _, b)| [Patch { offset: 0, bytes: b }]).collect();
        let mut changes = vec![Change { obj: self.obj, patches: &ipatch }];
        for ((b, t, _), p) in blocks.iter().zip(&bpatches) {
            changes.push(Change { obj: Obj { block: *b, offset: 0, template: *t }, patches: p });
        }
        let from = self.dev.log.len();
        let r = self.xn.apply_group(
            self.progs,
            self.dev,
            &changes,
            init.as_deref(),
            op,
            self.principal,
        );
        let order = match r {
            Ok(order) => order,
            Err(r) => return Err(self.refused(r, op)),
        };
        let mut st = StepLog {
            target: target.map(|b| (b, alloc)),
            inode: self.obj.block,
            ..StepLog::default()
        };
        let mut holders = order.as_slice();
        if init.is_some()
            && let Some((&first, rest)) = holders.split_first()
        {
            st.init = Some(first);
            holders = rest;
        }
        st.holders = holders.to_vec();
        if let Some(b) = target {
            st.counts = Some(self.account(b, alloc)?);
        }
        st.writes = self.dev.log[from..].to_vec();
        self.steps.push(st);
        Ok(())
    }

    /// `i_blocks` up or down by one block (512-byte units; the high 16 bits with huge_file).
    fn move_i_blocks(&self, inode: &mut [u8], up: bool) {
        let huge = self.fs.sb.features[2] & RO_COMPAT_HUGE_FILE != 0;
        let mut n = u64::from(le32(inode, 28));
        if huge {
            n |= u64::from(le16(inode, 0x74)) << 32;
        }
        let step = (self.bs() / 512) as u64;
        n = if up { n.wrapping_add(step) } else { n.wrapping_sub(step) };
        inode[28..32].copy_from_slice(&(n as u32).to_le_bytes());
        if huge {
            inode[0x74..0x76].copy_from_slice(&((n >> 32) as u16).to_le_bytes());
        }
    }

    /// The size a data block at the logical block grows the file to, if it lies past the end;
    /// only regular files grow.
    fn growth(&mut self) -> Result<Option<u64>, ExtError> {
        let inode = self.inode()?;
        let size = u64::from(le32(&inode, 4)) | u64::from(le32(&inode, 108)) << 32;
        let mode = le16(&inode, 0);
        let end = (self.lblock + 1) * self.bs() as u64;
        if end <= size {
            return Ok(None);
        }
        if mode & 0xF000 != 0x8000 {
            return Err(ExtError::Unsupported(format!(
                "{} lies past the end of the file ({size} bytes), and XN grows only regular \
                 files (mode {mode:#o})",
                self.at()
            )));
        }
        Ok(Some(end))
    }

    /// The image's bitmap must agree with XN's map on a block allocated or freed, and an
    /// allocation may not land in a group whose bitmap is not initialised.
    fn bitmap_agrees(&mut self, b: u64, alloc: bool) -> Result<(), ExtError> {
        let sb = &self.fs.sb;
        if b < sb.first_data_block || b >= sb.blocks {
            return Ok(()); // XN refuses it by itself
        }
        let g = ((b - sb.first_data_block) / u64::from(sb.blocks_per_group)) as usize;
        if alloc && sb.uninit_flags() && self.fs.groups[g].flags & BG_BLOCK_UNINIT != 0 {
            return Err(ExtError::Unsupported(format!(
                "{}: block {b} lies in group {g}, whose block bitmap is uninitialised \
                 (BLOCK_UNINIT): allocating there is not handled",
                self.at()
            )));
        }
        let bit = self.fs.bitmap_bit(self.dev, b)?;
        let (stray, refusal, what) = if alloc {
            (!self.xn.used.get(b) && bit, Refusal::InUse(b), "marked in use")
        } else {
            (!bit, Refusal::NotOwned(b), "already free")
        };
        if stray {
            let message = if alloc {
                format!(
                    "{}: block {b} is {what} in the image's block bitmap although no inode owns \
                     it (run `udf xn rebuild`)",
                    self.at()
                )
            } else {
                format!(
                    "{}: block {b} is {what} in the image's block bitmap (run `udf xn rebuild`)",
                    self.at()
                )
            };
            return Err(self.lblock_refusal(refusal, message));
        }
        Ok(())
    }

    fn lblock_refusal(&self, refusal: Refusal, message: String) -> ExtError {
        ExtError::LblockRefused(alloc::boxed::Box::new(LblockRefusal {
            ino: self.ino,
            lblock: self.lblock,
            refusal,
            message,
        }))
    }

    /// Marks `block` in use (or free) in its group's bitmap, moves the free counts of the group
    /// descriptor and the superblock by one, and keeps their checksums: bitmap, descriptor,
    /// superblock, written in that order.
    fn account(&mut self, block: u64, used: bool) -> Result<[u64; 3], ExtError> {
        let sb = &self.fs.sb;
        let bs = self.bs();
        let g = ((block - sb.first_data_block) / u64::from(sb.blocks_per_group)) as usize;
        let d = self.fs.groups[g];
        let mut bitmap = vec![0u8; bs];
        self.dev.read_block(d.block_bitmap, &mut bitmap)?;
        let i = (block - sb.group_first(g as u64)) as usize;
        if used {
            bitmap[i / 8] |= 1 << (i % 8);
        } else {
            bitmap[i / 8] &= !(1 << (i % 8));
        }
        self.dev.write_block(d.block_bitmap, &bitmap)?;
        let step = |v: u64| if used { v.wrapping_sub(1) } else { v.wrapping_add(1) };
        let ds = sb.desc_size as usize;
        let at = g as u64 * ds as u64;
        let gd_block = sb.first_data_block + 1 + at / bs as u64;
        let off = (at % bs as u64) as usize;
        let mut buf = vec![0u8; bs];
        self.dev.read_block(gd_block, &mut buf)?;
        let desc = &mut buf[off..off + ds];
        let wide = sb.wide_desc();
        let mut free = u64::from(le16(desc, 12));
        if wide {
            free |= u64::from(le16(desc, 0x2C)) << 16;
        }
        let free = step(free);
        desc[12..14].copy_from_slice(&(free as u16).to_le_bytes());
        if wide {
            desc[0x2C..0x2E].copy_from_slice(&((free >> 16) as u16).to_le_bytes());
        }
        if let Some(c) = &self.csum {
            c.set_block_bitmap(desc, &bitmap);
            c.seal_group_desc(g as u32, desc);
        }
        self.dev.write_block(gd_block, &buf)?;
        let sb_block = 1024 / bs as u64;
        let off = 1024 % bs;
        self.dev.read_block(sb_block, &mut buf)?;
        let raw = &mut buf[off..off + 1024];
        let mut free = u64::from(le32(raw, 12));
        if sb.features[1] & INCOMPAT_64BIT != 0 {
            free |= u64::from(le32(raw, 0x158)) << 32;
        }
        let free = step(free);
        raw[12..16].copy_from_slice(&(free as u32).to_le_bytes());
        if sb.features[1] & INCOMPAT_64BIT != 0 {
            raw[0x158..0x15C].copy_from_slice(&((free >> 32) as u32).to_le_bytes());
        }
        if self.csum.is_some() {
            Csum::seal_superblock(raw);
        }
        self.dev.write_block(sb_block, &buf)?;
        Ok([d.block_bitmap, gd_block, sb_block])
    }

    // ---- block maps --------------------------------------------------------------------------

    /// The holder of the pointer for the logical block at `depth` indirect levels above the
    /// data (0: the data block's pointer), walking down from the inode.
    fn holder(&mut self, depth: u32) -> Result<Holder, ExtError> {
        let p = (self.bs() / 4) as u64;
        let l = self.lblock;
        // (slot, levels below it, logical offset within it)
        let (slot, levels, mut off) = if l < 12 {
            (l as usize, 0u32, 0u64)
        } else if l - 12 < p {
            (12, 1, l - 12)
        } else if l - 12 - p < p * p {
            (13, 2, l - 12 - p)
        } else if l - 12 - p - p * p < p * p * p {
            (14, 3, l - 12 - p - p * p)
        } else {
            return Err(ExtError::Unsupported(format!(
                "logical block {l}: past what a block map reaches"
            )));
        };
        if depth > levels {
            return Err(ExtError::Unsupported(format!(
                "{}: no {} covers it (it lies {})",
                self.at(),
                kind_name(depth),
                if levels == 0 {
                    format!("in direct slot {slot}")
                } else {
                    format!("under slot {slot}")
                }
            )));
        }
        let mut holder = Holder::Slot(slot);
        let inode = self.inode()?;
        let mut ptr = u64::from(le32(&inode, 40 + 4 * slot));
        let tpl = [template::IND1, template::IND2, template::IND3];
        for level in (depth + 1..=levels).rev() {
            if ptr == 0 {
                let what = match holder {
                    Holder::Slot(k) => format!("slot {k} of inode {}", self.ino),
                    Holder::Entry { block, i, .. } => {
                        format!("entry {i} of indirect block {block}")
                    }
                };
                return Err(ExtError::Unsupported(format!(
                    "{}: {what} holds no {}: allocate that first (--lblock {} --kind {level})",
                    self.at(),
                    kind_name(level),
                    self.lblock
                )));
            }
            let span = p.pow(level - 1);
            let i = (off / span) as usize;
            off %= span;
            let mut blk = vec![0u8; self.bs()];
            self.dev.read_block(ptr, &mut blk)?;
            holder = Holder::Entry { block: ptr, template: tpl[level as usize - 1], i };
            ptr = u64::from(le32(&blk, 4 * i));
        }
        Ok(holder)
    }

    /// Allocation or free of a pointer of a block-mapped inode.
    fn map_change(&mut self, req: LblockRequest) -> Result<(u64, u64, u32), ExtError> {
        let claimed = req.kind.unwrap_or(kind::DATA);
        if claimed > kind::IND3 {
            let r = Refusal::UnknownKind(claimed);
            return Err(self.refused(r, Op::Write));
        }
        let holder = self.holder(claimed)?;
        let mut inode = self.inode()?;
        let old = match holder {
            Holder::Slot(k) => u64::from(le32(&inode, 40 + 4 * k)),
            Holder::Entry { block, i, .. } => {
                let mut blk = vec![0u8; self.bs()];
                self.dev.read_block(block, &mut blk)?;
                u64::from(le32(&blk, 4 * i))
            }
        };
        let (op, value) = if req.block == 0 {
            if old == 0 {
                return Err(ExtError::Unmapped { ino: self.ino, lblock: self.lblock });
            }
            (Op::Free(Extent { start: old, count: 1, kind: claimed }), 0u32)
        } else {
            let v = u32::try_from(req.block).map_err(|_| {
                ExtError::Unsupported(format!(
                    "block {} does not fit a 32-bit block pointer",
                    req.block
                ))
            })?;
            (Op::Alloc(Extent { start: req.block, count: 1, kind: claimed }), v)
        };
        let grow = if req.block != 0 && claimed == kind::DATA { self.growth()? } else { None };
        match holder {
            Holder::Slot(k) => {
                inode[40 + 4 * k..44 + 4 * k].copy_from_slice(&value.to_le_bytes());
                let root: [u8; 60] = inode[40..100].try_into().unwrap_or([0; 60]);
                self.step(
                    &|i: &mut [u8]| i[40..100].copy_from_slice(&root),
                    Vec::new(),
                    None,
                    op,
                    grow,
                )?;
            }
            Holder::Entry { block, template, i } => {
                let mut blk = vec![0u8; self.bs()];
                self.dev.read_block(block, &mut blk)?;
                blk[4 * i..4 * i + 4].copy_from_slice(&value.to_le_bytes());
                self.step(&|_: &mut [u8]| {}, vec![(block, template, blk)], None, op, grow)?;
            }
        }
        Ok((old, req.block, claimed))
    }

    // ---- extent trees ------------------------------------------------------------------------

    /// The path from the root to the leaf covering the logical block: each node and the
    /// entry followed in it (the leaf's is unused).
    fn path(&mut self) -> Result<(Vec<Node>, Vec<usize>), ExtError> {
        let inode = self.inode()?;
        let bad = |w: String| ExtError::Corrupt(format!("inode {}'s extent tree: {w}", self.ino));
        let mut node = Node::parse(Where::Root, &inode[40..100]).map_err(bad)?;
        let (mut nodes, mut idx) = (Vec::new(), Vec::new());
        let mut blk = vec![0u8; self.bs()];
        while node.depth > 0 {
            if node.entries.is_empty() {
                return Err(bad(format!("an index node without entries at depth {}", node.depth)));
            }
            let i = node.route(self.lblock);
            let b = child(&node.entries[i]);
            if b >= self.fs.sb.blocks || nodes.len() > usize::from(extents::MAX_DEPTH) {
                return Err(bad(format!("a child at block {b}")));
            }
            self.dev.read_block(b, &mut blk)?;
            let next =
                Node::parse(Where::Block(b), &blk).map_err(|w| bad(format!("block {b}: {w}")))?;
            if next.depth + 1 != node.depth {
                return Err(bad(format!(
                    "block {b} at depth {} under depth {}",
                    next.depth, node.depth
                )));
            }
            nodes.push(node);
            idx.push(i);
            node = next;
        }
        nodes.push(node);
        idx.push(0);
        Ok((nodes, idx))
    }

    /// Sets every index key on the path to its child's first key, from `from` (a level whose
    /// node changed) up; returns the levels changed.
    fn fix_keys(nodes: &mut [Node], idx: &[usize], from: usize) -> Vec<usize> {
        let mut changed = Vec::new();
        let mut lvl = from;
        while lvl > 0 {
            let Some(k) = nodes[lvl].first_key() else { break };
            let parent = &mut nodes[lvl - 1];
            let e = &mut parent.entries[idx[lvl - 1]];
            if key(e) == k {
                break;
            }
            extents::set_key(e, k);
            changed.push(lvl - 1);
            lvl -= 1;
        }
        changed
    }

    /// One step changing the nodes `changed` of the tree (the root in the inode, blocks) with
    /// the new tree block `init`.
    fn tree_step(
        &mut self,
        changed: &[&Node],
        init: Option<&Node>,
        op: Op,
        grow: Option<u64>,
    ) -> Result<(), ExtError> {
        let mut root: Option<[u8; 60]> = None;
        let mut blocks = Vec::new();
        for n in changed {
            match n.at {
                Where::Root => {
                    let inode = self.inode()?;
                    let mut r: [u8; 60] = inode[40..100].try_into().unwrap_or([0; 60]);
                    n.write(&mut r);
                    root = Some(r);
                }
                Where::Block(b) => {
                    let mut blk = vec![0u8; self.bs()];
                    self.dev.read_block(b, &mut blk)?;
                    n.write(&mut blk);
                    blocks.push((b, template::NODE, blk));
                }
            }
        }
        let init = init.map(|n| {
            let mut blk = vec![0u8; self.bs()];
            n.write(&mut blk);
            blk
        });
        let edit = |i: &mut [u8]| {
            if let Some(r) = &root {
                i[40..100].copy_from_slice(r);
            }
        };
        self.step(&edit, blocks, init, op, grow)
    }

    /// A free block for a new tree node, the first after `goal` (wrapping), not `avoid`.
    fn node_block(&mut self, goal: u64, avoid: u64) -> Result<u64, ExtError> {
        let sb = &self.fs.sb;
        let (first, n) = (sb.first_data_block, sb.blocks);
        let goal = goal.clamp(first, n - 1);
        for b in (goal + 1..n).chain(first..=goal) {
            if b == avoid || self.xn.used.get(b) {
                continue;
            }
            let g = ((b - first) / u64::from(sb.blocks_per_group)) as usize;
            if sb.uninit_flags() && self.fs.groups[g].flags & BG_BLOCK_UNINIT != 0 {
                continue;
            }
            if !self.fs.bitmap_bit(self.dev, b)? {
                return Ok(b);
            }
        }
        Err(self.lblock_refusal(
            Refusal::InUse(goal),
            format!("{}: no free block left for a new extent-tree node", self.at()),
        ))
    }

    /// Makes room in the full leaf of the path: a split of the deepest full node under a
    /// parent with room, or the root growing a level. One new tree block, allocated at the
    /// first free block after `goal`.
    fn make_room(
        &mut self,
        nodes: &mut [Node],
        idx: &[usize],
        goal: u64,
        avoid: u64,
    ) -> Result<(), ExtError> {
        let cap = block_capacity(self.bs());
        let leaf = nodes.len() - 1;
        let nb = self.node_block(goal, avoid)?;
        let alloc = Op::Alloc(Extent { start: nb, count: 1, kind: kind::NODE });
        match (0..leaf).rev().find(|&k| nodes[k].has_room()) {
            None => {
                // The root grows a level: its entries move to the new block.
                let root = &mut nodes[0];
                if root.depth + 1 > extents::MAX_DEPTH {
                    return Err(ExtError::Unsupported(format!(
                        "{}: the extent tree would grow past depth {}",
                        self.at(),
                        extents::MAX_DEPTH
                    )));
                }
                let mut new = Node::empty(Where::Block(nb), root.depth, cap);
                new.entries = core::mem::take(&mut root.entries);
                let k = new.first_key().unwrap_or(0);
                root.depth += 1;
                root.entries.push(index_entry(k, nb));
                let root = nodes[0].clone();
                self.tree_step(&[&root], Some(&new), alloc, None)?;
            }
            Some(k) => {
                // The full child of node k splits: its upper half moves to the new block, or
                // for a key past its last, only its last entry (as the kernel does, so that
                // appending fills nodes).
                let i = idx[k];
                let x = &mut nodes[k + 1];
                let past_end = x.entries.last().is_some_and(|e| u64::from(key(e)) < self.lblock);
                let half = if past_end && k + 1 == leaf {
                    x.entries.len() - 1
                } else {
                    x.entries.len() / 2
                };
                let mut new = Node::empty(Where::Block(nb), x.depth, cap);
                new.entries = x.entries.split_off(half);
                let nk = new.first_key().unwrap_or(0);
                nodes[k].entries.insert(i + 1, index_entry(nk, nb));
                let (x, parent) = (nodes[k + 1].clone(), nodes[k].clone());
                self.tree_step(&[&x, &parent], Some(&new), alloc, None)?;
            }
        }
        self.nodes_allocated.push(nb);
        Ok(())
    }

    /// Maps `b` at the logical block of an extent-mapped inode.
    fn tree_alloc(&mut self, b: u64) -> Result<(u64, u64, u32), ExtError> {
        let l = self.lblock;
        let op = Op::Alloc(Extent { start: b, count: 1, kind: kind::DATA });
        // What XN would refuse in the data block's own step, refused before the tree makes
        // room for it (so the refusal names the tree as it is).
        if b >= self.fs.sb.blocks {
            let e = Extent { start: b, count: 1, kind: kind::DATA };
            return Err(self.refused(Refusal::BadExtent(e), op));
        }
        if self.xn.used.get(b) {
            return Err(self.refused(Refusal::InUse(b), op));
        }
        self.bitmap_agrees(b, true)?;
        for _ in 0..=2 * usize::from(extents::MAX_DEPTH) + 2 {
            let (mut nodes, idx) = self.path()?;
            let leaf = nodes.len() - 1;
            let entries = &nodes[leaf].entries;
            if let Some(x) = entries.iter().map(Leaf::of).find(|x| x.covers(l)) {
                let old = x.start + (l - u64::from(x.lblk));
                let r = Refusal::Mismatch {
                    claimed: op,
                    added: vec![(kind::DATA, b, b)],
                    removed: vec![(kind::DATA, old, old)],
                };
                let m = format!(
                    "{}: it already maps block {old}{}: free it first",
                    self.at(),
                    if x.unwritten { " (unwritten)" } else { "" }
                );
                return Err(self.lblock_refusal(r, m));
            }
            let pos = entries.iter().position(|e| u64::from(key(e)) > l).unwrap_or(entries.len());
            let mergeable = |x: &Leaf| !x.unwritten && x.len < extents::INIT_MAX_LEN;
            let left = pos.checked_sub(1).map(|i| Leaf::of(&entries[i]));
            let right = entries.get(pos).map(Leaf::of);
            let edited = if let Some(mut x) = left.filter(|x| {
                mergeable(x) && x.end() == l && x.start.checked_add(u64::from(x.len)) == Some(b)
            }) {
                x.len += 1;
                nodes[leaf].entries[pos - 1] = x.entry();
                true
            } else if let Some(mut x) =
                right.filter(|x| mergeable(x) && u64::from(x.lblk) == l + 1 && x.start == b + 1)
            {
                x.lblk -= 1;
                x.start -= 1;
                x.len += 1;
                nodes[leaf].entries[pos] = x.entry();
                true
            } else if nodes[leaf].has_room() {
                let x = Leaf { lblk: l as u32, len: 1, unwritten: false, start: b };
                nodes[leaf].entries.insert(pos, x.entry());
                true
            } else {
                false
            };
            if !edited {
                self.make_room(&mut nodes, &idx, b, b)?;
                continue;
            }
            let grow = self.growth()?;
            let mut levels = vec![leaf];
            levels.extend(Self::fix_keys(&mut nodes, &idx, leaf));
            let changed: Vec<&Node> = levels.iter().map(|&k| &nodes[k]).collect();
            self.tree_step(&changed, None, op, grow)?;
            return Ok((0, b, kind::DATA));
        }
        Err(ExtError::Corrupt(format!("inode {}'s extent tree did not make room", self.ino)))
    }

    /// Frees the block mapped at the logical block of an extent-mapped inode, and the tree
    /// blocks left empty.
    fn tree_free(&mut self) -> Result<(u64, u64, u32), ExtError> {
        let l = self.lblock;
        for _ in 0..=2 * usize::from(extents::MAX_DEPTH) + 2 {
            let (mut nodes, idx) = self.path()?;
            let leaf = nodes.len() - 1;
            let Some(i) = nodes[leaf].entries.iter().position(|e| Leaf::of(e).covers(l)) else {
                return Err(ExtError::Unmapped { ino: self.ino, lblock: l });
            };
            let x = Leaf::of(&nodes[leaf].entries[i]);
            let b = x.start + (l - u64::from(x.lblk));
            let entries = &mut nodes[leaf].entries;
            if x.len == 1 {
                entries.remove(i);
            } else if l == u64::from(x.lblk) {
                let y = Leaf { lblk: x.lblk + 1, len: x.len - 1, start: x.start + 1, ..x };
                entries[i] = y.entry();
            } else if l + 1 == x.end() {
                entries[i] = Leaf { len: x.len - 1, ..x }.entry();
            } else if nodes[leaf].has_room() {
                let head = (l - u64::from(x.lblk)) as u32;
                let a = Leaf { len: head, ..x };
                let c = Leaf { lblk: l as u32 + 1, len: x.len - head - 1, start: b + 1, ..x };
                nodes[leaf].entries[i] = a.entry();
                nodes[leaf].entries.insert(i + 1, c.entry());
            } else {
                // Splitting the extent needs an entry more: make room, then look again.
                self.make_room(&mut nodes, &idx, b, b)?;
                continue;
            }
            let op = Op::Free(Extent { start: b, count: 1, kind: kind::DATA });
            let mut levels = vec![leaf];
            levels.extend(Self::fix_keys(&mut nodes, &idx, leaf));
            let changed: Vec<&Node> = levels.iter().map(|&k| &nodes[k]).collect();
            self.tree_step(&changed, None, op, None)?;
            // Tree blocks left empty go, bottom up.
            let mut lvl = leaf;
            while lvl > 0 && nodes[lvl].entries.is_empty() {
                let Where::Block(nb) = nodes[lvl].at else { break };
                let parent = &mut nodes[lvl - 1];
                parent.entries.remove(idx[lvl - 1]);
                if parent.entries.is_empty() && parent.at == Where::Root {
                    parent.depth = 0;
                }
                let mut levels = vec![lvl - 1];
                if !nodes[lvl - 1].entries.is_empty() {
                    levels.extend(Self::fix_keys(&mut nodes, &idx, lvl - 1));
                }
                let changed: Vec<&Node> = levels.iter().map(|&k| &nodes[k]).collect();
                let op = Op::Free(Extent { start: nb, count: 1, kind: kind::NODE });
                self.tree_step(&changed, None, op, None)?;
                self.nodes_freed.push(nb);
                lvl -= 1;
            }
            return Ok((b, 0, kind::DATA));
        }
        Err(ExtError::Corrupt(format!("inode {}'s extent tree did not make room", self.ino)))
    }

    // ---- refusals ----------------------------------------------------------------------------

    /// XN's refusal in the file system's terms.
    fn refused(&mut self, r: Refusal, op: Op) -> ExtError {
        if let Refusal::Io(e) = r {
            return ExtError::Io(e);
        }
        let at = self.at();
        let ino = self.ino;
        let (verb, claimed) = match op {
            Op::Alloc(e) => ("allocating", Some(e)),
            Op::Free(e) => ("freeing", Some(e)),
            Op::Write => ("writing", None),
        };
        let (fs, progs) = (self.fs, self.progs);
        let holders = |xn: &mut Xn, dev: &mut Staged<'_>, b: u64| {
            fs.holders(xn, progs, dev, &[b]).remove(&b).unwrap_or_default()
        };
        let message = match &r {
            Refusal::InUse(b) => {
                if let Some(s) = fs.name_static(*b) {
                    format!("{at}: block {b} is {s}, file-system metadata XN never hands out")
                } else {
                    let who = holders(self.xn, self.dev, *b);
                    if who.is_empty() {
                        format!("{at}: block {b} is already in use")
                    } else {
                        format!("{at}: block {b} is already in use: {} holds it", join_names(&who))
                    }
                }
            }
            Refusal::Mismatch { added, removed, .. } => match claimed {
                Some(e) => format!(
                    "{at}: {verb} block {} as {}, but by its owns-udfs inode {ino} would gain {} \
                     and lose {}",
                    e.start,
                    kind_name(e.kind),
                    runs_named(added),
                    runs_named(removed)
                ),
                None => format!(
                    "{at}: by its owns-udfs inode {ino} would gain {} and lose {}",
                    runs_named(added),
                    runs_named(removed)
                ),
            },
            Refusal::UnknownKind(k) => format!(
                "{at}: kind {k} is not one inode {ino} can own here (0 data, 1-3 indirect \
                 blocks of depth 1-3 in block maps)"
            ),
            Refusal::BadExtent(e) => format!(
                "{at}: block {} is past the end of the file system ({} blocks)",
                e.start, fs.sb.blocks
            ),
            Refusal::Malformed { after, r0 } => format!(
                "{at}: inode {ino}'s owns-udfs find it malformed {} the change (r0 = {r0})",
                if *after { "after" } else { "before" }
            ),
            Refusal::OwnedTwice(b) => {
                let who = holders(self.xn, self.dev, *b);
                let also = if who.is_empty() {
                    String::new()
                } else {
                    format!(" (it already holds it at {})", join_names(&who))
                };
                format!("{at}: inode {ino} would then name block {b} twice{also}")
            }
            Refusal::NotEmpty { block, owns } => match op {
                Op::Alloc(e) => format!(
                    "{at}: block {block}, to become {} of inode {ino}, is not zeroed: its \
                     entries name {owns} extent(s)",
                    kind_name(e.kind)
                ),
                _ => format!("{at}: block {block} still names {owns} extent(s): free them first"),
            },
            Refusal::NotOwned(b) => match (fs.name_static(*b), claimed) {
                (Some(s), _) => format!("{at}: block {b} is {s}, which XN never frees"),
                (None, Some(e)) => {
                    format!("{at}: inode {ino} does not own block {b} as {}", kind_name(e.kind))
                }
                (None, None) => format!("{at}: inode {ino} does not own block {b}"),
            },
            Refusal::Denied => format!("{at}: inode {ino}'s acl-udf denied the {verb}"),
            Refusal::UnknownObject(_) => {
                format!("{at}: an object of inode {ino} is not a registered metadata block")
            }
            _ => format!("{at}: {r}"),
        };
        self.lblock_refusal(r, message)
    }
}
