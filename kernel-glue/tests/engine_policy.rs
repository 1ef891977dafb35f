//! Invoking installed programs (issue 15): a context whose length the verifier's proof did not
//! assume is refused by every engine the kernel may pick, nothing run; the hardened policy
//! runs no trusted native code and gives the interpreter's results.

use udf_bytecode::{Program, ProgramType, assemble};
use udf_kernel_glue::loader::{EngineChoice, Fallback};
use udf_kernel_glue::package::{NativeMode, NativeSection};
use udf_kernel_glue::{InvokeError, NativePolicy, Package, Policy, Table, Target};
use udf_runtime::Vm;

const KEY: &[u8] = b"the kernel's key, 32 bytes long.";

/// An `acl` program reading its request's principal and operation: verified for any object,
/// so for contexts of 16 bytes or more.
const ACL: &str = "ldxdw %r0, [%r1+0]\nldxw %r2, [%r1+8]\nadd %r0, %r2\nexit";

fn policy() -> Policy {
    Policy { key: Some(KEY.to_vec()), allow_unauthenticated_bytecode: true }
}

/// A signed package of `prog` with trusted x86-64 code, as the toolchain builds it.
fn native_package(prog: &Program, ty: ProgramType, ctx_size: Option<u32>) -> Vec<u8> {
    let mut conf = udf_verifier::Config::new(ty);
    conf.ctx_size = ctx_size;
    let facts = udf_verifier::verify(prog, &conf).expect("verifies");
    let mut jit = udf_jit::Jit::new(Target::X86_64).expect("jit");
    let code = jit.compile(prog, ty, udf_jit::Mode::Trusted(&facts)).expect("compiles");
    let native = NativeSection {
        mode: NativeMode::Trusted,
        regions: code.regions().to_vec(),
        code: code.bytes().to_vec(),
    };
    let mut pkg = Package::new("acl_short", &facts, Some(Target::X86_64), Some(native));
    pkg.sign(KEY).expect("signs");
    pkg.to_bytes()
}

/// Every way the table may run the program: installed from bytecode, and from a package with
/// native code, under both policies.
fn tables(prog: &Program, ty: ProgramType, ctx_size: Option<u32>) -> Vec<(String, Table)> {
    let mut out = Vec::new();
    for native in [NativePolicy::Trusted, NativePolicy::Hardened] {
        let mut t = Table::new();
        t.set_native_policy(native);
        t.install_bytecode("acl_short", ty, ctx_size, prog).expect("installs");
        out.push((format!("{native:?} bytecode"), t));
        let mut t = Table::new();
        t.set_native_policy(native);
        t.load(&native_package(prog, ty, ctx_size), &policy()).expect("loads");
        out.push((format!("{native:?} package"), t));
    }
    out
}

#[test]
fn contexts_shorter_than_the_acl_request_are_refused_by_every_engine() {
    let prog = assemble(ACL).expect("assembles");
    let tables = tables(&prog, ProgramType::Acl, None);
    let host_native = Target::host() == Some(Target::X86_64);
    let mut native_seen = false;
    for (label, t) in &tables {
        let (id, p) = t.iter().next().expect("installed");
        native_seen |= p.is_native();
        assert_eq!(p.facts().ctx_len.0, 16, "{label}");
        for len in [0usize, 1, 8, 15] {
            let got = p.invoke(&mut Vm::new(), &vec![0x11; len], 0);
            assert_eq!(
                got,
                Err(InvokeError::ContextLength {
                    got: len as u64,
                    min: 16,
                    max: p.facts().ctx_len.1
                }),
                "{label}: {len} bytes ({:?})",
                t.engine(id)
            );
            let msg = got.unwrap_err().to_string();
            assert!(msg.contains("nothing ran"), "{msg}");
        }
        for (input, want) in
            [(vec![1u8; 16], 0x0101_0101_0101_0101u64 + 0x0101_0101), (vec![0u8; 64], 0)]
        {
            let run = p.invoke(&mut Vm::new(), &input, 0).expect("runs");
            assert_eq!(run.r0, want, "{label}");
        }
    }
    assert_eq!(
        native_seen, host_native,
        "on an x86-64 host, native code is among the engines tried"
    );
}

#[test]
fn fixed_size_contexts_refuse_every_other_size() {
    // An acl program over a 4-byte object: exactly 20 bytes.
    let prog = assemble("ldxw %r0, [%r1+16]\nexit").expect("assembles");
    for (label, t) in tables(&prog, ProgramType::Acl, Some(4)) {
        let (_, p) = t.iter().next().expect("installed");
        for len in [0usize, 16, 19, 21, 40] {
            let got = p.invoke(&mut Vm::new(), &vec![0; len], 0);
            assert!(
                matches!(
                    got,
                    Err(InvokeError::ContextSize { expected: 20, .. }
                        | InvokeError::ContextLength { .. })
                ),
                "{label}: {len} bytes: {got:?}"
            );
        }
        let mut ok = vec![0u8; 20];
        ok[16] = 9;
        assert_eq!(p.invoke(&mut Vm::new(), &ok, 0).map(|r| r.r0), Ok(9));
    }
}

#[test]
fn the_hardened_policy_maps_no_trusted_package_code() {
    let prog = assemble(ACL).expect("assembles");
    let bytes = native_package(&prog, ProgramType::Acl, None);
    let mut t = Table::new();
    assert_eq!(t.native_policy(), NativePolicy::default());
    t.set_native_policy(NativePolicy::Hardened);
    let id = t.load(&bytes, &policy()).expect("loads");
    let engine = t.engine(id).expect("installed");
    if cfg!(feature = "jit") && Target::host() == Some(Target::X86_64) {
        assert_eq!(engine, &EngineChoice::Jit(Fallback::HardenedPolicy));
    } else {
        assert_eq!(engine, &EngineChoice::Interp(Fallback::HardenedPolicy));
    }
    let mut trusted = Table::new();
    trusted.set_native_policy(NativePolicy::Trusted);
    let id = trusted.load(&bytes, &policy()).expect("loads");
    if Target::host() == Some(Target::X86_64) {
        assert_eq!(trusted.engine(id), Some(&EngineChoice::PackageNative));
    }
}
