//! FAT12/16/32 images: built with `mkfs.fat -C` and filled with mtools (`mmd`, `mcopy`, `mdel`),
//! and read back in plain Rust: the boot sector, the first FAT, cluster chains, and the
//! directory tree from the root (the oracle the FAT owns-udfs are checked against).

use crate::error::{Error, Result};
use crate::tools::{self, MCOPY, MDEL, MKFS_FAT, Tool};
use crate::tree::FatTree;
use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// `mmd` (mtools).
const MMD: Tool = Tool { name: "mmd", package: "mtools" };

/// The FAT's entry width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FatType {
    /// 12-bit entries.
    Fat12,
    /// 16-bit entries.
    Fat16,
    /// 32-bit entries (28 bits used).
    Fat32,
}

/// An image to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The FAT type (`mkfs.fat -F`).
    pub fat: FatType,
    /// Sectors (of 512 bytes) per cluster (`-s`).
    pub sectors_per_cluster: u32,
    /// The image's size in KiB.
    pub size_kib: u64,
}

/// FAT12: 1600 KiB, 512-byte clusters: 3165 clusters, a FAT of 10 sectors (not a multiple
/// of 3, so the last 3-sector group `fat12_group` reads is padded).
pub const FAT12: Spec = Spec { fat: FatType::Fat12, sectors_per_cluster: 1, size_kib: 1600 };
/// FAT16: 8 MiB, 1 KiB clusters (about 8150; FAT16 needs 4085 to 65524).
pub const FAT16: Spec = Spec { fat: FatType::Fat16, sectors_per_cluster: 2, size_kib: 8 * 1024 };
/// FAT32: 34000 KiB, 512-byte clusters (about 66900: FAT32 needs at least 65525, so this is
/// about the smallest FAT32 volume). The image is mostly unwritten (sparse).
pub const FAT32: Spec = Spec { fat: FatType::Fat32, sectors_per_cluster: 1, size_kib: 34000 };

impl FatType {
    /// The `-F` argument.
    pub fn bits(self) -> u32 {
        match self {
            FatType::Fat12 => 12,
            FatType::Fat16 => 16,
            FatType::Fat32 => 32,
        }
    }

    /// The first value that is not a link: bad cluster (…7); end of chain from …8.
    pub fn bad(self) -> u32 {
        match self {
            FatType::Fat12 => 0xFF7,
            FatType::Fat16 => 0xFFF7,
            FatType::Fat32 => 0x0FFF_FFF7,
        }
    }

    /// How many FAT entries one owns-udf run reads (one unit): 1024 for FAT12 (a group of 3
    /// sectors, see `fat.udf`), 256 for FAT16 and 128 for FAT32 (one 512-byte sector).
    pub fn entries_per_unit(self) -> u32 {
        match self {
            FatType::Fat12 => 1024,
            FatType::Fat16 => 256,
            FatType::Fat32 => 128,
        }
    }

    /// Bytes of one unit.
    pub fn unit_bytes(self) -> usize {
        match self {
            FatType::Fat12 => 1536,
            FatType::Fat16 | FatType::Fat32 => 512,
        }
    }
}

/// Builds `img` from `tree`: `mkfs.fat -F BITS -s SPC -S 512 -i 1234ABCD -n UDFCORPUS
/// --invariant -C IMG SIZE`, then `mmd` for every directory and one `mcopy` per directory
/// with its files (in name order), then the fragmentation steps.
pub fn build(spec: Spec, tree: &FatTree, img: &Path) -> Result<()> {
    let mut mk = MKFS_FAT.command()?;
    mk.args(["-F", &spec.fat.bits().to_string(), "-s"])
        .arg(spec.sectors_per_cluster.to_string())
        .args(["-S", "512", "-i", "1234ABCD", "-n", "UDFCORPUS", "--invariant", "-C"])
        .arg(img)
        .arg(spec.size_kib.to_string());
    tools::run(&mut mk)?;

    let mut dirs = Vec::new();
    let mut files: Vec<(String, Vec<PathBuf>)> = vec![(String::new(), Vec::new())];
    collect(&tree.root, "", &mut dirs, &mut files)?;
    if !dirs.is_empty() {
        let mut md = MMD.command()?;
        md.arg("-i").arg(img);
        md.args(dirs.iter().map(|d| format!("::/{d}")));
        tools::run(&mut md)?;
    }
    for (dir, list) in &files {
        copy(img, list, dir)?;
    }
    copy(img, &tree.then_copy, "")?;
    if !tree.then_delete.is_empty() {
        let mut del = MDEL.command()?;
        del.arg("-i").arg(img);
        del.args(tree.then_delete.iter().map(|n| format!("::/{n}")));
        tools::run(&mut del)?;
    }
    if spec.fat == FatType::Fat32 {
        forget_next_free(img)?;
    }
    copy(img, &tree.finally_copy, "")
}

/// Sets FAT32's FSInfo hint of the next free cluster (`FSI_Nxt_Free`, offset 492 of the sector
/// `BPB_FSInfo` names) to 0xFFFFFFFF, "unknown". mtools allocates from that hint, so without
/// this a file copied after deletions goes past the last allocation instead of into the holes.
fn forget_next_free(img: &Path) -> Result<()> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(img)
        .map_err(|e| Error::io(img, e))?;
    let mut b = [0u8; 512];
    f.read_exact_at(&mut b, 0).map_err(|e| Error::io(img, e))?;
    let fsinfo = u64::from(le16(&b, 48)) * 512;
    f.read_exact_at(&mut b, fsinfo).map_err(|e| Error::io(img, e))?;
    if le32(&b, 0) != 0x4161_5252 || le32(&b, 484) != 0x6141_7272 {
        return Err(Error::Format("no FAT32 FSInfo sector".into()));
    }
    f.write_all_at(&u32::MAX.to_le_bytes(), fsinfo + 492).map_err(|e| Error::io(img, e))
}

/// Directories (relative, parents first) and the files of each directory, in name order.
fn collect(
    root: &Path,
    rel: &str,
    dirs: &mut Vec<String>,
    files: &mut Vec<(String, Vec<PathBuf>)>,
) -> Result<()> {
    let here = root.join(rel);
    let mut entries: Vec<_> = std::fs::read_dir(&here)
        .map_err(|e| Error::io(&here, e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .map_err(|e| Error::io(&here, e))?;
    entries.sort();
    let mut mine = Vec::new();
    let mut subdirs = Vec::new();
    for p in entries {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let sub = if rel.is_empty() { name } else { format!("{rel}/{name}") };
        if p.is_dir() {
            dirs.push(sub.clone());
            subdirs.push(sub);
        } else {
            mine.push(p);
        }
    }
    if rel.is_empty() {
        files[0].1 = mine;
    } else {
        files.push((rel.to_string(), mine));
    }
    for s in subdirs {
        collect(root, &s, dirs, files)?;
    }
    Ok(())
}

fn copy(img: &Path, list: &[PathBuf], dir: &str) -> Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    let mut cp = MCOPY.command()?;
    cp.arg("-i").arg(img).args(list).arg(format!("::/{dir}"));
    tools::run(&mut cp)?;
    Ok(())
}

/// Sets the 4 reserved high bits of every non-free FAT32 entry, in every FAT copy, as FAT32
/// allows (software must preserve and ignore them; mkfs.fat and mtools leave them 0). Checks
/// that readers mask them. Does nothing on FAT12/16.
pub fn set_reserved_bits(img: &Path) -> Result<()> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(img)
        .map_err(|e| Error::io(img, e))?;
    let mut b = vec![0u8; 512];
    f.read_exact_at(&mut b, 0).map_err(|e| Error::io(img, e))?;
    let boot = BootSector::parse(&b)?;
    if boot.fat != FatType::Fat32 {
        return Ok(());
    }
    let len = boot.fat_sectors as usize * 512;
    for copy in 0..boot.fats {
        let at = u64::from(boot.reserved + copy * boot.fat_sectors) * 512;
        let mut fat = vec![0u8; len];
        f.read_exact_at(&mut fat, at).map_err(|e| Error::io(img, e))?;
        for e in fat.chunks_mut(4).skip(2) {
            if e != [0; 4] {
                e[3] |= 0xA0;
            }
        }
        f.write_all_at(&fat, at).map_err(|e| Error::io(img, e))?;
    }
    Ok(())
}

fn le16(b: &[u8], at: usize) -> u32 {
    u32::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The boot sector's BIOS parameter block, and what follows from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootSector {
    /// Bytes per sector (512 here: the udfs' units are 512-byte sectors).
    pub bytes_per_sector: u32,
    /// Sectors per cluster.
    pub sectors_per_cluster: u32,
    /// Reserved sectors (the first FAT starts after them).
    pub reserved: u32,
    /// Number of FATs.
    pub fats: u32,
    /// Root directory entries (FAT12/16; 0 on FAT32).
    pub root_entries: u32,
    /// Total sectors.
    pub total_sectors: u32,
    /// Sectors per FAT.
    pub fat_sectors: u32,
    /// The root directory's first cluster (FAT32; 0 otherwise).
    pub root_cluster: u32,
    /// Data clusters (numbered 2 to `clusters + 1`).
    pub clusters: u32,
    /// The type, from the cluster count (as the specification decides it).
    pub fat: FatType,
}

impl BootSector {
    /// Parses sector 0.
    pub fn parse(b: &[u8]) -> Result<BootSector> {
        if b.len() < 512 || b[510] != 0x55 || b[511] != 0xAA {
            return Err(Error::Format("no boot sector signature 0x55 0xAA".into()));
        }
        let bps = le16(b, 11);
        let spc = u32::from(b[13]);
        let reserved = le16(b, 14);
        let fats = u32::from(b[16]);
        let root_entries = le16(b, 17);
        let total = match le16(b, 19) {
            0 => le32(b, 32),
            n => n,
        };
        let fat_sectors = match le16(b, 22) {
            0 => le32(b, 36),
            n => n,
        };
        if bps != 512 || spc == 0 || fats == 0 || fat_sectors == 0 {
            return Err(Error::Format(format!(
                "unsupported geometry: {bps} bytes/sector, {spc} sectors/cluster, {fats} FATs of {fat_sectors} sectors"
            )));
        }
        let root_sectors = (root_entries * 32).div_ceil(bps);
        let meta = reserved + fats * fat_sectors + root_sectors;
        let clusters = total
            .checked_sub(meta)
            .ok_or_else(|| Error::Format("metadata larger than the volume".into()))?
            / spc;
        let fat = if clusters < 4085 {
            FatType::Fat12
        } else if clusters < 65525 {
            FatType::Fat16
        } else {
            FatType::Fat32
        };
        Ok(BootSector {
            bytes_per_sector: bps,
            sectors_per_cluster: spc,
            reserved,
            fats,
            root_entries,
            total_sectors: total,
            fat_sectors,
            root_cluster: if fat == FatType::Fat32 { le32(b, 44) } else { 0 },
            clusters,
            fat,
        })
    }

    /// The first sector of the FAT12/16 root directory (or of the data area on FAT32).
    pub fn root_dir_sector(&self) -> u64 {
        u64::from(self.reserved + self.fats * self.fat_sectors)
    }

    /// The first sector of the data area (cluster 2).
    pub fn data_sector(&self) -> u64 {
        self.root_dir_sector() + u64::from((self.root_entries * 32).div_ceil(self.bytes_per_sector))
    }

    /// Bytes per cluster.
    pub fn cluster_bytes(&self) -> u64 {
        u64::from(self.sectors_per_cluster * self.bytes_per_sector)
    }
}

/// One directory entry the Rust reader found (not `.`/`..`, long-name pieces, labels or free
/// entries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// Path from the root, of 8.3 names (`NESTED/A/MID.BIN`).
    pub path: String,
    /// The sector holding the entry (absolute).
    pub sector: u64,
    /// Its index in that sector (0-15).
    pub index: u32,
    /// First cluster (0: none).
    pub first_cluster: u32,
    /// Size in bytes (0 for directories).
    pub size: u32,
    /// Whether it is a directory.
    pub is_dir: bool,
}

/// A volume opened for reading.
#[derive(Debug)]
pub struct FatVolume {
    path: PathBuf,
    file: File,
    /// The boot sector.
    pub boot: BootSector,
    fat: Vec<u8>,
}

impl FatVolume {
    /// Opens `path`: its boot sector and first FAT.
    pub fn open(path: &Path) -> Result<FatVolume> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let mut b = vec![0; 512];
        file.read_exact_at(&mut b, 0).map_err(|e| Error::io(path, e))?;
        let boot = BootSector::parse(&b)?;
        let mut v = FatVolume { path: path.to_path_buf(), file, boot, fat: Vec::new() };
        v.fat = v.read_sectors(u64::from(v.boot.reserved), u64::from(v.boot.fat_sectors))?;
        let need = match v.boot.fat {
            FatType::Fat12 => (v.boot.clusters as usize + 2) * 3 / 2 + 1,
            FatType::Fat16 => (v.boot.clusters as usize + 2) * 2,
            FatType::Fat32 => (v.boot.clusters as usize + 2) * 4,
        };
        if v.fat.len() < need {
            return Err(Error::Format(format!(
                "a FAT of {} bytes cannot hold {} clusters",
                v.fat.len(),
                v.boot.clusters
            )));
        }
        Ok(v)
    }

    /// The image's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `n` sectors from sector `first`.
    pub fn read_sectors(&self, first: u64, n: u64) -> Result<Vec<u8>> {
        if first + n > u64::from(self.boot.total_sectors) {
            return Err(Error::Format(format!("sectors {first}+{n} are past the end")));
        }
        let mut buf = vec![0; (n * 512) as usize];
        self.file.read_exact_at(&mut buf, first * 512).map_err(|e| Error::io(&self.path, e))?;
        Ok(buf)
    }

    /// FAT copy `n` (0 is the first, the one this reader uses).
    pub fn fat_copy(&self, n: u32) -> Result<Vec<u8>> {
        if n >= self.boot.fats {
            return Err(Error::Format(format!("no FAT copy {n}")));
        }
        let first = u64::from(self.boot.reserved + n * self.boot.fat_sectors);
        self.read_sectors(first, u64::from(self.boot.fat_sectors))
    }

    /// The first FAT's bytes.
    pub fn fat_bytes(&self) -> &[u8] {
        &self.fat
    }

    /// The FAT's entry for cluster `c` (masked to 28 bits on FAT32).
    pub fn entry(&self, c: u32) -> u32 {
        let f = &self.fat;
        match self.boot.fat {
            FatType::Fat12 => {
                let at = (c as usize) * 3 / 2;
                let w = le16(f, at);
                if c.is_multiple_of(2) { w & 0xFFF } else { w >> 4 }
            }
            FatType::Fat16 => le16(f, 2 * c as usize),
            FatType::Fat32 => le32(f, 4 * c as usize) & 0x0FFF_FFFF,
        }
    }

    /// Whether `v` links to another cluster (2 <= v < bad).
    pub fn is_link(&self, v: u32) -> bool {
        v >= 2 && v < self.boot.fat.bad()
    }

    /// The clusters in use: those whose FAT entry is not 0 (free) nor the bad-cluster mark.
    pub fn allocated(&self) -> Vec<u32> {
        (2..self.boot.clusters + 2)
            .filter(|&c| {
                let v = self.entry(c);
                v != 0 && v != self.boot.fat.bad()
            })
            .collect()
    }

    /// The chain from `first`: every cluster until an end-of-chain mark. Errors on a link out
    /// of range, to a free cluster, or back into the chain.
    pub fn chain(&self, first: u32) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut c = first;
        loop {
            if c < 2 || c >= self.boot.clusters + 2 || !seen.insert(c) {
                return Err(Error::Format(format!(
                    "chain from {first} reaches {c} (after {out:?})"
                )));
            }
            out.push(c);
            let v = self.entry(c);
            if self.is_link(v) {
                c = v;
            } else if v > self.boot.fat.bad() {
                return Ok(out);
            } else {
                return Err(Error::Format(format!(
                    "chain from {first}: cluster {c} has FAT entry {v:#x}"
                )));
            }
        }
    }

    /// The sectors of cluster `c`.
    pub fn cluster_sectors(&self, c: u32) -> std::ops::Range<u64> {
        let spc = u64::from(self.boot.sectors_per_cluster);
        let s = self.boot.data_sector() + u64::from(c - 2) * spc;
        s..s + spc
    }

    /// The sectors of the root directory: the fixed region (FAT12/16) or the root cluster's
    /// chain (FAT32).
    pub fn root_sectors(&self) -> Result<Vec<u64>> {
        if self.boot.fat == FatType::Fat32 {
            self.dir_sectors(self.boot.root_cluster)
        } else {
            let s = self.boot.root_dir_sector();
            Ok((s..self.boot.data_sector()).collect())
        }
    }

    /// The sectors of the directory whose chain starts at `first`.
    pub fn dir_sectors(&self, first: u32) -> Result<Vec<u64>> {
        Ok(self.chain(first)?.into_iter().flat_map(|c| self.cluster_sectors(c)).collect())
    }

    /// The FAT as owns-udf units (`fat12_group` / `fat16_sector` / `fat32_sector` inputs):
    /// unit `u` holds entries `u * entries_per_unit ..`; the last one is padded with zeros.
    pub fn fat_units(&self) -> Vec<Vec<u8>> {
        let n = self.boot.fat.unit_bytes();
        self.fat
            .chunks(n)
            .map(|c| {
                let mut v = c.to_vec();
                v.resize(n, 0);
                v
            })
            .collect()
    }

    /// The unit holding cluster `c`'s entry.
    pub fn unit_of(&self, c: u32) -> usize {
        (c / self.boot.fat.entries_per_unit()) as usize
    }

    /// Every directory entry below the root (depth first, in directory order), parsed here.
    pub fn entries(&self) -> Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        self.read_dir("", &self.root_sectors()?, &mut out, &mut seen)?;
        Ok(out)
    }

    fn read_dir(
        &self,
        prefix: &str,
        sectors: &[u64],
        out: &mut Vec<DirEntry>,
        seen: &mut HashSet<u32>,
    ) -> Result<()> {
        for &s in sectors {
            let b = self.read_sectors(s, 1)?;
            for (i, e) in b.chunks(32).enumerate() {
                match e[0] {
                    0x00 => return Ok(()),
                    0xE5 | b'.' => continue,
                    _ => {}
                }
                let attr = e[11];
                if attr & 0x3F == 0x0F || attr & 0x08 != 0 {
                    continue;
                }
                let first = (le16(e, 20) << 16) | le16(e, 26);
                let is_dir = attr & 0x10 != 0;
                let path = format!("{prefix}{}", short_name(e));
                out.push(DirEntry {
                    path: path.clone(),
                    sector: s,
                    index: i as u32,
                    first_cluster: first,
                    size: le32(e, 28),
                    is_dir,
                });
                if is_dir {
                    if !seen.insert(first) {
                        return Err(Error::Format(format!(
                            "directory {path} ({first}) is reached twice"
                        )));
                    }
                    self.read_dir(&format!("{path}/"), &self.dir_sectors(first)?, out, seen)?;
                }
            }
        }
        Ok(())
    }
}

/// `NAME.EXT` from an entry's 11 name bytes.
fn short_name(e: &[u8]) -> String {
    let part = |b: &[u8]| String::from_utf8_lossy(b).trim_end().to_string();
    let (name, ext) = (part(&e[0..8]), part(&e[8..11]));
    if ext.is_empty() { name } else { format!("{name}.{ext}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TempDir, tree};

    #[test]
    fn volumes_read_back_with_a_fragmented_chain() {
        for spec in [FAT12, FAT16, FAT32] {
            let dir = TempDir::new("fat-unit").unwrap();
            let (t, x) = (dir.path().join("tree"), dir.path().join("extra"));
            std::fs::create_dir(&t).unwrap();
            std::fs::create_dir(&x).unwrap();
            let ft = tree::fat_tree(&t, &x).unwrap();
            let img = dir.path().join("fat.img");
            build(spec, &ft, &img).unwrap();
            let v = FatVolume::open(&img).unwrap();
            assert_eq!(v.boot.fat, spec.fat);
            assert_eq!(v.boot.sectors_per_cluster, spec.sectors_per_cluster);
            let entries = v.entries().unwrap();
            let find = |p: &str| {
                entries.iter().find(|e| e.path == p).unwrap_or_else(|| panic!("{spec:?}: no {p}"))
            };
            let e = find("FRAG_E.BIN");
            let chain = v.chain(e.first_cluster).unwrap();
            assert_eq!(chain.len() as u64, u64::from(e.size).div_ceil(v.boot.cluster_bytes()));
            assert!(
                chain.windows(2).any(|w| w[1] != w[0] + 1),
                "{spec:?}: {chain:?} is contiguous"
            );
            assert!(!entries.iter().any(|e| e.path == "FRAG_B.BIN"));
            let many = entries.iter().filter(|e| e.path.starts_with("MANY/")).count();
            assert_eq!(many, tree::FAT_DIR_ENTRIES);
            assert!(v.dir_sectors(find("MANY").first_cluster).unwrap().len() > 16);
            if spec.fat == FatType::Fat12 {
                assert!(*v.allocated().last().unwrap() > 1024, "FAT12's second group unused");
            }
        }
    }

    #[test]
    fn fat12_entries_straddle_bytes() {
        // Entries 0..4 = 0xFF8, 0xFFF, 0x003, 0xFFF: F8 FF FF 03 F0 FF.
        let mut fat = vec![0xF8, 0xFF, 0xFF, 0x03, 0xF0, 0xFF];
        fat.resize(1536, 0);
        let boot = BootSector {
            bytes_per_sector: 512,
            sectors_per_cluster: 1,
            reserved: 1,
            fats: 2,
            root_entries: 16,
            total_sectors: 100,
            fat_sectors: 3,
            root_cluster: 0,
            clusters: 80,
            fat: FatType::Fat12,
        };
        let v =
            FatVolume { path: PathBuf::new(), file: File::open("/dev/null").unwrap(), boot, fat };
        assert_eq!([0, 1, 2, 3].map(|c| v.entry(c)), [0xFF8, 0xFFF, 0x003, 0xFFF]);
        assert_eq!(v.chain(2).unwrap(), [2, 3]);
        assert!(v.chain(4).is_err());
        assert_eq!(v.allocated(), [2, 3]);
        assert_eq!(v.unit_of(1023), 0);
        assert_eq!(v.unit_of(1024), 1);
    }
}
