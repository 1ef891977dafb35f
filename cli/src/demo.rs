//! `udf demo`: the bundled corpus (`corpus/asm`, `corpus/fs`, `corpus/filters`, `corpus/inputs`)
//! through every stage this build has: assemble and decode (`.s`) or compile (`.udf`), the pre-run
//! checks, the verifier (for verified types, with the object size of each input), the reference
//! interpreter and the JIT, with what happened at each step. Programs and inputs are compiled
//! into the binary, so it runs from anywhere.

use std::fmt::Write;

use udf_bytecode::{CheckConfig, Program, ProgramType, assemble, disassemble};
use udf_runtime::{Compiled, Vm, prepare};

use crate::exec::{TypedRun, run_typed, run_typed_native};

struct Item {
    name: &'static str,
    ty: ProgramType,
    src: &'static str,
    inputs: &'static [(&'static str, &'static [u8])],
}

const PACKETS: &[(&str, &[u8])] = &[
    ("http_syn.bin", include_bytes!("../../corpus/inputs/http_syn.bin")),
    ("ssh_syn.bin", include_bytes!("../../corpus/inputs/ssh_syn.bin")),
    ("truncated_http.bin", include_bytes!("../../corpus/inputs/truncated_http.bin")),
];

const ITEMS: &[Item] = &[
    Item {
        name: "filter_http.s",
        ty: ProgramType::Filter,
        src: include_str!("../../corpus/asm/filter_http.s"),
        inputs: PACKETS,
    },
    Item {
        name: "owns_direct.s",
        ty: ProgramType::Owns,
        src: include_str!("../../corpus/asm/owns_direct.s"),
        inputs: &[("ext2_inode.bin", include_bytes!("../../corpus/inputs/ext2_inode.bin"))],
    },
    Item {
        name: "sum_bytes.s",
        ty: ProgramType::Raw,
        src: include_str!("../../corpus/asm/sum_bytes.s"),
        inputs: &[("hello.txt", include_bytes!("../../corpus/inputs/hello.txt"))],
    },
];

/// A `.udf` source of the corpus and an entry point of it to run.
struct Source {
    name: &'static str,
    src: &'static str,
    entry: &'static str,
    inputs: &'static [(&'static str, &'static [u8])],
}

const SOURCES: &[Source] = &[
    Source {
        name: "corpus/fs/ext2.udf",
        src: include_str!("../../corpus/fs/ext2.udf"),
        entry: "ext2_inode",
        inputs: &[("ext2_inode.bin", include_bytes!("../../corpus/inputs/ext2_inode.bin"))],
    },
    Source {
        name: "corpus/filters/web.udf",
        src: include_str!("../../corpus/filters/web.udf"),
        entry: "web",
        inputs: PACKETS,
    },
    Source {
        name: "corpus/filters/ssh_web.udf",
        src: include_str!("../../corpus/filters/ssh_web.udf"),
        entry: "ssh_web",
        inputs: PACKETS,
    },
];

/// Runs the demo and returns its report, or the first unexpected failure.
pub fn run() -> Result<String, String> {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "udfkit demo: the bundled corpus through assemble -> decode (or compile) -> check -> verify -> interpret -> JIT\n"
    );
    for item in ITEMS {
        let prog = assemble(item.src).map_err(|e| format!("{}:{e}", item.name))?;
        let bytes = prog.encode();
        let decoded = Program::decode(&bytes).map_err(|e| format!("{}: {e}", item.name))?;
        if decoded != prog
            || assemble(&disassemble(&decoded)).map(|p| p.encode()) != Ok(bytes.clone())
        {
            return Err(format!("{}: encode/decode/disassemble did not round-trip", item.name));
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
        run_inputs(w, item.name, item.ty, &decoded, &compiled, item.inputs)?;
        let _ = writeln!(w);
    }
    for source in SOURCES {
        compile_and_run(w, source)?;
        let _ = writeln!(w);
    }
    let bad = "mov %r1, 1\nor %r0, %r1\nexit";
    let refusal = prepare(
        &assemble(bad).map_err(|e| e.to_string())?,
        &CheckConfig::for_type(ProgramType::Raw),
    )
    .err()
    .ok_or("the uninitialised read was not refused")?;
    let _ =
        writeln!(w, "refused before running: `or %r0, %r1` with r0 never written:\n  {refusal}");
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

/// Runs `prog` on each input as its type says: verified for that input's size (verified types),
/// on the interpreter, then as JIT code, which must agree.
fn run_inputs(
    w: &mut String,
    name_of: &str,
    ty: ProgramType,
    prog: &Program,
    compiled: &Compiled,
    inputs: &[(&str, &[u8])],
) -> Result<(), String> {
    let mut vm = Vm::new();
    for (name, input) in inputs {
        let mut facts = None;
        if ty.info().verified {
            let size = ty.template_object_size(input.len());
            let conf = crate::verify::config(ty, size, udf_verifier::DEFAULT_BUDGET);
            let facts_of = udf_verifier::verify(prog, &conf)
                .map_err(|e| format!("{} for {name}: {e}", name_of))?;
            let _ = writeln!(
                w,
                "  verified for {name}: at most {} instructions{}",
                facts_of.max_insns,
                if ty == ProgramType::Owns {
                    format!(", at most {} extents", facts_of.max_extents)
                } else {
                    String::new()
                }
            );
            facts = Some(facts_of);
        }
        let TypedRun { outcome: res, extents } = run_typed(&mut vm, compiled, ty, input, 1_000_000)
            .map_err(|f| format!("{} on {name}: {f}", name_of))?;
        let meaning = match (ty, res.r0) {
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
        match crate::exec::jit(prog, ty, mode) {
            Err(udf_jit::JitError::NotHost(_)) => {
                let _ = writeln!(w, "  JIT: native code runs on x86-64 hosts only; skipped");
            }
            Err(e) => return Err(format!("{}: JIT: {e}", name_of)),
            Ok(exe) => {
                let native = run_typed_native(&mut vm, &exe, ty, input, 1_000_000)
                    .map_err(|f| format!("{} on {name} (JIT): {f}", name_of))?;
                if native.outcome.r0 != res.r0 || native.extents != extents {
                    return Err(format!(
                        "{} on {name}: the JIT gave r0 = {} and {} extent(s), the interpreter r0 = {} and {}",
                        name_of,
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
                    if code.is_checked() { "checked" } else { "trusted" },
                    code.bytes().len(),
                    native.outcome.r0,
                    native.extents.len()
                );
            }
        }
    }
    Ok(())
}

/// Compiles a corpus source, shows the entry point's program, and runs it on its inputs.
fn compile_and_run(w: &mut String, source: &Source) -> Result<(), String> {
    let module = udf_compiler::compile(source.name, source.src).map_err(|d| d.to_string())?;
    let entry = module
        .entry(source.entry)
        .ok_or_else(|| format!("{}: no entry point `{}`", source.name, source.entry))?;
    let bytes = entry.prog.encode();
    if udf_compiler::compile(source.name, source.src)
        .map_err(|d| d.to_string())?
        .entry(source.entry)
        .map(|e| e.prog.encode())
        != Some(bytes.clone())
    {
        return Err(format!("{}: compiling twice gave different bytes", source.name));
    }
    let object = entry
        .ctx_size
        .map_or("packets of any length".to_string(), |n| format!("a {n}-byte object"));
    let _ = writeln!(
        w,
        "{} -> {} ({}, over {object}): {} instructions, {} bytes, the same bytes when compiled again",
        source.name,
        entry.name,
        entry.ty,
        entry.prog.len(),
        bytes.len()
    );
    let _ = writeln!(
        w,
        "  verified in the compiler: at most {} instructions{}; source map of {} spans",
        entry.facts.max_insns,
        if entry.ty == ProgramType::Owns {
            format!(", at most {} extents", entry.facts.max_extents)
        } else {
            String::new()
        },
        entry.map.spans.len()
    );
    let compiled = prepare(&entry.prog, &CheckConfig::for_type(entry.ty))
        .map_err(|e| format!("{}: {e}", source.name))?;
    let _ = writeln!(
        w,
        "  pre-run checks: every register written before it is read, r10 read-only, no fall-through"
    );
    let name = format!("{} ({})", source.name, entry.name);
    run_inputs(w, &name, entry.ty, &entry.prog, &compiled, source.inputs)
}
