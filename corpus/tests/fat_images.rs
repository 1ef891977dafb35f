//! FAT12, FAT16 and FAT32 images from `mkfs.fat` + mtools over the generated tree (with a chain
//! fragmented by deleting and copying again): the owns-udfs of `fat.udf` (run on the interpreter
//! and the JIT, which must agree) are checked against the FAT and directories parsed in Rust:
//! - each FAT unit (FAT12: a 3-sector group; FAT16/32: a sector) owns exactly the next cluster
//!   of each of its entries that links to one, in entry order;
//! - each directory sector reached from the root owns exactly the first cluster of each of its
//!   files and directories, in entry order, with the kind saying which;
//! - together (with the FAT32 root cluster, the boot sector's) they own every allocated cluster
//!   exactly once, and nothing else;
//! - every file's chain is owned link by link: its first cluster by its directory entry's
//!   sector, each later one by the FAT unit holding the previous cluster's entry; a file's chain
//!   is as long as its size needs.
//!
//! On FAT32 the 4 reserved high bits of every used entry are set first (allowed, and left 0 by
//! the tools), so the udf must mask them.
//!
//! Missing dosfstools or mtools fail these tests: nothing is skipped.

mod common;

use common::Engines;
use std::collections::{BTreeSet, HashMap};
use udf_corpus::fat::{self, FatType, FatVolume, Spec};
use udf_corpus::walk::{self, Extent, FAT_DIR, FAT_FILE, FAT_NEXT};
use udf_corpus::{TempDir, tree};

/// Who owns a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    /// The boot sector (FAT32's root directory).
    Boot,
    /// A FAT unit.
    Fat(usize),
    /// A directory sector (absolute sector number).
    Dir(u64),
}

fn check(spec: Spec) {
    let mut eng = Engines::load(&["fat.udf"]);
    let name = format!("fat{}", spec.fat.bits());
    let dir = TempDir::new(&name).unwrap();
    let (src, extra) = (dir.path().join("tree"), dir.path().join("extra"));
    std::fs::create_dir(&src).unwrap();
    std::fs::create_dir(&extra).unwrap();
    let t = tree::fat_tree(&src, &extra).unwrap();
    let path = dir.path().join("fat.img");
    fat::build(spec, &t, &path).unwrap_or_else(|e| panic!("{name}: {e}"));
    fat::set_reserved_bits(&path).unwrap(); // FAT32: entries' top 4 bits, to be masked
    let vol = FatVolume::open(&path).unwrap();
    assert_eq!(vol.boot.fat, spec.fat, "{name}: mkfs.fat made another type");
    for n in 1..vol.boot.fats {
        assert!(vol.fat_copy(n).unwrap() == vol.fat_bytes(), "{name}: FAT copy {n} differs");
    }
    let entries = vol.entries().unwrap();
    let owned =
        walk::fat(&vol, &mut |n, b| eng.owns(n, b)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut bad = Vec::new();

    // FAT units against the FAT read in Rust.
    let per_unit = vol.boot.fat.entries_per_unit();
    let entries_in_fat = (vol.fat_bytes().len() as u64 * 8 / u64::from(spec.fat.bits())) as u32;
    for (u, got) in owned.fat_units.iter().enumerate() {
        let first = u as u32 * per_unit;
        let want: Vec<Extent> = (first..(first + per_unit).min(entries_in_fat))
            .map(|c| vol.entry(c))
            .filter(|&v| vol.is_link(v))
            .map(|v| (u64::from(v), 1, FAT_NEXT))
            .collect();
        if *got != want {
            bad.push(format!("FAT unit {u}: udf {got:?}, FAT {want:?}"));
        }
    }

    // Directory sectors against the directories read in Rust; every directory visited.
    let mut by_sector: HashMap<u64, Vec<Extent>> = HashMap::new();
    for e in &entries {
        let list = by_sector.entry(e.sector).or_default();
        if e.first_cluster != 0 {
            let kind = if e.is_dir { FAT_DIR } else { FAT_FILE };
            list.push((u64::from(e.first_cluster), 1, kind));
        }
    }
    let mut want_sectors: BTreeSet<u64> = vol.root_sectors().unwrap().into_iter().collect();
    for e in entries.iter().filter(|e| e.is_dir) {
        want_sectors.extend(vol.dir_sectors(e.first_cluster).unwrap());
    }
    let got_sectors: BTreeSet<u64> = owned.dir_sectors.iter().map(|d| d.0).collect();
    if got_sectors != want_sectors || got_sectors.len() != owned.dir_sectors.len() {
        bad.push(format!(
            "directory sectors visited {} times ({} distinct), the directories have {}",
            owned.dir_sectors.len(),
            got_sectors.len(),
            want_sectors.len()
        ));
    }
    for (s, got) in &owned.dir_sectors {
        let want = by_sector.get(s).cloned().unwrap_or_default();
        if *got != want {
            bad.push(format!("directory sector {s}: udf {got:?}, directory {want:?}"));
        }
    }

    // Every allocated cluster owned exactly once, and nothing else.
    let mut owner: HashMap<u64, Owner> = HashMap::new();
    let mut claim = |c: u64, who: Owner, bad: &mut Vec<String>| {
        if let Some(prev) = owner.insert(c, who) {
            bad.push(format!("cluster {c} owned by {prev:?} and {who:?}"));
        }
    };
    if spec.fat == FatType::Fat32 {
        claim(u64::from(vol.boot.root_cluster), Owner::Boot, &mut bad);
    }
    for (u, ext) in owned.fat_units.iter().enumerate() {
        for &(c, n, _) in ext {
            assert_eq!(n, 1);
            claim(c, Owner::Fat(u), &mut bad);
        }
    }
    for (s, ext) in &owned.dir_sectors {
        for &(c, n, _) in ext {
            assert_eq!(n, 1);
            claim(c, Owner::Dir(*s), &mut bad);
        }
    }
    let allocated: BTreeSet<u64> = vol.allocated().into_iter().map(u64::from).collect();
    let claimed: BTreeSet<u64> = owner.keys().copied().collect();
    let unowned: Vec<_> = allocated.difference(&claimed).take(10).collect();
    let stray: Vec<_> = claimed.difference(&allocated).take(10).collect();
    if !unowned.is_empty() || !stray.is_empty() {
        bad.push(format!("allocated but not owned: {unowned:?}; owned but free: {stray:?}"));
    }

    // Each chain owned link by link; chains as long as the sizes need.
    let mut fragmented = 0;
    for e in &entries {
        if e.first_cluster == 0 {
            if !e.is_dir && e.size != 0 {
                bad.push(format!("{}: {} bytes and no cluster", e.path, e.size));
            }
            continue;
        }
        let chain = match vol.chain(e.first_cluster) {
            Ok(c) => c,
            Err(err) => {
                bad.push(format!("{}: {err}", e.path));
                continue;
            }
        };
        if !e.is_dir && chain.len() as u64 != u64::from(e.size).div_ceil(vol.boot.cluster_bytes()) {
            bad.push(format!("{}: {} bytes in {} clusters", e.path, e.size, chain.len()));
        }
        fragmented += usize::from(chain.windows(2).any(|w| w[1] != w[0] + 1));
        let head = owner.get(&u64::from(chain[0]));
        if head != Some(&Owner::Dir(e.sector)) {
            bad.push(format!(
                "{}: first cluster {} owned by {head:?}, not its entry's sector {}",
                e.path, chain[0], e.sector
            ));
        }
        for w in chain.windows(2) {
            let want = Owner::Fat(vol.unit_of(w[0]));
            let got = owner.get(&u64::from(w[1]));
            if got != Some(&want) {
                bad.push(format!(
                    "{}: cluster {} (after {}) owned by {got:?}, not {want:?}",
                    e.path, w[1], w[0]
                ));
            }
        }
    }
    eprintln!(
        "{name}: {} clusters allocated, {} entries, {} FAT units, {} directory sectors, {} udf runs on each engine, {fragmented} fragmented chains",
        allocated.len(),
        entries.len(),
        owned.fat_units.len(),
        owned.dir_sectors.len(),
        eng.runs
    );
    common::assert_no_mismatch(&name, &bad);

    // The tree's cases are really there: a fragmented chain, a directory of many clusters, and
    // in the root the volume label, long-name pieces and deleted entries (all owning nothing).
    assert!(fragmented >= 1, "{name}: no fragmented chain");
    let mut attrs: Vec<(u8, u8)> = Vec::new();
    for s in vol.root_sectors().unwrap() {
        let b = vol.read_sectors(s, 1).unwrap();
        attrs.extend(b.chunks(32).map(|e| (e[0], e[11])));
    }
    assert!(
        attrs.iter().any(|&(n, a)| n != 0 && n != 0xE5 && a == 0x08),
        "{name}: no volume label"
    );
    assert!(attrs.iter().any(|&(n, a)| n != 0 && a & 0x3F == 0x0F), "{name}: no long name");
    assert!(attrs.iter().any(|&(n, _)| n == 0xE5), "{name}: no deleted entry");
}

#[test]
fn fat12() {
    check(fat::FAT12);
}

#[test]
fn fat16() {
    check(fat::FAT16);
}

#[test]
fn fat32() {
    check(fat::FAT32);
}
