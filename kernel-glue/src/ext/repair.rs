//! Recovery after a crash: what Ganger & Patt's ordering can leave behind (leaked blocks,
//! free counts, an inode's block count) put right from the free map rebuilt from the roots.

use super::csum::Csum;
use super::*;
use crate::order::{Cache, Ordered};
use crate::xn::ExtentKind;

/// What [`ExtFs::repair`] put right.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Repaired {
    /// Leaked blocks released in the bitmaps (marked used, owned by nothing).
    pub leaked: Vec<u64>,
    /// Groups whose free-block count was wrong: `(group, was, now)`.
    pub groups: Vec<(usize, u64, u64)>,
    /// The superblock's free-block count, when it was wrong: `(was, now)`.
    pub superblock: Option<(u64, u64)>,
    /// Inodes whose `i_blocks` was wrong: `(inode, was, now)`.
    pub inodes: Vec<(u32, u32, u32)>,
    /// Groups whose descriptor recorded an out-of-date block bitmap checksum
    /// (`metadata_csum`): a crash between the bitmap's write and the descriptor's.
    pub bitmap_checksums: Vec<usize>,
}

impl Repaired {
    /// Whether nothing needed repair.
    pub fn is_empty(&self) -> bool {
        self.leaked.is_empty()
            && self.groups.is_empty()
            && self.superblock.is_none()
            && self.inodes.is_empty()
            && self.bitmap_checksums.is_empty()
    }
}

impl ExtFs {
    /// Puts right, from `rebuild` (this image's, just made), what a crash under XN's write
    /// ordering can leave: leaked blocks are released in the bitmaps, the free counts of the
    /// group descriptors and the superblock recomputed from the bitmaps, and each inode's
    /// `i_blocks` set to the blocks its tree owns. The writes are staged in `cache`.
    ///
    /// Refused (nothing staged) when the rebuild found problems or a block in use that the
    /// bitmaps mark free: those are not what a crash under the ordering leaves, and no repair
    /// guesses at them. With `metadata_csum`, every block changed is sealed again: an
    /// inode's checksum, a block bitmap's checksum in its group descriptor (out of date after
    /// a crash between the two writes even with no leak), the descriptor's and the
    /// superblock's checksums. Refused: `gdt_csum` without `metadata_csum` (its crc16
    /// descriptor checksums are not kept), bigalloc (bitmaps of clusters), a leak in a group
    /// whose block bitmap is uninitialised (`BLOCK_UNINIT`).
    pub fn repair(
        &self,
        xn: &mut Xn,
        progs: &Table,
        cache: &mut Cache,
        dev: &mut dyn BlockDevice,
        rebuild: &Rebuild,
    ) -> Result<Repaired, ExtError> {
        let f = &self.sb.features;
        if f[2] & RO_COMPAT_GDT_CSUM != 0 && f[2] & RO_COMPAT_METADATA_CSUM == 0 {
            return Err(ExtError::Unsupported(
                "repairs of an uninit_bg (gdt_csum) file system: its crc16 group-descriptor \
                 checksums are not kept (metadata_csum is)"
                    .into(),
            ));
        }
        if f[2] & RO_COMPAT_BIGALLOC != 0 {
            return Err(ExtError::Unsupported(
                "repairs of a bigalloc file system (bitmaps of clusters)".into(),
            ));
        }
        if let Some(p) = rebuild.rebuilt.problems.first() {
            return Err(ExtError::Corrupt(format!("not a crash leftover: {p}")));
        }
        if let Some(&(b, _, _)) = rebuild.differences.iter().find(|d| !d.1) {
            return Err(ExtError::Corrupt(format!(
                "block {b} is in use but free in the image's bitmap: not a crash leftover"
            )));
        }
        let mut raw = vec![0u8; 1024];
        read_bytes(dev, 1024, &mut raw)?;
        let csum = Csum::of(&self.sb, &raw)?;
        if self.sb.uninit_flags() {
            for &(b, _, _) in &rebuild.differences {
                let g = ((b.saturating_sub(self.sb.first_data_block))
                    / u64::from(self.sb.blocks_per_group)) as usize;
                if self.groups.get(g).is_some_and(|d| d.flags & BG_BLOCK_UNINIT != 0) {
                    return Err(ExtError::Unsupported(format!(
                        "block {b} leaked in group {g}, whose block bitmap is uninitialised \
                         (BLOCK_UNINIT): its repair is not handled"
                    )));
                }
            }
        }
        let saved = cache.clone();
        let r = self.repair_in(xn, progs, &mut Ordered { cache, dev }, rebuild, csum);
        if r.is_err() {
            *cache = saved;
        }
        r
    }

    fn repair_in(
        &self,
        xn: &mut Xn,
        progs: &Table,
        dev: &mut Ordered<'_>,
        rebuild: &Rebuild,
        csum: Option<Csum>,
    ) -> Result<Repaired, ExtError> {
        let sb = &self.sb;
        let bs = sb.block_size as usize;
        let mut out = Repaired::default();
        let mut buf = vec![0u8; bs];
        // Inodes first: an inode's count never waits for anything.
        let sectors = (bs / 512) as u64;
        for root in self.roots(dev)? {
            let owned = self.owned_blocks(xn, progs, dev, root)?;
            dev.read_block(root.block, &mut buf)?;
            let at = root.offset as usize;
            let flags = le32(&buf, at + 32);
            if sb.features[2] & RO_COMPAT_HUGE_FILE != 0 && flags & EXT4_HUGE_FILE_FL != 0 {
                continue;
            }
            let was = le32(&buf, at + 28);
            let now = u32::try_from(owned * sectors).unwrap_or(u32::MAX);
            if was != now && le16(&buf, at + 116) == 0 {
                let ino = self.inode_number(root).unwrap_or(0);
                let mut inode = buf[at..at + sb.inode_size as usize].to_vec();
                inode[28..32].copy_from_slice(&now.to_le_bytes());
                if let Some(c) = &csum {
                    if ino == 0 {
                        return Err(ExtError::Corrupt(format!(
                            "block {} offset {at}: not an inode of the inode tables, its \
                             checksum cannot be sealed",
                            root.block
                        )));
                    }
                    c.seal_inode(ino, &mut inode);
                }
                xn.apply(progs, dev, root, &[Patch { offset: 0, bytes: &inode }], Op::Write, 0)?;
                out.inodes.push((ino, was, now));
            }
        }
        // Bitmaps, then the counts the bitmaps give.
        let mut total = 0u64;
        let mut gd_blocks = Vec::new();
        let mut bitmap = vec![0u8; bs];
        let uninit = |d: &Group| sb.uninit_flags() && d.flags & BG_BLOCK_UNINIT != 0;
        let layout = if self.groups.iter().any(uninit) { Some(self.on_disk(dev)?) } else { None };
        for (g, d) in self.groups.iter().enumerate() {
            let first = sb.group_first(g as u64);
            let last = (first + u64::from(sb.blocks_per_group)).min(sb.blocks);
            if let (true, Some(m)) = (uninit(d), &layout) {
                // Nothing leaked here (refused above); its bitmap is not on disk, its free
                // count is what the static layout leaves.
                total += (first..last).filter(|&b| !m.get(b)).count() as u64;
                continue;
            }
            let buf = &mut bitmap;
            dev.read_block(d.block_bitmap, buf)?;
            // With metadata_csum a crash between the bitmap's write and its descriptor's
            // leaves the checksum recorded there out of date, with or without a leak.
            let stale = match &csum {
                Some(c) => {
                    let mut gd = vec![0u8; bs];
                    let (gd_block, off) = self.desc_at(g);
                    dev.read_block(gd_block, &mut gd)?;
                    let desc = &gd[off..off + sb.desc_size as usize];
                    c.block_bitmap_stored(desc) != c.narrow(c.block_bitmap(buf))
                }
                None => false,
            };
            let mut changed = false;
            for &(b, _, _) in rebuild.differences.iter().filter(|d| d.0 >= first && d.0 < last) {
                let i = (b - first) as usize;
                buf[i / 8] &= !(1 << (i % 8));
                out.leaked.push(b);
                changed = true;
            }
            if changed {
                dev.write_block(d.block_bitmap, buf)?;
            }
            let free = (0..(last - first) as usize)
                .filter(|i| buf[i / 8] >> (i % 8) & 1 == 0)
                .count() as u64;
            total += free;
            let ds = sb.desc_size as usize;
            let (gd_block, off) = self.desc_at(g);
            let mut gd = vec![0u8; bs];
            dev.read_block(gd_block, &mut gd)?;
            let desc = &mut gd[off..off + ds];
            let wide = sb.wide_desc();
            let mut was = u64::from(le16(desc, 12));
            if wide {
                was |= u64::from(le16(desc, 0x2C)) << 16;
            }
            if was != free || stale || (changed && csum.is_some()) {
                desc[12..14].copy_from_slice(&(free as u16).to_le_bytes());
                if wide {
                    desc[0x2C..0x2E].copy_from_slice(&((free >> 16) as u16).to_le_bytes());
                }
                if let Some(c) = &csum {
                    c.set_block_bitmap(desc, buf);
                    c.seal_group_desc(g as u32, desc);
                }
                dev.write_block(gd_block, &gd)?;
                if was != free {
                    out.groups.push((g, was, free));
                }
                if stale {
                    out.bitmap_checksums.push(g);
                }
                gd_blocks.push(gd_block);
            }
            if changed {
                dev.cache.depends(gd_block, d.block_bitmap);
            }
        }
        let sb_block = 1024 / bs as u64;
        let off = 1024 % bs;
        dev.read_block(sb_block, &mut buf)?;
        let wide = sb.features[1] & INCOMPAT_64BIT != 0;
        let mut was = u64::from(le32(&buf, off + 12));
        if wide {
            was |= u64::from(le32(&buf, off + 0x158)) << 32;
        }
        if was != total {
            buf[off + 12..off + 16].copy_from_slice(&(total as u32).to_le_bytes());
            if wide {
                buf[off + 0x158..off + 0x15C]
                    .copy_from_slice(&((total >> 32) as u32).to_le_bytes());
            }
            if csum.is_some() {
                Csum::seal_superblock(&mut buf[off..off + 1024]);
            }
            dev.write_block(sb_block, &buf)?;
            out.superblock = Some((was, total));
            for g in gd_blocks {
                dev.cache.depends(sb_block, g);
            }
        }
        for &b in &out.leaked {
            xn.used.set(b, false);
        }
        Ok(out)
    }

    /// The block holding group `g`'s (primary) descriptor and its offset there.
    fn desc_at(&self, g: usize) -> (u64, usize) {
        let bs = u64::from(self.sb.block_size);
        let at = g as u64 * u64::from(self.sb.desc_size);
        (self.sb.first_data_block + 1 + at / bs, (at % bs) as usize)
    }

    /// Blocks `obj`'s tree owns: its extents and, below its metadata blocks, theirs.
    fn owned_blocks(
        &self,
        xn: &mut Xn,
        progs: &Table,
        dev: &mut dyn BlockDevice,
        obj: Obj,
    ) -> Result<u64, ExtError> {
        let mut total = 0u64;
        let mut stack = vec![(obj, 0u32)];
        let mut buf = vec![0u8; self.sb.block_size as usize];
        while let Some((o, depth)) = stack.pop() {
            dev.read_block(o.block, &mut buf)?;
            let extents = xn.owned(progs, o.template, &buf[o.offset as usize..])?;
            for e in extents {
                total += e.count;
                let k = xn.templates[o.template.0 as usize].kinds.get(e.kind as usize).copied();
                if let (Some(ExtentKind::Meta(t)), true) = (k, depth < 8) {
                    for b in e.start..e.start.saturating_add(e.count) {
                        stack.push((Obj { block: b, offset: 0, template: t }, depth + 1));
                    }
                }
            }
        }
        Ok(total)
    }
}
