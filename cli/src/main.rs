//! `udf`: the command line over udfkit (contract: `shared/design/cli.md`).
//!
//! Exit status: 0 success; 1 the input was understood and refused; 2 bad usage or unreadable
//! input. Errors are miette diagnostics on stderr; `--json` prints results on stdout instead.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use miette::miette;
use serde_json::json;
use udf_bytecode::{CheckConfig, ProgramType, disassemble};
use udf_cli::datafile::Engine;
use udf_cli::exec::{TypedRun, run_typed};
use udf_cli::input::{Failure, load, load_program, read};
use udf_cli::verify;
use udf_cli::{EXIT_OK, EXIT_REFUSED, testrun};
use udf_runtime::Vm;

#[derive(Parser)]
#[command(
    name = "udf",
    version,
    about = "udfkit: untrusted deterministic functions, compiled, verified and run"
)]
struct Cli {
    /// Print machine-readable results on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum EngineArg {
    /// The reference interpreter.
    Interp,
    /// The Cranelift JIT.
    Jit,
}

#[derive(Subcommand)]
enum Cmd {
    /// Take the bundled corpus through every stage and show what happened.
    Demo,
    /// Assemble text (bpf_conformance dialect) into raw 8-byte little-endian instructions.
    Asm {
        /// Input text.
        input: PathBuf,
        /// Output file (default: the input with extension `.bin`).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// Print the text form of raw bytecode; `udf asm` of it gives the same bytes.
    Disasm {
        /// Input bytecode.
        input: PathBuf,
    },
    /// Run a program on the bytes of a file.
    Run {
        /// Program: `.s` text or raw bytecode.
        input: PathBuf,
        /// Entry point (for `.udf` sources).
        #[arg(long)]
        entry: Option<String>,
        /// Program type: filter, owns, acl, size or raw.
        #[arg(long = "type", default_value = "raw")]
        ty: String,
        /// The context bytes.
        #[arg(long = "input", value_name = "FILE")]
        data: PathBuf,
        /// Engine.
        #[arg(long, value_enum, default_value = "interp")]
        engine: EngineArg,
        /// Instruction budget.
        #[arg(long, default_value_t = 1_000_000_000)]
        budget: u64,
    },
    /// Verify a program: on acceptance print the facts, on rejection the located diagnostic.
    Verify {
        /// Program: `.s` text or raw bytecode.
        input: PathBuf,
        /// Entry point (for `.udf` sources).
        #[arg(long)]
        entry: Option<String>,
        /// Program type: filter, owns, acl or size.
        #[arg(long = "type")]
        ty: Option<String>,
        /// Size in bytes of the metadata object (owns, acl, size); unknown when absent.
        #[arg(long)]
        ctx_size: Option<u32>,
        /// Most instructions any run may execute.
        #[arg(long, default_value_t = udf_verifier::DEFAULT_BUDGET)]
        budget: u64,
    },
    /// Compile to native code and print its disassembly (Cranelift's) and size.
    Jit {
        /// Program: `.s` text or raw bytecode.
        input: PathBuf,
        /// Entry point (for `.udf` sources).
        #[arg(long)]
        entry: Option<String>,
        /// Program type: filter, owns, acl, size (verified, trusted code) or raw (checked code).
        #[arg(long = "type", default_value = "raw")]
        ty: String,
        /// Size in bytes of the metadata object (owns, acl, size); unknown when absent.
        #[arg(long)]
        ctx_size: Option<u32>,
        /// Instruction set: x86_64, aarch64 or riscv64.
        #[arg(long, default_value = "x86_64")]
        target: String,
    },
    /// Run data-driven test files (bpf_conformance `.data`); folders recursively.
    Test {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Engine.
        #[arg(long, value_enum, default_value = "interp")]
        engine: EngineArg,
        /// Every case must be refused or fail (for suites like bpf_conformance's `negative/`).
        #[arg(long)]
        expect_failure: bool,
        /// Also print each passed and skipped case with what happened.
        #[arg(short, long)]
        verbose: bool,
    },
}

fn engine(e: EngineArg) -> Result<Engine, Failure> {
    match e {
        EngineArg::Interp => Ok(Engine::Interp),
        EngineArg::Jit if udf_jit::Target::host().is_none() => Err(Failure::usage(miette!(
            code = "udf::unsupported",
            "the JIT runs native code on x86-64 hosts only; use --engine interp here"
        ))),
        EngineArg::Jit => Ok(Engine::Jit),
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::write(path, bytes).map_err(|e| {
        Failure::usage(miette!(
            code = "udf::io",
            "cannot write {}: {e}",
            path.display()
        ))
    })
}

fn cmd_asm(json: bool, input: &Path, output: Option<PathBuf>) -> Result<(), Failure> {
    let prog = load_program(input)?;
    let out = output.unwrap_or_else(|| input.with_extension("bin"));
    let bytes = prog.encode();
    write_file(&out, &bytes)?;
    if json {
        println!(
            "{}",
            json!({"output": out.display().to_string(), "instructions": prog.len(), "bytes": bytes.len()})
        );
    } else {
        eprintln!(
            "{}: {} instructions, {} bytes",
            out.display(),
            prog.len(),
            bytes.len()
        );
    }
    Ok(())
}

fn cmd_disasm(json: bool, input: &Path) -> Result<(), Failure> {
    let prog = load_program(input)?;
    if json {
        let insns: Vec<_> = prog
            .iter()
            .map(|(pc, i)| json!({"pc": pc, "text": i.to_string()}))
            .collect();
        println!("{}", json!({"instructions": insns}));
    } else {
        print!("{}", disassemble(&prog));
    }
    Ok(())
}

fn cmd_run(
    json: bool,
    input: &Path,
    ty: &str,
    data: &Path,
    eng: EngineArg,
    budget: u64,
) -> Result<(), Failure> {
    let ty = parse_type(ty)?;
    let engine = engine(eng)?;
    let loaded = load(input)?;
    let prog = &loaded.prog;
    let bytes = read(data)?;
    let mut facts = None;
    if ty.info().verified {
        // Trusted mode: only what the verifier accepts for this input's size runs.
        let size = verify::object_size(ty, bytes.len());
        let conf = verify::config(ty, size, udf_verifier::DEFAULT_BUDGET);
        facts = Some(
            udf_verifier::verify(prog, &conf)
                .map_err(|e| Failure::refused(verify::report(input, &loaded, &e)))?,
        );
    }
    let checks = |e: &dyn std::fmt::Display| {
        Failure::refused(miette!(code = "udf::check", "{}: {e}", input.display()))
    };
    let fault = |f: udf_runtime::Fault| {
        Failure::refused(miette!(code = "udf::fault", "{}: {f}", input.display()))
    };
    let TypedRun {
        outcome: out,
        extents,
    } = match engine {
        Engine::Interp => {
            let compiled =
                udf_runtime::prepare(prog, &CheckConfig::for_type(ty)).map_err(|e| checks(&e))?;
            run_typed(&mut Vm::new(), &compiled, ty, &bytes, budget).map_err(fault)?
        }
        Engine::Jit => {
            let mode = match &facts {
                Some(f) => udf_jit::Mode::Trusted(f),
                None => udf_jit::Mode::Checked,
            };
            let exe = udf_cli::exec::jit(prog, ty, mode).map_err(|e| checks(&e))?;
            udf_cli::exec::run_typed_native(&mut Vm::new(), &exe, ty, &bytes, budget)
                .map_err(fault)?
        }
    };
    if json {
        let extents: Vec<_> = extents
            .iter()
            .map(|e| json!({"start": e.start, "count": e.count, "kind": e.kind}))
            .collect();
        println!(
            "{}",
            json!({"r0": out.r0, "executed": out.executed, "extents": extents})
        );
    } else {
        println!("r0 = {}", out.r0);
        for e in &extents {
            println!("extent {} {} {}", e.start, e.count, e.kind);
        }
    }
    Ok(())
}

fn cmd_jit(
    json: bool,
    input: &Path,
    ty: &str,
    ctx_size: Option<u32>,
    target: &str,
) -> Result<(), Failure> {
    let ty = parse_type(ty)?;
    let target = udf_jit::Target::parse(target).ok_or_else(|| {
        Failure::usage(miette!(
            code = "udf::usage",
            "--target {target}: expected x86_64, aarch64 or riscv64"
        ))
    })?;
    let loaded = load(input)?;
    let facts = if ty.info().verified {
        let conf = verify::config(ty, ctx_size, udf_verifier::DEFAULT_BUDGET);
        Some(
            udf_verifier::verify(&loaded.prog, &conf)
                .map_err(|e| Failure::refused(verify::report(input, &loaded, &e)))?,
        )
    } else {
        None
    };
    let mode = match &facts {
        Some(f) => udf_jit::Mode::Trusted(f),
        None => udf_jit::Mode::Checked,
    };
    let mut jit =
        udf_jit::Jit::new(target).map_err(|e| Failure::usage(miette!(code = "udf::jit", "{e}")))?;
    jit.options.disasm = true;
    let code = jit
        .compile(&loaded.prog, ty, mode)
        .map_err(|e| Failure::refused(miette!(code = "udf::jit", "{}: {e}", input.display())))?;
    let mode = if code.is_checked() {
        "checked"
    } else {
        "trusted"
    };
    if json {
        let regions: Vec<_> = code
            .regions()
            .iter()
            .zip(code.disasm())
            .map(|(r, text)| json!({"start": r.start, "offset": r.offset, "disasm": text}))
            .collect();
        println!(
            "{}",
            json!({"target": target.name(), "mode": mode, "bytes": code.bytes().len(), "regions": regions})
        );
    } else {
        for (r, text) in code.regions().iter().zip(code.disasm()) {
            println!("; region from slot {} at byte offset {}", r.start, r.offset);
            print!("{text}");
        }
        println!(
            "; {} code, {mode}: {} bytes in {} region(s)",
            target.name(),
            code.bytes().len(),
            code.regions().len()
        );
    }
    Ok(())
}

/// `--entry` names an entry point of a `.udf` source, which needs the compiler.
fn no_entry(entry: Option<&str>) -> Result<(), Failure> {
    match entry {
        Some(_) => Err(Failure::usage(miette!(
            code = "udf::usage",
            "--entry applies to .udf sources only"
        ))),
        None => Ok(()),
    }
}

fn parse_type(ty: &str) -> Result<ProgramType, Failure> {
    ty.parse()
        .map_err(|e| Failure::usage(miette!(code = "udf::usage", "--type {ty}: {e}")))
}

fn cmd_verify(
    json: bool,
    input: &Path,
    ty: Option<&str>,
    ctx_size: Option<u32>,
    budget: u64,
) -> Result<bool, Failure> {
    let Some(ty) = ty else {
        return Err(Failure::usage(miette!(
            code = "udf::usage",
            "--type is required for .s and .bin input (filter, owns, acl or size)"
        )));
    };
    let ty = parse_type(ty)?;
    if !ty.info().verified {
        return Err(Failure::usage(miette!(
            code = "udf::usage",
            "`{ty}` programs are not verified (they run on the checking engines only)"
        )));
    }
    let loaded = load(input)?;
    match udf_verifier::verify(&loaded.prog, &verify::config(ty, ctx_size, budget)) {
        Ok(facts) => {
            if json {
                println!("{}", verify::facts_json(ty, &loaded.prog, &facts));
            } else {
                print!("{}", verify::facts_text(ty, &loaded.prog, &facts));
            }
            Ok(true)
        }
        Err(e) => {
            if json {
                println!("{}", verify::rejection_json(&loaded, &e));
                Ok(false)
            } else {
                Err(Failure::refused(verify::report(input, &loaded, &e)))
            }
        }
    }
}

fn cmd_test(
    json: bool,
    paths: &[PathBuf],
    eng: EngineArg,
    expect_failure: bool,
    verbose: bool,
) -> Result<bool, Failure> {
    let engine = engine(eng)?;
    let io = |e: std::io::Error| Failure::usage(miette!(code = "udf::io", "{e}"));
    let files = testrun::collect(paths).map_err(io)?;
    let sum = testrun::run(&files, engine, expect_failure).map_err(io)?;
    if json {
        let fails: Vec<_> = sum
            .failed
            .iter()
            .map(|(f, w)| json!({"file": f.display().to_string(), "why": w}))
            .collect();
        let skips: Vec<_> = sum
            .skipped
            .iter()
            .map(|(f, w)| json!({"file": f.display().to_string(), "why": w}))
            .collect();
        println!(
            "{}",
            json!({"passed": sum.passed, "failed": sum.failed.len(), "skipped": sum.skipped.len(), "failures": fails, "skips": skips})
        );
    } else {
        if verbose {
            for (f, why) in &sum.passed_cases {
                println!("pass {}: {why}", f.display());
            }
            for (f, why) in &sum.skipped {
                println!("skip {}: {why}", f.display());
            }
        }
        for (f, why) in &sum.failed {
            println!("FAIL {}: {why}", f.display());
        }
        println!("{}", sum.line());
    }
    Ok(sum.failed.is_empty())
}

fn main() -> ExitCode {
    // Diagnostics keep each message on one line, so scripts can grep them.
    let _ = miette::set_hook(Box::new(|_| {
        Box::new(miette::MietteHandlerOpts::new().wrap_lines(false).build())
    }));
    let cli = Cli::parse();
    let json = cli.json;
    let result = match cli.cmd {
        Cmd::Demo => match udf_cli::demo::run() {
            Ok(report) => {
                print!("{report}");
                Ok(true)
            }
            Err(e) => Err(Failure::refused(miette!(code = "udf::demo", "{e}"))),
        },
        Cmd::Asm { input, output } => cmd_asm(json, &input, output).map(|_| true),
        Cmd::Disasm { input } => cmd_disasm(json, &input).map(|_| true),
        Cmd::Run {
            input,
            entry,
            ty,
            data,
            engine,
            budget,
        } => no_entry(entry.as_deref())
            .and_then(|()| cmd_run(json, &input, &ty, &data, engine, budget).map(|_| true)),
        Cmd::Verify {
            input,
            entry,
            ty,
            ctx_size,
            budget,
        } => no_entry(entry.as_deref())
            .and_then(|()| cmd_verify(json, &input, ty.as_deref(), ctx_size, budget)),
        Cmd::Jit {
            input,
            entry,
            ty,
            ctx_size,
            target,
        } => no_entry(entry.as_deref())
            .and_then(|()| cmd_jit(json, &input, &ty, ctx_size, &target).map(|_| true)),
        Cmd::Test {
            paths,
            engine,
            expect_failure,
            verbose,
        } => cmd_test(json, &paths, engine, expect_failure, verbose),
    };
    match result {
        Ok(true) => ExitCode::from(EXIT_OK),
        Ok(false) => ExitCode::from(EXIT_REFUSED),
        Err(f) => {
            if json {
                println!(
                    "{}",
                    json!({"error": f.report.to_string(), "status": f.status})
                );
            } else {
                eprintln!("{:?}", f.report);
            }
            ExitCode::from(f.status)
        }
    }
}
