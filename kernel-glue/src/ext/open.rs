//! Opening an image: the static layout, the roots, the on-disk bitmaps, the templates over the
//! corpus owns-udfs, and free-map reconstruction.

use super::*;

impl ExtFs {
    /// Reads the superblock and group descriptors of the file system on `dev`, whose blocks
    /// must be the file system's, and picks the `flavor` of inode udf.
    pub fn open(dev: &mut dyn BlockDevice, flavor: Flavor) -> Result<ExtFs, ExtError> {
        let mut b = vec![0u8; 1024];
        read_bytes(dev, 1024, &mut b)?;
        let sb = Superblock::parse(&b)?;
        if dev.block_size() != sb.block_size as usize {
            return Err(ExtError::BlockSize { device: dev.block_size(), fs: sb.block_size });
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
                if wide { u64::from(le32(d, at)) << 32 } else { 0 }
            };
            let grp = Group {
                block_bitmap: u64::from(le32(d, 0)) | hi(0x20),
                inode_bitmap: u64::from(le32(d, 4)) | hi(0x24),
                inode_table: u64::from(le32(d, 8)) | hi(0x28),
                free_blocks: u32::from(le16(d, 12))
                    | if wide { u32::from(le16(d, 0x2C)) << 16 } else { 0 },
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
        let reserved =
            if sb.features[0] & COMPAT_RESIZE_INODE != 0 { 0 } else { u64::from(sb.reserved_gdt) };
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
        let g = self.groups.get((i / ipg) as usize).ok_or(ExtError::Inode(ino))?;
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
                // The kernel's bitmap of such a group also marks the reserved descriptor
                // blocks of a backup (the resize inode owns them).
                if sb.has_super(g as u64) {
                    let from = first + 1 + sb.gdt_blocks();
                    for b in from..(from + u64::from(sb.reserved_gdt)).min(last) {
                        m.set(b, true);
                    }
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
        let sfx = if self.sb.block_size == 1024 { "1k" } else { "4k" };
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
            ExtentKind::Data,
            ExtentKind::Meta(template::IND1),
            ExtentKind::Meta(template::IND2),
            ExtentKind::Meta(template::IND3),
            ExtentKind::Shared,
        ];
        if self.flavor == Flavor::Ext4 {
            kinds.push(ExtentKind::Meta(template::NODE));
        }
        let count = if self.flavor == Flavor::Ext4 { 5 } else { 4 };
        let mut templates = Vec::new();
        // The inodes' acl-udf (`corpus/fs/acl.udf`), when installed: asked for every change
        // of an inode, with the principal of the request.
        let acl_name = format!("{}_inode_acl", self.flavor.name());
        let acl = progs.find(&acl_name);
        // Its size-udf (`corpus/fs/size.udf`), when installed: the file's size in bytes.
        let size_udf = progs.find(&format!("{}_inode_size", self.flavor.name()));
        for name in &names[..count] {
            let id = progs.find(name).ok_or_else(|| ExtError::MissingUdf(name.clone()))?;
            let size = progs
                .get(id)
                .and_then(|p| p.ctx_size())
                .ok_or_else(|| ExtError::MissingUdf(name.clone()))?;
            templates.push(Template {
                name: name.clone(),
                size,
                owns: id,
                acl: if templates.is_empty() { acl } else { None },
                size_udf: if templates.is_empty() { size_udf } else { None },
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
            let left = self.sb.inodes.saturating_sub(g as u32 * self.sb.inodes_per_group);
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
        Ok(Rebuild { rebuilt, on_disk, differences })
    }
}
