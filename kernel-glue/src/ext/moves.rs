//! `xn move`: a block taken from one block slot and given to another (of the same inode or of
//! another), checked by XN as a free and an allocation with no window where the block is free.

use super::*;
use crate::order::Cache;

/// A move to ask [`ExtFs::stage_move`] for: the block in `from`'s slot goes to `to`'s slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoveRequest {
    /// The inode and slot holding the block.
    pub from: (u32, usize),
    /// The inode and (empty) slot to hold it.
    pub to: (u32, usize),
}

impl ExtFs {
    /// Moves the block in slot `from` to the empty slot `to` through XN: the source inode gives
    /// the block up (XN's free check: its owns-udf loses exactly that block) and the
    /// destination takes it (XN's allocation check: it gains exactly that block), both asked
    /// of the inodes' acl-udf for `principal`. The block is never free: the bitmap keeps it in
    /// use (written unchanged), no other allocation can take it in between, and the ordering
    /// writes the destination's pointer only after the source's cleared pointer (a crash
    /// between leaves the block leaked, never owned twice). Both inodes in one inode-table block
    /// are one write. `i_blocks` of both follow; the destination file grows as
    /// [`ExtFs::set_slot`] grows it.
    ///
    /// Atomic: when either check refuses, nothing is staged and XN's map is as it was. The
    /// kinds of both slots must agree (a data block between direct slots; an indirect block,
    /// which must own nothing, between slots of its depth).
    pub fn stage_move(
        &self,
        xn: &mut Xn,
        progs: &Table,
        cache: &mut Cache,
        dev: &mut dyn BlockDevice,
        req: MoveRequest,
        principal: u64,
    ) -> Result<SlotChange, ExtError> {
        let MoveRequest { from, to } = req;
        if from == to {
            return Err(ExtError::Unsupported(format!(
                "a move of inode {} slot {} to itself",
                from.0, from.1
            )));
        }
        let kind_of = |slot: usize| match slot {
            0..=11 => kind::DATA,
            12 => kind::IND1,
            13 => kind::IND2,
            _ => kind::IND3,
        };
        if from.1 <= 14 && to.1 <= 14 && kind_of(from.1) != kind_of(to.1) {
            return Err(ExtError::Unsupported(format!(
                "inode {} slot {} holds {} blocks, inode {} slot {} {} blocks",
                from.0,
                from.1,
                kind_name(kind_of(from.1)),
                to.0,
                to.1,
                kind_name(kind_of(to.1))
            )));
        }
        let saved = (cache.clone(), xn.used.clone(), xn.registry.clone());
        let r = self.move_in(xn, progs, cache, dev, req, principal);
        if r.is_err() {
            (*cache, xn.used, xn.registry) = saved;
        }
        r
    }

    fn move_in(
        &self,
        xn: &mut Xn,
        progs: &Table,
        cache: &mut Cache,
        dev: &mut dyn BlockDevice,
        req: MoveRequest,
        principal: u64,
    ) -> Result<SlotChange, ExtError> {
        let MoveRequest { from, to } = req;
        let src = self.inode_obj(from.0)?;
        let dst = self.inode_obj(to.0)?;
        let freed = SlotRequest { ino: from.0, slot: from.1, block: 0, kind: None };
        let out = self.stage_slot(xn, progs, cache, dev, freed, principal)?;
        let block = out.old;
        // Handed straight on: not on the source's will-free list, free in XN's map only for
        // the destination's check.
        cache.reclaim(block);
        xn.used.set(block, false);
        let taken = SlotRequest { ino: to.0, slot: to.1, block, kind: None };
        let change = self.stage_slot(xn, progs, cache, dev, taken, principal)?;
        // The destination's pointer after the source's cleared one.
        cache.depends(dst.block, src.block);
        Ok(change)
    }
}
