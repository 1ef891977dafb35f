//! `udf package` and `udf kernel load`: a corpus owns-udf packaged with x86-64 code and a key,
//! loaded with the key, prints what `udf run` prints; with the wrong key it is refused (exit 1).

use std::path::Path;

mod common;
use common::{corpus, s, stderr, tmp, udf};

/// `udf package SRC --entry ext2_inode` with `opts`, written to `out`.
fn package_ext2_inode(src: &str, opts: &[&str], out: &Path) -> std::process::Output {
    let mut args = vec!["package", src, "--entry", "ext2_inode"];
    args.extend_from_slice(opts);
    args.extend_from_slice(&["-o", s(out)]);
    udf(&args)
}

#[test]
fn package_then_load_prints_as_run() {
    let src = corpus("fs/ext2.udf");
    let input = tmp("inode.bin");
    // A regular file: direct blocks 100 and 101, single-indirect 200, xattr block 500.
    let mut inode = vec![0u8; 128];
    inode[0..2].copy_from_slice(&0x81a4u16.to_le_bytes());
    inode[26..28].copy_from_slice(&1u16.to_le_bytes());
    for (at, b) in [(40, 100u32), (44, 101), (88, 200), (104, 500)] {
        inode[at..at + 4].copy_from_slice(&b.to_le_bytes());
    }
    std::fs::write(&input, &inode).expect("write");
    let key = tmp("kernel.key");
    std::fs::write(&key, b"the kernel's secret").expect("write");
    let wrong = tmp("wrong.key");
    std::fs::write(&wrong, b"not the kernel's secret").expect("write");
    let pkg = tmp("ext2.pkg");

    let o = package_ext2_inode(&src, &["--target", "x86_64", "--key", s(&key)], &pkg);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    let run = udf(&["run", &src, "--entry", "ext2_inode", "--input", s(&input)]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let expected = String::from_utf8(run.stdout).expect("UTF-8");
    assert_eq!(
        expected,
        "r0 = 0\nextent 100 1 0\nextent 101 1 0\nextent 200 1 1\nextent 500 1 4\n"
    );

    let o = udf(&["kernel", "load", s(&pkg), "--key", s(&key), "--input", s(&input)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), expected);
    let how = if cfg!(target_arch = "x86_64") { "native" } else { "interpreted" };
    assert!(stderr(&o).contains(how), "{}", stderr(&o));

    let o = udf(&["kernel", "load", s(&pkg), "--key", s(&wrong), "--input", s(&input)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert!(stderr(&o).contains("tag"), "{}", stderr(&o));

    // Without a key the kernel cannot authenticate it.
    let o = udf(&["kernel", "load", s(&pkg), "--input", s(&input)]);
    assert_eq!(o.status.code(), Some(1));

    // A bytecode package without a key loads too, and runs interpreted (or compiled by the
    // kernel's own JIT when the workspace build enables kernel-glue's `jit` feature).
    let plain = tmp("ext2-plain.pkg");
    let o = package_ext2_inode(&src, &[], &plain);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = udf(&["kernel", "load", s(&plain), "--input", s(&input)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), expected);
    assert!(stderr(&o).contains("the package has no native code"), "{}", stderr(&o));

    // One byte changed: refused.
    let mut bytes = std::fs::read(&pkg).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    let bad = tmp("bad.pkg");
    std::fs::write(&bad, &bytes).expect("write");
    let o = udf(&["kernel", "load", s(&bad), "--key", s(&key), "--input", s(&input)]);
    assert_eq!(o.status.code(), Some(1));

    // An empty key file is a usage error.
    let empty = tmp("empty.key");
    std::fs::write(&empty, b"").expect("write");
    let o = package_ext2_inode(&src, &["--key", s(&empty)], &bad);
    assert_eq!(o.status.code(), Some(2));
}

/// `--require-tag`: the kernel's policy requires an authentication tag on every package. A
/// package without one is refused (exit 1, `udf::kernel::untagged`) with or without `--key`;
/// a signed one loads with the right key and is refused with the wrong one or none.
#[test]
fn require_tag_refuses_packages_without_a_tag() {
    let src = corpus("fs/ext2.udf");
    let input = corpus("inputs/ext2_inode.bin");
    let key = tmp("tag.key");
    std::fs::write(&key, b"the kernel's secret").expect("write");
    let wrong = tmp("tag-wrong.key");
    std::fs::write(&wrong, b"not the kernel's secret").expect("write");
    let plain = tmp("tag-plain.pkg");
    let signed = tmp("tag-signed.pkg");
    let o = package_ext2_inode(&src, &[], &plain);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = package_ext2_inode(&src, &["--key", s(&key)], &signed);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // Without the policy the unsigned package loads.
    let o = udf(&["kernel", "load", s(&plain), "--input", &input]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let expected = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(expected.starts_with("r0 = "), "{expected}");

    let load = |pkg: &Path, key: Option<&Path>, json: bool| {
        let mut args = vec!["kernel", "load", s(pkg), "--require-tag", "--input", &input];
        if let Some(k) = key {
            args.extend(["--key", s(k)]);
        }
        if json {
            args.push("--json");
        }
        udf(&args)
    };
    for k in [None, Some(key.as_path())] {
        let o = load(&plain, k, false);
        assert_eq!(o.status.code(), Some(1), "key {k:?}: {}", stderr(&o));
        assert!(o.stdout.is_empty());
        let err = stderr(&o);
        assert!(err.contains("udf::kernel::untagged"), "{err}");
        assert!(err.contains("no authentication tag"), "{err}");
        let o = load(&plain, k, true);
        assert_eq!(o.status.code(), Some(1));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
        let text = v.to_string();
        assert!(text.contains("udf::kernel::untagged"), "{text}");
    }
    // Signed: verified as without the policy.
    let o = load(&signed, Some(&key), false);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), expected);
    let o = load(&signed, Some(&wrong), false);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("tag"), "{}", stderr(&o));
    let o = load(&signed, None, false);
    assert_eq!(o.status.code(), Some(1));
    assert!(!stderr(&o).contains("udf::kernel::untagged"), "{}", stderr(&o));
}
