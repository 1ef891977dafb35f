//! `udf xn`: XN on an ext2/ext4 image, as a kernel would run it. The corpus owns-udfs (bundled
//! `corpus/fs/ext2.udf` and `ext4.udf`) are compiled, then installed through the kernel's
//! loader, which re-verifies them; the image is read through the block-device trait.
//!
//! - `rebuild`: the free map from the roots, compared with the image's bitmaps;
//! - `rebuild --repair`: recovery after a crash (leaked blocks, free counts, `i_blocks`);
//! - `alloc` / `free`: one block slot of a block-mapped inode (`--slot`), or the block at a
//!   logical block of a file (`--lblock`: block maps and ext4 extent trees), changed through
//!   XN's checked operations (the acl-udf asked for `--as UID`); the writes go through XN's
//!   write ordering and reach the image file in its order (all of them, or the first
//!   `--crash-after W`) when XN accepts, and nothing is written when it refuses;
//! - `move`: a block from one slot to another, as a free and an allocation with no window
//!   where the block is free.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

use miette::miette;
use serde_json::{Value as Json, json};
use udf_kernel_glue::ext::{
    ExtError, ExtFs, Flavor, LblockRequest, MoveRequest, SlotRequest, probe_block_size,
};
use udf_kernel_glue::order::Cache;
use udf_kernel_glue::xn::{Refusal, Xn};
use udf_kernel_glue::{BlockDevice, MemDevice, Table};

use crate::input::{Failure, read};

/// The bundled udfs XN's ext templates use: the owns-udfs, the inodes' acl-udf and size-udf.
const SOURCES: [(&str, &str); 4] = [
    ("corpus/fs/ext2.udf", include_str!("../../corpus/fs/ext2.udf")),
    ("corpus/fs/ext4.udf", include_str!("../../corpus/fs/ext4.udf")),
    ("corpus/fs/acl.udf", include_str!("../../corpus/fs/acl.udf")),
    ("corpus/fs/size.udf", include_str!("../../corpus/fs/size.udf")),
];

/// The kernel's program table with the bundled udfs compiled and every entry installed
/// through the loader (XN's templates find them by name).
pub fn install_udfs() -> Result<Table, Failure> {
    let mut table = Table::new();
    for (path, src) in SOURCES {
        let module = udf_compiler::compile(path, src).map_err(|d| Failure::compile(&d))?;
        for e in module.entries {
            table.install_bytecode(&e.name, e.ty, e.ctx_size, &e.prog).map_err(|err| {
                Failure::refused(miette!(
                    code = "udf::kernel::refused",
                    "the kernel refused {path}'s `{}`: {err}",
                    e.name
                ))
            })?;
        }
    }
    Ok(table)
}

fn refused(e: &ExtError) -> Failure {
    match e {
        ExtError::Refused(_) | ExtError::SlotRefused(_) | ExtError::LblockRefused(_) => {
            Failure::refused(miette!(code = "udf::xn::refused", "{e}"))
        }
        ExtError::EmptySlot { .. } => {
            Failure::refused(miette!(code = "udf::xn::empty-slot", "{e}"))
        }
        ExtError::Unmapped { .. } => Failure::refused(miette!(code = "udf::xn::unmapped", "{e}")),
        ExtError::DirectoryHole { .. } => {
            Failure::refused(miette!(code = "udf::xn::directory-hole", "{e}"))
        }
        _ => Failure::usage(miette!(code = "udf::xn::image", "{e}")),
    }
}

/// Parses `--fs`.
pub fn flavor(name: &str) -> Result<Flavor, Failure> {
    match name {
        "ext2" => Ok(Flavor::Ext2),
        "ext4" => Ok(Flavor::Ext4),
        _ => {
            Err(Failure::usage(miette!(code = "udf::usage", "--fs {name}: expected ext2 or ext4")))
        }
    }
}

/// An image opened as the kernel sees it.
pub struct Opened {
    /// The image, in memory.
    pub dev: MemDevice,
    /// Its file system.
    pub fs: ExtFs,
    /// The kernel's programs (the udfs).
    pub table: Table,
    /// XN, its free map rebuilt.
    pub xn: Xn,
    /// What the rebuild found.
    pub rebuild: udf_kernel_glue::ext::Rebuild,
}

/// Reads `image`, opens its file system, installs the udfs and rebuilds XN's free map.
pub fn open(image: &Path, fs: &str) -> Result<Opened, Failure> {
    let flavor = flavor(fs)?;
    let bytes = read(image)?;
    let bs = probe_block_size(&mut MemDevice::new(bytes.clone(), 1024)).map_err(|e| {
        Failure::usage(miette!(code = "udf::xn::image", "{}: {e}", image.display()))
    })?;
    let mut dev = MemDevice::new(bytes, bs as usize);
    let fs = ExtFs::open(&mut dev, flavor).map_err(|e| {
        Failure::usage(miette!(code = "udf::xn::image", "{}: {e}", image.display()))
    })?;
    let table = install_udfs()?;
    let mut xn = fs.xn(&table).map_err(|e| refused(&e))?;
    let rebuild = fs.rebuild(&mut xn, &table, &mut dev).map_err(|e| refused(&e))?;
    Ok(Opened { dev, fs, table, xn, rebuild })
}

/// A run of blocks that differ the same way and are held by the same objects: `(first, last,
/// in use on disk, who holds them now)`.
type DiffRun = (u64, u64, bool, Vec<String>);

/// `udf xn rebuild`: prints the comparison, naming who holds each block that differs (the
/// inode and its slot, or the indirect block and its entry) and the objects of each problem;
/// `Ok(true)` when the maps match and nothing is wrong.
pub fn rebuild(json_out: bool, image: &Path, fs: &str) -> Result<bool, Failure> {
    let mut o = open(image, fs)?;
    let blocks = o.fs.sb.blocks;
    let used = o.rebuild.rebuilt.used.count();
    let ok = o.rebuild.differences.is_empty() && o.rebuild.rebuilt.problems.is_empty();
    let problems: Vec<String> = o
        .rebuild
        .rebuilt
        .problems
        .iter()
        .map(|p| o.fs.describe_problem(&mut o.xn, &o.table, &mut o.dev, p))
        .collect();
    let differing: Vec<u64> = o.rebuild.differences.iter().map(|d| d.0).collect();
    let mut holders = o.fs.holders(&mut o.xn, &o.table, &mut o.dev, &differing);
    let r = &o.rebuild;
    let mut held = |b: u64| holders.remove(&b).unwrap_or_default();
    if json_out {
        let diffs: Vec<Json> = r
            .differences
            .iter()
            .map(|&(b, disk, rebuilt)| {
                json!({"block": b, "on_disk": disk, "rebuilt": rebuilt, "held_by": held(b)})
            })
            .collect();
        crate::output::emit(json!({
            "match": ok, "blocks": blocks, "used": used, "free": blocks - used,
            "roots": r.rebuilt.roots, "objects": r.rebuilt.objects,
            "differences": diffs, "problems": problems,
        }));
        return Ok(ok);
    }
    println!(
        "walked {} inodes and {} metadata blocks: {used} of {blocks} blocks in use, {} free",
        r.rebuilt.roots,
        r.rebuilt.objects - r.rebuilt.roots,
        blocks - used
    );
    for p in &problems {
        println!("problem: {p}");
    }
    // Differences in runs of consecutive blocks that differ the same way and that nothing
    // holds; a block something holds is listed with its holders.
    let mut runs: Vec<DiffRun> = Vec::new();
    for &(b, disk, _) in &r.differences {
        let who = held(b);
        match runs.last_mut() {
            Some(last)
                if last.1 + 1 == b && last.2 == disk && last.3.is_empty() && who.is_empty() =>
            {
                last.1 = b;
            }
            _ => runs.push((b, b, disk, who)),
        }
    }
    for (a, b, disk, who) in runs {
        let which = if a == b { format!("block {a}") } else { format!("blocks {a}-{b}") };
        let holder = if who.is_empty() {
            "no inode holds it".to_string()
        } else {
            format!("held by {}", who.join(", "))
        };
        if disk {
            println!("{which}: in use in the image's bitmap, free in the rebuilt map ({holder})");
        } else {
            println!("{which}: free in the image's bitmap, in use in the rebuilt map ({holder})");
        }
    }
    if ok {
        println!("the rebuilt free map matches the image's bitmaps");
    } else {
        println!("{} difference(s), {} problem(s)", r.differences.len(), r.rebuilt.problems.len());
    }
    Ok(ok)
}

/// `udf xn rebuild --repair`: after a crash under XN's write ordering, releases the leaked
/// blocks the rebuild finds, recomputes the free counts and the inodes' `i_blocks` (with
/// `metadata_csum`, every block changed sealed again, and a block bitmap checksum a crash left
/// out of date in its descriptor recorded again), and writes that through the ordering; `Ok(true)` when the image then matches its rebuilt map. Problems
/// or blocks in use that the bitmaps mark free are refused, the image untouched.
pub fn repair(json_out: bool, image: &Path, fs: &str) -> Result<bool, Failure> {
    let mut o = open(image, fs)?;
    let mut cache = Cache::new(o.dev.block_size());
    let fixed =
        o.fs.repair(&mut o.xn, &o.table, &mut cache, &mut o.dev, &o.rebuild)
            .map_err(|e| Failure::refused(miette!(code = "udf::xn::repair", "{e}")))?;
    let flushed = o.fs.commit(&mut o.xn, &mut cache, &mut o.dev, None).map_err(|e| refused(&e))?;
    write_out(image, &o.dev, &flushed.written)?;
    let again = o.fs.rebuild(&mut o.xn, &o.table, &mut o.dev).map_err(|e| refused(&e))?;
    let ok = again.differences.is_empty() && again.rebuilt.problems.is_empty();
    if json_out {
        crate::output::emit(json!({
            "match": ok, "leaked": fixed.leaked,
            "groups": fixed.groups.iter().map(|g| json!({"group": g.0, "was": g.1, "now": g.2})).collect::<Vec<_>>(),
            "superblock": fixed.superblock.map(|(a, b)| json!({"was": a, "now": b})),
            "inodes": fixed.inodes.iter().map(|i| json!({"inode": i.0, "i_blocks_was": i.1, "i_blocks_now": i.2})).collect::<Vec<_>>(),
            "bitmap_checksums": fixed.bitmap_checksums,
            "blocks_written": flushed.written.len(),
        }));
    } else {
        if fixed.is_empty() {
            println!("nothing to repair");
        }
        for b in &fixed.leaked {
            println!("leaked block {b} released (marked used, no inode holds it)");
        }
        for (g, was, now) in &fixed.groups {
            println!("group {g}: free blocks {was} -> {now}");
        }
        if let Some((was, now)) = fixed.superblock {
            println!("superblock: free blocks {was} -> {now}");
        }
        for (ino, was, now) in &fixed.inodes {
            println!("inode {ino}: i_blocks {was} -> {now}");
        }
        for g in &fixed.bitmap_checksums {
            println!("group {g}: block bitmap checksum recorded again (metadata_csum)");
        }
        println!(
            "{} block(s) written; the rebuilt free map {} the image's bitmaps",
            flushed.written.len(),
            if ok { "matches" } else { "still differs from" }
        );
    }
    Ok(ok)
}

/// Options of `udf xn alloc` and `udf xn free`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SlotOpts {
    /// The extent kind claimed (`None`: the slot's).
    pub kind: Option<u32>,
    /// The principal the acl-udf is asked for (`--as`).
    pub principal: u64,
    /// Perform only this many block writes (`--crash-after`).
    pub crash_after: Option<usize>,
}

/// Writes `blocks` of `dev` to the image file, one by one in that order.
fn write_out(image: &Path, dev: &MemDevice, blocks: &[u64]) -> Result<(), Failure> {
    let bs = dev.block_size();
    let io = |e: std::io::Error| {
        Failure::usage(miette!(code = "udf::io", "cannot write {}: {e}", image.display()))
    };
    let file = OpenOptions::new().write(true).open(image).map_err(io)?;
    for &b in blocks {
        let at = b as usize * bs;
        file.write_all_at(&dev.bytes()[at..at + bs], at as u64).map_err(io)?;
        file.sync_data().map_err(io)?;
    }
    Ok(())
}

/// The refusal of a checked operation, naming the principal when the acl-udf refused.
fn refusal(e: &ExtError, principal: u64) -> Failure {
    match e {
        ExtError::SlotRefused(r) if r.refusal == Refusal::Denied => {
            Failure::refused(miette!(code = "udf::xn::denied", "{e} (principal uid {principal})"))
        }
        ExtError::LblockRefused(r) if r.refusal == Refusal::Denied => {
            Failure::refused(miette!(code = "udf::xn::denied", "{e} (principal uid {principal})"))
        }
        _ => refused(e),
    }
}

/// Refuses an image whose rebuild found problems.
fn consistent(o: &mut Opened) -> Result<(), Failure> {
    if let Some(first) = o.rebuild.rebuilt.problems.first().cloned() {
        let first = o.fs.describe_problem(&mut o.xn, &o.table, &mut o.dev, &first);
        return Err(Failure::refused(miette!(
            code = "udf::xn::inconsistent",
            "the image is inconsistent ({} problem(s), first: {first}): run `udf xn rebuild`",
            o.rebuild.rebuilt.problems.len(),
        )));
    }
    Ok(())
}

/// What an accepted change wrote, reported the same way by every command that writes through
/// XN's ordering: `doc` (JSON) gains the size, the writes and whether the run crashed; the text
/// is `accepted: {head}{grown}{tail}; N block(s) written, in order: ...` and, when writes were
/// left out, the crash line.
struct Accepted<'a> {
    head: String,
    tail: String,
    grown_to: Option<u64>,
    writes: &'a [u64],
    left: usize,
    crash_after: Option<usize>,
}

impl Accepted<'_> {
    fn report(self, json_out: bool, mut doc: Json) {
        let written = self.writes.len();
        if json_out {
            if let Json::Object(m) = &mut doc {
                m.insert("accepted".into(), json!(true));
                m.insert("size".into(), json!(self.grown_to));
                m.insert("blocks_written".into(), json!(written));
                m.insert("writes".into(), json!(self.writes));
                m.insert("crashed".into(), json!(self.crash_after.map(|_| self.left > 0)));
                m.insert("writes_left".into(), json!(self.left));
            }
            crate::output::emit(doc);
            return;
        }
        let grown =
            self.grown_to.map(|n| format!("; the file grows to {n} bytes")).unwrap_or_default();
        let order: Vec<String> = self.writes.iter().map(u64::to_string).collect();
        let order = if order.is_empty() { "none".to_string() } else { order.join(", ") };
        println!(
            "accepted: {}{grown}{}; {written} block(s) written, in order: {order}",
            self.head, self.tail
        );
        if self.left > 0 {
            println!("crashed after {written} write(s): {} write(s) not performed", self.left);
        }
    }
}

/// `udf xn move`: the block in `from`'s slot moved to `to`'s empty slot through XN (a free
/// and an allocation with no window where the block is free); the image is written, in the
/// ordering's order, only when XN accepts both.
pub fn move_block(
    json_out: bool,
    image: &Path,
    fs: &str,
    from: (u32, usize),
    to: (u32, usize),
    opts: SlotOpts,
) -> Result<bool, Failure> {
    let mut o = open(image, fs)?;
    consistent(&mut o)?;
    let mut cache = Cache::new(o.dev.block_size());
    let change =
        o.fs.stage_move(
            &mut o.xn,
            &o.table,
            &mut cache,
            &mut o.dev,
            MoveRequest { from, to },
            opts.principal,
        )
        .map_err(|e| refusal(&e, opts.principal))?;
    let flushed =
        o.fs.commit(&mut o.xn, &mut cache, &mut o.dev, opts.crash_after)
            .map_err(|e| refused(&e))?;
    write_out(image, &o.dev, &flushed.written)?;
    Accepted {
        head: format!(
            "block {} (kind {}) moved from inode {} slot {} to inode {} slot {}",
            change.new, change.kind, from.0, from.1, to.0, to.1
        ),
        tail: String::new(),
        grown_to: change.grown_to,
        writes: &flushed.written,
        left: flushed.left,
        crash_after: opts.crash_after,
    }
    .report(
        json_out,
        json!({"block": change.new, "kind": change.kind,
               "from": {"inode": from.0, "slot": from.1}, "to": {"inode": to.0, "slot": to.1}}),
    );
    Ok(true)
}

/// `udf xn alloc` (a nonzero `block`) and `udf xn free` (`block` 0): changes one block slot
/// through XN and writes the image only when XN accepts, block by block in the order XN's write
/// ordering issues the writes (all of them, or the first `--crash-after` ones).
pub fn set_slot(
    json_out: bool,
    image: &Path,
    fs: &str,
    ino: u32,
    slot: usize,
    block: u64,
    opts: SlotOpts,
) -> Result<bool, Failure> {
    let mut o = open(image, fs)?;
    consistent(&mut o)?;
    let mut cache = Cache::new(o.dev.block_size());
    let req = SlotRequest { ino, slot, block, kind: opts.kind };
    let change =
        o.fs.stage_slot(&mut o.xn, &o.table, &mut cache, &mut o.dev, req, opts.principal)
            .map_err(|e| refusal(&e, opts.principal))?;
    // Accepted: issue the writes in order (to the in-memory image, then to the file).
    let flushed =
        o.fs.commit(&mut o.xn, &mut cache, &mut o.dev, opts.crash_after)
            .map_err(|e| refused(&e))?;
    write_out(image, &o.dev, &flushed.written)?;
    Accepted {
        head: format!(
            "inode {ino} slot {slot}: block {} -> {} (kind {})",
            change.old, change.new, change.kind
        ),
        tail: String::new(),
        grown_to: change.grown_to,
        writes: &flushed.written,
        left: flushed.left,
        crash_after: opts.crash_after,
    }
    .report(
        json_out,
        json!({"inode": ino, "slot": slot, "old": change.old, "new": change.new,
               "kind": change.kind}),
    );
    Ok(true)
}

/// `udf xn alloc --lblock` (a nonzero `block`) and `udf xn free --lblock` (`block` 0): maps or
/// frees the block at logical block `lblock` of the file through XN (block maps: the slot or
/// indirect-block entry holding it; extent trees: merged into or inserted as an extent, the
/// tree growing or splitting as it needs), written only when XN accepts every step, block by
/// block in the order the write ordering issues them (all, or the first `--crash-after`).
pub fn set_lblock(
    json_out: bool,
    image: &Path,
    fs: &str,
    ino: u32,
    lblock: u64,
    block: u64,
    opts: SlotOpts,
) -> Result<bool, Failure> {
    let mut o = open(image, fs)?;
    consistent(&mut o)?;
    let req = LblockRequest { ino, lblock, block, kind: opts.kind };
    let c = o
        .fs
        .set_lblock_ordered(&mut o.xn, &o.table, &mut o.dev, req, opts.principal, opts.crash_after)
        .map_err(|e| refusal(&e, opts.principal))?;
    write_out(image, &o.dev, &c.writes)?;
    let nodes = |what: &str, v: &[u64]| {
        if v.is_empty() {
            String::new()
        } else {
            let v: Vec<String> = v.iter().map(u64::to_string).collect();
            format!("; extent-tree node(s) {what}: {}", v.join(", "))
        }
    };
    Accepted {
        head: format!(
            "inode {ino} logical block {lblock}: block {} -> {} (kind {})",
            c.old, c.new, c.kind
        ),
        tail: format!(
            "{}{}",
            nodes("allocated", &c.nodes_allocated),
            nodes("freed", &c.nodes_freed)
        ),
        grown_to: c.grown_to,
        writes: &c.writes,
        left: c.writes_left,
        crash_after: opts.crash_after,
    }
    .report(
        json_out,
        json!({"inode": ino, "lblock": lblock, "old": c.old, "new": c.new, "kind": c.kind,
               "nodes_allocated": c.nodes_allocated, "nodes_freed": c.nodes_freed}),
    );
    Ok(true)
}
