//! The download package end to end: corpus programs compiled, packaged (with and without
//! native code and source map), signed, then taken apart: round trips, every single-byte
//! change and every truncation refused with nothing installed, tags and keys, facts tampered
//! then re-signed, and installed programs agreeing with the interpreter.

use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use udf_bytecode::{CheckConfig, Program, ProgramType};
use udf_kernel_glue::loader::{EngineChoice, Fallback};
use udf_kernel_glue::package::{FactsField, FactsSection, NativeMode, NativeSection, SourceSpan};
use udf_kernel_glue::{LoadError, Package, PackageError, Policy, Table, Target};
use udf_runtime::{Context, EmitHelpers, Helpers, NoHelpers, RunOptions, Vm};

const KEY: &[u8] = b"the kernel's key, 32 bytes long.";

fn corpus(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus").join(rel)
}

/// A compiled entry point and its source text.
struct Compiled {
    entry: udf_compiler::Entry,
    src: String,
}

fn compile(rel: &str, entry: &str) -> Compiled {
    let path = corpus(rel);
    let module = udf_compiler::compile_file(&path).unwrap_or_else(|_| panic!("{rel} compiles"));
    let src = std::fs::read_to_string(&path).expect("source");
    let entry = module.entries.into_iter().find(|e| e.name == entry).expect("entry point");
    Compiled { entry, src }
}

fn ext2() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| compile("fs/ext2.udf", "ext2_inode"))
}

fn web() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| {
        let path = corpus("filters/web.udf");
        let module = udf_compiler::compile_file(&path).expect("web.udf compiles");
        let entry =
            module.entries.into_iter().find(|e| e.ty == ProgramType::Filter).expect("a filter");
        Compiled { entry, src: std::fs::read_to_string(&path).expect("source") }
    })
}

/// Every package target: none (a bytecode package), then each instruction set.
const TARGETS: [Option<Target>; 4] =
    [None, Some(Target::X86_64), Some(Target::Aarch64), Some(Target::Riscv64)];

/// A package target's name (`none` for a bytecode package).
fn target_name(target: Option<Target>) -> &'static str {
    target.map_or("none", Target::name)
}

/// What the toolchain does: verify, compile native code for `target` in trusted mode, add the
/// source map, sign with `key`.
fn build(c: &Compiled, target: Option<Target>, map: bool, key: Option<&[u8]>) -> Package {
    let e = &c.entry;
    let mut conf = udf_verifier::Config::new(e.ty);
    conf.ctx_size = e.ctx_size;
    let facts = udf_verifier::verify(&e.prog, &conf).expect("verifies");
    let native = target.map(|t| {
        let mut jit = udf_jit::Jit::new(t).expect("jit");
        let code = jit.compile(&e.prog, e.ty, udf_jit::Mode::Trusted(&facts)).expect("compiles");
        NativeSection {
            mode: NativeMode::Trusted,
            regions: code.regions().to_vec(),
            code: code.bytes().to_vec(),
        }
    });
    let source_map = map.then(|| {
        e.map
            .spans
            .iter()
            .map(|s| {
                let (l0, c0) = udf_compiler::srcmap::line_col(&c.src, s.start as usize);
                let (l1, c1) = udf_compiler::srcmap::line_col(&c.src, s.end as usize);
                SourceSpan {
                    start_line: l0 as u32,
                    start_col: c0 as u32,
                    end_line: l1 as u32,
                    end_col: c1 as u32,
                }
            })
            .collect()
    });
    let mut pkg = Package::new(&e.name, &facts, target, native);
    pkg.source_map = source_map;
    if let Some(k) = key {
        pkg.sign(k).expect("signs");
    }
    pkg
}

fn policy() -> Policy {
    Policy { key: Some(KEY.to_vec()), allow_unauthenticated_bytecode: true }
}

fn load(bytes: &[u8]) -> Result<(Table, udf_kernel_glue::ProgramId), LoadError> {
    let mut t = Table::new();
    t.load(bytes, &policy()).map(|id| (t, id))
}

/// Every package shape the tests use, as bytes: both programs, every target, with and
/// without source map and tag.
fn shapes() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, c) in [("ext2", ext2()), ("web", web())] {
        for target in TARGETS {
            for map in [false, true] {
                for key in [None, Some(KEY)] {
                    let label = format!(
                        "{name} {} map={map} signed={}",
                        target_name(target),
                        key.is_some()
                    );
                    out.push((label, build(c, target, map, key).to_bytes()));
                }
            }
        }
    }
    out
}

#[test]
fn round_trip() {
    for (name, bytes) in shapes() {
        let pkg = Package::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(pkg.to_bytes(), bytes, "{name}");
        assert_eq!(Package::parse(&pkg.to_bytes()).as_ref(), Ok(&pkg), "{name}");
    }
    let p = build(ext2(), Some(Target::X86_64), true, Some(KEY));
    assert!(p.native.is_some() && p.source_map.is_some() && p.tag.is_some());
    assert_eq!(p.source_map.as_ref().map(Vec::len), Some(ext2().entry.prog.len()));
}

/// Each single-byte change (xor 0x01, 0x80, 0xff at every offset) of `bytes` is refused with a
/// typed error and installs nothing.
fn every_byte_change_refused(bytes: &[u8]) -> usize {
    let mut table = Table::new();
    let policy = policy();
    let mut refused = 0;
    for i in 0..bytes.len() {
        for x in [0x01u8, 0x80, 0xff] {
            let mut m = bytes.to_vec();
            m[i] ^= x;
            match table.load(&m, &policy) {
                Ok(id) => panic!("byte {i} ^ {x:#x} accepted as {id}"),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
            assert_eq!(table.len(), 0, "byte {i} ^ {x:#x}");
            refused += 1;
        }
    }
    refused
}

#[test]
fn every_byte_change_of_a_signed_native_package_is_refused() {
    let bytes = build(ext2(), Some(Target::X86_64), true, Some(KEY)).to_bytes();
    assert!(load(&bytes).is_ok());
    let n = every_byte_change_refused(&bytes);
    assert_eq!(n, bytes.len() * 3);
}

#[test]
fn every_byte_change_of_a_signed_bytecode_package_is_refused() {
    for c in [ext2(), web()] {
        let bytes = build(c, None, true, Some(KEY)).to_bytes();
        assert!(load(&bytes).is_ok());
        every_byte_change_refused(&bytes);
    }
}

#[test]
fn every_truncation_is_refused() {
    for bytes in [
        build(ext2(), Some(Target::X86_64), true, Some(KEY)).to_bytes(),
        build(web(), None, false, Some(KEY)).to_bytes(),
        build(web(), None, true, None).to_bytes(),
    ] {
        let mut table = Table::new();
        for len in 0..bytes.len() {
            assert!(table.load(&bytes[..len], &policy()).is_err(), "{len}");
            assert!(Package::parse(&bytes[..len]).is_err(), "{len}");
        }
        assert!(table.is_empty());
        // One more byte is refused too.
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(table.load(&longer, &policy()).is_err());
        assert!(table.is_empty());
    }
}

#[test]
fn native_code_without_a_tag_is_refused() {
    for target in [Some(Target::X86_64), Some(Target::Aarch64)] {
        let bytes = build(ext2(), target, false, None).to_bytes();
        assert!(Package::parse(&bytes).is_ok());
        assert!(matches!(load(&bytes), Err(LoadError::UnauthenticatedNative { .. })));
    }
    // A signed package with its tag stripped and the flag cleared.
    let mut pkg = build(ext2(), Some(Target::X86_64), false, Some(KEY));
    pkg.tag = None;
    assert!(matches!(load(&pkg.to_bytes()), Err(LoadError::UnauthenticatedNative { target: 1 })));
}

#[test]
fn keys_and_policy() {
    let signed = build(ext2(), Some(Target::X86_64), false, Some(KEY)).to_bytes();
    let wrong = Policy { key: Some(b"another key".to_vec()), allow_unauthenticated_bytecode: true };
    let mut t = Table::new();
    assert_eq!(t.load(&signed, &wrong), Err(LoadError::Package(PackageError::BadTag)));
    assert_eq!(t.load(&signed, &Policy::default()), Err(LoadError::KeyRequired));
    let empty = Policy { key: Some(Vec::new()), allow_unauthenticated_bytecode: false };
    assert_eq!(t.load(&signed, &empty), Err(LoadError::Package(PackageError::EmptyKey)));
    let unsigned = build(ext2(), None, false, None).to_bytes();
    let strict = Policy { key: Some(KEY.to_vec()), allow_unauthenticated_bytecode: false };
    assert_eq!(t.load(&unsigned, &strict), Err(LoadError::Unauthenticated));
    assert!(t.is_empty());
    assert!(t.load(&unsigned, &policy()).is_ok());
    assert!(t.load(&signed, &strict).is_ok());
    assert_eq!(t.len(), 2);
    assert_eq!(
        udf_kernel_glue::package::authenticate(&unsigned, KEY),
        Err(PackageError::NotAuthenticated)
    );
    let mut p = build(web(), None, false, None);
    assert_eq!(p.sign(b""), Err(PackageError::EmptyKey));
}

#[test]
fn a_require_tag_policy_refuses_every_package_without_a_tag() {
    let other: &[u8] = b"another key";
    // Without a tag: refused whatever the key, the program or the target, nothing installed;
    // the policy is the loader's, so the same package loads under the permissive one.
    for key in [None, Some(KEY), Some(other)] {
        let strict = Policy::require_tag(key.map(<[u8]>::to_vec));
        assert!(strict.requires_tag());
        for c in [ext2(), web()] {
            for target in [None, Some(Target::X86_64)] {
                let bytes = build(c, target, true, None).to_bytes();
                let mut t = Table::new();
                assert_eq!(
                    t.load(&bytes, &strict),
                    Err(LoadError::Unauthenticated),
                    "{target:?}, key {key:?}"
                );
                assert!(t.is_empty());
            }
        }
    }
    let unsigned = build(ext2(), None, false, None).to_bytes();
    let lenient = Policy::allow_untagged_bytecode(None);
    assert!(!lenient.requires_tag());
    assert!(Table::new().load(&unsigned, &lenient).is_ok());
    let msg = LoadError::Unauthenticated.to_string();
    assert!(msg.contains("no authentication tag") && msg.contains("requires"), "{msg}");
    // With a tag: it must verify under the kernel's key, as under every policy.
    let signed = build(ext2(), Some(Target::X86_64), false, Some(KEY)).to_bytes();
    let mut t = Table::new();
    assert!(t.load(&signed, &Policy::require_tag(Some(KEY.to_vec()))).is_ok());
    assert_eq!(
        t.load(&signed, &Policy::require_tag(Some(other.to_vec()))),
        Err(LoadError::Package(PackageError::BadTag))
    );
    assert_eq!(t.load(&signed, &Policy::require_tag(None)), Err(LoadError::KeyRequired));
    assert_eq!(t.len(), 1);
}

#[test]
fn tampered_facts_resigned_are_refused() {
    type Tamper = fn(&mut FactsSection);
    let cases: [(FactsField, Tamper); 6] = [
        (FactsField::MaxInsns, |f| f.max_insns += 1),
        (FactsField::MaxExtents, |f| f.max_extents = 0),
        (FactsField::StackUse, |f| f.stack_use += 8),
        (FactsField::MaxFrames, |f| f.max_frames += 1),
        (FactsField::Loops, |f| f.loops.clear()),
        (FactsField::Access, |f| {
            let a = f
                .access
                .iter_mut()
                .find(|a| **a == udf_verifier::Access::Ctx)
                .expect("a context access");
            *a = udf_verifier::Access::Stack;
        }),
    ];
    for target in [Some(Target::X86_64), None] {
        for (field, tamper) in cases {
            let mut pkg = build(ext2(), target, false, None);
            if field == FactsField::Loops && pkg.facts.loops.is_empty() {
                continue;
            }
            tamper(&mut pkg.facts);
            pkg.sign(KEY).expect("signs");
            let mut t = Table::new();
            assert_eq!(
                t.load(&pkg.to_bytes(), &policy()),
                Err(LoadError::FactsDisagree { field }),
                "{}",
                target_name(target)
            );
            assert!(t.is_empty());
        }
    }
}

#[test]
fn inconsistent_signed_packages_are_refused() {
    // A source map of the wrong length.
    let mut pkg = build(ext2(), None, true, None);
    pkg.source_map.as_mut().expect("map").pop();
    pkg.sign(KEY).expect("signs");
    assert!(matches!(load(&pkg.to_bytes()), Err(LoadError::SourceMap { .. })));
    // Regions outside the program or the code, unordered, or not from slot 0.
    for bad in [
        |n: &mut NativeSection| n.regions[0].start = 1,
        |n: &mut NativeSection| n.regions[0].offset = n.code.len() as u32,
        |n: &mut NativeSection| {
            n.regions.push(udf_runtime::native::RegionEntry { start: 1 << 20, offset: 0 })
        },
        |n: &mut NativeSection| {
            let r = n.regions[0];
            n.regions.push(r)
        },
    ] {
        let mut pkg = build(ext2(), Some(Target::X86_64), false, None);
        bad(pkg.native.as_mut().expect("native"));
        pkg.sign(KEY).expect("signs");
        assert!(matches!(load(&pkg.to_bytes()), Err(LoadError::NativeRegions { .. })));
    }
    // Bytecode the verifier rejects (an out-of-bounds read), facts made up, signed.
    let prog = udf_bytecode::assemble("ldxw %r0, [%r1+200]\nexit\n").expect("assembles");
    let mut pkg = build(ext2(), None, false, None);
    pkg.bytecode = prog.encode();
    pkg.sign(KEY).expect("signs");
    assert!(matches!(load(&pkg.to_bytes()), Err(LoadError::Rejected(_))));
    // Bytes that do not decode.
    pkg.bytecode = vec![0xff; 8];
    pkg.sign(KEY).expect("signs");
    assert!(matches!(load(&pkg.to_bytes()), Err(LoadError::Decode(_))));
}

/// The reference: the interpreter straight from the bytecode, with the type's helpers.
fn reference(c: &Compiled, input: &[u8]) -> (u64, Vec<udf_runtime::Extent>) {
    let e = &c.entry;
    let compiled = udf_runtime::prepare(&e.prog, &CheckConfig::for_type(e.ty)).expect("prepares");
    let mut emit = EmitHelpers::new(1 << 20);
    let mut none = NoHelpers;
    let helpers: &mut dyn Helpers = if e.ty == ProgramType::Owns { &mut emit } else { &mut none };
    let opts = RunOptions { budget: 1 << 30, r3: input.len() as u64 };
    let out = Vm::new().run(&compiled, Context::ReadOnly(input), helpers, &opts).expect("runs");
    (out.r0, emit.extents)
}

fn samples(len: usize) -> Vec<Vec<u8>> {
    let mut out = vec![vec![0u8; len], vec![0xffu8; len]];
    let mut x = 0x1234_5678_9abc_def0u64;
    for _ in 0..20 {
        out.push(
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect(),
        );
    }
    // A regular file (the first case of ext2.udft) with sparse pointers.
    let mut inode = vec![0u8; len];
    if len >= 128 {
        inode[0..2].copy_from_slice(&0x81a4u16.to_le_bytes());
        inode[26..28].copy_from_slice(&1u16.to_le_bytes());
        for (k, b) in [(0usize, 100u32), (1, 101), (11, 111), (12, 200), (13, 300), (14, 400)] {
            inode[40 + 4 * k..44 + 4 * k].copy_from_slice(&b.to_le_bytes());
        }
        inode[104..108].copy_from_slice(&500u32.to_le_bytes());
        out.push(inode);
    }
    out
}

#[test]
fn installed_programs_agree_with_the_interpreter() {
    let host_native = Target::host() == Some(Target::X86_64);
    for (c, lens) in [(ext2(), vec![128usize]), (web(), vec![0, 14, 54, 60, 200])] {
        for target in TARGETS {
            let bytes = build(c, target, true, Some(KEY)).to_bytes();
            let (table, id) =
                load(&bytes).unwrap_or_else(|e| panic!("{}: {e}", target_name(target)));
            let prog = table.get(id).expect("installed");
            let engine = table.engine(id).expect("installed");
            match (target, engine) {
                (Some(Target::X86_64), EngineChoice::PackageNative) => assert!(host_native),
                (
                    None,
                    EngineChoice::Jit(Fallback::NoNativeCode)
                    | EngineChoice::Interp(Fallback::NoNativeCode),
                ) => {}
                (
                    t,
                    EngineChoice::Interp(Fallback::OtherTarget(o))
                    | EngineChoice::Jit(Fallback::OtherTarget(o)),
                ) => assert_eq!(t, Some(*o)),
                (t, e) => panic!("{}: {e}", target_name(t)),
            }
            assert_eq!(prog.is_native(), engine.is_native());
            assert_eq!(prog.name(), c.entry.name);
            let mut vm = Vm::new();
            for len in &lens {
                for input in samples(*len) {
                    let run = prog
                        .invoke(&mut vm, &input, input.len() as u64)
                        .unwrap_or_else(|e| panic!("{}: {e}", target_name(target)));
                    assert_eq!(
                        (run.r0, run.extents),
                        reference(c, &input),
                        "{}",
                        target_name(target)
                    );
                }
            }
        }
    }
    // The ext2 case: the extents of the sample regular file.
    let (table, id) =
        load(&build(ext2(), Some(Target::X86_64), false, Some(KEY)).to_bytes()).expect("loads");
    let inode = samples(128).pop().expect("inode");
    let run = table.get(id).expect("installed").invoke(&mut Vm::new(), &inode, 128).expect("runs");
    let got: Vec<_> = run.extents.iter().map(|e| (e.start, e.kind)).collect();
    assert_eq!(got, [(100, 0), (101, 0), (111, 0), (200, 1), (300, 2), (400, 3), (500, 4)]);
    // A context of the wrong size.
    assert!(table.get(id).expect("installed").invoke(&mut Vm::new(), &[0; 127], 0).is_err());
}

#[test]
fn checked_native_code_runs_on_the_interpreter() {
    let mut pkg = build(ext2(), Some(Target::X86_64), false, None);
    pkg.native.as_mut().expect("native").mode = NativeMode::Checked;
    pkg.sign(KEY).expect("signs");
    let (t, id) = load(&pkg.to_bytes()).expect("loads");
    assert!(matches!(
        t.engine(id),
        Some(
            EngineChoice::Interp(Fallback::CheckedCode) | EngineChoice::Jit(Fallback::CheckedCode)
        )
    ));
}

#[test]
fn table_install_get_remove() {
    let mut t = Table::new();
    let e = &ext2().entry;
    let a = t.install_bytecode("ext2_inode", e.ty, e.ctx_size, &e.prog).expect("installs");
    let b = t.load(&build(web(), None, false, Some(KEY)).to_bytes(), &policy()).expect("loads");
    assert_ne!(a, b);
    assert_eq!(t.len(), 2);
    assert_eq!(t.get(a).map(|p| p.ty()), Some(ProgramType::Owns));
    assert_eq!(t.get(a).and_then(|p| p.ctx_size()), Some(128));
    assert!(t.remove(a).is_some());
    assert!(t.remove(a).is_none());
    assert!(t.get(a).is_none());
    assert_eq!(t.len(), 1);
    assert_eq!(t.iter().map(|(id, _)| id).collect::<Vec<_>>(), [b]);
    let raw = Program::decode(&e.prog.encode()).expect("decodes");
    assert_eq!(
        t.install_bytecode("raw", ProgramType::Raw, None, &raw),
        Err(LoadError::Type(ProgramType::Raw))
    );
    assert_eq!(t.install_bytecode("bad name", e.ty, e.ctx_size, &raw), Err(LoadError::Name));
    // The verifier is told the size: a 100-byte object cannot hold the inode's fields.
    assert!(matches!(
        t.install_bytecode("small", e.ty, Some(100), &raw),
        Err(LoadError::Rejected(_))
    ));
    assert_eq!(t.len(), 1);
}

#[test]
fn header_errors_are_typed() {
    let good = build(web(), None, false, Some(KEY)).to_bytes();
    let set = |at: usize, v: &[u8]| {
        let mut b = good.clone();
        b[at..at + v.len()].copy_from_slice(v);
        Package::parse(&b)
    };
    assert_eq!(set(0, b"X"), Err(PackageError::Magic));
    assert_eq!(set(8, &[2, 0]), Err(PackageError::Version { found: 2 }));
    assert_eq!(set(10, &[3, 0]), Err(PackageError::Flags { flags: 3 }));
    assert_eq!(set(12, &[5]), Err(PackageError::ProgramType { found: 5 }));
    assert_eq!(set(13, &[4]), Err(PackageError::Target { found: 4 }));
    assert_eq!(set(14, &[9, 0]), Err(PackageError::SectionCount { count: 9 }));
    assert_eq!(
        set(16, &[1, 0, 0, 0]),
        Err(PackageError::CtxSize { ty: ProgramType::Filter, size: 1 })
    );
    assert!(matches!(set(20, &[0, 0, 0, 0]), Err(PackageError::TotalLength { declared: 0, .. })));
    assert!(matches!(set(24, &[9]), Err(PackageError::SectionKind { at: 24, kind: 9 })));
    assert!(matches!(set(26, &[1]), Err(PackageError::Reserved { at: 26, value: 1 })));
    assert!(matches!(set(32, b" "), Err(PackageError::Name { at: 32 })));
    assert!(PackageError::BadTag.to_string().contains("tag"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics_and_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(p) = Package::parse(&bytes) {
            prop_assert_eq!(p.to_bytes(), bytes);
        }
    }

    /// Random bytes behind a well-formed header, so the section reader is reached.
    #[test]
    fn sections_never_panic_and_round_trip(
        ty in 1u8..=4,
        target in 0u8..=3,
        count in 0u16..=6,
        auth in any::<bool>(),
        body in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut b = Vec::new();
        b.extend_from_slice(b"UDFPKG\r\n");
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&u16::from(auth).to_le_bytes());
        b.push(ty);
        b.push(target);
        b.extend_from_slice(&count.to_le_bytes());
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        let total = (24 + body.len()) as u32;
        b.extend_from_slice(&total.to_le_bytes());
        b.extend_from_slice(&body);
        if let Ok(p) = Package::parse(&b) {
            prop_assert_eq!(p.to_bytes(), b.clone());
        }
        let mut t = Table::new();
        if t.load(&b, &policy()).is_err() {
            prop_assert!(t.is_empty());
        }
    }

    /// Mutations of a valid package: parse never panics, and what it accepts round-trips.
    #[test]
    fn mutated_packages_round_trip(seed in any::<u64>()) {
        static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
        let bytes = BYTES.get_or_init(|| build(web(), Some(Target::Aarch64), true, Some(KEY)).to_bytes());
        let mut rng = udf_bytecode::rng::Rng::new(seed);
        let m = udf_kernel_glue::fuzzing::mutate(bytes, &mut rng);
        if let Ok(p) = Package::parse(&m) {
            prop_assert_eq!(p.to_bytes(), m);
        }
    }
}

/// The runtime's own gate for native code (`NativeProgram::load_authenticated`, what the loader
/// calls) refuses, by itself, every package it cannot establish the soundness of: a wrong key,
/// any changed byte, another program's package, another target's code, checked code, another
/// object size. Only the package of the very program verified, for this host, maps.
#[test]
fn the_runtime_maps_only_authenticated_code_of_the_verified_program() {
    use udf_runtime::mac::MacError;
    use udf_runtime::native::{LoadError as MapError, NativeProgram};
    let verified = |c: &Compiled, ctx_size: Option<u32>| {
        let mut conf = udf_verifier::Config::new(c.entry.ty);
        conf.ctx_size = ctx_size;
        udf_verifier::verify(&c.entry.prog, &conf).expect("verifies")
    };
    let ext2_facts = verified(ext2(), ext2().entry.ctx_size);
    let web_facts = verified(web(), web().entry.ctx_size);
    let host = Target::host().expect("a host the JIT targets");
    let pkg = build(ext2(), Some(host), true, Some(KEY)).to_bytes();
    let mut native = NativeProgram::load_authenticated(KEY, &pkg, &ext2_facts).expect("maps");
    // It runs, and only on the context lengths the proof assumed, which its owner cannot widen.
    native.restrict_ctx_len(0, u64::MAX);
    let size = ext2().entry.ctx_size.expect("a template size") as usize;
    let mut vm = Vm::new();
    let mut emit = EmitHelpers::new(1 << 10);
    let opts = RunOptions { budget: u64::MAX, r3: 0 };
    native
        .run(&mut vm, Context::ReadOnly(&vec![0; size]), &mut emit, &opts)
        .expect("runs on its object size");
    let short = native.run(&mut vm, Context::ReadOnly(&vec![0; size - 1]), &mut emit, &opts);
    assert!(short.is_err(), "a context shorter than the proof's ran: {short:?}");

    let refused = |key: &[u8], bytes: &[u8], facts: &udf_verifier::Verified| {
        NativeProgram::load_authenticated(key, bytes, facts)
            .expect_err("must be refused, nothing mapped")
    };
    assert!(matches!(
        refused(b"another key, also 32 bytes long", &pkg, &ext2_facts),
        MapError::Unauthenticated(MacError::BadTag)
    ));
    assert!(matches!(refused(&[], &pkg, &ext2_facts), MapError::Unauthenticated(_)));
    // Every byte, one at a time (the tag included).
    for at in 0..pkg.len() {
        let mut flipped = pkg.clone();
        flipped[at] ^= 0x01;
        assert!(
            matches!(refused(KEY, &flipped, &ext2_facts), MapError::Unauthenticated(_)),
            "byte {at} flipped"
        );
    }
    // Authentic packages that are not this proof's, or not for this host, or not trusted code.
    let web_pkg = build(web(), Some(host), true, Some(KEY)).to_bytes();
    assert!(matches!(refused(KEY, &web_pkg, &ext2_facts), MapError::Mismatch(_)));
    assert!(matches!(refused(KEY, &pkg, &web_facts), MapError::Mismatch(_)));
    let other_size = verified(ext2(), ext2().entry.ctx_size.map(|n| n + 8));
    assert!(matches!(refused(KEY, &pkg, &other_size), MapError::Mismatch("object size")));
    let other = TARGETS.into_iter().flatten().find(|&t| t != host).expect("another target");
    let foreign = build(ext2(), Some(other), true, Some(KEY)).to_bytes();
    assert!(matches!(refused(KEY, &foreign, &ext2_facts), MapError::Mismatch("target")));
    let mut checked = build(ext2(), Some(host), true, None);
    if let Some(n) = checked.native.as_mut() {
        n.mode = NativeMode::Checked;
    }
    checked.sign(KEY).expect("signs");
    assert!(matches!(
        refused(KEY, &checked.to_bytes(), &ext2_facts),
        MapError::Mismatch(m) if m.starts_with("mode")
    ));
}
