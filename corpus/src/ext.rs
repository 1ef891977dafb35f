//! ext2/3/4 images: built with `mke2fs -d` from a tree (then edited with `debugfs -w` for what a
//! tree cannot carry), and read back: the superblock, the group descriptors, the inode bitmaps
//! and tables (each in-use inode's first 128 bytes), any block.

use crate::debugfs;
use crate::error::{Error, Result};
use crate::tools::{self, E2FSCK, MKE2FS};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Which file system `mke2fs -t` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// ext2: block maps, no journal.
    Ext2,
    /// ext3: block maps and a journal (itself a block-mapped file).
    Ext3,
    /// ext4: extent trees (`EXTENTS_FL` on every file `mke2fs` makes), 64-bit, flex_bg.
    Ext4,
}

impl Flavor {
    /// The `-t` argument.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Ext2 => "ext2",
            Flavor::Ext3 => "ext3",
            Flavor::Ext4 => "ext4",
        }
    }
}

/// An image to build: file system, block size, size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The file system.
    pub flavor: Flavor,
    /// Bytes per block (1024 or 4096: the block sizes the corpus has owns-udfs for).
    pub block_size: u32,
    /// The image's size in KiB.
    pub size_kib: u64,
}

impl Spec {
    /// A `flavor` image of `size_kib` KiB with `block_size`-byte blocks.
    pub const fn new(flavor: Flavor, block_size: u32, size_kib: u64) -> Spec {
        Spec { flavor, block_size, size_kib }
    }
}

/// ext2 with 1 KiB blocks: 20 MiB, three block groups.
pub const EXT2_1K: Spec = Spec::new(Flavor::Ext2, 1024, 20 * 1024);
/// ext2 with 4 KiB blocks (block maps read by the `_4k` indirect-block udfs).
pub const EXT2_4K: Spec = Spec::new(Flavor::Ext2, 4096, 32 * 1024);
/// ext3 with 1 KiB blocks.
pub const EXT3_1K: Spec = Spec::new(Flavor::Ext3, 1024, 20 * 1024);
/// ext4 with 1 KiB blocks.
pub const EXT4_1K: Spec = Spec::new(Flavor::Ext4, 1024, 20 * 1024);
/// ext4 with 4 KiB blocks.
pub const EXT4_4K: Spec = Spec::new(Flavor::Ext4, 4096, 32 * 1024);

/// A fixed UUID (also the directory hash seed); with `E2FSPROGS_FAKE_TIME` fixing the creation
/// time, what differs between two images of the same tree is the tree's own time stamps.
const UUID: &str = "75df0a8e-6b5c-4a0f-9c34-2d1f0e5a7b61";

/// A value too long for the space inside a 256-byte inode: it goes to an xattr block.
pub const BIG_XATTR_LEN: usize = 600;

/// Builds `img` from `tree` (made by [`crate::tree::ext_tree`]): `mke2fs -q -F -t FS -b BS -d
/// TREE IMG SIZEk`, then with `debugfs -w`: a character device, a block device and a FIFO in
/// `/devices`; a small extended attribute (kept inside the inode) on `/xattr/small`, a
/// [`BIG_XATTR_LEN`]-byte one (an xattr block) on `/xattr/big` and on the fast symlink
/// `/links/fast`; and on ext4, unwritten extents: blocks 8-40 of `/prealloc` and block 1 of
/// `/sparse/fragmented` (inside its depth > 0 tree). `mke2fs -d` itself does not keep unwritten
/// extents (checked with e2fsprogs 1.47.0 on an ext4 host): it copies the data regions
/// `SEEK_DATA`/`SEEK_HOLE` report (an ext4 host reports unwritten extents as holes) and skips
/// blocks of zeros, so a tree file's `fallocate`d range arrives as a hole either way.
pub fn build(spec: Spec, tree: &Path, img: &Path) -> Result<()> {
    let mut mk = MKE2FS.command()?;
    mk.args(["-q", "-F", "-t", spec.flavor.name(), "-b"])
        .arg(spec.block_size.to_string())
        .args(["-U", UUID, "-E", &format!("hash_seed={UUID}"), "-d"])
        .arg(tree)
        .arg(img)
        .arg(format!("{}k", spec.size_kib))
        .env("E2FSPROGS_FAKE_TIME", "1700000000");
    tools::run(&mut mk)?;

    let dir = img.parent().unwrap_or(Path::new("."));
    let value = dir.join("xattr-value");
    std::fs::write(
        &value,
        crate::tree::bytes(99, BIG_XATTR_LEN).iter().map(|b| b'a' + b % 26).collect::<Vec<u8>>(),
    )
    .map_err(|e| Error::io(&value, e))?;
    let v = value.display();
    let mut script = format!(
        "cd /devices\nmknod tty c 4 5\nmknod disk b 8 17\nmknod pipe p\ncd /\n\
         ea_set /xattr/small user.small tiny\n\
         ea_set -f {v} /xattr/big user.big\n\
         ea_set -f {v} /links/fast user.big\n"
    );
    if spec.flavor == Flavor::Ext4 {
        script.push_str("fallocate /prealloc 8 40\nfallocate /sparse/fragmented 1 1\n");
    }
    debugfs::run_script(img, &script, true)?;
    Ok(())
}

/// Runs `e2fsck -fn` on `img` (forced full check, read-only): `Ok` when it finds nothing to
/// fix, else an error carrying its report.
pub fn fsck(img: &Path) -> Result<()> {
    let mut cmd = E2FSCK.command()?;
    tools::run(cmd.arg("-fn").arg(img)).map(|_| ())
}

/// Runs `e2fsck -fn` on `img` and accepts only a silent check: exit status 0 and nothing on
/// stdout but the five `Pass N:` lines, the summary and e2fsck's extent-tree optimisation hints
/// (`extent tree (at level N) could be narrower` / `shorter`, which it marks as not a fix: the
/// kernel's own trees get them after frees). `e2fsck -n` exits 0 after some problems it was told
/// not to fix (a group descriptor checksum it `IGNORED`): this refuses those.
pub fn fsck_strict(img: &Path) -> Result<()> {
    let mut cmd = E2FSCK.command()?;
    cmd.arg("-fn").arg(img);
    let line = tools::command_line(&cmd);
    let out = tools::run(&mut cmd)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary = |l: &str| l.contains(" files (") && l.ends_with(" blocks");
    let extra: Vec<&str> = stdout
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("Pass ") && !summary(l))
        .filter(|l| {
            let hint = l.contains(" extent tree (at level ")
                && (l.contains(") could be narrower.  Optimize? no")
                    || l.contains(") could be shorter.  Optimize? no"));
            !hint
        })
        .collect();
    if extra.is_empty() {
        return Ok(());
    }
    Err(Error::ToolFailed {
        command: line,
        status: "exit status 0, with problems reported".into(),
        stderr: stdout.into_owned(),
    })
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// `INCOMPAT_EXTENTS`: files may use extent trees.
pub const INCOMPAT_EXTENTS: u32 = 0x40;
/// `INCOMPAT_64BIT`: 64-bit block numbers, group descriptors of `s_desc_size` bytes.
pub const INCOMPAT_64BIT: u32 = 0x80;
/// `EXT4_BG_INODE_UNINIT`: the group's inode bitmap and table are not initialised (all free).
pub const BG_INODE_UNINIT: u16 = 0x1;

/// The superblock fields the reader needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Superblock {
    /// `s_inodes_count`.
    pub inodes_count: u32,
    /// `s_blocks_count` (with the high half on 64-bit file systems).
    pub blocks_count: u64,
    /// `s_first_data_block`: 1 with 1 KiB blocks, else 0.
    pub first_data_block: u32,
    /// Bytes per block (`1024 << s_log_block_size`).
    pub block_size: u32,
    /// `s_blocks_per_group`.
    pub blocks_per_group: u32,
    /// `s_inodes_per_group`.
    pub inodes_per_group: u32,
    /// `s_inode_size` (128 on revision 0).
    pub inode_size: u16,
    /// `s_first_ino`: the first inode not reserved.
    pub first_ino: u32,
    /// `s_feature_compat`.
    pub feature_compat: u32,
    /// `s_feature_incompat`.
    pub feature_incompat: u32,
    /// `s_feature_ro_compat`.
    pub feature_ro_compat: u32,
    /// Bytes per group descriptor (32, or `s_desc_size` on 64-bit file systems).
    pub desc_size: u32,
}

impl Superblock {
    /// Parses the 1024 bytes at offset 1024 of the image.
    pub fn parse(b: &[u8]) -> Result<Superblock> {
        if b.len() < 1024 || le16(b, 56) != 0xEF53 {
            return Err(Error::Format("no ext2/3/4 superblock (magic 0xEF53 at 1024 + 56)".into()));
        }
        let log = le32(b, 24);
        if log > 6 {
            return Err(Error::Format(format!("s_log_block_size {log} is out of range")));
        }
        let rev = le32(b, 76);
        let incompat = le32(b, 96);
        let is64 = incompat & INCOMPAT_64BIT != 0;
        let sb = Superblock {
            inodes_count: le32(b, 0),
            blocks_count: u64::from(le32(b, 4))
                | if is64 { u64::from(le32(b, 0x150)) << 32 } else { 0 },
            first_data_block: le32(b, 20),
            block_size: 1024 << log,
            blocks_per_group: le32(b, 32),
            inodes_per_group: le32(b, 40),
            inode_size: if rev == 0 { 128 } else { le16(b, 88) },
            first_ino: if rev == 0 { 11 } else { le32(b, 84) },
            feature_compat: le32(b, 92),
            feature_incompat: incompat,
            feature_ro_compat: le32(b, 100),
            desc_size: if is64 { u32::from(le16(b, 254)) } else { 32 },
        };
        if sb.blocks_per_group == 0 || sb.inodes_per_group == 0 || sb.inode_size < 128 {
            return Err(Error::Format(format!("implausible superblock: {sb:?}")));
        }
        if sb.desc_size < 32 || !sb.desc_size.is_power_of_two() {
            return Err(Error::Format(format!("group descriptor size {}", sb.desc_size)));
        }
        Ok(sb)
    }

    /// Number of block groups.
    pub fn groups(&self) -> u64 {
        (self.blocks_count - u64::from(self.first_data_block))
            .div_ceil(u64::from(self.blocks_per_group))
    }

    /// Whether files may use extent trees.
    pub fn has_extents(&self) -> bool {
        self.feature_incompat & INCOMPAT_EXTENTS != 0
    }
}

/// A group descriptor's locations and flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupDesc {
    /// `bg_block_bitmap`.
    pub block_bitmap: u64,
    /// `bg_inode_bitmap`.
    pub inode_bitmap: u64,
    /// `bg_inode_table`.
    pub inode_table: u64,
    /// `bg_flags`.
    pub flags: u16,
}

impl GroupDesc {
    /// Parses one descriptor of `desc_size` bytes (the high halves only when it has 64).
    pub fn parse(b: &[u8]) -> GroupDesc {
        let hi = |at: usize| {
            if b.len() >= 64 { u64::from(le32(b, at)) << 32 } else { 0 }
        };
        GroupDesc {
            block_bitmap: u64::from(le32(b, 0)) | hi(0x20),
            inode_bitmap: u64::from(le32(b, 4)) | hi(0x24),
            inode_table: u64::from(le32(b, 8)) | hi(0x28),
            flags: le16(b, 18),
        }
    }
}

/// An in-use inode: its number and its first 128 bytes (what `ext2_inode` / `ext4_inode`
/// take; the rest of a larger inode owns nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inode {
    /// The inode number (from 1).
    pub ino: u32,
    /// Its first 128 bytes.
    pub bytes: Vec<u8>,
}

impl Inode {
    /// `i_mode`.
    pub fn mode(&self) -> u16 {
        le16(&self.bytes, 0)
    }

    /// `i_flags`.
    pub fn flags(&self) -> u32 {
        le32(&self.bytes, 32)
    }
}

/// An image opened for reading.
#[derive(Debug)]
pub struct ExtImage {
    path: PathBuf,
    file: File,
    /// The superblock.
    pub sb: Superblock,
    /// The group descriptors.
    pub groups: Vec<GroupDesc>,
}

impl ExtImage {
    /// Opens `path` and reads its superblock and group descriptors.
    pub fn open(path: &Path) -> Result<ExtImage> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut raw = vec![0; 1024];
        file.read_exact_at(&mut raw, 1024).map_err(|e| Error::io(path, e))?;
        let sb = Superblock::parse(&raw)?;
        let mut img = ExtImage { path: path.to_path_buf(), file, sb, groups: Vec::new() };
        let n = img.sb.groups();
        let ds = u64::from(img.sb.desc_size);
        let gdt = img.read_at(
            (u64::from(img.sb.first_data_block) + 1) * u64::from(img.sb.block_size),
            (n * ds) as usize,
        )?;
        img.groups = gdt.chunks(ds as usize).map(GroupDesc::parse).collect();
        Ok(img)
    }

    /// The image's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0; len];
        self.file.read_exact_at(&mut buf, offset).map_err(|e| Error::io(&self.path, e))?;
        Ok(buf)
    }

    /// Block `n` (an error past the file system's end).
    pub fn read_block(&self, n: u64) -> Result<Vec<u8>> {
        if n >= self.sb.blocks_count {
            return Err(Error::Format(format!(
                "block {n} is past the end ({} blocks)",
                self.sb.blocks_count
            )));
        }
        let bs = u64::from(self.sb.block_size);
        self.read_at(n * bs, bs as usize)
    }

    /// Inode `ino`'s first 128 bytes.
    pub fn inode(&self, ino: u32) -> Result<Inode> {
        if ino == 0 || ino > self.sb.inodes_count {
            return Err(Error::Format(format!("no inode {ino}")));
        }
        let i = u64::from(ino - 1);
        let ipg = u64::from(self.sb.inodes_per_group);
        let g = &self.groups[(i / ipg) as usize];
        let off = g.inode_table * u64::from(self.sb.block_size)
            + (i % ipg) * u64::from(self.sb.inode_size);
        Ok(Inode { ino, bytes: self.read_at(off, 128)? })
    }

    /// The inodes the inode bitmaps mark in use, in order (the reserved ones 1 to
    /// `s_first_ino - 1` included: their bits are set even when they are empty).
    pub fn used_inodes(&self) -> Result<Vec<u32>> {
        let ipg = self.sb.inodes_per_group;
        let mut out = Vec::new();
        for (g, desc) in self.groups.iter().enumerate() {
            if desc.flags & BG_INODE_UNINIT != 0 {
                continue;
            }
            let bitmap = self.read_block(desc.inode_bitmap)?;
            for i in 0..ipg {
                if bitmap[(i / 8) as usize] >> (i % 8) & 1 == 1 {
                    out.push(g as u32 * ipg + i + 1);
                }
            }
        }
        Ok(out)
    }

    /// Every in-use inode with its first 128 bytes.
    pub fn inodes(&self) -> Result<Vec<Inode>> {
        self.used_inodes()?.into_iter().map(|i| self.inode(i)).collect()
    }
}

/// The generated tree (`tree::ext_tree`) in an image of `spec`, in a fresh temporary
/// directory named after `tag`: the directory (the image lives as long as it does) and the
/// image's path.
pub fn build_tree_image(spec: Spec, tag: &str) -> Result<(crate::TempDir, PathBuf)> {
    let dir = crate::TempDir::new(tag)?;
    let src = dir.path().join("tree");
    std::fs::create_dir(&src).map_err(|e| Error::io(&src, e))?;
    crate::tree::ext_tree(&src)?;
    let img = dir.path().join("fs.img");
    build(spec, &src, &img)?;
    Ok((dir, img))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TempDir, debugfs, tree};

    fn image(spec: Spec) -> (TempDir, PathBuf) {
        build_tree_image(spec, "ext-unit").unwrap()
    }

    #[test]
    fn images_read_back_and_keep_their_holes() {
        for spec in [EXT2_1K, EXT2_4K, EXT3_1K, EXT4_1K, EXT4_4K] {
            let (_dir, path) = image(spec);
            let img = ExtImage::open(&path).unwrap();
            assert_eq!(img.sb.block_size, spec.block_size);
            assert_eq!(img.sb.blocks_count * u64::from(spec.block_size), spec.size_kib * 1024);
            assert_eq!(img.sb.has_extents(), spec.flavor == Flavor::Ext4);
            let used = img.used_inodes().unwrap();
            assert!(used.len() > tree::BIG_DIR_ENTRIES, "{spec:?}: {} inodes", used.len());
            let inos = debugfs::inode_numbers(
                &path,
                &["/sparse/triple", "/sparse/all_hole", "/", "/links/fast"],
            )
            .unwrap();
            assert_eq!(inos[2], 2);
            for i in &inos {
                assert!(used.contains(i), "{spec:?}: inode {i} not marked in use");
            }
            let root = img.inode(2).unwrap();
            assert_eq!(root.mode() & 0xF000, 0x4000);
            let l = debugfs::listings(&path, &inos).unwrap();
            // 5 KiB of data at 0, 300 K, 65804 K and 70 M: a handful of blocks, not 70 MiB.
            let triple = &l[&inos[0]];
            let expect = match (spec.flavor, spec.block_size) {
                (Flavor::Ext4, 1024) => 5,
                (Flavor::Ext4, _) => 4,
                (_, 1024) => 11, // 5 data; DIND + IND for 300; TIND, DIND, 2 IND past 65804
                _ => 8,          // 4 data; IND for block 75; DIND and 2 IND for 16451, 17920
            };
            assert_eq!(triple.blocks.len(), expect, "{spec:?}: {triple:?}");
            assert!(l[&inos[1]].blocks.is_empty());
            assert_eq!(l[&inos[3]].iblock, debugfs::IBlock::FastLink);
            assert_ne!(l[&inos[3]].file_acl, 0, "the fast link's xattr block");
        }
    }

    #[test]
    fn superblock_fields() {
        let mut b = vec![0u8; 1024];
        b[56..58].copy_from_slice(&0xEF53u16.to_le_bytes());
        b[0..4].copy_from_slice(&5120u32.to_le_bytes());
        b[4..8].copy_from_slice(&20480u32.to_le_bytes());
        b[20..24].copy_from_slice(&1u32.to_le_bytes());
        b[32..36].copy_from_slice(&8192u32.to_le_bytes());
        b[40..44].copy_from_slice(&1712u32.to_le_bytes());
        b[76..80].copy_from_slice(&1u32.to_le_bytes());
        b[84..88].copy_from_slice(&11u32.to_le_bytes());
        b[88..90].copy_from_slice(&256u16.to_le_bytes());
        let sb = Superblock::parse(&b).unwrap();
        assert_eq!(sb.block_size, 1024);
        assert_eq!(sb.groups(), 3);
        assert_eq!(sb.inode_size, 256);
        assert_eq!(sb.desc_size, 32);
        assert!(!sb.has_extents());
        b[56] = 0;
        assert!(Superblock::parse(&b).is_err());
    }
}
