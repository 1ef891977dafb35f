//! The `udf` binary's contract: outputs and exit statuses (0 ok, 1 refused, 2 usage/unreadable).

use std::path::PathBuf;
use std::process::{Command, Output};

fn udf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_udf"))
        .args(args)
        .output()
        .expect("udf runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("udf-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn asm_disasm_run_roundtrip() {
    let src = tmp("sum.s");
    std::fs::write(
        &src,
        "# sum the first two bytes\nldxb %r0, [%r1]\nldxb %r2, [%r1+1]\nadd %r0, %r2\nexit\n",
    )
    .expect("write");
    let bin = tmp("sum.bin");
    let o = udf(&["asm", src.to_str().unwrap(), "-o", bin.to_str().unwrap()]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(std::fs::read(&bin).expect("written").len(), 32);

    let o = udf(&["disasm", bin.to_str().unwrap()]);
    let (out, _) = text(&o);
    assert_eq!(
        out,
        "ldxb %r0, [%r1]\nldxb %r2, [%r1+1]\nadd %r0, %r2\nexit\n"
    );

    let input = tmp("two.bytes");
    std::fs::write(&input, [40u8, 2]).expect("write");
    let o = udf(&[
        "run",
        bin.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ]);
    assert_eq!(text(&o).0, "r0 = 42\n");
    assert_eq!(o.status.code(), Some(0));

    let o = udf(&[
        "--json",
        "run",
        src.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        (v["r0"].as_u64(), v["executed"].as_u64()),
        (Some(42), Some(4))
    );
}

#[test]
fn owns_run_prints_extents() {
    let src = tmp("owns.s");
    std::fs::write(
        &src,
        "ldxw %r1, [%r1]\nmov %r2, 1\nmov %r3, 4\ncall 1\nmov %r0, 0\nexit\n",
    )
    .expect("write");
    let input = tmp("inode.bytes");
    std::fs::write(&input, 1234u32.to_le_bytes()).expect("write");
    let o = udf(&[
        "run",
        src.to_str().unwrap(),
        "--type",
        "owns",
        "--input",
        input.to_str().unwrap(),
    ]);
    assert_eq!(text(&o).0, "r0 = 0\nextent 1234 1 4\n", "{:?}", text(&o));
}

#[test]
fn errors_are_located_with_statuses() {
    let bad = tmp("bad.s");
    std::fs::write(&bad, "mov %r0, 1\nldxq %r0, [%r1]\nexit\n").expect("write");
    let o = udf(&["asm", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let (_, err) = text(&o);
    assert!(
        err.contains("bad.s:2:1") && err.contains("invalid mnemonic `ldxq`"),
        "{err}"
    );

    let o = udf(&["disasm", "/nonexistent/file.bin"]);
    assert_eq!(o.status.code(), Some(2));

    let o = udf(&[
        "run",
        bad.to_str().unwrap(),
        "--type",
        "nonsense",
        "--input",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));

    let loop_s = tmp("loop.s");
    std::fs::write(&loop_s, "mov %r0, 0\nja -1\n").expect("write");
    let o = udf(&[
        "run",
        loop_s.to_str().unwrap(),
        "--budget",
        "100",
        "--input",
        loop_s.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).1.contains("budget of 100 exhausted"),
        "{:?}",
        text(&o)
    );

    let uninit = tmp("uninit.s");
    std::fs::write(&uninit, "or %r0, %r10\nexit\n").expect("write");
    let o = udf(&[
        "run",
        uninit.to_str().unwrap(),
        "--input",
        uninit.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("invalid read of %r0"), "{:?}", text(&o));
}

#[test]
fn test_command_summarises_and_fails_on_failures() {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/bpf_conformance");
    let o = udf(&[
        "test",
        dir.join("tests").to_str().unwrap(),
        "--engine",
        "interp",
    ]);
    assert_eq!(
        text(&o).0.lines().last(),
        Some("313 passed, 0 failed, 0 skipped")
    );
    assert!(o.status.success());
    // Positive cases under --expect-failure are not flagged: every one fails, exit 1.
    let o = udf(&[
        "test",
        "--expect-failure",
        dir.join("tests/add.data").to_str().unwrap(),
    ]);
    assert_eq!(
        text(&o).0.lines().last(),
        Some("0 passed, 1 failed, 0 skipped")
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn demo_runs_the_bundled_corpus() {
    let o = udf(&["demo"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let (out, _) = text(&o);
    for line in [
        "http_syn.bin (54 bytes): r0 = 262144 (accept)",
        "ssh_syn.bin (54 bytes): r0 = 0 (drop)",
        "truncated_http.bin (36 bytes): r0 = 0 (drop)",
        "    extent 2000 1 0",
        "hello.txt (14 bytes): r0 = 1265",
        "invalid read of %r0",
    ] {
        assert!(out.contains(line), "missing `{line}` in:\n{out}");
    }
}

#[test]
fn verify_accepts_with_facts_and_rejects_on_the_source_line() {
    let good = tmp("hdr.s");
    std::fs::write(
        &good,
        "mov %r0, 0\njlt %r2, 15, out\nldxb %r3, [%r1+14]\nand %r3, 15\nlsh %r3, 2\n\
         mov %r4, %r3\nadd %r4, 18\njgt %r4, %r2, out\nmov %r5, %r1\nadd %r5, %r3\n\
         ldxh %r0, [%r5+16]\nout:\nexit\n",
    )
    .expect("write");
    let o = udf(&["verify", good.to_str().unwrap(), "--type", "filter"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains("instruction bound: 12"), "{out}");

    let src = std::fs::read_to_string(&good)
        .unwrap()
        .replace("add %r4, 18", "add %r4, 17");
    let bad = tmp("hdr_short.s");
    std::fs::write(&bad, src).expect("write");
    let o = udf(&["verify", bad.to_str().unwrap(), "--type", "filter"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("udf::verify::ctx-bounds"), "{err}");
    assert!(err.contains("hdr_short.s:11:1: instruction 10"), "{err}");
    assert!(
        err.contains("v+17 <= len proven, and it needs v+18"),
        "{err}"
    );

    let o = udf(&[
        "--json",
        "verify",
        bad.to_str().unwrap(),
        "--type",
        "filter",
    ]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["rule"], "ctx-bounds");
    assert_eq!(v["line"], 11);
    assert_eq!(v["path"][0]["index"], 1);

    // The type is required for assembler input; an unknown one is bad usage.
    assert_eq!(
        udf(&["verify", good.to_str().unwrap()]).status.code(),
        Some(2)
    );
    assert_eq!(
        udf(&["verify", good.to_str().unwrap(), "--type", "raw"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn run_refuses_unverifiable_programs_of_verified_types() {
    let src = tmp("unchecked.s");
    std::fs::write(&src, "ldxw %r0, [%r1+0]\nexit\n").expect("write");
    let input = tmp("two.bin");
    std::fs::write(&input, [1u8, 2]).expect("write");
    let o = udf(&[
        "run",
        src.to_str().unwrap(),
        "--type",
        "filter",
        "--input",
        input.to_str().unwrap(),
    ]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("udf::verify::ctx-bounds"), "{err}");
    // The same program as `size` over a 4-byte object verifies and runs.
    std::fs::write(&input, [1u8, 0, 0, 0]).expect("write");
    let o = udf(&[
        "run",
        src.to_str().unwrap(),
        "--type",
        "size",
        "--input",
        input.to_str().unwrap(),
    ]);
    assert_eq!(text(&o).0, "r0 = 1\n");
}

#[test]
fn jit_engine_agrees_and_jit_prints_code_for_every_target() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../corpus");
    let owns = format!("{root}/asm/owns_direct.s");
    let inode = format!("{root}/inputs/ext2_inode.bin");
    let interp = udf(&["run", &owns, "--type", "owns", "--input", &inode]);
    let jit = udf(&[
        "run", &owns, "--type", "owns", "--input", &inode, "--engine", "jit",
    ]);
    assert!(jit.status.success(), "{:?}", text(&jit));
    assert_eq!(text(&interp).0, text(&jit).0);
    assert!(text(&jit).0.contains("extent 1000 1 0"));

    // A raw program faults the same way on both engines, with the same located message.
    let src = tmp("oob.s");
    std::fs::write(&src, "mov %r0, 0\nldxb %r0, [%r1+100]\nexit\n").expect("write");
    let data = tmp("oob.bin");
    std::fs::write(&data, [1u8, 2, 3]).expect("write");
    let (s, d) = (src.to_str().unwrap(), data.to_str().unwrap());
    let a = udf(&["run", s, "--input", d]);
    let b = udf(&["run", s, "--input", d, "--engine", "jit"]);
    assert_eq!(a.status.code(), Some(1));
    assert_eq!(b.status.code(), Some(1));
    assert!(
        text(&b).1.contains("instruction 1: load of 1 byte(s)"),
        "{}",
        text(&b).1
    );
    assert_eq!(text(&a).1, text(&b).1);

    for target in ["x86_64", "aarch64", "riscv64"] {
        let o = udf(&[
            "jit",
            &owns,
            "--type",
            "owns",
            "--ctx-size",
            "128",
            "--target",
            target,
        ]);
        assert!(o.status.success(), "{target}: {:?}", text(&o));
        let out = text(&o).0;
        assert!(out.contains(&format!("; {target} code, trusted:")), "{out}");
        assert!(
            out.lines().count() > 20,
            "{target}: too little disassembly:\n{out}"
        );
    }
    let o = udf(&["jit", &owns, "--type", "owns", "--target", "mips"]);
    assert_eq!(o.status.code(), Some(2));
    // Unverifiable programs of verified types are refused before any code is made.
    let o = udf(&["jit", s, "--type", "size", "--ctx-size", "3"]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
}
