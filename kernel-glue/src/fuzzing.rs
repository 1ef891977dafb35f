//! Oracles for fuzzing the download path (feature `fuzzing`): the fuzz targets are a few lines
//! that call these, and the same oracles run for a few seconds under `cargo test`
//! (`tests/fuzz_oracles.rs`).
//!
//! - [`package_reader`]: the reader never panics, and whatever it accepts serialises back to
//!   the same bytes;
//! - [`load_then_run`]: whatever [`Table::load`] accepts (as given, and, for packages without
//!   x86-64 code, re-signed with [`FUZZ_KEY`] so mutations reach the checks after
//!   authentication) runs on a few inputs of its context size without a fault;
//! - [`seed_packages`]: valid signed packages built from hand-assembled bytecode, to mutate
//!   with [`mutate`] and a seeded [`Rng`].

use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use udf_bytecode::ProgramType;
use udf_bytecode::rng::Rng;
use udf_runtime::Vm;
use udf_runtime::native::RegionEntry;

use crate::loader::{Policy, Table};
use crate::package::{NativeMode, NativeSection, Package, Target};
use crate::program::InvokeError;

/// The well-known key the oracles sign and load with.
pub const FUZZ_KEY: &[u8] = b"udfkit fuzzing key: not a secret";

/// Longest context the oracles run a program on (larger templates are loaded, not run).
const MAX_RUN_CTX: u64 = 1 << 16;

/// The reader never panics; an accepted package serialises back to exactly `data`.
pub fn package_reader(data: &[u8]) {
    match Package::parse(data) {
        Ok(pkg) => {
            let back = pkg.to_bytes();
            if back != data {
                panic!(
                    "parse then to_bytes changed the package: {} bytes in, {} out, first difference at {:?}",
                    data.len(),
                    back.len(),
                    data.iter().zip(&back).position(|(a, b)| a != b)
                );
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Err(e) = crate::package::authenticate(data, FUZZ_KEY) {
        let _ = e.to_string();
    }
}

/// Loads `data` with [`FUZZ_KEY`] (unauthenticated bytecode allowed), then, if it parses and
/// carries no x86-64 code, the same package re-signed with [`FUZZ_KEY`]; every program
/// installed runs on zeros, 0xff bytes and bytes of `data`, and must not fault.
pub fn load_then_run(data: &[u8]) {
    let policy = Policy { key: Some(FUZZ_KEY.to_vec()), allow_unauthenticated_bytecode: true };
    let mut table = Table::new();
    match table.load(data, &policy) {
        Ok(_) => {}
        Err(e) => {
            let _ = e.to_string();
        }
    }
    // Re-signing lets mutations past the tag. Never for code this host could map: a signed
    // package is trusted to hold the toolchain's code, which mutated bytes are not.
    if let Ok(mut pkg) = Package::parse(data)
        && pkg.target != Some(Target::X86_64)
        && pkg.sign(FUZZ_KEY).is_ok()
    {
        let before = table.len();
        let resigned = table.load(&pkg.to_bytes(), &policy);
        if resigned.is_err() && table.len() != before {
            panic!("a refused package was installed");
        }
    }
    let mut vm = Vm::new();
    for (id, prog) in table.iter() {
        let lens = match prog.expected_len() {
            Some(n) if n > MAX_RUN_CTX => continue,
            Some(n) => vec![n],
            None => vec![0, 14, 64, (data.len() as u64).min(MAX_RUN_CTX)],
        };
        for len in lens {
            // `len` is at most `MAX_RUN_CTX`.
            let len = len as usize;
            let filler: Vec<u8> = if data.is_empty() {
                vec![0x5a; len]
            } else {
                data.iter().copied().cycle().take(len).collect()
            };
            let admitted = prog.facts().admits(len);
            for ctx in [vec![0u8; len], vec![0xffu8; len], filler] {
                match prog.invoke(&mut vm, &ctx, ctx.len() as u64) {
                    Ok(_) if admitted => {}
                    Err(InvokeError::ContextLength { .. }) if !admitted => {}
                    Ok(_) => panic!(
                        "{id} (`{}`, {}) ran on {len} bytes, a length its proof did not assume",
                        prog.name(),
                        prog.ty()
                    ),
                    Err(InvokeError::Fault(f)) => panic!(
                        "{id} (`{}`, {}) accepted by the loader faulted on {len} bytes: {f}",
                        prog.name(),
                        prog.ty()
                    ),
                    Err(e) => panic!("{id}: {e}"),
                }
            }
        }
    }
}

/// Hand-assembled programs: (name, type, context size, assembler text).
const SEEDS: &[(&str, ProgramType, Option<u32>, &str)] = &[
    (
        "owns_direct",
        ProgramType::Owns,
        Some(128),
        "mov %r7, %r1\nmov %r6, 0\nloop:\nmov %r2, %r6\nlsh %r2, 2\nmov %r3, %r7\n\
         add %r3, %r2\nldxw %r1, [%r3+40]\njeq %r1, 0, next\nmov %r2, 1\nmov %r3, 0\n\
         call 1\nnext:\nadd %r6, 1\njlt %r6, 12, loop\nmov %r0, 0\nexit\n",
    ),
    (
        "owns_const",
        ProgramType::Owns,
        Some(16),
        "mov %r1, 100\nmov %r2, 3\nmov %r3, 1\ncall 1\nmov %r0, 0\nexit\n",
    ),
    (
        "filter_ipv4",
        ProgramType::Filter,
        None,
        "jlt %r2, 14, drop\nldxh %r0, [%r1+12]\njne %r0, 8, drop\nmov %r0, %r2\nexit\n\
         drop:\nmov %r0, 0\nexit\n",
    ),
    (
        "size_field",
        ProgramType::Size,
        Some(16),
        "ldxw %r0, [%r1+4]\nstxdw [%r10-8], %r0\nldxdw %r0, [%r10-8]\nexit\n",
    ),
    (
        "acl_owner",
        ProgramType::Acl,
        Some(8),
        "ldxdw %r0, [%r1]\nldxw %r2, [%r1+16]\nmov %r3, 0\njne %r0, %r2, out\nmov %r3, 1\n\
         out:\nmov %r0, %r3\nexit\n",
    ),
];

/// A package for a hand-assembled program, verified with the crate's verifier.
fn seed(name: &str, ty: ProgramType, ctx_size: Option<u32>, text: &str) -> Option<Package> {
    let prog = udf_bytecode::assemble(text).ok()?;
    let mut conf = udf_verifier::Config::new(ty);
    conf.ctx_size = ctx_size;
    let facts = udf_verifier::verify(&prog, &conf).ok()?;
    Some(Package::new(name, &facts, None, None))
}

/// Valid packages to start mutating from: each seed program signed with [`FUZZ_KEY`], one
/// unsigned, one with an empty source map, and one carrying (never run) aarch64 code.
pub fn seed_packages() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for &(name, ty, ctx_size, text) in SEEDS {
        let Some(mut pkg) = seed(name, ty, ctx_size, text) else {
            panic!("seed `{name}` does not assemble and verify");
        };
        if out.is_empty() {
            out.push(pkg.to_bytes());
            let mut mapped = pkg.clone();
            mapped.source_map = Some(Vec::new());
            out.push(mapped.to_bytes());
            let mut native = pkg.clone();
            native.target = Some(Target::Aarch64);
            native.native = Some(NativeSection {
                mode: NativeMode::Trusted,
                regions: vec![RegionEntry { start: 0, offset: 0 }],
                // `ret`: never mapped on another machine than its target's.
                code: vec![0xc0, 0x03, 0x5f, 0xd6],
            });
            if native.sign(FUZZ_KEY).is_ok() {
                out.push(native.to_bytes());
            }
        }
        if pkg.sign(FUZZ_KEY).is_ok() {
            out.push(pkg.to_bytes());
        }
    }
    out
}

/// One to four random mutations of `pkg`: byte flips and overwrites, interesting 32-bit
/// values (0, 1, all ones, lengths) over a field, truncation, insertion and deletion.
pub fn mutate(pkg: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = pkg.to_vec();
    for _ in 0..1 + rng.index(4) {
        let at = rng.index(out.len().max(1));
        match rng.index(8) {
            0 | 1 => {
                if let Some(b) = out.get_mut(at) {
                    *b ^= 1 << rng.index(8);
                }
            }
            2 => {
                if let Some(b) = out.get_mut(at) {
                    *b = rng.next_u64() as u8;
                }
            }
            3 => {
                let len = out.len() as u32;
                let v = [0, 1, u32::MAX, len, len.wrapping_sub(32), 0x8000_0000][rng.index(6)]
                    .to_le_bytes();
                for (i, b) in v.iter().enumerate() {
                    if let Some(slot) = out.get_mut(at + i) {
                        *slot = *b;
                    }
                }
            }
            4 => out.truncate(at),
            5 => {
                let n = 1 + rng.index(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                let at = at.min(out.len());
                out.splice(at..at, bytes);
            }
            6 => {
                let end = (at + 1 + rng.index(16)).min(out.len());
                if at < end {
                    out.drain(at..end);
                }
            }
            _ => {
                if let Some(b) = out.get_mut(at) {
                    *b = [0, 0xff, 0x80, 0x7f][rng.index(4)];
                }
            }
        }
    }
    out
}
