//! `udf xn` on an ext2 image from `mke2fs -d corpus/inputs` (inode 12 is `ext2_inode.bin`, one
//! block): refusals and reconstruction reports name inodes and slots, never raw block offsets;
//! freeing an empty slot says so, exits 1 and leaves the image byte-identical; a crash at
//! every write, then `rebuild --repair`, leaves e2fsck clean, on ext2 and on a default ext4
//! (metadata_csum). A missing e2fsprogs fails these tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{s, udf, xn_slot};

use serde_json::Value;
use udf_kernel_glue::MemDevice;
use udf_kernel_glue::ext::{ExtFs, Flavor};

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A fresh 8 MiB ext2 image (1 KiB blocks) of `corpus/inputs`, in its own directory.
fn image(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("udf-xn-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let img = dir.join("fs.img");
    let inputs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/inputs");
    let o = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext2", "-b", "1024", "-d"])
        .arg(&inputs)
        .arg(&img)
        .arg("8M")
        .env("PATH", format!("{}:/sbin:/usr/sbin", std::env::var("PATH").unwrap_or_default()))
        .output()
        .expect("mke2fs runs (e2fsprogs)");
    assert!(o.status.success(), "mke2fs: {}", text(&o));
    img
}

/// Byte offset in the image of slot `slot` of inode `ino`.
fn slot_at(img: &Path, ino: u32, slot: usize) -> usize {
    let mut dev = MemDevice::new(std::fs::read(img).expect("read"), 1024);
    let fs = ExtFs::open(&mut dev, Flavor::Ext2).expect("ext2");
    let obj = fs.inode_obj(ino).expect("inode");
    obj.block as usize * 1024 + obj.offset as usize + 40 + 4 * slot
}

fn poke(img: &Path, at: usize, v: u32) {
    let mut b = std::fs::read(img).expect("read");
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    std::fs::write(img, b).expect("write");
}

fn peek(img: &Path, at: usize) -> u32 {
    let b = std::fs::read(img).expect("read");
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

#[test]
fn freeing_an_empty_slot_says_so_exits_1_and_writes_nothing() {
    let img = image("empty");
    let before = std::fs::read(&img).expect("read");
    let o = udf(&xn_slot("free", &img, "12", "5", &[]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("inode 12 slot 5 is empty: nothing to free"), "{t}");
    assert!(!t.contains("block 0"), "{t}");
    let o = udf(&xn_slot("free", &img, "12", "5", &["--json"]));
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["errors"][0]["code"], "udf::xn::empty-slot", "{v}");
    assert!(std::fs::read(&img).expect("read") == before, "the image changed");
}

#[test]
fn refusals_and_rebuild_reports_name_inodes_and_slots() {
    let img = image("names");
    let held = peek(&img, slot_at(&img, 12, 0));
    assert_ne!(held, 0, "inode 12 has a block");

    // A block another inode holds.
    let before = std::fs::read(&img).expect("read");
    let block = held.to_string();
    let o = udf(&xn_slot("alloc", &img, "13", "4", &["--block", &block]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains(&format!(
            "inode 13 slot 4: block {held} is already in use: inode 12 slot 0 holds it"
        )),
        "{t}"
    );
    assert!(std::fs::read(&img).expect("read") == before);

    // Two inodes naming one block, and a block in use that the bitmap marks free.
    poke(&img, slot_at(&img, 13, 4), held);
    poke(&img, slot_at(&img, 14, 3), 6000);
    let o = udf(&["xn", "rebuild", s(&img), "--fs", "ext2", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let problems = v["problems"].as_array().expect("problems");
    assert!(
        problems.iter().any(|p| p
            .as_str()
            .is_some_and(|p| p.contains(&format!("block {held} is owned twice"))
                && p.contains("inode 12 slot 0")
                && p.contains("inode 13 slot 4"))),
        "{v}"
    );
    let diffs = v["differences"].as_array().expect("differences");
    assert!(
        diffs
            .iter()
            .any(|d| d["block"] == 6000 && d["held_by"] == serde_json::json!(["inode 14 slot 3"])),
        "{v}"
    );
    let o = udf(&["xn", "rebuild", s(&img), "--fs", "ext2"]);
    let t = text(&o);
    assert!(t.contains("(held by inode 14 slot 3)"), "{t}");
    assert!(!t.contains(" + ") && !t.contains("object at"), "{t}");
    // An inconsistent image is refused for alloc, naming the problem.
    let o = udf(&xn_slot("alloc", &img, "12", "5", &["--block", "5000"]));
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(t.contains("inode 13 slot 4"), "{t}");
}

fn e2fsck(img: &Path) -> (Option<i32>, String) {
    let o = Command::new("e2fsck")
        .arg("-fn")
        .arg(img)
        .env("PATH", format!("{}:/sbin:/usr/sbin", std::env::var("PATH").unwrap_or_default()))
        .output()
        .expect("e2fsck runs (e2fsprogs)");
    (o.status.code(), text(&o))
}

#[test]
fn crash_after_every_write_then_rebuild_repair_recovers() {
    let img = image("crash");
    let original = std::fs::read(&img).expect("read");
    let alloc = |more: &[&str]| {
        let mut extra = vec!["--block", "5000", "--json"];
        extra.extend_from_slice(more);
        udf(&xn_slot("alloc", &img, "12", "12", &extra))
    };
    let o = alloc(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let order: Vec<u64> =
        v["writes"].as_array().expect("writes").iter().map(|w| w.as_u64().unwrap()).collect();
    // The new indirect block first, the bitmap before the inode pointing at it, then the
    // free counts.
    assert_eq!(order.len(), 5, "{v}");
    assert_eq!(order[0], 5000, "{v}");
    let mut leaked_seen = false;
    for w in 0..=order.len() {
        std::fs::write(&img, &original).expect("write");
        let ws = w.to_string();
        let o = alloc(&["--crash-after", &ws]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
        assert_eq!(v["blocks_written"], w, "{v}");
        assert_eq!(v["crashed"], w < order.len(), "{v}");
        let (code, report) = e2fsck(&img);
        assert!(
            !report.contains("+5000") && !report.contains("Illegal"),
            "W={w}: more than a leak: {report}"
        );
        let o = udf(&["xn", "rebuild", s(&img), "--fs", "ext2"]);
        if o.status.code() == Some(1) {
            let t = text(&o);
            assert!(
                t.contains("block 5000: in use in the image's bitmap, free in the rebuilt map (no inode holds it)"),
                "W={w}: {t}"
            );
            leaked_seen = true;
        }
        let o = udf(&["xn", "rebuild", s(&img), "--fs", "ext2", "--repair"]);
        assert_eq!(o.status.code(), Some(0), "W={w}: {}", text(&o));
        let (code_after, report) = e2fsck(&img);
        assert_eq!(code_after, Some(0), "W={w} (e2fsck said {code:?} before): {report}");
        if w == order.len() {
            assert_eq!(code, Some(0), "{report}");
            assert!(text(&o).contains("nothing to repair"), "{}", text(&o));
        }
    }
    assert!(leaked_seen, "no crash point leaked the block");
    // A repair refuses what a crash does not leave (a block in use, free in the bitmap).
    std::fs::write(&img, &original).expect("write");
    poke(&img, slot_at(&img, 13, 4), 6000);
    let before = std::fs::read(&img).expect("read");
    let o = udf(&["xn", "rebuild", s(&img), "--fs", "ext2", "--repair"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("not a crash leftover"), "{}", text(&o));
    assert!(std::fs::read(&img).expect("read") == before, "the image changed");
}

/// Byte offset in the image of inode `ino`.
fn inode_at(img: &Path, ino: u32) -> usize {
    slot_at(img, ino, 0) - 40
}

#[test]
fn the_acl_udf_decides_by_principal_owner_and_mode() {
    let img = image("acl");
    // Inode 12 (mode 0644) given to uid 1000.
    let at = inode_at(&img, 12);
    let mut b = std::fs::read(&img).expect("read");
    b[at + 2..at + 4].copy_from_slice(&1000u16.to_le_bytes());
    std::fs::write(&img, &b).expect("write");
    let (code, report) = e2fsck(&img);
    assert_eq!(code, Some(0), "{report}");

    // Another principal: refused by the acl-udf, the image byte-identical.
    let before = std::fs::read(&img).expect("read");
    for op in [("alloc", vec!["--block", "5000", "--as", "1001"]), ("free", vec!["--as", "1001"])] {
        let slot = if op.0 == "alloc" { "12" } else { "0" };
        let o = udf(&xn_slot(op.0, &img, "12", slot, &op.1));
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let t = text(&o);
        assert!(t.contains("inode 12's acl-udf refused this principal"), "{t}");
        assert!(t.contains("principal uid 1001"), "{t}");
        assert!(std::fs::read(&img).expect("read") == before, "{}: the image changed", op.0);
    }
    let mut json = xn_slot("alloc", &img, "12", "12", &["--block", "5000", "--as", "1001"]);
    json.push("--json");
    let o = udf(&json);
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["errors"][0]["code"], "udf::xn::denied", "{v}");
    assert!(std::fs::read(&img).expect("read") == before);

    // The owner: accepted, then freed again; root too; e2fsck clean after each.
    let o = udf(&xn_slot("alloc", &img, "12", "12", &["--block", "5000", "--as", "1000"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(e2fsck(&img).0, Some(0));
    let o = udf(&xn_slot("free", &img, "12", "12", &["--as", "1000"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(e2fsck(&img).0, Some(0));
    let o = udf(&xn_slot("alloc", &img, "12", "12", &["--block", "5000"]));
    assert_eq!(o.status.code(), Some(0), "root (the default --as 0): {}", text(&o));
    assert_eq!(e2fsck(&img).0, Some(0));
}

#[test]
fn move_gives_a_block_to_another_slot_and_a_refused_move_writes_nothing() {
    let img = image("move");
    let held = peek(&img, slot_at(&img, 12, 0));
    let bytes = std::fs::read(&img).expect("read");
    let data = bytes[held as usize * 1024..held as usize * 1024 + 1024].to_vec();
    // Inode 12's block from slot 0 to slot 3: the file grows to 4 blocks, slot 0 a hole now.
    let mv = |from: (&str, &str), to: (&str, &str), more: &[&str]| {
        let mut args =
            xn_slot("move", &img, from.0, from.1, &["--to-inode", to.0, "--to-slot", to.1]);
        args.extend_from_slice(more);
        udf(&args)
    };
    let o = mv(("12", "0"), ("12", "3"), &["--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["block"], held, "{v}");
    assert_eq!(v["blocks_written"], 1, "one inode-table block: one write: {v}");
    assert_eq!((peek(&img, slot_at(&img, 12, 0)), peek(&img, slot_at(&img, 12, 3))), (0, held));
    let (code, report) = e2fsck(&img);
    assert_eq!(code, Some(0), "{report}");
    let now = std::fs::read(&img).expect("read");
    assert_eq!(now[held as usize * 1024..held as usize * 1024 + 1024], data[..], "data moved");

    // Refused: the destination slot holds a block (XN: a pointer overwrite), the acl-udf
    // refusing another principal, a slot of another kind. Each exits 1, the image unchanged.
    let before = std::fs::read(&img).expect("read");
    let o = mv(("12", "3"), ("13", "0"), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(std::fs::read(&img).expect("read") == before, "{}", text(&o));
    let at = slot_at(&img, 12, 0) - 40;
    let mut b = before.clone();
    b[at + 2..at + 4].copy_from_slice(&1000u16.to_le_bytes());
    std::fs::write(&img, &b).expect("write");
    let o = mv(("12", "3"), ("12", "4"), &["--as", "1001"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("acl-udf refused this principal"), "{}", text(&o));
    assert!(std::fs::read(&img).expect("read") == b);
    let o = mv(("12", "3"), ("12", "12"), &[]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(std::fs::read(&img).expect("read") == b);
    // The owner moves it back.
    let o = mv(("12", "3"), ("12", "0"), &["--as", "1000"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(e2fsck(&img).0, Some(0));
    assert_eq!(peek(&img, slot_at(&img, 12, 0)), held);
}

#[test]
fn freeing_a_block_inside_a_directory_is_refused_by_its_size() {
    let img = image("dir");
    let before = std::fs::read(&img).expect("read");
    // The root directory (inode 2): its first block lies inside it (the size-udf says 1024 bytes).
    let o = udf(&xn_slot("free", &img, "2", "0", &["--json"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["errors"][0]["code"], "udf::xn::directory-hole", "{v}");
    assert!(v.to_string().contains("inode 2 slot 0 lies inside the directory (1024 bytes"), "{v}");
    assert!(std::fs::read(&img).expect("read") == before, "the image changed");
}

/// `e2fsck -fn` exits 0 and prints nothing but its version, passes and summary (it exits 0 after some
/// problems it was told not to fix, such as a bad descriptor checksum, so the report counts).
fn fsck_silent(img: &Path) -> Result<(), String> {
    let (code, report) = e2fsck(img);
    let noise: Vec<&str> = report
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("Pass ") && !l.contains(" files ("))
        .filter(|l| !l.starts_with("e2fsck ")) // its version, on stderr
        .filter(|l| !(l.contains("extent tree (at level ") && l.contains("Optimize? no")))
        .collect();
    if code == Some(0) && noise.is_empty() { Ok(()) } else { Err(report) }
}

#[test]
fn crash_after_every_write_then_repair_keeps_ext4_checksums() {
    // A default ext4 (metadata_csum, 64bit, flex_bg) of `corpus/inputs`; inode 12 is a file.
    let dir = std::env::temp_dir().join(format!("udf-xn-repair4-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let img = dir.join("fs.img");
    let inputs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/inputs");
    let o = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-b", "1024", "-d"])
        .arg(&inputs)
        .arg(&img)
        .arg("8M")
        .env("PATH", format!("{}:/sbin:/usr/sbin", std::env::var("PATH").unwrap_or_default()))
        .output()
        .expect("mke2fs runs (e2fsprogs)");
    assert!(o.status.success(), "mke2fs: {}", text(&o));
    assert!(fsck_silent(&img).is_ok(), "mke2fs's image");
    let original = std::fs::read(&img).expect("read");
    let free = {
        let o = udf_cli::xn::open(&img, "ext4").unwrap_or_else(|_| panic!("the image opens"));
        (3000..o.fs.sb.blocks).find(|&b| !o.xn.used.get(b)).expect("a free block")
    };
    let block = free.to_string();
    let alloc = |more: &[&str]| {
        let mut v = vec!["xn", "alloc", s(&img), "--fs", "ext4", "--inode", "12"];
        v.extend_from_slice(&["--lblock", "10", "--block", &block, "--json"]);
        v.extend_from_slice(more);
        udf(&v)
    };
    let o = alloc(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let n = v["blocks_written"].as_u64().expect("blocks_written") as usize;
    assert!(n >= 4, "{v}");
    let (mut leaked_seen, mut resealed_seen) = (false, false);
    for w in 0..=n {
        std::fs::write(&img, &original).expect("write");
        let ws = w.to_string();
        let o = alloc(&["--crash-after", &ws]);
        assert_eq!(o.status.code(), Some(0), "W={w}: {}", text(&o));
        let o = udf(&["xn", "rebuild", s(&img), "--fs", "ext4", "--repair", "--json"]);
        assert_eq!(o.status.code(), Some(0), "W={w}: {}", text(&o));
        let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
        assert_eq!(v["match"], true, "W={w}: {v}");
        leaked_seen |= v["leaked"] == serde_json::json!([free]);
        resealed_seen |= !v["bitmap_checksums"].as_array().expect("array").is_empty();
        if let Err(report) = fsck_silent(&img) {
            panic!("W={w}: after the repair ({v}): {report}");
        }
        if w == n {
            assert_eq!(v["blocks_written"], 0, "nothing to repair after the whole write: {v}");
        }
    }
    assert!(
        leaked_seen && resealed_seen,
        "a crash point leaked the block and one left a stale \
        bitmap checksum"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
