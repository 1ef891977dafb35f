//! `udf kernel boot`: the bare-metal kernel (`kernel/`) booted under qemu (TCG) prints exactly
//! what `udf kernel load` prints, for a signed native x86-64 `owns` package (the corpus ext2
//! inode) and a signed bytecode filter, on every corpus input; refuses a package with a flipped
//! byte and an unsafe bytecode package with `kernel load`'s messages; and stops a native
//! program that writes to its own code with the MMU, staying alive for the next input.
//!
//! The image is `$UDF_KERNEL_IMAGE` (scripts/test.sh builds it), else this test builds it
//! (`cargo build --release` in `kernel/`, into its own target directory). qemu-system-x86_64
//! must be installed (scripts/test.sh installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

mod common;
use common::{corpus, s, stderr, tmp, udf};

use serde_json::Value;

/// The kernel image, built once per test process when not given.
fn image() -> &'static Path {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| {
        if let Some(p) = std::env::var_os("UDF_KERNEL_IMAGE") {
            return PathBuf::from(p);
        }
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        // Its own target directory: the one `cargo test` holds is locked while tests run.
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| repo.join("target"), PathBuf::from)
            .join("kernel-image");
        let o = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(repo.join("kernel"))
            .args(["build", "--release", "--target-dir"])
            .arg(&target)
            .env_remove("RUSTFLAGS")
            .output()
            .expect("cargo runs");
        assert!(o.status.success(), "building the kernel: {}", stderr(&o));
        target.join("x86_64-unknown-none/release/udf-kernel")
    })
}

const KEY: &[u8] = b"the kernel's secret";

/// The key file, written once (the tests run in parallel).
fn key() -> PathBuf {
    static K: OnceLock<PathBuf> = OnceLock::new();
    K.get_or_init(|| {
        let k = tmp("boot.key");
        std::fs::write(&k, KEY).expect("write");
        k
    })
    .clone()
}

/// Every file of `corpus/inputs`, and an inode with direct, indirect and xattr blocks.
fn inputs() -> Vec<PathBuf> {
    let dir = PathBuf::from(corpus("inputs"));
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("corpus/inputs")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    assert!(v.len() >= 5, "{v:?}");
    let mut inode = vec![0u8; 128];
    inode[0..2].copy_from_slice(&0x81a4u16.to_le_bytes());
    inode[26..28].copy_from_slice(&1u16.to_le_bytes());
    for (at, b) in [(40, 100u32), (44, 101), (88, 200), (104, 500)] {
        inode[at..at + 4].copy_from_slice(&b.to_le_bytes());
    }
    let p = tmp("inode.bin");
    std::fs::write(&p, &inode).expect("write");
    v.push(p);
    v
}

/// `udf package SRC ARGS --key KEY -o OUT`.
fn package(src: &str, args: &[&str], out: &Path) {
    let k = key();
    let mut a = vec!["package", src];
    a.extend_from_slice(args);
    a.extend_from_slice(&["--key", s(&k), "-o", s(out)]);
    let o = udf(&a);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

fn load(pkg: &Path, input: &Path, json: bool) -> Output {
    let k = key();
    let mut a = vec!["kernel", "load", s(pkg), "--key", s(&k), "--input", s(input)];
    if json {
        a.push("--json");
    }
    udf(&a)
}

fn boot(pkg: &Path, inputs: &[&Path], extra: &[&str]) -> Output {
    let k = key();
    let mut a = vec!["kernel", "boot", s(image()), "--pkg", s(pkg), "--key", s(&k)];
    a.extend_from_slice(extra);
    a.push("--input");
    a.extend(inputs.iter().map(|p| s(p)));
    udf(&a)
}

/// The error lines of a run (the rendered reports, without the engine line and the count).
fn errors(o: &Output) -> Vec<String> {
    stderr(o)
        .lines()
        .filter(|l| l.contains('×') || l.contains("udf::"))
        .map(str::to_string)
        .collect()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(o)))
}

/// For each input: one boot prints what `kernel load` prints (text and `--json`, the same
/// status and errors); one boot over all inputs prints their outputs in order.
fn same_as_load(pkg: &Path, engine: &str) {
    let inputs = inputs();
    let mut all_stdout = String::new();
    let mut first_failure = 0;
    let mut ran = 0;
    for input in &inputs {
        let want = load(pkg, input, false);
        let got = boot(pkg, &[input], &[]);
        let what = format!("{} on {}", pkg.display(), input.display());
        assert_eq!(got.status.code(), want.status.code(), "{what}: {}", stderr(&got));
        assert_eq!(
            String::from_utf8_lossy(&got.stdout),
            String::from_utf8_lossy(&want.stdout),
            "{what}"
        );
        assert_eq!(errors(&got), errors(&want), "{what}");
        if want.status.code() == Some(0) {
            ran += 1;
            assert!(stderr(&got).contains(engine), "{what}: {}", stderr(&got));
        } else if first_failure == 0 {
            first_failure = want.status.code().expect("status");
        }
        all_stdout.push_str(&String::from_utf8_lossy(&want.stdout));
        let (want, got) = (load(pkg, input, true), boot(pkg, &[input], &["--json"]));
        assert_eq!(json(&got), json(&want), "{what} --json");
    }
    assert!(ran >= 2, "{ran} inputs ran on {}", pkg.display());
    let refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let got = boot(pkg, &refs, &[]);
    assert_eq!(String::from_utf8_lossy(&got.stdout), all_stdout);
    assert_eq!(got.status.code(), Some(first_failure), "{}", stderr(&got));
    let o = boot(pkg, &refs, &["--json"]);
    let doc = json(&o);
    assert_eq!(doc["runs"].as_array().map(Vec::len), Some(inputs.len()), "{doc}");
    // One document: `status` is the exit status, one error per refused input.
    assert_eq!(doc["status"].as_i64(), o.status.code().map(i64::from), "{doc}");
    let refused = doc["runs"].as_array().expect("runs").iter().filter(|r| r["error"].is_string());
    assert_eq!(doc["errors"].as_array().map(Vec::len), Some(refused.count()), "{doc}");
}

#[test]
fn native_owns_package_prints_as_kernel_load() {
    let pkg = tmp("ext2-native.pkg");
    package(&corpus("fs/ext2.udf"), &["--entry", "ext2_inode", "--target", "x86_64"], &pkg);
    same_as_load(&pkg, "runs native (the package's code)");
}

#[test]
fn bytecode_filter_package_prints_as_kernel_load() {
    let pkg = tmp("web.pkg");
    package(&corpus("filters/web.udf"), &[], &pkg);
    same_as_load(&pkg, "runs interpreted");
}

#[test]
fn flipped_byte_and_unsafe_bytecode_are_refused_in_the_kernel() {
    let input = PathBuf::from(corpus("inputs/ext2_inode.bin"));
    let pkg = tmp("flip-src.pkg");
    package(&corpus("fs/ext2.udf"), &["--entry", "ext2_inode", "--target", "x86_64"], &pkg);
    let mut bytes = std::fs::read(&pkg).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    let flipped = tmp("flipped.pkg");
    std::fs::write(&flipped, &bytes).expect("write");

    // Bytecode the verifier rejects (an out-of-bounds read), signed with the kernel's key.
    let filter = tmp("unsafe-src.pkg");
    package(&corpus("filters/web.udf"), &[], &filter);
    let mut p =
        udf_kernel_glue::Package::parse(&std::fs::read(&filter).expect("read")).expect("parses");
    p.bytecode = udf_bytecode::assemble("ldxw %r0, [%r1+200]\nexit\n").expect("asm").encode();
    p.source_map = None;
    p.sign(KEY).expect("signs");
    let unsafe_pkg = tmp("unsafe.pkg");
    std::fs::write(&unsafe_pkg, p.to_bytes()).expect("write");

    for (pkg, says) in [
        (&flipped, "refused: the authentication tag does not match"),
        (&unsafe_pkg, "refused: the kernel's verifier rejects it"),
    ] {
        let want = load(pkg, &input, false);
        let got = boot(pkg, &[&input], &[]);
        assert_eq!(want.status.code(), Some(1));
        assert_eq!(got.status.code(), Some(1), "{}", stderr(&got));
        assert!(got.stdout.is_empty());
        assert!(stderr(&got).contains(says), "{}", stderr(&got));
        assert_eq!(errors(&got), errors(&want));
        let (want, got) = (load(pkg, &input, true), boot(pkg, &[&input], &["--json"]));
        assert_eq!(json(&got), json(&want));
    }
}

/// x86-64 code that writes a `ret` over its own first byte, then returns `DONE` (r0 0).
const SELF_WRITE: &[u8] = &[
    0x48, 0x8d, 0x05, 0x00, 0x00, 0x00, 0x00, // lea rax, [rip]
    0xc6, 0x00, 0xc3, // mov byte ptr [rax], 0xc3
    0x48, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, // mov rax, -1 (DONE)
    0xc3, // ret
];

#[test]
fn native_code_writing_itself_is_stopped_by_the_mmu() {
    let input = PathBuf::from(corpus("inputs/ext2_inode.bin"));
    let pkg = tmp("selfwrite.pkg");
    package(&corpus("fs/ext2.udf"), &["--entry", "ext2_inode", "--target", "x86_64"], &pkg);
    let code = tmp("selfwrite.bin");
    std::fs::write(&code, SELF_WRITE).expect("write");
    // The hook's code runs on the first input; the package's own on the second.
    let got = boot(&pkg, &[&input, &input], &["--test-native-code", s(&code)]);
    assert_eq!(got.status.code(), Some(1), "{}", stderr(&got));
    let err = stderr(&got);
    assert!(err.contains("udf::kernel::run"), "{err}");
    assert!(err.contains("the MMU stopped it: page fault, write to"), "{err}");
    assert!(err.contains("a page that forbids it"), "{err}");
    let want = load(&pkg, &input, false);
    assert_eq!(want.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&got.stdout), String::from_utf8_lossy(&want.stdout));

    // Without the kernel's key the hook's code is refused like unsigned native code: nothing
    // of it runs, and the next input runs the package (an unsigned bytecode filter).
    let plain = tmp("selfwrite-plain.pkg");
    let o = udf(&["package", &corpus("filters/web.udf"), "-o", s(&plain)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let syn = PathBuf::from(corpus("inputs/http_syn.bin"));
    let got = udf(&[
        "kernel",
        "boot",
        s(image()),
        "--pkg",
        s(&plain),
        "--test-native-code",
        s(&code),
        "--input",
        s(&syn),
        s(&syn),
    ]);
    assert_eq!(got.status.code(), Some(1), "{}", stderr(&got));
    let err = stderr(&got);
    assert!(err.contains("the test code is not authenticated under the kernel's key"), "{err}");
    assert!(!err.contains("MMU"), "{err}");
    let want = udf(&["kernel", "load", s(&plain), "--input", s(&syn)]);
    assert_eq!(want.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&got.stdout), String::from_utf8_lossy(&want.stdout));
}

#[test]
fn a_missing_image_is_a_usage_error() {
    let pkg = tmp("missing.pkg");
    package(&corpus("filters/web.udf"), &[], &pkg);
    let o = udf(&[
        "kernel",
        "boot",
        s(&tmp("no-such-image")),
        "--pkg",
        s(&pkg),
        "--input",
        &corpus("inputs/hello.txt"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
