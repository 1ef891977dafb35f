//! The `udf` binary's contract: outputs and exit statuses (0 ok, 1 refused, 2 usage/unreadable).

use std::path::PathBuf;

mod common;
use common::{corpus, text, tmp, udf};

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
    assert_eq!(out, "ldxb %r0, [%r1]\nldxb %r2, [%r1+1]\nadd %r0, %r2\nexit\n");

    let input = tmp("two.bytes");
    std::fs::write(&input, [40u8, 2]).expect("write");
    let o = udf(&["run", bin.to_str().unwrap(), "--input", input.to_str().unwrap()]);
    assert_eq!(text(&o).0, "r0 = 42\n");
    assert_eq!(o.status.code(), Some(0));

    let o = udf(&["--json", "run", src.to_str().unwrap(), "--input", input.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!((v["r0"].as_u64(), v["executed"].as_u64()), (Some(42), Some(4)));
}

#[test]
fn owns_run_prints_extents() {
    let src = tmp("owns.s");
    std::fs::write(&src, "ldxw %r1, [%r1]\nmov %r2, 1\nmov %r3, 4\ncall 1\nmov %r0, 0\nexit\n")
        .expect("write");
    let input = tmp("inode.bytes");
    std::fs::write(&input, 1234u32.to_le_bytes()).expect("write");
    let o =
        udf(&["run", src.to_str().unwrap(), "--type", "owns", "--input", input.to_str().unwrap()]);
    assert_eq!(text(&o).0, "r0 = 0\nextent 1234 1 4\n", "{:?}", text(&o));
}

#[test]
fn errors_are_located_with_statuses() {
    let bad = tmp("bad.s");
    std::fs::write(&bad, "mov %r0, 1\nldxq %r0, [%r1]\nexit\n").expect("write");
    let o = udf(&["asm", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let (_, err) = text(&o);
    assert!(err.contains("bad.s:2:1") && err.contains("invalid mnemonic `ldxq`"), "{err}");

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
    assert!(text(&o).1.contains("budget of 100 exhausted"), "{:?}", text(&o));

    let uninit = tmp("uninit.s");
    std::fs::write(&uninit, "or %r0, %r10\nexit\n").expect("write");
    let o = udf(&["run", uninit.to_str().unwrap(), "--input", uninit.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("invalid read of %r0"), "{:?}", text(&o));
}

#[test]
fn test_command_summarises_and_fails_on_failures() {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/bpf_conformance");
    let o = udf(&["test", dir.join("tests").to_str().unwrap(), "--engine", "interp"]);
    assert_eq!(text(&o).0.lines().last(), Some("313 passed, 0 failed, 0 skipped"));
    assert!(o.status.success());
    // Positive cases under --expect-failure are not flagged: every one fails, exit 1.
    let o = udf(&["test", "--expect-failure", dir.join("tests/add.data").to_str().unwrap()]);
    assert_eq!(text(&o).0.lines().last(), Some("0 passed, 1 failed, 0 skipped"));
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

    let src = std::fs::read_to_string(&good).unwrap().replace("add %r4, 18", "add %r4, 17");
    let bad = tmp("hdr_short.s");
    std::fs::write(&bad, src).expect("write");
    let o = udf(&["verify", bad.to_str().unwrap(), "--type", "filter"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("udf::verify::ctx-bounds"), "{err}");
    assert!(err.contains("hdr_short.s:11:1: instruction 10"), "{err}");
    assert!(err.contains("v+17 <= len proven, and it needs v+18"), "{err}");

    let o = udf(&["--json", "verify", bad.to_str().unwrap(), "--type", "filter"]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["rule"], "ctx-bounds");
    assert_eq!(v["line"], 11);
    assert_eq!(v["path"][0]["index"], 1);

    // The type is required for assembler input; an unknown one is bad usage.
    assert_eq!(udf(&["verify", good.to_str().unwrap()]).status.code(), Some(2));
    assert_eq!(udf(&["verify", good.to_str().unwrap(), "--type", "raw"]).status.code(), Some(2));
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
    let o =
        udf(&["run", src.to_str().unwrap(), "--type", "size", "--input", input.to_str().unwrap()]);
    assert_eq!(text(&o).0, "r0 = 1\n");
}

#[test]
fn jit_engine_agrees_and_jit_prints_code_for_every_target() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../corpus");
    let owns = format!("{root}/asm/owns_direct.s");
    let inode = format!("{root}/inputs/ext2_inode.bin");
    let interp = udf(&["run", &owns, "--type", "owns", "--input", &inode]);
    let jit = udf(&["run", &owns, "--type", "owns", "--input", &inode, "--engine", "jit"]);
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
    assert!(text(&b).1.contains("instruction 1: load of 1 byte(s)"), "{}", text(&b).1);
    assert_eq!(text(&a).1, text(&b).1);

    for target in ["x86_64", "aarch64", "riscv64"] {
        let o = udf(&["jit", &owns, "--type", "owns", "--ctx-size", "128", "--target", target]);
        assert!(o.status.success(), "{target}: {:?}", text(&o));
        let out = text(&o).0;
        assert!(out.contains(&format!("; {target} code, trusted:")), "{out}");
        assert!(out.lines().count() > 20, "{target}: too little disassembly:\n{out}");
    }
    let o = udf(&["jit", &owns, "--type", "owns", "--target", "mips"]);
    assert_eq!(o.status.code(), Some(2));
    // Unverifiable programs of verified types are refused before any code is made.
    let o = udf(&["jit", s, "--type", "size", "--ctx-size", "3"]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
}

/// 1-based line and column of the first occurrence of `needle` in `path`.
fn line_col_of(path: &str, needle: &str) -> (usize, usize) {
    let src = std::fs::read_to_string(path).expect("readable");
    let at = src.find(needle).expect("present");
    let line = src[..at].matches('\n').count() + 1;
    let col = at - src[..at].rfind('\n').map_or(0, |p| p + 1) + 1;
    (line, col)
}

#[test]
fn compile_writes_bytecode_and_source_maps_the_same_twice() {
    let src = corpus("fs/ext2.udf");
    let (a, b) = (tmp("compiled-a"), tmp("compiled-b"));
    for dir in [&a, &b] {
        let o = udf(&["compile", &src, "-o", dir.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
        let (out, err) = text(&o);
        assert!(out.is_empty(), "{out}");
        assert!(
            err.contains("ext2_inode (owns, 128-byte object): ")
                && err.contains("instruction bound"),
            "{err}"
        );
    }
    for name in [
        "ext2_inode",
        "ext2_ind1_1k",
        "ext2_ind2_1k",
        "ext2_ind3_1k",
        "ext2_ind1_4k",
        "ext2_ind2_4k",
        "ext2_ind3_4k",
    ] {
        for ext in ["bin", "map"] {
            let file = format!("{name}.{ext}");
            let first = std::fs::read(a.join(&file)).expect("written");
            assert!(!first.is_empty(), "{file} is empty");
            assert_eq!(first, std::fs::read(b.join(&file)).expect("written"), "{file} differs");
        }
        // One map line per instruction, `INDEX LINE:COL-LINE:COL`; the bytecode disassembles.
        let bin = a.join(format!("{name}.bin"));
        let listing = text(&udf(&["disasm", bin.to_str().unwrap()])).0;
        let map = std::fs::read_to_string(a.join(format!("{name}.map"))).unwrap();
        assert_eq!(listing.lines().count(), map.lines().count(), "{name}");
        let first = map.lines().next().unwrap();
        assert!(first.starts_with("0 ") && first.contains('-'), "{first}");
    }
    // --entry writes one entry point; --json lists what was written.
    let c = tmp("compiled-c");
    let o = udf(&["--json", "compile", &src, "--entry", "ext2_ind1_4k", "-o", c.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["status"], 0);
    let v = &v["entries"];
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    assert_eq!(v[0]["name"], "ext2_ind1_4k");
    assert_eq!(v[0]["type"], "owns");
    assert_eq!(v[0]["ctx_size"], 4096);
    assert_eq!(
        std::fs::read(c.join("ext2_ind1_4k.bin")).unwrap(),
        std::fs::read(a.join("ext2_ind1_4k.bin")).unwrap()
    );
    assert!(!c.join("ext2_inode.bin").exists());
    let o = udf(&["compile", &src, "--entry", "nope", "-o", c.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("ext2_ind3_4k (owns)"), "{:?}", text(&o));
    assert_eq!(udf(&["compile", &corpus("asm/sum_bytes.s")]).status.code(), Some(2));
}

#[test]
fn verify_udf_prints_facts_and_points_rejections_at_the_source() {
    let src = corpus("fs/ext2.udf");
    let o = udf(&["verify", &src, "--entry", "ext2_inode"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.starts_with("accepted: owns program"), "{out}");
    assert!(out.contains("instruction bound: "), "{out}");
    assert!(out.contains("extents bound: "), "{out}");
    let o = udf(&["--json", "verify", &src, "--entry", "ext2_ind1_1k"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!((v["accepted"].as_bool(), v["type"].as_str()), (Some(true), Some("owns")));
    assert!(v["max_insns"].as_u64().unwrap() > 256);

    // Several entry points and no --entry: a usage error naming them.
    let o = udf(&["verify", &src]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("ext2_inode (owns), ext2_ind1_1k (owns)"), "{:?}", text(&o));
    // The entry point fixes the type: a different --type is a usage error, the same one is fine.
    let o = udf(&["verify", &src, "--entry", "ext2_inode", "--type", "filter"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("is a owns program") || text(&o).1.contains("owns"));
    let o = udf(&["verify", &src, "--entry", "ext2_inode", "--type", "owns"]);
    assert_eq!(o.status.code(), Some(0));
    // A single entry point needs no --entry.
    let o = udf(&["verify", &corpus("filters/web.udf")]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(text(&o).0.starts_with("accepted: filter program"));

    // Verified for a smaller object than its layout, the inode's block map is out of bounds:
    // the rejection points at the source expression, not at an instruction number.
    let (line, col) = line_col_of(&src, "i.block[k] != 0");
    let o = udf(&["verify", &src, "--entry", "ext2_inode", "--ctx-size", "64"]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("udf::verify::ctx-bounds"), "{err}");
    assert!(err.contains(&format!("ext2.udf:{line}:{col}: instruction ")), "{err}");
    assert!(err.contains("of entry point `ext2_inode`"), "{err}");
    let o = udf(&["--json", "verify", &src, "--entry", "ext2_inode", "--ctx-size", "64"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!((v["rule"].as_str(), v["line"].as_u64()), (Some("ctx-bounds"), Some(line as u64)));
    assert_eq!(v["col"].as_u64(), Some(col as u64));
}

#[test]
fn compile_errors_are_all_reported_with_code_and_location() {
    let bad = tmp("two_errors.udf");
    std::fs::write(
        &bad,
        "layout L le size 8 { a: u32 @ 0, b: i32 @ 4 }\n\n\
         size first(x: L) -> u64 {\n    x.a + nosuch\n}\n\n\
         size second(x: L) -> u64 {\n    (x.a + x.b) as u64\n}\n",
    )
    .expect("write");
    let b = bad.to_str().unwrap();
    let input = tmp("eight.bytes");
    std::fs::write(&input, [0u8; 8]).expect("write");
    for args in [
        vec!["compile", b, "-o", tmp("never").to_str().unwrap()],
        vec!["verify", b],
        vec!["run", b, "--input", input.to_str().unwrap()],
        vec!["jit", b],
    ] {
        let o = udf(&args);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        for want in [
            "udf::name::unknown",
            "udf::type::mismatch",
            "two_errors.udf:4:11: ",
            "two_errors.udf:8:6: ",
        ] {
            assert!(err.contains(want), "{args:?}: no `{want}` in\n{err}");
        }
    }
    assert!(!tmp("never").join("first.bin").exists());
    let o = udf(&["--json", "verify", b]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let codes: Vec<&str> =
        v["errors"].as_array().expect("errors").iter().filter_map(|e| e["code"].as_str()).collect();
    assert!(codes.contains(&"udf::name::unknown") && codes.contains(&"udf::type::mismatch"));

    let clean = tmp("clean.udf");
    std::fs::write(
        &clean,
        "layout L le size 8 { a: u32 @ 0, b: i32 @ 4 }\n\
         size first(x: L) -> u64 { x.a + 1 }\n",
    )
    .expect("write");
    let c = clean.to_str().unwrap();
    let o = udf(&["compile", c, "-o", tmp("clean-out").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(udf(&["verify", c]).status.code(), Some(0));
    std::fs::write(&input, 41u32.to_le_bytes().repeat(2)).expect("write");
    let o = udf(&["run", c, "--input", input.to_str().unwrap()]);
    assert_eq!(text(&o).0, "r0 = 42\n");
    // Unreadable source: usage status, not a refusal.
    assert_eq!(udf(&["verify", "/nonexistent/x.udf"]).status.code(), Some(2));
}

#[test]
fn run_udf_agrees_on_both_engines() {
    let src = corpus("fs/ext2.udf");
    let inode = corpus("inputs/ext2_inode.bin");
    let args = ["run", &src, "--entry", "ext2_inode", "--input", &inode];
    let interp = udf(&args);
    let jit = udf(&[&args[..], &["--engine", "jit"]].concat());
    assert_eq!(interp.status.code(), Some(0), "{:?}", text(&interp));
    assert_eq!(jit.status.code(), Some(0), "{:?}", text(&jit));
    assert_eq!(text(&interp).0, "r0 = 0\nextent 1000 1 0\nextent 1001 1 0\nextent 2000 1 0\n");
    assert_eq!(text(&interp).0, text(&jit).0);

    let web = corpus("filters/web.udf");
    for (packet, want) in [
        ("http_syn.bin", "r0 = 262144\n"),
        ("ssh_syn.bin", "r0 = 0\n"),
        ("truncated_http.bin", "r0 = 0\n"),
    ] {
        for engine in ["interp", "jit"] {
            let o = udf(&[
                "run",
                &web,
                "--input",
                &corpus(&format!("inputs/{packet}")),
                "--engine",
                engine,
            ]);
            assert_eq!(text(&o).0, want, "{packet} on {engine}: {:?}", text(&o));
        }
    }
    // An input shorter than the entry point's layout is refused as such (the author of the
    // input can act on it), naming both sizes, not as a verifier rejection in the source.
    let o = udf(&[
        "run",
        &src,
        "--entry",
        "ext2_inode",
        "--input",
        &corpus("inputs/truncated_http.bin"),
    ]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("udf::input::short"), "{err}");
    assert!(err.contains("36 bytes") && err.contains("128 bytes"), "{err}");
    assert!(!err.contains("ext2.udf:"), "{err}");
    // --entry names an entry point of a source only.
    let o = udf(&["run", &corpus("asm/sum_bytes.s"), "--entry", "x", "--input", &inode]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn test_command_runs_the_corpus_udft_files_on_both_engines() {
    for engine in ["interp", "jit"] {
        let o = udf(&["test", &corpus(""), "--engine", engine]);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(0), "{engine}: {out}{err}");
        let last = out.lines().last().unwrap_or("");
        let passed: usize = last.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
        assert!(passed >= 30 && last.ends_with(" passed, 0 failed, 0 skipped"), "{engine}: {out}");
    }
    // A wrong expectation is a located failure; a source that does not compile fails every case.
    let dir = tmp("udft");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(corpus("filters/web.udf"), dir.join("web.udf")).unwrap();
    std::fs::write(
        dir.join("web.udft"),
        format!(
            "source web.udf\n-- case: right\ninput file {}\nresult 262144\n\
             -- case: wrong\ninput file {}\nresult 1\n",
            corpus("inputs/http_syn.bin"),
            corpus("inputs/ssh_syn.bin")
        ),
    )
    .unwrap();
    std::fs::write(dir.join("bad.udf"), "filter f(p: packet) { nosuch }\n").unwrap();
    std::fs::write(
        dir.join("bad.udft"),
        "source bad.udf\n-- case: a\ninput 14\nresult 0\n-- case: b\ninput 14\nresult 0\n",
    )
    .unwrap();
    let o = udf(&["test", dir.to_str().unwrap()]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("web.udft: case `wrong` (line 5): r0 = 0, expected 1"), "{out}");
    assert_eq!(out.matches("bad.udf does not compile").count(), 2, "{out}");
    assert!(out.contains("[udf::name::unknown]"), "{out}");
    assert_eq!(out.lines().last(), Some("1 passed, 3 failed, 0 skipped"));
}

/// Writes a pcap file of Ethernet packets `(captured bytes, length on the wire)`.
fn write_pcap(path: &std::path::Path, snaplen: u32, packets: &[(Vec<u8>, u32)]) {
    use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
    let header = PcapHeader { snaplen, ..PcapHeader::default() };
    let file = std::fs::File::create(path).expect("create");
    let mut w = PcapWriter::with_header(file, header).expect("header");
    for (i, (data, wire)) in packets.iter().enumerate() {
        let ts = std::time::Duration::from_secs(1_700_000_000 + i as u64);
        w.write_packet(&PcapPacket::new(ts, *wire, data)).expect("packet");
    }
}

#[test]
fn filter_runs_over_every_packet_of_a_capture() {
    let read = |name: &str| std::fs::read(corpus(&format!("inputs/{name}"))).expect("input");
    let (http, ssh, cut) = (read("http_syn.bin"), read("ssh_syn.bin"), read("truncated_http.bin"));
    let pcap = tmp("web.pcap");
    // The truncated packet was 54 bytes on the wire, more than the snap length: real captures
    // hold such packets, and they must be read.
    write_pcap(
        &pcap,
        54,
        &[(http.clone(), 54), (ssh.clone(), 54), (cut.clone(), 60), (http.clone(), 54)],
    );
    let web = corpus("filters/web.udf");
    let p = pcap.to_str().unwrap();
    for engine in ["interp", "jit"] {
        let o = udf(&["filter", &web, "--read", p, "--engine", engine]);
        assert_eq!(o.status.code(), Some(0), "{engine}: {:?}", text(&o));
        assert_eq!(text(&o).0, "262144\n0\n0\n262144\n", "{engine}");
        assert_eq!(text(&o).1, "", "{engine}: quiet when not on a terminal");
    }
    let o = udf(&["--json", "filter", &web, "--read", p]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!((v["packets"].as_u64(), v["accepted"].as_u64()), (Some(4), Some(2)));

    // The wire length is r3 (`p.wirelen`), the captured bytes are the context (`p.len`).
    let cut_filter = tmp("cut.udf");
    std::fs::write(
        &cut_filter,
        "// Packets the capture cut short.\nfilter cut(p: packet) { p.wirelen > p.len }\n",
    )
    .expect("write");
    for engine in ["interp", "jit"] {
        let o = udf(&["filter", cut_filter.to_str().unwrap(), "--read", p, "--engine", engine]);
        assert_eq!(text(&o).0, "0\n0\n262144\n0\n", "{engine}: {:?}", text(&o));
    }

    // pcapng: a real capture (two ARP packets, dropped), and one written here.
    let rarp = format!(
        "{}/../../shared/testdata/libpcap/captures/rarp_req_reply.pcapng",
        env!("CARGO_MANIFEST_DIR")
    );
    let o = udf(&["filter", &web, "--read", &rarp]);
    assert_eq!(text(&o).0, "0\n0\n", "{:?}", text(&o));
    let ng = tmp("web.pcapng");
    {
        use pcap_file::DataLink;
        use pcap_file::pcapng::PcapNgWriter;
        use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
        use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
        let mut w = PcapNgWriter::new(std::fs::File::create(&ng).unwrap()).unwrap();
        w.write_pcapng_block(InterfaceDescriptionBlock::new(DataLink::ETHERNET, 0)).unwrap();
        for data in [&ssh, &http, &cut] {
            w.write_pcapng_block(EnhancedPacketBlock {
                interface_id: 0,
                timestamp: std::time::Duration::from_secs(1),
                original_len: data.len() as u32,
                data: std::borrow::Cow::Borrowed(&data[..]),
                options: vec![],
            })
            .unwrap();
        }
    }
    for engine in ["interp", "jit"] {
        let o = udf(&["filter", &web, "--read", ng.to_str().unwrap(), "--engine", engine]);
        assert_eq!(text(&o).0, "0\n262144\n0\n", "{engine}: {:?}", text(&o));
    }

    // The same filter as a tcpdump expression: the same verdicts (the capture's packets are
    // IPv4), on both engines.
    let web_out = text(&udf(&["filter", &web, "--read", p])).0;
    for engine in ["interp", "jit"] {
        let o = udf(&["filter", "--pcap", "tcp dst port 80", "--read", p, "--engine", engine]);
        assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
        let ours: Vec<bool> = text(&o).0.lines().map(|l| l != "0").collect();
        let web_v: Vec<bool> = web_out.lines().map(|l| l != "0").collect();
        assert_eq!(ours, web_v, "{engine}");
    }
    // Errors: eBPF assembly is not classic BPF; a non-filter entry point; neither a source nor
    // a front end; a capture that is not one.
    let o = udf(&["filter", "--cbpf", &corpus("asm/filter_http.s"), "--read", p]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("udf::cbpf"), "{:?}", text(&o));
    let o = udf(&["filter", &corpus("fs/ext2.udf"), "--read", p]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("no filter entry point"), "{:?}", text(&o));
    let o = udf(&["filter", &corpus("fs/ext2.udf"), "--entry", "ext2_inode", "--read", p]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(udf(&["filter", "--read", p]).status.code(), Some(2));
    let o = udf(&["filter", &web, "--read", &corpus("inputs/hello.txt")]);
    assert_eq!(o.status.code(), Some(2), "{:?}", text(&o));
}

#[test]
fn demo_takes_the_udf_corpus_through_both_engines() {
    let o = udf(&["demo"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let (out, _) = text(&o);
    for line in [
        "corpus/fs/ext2.udf -> ext2_inode (owns, over a 128-byte object): ",
        "corpus/filters/web.udf -> web (filter, over packets of any length): ",
        "the same bytes when compiled again",
    ] {
        assert!(out.contains(line), "missing `{line}` in:\n{out}");
    }
    let web = &out[out.find("corpus/filters/web.udf").unwrap()..];
    for line in [
        "http_syn.bin (54 bytes): r0 = 262144 (accept)",
        "ssh_syn.bin (54 bytes): r0 = 0 (drop)",
        "truncated_http.bin (36 bytes): r0 = 0 (drop)",
    ] {
        assert!(web.contains(line), "missing `{line}` in:\n{web}");
    }
}
