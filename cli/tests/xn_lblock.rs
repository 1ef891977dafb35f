//! `udf xn alloc|free --lblock L`: on a default `mke2fs -t ext4` image (extents,
//! metadata_csum, 64bit, flex_bg) a block is mapped at a logical block of an extent-mapped file
//! (a new extent, the root growing a level) and freed again, each step leaving `e2fsck -fn`
//! silent and `udf xn rebuild` matching; refusals exit 1 with the image byte-identical; on ext2
//! `--lblock 5` is `--slot 5`. A missing e2fsprogs fails these tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{s, udf};

use serde_json::Value;

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn path_env() -> String {
    format!("{}:/sbin:/usr/sbin", std::env::var("PATH").unwrap_or_default())
}

/// A fresh `fs_type` image (1 KiB blocks, 16 MiB) holding one file `/f` (inode 12) of 3
/// blocks, in its own directory.
fn image(tag: &str, fs_type: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("udf-xn-lblock-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tree")).expect("dir");
    std::fs::write(dir.join("tree/f"), vec![0x5au8; 3 * 1024]).expect("file");
    let img = dir.join("fs.img");
    let o = Command::new("mke2fs")
        .args(["-q", "-F", "-t", fs_type, "-b", "1024", "-d"])
        .arg(dir.join("tree"))
        .arg(&img)
        .arg("16M")
        .env("PATH", path_env())
        .output()
        .expect("mke2fs runs (e2fsprogs)");
    assert!(o.status.success(), "mke2fs: {}", text(&o));
    img
}

/// `e2fsck -fn` exits 0 and reports nothing but its passes, summary and extent-tree
/// optimisation hints (it exits 0 after some problems it was told not to fix, such as a bad
/// descriptor checksum).
fn fsck_silent(img: &Path, after: &str) {
    let o = Command::new("e2fsck").arg("-fn").arg(img).env("PATH", path_env()).output();
    let o = o.expect("e2fsck runs (e2fsprogs)");
    let out = String::from_utf8_lossy(&o.stdout);
    let noise: Vec<&str> = out
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("Pass ") && !l.contains(" files ("))
        // e2fsck's optimisation hints, which it marks as not a fix (the kernel's trees get
        // them after frees too).
        .filter(|l| !(l.contains("extent tree (at level ") && l.contains("Optimize? no")))
        .collect();
    assert!(o.status.success() && noise.is_empty(), "after {after}: {}", text(&o));
    let o = udf(&["xn", "rebuild", s(img), "--fs", "ext4"]);
    assert!(o.status.success(), "after {after}: {}", text(&o));
}

/// Free blocks of the image (XN's rebuilt map) from `from` on, `n` of them, `stride` apart.
fn free_blocks(img: &Path, fs: &str, from: u64, stride: u64, n: usize) -> Vec<u64> {
    let o = match udf_cli::xn::open(img, fs) {
        Ok(o) => o,
        Err(_) => panic!("{} opens", img.display()),
    };
    (from..o.fs.sb.blocks).step_by(stride as usize).filter(|&b| !o.xn.used.get(b)).take(n).collect()
}

fn lblock<'a>(
    op: &'a str,
    img: &'a Path,
    fs: &'a str,
    l: &'a str,
    more: &[&'a str],
) -> Vec<&'a str> {
    let mut v = vec!["xn", op, s(img), "--fs", fs, "--inode", "12", "--lblock", l];
    v.extend_from_slice(more);
    v
}

#[test]
fn ext4_lblock_alloc_and_free_keep_e2fsck_silent() {
    let img = image("ext4", "ext4");
    let far = free_blocks(&img, "ext4", 3000, 5, 6);
    let b: Vec<String> = far.iter().map(u64::to_string).collect();
    // New extents, the fourth filling the root; the fifth makes it grow a level.
    for (l, blk) in [("10", &b[0]), ("20", &b[1]), ("30", &b[2])] {
        let o = udf(&lblock("alloc", &img, "ext4", l, &["--block", blk, "--json"]));
        assert!(o.status.success(), "{}", text(&o));
        let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
        assert_eq!(v["new"].as_u64(), Some(blk.parse().unwrap()), "{v}");
        assert_eq!(v["nodes_allocated"], serde_json::json!([]), "{v}");
        fsck_silent(&img, &format!("mapping logical block {l}"));
    }
    let o = udf(&lblock("alloc", &img, "ext4", "40", &["--block", &b[3], "--json"]));
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let nodes = v["nodes_allocated"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 1, "the root grew a level: {v}");
    assert_eq!(v["size"].as_u64(), Some(41 * 1024), "{v}");
    assert_eq!(v["writes"][0], nodes[0], "the new leaf is written first: {v}");
    fsck_silent(&img, "the root growing a level");
    // Text output names the new node.
    let o = udf(&lblock("alloc", &img, "ext4", "50", &["--block", &b[4]]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("accepted: inode 12 logical block 50"), "{}", text(&o));
    fsck_silent(&img, "logical block 50");

    // Refusals: byte-identical.
    let before = std::fs::read(&img).expect("read");
    let o = udf(&lblock("alloc", &img, "ext4", "60", &["--block", &b[0]]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("block {} is already in use: inode 12", b[0])),
        "{}",
        text(&o)
    );
    let o = udf(&lblock("alloc", &img, "ext4", "10", &["--block", &b[5]]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("already maps block"), "{}", text(&o));
    let o = udf(&lblock("free", &img, "ext4", "7", &["--json"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["errors"][0]["code"], "udf::xn::unmapped", "{v}");
    let o = udf(&lblock("alloc", &img, "ext4", "60", &["--block", &b[5], "--kind", "1"]));
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("extent-mapped"), "{}", text(&o));
    // Another principal than the file's owner: the acl-udf refuses, even where the tree
    // would grow first.
    let o = udf(&lblock("alloc", &img, "ext4", "60", &["--block", &b[5], "--as", "1000"]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("acl-udf denied"), "{}", text(&o));
    assert!(std::fs::read(&img).expect("read") == before, "a refusal changed the image");
    // --slot and --lblock together: a usage error.
    let o = udf(&lblock("alloc", &img, "ext4", "60", &["--block", &b[5], "--slot", "3"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // Frees, the first inside the extent 0-2 (split in two).
    for l in ["1", "40", "10", "20", "30", "50", "0", "2"] {
        let o = udf(&lblock("free", &img, "ext4", l, &["--json"]));
        assert!(o.status.success(), "{}", text(&o));
        fsck_silent(&img, &format!("freeing logical block {l}"));
    }
    let o = udf(&["xn", "rebuild", s(&img), "--fs", "ext4", "--json"]);
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["match"], true, "{v}");
}

#[test]
fn ext4_lblock_crash_after_performs_only_the_first_writes() {
    let img = image("crash", "ext4");
    let far = free_blocks(&img, "ext4", 3000, 5, 1);
    let before = std::fs::read(&img).expect("read");
    let blk = far[0].to_string();
    let o = udf(&lblock(
        "alloc",
        &img,
        "ext4",
        "10",
        &["--block", &blk, "--crash-after", "1", "--json"],
    ));
    assert!(o.status.success(), "{}", text(&o));
    let v: Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["blocks_written"], 1, "{v}");
    assert_eq!(v["crashed"], true, "{v}");
    assert!(v["writes_left"].as_u64().unwrap() > 0, "{v}");
    let after = std::fs::read(&img).expect("read");
    let changed = before.chunks(1024).zip(after.chunks(1024)).filter(|(a, b)| a != b).count();
    assert_eq!(changed, 1, "one block written");
}

#[test]
fn ext2_lblock_in_the_direct_range_is_the_slot() {
    let a = image("ext2", "ext2");
    let b = a.with_file_name("copy.img");
    std::fs::copy(&a, &b).expect("copy");
    let far = free_blocks(&a, "ext2", 3000, 1, 1);
    let blk = far[0].to_string();
    let o = udf(&lblock("alloc", &a, "ext2", "5", &["--block", &blk]));
    assert!(o.status.success(), "{}", text(&o));
    let o = udf(&[
        "xn",
        "alloc",
        s(&b),
        "--fs",
        "ext2",
        "--inode",
        "12",
        "--slot",
        "5",
        "--block",
        &blk,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        std::fs::read(&a).expect("a") == std::fs::read(&b).expect("b"),
        "--lblock 5 != --slot 5"
    );
    // Under the indirect block, which is not there yet.
    let before = std::fs::read(&a).expect("read");
    let o = udf(&lblock("alloc", &a, "ext2", "20", &["--block", &blk]));
    assert_ne!(o.status.code(), Some(0));
    assert!(text(&o).contains("allocate that first (--lblock 20 --kind 1)"), "{}", text(&o));
    assert!(std::fs::read(&a).expect("read") == before);
}
