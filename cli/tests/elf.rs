//! C programs through the `udf` command: ELF objects clang builds at test time (`-target bpf
//! -O2 -g`, `-mcpu=v1` to `v4`) given to `verify`, `run`, `jit`, `package` and `filter`;
//! rejections shown on the C line (text and `--json`); maps, global data, foreign helpers,
//! kernel and extern functions refused naming the symbol (exit 1); damaged and foreign objects
//! refused as unreadable (exit 2); `--type` and `--ctx-size` against what the object says.
//!
//! The compiler is `$UDF_CLANG` (scripts/test.sh sets it), else `clang-19`, else `clang`.
//! Without one the tests fail, saying how to get one: nothing is skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

mod common;
use common::{s, text};

use serde_json::Value;

fn udf(args: &[&str]) -> Output {
    udf_in(None, args)
}

fn udf_in(dir: Option<&Path>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_udf"));
    if let Some(d) = dir {
        c.current_dir(d);
    }
    c.args(args).output().expect("udf runs")
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("one JSON document ({e}): {:?}", text(o)))
}

/// A clang that targets BPF; the test fails without one.
fn clang() -> &'static str {
    static CLANG: OnceLock<String> = OnceLock::new();
    CLANG.get_or_init(|| udf_compiler::elf::bpf_clang().unwrap_or_else(|e| panic!("{e}")))
}

/// A fresh folder for one test.
fn folder(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("elf_cli").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Writes `NAME.c` in `dir` and compiles it there (relative names, so BTF records `NAME.c`)
/// with `-mcpu=v{cpu}`; the object's path.
fn build(clang: &str, dir: &Path, name: &str, src: &str, cpu: u8) -> PathBuf {
    std::fs::write(dir.join(format!("{name}.c")), src).unwrap();
    let obj = format!("{name}.v{cpu}.o");
    let out = Command::new(clang)
        .current_dir(dir)
        .args(["-target", "bpf", "-O2", "-g", &format!("-mcpu=v{cpu}"), "-c"])
        .arg(format!("{name}.c"))
        .args(["-o", &obj])
        .output()
        .unwrap();
    assert!(out.status.success(), "{clang}: {}", String::from_utf8_lossy(&out.stderr));
    dir.join(obj)
}

const FILTER: &str = r#"static __attribute__((noinline)) unsigned long byte_at(const unsigned char *p,
                                                        unsigned long n, unsigned long i)
{
    if (i >= n)
        return 0;
    return p[i];
}

__attribute__((section("filter")))
unsigned long web(const unsigned char *pkt, unsigned long len)
{
    unsigned long d = (byte_at(pkt, len, 36) << 8) | byte_at(pkt, len, 37);
    if (d == 80 || d == 443)
        return len;
    return 0;
}
"#;

/// A pcap file (Ethernet) holding `packets`.
fn pcap(path: &Path, packets: &[Vec<u8>]) {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    for w in [0u32, 0, 65535, 1] {
        b.extend_from_slice(&w.to_le_bytes());
    }
    for p in packets {
        for w in [0u32, 0, p.len() as u32, p.len() as u32] {
            b.extend_from_slice(&w.to_le_bytes());
        }
        b.extend_from_slice(p);
    }
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_c_filter_with_a_subprogram_verifies_runs_filters_and_compiles() {
    let clang = clang();
    let dir = folder("filter");
    let mut https = vec![0u8; 60];
    https[36] = 0x01;
    https[37] = 0xbb;
    let mut other = https.clone();
    other[37] = 0x50 + 1;
    std::fs::write(dir.join("https.bin"), &https).unwrap();
    pcap(&dir.join("cap.pcap"), &[https.clone(), other, https[..20].to_vec()]);
    for cpu in 1..=4 {
        // any name: the object is known by its magic
        let obj = build(clang, &dir, "web", FILTER, cpu);
        let renamed = dir.join(format!("web{cpu}.prog"));
        std::fs::copy(&obj, &renamed).unwrap();
        for o in [&obj, &renamed] {
            let out = udf(&["verify", s(o)]);
            let (stdout, stderr) = text(&out);
            assert_eq!(out.status.code(), Some(0), "v{cpu}: {stderr}");
            assert!(
                stdout.starts_with("accepted: filter program") && stdout.contains("2 frame(s)"),
                "v{cpu}: {stdout}"
            );
        }
        let out = udf(&["run", s(&obj), "--input", s(&dir.join("https.bin"))]);
        assert_eq!(text(&out).0, "r0 = 60\n", "v{cpu}: {:?}", text(&out));
        if cfg!(target_arch = "x86_64") {
            let out =
                udf(&["run", s(&obj), "--input", s(&dir.join("https.bin")), "--engine", "jit"]);
            assert_eq!(text(&out).0, "r0 = 60\n", "v{cpu}: {:?}", text(&out));
        }
        let out = udf(&["filter", s(&obj), "--read", s(&dir.join("cap.pcap"))]);
        assert_eq!(text(&out).0, "60\n0\n0\n", "v{cpu}: {:?}", text(&out));
        let out = udf(&["jit", s(&obj)]);
        assert_eq!(out.status.code(), Some(0), "v{cpu}: {:?}", text(&out));
        assert!(text(&out).0.contains("trusted"), "{:?}", text(&out));
        // --entry names the function; a wrong name lists the candidates (usage)
        let out = udf(&["verify", s(&obj), "--entry", "web"]);
        assert_eq!(out.status.code(), Some(0));
        let out = udf(&["verify", s(&obj), "--entry", "nope"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(text(&out).1.contains("web (section filter)"), "{:?}", text(&out));
    }
}

const OWNS: &str = r#"struct inode {
    unsigned int mode;
    unsigned int blocks[12];
    unsigned long size;
};
static long (*emit)(unsigned long start, unsigned long count, unsigned int kind) = (void *)1;

__attribute__((section("owns")))
unsigned long owns_inode(const struct inode *ino, unsigned long len)
{
    for (int i = 0; i < 12; i++)
        if (ino->blocks[i])
            emit(ino->blocks[i], 1, i < 12 ? 0 : 1);
    return ino->mode == 0;
}
"#;

#[test]
fn an_owns_program_takes_its_object_size_from_btf_and_emits() {
    let clang = clang();
    let dir = folder("owns");
    let mut ino = vec![0u8; 64];
    ino[0] = 1;
    ino[4 + 4 * 3] = 77;
    ino[4 + 4 * 11] = 5;
    std::fs::write(dir.join("ino.bin"), &ino).unwrap();
    std::fs::write(dir.join("long.bin"), [&ino[..], &[0u8; 8]].concat()).unwrap();
    for cpu in 1..=4 {
        let obj = build(clang, &dir, "owns", OWNS, cpu);
        let out = udf(&["verify", s(&obj)]);
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "v{cpu}: {stderr}");
        assert!(
            stdout.contains("owns program") && stdout.contains("extents bound: 12"),
            "{stdout}"
        );
        // --ctx-size overrides BTF: 16 bytes do not hold the blocks
        let out = udf(&["verify", s(&obj), "--ctx-size", "16"]);
        assert_eq!(out.status.code(), Some(1), "v{cpu}: {:?}", text(&out));
        assert!(text(&out).1.contains("owns.c:12:"), "{:?}", text(&out));
        let out = udf(&["run", s(&obj), "--input", s(&dir.join("ino.bin"))]);
        assert_eq!(
            text(&out).0,
            "r0 = 0\nextent 77 1 0\nextent 5 1 0\n",
            "v{cpu}: {:?}",
            text(&out)
        );
        // only objects of BTF's size run
        let out = udf(&["run", s(&obj), "--input", s(&dir.join("long.bin"))]);
        assert_eq!(out.status.code(), Some(1), "v{cpu}: {:?}", text(&out));
        // a package, and the kernel path prints what run prints
        let pkg = dir.join(format!("owns{cpu}.pkg"));
        let out = udf(&["package", s(&obj), "-o", s(&pkg)]);
        assert_eq!(out.status.code(), Some(0), "v{cpu}: {:?}", text(&out));
        let out = udf(&["kernel", "load", s(&pkg), "--input", s(&dir.join("ino.bin"))]);
        assert_eq!(text(&out).0, "r0 = 0\nextent 77 1 0\nextent 5 1 0\n", "{:?}", text(&out));
        // the section fixes the type
        let out = udf(&["verify", s(&obj), "--type", "size"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(text(&out).1.contains("section `owns`"), "{:?}", text(&out));
        let out = udf(&["--json", "verify", s(&obj), "--type", "owns"]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(json(&out)["type"], "owns");
    }
}

/// The read on line 4 is not bounds-checked.
const UNCHECKED: &str = r#"/* reads past the packet */
static __attribute__((noinline)) unsigned long get(const unsigned char *p, unsigned long i)
{
    return p[i + 3];
}

__attribute__((section("filter")))
unsigned long first(const unsigned char *pkt, unsigned long len)
{
    if (len < 4)
        return 0;
    return get(pkt, len);
}
"#;

#[test]
fn a_rejection_is_shown_on_its_c_line() {
    let clang = clang();
    let dir = folder("unchecked");
    let elsewhere = folder("unchecked_cwd");
    for cpu in 1..=4 {
        let obj = build(clang, &dir, "unchecked", UNCHECKED, cpu);
        // run from another folder
        let out = udf_in(Some(&elsewhere), &["verify", s(&obj)]);
        let (_, err) = text(&out);
        assert_eq!(out.status.code(), Some(1), "v{cpu}: {err}");
        for want in [
            "udf::verify::ctx-bounds",
            "unchecked.c:4:12: instruction",
            "of `get`",
            " 4 │     return p[i + 3];",
            "unchecked.c:4:12]",
        ] {
            assert!(err.contains(want), "v{cpu}: no `{want}` in\n{err}");
        }
        let out = udf_in(Some(&elsewhere), &["--json", "verify", s(&obj)]);
        assert_eq!(out.status.code(), Some(1));
        let v = json(&out);
        assert_eq!(v["accepted"], false);
        assert!(v["file"].as_str().unwrap().ends_with("unchecked.c"), "{v}");
        assert_eq!(v["line"], 4);
        assert_eq!(v["col"], 12);
        assert_eq!(v["function"], "get");
        assert_eq!(v["rule"], "ctx-bounds");
        // run refuses it the same way; its --json error carries the C line
        std::fs::write(dir.join("pkt.bin"), [0u8; 8]).unwrap();
        let out = udf(&["--json", "run", s(&obj), "--input", s(&dir.join("pkt.bin"))]);
        assert_eq!(out.status.code(), Some(1));
        let v = json(&out);
        let e = &v["errors"][0];
        assert_eq!(e["code"], "udf::verify::ctx-bounds");
        assert!(e["file"].as_str().unwrap().ends_with("unchecked.c"), "{e}");
        assert_eq!((e["line"].as_u64(), e["col"].as_u64()), (Some(4), Some(12)));
    }
    // the folder moved: BTF's (absolute) file name is gone, the source beside the object is
    // shown (with its context lines)
    let moved = dir.with_file_name("unchecked_moved");
    let _ = std::fs::remove_dir_all(&moved);
    std::fs::rename(&dir, &moved).unwrap();
    let obj = moved.join("unchecked.v3.o");
    let out = udf(&["verify", s(&obj)]);
    let (_, err) = text(&out);
    assert!(err.contains(" 4 │     return p[i + 3];") && err.contains(" 3 │ {"), "{err}");
    // a source changed since: BTF's line, not the file's
    let edited = UNCHECKED.replace("return p[i + 3];", "return 0; /* edited */");
    std::fs::write(moved.join("unchecked.c"), edited).unwrap();
    let out = udf(&["verify", s(&obj)]);
    let (_, err) = text(&out);
    assert!(err.contains(" 4 │     return p[i + 3];") && !err.contains("edited"), "{err}");
    // without the source on disk: the line text BTF recorded, on its real line number
    std::fs::remove_file(moved.join("unchecked.c")).unwrap();
    let out = udf(&["verify", s(&obj)]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains(" 4 │     return p[i + 3];") && !err.contains(" 3 │"), "{err}");
    let out = udf(&["--json", "verify", s(&obj)]);
    assert_eq!(json(&out)["line"], 4);
}

const REFUSED: &str = r#"extern unsigned long ext_fn(unsigned long x);
extern void bpf_kf(unsigned long x) __attribute__((section(".ksyms")));
static const volatile unsigned long limit = 5;
unsigned long counter;
struct { int type; int max_entries; } my_map __attribute__((section(".maps")));
static long (*other)(unsigned long a) = (void *)7;
static long (*emit)(unsigned long start, unsigned long count, unsigned int kind) = (void *)1;

__attribute__((section("filter")))
unsigned long use_ext(const unsigned char *p, unsigned long n)
{
    return ext_fn(n);
}

__attribute__((section("filter")))
unsigned long use_kf(const unsigned char *p, unsigned long n)
{
    bpf_kf(n);
    return 1;
}

__attribute__((section("filter")))
unsigned long use_ro(const unsigned char *p, unsigned long n)
{
    return n > limit;
}

__attribute__((section("filter")))
unsigned long use_bss(const unsigned char *p, unsigned long n)
{
    counter++;
    return 1;
}

__attribute__((section("filter")))
unsigned long use_map(const unsigned char *p, unsigned long n)
{
    return (unsigned long)&my_map;
}

__attribute__((section("filter")))
unsigned long use_helper(const unsigned char *p, unsigned long n)
{
    return other(n);
}

__attribute__((section("prog")))
unsigned long untyped(const unsigned char *p, unsigned long n)
{
    emit(1, 2, 3);
    return 0;
}
"#;

#[test]
fn maps_global_data_foreign_helpers_and_externs_are_refused_naming_the_symbol() {
    let clang = clang();
    let dir = folder("refused");
    for cpu in 1..=4 {
        let obj = build(clang, &dir, "refused", REFUSED, cpu);
        for (entry, code, line, wants) in [
            ("use_ext", "udf::elf::undefined", 12, &["`ext_fn`"][..]),
            ("use_kf", "udf::elf::undefined", 18, &["`bpf_kf`"]),
            ("use_ro", "udf::elf::data", 25, &["`limit`", "global data", "`.rodata`"]),
            ("use_bss", "udf::elf::data", 31, &["`counter`", "global data"]),
            ("use_map", "udf::elf::data", 38, &["`my_map`", "a map", "`.maps`"]),
            ("use_helper", "udf::elf::helper", 44, &["helper 7", "filter programs do not have"]),
        ] {
            let out = udf(&["verify", s(&obj), "--entry", entry]);
            let (_, err) = text(&out);
            assert_eq!(out.status.code(), Some(1), "v{cpu} {entry}: {err}");
            assert!(err.contains(code), "v{cpu} {entry}: {err}");
            assert!(err.contains("section `filter` instruction"), "{err}");
            assert!(err.contains(&format!("in `{entry}`")), "{err}");
            for w in wants {
                assert!(err.contains(w), "v{cpu} {entry}: no {w} in {err}");
            }
            let src_line = REFUSED.lines().nth(line - 1).unwrap();
            assert!(
                err.contains(&format!("{line} │ {src_line}")),
                "v{cpu} {entry}: not on line {line}: {err}"
            );
            let out = udf(&["--json", "verify", s(&obj), "--entry", entry]);
            assert_eq!(out.status.code(), Some(1));
            let v = json(&out);
            assert_eq!(v["status"], 1);
            let e = &v["errors"][0];
            assert_eq!(e["code"], code);
            assert_eq!(e["line"], line, "v{cpu} {entry}: {e}");
            assert!(e["col"].as_u64().unwrap() > 0);
            assert!(e["file"].as_str().unwrap().ends_with("refused.c"));
        }
        // a section that names no type: --type is required, and fixes the helpers
        let out = udf(&["verify", s(&obj), "--entry", "untyped"]);
        assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
        assert!(text(&out).1.contains("names no program type"));
        let out = udf(&["verify", s(&obj), "--entry", "untyped", "--type", "filter"]);
        assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
        assert!(text(&out).1.contains("helper 1"), "{:?}", text(&out));
        let out = udf(&["verify", s(&obj), "--entry", "untyped", "--type", "owns"]);
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
        // several program functions and no --entry: usage, listing them
        let out = udf(&["--json", "verify", s(&obj)]);
        assert_eq!(out.status.code(), Some(2));
        let msg = json(&out)["errors"][0]["message"].to_string();
        assert!(msg.contains("use_map (section filter)"), "{msg}");
    }
}

#[test]
fn damaged_and_foreign_objects_are_refused_as_unreadable() {
    let clang = clang();
    let dir = folder("damaged");
    let obj = build(clang, &dir, "web", FILTER, 2);
    let bytes = std::fs::read(&obj).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("header-only", bytes[..64].to_vec()),
        ("magic-only", b"\x7fELF".to_vec()),
        ("big-endian", {
            let mut b = bytes.clone();
            b[5] = 2;
            b
        }),
        ("x86", {
            let mut b = bytes.clone();
            b[18] = 62;
            b
        }),
        ("executable", {
            let mut b = bytes.clone();
            b[16] = 2;
            b
        }),
        ("udf-binary", std::fs::read(env!("CARGO_BIN_EXE_udf")).unwrap()),
    ];
    for (name, b) in cases {
        let p = dir.join(format!("{name}.o"));
        std::fs::write(&p, &b).unwrap();
        let out = udf(&["verify", s(&p), "--type", "filter"]);
        let (_, err) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains("udf::elf::"), "{name}: {err}");
        let out = udf(&["--json", "run", s(&p), "--input", s(&p)]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert_eq!(json(&out)["status"], 2);
    }
    // an instruction that does not decode: understood and refused, located
    let mut b = bytes.clone();
    let code =
        (0..b.len() - 8).step_by(8).find(|&i| b[i..i + 8] == [0x95, 0, 0, 0, 0, 0, 0, 0]).unwrap();
    b[code] = 0xff;
    let p = dir.join("bad-opcode.o");
    std::fs::write(&p, &b).unwrap();
    let out = udf(&["verify", s(&p)]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("udf::elf::decode") && err.contains("0xff"), "{err}");
}

#[test]
fn json_errors_carry_the_location_of_any_located_report() {
    // not C-specific: an assembler error's file, line and column
    let dir = folder("asm");
    let p = dir.join("bad.s");
    std::fs::write(&p, "mov %r0, 1\n  frob %r1\nexit\n").unwrap();
    let out = udf(&["--json", "verify", s(&p), "--type", "filter"]);
    assert_eq!(out.status.code(), Some(1));
    let e = &json(&out)["errors"][0];
    assert!(e["file"].as_str().unwrap().ends_with("bad.s"), "{e}");
    assert_eq!((e["line"].as_u64(), e["col"].as_u64()), (Some(2), Some(3)), "{e}");
    // an error with no place has null location fields
    let out = udf(&["--json", "verify", s(&dir.join("missing.o"))]);
    assert_eq!(out.status.code(), Some(2));
    let e = &json(&out)["errors"][0];
    assert!(e["file"].is_null() && e["line"].is_null() && e["col"].is_null(), "{e}");
}

#[test]
fn udf_filter_takes_only_filters_from_an_object() {
    let clang = clang();
    let dir = folder("filter_owns");
    let obj = build(clang, &dir, "owns", OWNS, 3);
    pcap(&dir.join("cap.pcap"), &[vec![0u8; 64]]);
    let out = udf(&["filter", s(&obj), "--read", s(&dir.join("cap.pcap"))]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("of type owns"), "{:?}", text(&out));
}

/// The whole context as one struct: the 16-byte request, then the object.
const ACL: &str = r#"struct object {
    unsigned long owner;
    unsigned int mode;
    unsigned int pad;
};
struct request {
    unsigned long principal;
    unsigned int operation;
    unsigned int reserved;
    struct object obj;
};

__attribute__((section("acl")))
unsigned long may(const struct request *r, unsigned long len)
{
    if (r->principal == 0 || r->principal == r->obj.owner)
        return 1;
    return (r->obj.mode >> r->operation) & 1;
}
"#;

#[test]
fn an_acl_program_s_struct_covers_the_request_then_the_object() {
    let clang = clang();
    let dir = folder("acl");
    let ctx = |principal: u64, op: u32, owner: u64, mode: u32| {
        let mut b = Vec::new();
        b.extend_from_slice(&principal.to_le_bytes());
        b.extend_from_slice(&op.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&owner.to_le_bytes());
        b.extend_from_slice(&mode.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b
    };
    for (name, bytes, want) in [
        ("root", ctx(0, 1, 7, 0), "r0 = 1\n"),
        ("owner", ctx(7, 1, 7, 0), "r0 = 1\n"),
        ("other-denied", ctx(8, 1, 7, 0b01), "r0 = 0\n"),
        ("other-allowed", ctx(8, 1, 7, 0b10), "r0 = 1\n"),
    ] {
        std::fs::write(dir.join(format!("{name}.bin")), &bytes).unwrap();
        for cpu in [1, 4] {
            let obj = build(clang, &dir, "acl", ACL, cpu);
            // BTF's 32 bytes are the request (16) and a 16-byte object: a 32-byte context
            // runs (an object size of 32 would refuse it)
            let out = udf(&["--json", "verify", s(&obj)]);
            assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
            let v = json(&out);
            assert_eq!(v["type"], "acl");
            let out = udf(&["run", s(&obj), "--input", s(&dir.join(format!("{name}.bin")))]);
            assert_eq!(text(&out).0, want, "v{cpu} {name}: {:?}", text(&out));
        }
    }
    // an 8-byte object is too small for the owner and mode
    let obj = dir.join("acl.v1.o");
    let out = udf(&["verify", s(&obj), "--ctx-size", "8"]);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
}
