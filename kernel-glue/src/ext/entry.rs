//! An entry of an indirect block changed through XN (a data block allocated or freed under an
//! indirect block), its writes staged in the write ordering.

use super::*;
use crate::order::{Cache, Ordered, zeroed};
use crate::xn::TemplateId;

/// An indirect-block entry change to ask [`ExtFs::stage_entry`] for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryRequest {
    /// The inode the indirect block belongs to (its `i_blocks` follows).
    pub ino: u32,
    /// The indirect block (allocated to the inode, directly or under another indirect block).
    pub ind: u64,
    /// The entry (0 to block size / 4 - 1).
    pub entry: usize,
    /// The block to point it at; 0 frees the block it holds.
    pub block: u64,
}

impl ExtFs {
    /// Points entry `entry` of indirect block `ind` of inode `ino` at `block` (or, with `block`
    /// 0, frees the block it holds) through XN: the indirect block is the object (its owns-udf
    /// run before and after), the claimed kind the one its depth gives (data under a depth-1
    /// block, a depth-`d-1` indirect block under a depth-`d` one); the inode's `i_blocks`
    /// follows as a checked write of the inode. The writes are staged in `cache`:
    ///
    /// - allocation: a new indirect block is initialised, the bitmap marks the block used before
    ///   the indirect block points at it, the inode's `i_blocks` after the pointer;
    /// - free: the indirect block stops pointing first; the block goes on its will-free list,
    ///   the bitmap and the inode's `i_blocks` follow.
    ///
    /// `i_blocks` lives in the inode, another block than the pointer: between those two writes
    /// a crash leaves the inode's block count one block off (as Ganger & Patt's soft updates
    /// leave FFS's `di_blocks`), which e2fsck reports as `i_blocks is X, should be Y`.
    /// On a refusal the cache is left as it was.
    pub fn stage_entry(
        &self,
        xn: &mut Xn,
        progs: &Table,
        cache: &mut Cache,
        dev: &mut dyn BlockDevice,
        req: EntryRequest,
        principal: u64,
    ) -> Result<SlotChange, ExtError> {
        let saved = cache.clone();
        let r = self.stage_entry_in(xn, progs, &mut Ordered { cache, dev }, req, principal);
        if r.is_err() {
            *cache = saved;
        }
        r
    }

    fn stage_entry_in(
        &self,
        xn: &mut Xn,
        progs: &Table,
        dev: &mut Ordered<'_>,
        req: EntryRequest,
        principal: u64,
    ) -> Result<SlotChange, ExtError> {
        let EntryRequest { ino, ind, entry, block } = req;
        if self.sb.uninit_flags() {
            return Err(ExtError::Unsupported(
                "writes to checksummed metadata (metadata_csum, gdt_csum)".into(),
            ));
        }
        let bs = self.sb.block_size as usize;
        if entry >= bs / 4 {
            return Err(ExtError::Unsupported(format!(
                "entry {entry} of an indirect block (it has 0-{})",
                bs / 4 - 1
            )));
        }
        if !self.inode_in_use(dev, ino)? {
            return Err(ExtError::Inode(ino));
        }
        let inode = self.inode_obj(ino)?;
        // The indirect block must belong to the inode (directly or through its ancestors).
        let reg = xn.registry.get(&ind).copied();
        let (template, claimed) = match reg.map(|e| e.template) {
            Some(template::IND1) => (template::IND1, kind::DATA),
            Some(template::IND2) => (template::IND2, kind::IND1),
            Some(template::IND3) => (template::IND3, kind::IND2),
            _ => {
                return Err(ExtError::Unsupported(format!(
                    "block {ind} is not an indirect block XN knows"
                )));
            }
        };
        let mut up = reg.and_then(|e| e.parent);
        let mut steps = 0;
        while let Some(p) = up.filter(|p| p.template != template::INODE && steps < 4) {
            up = xn.registry.get(&p.block).and_then(|e| e.parent);
            steps += 1;
        }
        if up != Some(inode) {
            return Err(ExtError::Unsupported(format!(
                "indirect block {ind} does not belong to inode {ino}"
            )));
        }
        let obj = Obj { block: ind, offset: 0, template };
        let mut buf = vec![0u8; bs];
        dev.read_block(ind, &mut buf)?;
        let old = u64::from(le32(&buf, 4 * entry));
        dev.read_block(inode.block, &mut buf)?;
        let at = inode.offset as usize;
        let flags = le32(&buf, at + 32);
        if self.sb.features[2] & RO_COMPAT_HUGE_FILE != 0 && flags & EXT4_HUGE_FILE_FL != 0 {
            return Err(ExtError::Unsupported(format!(
                "inode {ino} counts i_blocks in blocks (huge_file)"
            )));
        }
        let i_blocks = le32(&buf, at + 28);
        let sectors = (bs / 512) as u32;
        let (op, new_blocks, target) = if block == 0 {
            if old == 0 {
                return Err(ExtError::Unsupported(format!(
                    "entry {entry} of indirect block {ind} is empty: nothing to free"
                )));
            }
            (Op::Free(Extent { start: old, count: 1, kind: claimed }), i_blocks - sectors, old)
        } else {
            u32::try_from(block).map_err(|_| {
                ExtError::Unsupported(format!("block {block} does not fit a 32-bit entry"))
            })?;
            let e = Extent { start: block, count: 1, kind: claimed };
            (Op::Alloc(e), i_blocks.wrapping_add(sectors), block)
        };
        // The image's bitmap must agree with XN's map on the block.
        if target < self.sb.blocks {
            let marked = self.bitmap_bit(dev, target)?;
            if block != 0 && marked && !xn.used.get(target) {
                return Err(ExtError::Refused(Refusal::InUse(target)));
            }
            if block == 0 && !marked {
                return Err(ExtError::Refused(Refusal::NotOwned(target)));
            }
        }
        let meta = block != 0 && claimed != kind::DATA;
        if meta {
            dev.cache.init(block, &zeroed(bs)).map_err(ExtError::Io)?;
        }
        let ptr = (block as u32).to_le_bytes();
        xn.apply(
            progs,
            dev,
            obj,
            &[Patch { offset: 4 * entry as u32, bytes: &ptr }],
            op,
            principal,
        )
        .map_err(ExtError::from)?;
        let count = new_blocks.to_le_bytes();
        xn.apply(progs, dev, inode, &[Patch { offset: 28, bytes: &count }], Op::Write, principal)
            .map_err(ExtError::from)?;
        let [bitmap, gd, sb] = self.account(dev, target, block != 0)?;
        let cache = &mut *dev.cache;
        if block != 0 {
            cache.points_to(ind, block);
            cache.depends(ind, bitmap);
            cache.depends(inode.block, ind);
        } else {
            cache.depends(bitmap, ind);
            cache.depends(inode.block, ind);
            cache.will_free(ind, target);
            if !cache.allocatable(target) {
                xn.used.set(target, true);
            }
        }
        cache.depends(gd, bitmap);
        cache.depends(sb, bitmap);
        Ok(SlotChange { old, new: block, kind: claimed, grown_to: None })
    }
}

/// The indirect-block templates, for callers naming them.
pub const IND_TEMPLATES: [TemplateId; 3] = [template::IND1, template::IND2, template::IND3];
