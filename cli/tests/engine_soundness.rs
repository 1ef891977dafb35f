//! Issue 15's engine bugs through the `udf` binary: every path that runs a verified program
//! refuses a context its proof did not assume (exit 1, a message, no result printed), on both
//! engines and with `--harden`, for `.s`, `.bin` and `.udf` input and in `udf kernel load`;
//! the engines (and `--harden`) agree on regions placed by address and on wrapping `LD_IND`;
//! and they refuse the same programs.

use std::process::Output;

mod common;
use common::{corpus, text, tmp, udf};

fn write(name: &str, bytes: &[u8]) -> String {
    let p = tmp(name);
    std::fs::write(&p, bytes).expect("write");
    p.display().to_string()
}

/// The engine choices of `udf run` for a verified program.
const ENGINES: [&[&str]; 3] =
    [&["--engine", "interp"], &["--engine", "jit"], &["--engine", "jit", "--harden"]];

fn run(prog: &str, extra: &[&str], input: &str, engine: &[&str]) -> Output {
    let mut args = vec!["run", prog, "--input", input];
    args.extend_from_slice(extra);
    args.extend_from_slice(engine);
    udf(&args)
}

/// Exit 1, the refusal's message, and nothing on stdout.
fn assert_refused(o: &Output, what: &str) {
    let (out, err) = text(o);
    assert_eq!(o.status.code(), Some(1), "{what}: {out} {err}");
    assert_eq!(out, "", "{what}: no result is printed");
    assert!(err.contains("refused") && err.contains("nothing ran"), "{what}: {err}");
}

const ACL: &str = "ldxdw %r0, [%r1+0]\nldxw %r2, [%r1+8]\nadd %r0, %r2\nexit\n";

#[test]
fn run_refuses_acl_contexts_shorter_than_the_request() {
    let s = write("acl.s", ACL.as_bytes());
    let bin = tmp("acl.bin").display().to_string();
    let o = udf(&["asm", &s, "-o", &bin]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    for prog in [&s, &bin] {
        for len in [0usize, 1, 15] {
            let input = write(&format!("short{len}"), &vec![7u8; len]);
            for engine in ENGINES {
                let o = run(prog, &["--type", "acl"], &input, engine);
                assert_refused(&o, &format!("{prog} {len} bytes {engine:?}"));
                assert!(text(&o).1.contains("16 to"), "{:?}", text(&o));
            }
        }
        let input = write("request", &[1u8; 16]);
        for engine in ENGINES {
            let o = run(prog, &["--type", "acl"], &input, engine);
            assert_eq!(text(&o).0, format!("r0 = {}\n", 0x0101_0101_0101_0101u64 + 0x0101_0101));
        }
    }
}

#[test]
fn run_refuses_objects_of_another_size_than_the_entry_was_compiled_for() {
    // ext2_inode is an owns program over a 128-byte inode.
    // Shorter inputs are refused as such, by the entry's size (udf::input::short), before
    // any verification at the input's size; longer ones, which the verifier would accept at
    // their own size, by the entry's size too (udf::input::size).
    let src = corpus("fs/ext2.udf");
    for len in [0usize, 100, 127] {
        let input = write(&format!("inode{len}"), &vec![0u8; len]);
        for engine in ENGINES {
            let o = run(&src, &["--entry", "ext2_inode"], &input, engine);
            assert_eq!(o.status.code(), Some(1), "{len} {engine:?}: {:?}", text(&o));
            assert_eq!(text(&o).0, "", "{len} {engine:?}: no result is printed");
            let err = text(&o).1;
            assert!(
                err.contains("udf::input::short")
                    && err.contains("exactly 128")
                    && err.contains("nothing ran"),
                "{err}"
            );
        }
    }
    for len in [129usize, 256, 4096] {
        let input = write(&format!("inode{len}"), &vec![0u8; len]);
        for engine in ENGINES {
            let o = run(&src, &["--entry", "ext2_inode"], &input, engine);
            assert_refused(&o, &format!("{len} bytes {engine:?}"));
            assert!(text(&o).1.contains("exactly 128"), "{:?}", text(&o));
        }
    }
    let input = write("inode128", &[0u8; 128]);
    for engine in ENGINES {
        let o = run(&src, &["--entry", "ext2_inode"], &input, engine);
        assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    }
}

#[test]
fn kernel_load_refuses_acl_contexts_shorter_than_the_request() {
    let s = write("kacl.s", ACL.as_bytes());
    let key = write("kernel.key", b"the kernel's secret");
    for target in ["none", "x86_64"] {
        let pkg = tmp(&format!("acl-{target}.pkg")).display().to_string();
        let o =
            udf(&["package", &s, "--type", "acl", "--target", target, "--key", &key, "-o", &pkg]);
        assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
        for len in [0usize, 8, 15] {
            let input = write(&format!("kshort{len}"), &vec![3u8; len]);
            let o = udf(&["kernel", "load", &pkg, "--key", &key, "--input", &input]);
            assert_refused(&o, &format!("{target} {len} bytes"));
        }
        let input = write("krequest", &[0u8; 16]);
        let o = udf(&["kernel", "load", &pkg, "--key", &key, "--input", &input]);
        assert_eq!(text(&o).0, "r0 = 0\n", "{:?}", text(&o));
    }
}

/// A function reached with a context pointer and with a stack pointer, both moved 20000 bytes
/// down and brought back by the load's offset.
#[test]
fn engines_agree_on_accesses_placed_by_address() {
    let s = write(
        "either.s",
        b"mov %r6, %r1\nsub %r1, 20000\ncall local f\nmov %r7, %r0\nstdw [%r10-8], 0x5a\n\
          mov %r1, %r10\nsub %r1, 20008\ncall local f\nadd %r0, %r7\nexit\n\
          f:\nldxb %r0, [%r1+20000]\nexit\n",
    );
    let input = write("eight", &[9, 0, 0, 0, 0, 0, 0, 0]);
    for engine in ENGINES {
        let o = run(&s, &["--type", "size"], &input, engine);
        assert_eq!(text(&o).0, format!("r0 = {}\n", 9 + 0x5a), "{engine:?} {:?}", text(&o));
    }
}

#[test]
fn engines_agree_on_ld_ind_wrapping_at_2_pow_32() {
    let input = write("pkt", &[10, 11, 12, 13]);
    for (prog, want) in [
        ("mov32 %r6, -1\nldindb %r6, 1\nexit\n", 10),
        ("lddw %r6, 0x100000002\nldindb %r6, 0\nexit\n", 12),
        ("mov32 %r6, -1\nldindw %r6, 2\nmov %r0, 1\nexit\n", 0),
    ] {
        let s = write("ldind.s", prog.as_bytes());
        for engine in ENGINES {
            let o = run(&s, &["--type", "filter"], &input, engine);
            assert_eq!(text(&o).0, format!("r0 = {want}\n"), "{prog} {engine:?}");
        }
        for engine in ["interp", "jit"] {
            let o = run(&s, &["--type", "raw"], &input, &["--engine", engine]);
            assert_eq!(text(&o).0, format!("r0 = {want}\n"), "raw {prog} {engine}");
        }
    }
}

/// Registers never written, read only on a branch no run takes: verified, both engines run it;
/// unverified (`raw`), both refuse it with the same pre-run check.
#[test]
fn engines_refuse_the_same_programs() {
    let s = write("deadread.s", b"mov %r0, 1\njeq %r0, 1, +2\nmov %r0, %r7\nadd %r0, %r8\nexit\n");
    let input = write("any", &[1, 2, 3]);
    for engine in ENGINES {
        let o = run(&s, &["--type", "filter"], &input, engine);
        assert_eq!(text(&o).0, "r0 = 1\n", "{engine:?} {:?}", text(&o));
    }
    let mut errs = Vec::new();
    for engine in ["interp", "jit"] {
        let o = run(&s, &["--type", "raw"], &input, &["--engine", engine]);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{engine}: {out} {err}");
        assert_eq!(out, "");
        errs.push(err);
    }
    assert_eq!(errs[0], errs[1], "the same refusal");
}
