//! `udf demo`: the bundled corpus (`corpus/asm`, `corpus/inputs`) through every stage this
//! build has: assemble, decode, the pre-run checks, the verifier (for verified types, with the
//! object size of each input), and the reference interpreter, with what happened at each step.
//! Inputs are compiled into the binary, so it runs from anywhere.

use std::fmt::Write;

use udf_bytecode::{CheckConfig, Program, ProgramType, assemble, disassemble};
use udf_runtime::{Vm, prepare};

use crate::exec::{TypedRun, run_typed, run_typed_native};

struct Item {
    name: &'static str,
    ty: ProgramType,
    src: &'static str,
    inputs: &'static [(&'static str, &'static [u8])],
}

const ITEMS: &[Item] = &[
    Item {
        name: "filter_http.s",
        ty: ProgramType::Filter,
        src: include_str!("../../corpus/asm/filter_http.s"),
        inputs: &[
            (
                "http_syn.bin",
                include_bytes!("../../corpus/inputs/http_syn.bin"),
            ),
            (
                "ssh_syn.bin",
                include_bytes!("../../corpus/inputs/ssh_syn.bin"),
            ),
            (
                "truncated_http.bin",
                include_bytes!("../../corpus/inputs/truncated_http.bin"),
            ),
        ],
    },
    Item {
        name: "owns_direct.s",
        ty: ProgramType::Owns,
        src: include_str!("../../corpus/asm/owns_direct.s"),
        inputs: &[(
            "ext2_inode.bin",
            include_bytes!("../../corpus/inputs/ext2_inode.bin"),
        )],
    },
    Item {
        name: "sum_bytes.s",
        ty: ProgramType::Raw,
        src: include_str!("../../corpus/asm/sum_bytes.s"),
        inputs: &[("hello.txt", include_bytes!("../../corpus/inputs/hello.txt"))],
    },
];

/// Runs the demo and returns its report, or the first unexpected failure.
pub fn run() -> Result<String, String> {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "udfkit demo: the bundled corpus through assemble -> decode -> check -> verify -> interpret -> JIT\n"
    );
    for item in ITEMS {
        let prog = assemble(item.src).map_err(|e| format!("{}:{e}", item.name))?;
        let bytes = prog.encode();
        let decoded = Program::decode(&bytes).map_err(|e| format!("{}: {e}", item.name))?;
        if decoded != prog
            || assemble(&disassemble(&decoded)).map(|p| p.encode()) != Ok(bytes.clone())
        {
            return Err(format!(
                "{}: encode/decode/disassemble did not round-trip",
                item.name
            ));
        }
        let _ = writeln!(
            w,
            "{} ({}): {} instructions, {} bytes; decode and disassemble round-trip",
            item.name,
            item.ty,
            prog.len(),
            bytes.len()
        );
        let compiled = prepare(&decoded, &CheckConfig::for_type(item.ty))
            .map_err(|e| format!("{}: {e}", item.name))?;
        let _ = writeln!(
            w,
            "  pre-run checks: every register written before it is read, r10 read-only, no fall-through"
        );
        let mut vm = Vm::new();
        for (name, input) in item.inputs {
            let mut facts = None;
            if item.ty.info().verified {
                let size = crate::verify::object_size(item.ty, input.len());
                let conf = crate::verify::config(item.ty, size, udf_verifier::DEFAULT_BUDGET);
                let facts_of = udf_verifier::verify(&decoded, &conf)
                    .map_err(|e| format!("{} for {name}: {e}", item.name))?;
                let _ = writeln!(
                    w,
                    "  verified for {name}: at most {} instructions{}",
                    facts_of.max_insns,
                    if item.ty == ProgramType::Owns {
                        format!(", at most {} extents", facts_of.max_extents)
                    } else {
                        String::new()
                    }
                );
                facts = Some(facts_of);
            }
            let TypedRun {
                outcome: res,
                extents,
            } = run_typed(&mut vm, &compiled, item.ty, input, 1_000_000)
                .map_err(|f| format!("{} on {name}: {f}", item.name))?;
            let meaning = match (item.ty, res.r0) {
                (ProgramType::Filter, 0) => " (drop)",
                (ProgramType::Filter, _) => " (accept)",
                (ProgramType::Owns, 0) => " (well-formed)",
                _ => "",
            };
            let _ = writeln!(
                w,
                "  {name} ({} bytes): r0 = {}{meaning}, {} instructions executed",
                input.len(),
                res.r0,
                res.executed
            );
            for e in &extents {
                let _ = writeln!(w, "    extent {} {} {}", e.start, e.count, e.kind);
            }
            let mode = match &facts {
                Some(f) => udf_jit::Mode::Trusted(f),
                None => udf_jit::Mode::Checked,
            };
            match crate::exec::jit(&decoded, item.ty, mode) {
                Err(udf_jit::JitError::NotHost(_)) => {
                    let _ = writeln!(w, "  JIT: native code runs on x86-64 hosts only; skipped");
                }
                Err(e) => return Err(format!("{}: JIT: {e}", item.name)),
                Ok(exe) => {
                    let native = run_typed_native(&mut vm, &exe, item.ty, input, 1_000_000)
                        .map_err(|f| format!("{} on {name} (JIT): {f}", item.name))?;
                    if native.outcome.r0 != res.r0 || native.extents != extents {
                        return Err(format!(
                            "{} on {name}: the JIT gave r0 = {} and {} extent(s), the interpreter r0 = {} and {}",
                            item.name,
                            native.outcome.r0,
                            native.extents.len(),
                            res.r0,
                            extents.len()
                        ));
                    }
                    let code = exe.code();
                    let _ = writeln!(
                        w,
                        "  JIT ({}, {}, {} bytes of native code): r0 = {}, {} extent(s): same as the interpreter",
                        code.target(),
                        if code.is_checked() {
                            "checked"
                        } else {
                            "trusted"
                        },
                        code.bytes().len(),
                        native.outcome.r0,
                        native.extents.len()
                    );
                }
            }
        }
        let _ = writeln!(w);
    }
    let bad = "mov %r1, 1\nor %r0, %r1\nexit";
    let refusal = prepare(
        &assemble(bad).map_err(|e| e.to_string())?,
        &CheckConfig::for_type(ProgramType::Raw),
    )
    .err()
    .ok_or("the uninitialised read was not refused")?;
    let _ = writeln!(
        w,
        "refused before running: `or %r0, %r1` with r0 never written:\n  {refusal}"
    );
    // The variable-header pattern one byte short: the verifier names the read and the rule.
    let short = "mov %r0, 0\njlt %r2, 1, +9\nldxb %r3, [%r1+0]\nand %r3, 15\nlsh %r3, 2\n\
                 mov %r4, %r3\nadd %r4, 3\njgt %r4, %r2, +3\nmov %r5, %r1\nadd %r5, %r3\n\
                 ldxw %r0, [%r5+0]\nexit";
    let short = assemble(short).map_err(|e| e.to_string())?;
    let e = udf_verifier::verify(&short, &udf_verifier::Config::new(ProgramType::Filter))
        .err()
        .ok_or("the short length check was not refused")?;
    let _ = writeln!(
        w,
        "refused by the verifier: a 4-byte read after a length check covering 3 bytes:\n  {e}"
    );
    Ok(out)
}
