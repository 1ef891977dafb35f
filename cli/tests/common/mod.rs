//! What the command-line tests share: running the `udf` binary, their temporary files, the
//! corpus and the shared captures, and reading an invocation's output.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod pcap;

/// Runs the `udf` binary with `args`.
pub fn udf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_udf")).args(args).output().expect("udf runs")
}

/// A path in this test binary's own temporary folder (one per test file and process).
pub fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "udf-{}-test-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

/// An invocation's stdout and stderr, as text.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// An invocation's stderr, as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A path under `corpus/` beside this crate.
pub fn corpus(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus").join(rel).display().to_string()
}

/// A path as the `&str` argument a command takes.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// `udf xn OP IMAGE --fs ext2 --inode INODE --slot SLOT`, then `more`.
pub fn xn_slot<'a>(
    op: &'a str,
    img: &'a Path,
    inode: &'a str,
    slot: &'a str,
    more: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["xn", op, s(img), "--fs", "ext2", "--inode", inode, "--slot", slot];
    args.extend_from_slice(more);
    args
}
