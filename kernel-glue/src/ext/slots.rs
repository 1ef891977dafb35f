//! Block-slot changes of block-mapped inodes through XN's checked operations, keeping the
//! bitmaps and free counts e2fsck checks.

use super::*;
use crate::order::{Cache, Flushed, OrderError, Ordered, zeroed};

impl ExtFs {
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
        let mut cache = Cache::new(self.sb.block_size as usize);
        let change = self.stage_slot(xn, progs, &mut cache, dev, req, 0)?;
        self.commit(xn, &mut cache, dev, None)?;
        Ok(change)
    }

    /// Writes what [`ExtFs::stage_slot`] staged in `cache` to `dev`, in the order the cache's
    /// constraints give, or only the first `limit` writes (a simulated power cut: the rest are
    /// dropped with the cache). Blocks whose parents' writes completed become allocatable in
    /// XN's map again.
    pub fn commit(
        &self,
        xn: &mut Xn,
        cache: &mut Cache,
        dev: &mut dyn BlockDevice,
        limit: Option<usize>,
    ) -> Result<Flushed, ExtError> {
        let flushed = cache.flush(dev, limit).map_err(|e| match e {
            OrderError::Io(e) => ExtError::Io(e),
            e => ExtError::Corrupt(format!("write ordering: {e}")),
        })?;
        for &b in &flushed.released {
            xn.used.set(b, false);
        }
        Ok(flushed)
    }

    /// [`ExtFs::set_slot`]'s checks and changes for principal `principal` (the acl-udf's
    /// request), staged in `cache` rather than written: every write (the new indirect block's
    /// initialisation, the inode, the block bitmap, the group descriptor, the superblock) goes
    /// into the cache with the constraints Ganger & Patt's rules put on it:
    ///
    /// - allocation: a new indirect block is initialised (zeroed) and the bitmap marks the
    ///   block used before the inode points at it; the free counts follow the bitmap. A crash
    ///   at any point leaves at most a leaked block (marked used, owned by nothing) and wrong
    ///   free counts;
    /// - free: the inode stops pointing at the block before the bitmap releases it, the block
    ///   goes on the inode block's will-free list (XN's map keeps it in use until that write
    ///   completes, [`ExtFs::commit`]); the free counts follow the bitmap.
    ///
    /// Nothing reaches `dev`; on a refusal the cache is left as it was.
    pub fn stage_slot(
        &self,
        xn: &mut Xn,
        progs: &Table,
        cache: &mut Cache,
        dev: &mut dyn BlockDevice,
        req: SlotRequest,
        principal: u64,
    ) -> Result<SlotChange, ExtError> {
        let saved = cache.clone();
        let r = self.stage(xn, progs, &mut Ordered { cache, dev }, req, principal);
        if r.is_err() {
            *cache = saved;
        }
        r
    }

    fn stage(
        &self,
        xn: &mut Xn,
        progs: &Table,
        dev: &mut Ordered<'_>,
        req: SlotRequest,
        principal: u64,
    ) -> Result<SlotChange, ExtError> {
        let SlotRequest { ino, slot, block, kind } = req;
        if self.sb.uninit_flags() {
            return Err(ExtError::Unsupported(
                "writes to checksummed metadata (metadata_csum, gdt_csum)".into(),
            ));
        }
        if slot > 14 {
            return Err(ExtError::Unsupported(format!("block slot {slot} (an inode has 0-14)")));
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
        // The file's size: the inode's size-udf says it when installed.
        let size = match xn.size(progs, obj.template, inode)? {
            Some(n) => n,
            None => u64::from(le32(inode, 4)) | u64::from(le32(inode, 108)) << 32,
        };
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
            // A directory's block inside the directory: ext does not allow holes there.
            if mode & 0xF000 == 0x4000 && slot < 12 && (slot as u64) * (bs as u64) < size {
                return Err(ExtError::DirectoryHole { ino, slot, size });
            }
            let e = Extent { start: old, count: 1, kind: claimed };
            (Op::Free(e), i_blocks.wrapping_sub(sectors), old)
        } else {
            u32::try_from(block).map_err(|_| {
                ExtError::Unsupported(format!("block {block} does not fit a 32-bit block slot"))
            })?;
            let e = Extent { start: block, count: 1, kind: claimed };
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
            let refusal =
                if block != 0 { Refusal::InUse(target) } else { Refusal::NotOwned(target) };
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
            Patch { offset: 28, bytes: &blocks_bytes },
            Patch { offset: 40 + 4 * slot as u32, bytes: &slot_bytes },
        ];
        if grow {
            patches.push(Patch { offset: 4, bytes: &size_bytes });
        }
        // A new indirect block is initialised (zeroed) before anything points at it; XN's check
        // of it then sees what the disk will hold.
        let meta = block != 0 && matches!(claimed, kind::IND1 | kind::IND2 | kind::IND3);
        if meta {
            dev.cache.init(block, &zeroed(bs)).map_err(ExtError::Io)?;
        }
        if let Err(r) = xn.apply(progs, dev, obj, &patches, op, principal) {
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
        let [bitmap, gd, sb] = self.account(dev, target, block != 0)?;
        let cache = &mut *dev.cache;
        if block != 0 {
            cache.points_to(obj.block, block);
            cache.depends(obj.block, bitmap);
        } else {
            cache.depends(bitmap, obj.block);
            cache.will_free(obj.block, target);
            if !cache.allocatable(target) {
                xn.used.set(target, true);
            }
        }
        cache.depends(gd, bitmap);
        cache.depends(sb, bitmap);
        Ok(SlotChange { old, new: block, kind: claimed, grown_to: grow.then_some(end) })
    }

    /// Whether the image's block bitmap marks `block` in use.
    pub(super) fn bitmap_bit(
        &self,
        dev: &mut dyn BlockDevice,
        block: u64,
    ) -> Result<bool, ExtError> {
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
    /// group descriptor and the superblock by one; returns the blocks written: the bitmap, the
    /// group descriptor, the superblock.
    pub(super) fn account(
        &self,
        dev: &mut dyn BlockDevice,
        block: u64,
        used: bool,
    ) -> Result<[u64; 3], ExtError> {
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
            if used { v.wrapping_sub(1) } else { v.wrapping_add(1) }
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
        Ok([d.block_bitmap, gd_block, sb_block])
    }
}
