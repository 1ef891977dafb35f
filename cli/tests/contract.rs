//! The command-line contract of `shared/design/cli.md` across commands: `--json` gives exactly
//! one document per invocation (success, refusal, usage error), with `status` equal to the exit
//! status and every error in one shape; inputs of the wrong size, captures of another link
//! type and broken captures are refused with messages that say what is wrong and where.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{corpus, s, stderr, tmp, udf, xn_slot};

use serde_json::Value;

/// A real capture of the shared test data (read only: copies are made to change it).
fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/libpcap/captures").join(name)
}

/// Checks the `--json` contract on one invocation and returns its document: stdout is exactly
/// one JSON value, an object whose integer `status` is the exit status, and whose `errors`
/// (present, an array) hold objects with exactly `code`, `message`, `file`, `line`, `col`.
fn one_document(what: &str, o: &Output) -> Value {
    let out = String::from_utf8_lossy(&o.stdout);
    let mut values = serde_json::Deserializer::from_str(&out).into_iter::<Value>();
    let doc = match values.next() {
        Some(Ok(v)) => v,
        other => panic!("{what}: stdout is not JSON ({other:?}): {out:?}"),
    };
    assert!(values.next().is_none(), "{what}: more than one JSON value on stdout: {out:?}");
    let code = o.status.code().expect("an exit status, not a signal");
    assert_eq!(doc["status"].as_i64(), Some(i64::from(code)), "{what}: status vs exit code: {out}");
    let errors =
        doc["errors"].as_array().unwrap_or_else(|| panic!("{what}: no errors array: {out}"));
    for e in errors {
        let obj = e.as_object().unwrap_or_else(|| panic!("{what}: {e}"));
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["code", "col", "file", "line", "message"], "{what}: {e}");
        assert!(e["code"].is_string() && e["message"].is_string(), "{what}: {e}");
        for k in ["line", "col"] {
            assert!(e[k].is_null() || e[k].is_u64(), "{what}: {e}");
        }
        assert!(e["file"].is_null() || e["file"].is_string(), "{what}: {e}");
    }
    if code != 0 {
        assert!(!errors.is_empty(), "{what}: a failure without an error: {out}");
    } else {
        assert!(errors.is_empty(), "{what}: success with errors: {out}");
    }
    doc
}

/// A small ext2 image (`mke2fs -d` over one 1 KiB file: inode 12, block slot 1 free) for the
/// `xn` commands.
fn ext2_image(name: &str) -> PathBuf {
    let dir = tmp(&format!("{name}-tree"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a"), vec![0x5a; 1024]).unwrap();
    let img = tmp(&format!("{name}.img"));
    let _ = std::fs::remove_file(&img);
    let o = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext2", "-b", "1024", "-d", s(&dir), s(&img), "1024"])
        .output()
        .expect("mke2fs (e2fsprogs) runs");
    assert!(o.status.success(), "mke2fs: {}", stderr(&o));
    img
}

/// A copy of a capture with its bytes `at..` replaced by `with` (and cut to `len` bytes).
fn corrupt(from: &Path, name: &str, len: Option<usize>, at: usize, with: &[u8]) -> PathBuf {
    let mut bytes = std::fs::read(from).expect("capture");
    if let Some(n) = len {
        bytes.truncate(n);
    }
    bytes[at..at + with.len()].copy_from_slice(with);
    let p = tmp(name);
    std::fs::write(&p, &bytes).unwrap();
    p
}

#[test]
fn json_gives_one_document_for_every_command_on_success_and_failure() {
    let web = corpus("filters/web.udf");
    let ext2 = corpus("fs/ext2.udf");
    let inode = corpus("inputs/ext2_inode.bin");
    let syn = corpus("inputs/http_syn.bin");
    let short = corpus("inputs/truncated_http.bin");
    let owns_s = corpus("asm/owns_direct.s");
    let udft = corpus("filters/web.udft");
    let good_s = tmp("good.s");
    std::fs::write(&good_s, "mov %r0, 7\nexit\n").unwrap();
    let bad_s = tmp("bad.s");
    std::fs::write(&bad_s, "mov %r0, 7\nfrobnicate %r1\nexit\n").unwrap();
    let bin = tmp("good.bin");
    let bad_udf = tmp("bad.udf");
    std::fs::write(&bad_udf, "filter f(p: packet) { p.nope == 1 }\n").unwrap();
    let out_dir = tmp("compiled");
    let pkg = tmp("inode.pkg");
    let vrrp = capture("vrrp.pcap");
    let cut = {
        let bytes = std::fs::read(&vrrp).unwrap();
        let p = tmp("cut.pcap");
        std::fs::write(&p, &bytes[..1000]).unwrap();
        p
    };
    let empty = tmp("no-tests");
    std::fs::create_dir_all(&empty).unwrap();
    let img = ext2_image("json");
    // Each case: what it is, its arguments (after --json), and the exit status it must have.
    // The order matters where a case uses what an earlier one wrote.
    let cases: Vec<(&str, Vec<&str>, i32)> = vec![
        ("asm ok", vec!["asm", s(&good_s), "-o", s(&bin)], 0),
        ("asm error", vec!["asm", s(&bad_s), "-o", s(&bin)], 1),
        ("asm (written again)", vec!["asm", s(&good_s), "-o", s(&bin)], 0),
        ("disasm ok", vec!["disasm", s(&bin)], 0),
        ("disasm missing", vec!["disasm", "/nonexistent/x.bin"], 2),
        ("compile ok", vec!["compile", &web, "-o", s(&out_dir)], 0),
        ("compile error", vec!["compile", s(&bad_udf), "-o", s(&out_dir)], 1),
        ("verify ok", vec!["verify", &web], 0),
        ("verify rejected", vec!["verify", &owns_s, "--type", "owns"], 1),
        ("run ok", vec!["run", &web, "--input", &syn], 0),
        ("run short input", vec!["run", &ext2, "--entry", "ext2_inode", "--input", &short], 1),
        ("jit ok", vec!["jit", &web], 0),
        ("jit bad target", vec!["jit", &web, "--target", "vax"], 2),
        ("filter ok", vec!["filter", &web, "--read", s(&vrrp)], 0),
        ("filter truncated capture", vec!["filter", &web, "--read", s(&cut)], 2),
        ("test ok", vec!["test", &udft], 0),
        ("test nothing to run", vec!["test", s(&empty)], 2),
        ("package ok", vec!["package", &ext2, "--entry", "ext2_inode", "-o", s(&pkg)], 0),
        (
            "package bad target",
            vec!["package", &ext2, "--entry", "ext2_inode", "--target", "vax", "-o", s(&pkg)],
            2,
        ),
        ("kernel load ok", vec!["kernel", "load", s(&pkg), "--input", &inode], 0),
        ("kernel load short input", vec!["kernel", "load", s(&pkg), "--input", &short], 1),
        (
            "kernel boot missing image",
            vec!["kernel", "boot", "/nonexistent/udf-kernel", "--pkg", s(&pkg), "--input", &inode],
            2,
        ),
        ("xn rebuild ok", vec!["xn", "rebuild", s(&img), "--fs", "ext2"], 0),
        ("xn rebuild missing", vec!["xn", "rebuild", "/nonexistent/fs.img", "--fs", "ext2"], 2),
        ("xn alloc ok", xn_slot("alloc", &img, "12", "1", &["--block", "1000"]), 0),
        ("xn alloc in use", xn_slot("alloc", &img, "12", "2", &["--block", "1"]), 1),
        ("xn free ok", xn_slot("free", &img, "12", "1", &[]), 0),
        ("xn free not owned", xn_slot("free", &img, "12", "5", &[]), 1),
        ("demo ok", vec!["demo"], 0),
        ("demo unknown option", vec!["demo", "--fast"], 2),
        // clap's usage errors.
        ("no command", vec![], 2),
        ("unknown command", vec!["frobnicate"], 2),
        ("unknown option", vec!["verify", &web, "--bogus"], 2),
        ("missing argument", vec!["run", &web], 2),
        ("bad value", vec!["run", &web, "--input", &syn, "--engine", "abacus"], 2),
        ("bad number", vec!["verify", &web, "--ctx-size", "many"], 2),
    ];
    for (what, args, want) in &cases {
        let mut a = vec!["--json"];
        a.extend(args.iter().copied());
        let o = udf(&a);
        assert_eq!(o.status.code(), Some(*want), "{what}: {}", stderr(&o));
        let doc = one_document(what, &o);
        if *want == 2
            && (what.starts_with("no ")
                || what.starts_with("unknown")
                || what.starts_with("missing")
                || what.starts_with("bad")
                || what.starts_with("demo unknown"))
        {
            assert_eq!(doc["errors"][0]["code"], "udf::usage", "{what}: {doc}");
        }
    }
    // Refusals reported in the command's own fields still carry their errors: a failed test
    // case, a free map that differs from the image's bitmaps.
    let add = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata/bpf_conformance/tests/add.data");
    let o = udf(&["--json", "test", "--expect-failure", s(&add)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let doc = one_document("test failure", &o);
    assert_eq!(doc["failed"], 1, "{doc}");
    assert_eq!(doc["errors"][0]["code"], "udf::test::failed", "{doc}");
    let bad = ext2_image("mismatch");
    let mut bytes = std::fs::read(&bad).unwrap();
    // 1 KiB blocks: the group descriptors are in block 2; the first names the block bitmap.
    let bitmap = u32::from_le_bytes(bytes[2048..2052].try_into().unwrap()) as usize;
    bytes[bitmap * 1024 + 120] = 0xff; // blocks 961-968, free in a tiny image, marked used
    std::fs::write(&bad, &bytes).unwrap();
    let o = udf(&["--json", "xn", "rebuild", s(&bad), "--fs", "ext2"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let doc = one_document("xn rebuild mismatch", &o);
    assert_eq!(doc["match"], false, "{doc}");
    assert_eq!(doc["errors"][0]["code"], "udf::xn::mismatch", "{doc}");
    // --json after the command, or among its arguments, is the same flag.
    let o = udf(&["verify", &web, "--bogus", "--json"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(one_document("trailing --json", &o)["errors"][0]["code"], "udf::usage");
    // Without --json, clap's usage error stays on stderr, stdout empty.
    let o = udf(&["verify", &web, "--bogus"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    // verify --json carries status along with the facts or the rejection's fields.
    let o = udf(&["--json", "verify", &web]);
    let doc = one_document("verify", &o);
    assert_eq!((doc["status"].clone(), doc["accepted"].clone()), (0.into(), true.into()));
    // demo --json is JSON: its report, line by line.
    let o = udf(&["--json", "demo"]);
    let doc = one_document("demo", &o);
    assert!(doc["report"].as_array().is_some_and(|r| r.len() > 10), "{doc}");
}

#[test]
fn a_located_error_has_its_file_line_and_col_in_json() {
    let bad = tmp("located.s");
    std::fs::write(&bad, "mov %r0, 7\nfrobnicate %r1\nexit\n").unwrap();
    let o = udf(&["--json", "asm", s(&bad), "-o", s(&tmp("located.bin"))]);
    let doc = one_document("asm", &o);
    let e = &doc["errors"][0];
    assert_eq!(e["file"], s(&bad), "{doc}");
    assert_eq!((e["line"].as_u64(), e["col"].as_u64()), (Some(2), Some(1)), "{doc}");
}

#[test]
fn filter_over_a_broken_capture_gives_the_partial_result_and_the_error_in_one_document() {
    let vrrp = capture("vrrp.pcap");
    let bytes = std::fs::read(&vrrp).unwrap();
    let cut = tmp("partial.pcap");
    std::fs::write(&cut, &bytes[..1000]).unwrap();
    let web = corpus("filters/web.udf");
    let o = udf(&["--json", "filter", &web, "--read", s(&cut)]);
    assert_eq!(o.status.code(), Some(2));
    let doc = one_document("partial", &o);
    // vrrp.pcap's records are 16 + 60 bytes after the 24-byte header: 9 whole ones fit in
    // 1000 bytes, the 10th (at byte 24 + 9 * 76 = 708) is cut in its data.
    assert_eq!(doc["packets"], 9, "{doc}");
    assert_eq!(doc["results"].as_array().map(Vec::len), Some(9), "{doc}");
    assert_eq!(doc["entry"], "web", "{doc}");
    let msg = doc["errors"][0]["message"].as_str().unwrap();
    assert_eq!(doc["errors"][0]["code"], "udf::capture");
    assert!(msg.contains("packet 10 at byte"), "{msg}");
    // Without --json the nine results are printed, then the error.
    let o = udf(&["filter", &web, "--read", s(&cut)]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 9);
    assert!(stderr(&o).contains("packet 10 at byte"), "{}", stderr(&o));
}

/// The packets of vrrp.pcap and where its records start (read here from the file itself).
fn pcap_records(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push((at, caplen));
        at += 16 + caplen;
    }
    assert_eq!(at, bytes.len(), "a little-endian pcap file read whole");
    out
}

#[test]
fn broken_captures_are_named_by_packet_offset_and_cause() {
    let web = corpus("filters/web.udf");
    let vrrp = capture("vrrp.pcap");
    let bytes = std::fs::read(&vrrp).unwrap();
    let recs = pcap_records(&bytes);
    assert!(recs.len() >= 5, "vrrp.pcap has packets");
    let (at4, cap4) = recs[3];
    let check = |what: &str, file: &Path, want: &[&str]| {
        let o = udf(&["filter", &web, "--read", s(file)]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{what}: {err}");
        for w in want {
            assert!(err.contains(w), "{what}: no {w:?} in {err}");
        }
        assert!(
            !err.contains("Error reading bytes") && !err.contains("failed to fill whole buffer"),
            "{what}: {err}"
        );
    };
    // A record header cut short: the file ends 6 bytes into packet 4's header.
    let f = tmp("cut-header.pcap");
    std::fs::write(&f, &bytes[..at4 + 6]).unwrap();
    check(
        "truncated record header",
        &f,
        &["packet 4", &format!("at byte {at4}"), "truncated record header", "6 of its 16 bytes"],
    );
    // Packet data cut short: 10 of packet 4's bytes.
    let f = tmp("cut-data.pcap");
    std::fs::write(&f, &bytes[..at4 + 16 + 10]).unwrap();
    check(
        "truncated packet data",
        &f,
        &[
            "packet 4",
            &format!("at byte {at4}"),
            "truncated packet data",
            &format!("{cap4} captured bytes"),
            "after 10",
        ],
    );
    // A captured length no record may have.
    let f = corrupt(&vrrp, "bad-len.pcap", None, at4 + 8, &0x4000_0000u32.to_le_bytes());
    check(
        "bad captured length",
        &f,
        &[
            "packet 4",
            &format!("at byte {at4}"),
            "captured length of 1073741824 bytes",
            "snap length",
        ],
    );
    // Not a capture at all.
    let f = corrupt(&vrrp, "bad-magic.pcap", None, 0, b"GIF8");
    check("bad magic", &f, &["bad magic number 47494638", "at byte 0"]);
    // A header cut short.
    let f = tmp("cut-file-header.pcap");
    std::fs::write(&f, &bytes[..20]).unwrap();
    check("truncated file header", &f, &["truncated pcap file header", "20 of its 24 bytes"]);

    // pcapng: its blocks, from the file itself.
    let ng = capture("rarp_req_reply.pcapng");
    let nb = std::fs::read(&ng).unwrap();
    let mut blocks = Vec::new();
    let mut at = 0;
    while at + 8 <= nb.len() {
        let ty = u32::from_le_bytes(nb[at..at + 4].try_into().unwrap());
        let len = u32::from_le_bytes(nb[at + 4..at + 8].try_into().unwrap()) as usize;
        blocks.push((at, ty, len));
        at += len;
    }
    assert_eq!(at, nb.len(), "a little-endian pcapng file read whole");
    let epbs: Vec<(usize, usize)> =
        blocks.iter().filter(|b| b.1 == 6).map(|b| (b.0, b.2)).collect();
    assert!(epbs.len() >= 2, "{blocks:?}");
    let (at2, len2) = epbs[1];
    // The second packet's block cut short.
    let f = tmp("cut-block.pcapng");
    std::fs::write(&f, &nb[..at2 + 30]).unwrap();
    check(
        "truncated block",
        &f,
        &[
            "packet 2",
            &format!("block at byte {at2}"),
            "truncated block",
            &format!("its length is {len2} bytes"),
            "the file ends after 30",
        ],
    );
    // Its block header cut short.
    let f = tmp("cut-block-header.pcapng");
    std::fs::write(&f, &nb[..at2 + 3]).unwrap();
    check(
        "truncated block header",
        &f,
        &["packet 2", "truncated block header", "3 of its 8 bytes"],
    );
    // Its length field corrupt: not a multiple of 4, or beyond any block.
    let f = corrupt(&ng, "odd-block.pcapng", None, at2 + 4, &13u32.to_le_bytes());
    check(
        "bad block length",
        &f,
        &["packet 2", &format!("block at byte {at2}"), "bad block length 13"],
    );
    let f = corrupt(&ng, "huge-block.pcapng", None, at2 + 4, &0x7000_0000u32.to_le_bytes());
    check("huge block length", &f, &["packet 2", "bad block length 1879048192", "limit"]);
    // Its trailing length different from its leading one.
    let f = corrupt(&ng, "trailer.pcapng", None, at2 + len2 - 4, &(len2 as u32 + 4).to_le_bytes());
    check("bad trailer", &f, &["packet 2", "trailing length", "differs"]);
    // A captured length beyond its block.
    let f = corrupt(&ng, "epb-caplen.pcapng", None, at2 + 20, &5000u32.to_le_bytes());
    check(
        "caplen past the block",
        &f,
        &["packet 2", "captured length of 5000 bytes", "more than the block holds"],
    );
    // A packet of an interface no block describes.
    let f = corrupt(&ng, "iface.pcapng", None, at2 + 8, &7u32.to_le_bytes());
    check("unknown interface", &f, &["packet 2", "interface 7"]);
    // The section header's byte-order magic corrupt.
    let f = corrupt(&ng, "bom.pcapng", None, 8, &[1, 2, 3, 4]);
    check("bad byte-order magic", &f, &["byte-order magic 01020304", "block at byte 0"]);
    // The intact files read to the end.
    for f in [&vrrp, &ng] {
        let o = udf(&["filter", &web, "--read", s(f)]);
        assert_eq!(o.status.code(), Some(0), "{}: {}", f.display(), stderr(&o));
    }
}

/// A copy of vrrp.pcap (Ethernet) whose header names another link type.
fn relinked(linktype: u32, name: &str) -> PathBuf {
    corrupt(&capture("vrrp.pcap"), name, None, 20, &linktype.to_le_bytes())
}

#[test]
fn udf_filters_with_packet_views_are_refused_on_other_link_types() {
    let web = corpus("filters/web.udf");
    let raw_only = tmp("raw_only.udf");
    std::fs::write(&raw_only, "filter first(p: packet) {\n    p.len > 20 && p.u8[0] == 0x45\n}\n")
        .unwrap();
    for (lt, name) in [(113, "LINUX_SLL"), (101, "RAW")] {
        let cap = relinked(lt, &format!("link-{lt}.pcap"));
        let o = udf(&["filter", &web, "--read", s(&cap)]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(o.stdout.is_empty(), "nothing ran");
        for w in [
            "udf::filter::linktype",
            &format!("{lt} ({name})"),
            "p.ether",
            "p.ipv4",
            "p.tcp",
            "`web`",
        ] {
            assert!(err.contains(w), "{w:?} in {err}");
        }
        let o = udf(&["--json", "filter", &web, "--read", s(&cap)]);
        let doc = one_document("linktype", &o);
        assert_eq!(doc["errors"][0]["code"], "udf::filter::linktype");
        // A filter reading the packet raw fits any link type, and runs on every packet.
        let o = udf(&["filter", s(&raw_only), "--read", s(&cap)]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 15);
    }
    // On Ethernet, the views fit.
    let o = udf(&["filter", &web, "--read", s(&capture("vrrp.pcap"))]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // A `filter NAME = pcap "..."` entry is compiled for Ethernet too.
    let expr = tmp("expr.udf");
    std::fs::write(&expr, "filter arp_only = pcap \"arp\";\n").unwrap();
    let o = udf(&["filter", s(&expr), "--read", s(&relinked(113, "link-expr.pcap"))]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("udf::filter::linktype"), "{}", stderr(&o));
    // --pcap compiles for the capture's link type instead (raw IP here).
    let o = udf(&["filter", "--pcap", "ip", "--read", s(&relinked(101, "link-pcap.pcap"))]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn run_and_kernel_load_refuse_inputs_of_another_size_alike() {
    let ext2 = corpus("fs/ext2.udf");
    let pkg = tmp("size.pkg");
    let o = udf(&["package", &ext2, "--entry", "ext2_inode", "-o", s(&pkg)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let inode = std::fs::read(corpus("inputs/ext2_inode.bin")).unwrap();
    assert_eq!(inode.len(), 128);
    for (len, code, word) in [
        (36, "udf::input::short", "shorter than"),
        (0, "udf::input::short", "shorter than"),
        (200, "udf::input::size", "longer than"),
    ] {
        let mut data = inode.clone();
        data.resize(len, 0);
        let f = tmp(&format!("input-{len}.bin"));
        std::fs::write(&f, &data).unwrap();
        let run = udf(&["run", &ext2, "--entry", "ext2_inode", "--input", s(&f)]);
        let load = udf(&["kernel", "load", s(&pkg), "--input", s(&f)]);
        for (what, o) in [("run", &run), ("kernel load", &load)] {
            let err = stderr(o);
            assert_eq!(o.status.code(), Some(1), "{what} {len}: {err}");
            assert!(o.stdout.is_empty(), "{what}: nothing ran");
            for w in [code, word, &format!("is {len} bytes"), "128 bytes", "`ext2_inode`"] {
                assert!(err.contains(w), "{what} {len}: {w:?} in {err}");
            }
            // Not a verifier rejection pointing into the source.
            assert!(!err.contains("udf::verify") && !err.contains("ext2.udf:"), "{err}");
        }
        // The same diagnostic from both.
        let msg = |o: &Output| {
            let v: Value = serde_json::from_slice(&o.stdout).unwrap();
            v["errors"][0].clone()
        };
        let run = udf(&["--json", "run", &ext2, "--entry", "ext2_inode", "--input", s(&f)]);
        let load = udf(&["--json", "kernel", "load", s(&pkg), "--input", s(&f)]);
        assert_eq!(msg(&run), msg(&load));
    }
    // The right size runs on both.
    let f = corpus("inputs/ext2_inode.bin");
    let run = udf(&["run", &ext2, "--entry", "ext2_inode", "--input", &f]);
    let load = udf(&["kernel", "load", s(&pkg), "--input", &f]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!(load.status.code(), Some(0), "{}", stderr(&load));
    assert_eq!(run.stdout, load.stdout);
}

#[test]
fn a_list_of_diagnostics_ends_with_its_count() {
    let bad = tmp("many.udf");
    std::fs::write(
        &bad,
        "filter a(p: packet) { p.nope == 1 }\nfilter b(p: packet) { p.nada == 1 }\nfilter c(p: packet) { p.zilch == 1 }\n",
    )
    .unwrap();
    let o = udf(&["compile", s(&bad), "-o", s(&tmp("many-out"))]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().last(), Some("3 errors"), "{err}");
    // One error: no count line.
    let one = tmp("one.udf");
    std::fs::write(&one, "filter a(p: packet) { p.nope == 1 }\n").unwrap();
    let o = udf(&["compile", s(&one), "-o", s(&tmp("one-out"))]);
    assert!(!stderr(&o).contains("1 errors"), "{}", stderr(&o));
}

#[test]
fn test_on_a_path_without_test_files_is_a_usage_error() {
    let dir = tmp("only-sources");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("x.udf"), "filter a(p: packet) { true }\n").unwrap();
    let o = udf(&["test", s(&dir)]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no test file"), "{}", stderr(&o));
    // A folder that has one runs it.
    let o = udf(&["test", &corpus("filters")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn verify_of_a_template_type_without_ctx_size_suggests_it() {
    let bin = tmp("owns_direct.bin");
    let o = udf(&["asm", &corpus("asm/owns_direct.s"), "-o", s(&bin)]);
    assert_eq!(o.status.code(), Some(0));
    let o = udf(&["verify", s(&bin), "--type", "owns"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let help = err
        .lines()
        .find(|l| l.trim_start().starts_with("help:"))
        .unwrap_or_else(|| panic!("a help line in {err}"));
    assert!(help.contains("--ctx-size N (N >= 44"), "{help}");
    // Given a size, the hint is gone (and the program verifies with a size that covers it).
    let o = udf(&["verify", s(&bin), "--type", "owns", "--ctx-size", "128"]);
    assert!(!stderr(&o).contains("give --ctx-size"), "{}", stderr(&o));
}

/// A reader that closes the pipe early (`udf disasm BIG | head -1`) ends `udf` quietly with
/// 128 + SIGPIPE, as a C tool would end: not a panic (101) with a backtrace note on stderr.
#[test]
fn a_closed_output_pipe_is_not_a_crash() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    // 200,000 instructions (`mov r0, 1`) print several megabytes: far past a pipe's buffer.
    let mut bytes = Vec::new();
    for _ in 0..200_000 {
        bytes.extend_from_slice(&[0xb7, 0x00, 0, 0, 1, 0, 0, 0]);
    }
    let big = tmp("big.bin");
    std::fs::write(&big, &bytes).expect("write");
    let mut child = Command::new(env!("CARGO_BIN_EXE_udf"))
        .args(["disasm", s(&big)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("udf runs");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("a first line");
    assert!(first.contains("mov"), "first line: {first}");
    // The reader is dropped here: the pipe is closed.
    let out = child.wait_with_output().expect("udf ends");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "status {:?}, stderr: {err}", out.status);
    assert!(!err.contains("panicked"), "stderr: {err}");
}
