//! The ELF reader (`udf_compiler::elf`) on objects clang builds at test time (`-target bpf -O2
//! -g`, `-mcpu=v1` to `v4`): linking of subprograms, BTF object sizes, line info following the
//! linked layout, every refusal located and naming its symbol, and damaged objects (every byte
//! flipped, every truncation, random mutations) refused without a panic.
//!
//! The compiler is `$UDF_CLANG` (scripts/test.sh sets it), else `clang-19`, else `clang`.
//! Without one the tests fail under CI (`CI` set) and are skipped with a note elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

mod common;

use proptest::prelude::*;
use udf_bytecode::ProgramType;
use udf_bytecode::insn::Insn;
use udf_compiler::elf::{self, ElfErrorKind};

/// A clang that targets BPF; the test fails without one.
fn clang() -> &'static str {
    static CLANG: OnceLock<String> = OnceLock::new();
    CLANG.get_or_init(|| udf_compiler::elf::bpf_clang().unwrap_or_else(|e| panic!("{e}")))
}

/// Compiles `src` with `-mcpu=v{cpu}` into an object; its bytes and path.
fn build(clang: &str, name: &str, src: &str, cpu: u8) -> (Vec<u8>, PathBuf) {
    // a folder of its own: tests build the same sources at the same time
    static BUILDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    static CLEAN: std::sync::Once = std::sync::Once::new();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("elf_reader");
    CLEAN.call_once(|| drop(std::fs::remove_dir_all(&root)));
    let n = BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = root.join(format!("{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join(format!("{name}.c"));
    let o = dir.join(format!("{name}.v{cpu}.o"));
    std::fs::write(&c, src).unwrap();
    let out = Command::new(clang)
        .args(["-target", "bpf", "-O2", "-g", &format!("-mcpu=v{cpu}"), "-c"])
        .arg(&c)
        .arg("-o")
        .arg(&o)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{clang} failed on {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (std::fs::read(&o).unwrap(), o)
}

const FILTER: &str = r#"
static __attribute__((noinline)) unsigned long byte_at(const unsigned char *p, unsigned long n,
                                                        unsigned long i)
{
    if (i >= n)
        return 0;
    return p[i];
}

static __attribute__((noinline)) unsigned long port(const unsigned char *p, unsigned long n)
{
    return (byte_at(p, n, 36) << 8) | byte_at(p, n, 37);
}

__attribute__((section("filter")))
unsigned long web(const unsigned char *pkt, unsigned long len)
{
    unsigned long d = port(pkt, len);
    if (d == 80 || d == 443)
        return len;
    return 0;
}
"#;

const OWNS: &str = r#"
struct inode {
    unsigned int mode;
    unsigned int blocks[12];
    unsigned long size;
};
typedef const struct inode inode_t;
static long (*emit)(unsigned long start, unsigned long count, unsigned int kind) = (void *)1;

__attribute__((section("owns")))
unsigned long owns_inode(inode_t *ino, unsigned long len)
{
    for (int i = 0; i < 12; i++)
        if (ino->blocks[i])
            emit(ino->blocks[i], 1, 0);
    return 0;
}
"#;

/// Reads past the packet without a bounds check on line 5.
const UNCHECKED: &str = r#"
__attribute__((section("filter")))
unsigned long first(const unsigned char *pkt, unsigned long len)
{
    return pkt[len + 3];
}
"#;

/// Builds `src` at `-mcpu=v{cpu}` and loads its entry: the object and the program.
fn build_and_load(clang: &str, name: &str, src: &str, cpu: u8) -> (Vec<u8>, elf::CProgram) {
    let (bytes, _) = build(clang, name, src, cpu);
    let c = elf::load(&bytes, None).unwrap_or_else(|e| panic!("v{cpu}: {e}"));
    (bytes, c)
}

/// The program passes the verifier as a filter.
fn verify_filter(c: &elf::CProgram, cpu: u8) {
    let conf = udf_verifier::Config::new(ProgramType::Filter);
    udf_verifier::verify(&c.prog, &conf).unwrap_or_else(|e| panic!("v{cpu}: {e:?}"));
}

fn run(c: &elf::CProgram, ty: ProgramType, input: &[u8]) -> (u64, Vec<udf_runtime::Extent>) {
    let checks = udf_runtime::pre_run_checks(ty, true);
    common::run_program(&c.prog, ty, &checks, input, 1_000_000, 1 << 10)
}

#[test]
fn filter_with_subprograms_links_verifies_and_runs_at_every_cpu_version() {
    let clang = clang();
    for cpu in 1..=4 {
        let (_, c) = build_and_load(clang, "filter", FILTER, cpu);
        assert_eq!(c.name, "web");
        assert_eq!(c.section, "filter");
        assert_eq!(c.ty, Some(ProgramType::Filter));
        assert_eq!(c.ctx_size, None, "a byte pointer has no object size");
        let names: Vec<&str> = c.functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["web", "port", "byte_at"], "v{cpu}: linked in call order");
        assert_eq!(c.functions[0].index, 0);
        assert!(c.functions[1].section == ".text" && c.functions[2].section == ".text");
        // every call lands on the first instruction of a linked function
        let starts: Vec<usize> = c.functions.iter().map(|f| c.prog.pc(f.index)).collect();
        for (pc, insn) in c.prog.iter() {
            if let Insn::CallLocal { .. } = insn {
                let t = c.prog.branch_target(pc).unwrap();
                assert!(starts[1..].contains(&t), "v{cpu}: call at {pc} lands on {t}");
            }
        }
        assert_eq!(c.lines.len(), c.prog.len());
        assert!(c.lines.iter().all(Option::is_some), "v{cpu}: every line known");
        verify_filter(&c, cpu);
        let mut pkt = vec![0u8; 60];
        pkt[36] = 0x01;
        pkt[37] = 0xbb;
        assert_eq!(run(&c, ProgramType::Filter, &pkt).0, 60, "v{cpu}: port 443");
        pkt[37] = 0xbc;
        assert_eq!(run(&c, ProgramType::Filter, &pkt).0, 0, "v{cpu}: port 444");
        assert_eq!(run(&c, ProgramType::Filter, &pkt[..30]).0, 0, "v{cpu}: short");
    }
}

#[test]
fn line_info_follows_the_linked_layout() {
    let clang = clang();
    for cpu in 1..=4 {
        let (bytes, _) = build(clang, "filter", FILTER, cpu);
        let c = elf::load(&bytes, None).unwrap();
        let src_lines: Vec<&str> = FILTER.lines().collect();
        for (i, l) in c.lines.iter().enumerate() {
            let l = l.as_ref().unwrap();
            assert!(l.file.ends_with("filter.c"), "{}", l.file);
            let text = l.text.as_deref().unwrap();
            assert_eq!(
                text.trim(),
                src_lines[l.line as usize - 1].trim(),
                "v{cpu}: instruction {i}: the BTF text is the source line"
            );
            // the function the instruction is in spans this line
            let (f, _) = c.origin(i).unwrap();
            let decl = src_lines.iter().position(|s| s.contains(&format!("{}(", f.name))).unwrap();
            assert!(
                l.line as usize > decl,
                "v{cpu}: instruction {i} of {} on line {}",
                f.name,
                l.line
            );
        }
        // the load of p[i] (in byte_at) is on line 7 (1-based: FILTER starts with a newline)
        let loads: Vec<usize> = c
            .prog
            .insns()
            .iter()
            .enumerate()
            .filter(|(_, i)| matches!(i, Insn::Load { .. }))
            .map(|(k, _)| k)
            .collect();
        assert!(!loads.is_empty());
        for k in loads {
            assert_eq!(c.lines[k].as_ref().unwrap().line, 7, "v{cpu}");
            assert_eq!(c.origin(k).unwrap().0.name, "byte_at");
        }
    }
}

#[test]
fn owns_program_gets_its_object_size_from_btf_and_emits() {
    let clang = clang();
    for cpu in 1..=4 {
        let (_, c) = build_and_load(clang, "owns", OWNS, cpu);
        assert_eq!(c.ty, Some(ProgramType::Owns));
        assert_eq!(c.ctx_size, Some(64), "v{cpu}: sizeof(struct inode)");
        let mut conf = udf_verifier::Config::new(ProgramType::Owns);
        conf.ctx_size = c.ctx_size;
        let facts =
            udf_verifier::verify(&c.prog, &conf).unwrap_or_else(|e| panic!("v{cpu}: {e:?}"));
        assert!(facts.max_extents >= 12);
        let mut ino = vec![0u8; 64];
        ino[4 + 4 * 2] = 9;
        ino[4 + 4 * 7] = 200;
        let (r0, ext) = run(&c, ProgramType::Owns, &ino);
        assert_eq!(r0, 0);
        let got: Vec<(u64, u64, u32)> = ext.iter().map(|e| (e.start, e.count, e.kind)).collect();
        assert_eq!(got, [(9, 1, 0), (200, 1, 0)], "v{cpu}");
    }
}

#[test]
fn a_rejection_maps_to_its_c_line() {
    let clang = clang();
    for cpu in 1..=4 {
        let (bytes, _) = build(clang, "unchecked", UNCHECKED, cpu);
        let c = elf::load(&bytes, None).unwrap();
        let conf = udf_verifier::Config::new(ProgramType::Filter);
        let e = udf_verifier::verify(&c.prog, &conf).expect_err("an unchecked read");
        let l = c.lines[e.index].as_ref().expect("a line");
        assert_eq!(l.line, 5, "v{cpu}");
        assert!(l.col > 0);
        assert_eq!(l.text.as_deref().map(str::trim), Some("return pkt[len + 3];"));
    }
}

const REFUSED: &str = r#"
extern unsigned long ext_fn(unsigned long x);
extern void bpf_kf(unsigned long x) __attribute__((section(".ksyms")));
static const volatile unsigned long limit = 5;
unsigned long counter;
struct { int type; int max_entries; } my_map __attribute__((section(".maps")));
static long (*other)(unsigned long a) = (void *)7;
static long (*emit)(unsigned long start, unsigned long count, unsigned int kind) = (void *)1;

__attribute__((section("filter"))) unsigned long use_ext(const unsigned char *p, unsigned long n)
{ return ext_fn(n); }
__attribute__((section("filter"))) unsigned long use_kf(const unsigned char *p, unsigned long n)
{ bpf_kf(n); return 1; }
__attribute__((section("filter"))) unsigned long use_ro(const unsigned char *p, unsigned long n)
{ return n > limit; }
__attribute__((section("filter"))) unsigned long use_bss(const unsigned char *p, unsigned long n)
{ counter++; return 1; }
__attribute__((section("filter"))) unsigned long use_map(const unsigned char *p, unsigned long n)
{ return (unsigned long)&my_map; }
__attribute__((section("filter"))) unsigned long use_helper(const unsigned char *p, unsigned long n)
{ return other(n); }
__attribute__((section("filter"))) unsigned long emits(const unsigned char *p, unsigned long n)
{ emit(1, 2, 3); return 0; }
__attribute__((section("owns"))) unsigned long owns_emit(const unsigned char *p, unsigned long n)
{ emit(1, 2, 3); return 0; }
"#;

#[test]
fn refusals_name_the_section_instruction_symbol_and_line() {
    let clang = clang();
    for cpu in 1..=4 {
        let (bytes, _) = build(clang, "refused", REFUSED, cpu);
        let err = |entry: &str| elf::load(&bytes, Some(entry)).expect_err(entry);
        let e = err("use_ext");
        assert_eq!(*e.kind, ElfErrorKind::Undefined);
        assert_eq!(e.symbol.as_deref(), Some("ext_fn"));
        assert!(e.to_string().contains("ext_fn"), "{e}");
        let e = err("use_kf");
        assert_eq!(*e.kind, ElfErrorKind::Undefined);
        assert_eq!(e.symbol.as_deref(), Some("bpf_kf"));
        for (entry, sym, what, target) in [
            ("use_ro", "limit", "global data", ".rodata"),
            ("use_bss", "counter", "global data", ".bss"),
            ("use_map", "my_map", "a map", ".maps"),
        ] {
            let e = err(entry);
            assert_eq!(
                *e.kind,
                ElfErrorKind::DataRelocation {
                    what: what.to_string(),
                    target: Some(target.to_string())
                },
                "v{cpu} {entry}"
            );
            assert_eq!(e.symbol.as_deref(), Some(sym));
            assert_eq!(e.section.as_deref(), Some("filter"));
            assert_eq!(e.function.as_deref(), Some(entry));
            assert!(e.is_refusal());
            let line = e.line.as_ref().expect("located on its C line");
            let src_line = REFUSED.lines().nth(line.line as usize - 1).unwrap();
            assert!(src_line.contains(sym), "v{cpu} {entry}: line {src_line}");
            let msg = e.to_string();
            assert!(msg.contains(sym) && msg.contains("section `filter`"), "{msg}");
        }
        let e = err("use_helper");
        assert_eq!(*e.kind, ElfErrorKind::Helper { id: 7, ty: ProgramType::Filter });
        assert!(e.line.is_some() && e.offset.is_some());
        let e = err("emits");
        assert!(matches!(*e.kind, ElfErrorKind::Helper { id: 1, .. }), "{e}");
        let c = elf::load(&bytes, Some("owns_emit")).expect("emit is an owns helper");
        assert_eq!(c.ty, Some(ProgramType::Owns));
        // several program functions and no --entry: the candidates are listed
        let e = elf::load(&bytes, None).unwrap_err();
        assert!(matches!(*e.kind, ElfErrorKind::Entry(_)) && !e.is_refusal());
        assert!(e.to_string().contains("use_map (section filter)"), "{e}");
        let e = elf::load(&bytes, Some("nope")).unwrap_err();
        assert!(matches!(*e.kind, ElfErrorKind::Entry(_)), "{e}");
    }
}

#[test]
fn kfunc_calls_and_pseudo_loads_are_refused() {
    // Hand-patched: a call with src 2 and an lddw with src 1 in a copy of a real object.
    let clang = clang();
    let (bytes, _) = build(clang, "owns", OWNS, 2);
    let c = elf::load(&bytes, None).unwrap();
    let code = section_range(&bytes, "owns");
    let call = (0..c.prog.slot_count()).find(|&s| bytes[code.start + 8 * s] == 0x85).unwrap();
    let mut k = bytes.clone();
    k[code.start + 8 * call + 1] = 0x20;
    let e = elf::load(&k, None).unwrap_err();
    assert_eq!(*e.kind, ElfErrorKind::Kfunc);
    assert_eq!(e.insn(), Some(call as u64));
    // the first instruction becomes an lddw with src 1 (it and the next slot)
    let mut p = bytes.clone();
    p[code.start] = 0x18;
    p[code.start + 1] = 0x10;
    let e = elf::load(&p, None).unwrap_err();
    assert_eq!(*e.kind, ElfErrorKind::PseudoLoad { src: 1 });
    assert_eq!(e.offset, Some(0));
}

/// The byte range of section `name` in an object (a tiny reader for the tests' patches).
fn section_range(b: &[u8], name: &str) -> std::ops::Range<usize> {
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap()) as usize;
    let shoff = u64_at(0x28);
    let (shentsize, shnum, shstrndx) = (u16_at(0x3a), u16_at(0x3c), u16_at(0x3e));
    let sh = |i: usize| shoff + i * shentsize;
    let strtab = u64_at(sh(shstrndx) + 0x18);
    for i in 0..shnum {
        let n = strtab + u32_at(sh(i));
        let end = n + b[n..].iter().position(|&c| c == 0).unwrap();
        if &b[n..end] == name.as_bytes() {
            let off = u64_at(sh(i) + 0x18);
            return off..off + u64_at(sh(i) + 0x20);
        }
    }
    panic!("no section {name}")
}

#[test]
fn not_bpf_objects_are_refused_as_unreadable() {
    for (bytes, want) in [
        (b"".to_vec(), "no ELF magic"),
        (b"\x7fELF".to_vec(), "truncated"),
        (b"\x7fELF\x01\x01\x01".to_vec(), "64-bit"),
        (b"\x7fELF\x02\x02\x01".to_vec(), "little-endian"),
    ] {
        let e = elf::load(&bytes, None).unwrap_err();
        assert!(!e.is_refusal());
        assert!(e.to_string().contains(want), "{e}");
    }
    // this test binary is an ELF file, but not a BPF object
    let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    let e = elf::load(&me, None).unwrap_err();
    assert!(matches!(*e.kind, ElfErrorKind::NotBpf(_)), "{e}");
}

#[test]
fn every_byte_flipped_and_every_truncation_is_refused_or_read_without_panic() {
    let clang = clang();
    let (bytes, _) = build(clang, "filter", FILTER, 3);
    let (mut ok, mut refused) = (0, 0);
    for n in 0..bytes.len() {
        assert!(elf::load(&bytes[..n], None).is_err(), "truncated to {n}");
        let mut b = bytes.clone();
        b[n] ^= 0xff;
        match elf::load(&b, None) {
            Ok(_) => ok += 1,
            Err(_) => refused += 1,
        }
        udf_compiler::fuzzing::elf_reader(&b);
    }
    assert!(ok > 0 && refused > 0, "{ok} read, {refused} refused");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    /// Random bytes written over a real object: a program or an error, never a panic.
    #[test]
    fn random_damage_never_panics(
        cpu in 1u8..=4,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let clang = clang();
        static OBJS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
        let objs = OBJS.get_or_init(|| {
            (1..=4).flat_map(|cpu| {
                [build(clang, "filter", FILTER, cpu).0, build(clang, "owns", OWNS, cpu).0]
            }).collect()
        });
        let mut b = objs[(cpu as usize - 1) * 2 + usize::from(edits.len() % 2 == 0)].clone();
        for (at, v) in &edits {
            let i = at.index(b.len());
            b[i] = *v;
        }
        if truncate {
            b.truncate(cut.index(b.len()));
        }
        udf_compiler::fuzzing::elf_reader(&b);
    }
}

#[test]
fn the_fuzzing_oracle_reads_multi_function_objects() {
    let clang = clang();
    let (bytes, _) = build(clang, "refused", REFUSED, 4);
    let fs = elf::functions(&bytes).unwrap();
    assert!(fs.contains(&("use_map".to_string(), "filter".to_string())), "{fs:?}");
    assert!(fs.contains(&("owns_emit".to_string(), "owns".to_string())), "{fs:?}");
    udf_compiler::fuzzing::elf_reader(&bytes);
}

/// `leaf` is reached from three places, through a global symbol (`mid`, `leaf`) and a section
/// symbol plus offset (the static `mid2`).
const SHARED: &str = r#"
__attribute__((noinline)) unsigned long leaf(const unsigned char *p, unsigned long n,
                                             unsigned long i)
{
    return i < n ? p[i] : 0;
}
__attribute__((noinline)) unsigned long mid(const unsigned char *p, unsigned long n)
{
    return leaf(p, n, 1) + leaf(p, n, 2);
}
static __attribute__((noinline)) unsigned long mid2(const unsigned char *p, unsigned long n)
{
    return leaf(p, n, 3) ^ mid(p, n);
}
__attribute__((section("filter/shared")))
unsigned long shared(const unsigned char *pkt, unsigned long len)
{
    return mid(pkt, len) + mid2(pkt, len);
}
"#;

#[test]
fn global_and_static_subprograms_are_linked_once_each() {
    let clang = clang();
    for cpu in 1..=4 {
        let (bytes, c) = build_and_load(clang, "shared", SHARED, cpu);
        assert_eq!(c.section, "filter/shared");
        assert_eq!(c.ty, Some(ProgramType::Filter), "`filter/...` names the type");
        let mut names: Vec<&str> = c.functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names[0], "shared");
        names.sort();
        assert_eq!(names, ["leaf", "mid", "mid2", "shared"], "v{cpu}");
        verify_filter(&c, cpu);
        let pkt = [10u8, 20, 30, 40];
        // mid = 20 + 30; mid2 = 40 ^ 50
        assert_eq!(run(&c, ProgramType::Filter, &pkt).0, 50 + (40 ^ 50), "v{cpu}");
        assert_eq!(run(&c, ProgramType::Filter, &pkt[..2]).0, 20 + 20, "v{cpu}");
        // a .text function as the entry: named, and its type given by the caller
        let m = elf::load(&bytes, Some("mid")).unwrap();
        assert_eq!((m.section.as_str(), m.ty), (".text", None));
        assert_eq!(m.functions.len(), 2);
    }
}

/// Sign-extending loads and 32-bit jumps at `-mcpu=v4`.
const SIGNED: &str = r#"
__attribute__((section("filter")))
unsigned long signed_first(const unsigned char *pkt, unsigned long len)
{
    if (len < 2)
        return 0;
    signed char a = (signed char)pkt[0];
    short b = (short)(pkt[1] << 8);
    return a < 0 ? (unsigned long)(-a) : (unsigned long)(b >> 8) + 1000;
}
"#;

#[test]
fn v4_sign_extending_loads_read_and_run() {
    let clang = clang();
    for cpu in 1..=4 {
        let (_, c) = build_and_load(clang, "signed", SIGNED, cpu);
        let sx = c.prog.insns().iter().any(|i| matches!(i, Insn::Load { signed: true, .. }));
        assert_eq!(sx, cpu == 4, "v{cpu}: sign-extending loads only at v4");
        verify_filter(&c, cpu);
        assert_eq!(run(&c, ProgramType::Filter, &[0xfe, 3]).0, 2, "v{cpu}");
        assert_eq!(run(&c, ProgramType::Filter, &[5, 0xff]).0, 999, "v{cpu}");
        assert_eq!(run(&c, ProgramType::Filter, &[5]).0, 0, "v{cpu}");
    }
}
