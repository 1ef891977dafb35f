//! `udf`: the command line over udfkit (contract: `shared/design/cli.md`).
//!
//! Exit status: 0 success; 1 the input was understood and refused; 2 bad usage or unreadable
//! input. Errors are miette diagnostics on stderr; `--json` prints results on stdout instead.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use miette::miette;
use serde_json::{Value as Json, json};
use udf_bytecode::{ProgramType, disassemble};
use udf_cli::exec::{Code, TypedRun, run_code, run_typed};
use udf_cli::input::{
    Failure, Loaded, compile_source, elf_failure, is_elf_file, is_source, load, load_program, read,
    select_entry,
};
use udf_cli::output::emit;
use udf_cli::verify;
use udf_cli::{EXIT_OK, EXIT_REFUSED, EXIT_USAGE};
use udf_filetests::ExecEngine as Engine;
use udf_filetests::testrun;
use udf_runtime::Vm;

#[derive(Parser)]
#[command(
    name = "udf",
    version,
    about = "udfkit: untrusted deterministic functions, compiled, verified and run",
    after_help = "Exit status: 0 success or accepted; 1 the input was understood and refused (a compile \
                  error, a verifier rejection, a failed check, an input of the wrong size); 2 bad \
                  usage or unreadable input. Errors go to stderr."
)]
struct Cli {
    /// Print exactly one JSON document on stdout, on success and on every failure (usage errors
    /// included): `{"status": N, "errors": [...]}` plus the command's fields; every error is
    /// `{"code", "message", "file", "line", "col"}`, null where there is no location.
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
    /// Assemble text (the bpf_conformance dialect) into raw 8-byte little-endian instructions.
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
    /// Compile and verify each entry point of a `.udf` source: write `NAME.bin` (bytecode) and
    /// `NAME.map` (its source map) for each.
    Compile {
        /// The `.udf` source.
        input: PathBuf,
        /// Output folder (default: the input's folder).
        #[arg(short = 'o', long = "output", value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Only this entry point.
        #[arg(long)]
        entry: Option<String>,
    },
    /// Run a program on the bytes of a file: print `r0 = VALUE`, then for `owns` one line
    /// `extent START COUNT KIND` per emitted extent, in order. Verified types run in trusted
    /// mode; `raw` runs unverified on the checking engines with an instruction budget. An input
    /// of another size than the type and layout take is refused (exit 1).
    Run {
        /// Program: `.udf` source, `.s` text, an ELF object (`clang -target bpf`) or raw bytecode.
        input: PathBuf,
        /// Entry point (for `.udf` sources with more than one), or an ELF object's function.
        #[arg(long)]
        entry: Option<String>,
        /// Program type: filter, owns, acl, size or raw (default: raw; a `.udf` entry point fixes it).
        #[arg(long = "type")]
        ty: Option<String>,
        /// The context bytes.
        #[arg(long = "input", value_name = "FILE")]
        data: PathBuf,
        /// Engine.
        #[arg(long, value_enum, default_value = "interp")]
        engine: EngineArg,
        /// Native code for a verified type keeps a bounds check on every context access
        /// (hardened trusted mode, `--engine jit`).
        #[arg(long)]
        harden: bool,
        /// Most instructions a run may execute (`raw` programs; verified types are bounded by
        /// their proof).
        #[arg(long, default_value_t = 1_000_000_000)]
        budget: u64,
    },
    /// Verify a program: on acceptance print the facts (instruction bound, stack use, extents
    /// bound), on rejection the located diagnostic (the `.udf`, `.s` or C source line).
    Verify {
        /// Program: `.udf` source, `.s` text, an ELF object (`clang -target bpf`) or raw bytecode.
        input: PathBuf,
        /// Entry point (for `.udf` sources with more than one), or an ELF object's function.
        #[arg(long)]
        entry: Option<String>,
        /// Program type: filter, owns, acl or size (a `.udf` entry point fixes it).
        #[arg(long = "type")]
        ty: Option<String>,
        /// Size in bytes of the metadata object (owns, acl, size); unknown when absent (a `.udf`
        /// entry point's layout gives it).
        #[arg(long)]
        ctx_size: Option<u32>,
        /// Most instructions any run may execute.
        #[arg(long, default_value_t = udf_verifier::DEFAULT_BUDGET)]
        budget: u64,
    },
    /// Compile to native code and print its disassembly and size.
    Jit {
        /// Program: `.udf` source, `.s` text, an ELF object (`clang -target bpf`) or raw bytecode.
        input: PathBuf,
        /// Entry point (for `.udf` sources with more than one), or an ELF object's function.
        #[arg(long)]
        entry: Option<String>,
        /// Program type: filter, owns, acl, size (verified, trusted code) or raw (checked code);
        /// default raw; a `.udf` entry point fixes it.
        #[arg(long = "type")]
        ty: Option<String>,
        /// Size in bytes of the metadata object (owns, acl, size); unknown when absent (a `.udf`
        /// entry point's layout gives it).
        #[arg(long)]
        ctx_size: Option<u32>,
        /// Instruction set: x86_64, aarch64 or riscv64.
        #[arg(long, default_value = "x86_64")]
        target: String,
    },
    /// Run a filter over every packet of a pcap or pcapng capture; print one line per packet,
    /// its return value (as libpcap's `filtertest -r`). A `.udf` filter reading the packet views
    /// (`p.ether`, `p.ipv4`, ...: Ethernet frames) is refused on a capture of another link type.
    #[command(group = clap::ArgGroup::new("filter").required(true).args(["input", "pcap", "cbpf"]))]
    Filter {
        /// The filter's `.udf` source, or an ELF object (`clang -target bpf`).
        input: Option<PathBuf>,
        /// Entry point (for sources with more than one filter), or an ELF object's function.
        #[arg(long, requires = "input")]
        entry: Option<String>,
        /// A pcap-filter(7) expression instead of a source, compiled for the capture's link
        /// type (Ethernet or raw IP) with libpcap's meaning; accepted packets return the
        /// capture's snap length, as libpcap's `filtertest -r` prints.
        #[arg(long, value_name = "EXPR")]
        pcap: Option<String>,
        /// The network mask `ip broadcast` uses in a --pcap expression (libpcap's netmask;
        /// unknown by default, which makes `ip broadcast` an error).
        #[arg(long, value_name = "A.B.C.D", requires = "pcap")]
        netmask: Option<std::net::Ipv4Addr>,
        /// A classic BPF program instead of a source: `tcpdump -dd` or `tcpdump -ddd` output,
        /// or raw little-endian `struct sock_filter` records (8 bytes each).
        #[arg(long, value_name = "FILE")]
        cbpf: Option<PathBuf>,
        /// The capture (pcap or pcapng); each packet's captured bytes are the context.
        #[arg(long = "read", value_name = "CAPTURE")]
        capture: PathBuf,
        /// Engine.
        #[arg(long, value_enum, default_value = "interp")]
        engine: EngineArg,
    },
    /// Run data-driven test files (bpf_conformance `.data`, PREVAIL `.yaml`, the project's
    /// `.udft`), folders recursively; print each failure, then `N passed, M failed, K skipped`. A
    /// path with no test file in it is an error (exit 2).
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
    /// XN on an ext2/ext4 image: free-map reconstruction, checked block allocation and free.
    Xn {
        #[command(subcommand)]
        cmd: XnCmd,
    },
    /// Build a download package: bytecode, verifier facts, native code for the target,
    /// authentication tag.
    Package {
        /// Program: `.udf` source, `.s` text, an ELF object (`clang -target bpf`) or raw bytecode.
        input: PathBuf,
        /// Entry point (for `.udf` sources with more than one), or an ELF object's function.
        #[arg(long)]
        entry: Option<String>,
        /// Program type: filter, owns, acl or size (a `.udf` entry point fixes it).
        #[arg(long = "type")]
        ty: Option<String>,
        /// Size in bytes of the metadata object (owns, acl, size; a `.udf` entry point's layout
        /// gives it).
        #[arg(long)]
        ctx_size: Option<u32>,
        /// Native code for: none, x86_64, aarch64 or riscv64.
        #[arg(long, default_value = "none")]
        target: String,
        /// Sign with the key in this file (its raw bytes).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// The package to write.
        #[arg(short = 'o', long = "output", value_name = "OUT.pkg")]
        output: PathBuf,
    },
    /// What a kernel does with a download package.
    Kernel {
        #[command(subcommand)]
        cmd: KernelCmd,
    },
}

#[derive(Subcommand)]
enum KernelCmd {
    /// Parse, authenticate, re-verify and install a package, then run it on the bytes of a file;
    /// prints as `udf run` (an input of another size than the package's is refused alike).
    Load {
        /// The package.
        package: PathBuf,
        /// The kernel's key (the file's raw bytes).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// The kernel's policy requires an authentication tag on every package (without
        /// `--key`, every package is then refused).
        #[arg(long)]
        require_tag: bool,
        /// The context bytes.
        #[arg(long = "input", value_name = "FILE")]
        data: PathBuf,
    },
}

#[derive(Subcommand)]
enum XnCmd {
    /// Rebuild the free map from the roots through the corpus owns-udfs and compare it with
    /// the image's bitmaps (exit 0 when they match, else 1 with the differences).
    Rebuild {
        /// The image.
        image: PathBuf,
        /// The file system: ext2 or ext4.
        #[arg(long = "fs")]
        fs: String,
    },
    /// Point block slot K of inode N at block B through XN's ownership check; the image is
    /// written only when the check passes.
    Alloc {
        /// The image.
        image: PathBuf,
        /// The file system (ext2: block-mapped inodes).
        #[arg(long = "fs")]
        fs: String,
        /// The inode.
        #[arg(long)]
        inode: u32,
        /// The block slot (0-11 direct, 12-14 indirect).
        #[arg(long)]
        slot: usize,
        /// The block.
        #[arg(long)]
        block: u64,
        /// The extent kind claimed (default: the slot's).
        #[arg(long)]
        kind: Option<u32>,
    },
    /// Free the block in slot K of inode N through XN's ownership check.
    Free {
        /// The image.
        image: PathBuf,
        /// The file system.
        #[arg(long = "fs")]
        fs: String,
        /// The inode.
        #[arg(long)]
        inode: u32,
        /// The block slot.
        #[arg(long)]
        slot: usize,
        /// The extent kind claimed (default: the slot's).
        #[arg(long)]
        kind: Option<u32>,
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
    let prog = if udf_cli::input::is_text(input) {
        // Every error of the text, not only the first.
        let src = String::from_utf8(read(input)?).map_err(|_| {
            Failure::usage(miette!(
                code = "udf::io",
                "{}: not UTF-8 text",
                input.display()
            ))
        })?;
        udf_bytecode::assemble_all(&src)
            .map_err(|e| Failure {
                status: EXIT_REFUSED,
                reports: udf_cli::input::asm_reports(input, &src, &e),
            })?
            .0
    } else {
        load_program(input)?
    };
    let out = output.unwrap_or_else(|| input.with_extension("bin"));
    let bytes = prog.encode();
    write_file(&out, &bytes)?;
    if json {
        emit(
            json!({"output": out.display().to_string(), "instructions": prog.len(), "bytes": bytes.len()}),
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
        emit(json!({"instructions": insns}));
    } else {
        print!("{}", disassemble(&prog));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn cmd_run(
    json: bool,
    input: &Path,
    entry: Option<&str>,
    ty: Option<&str>,
    data: &Path,
    eng: EngineArg,
    harden: bool,
    budget: u64,
) -> Result<(), Failure> {
    let engine = engine(eng)?;
    let given = ty.map(parse_type).transpose()?;
    let loaded = load(input, entry)?;
    let ty = program_type(input, &loaded, given, Some(ProgramType::Raw))?;
    let prog = &loaded.prog;
    let bytes = read(data)?;
    let mut facts = None;
    // An input of another size than the entry point's layout (or the C function's struct) is
    // the caller's mistake, said as such, not a verifier rejection pointing into the source.
    verify::check_input_size(ty, loaded.ctx_size(ty), loaded.name(), data, bytes.len())?;
    if ty.info().verified {
        // Trusted mode: only what the verifier accepts for this input's size runs (an input
        // too short for the layout is refused where the program would read past it), only on
        // the context lengths its proof assumed, and a `.udf` entry only on its own object size.
        let size = ty.template_object_size(bytes.len());
        let conf = verify::config(ty, size, udf_verifier::DEFAULT_BUDGET);
        let mut f = udf_verifier::verify(prog, &conf)
            .map_err(|e| Failure::refused(verify::report(input, &loaded, &e)))?;
        if let Some(n) = loaded.ctx_size(ty)
            && size != Some(n)
        {
            // The verdict at the entry's own size, so the refusal names the lengths it covers.
            let conf = verify::config(ty, Some(n), udf_verifier::DEFAULT_BUDGET);
            f = udf_verifier::verify(prog, &conf)
                .map_err(|e| Failure::refused(verify::report(input, &loaded, &e)))?;
        }
        refuse_unassumed_len(&f, ty, data, bytes.len())?;
        facts = Some(f);
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
            let cfg = udf_runtime::pre_run_checks(ty, facts.is_some());
            let compiled = udf_runtime::prepare(prog, &cfg).map_err(|e| checks(&e))?;
            run_typed(&mut Vm::new(), &compiled, ty, &bytes, budget).map_err(fault)?
        }
        Engine::Jit => {
            let mode = match &facts {
                Some(f) if harden => udf_jit::Mode::Hardened(f),
                Some(f) => udf_jit::Mode::Trusted(f),
                None => udf_jit::Mode::Checked,
            };
            let exe = udf_cli::exec::jit(prog, ty, mode).map_err(|e| checks(&e))?;
            udf_cli::exec::run_typed_native(&mut Vm::new(), &exe, ty, &bytes, budget)
                .map_err(fault)?
        }
    };
    udf_cli::exec::print_run(json, out.r0, &extents, &[("executed", out.executed.into())]);
    Ok(())
}

/// Refuses (exit 1, nothing run) a context whose length the verifier's proof did not assume:
/// an `acl` context shorter than its request, an object of another size than the one verified.
fn refuse_unassumed_len(
    facts: &udf_verifier::Facts,
    ty: ProgramType,
    data: &Path,
    len: usize,
) -> Result<(), Failure> {
    if facts.admits(len) {
        return Ok(());
    }
    let (min, max) = facts.ctx_len;
    Err(Failure::refused(miette!(
        code = "udf::context",
        "{}: a context of {len} byte(s) is refused: the {ty} program was verified for {}; nothing ran",
        data.display(),
        udf_runtime::LenRange(min, max)
    )))
}

fn cmd_jit(
    json: bool,
    input: &Path,
    entry: Option<&str>,
    ty: Option<&str>,
    ctx_size: Option<u32>,
    target: &str,
) -> Result<(), Failure> {
    let target = udf_jit::Target::parse(target).ok_or_else(|| {
        Failure::usage(miette!(
            code = "udf::usage",
            "--target {target}: expected x86_64, aarch64 or riscv64"
        ))
    })?;
    let given = ty.map(parse_type).transpose()?;
    let loaded = load(input, entry)?;
    let ty = program_type(input, &loaded, given, Some(ProgramType::Raw))?;
    let ctx_size = ctx_size.or(loaded.ctx_size(ty));
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
        emit(
            json!({"target": target.name(), "mode": mode, "bytes": code.bytes().len(), "regions": regions}),
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

/// The program type: a `.udf` entry point's (`--type`, when given, must agree), an ELF
/// function's section's (`--type`, when given, must agree; required when the section names no
/// type, and the program's helper calls are then checked against it), else `--type`, else
/// `default` (`None`: `--type` is required). `--type` is parsed before the program is read.
fn program_type(
    input: &Path,
    loaded: &Loaded,
    given: Option<ProgramType>,
    default: Option<ProgramType>,
) -> Result<ProgramType, Failure> {
    if let Some(c) = &loaded.c {
        return match (c.ty, given) {
            (Some(s), Some(t)) if s != t => Err(Failure::usage(miette!(
                code = "udf::usage",
                help = "the section name fixes the type: leave --type out",
                "--type {t}: function `{}` is in section `{}`, which gives it type {s}",
                c.name,
                c.section
            ))),
            (Some(s), _) => Ok(s),
            (None, Some(t)) => {
                udf_compiler::elf::check_helpers(c, t).map_err(|e| elf_failure(input, &e))?;
                Ok(t)
            }
            (None, None) => Err(Failure::usage(miette!(
                code = "udf::usage",
                help = "name the section filter, owns, acl or size (__attribute__((section(\"owns\")))), or give --type",
                "{}: function `{}` is in section `{}`, which names no program type: give --type",
                input.display(),
                c.name,
                c.section
            ))),
        };
    }
    match (&loaded.entry, given, default) {
        (Some(e), Some(t), _) if t != e.ty => Err(Failure::usage(miette!(
            code = "udf::usage",
            help = "a .udf entry point fixes its type: leave --type out",
            "--type {t}: entry point `{}` is a {} program",
            e.name,
            e.ty
        ))),
        (Some(e), _, _) => Ok(e.ty),
        (None, Some(t), _) => Ok(t),
        (None, None, Some(t)) => Ok(t),
        (None, None, None) => Err(Failure::usage(miette!(
            code = "udf::usage",
            "--type is required for .s and .bin input (filter, owns, acl or size)"
        ))),
    }
}

fn parse_type(ty: &str) -> Result<ProgramType, Failure> {
    ty.parse()
        .map_err(|e| Failure::usage(miette!(code = "udf::usage", "--type {ty}: {e}")))
}

/// `udf package`: the program and its type as for `udf verify`, then [`udf_cli::kernel`].
fn cmd_package(
    json: bool,
    input: &Path,
    entry: Option<&str>,
    ty: Option<&str>,
    opts: udf_cli::kernel::PackageOptions<'_>,
) -> Result<(), Failure> {
    let given = ty.map(parse_type).transpose()?;
    let loaded = load(input, entry)?;
    let ty = program_type(input, &loaded, given, None)?;
    udf_cli::kernel::package(json, input, &loaded, ty, opts)
}

fn cmd_verify(
    json: bool,
    input: &Path,
    entry: Option<&str>,
    ty: Option<&str>,
    ctx_size: Option<u32>,
    budget: u64,
) -> Result<bool, Failure> {
    let given = ty.map(parse_type).transpose()?;
    let loaded = load(input, entry)?;
    let ty = program_type(input, &loaded, given, None)?;
    let ctx_size = ctx_size.or(loaded.ctx_size(ty));
    if !ty.info().verified {
        return Err(Failure::usage(miette!(
            code = "udf::usage",
            "`{ty}` programs are not verified (they run on the checking engines only)"
        )));
    }
    match udf_verifier::verify(&loaded.prog, &verify::config(ty, ctx_size, budget)) {
        Ok(facts) => {
            if json {
                emit(verify::facts_json(ty, &loaded.prog, &facts));
            } else {
                print!("{}", verify::facts_text(ty, &loaded.prog, &facts));
            }
            Ok(true)
        }
        Err(e) => {
            if json {
                emit(verify::rejection_json(input, &loaded, &e));
            }
            let hint = verify::ctx_size_hint(ty, ctx_size, &e);
            Err(Failure::refused(verify::report_hinted(
                input, &loaded, &e, hint,
            )))
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
    if files.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Failure::usage(miette!(
            code = "udf::test::empty",
            help = "test files are bpf_conformance `.data`, PREVAIL `.yaml` and `.udft` files",
            "{}: no test file in it",
            names.join(", ")
        )));
    }
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
        emit(
            json!({"passed": sum.passed, "failed": sum.failed.len(), "skipped": sum.skipped.len(), "failures": fails, "skips": skips}),
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
    if sum.failed.is_empty() || !json {
        return Ok(sum.failed.is_empty());
    }
    // With --json, refused: each failure is an error (the text lists them above).
    let reports = sum
        .failed
        .iter()
        .map(|(f, why)| {
            miette::Report::new(
                miette::MietteDiagnostic::new(format!("{}: {why}", f.display()))
                    .with_code("udf::test::failed"),
            )
        })
        .collect();
    Err(Failure {
        status: EXIT_REFUSED,
        reports,
    })
}

fn cmd_compile(
    json: bool,
    input: &Path,
    dir: Option<PathBuf>,
    entry: Option<&str>,
) -> Result<(), Failure> {
    if !is_source(input) {
        return Err(Failure::usage(miette!(
            code = "udf::usage",
            "{}: `udf compile` takes .udf sources",
            input.display()
        )));
    }
    let (src, module) = compile_source(input)?;
    let entries = match entry {
        Some(_) => vec![select_entry(input, module, entry, None)?],
        None => module.entries,
    };
    let dir = dir.unwrap_or_else(|| match input.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    });
    std::fs::create_dir_all(&dir).map_err(|e| {
        Failure::usage(miette!(
            code = "udf::io",
            "cannot create {}: {e}",
            dir.display()
        ))
    })?;
    let mut out = Vec::new();
    for e in &entries {
        let bin = dir.join(format!("{}.bin", e.name));
        let map = dir.join(format!("{}.map", e.name));
        write_file(&bin, &e.prog.encode())?;
        write_file(&map, e.map.to_text(&src).as_bytes())?;
        if json {
            out.push(json!({
                "name": e.name,
                "type": e.ty.name(),
                "ctx_size": e.ctx_size,
                "instructions": e.prog.len(),
                "max_insns": e.facts.max_insns,
                "max_extents": e.facts.max_extents,
                "stack_use": e.facts.stack_use,
                "bin": bin.display().to_string(),
                "map": map.display().to_string(),
            }));
        } else {
            let ctx = e
                .ctx_size
                .map_or(String::new(), |n| format!(", {n}-byte object"));
            eprintln!(
                "{} ({}{ctx}): {} instructions, instruction bound {} -> {}",
                e.name,
                e.ty,
                e.prog.len(),
                e.facts.max_insns,
                bin.display()
            );
        }
    }
    if json {
        emit(json!({"entries": Json::Array(out)}));
    } else if entries.is_empty() {
        eprintln!("{}: no entry points", input.display());
    }
    Ok(())
}

/// Where `udf filter`'s program comes from.
enum FilterInput<'a> {
    /// A filter entry point of a `.udf` source.
    Source(&'a Path, Option<&'a str>),
    /// A pcap-filter(7) expression and the netmask `ip broadcast` uses.
    Pcap(&'a str, Option<u32>),
    /// A classic BPF program in a file.
    Cbpf(&'a Path),
}

/// A verified filter and the code the chosen engine runs.
struct Ready {
    /// The `.udf` entry point's name.
    name: Option<String>,
    /// The `.udf` packet views it reads (empty: raw access only, or not a `.udf` filter).
    views: Vec<&'static str>,
    facts: udf_verifier::Verified,
    interp: Option<udf_runtime::Compiled>,
    native: Option<udf_jit::Executable>,
}

impl Ready {
    /// Verifies `prog` as a filter (trusted mode, as for `udf run`: the verdict holds for
    /// packets of any length) and prepares it for `engine`. `report` renders a rejection.
    fn new(
        prog: &udf_bytecode::Program,
        engine: Engine,
        what: &str,
        report: impl FnOnce(&udf_verifier::Rejection) -> Failure,
    ) -> Result<Ready, Failure> {
        let ty = ProgramType::Filter;
        let conf = verify::config(ty, None, udf_verifier::DEFAULT_BUDGET);
        let facts = udf_verifier::verify(prog, &conf).map_err(|e| report(&e))?;
        let checks = |e: &dyn std::fmt::Display| {
            Failure::refused(miette!(code = "udf::check", "{what}: {e}"))
        };
        let (interp, native) = match engine {
            Engine::Interp => (
                Some(
                    udf_runtime::prepare(prog, &udf_runtime::pre_run_checks(ty, true))
                        .map_err(|e| checks(&e))?,
                ),
                None,
            ),
            Engine::Jit => (
                None,
                Some(
                    udf_cli::exec::jit(prog, ty, udf_jit::Mode::Trusted(&facts))
                        .map_err(|e| checks(&e))?,
                ),
            ),
        };
        Ok(Ready {
            name: None,
            views: Vec::new(),
            facts,
            interp,
            native,
        })
    }

    /// The code to run.
    fn code(&self) -> Code<'_> {
        match (&self.interp, &self.native) {
            (Some(c), _) => Code::Interp(c),
            (None, Some(e)) => Code::Native(e),
            (None, None) => unreachable!("Ready::new prepares one engine's code"),
        }
    }
}

/// The filters of one `udf filter` run: one program for every packet (`.udf`, `--cbpf`), or a
/// pcap-filter expression compiled once for each link (link type, snap length) the capture's
/// packets come from.
enum Filters<'a> {
    One(Box<Ready>),
    Pcap {
        expr: &'a str,
        netmask: Option<u32>,
        engine: Engine,
        capture: &'a Path,
        compiled: Vec<(udf_cli::capture::Link, Ready)>,
    },
}

impl Filters<'_> {
    /// The filter for packets of `link`, compiled on first use.
    fn for_link(&mut self, link: udf_cli::capture::Link) -> Result<&Ready, Failure> {
        let (expr, netmask, engine, capture, compiled) = match self {
            Filters::One(ready) => return Ok(ready),
            Filters::Pcap {
                expr,
                netmask,
                engine,
                capture,
                compiled,
            } => (*expr, *netmask, *engine, *capture, compiled),
        };
        if let Some(i) = compiled.iter().position(|(l, _)| *l == link) {
            return Ok(&compiled[i].1);
        }
        let ready = compile_pcap(expr, netmask, engine, capture, link)?;
        compiled.push((link, ready));
        Ok(&compiled.last().expect("pushed").1)
    }
}

/// The name pcap-filter diagnostics give the expression (it has no file).
const EXPRESSION: &str = "<expression>";

/// Compiles a pcap-filter expression for packets of `link`: libpcap's meaning for that link
/// type, accepting packets with the snap length (what libpcap's `filtertest -r` returns).
fn compile_pcap(
    expr: &str,
    netmask: Option<u32>,
    engine: Engine,
    capture: &Path,
    link: udf_cli::capture::Link,
) -> Result<Ready, Failure> {
    use udf_pcap::{CompileOptions, LinkType};
    let Some(lt) = LinkType::from_linktype(link.linktype) else {
        return Err(Failure::refused(miette!(
            code = "udf::pcap::linktype",
            help = "the pcap-filter front end compiles for Ethernet (EN10MB) and raw IP (RAW) captures",
            "{}: link type {} is not supported",
            capture.display(),
            link.name()
        )));
    };
    let opts = CompileOptions {
        link: lt,
        snaplen: link.snaplen,
        netmask,
    };
    let compiled = udf_pcap::compile(expr, &opts).map_err(|d| {
        Failure::compile(&udf_compiler::Diagnostics::new(EXPRESSION, expr, vec![d]))
    })?;
    Ready::new(&compiled.prog, engine, EXPRESSION, |e| {
        // Over the instruction budget is a limit of the input; anything else a defect.
        if let udf_verifier::Rule::BudgetExceeded { budget, .. } = e.rule {
            return Failure::refused(miette!(
                code = "udf::pcap::too_large",
                help = "split it into several filters",
                "{EXPRESSION}: expression too large: its program may run more than {budget} instructions"
            ));
        }
        Failure::refused(miette!(
            code = "udf::compiler_bug",
            "{EXPRESSION}: the verifier rejects the program compiled for `{expr}`: {e}"
        ))
    })
}

/// Reads a classic BPF program (`tcpdump -dd` or `-ddd` text, or raw `struct sock_filter`
/// bytes), translates it to eBPF and prepares it.
fn load_cbpf(path: &Path, engine: Engine) -> Result<Ready, Failure> {
    let bytes = read(path)?;
    let what = path.display().to_string();
    let insns = udf_pcap::cbpf::parse_any(&bytes)
        .map_err(|e| Failure::refused(cbpf_report(&what, &bytes, &e, true)))?;
    let (prog, _facts) = udf_pcap::cbpf::compile(&insns)
        .map_err(|e| Failure::refused(cbpf_report(&what, &bytes, &e, false)))?;
    Ready::new(&prog, engine, &what, |e| {
        // Over the instruction budget is a limit of the input; anything else a defect.
        if let udf_verifier::Rule::BudgetExceeded { budget, .. } = e.rule {
            return Failure::refused(miette!(
                code = "udf::cbpf::too_large",
                "{what}: its translation may run more than {budget} instructions"
            ));
        }
        Failure::refused(miette!(
            code = "udf::compiler_bug",
            "{what}: the verifier rejects the translation of this classic BPF program: {e}"
        ))
    })
}

/// A classic BPF error as a diagnostic: pointing into the file when it is text and the error
/// has a line, else naming the instruction; `unread` (the file could not be read as classic
/// BPF) adds the formats accepted.
fn cbpf_report(
    what: &str,
    bytes: &[u8],
    e: &udf_pcap::cbpf::CbpfError,
    unread: bool,
) -> miette::Report {
    // The translator's own failures (its output refused by the verifier or by the bytecode
    // checks) are defects of udfkit, not of the program: `udf::compiler_bug`, as elsewhere.
    let code = if e.message.starts_with("translator bug") {
        "udf::compiler_bug"
    } else {
        "udf::cbpf"
    };
    let mut diag = miette::MietteDiagnostic::new(format!("{what}: {e}")).with_code(code);
    if unread {
        diag = diag.with_help(
            "give `tcpdump -dd` or `tcpdump -ddd` output, or raw little-endian 8-byte struct \
             sock_filter records",
        );
    }
    let (Some((line, col)), Ok(src)) = (e.line, std::str::from_utf8(bytes)) else {
        return miette::Report::new(diag);
    };
    let start: usize = src
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let rest = &src[start.min(src.len())..];
    let at = start
        + rest
            .char_indices()
            .nth(col.saturating_sub(1))
            .map_or(rest.len(), |(i, _)| i);
    let len = src[at..].chars().next().map_or(0, char::len_utf8);
    diag.message = format!("{what}:{line}:{col}: {}", e.message);
    miette::Report::new(diag.with_label(miette::LabeledSpan::at(at..at + len, "here")))
        .with_source_code(miette::NamedSource::new(what, src.to_string()))
}

/// Compiles a `.udf` source's filter entry point, or reads a filter function of an ELF object,
/// and prepares it.
fn load_udf_filter(input: &Path, entry: Option<&str>, engine: Engine) -> Result<Ready, Failure> {
    if is_elf_file(input) {
        let loaded = load(input, entry)?;
        if let Some(c) = &loaded.c
            && let Some(t) = c.ty.filter(|&t| t != ProgramType::Filter)
        {
            return Err(Failure::usage(miette!(
                code = "udf::usage",
                "{}: `udf filter` runs filters: function `{}` is in section `{}`, of type {t}",
                input.display(),
                c.name,
                c.section
            )));
        }
        program_type(input, &loaded, Some(ProgramType::Filter), None)?;
        let what = input.display().to_string();
        return Ready::new(&loaded.prog, engine, &what, |e| {
            Failure::refused(verify::report(input, &loaded, e))
        });
    }
    if !is_source(input) {
        return Err(Failure::usage(miette!(
            code = "udf::usage",
            "{}: `udf filter` takes a .udf source or an ELF object (or --pcap EXPR, --cbpf FILE)",
            input.display()
        )));
    }
    let (src, module) = compile_source(input)?;
    let entry = select_entry(input, module, entry, Some(ProgramType::Filter))?;
    let loaded = Loaded {
        prog: entry.prog.clone(),
        src: Some(src),
        lines: Vec::new(),
        entry: Some(entry),
        c: None,
    };
    let what = input.display().to_string();
    let mut ready = Ready::new(&loaded.prog, engine, &what, |e| {
        Failure::refused(verify::report(input, &loaded, e))
    })?;
    if let Some(e) = &loaded.entry {
        ready.name = Some(e.name.clone());
        ready.views = e.views.clone();
    }
    Ok(ready)
}

/// The link type the `.udf` packet views assume: Ethernet.
const EN10MB: u32 = 1;

/// Refuses a `.udf` filter on packets of a link type its packet views do not fit (they read an
/// Ethernet frame: `p.ether` at 0, `p.ipv4` at 14, ...); raw access fits any link type.
fn check_views(
    ready: &Ready,
    link: udf_cli::capture::Link,
    capture: &Path,
    at: &str,
) -> Result<(), Failure> {
    if ready.views.is_empty() || link.linktype == EN10MB {
        return Ok(());
    }
    let name = ready.name.as_deref().unwrap_or("the filter");
    Err(Failure::refused(miette!(
        code = "udf::filter::linktype",
        help = "the packet views read Ethernet frames (link type 1, EN10MB); a filter that reads \
                only p.u8[i], p.u16be[i], p.u32be[i], p.len and p.wirelen fits any link type, and \
                --pcap EXPR compiles for the capture's link type",
        "{}: {at}link type {}: filter `{name}` reads the packet views {} (Ethernet frames); nothing ran on it",
        capture.display(),
        link.name(),
        ready
            .views
            .iter()
            .map(|v| format!("p.{v}"))
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// `udf filter`: a filter over every packet of a capture, one return value per line.
fn cmd_filter(
    json: bool,
    input: FilterInput<'_>,
    capture: &Path,
    eng: EngineArg,
) -> Result<(), Failure> {
    let engine = engine(eng)?;
    let unreadable = |why: String| {
        Failure::usage(miette!(
            code = "udf::capture",
            "{}: {why}",
            capture.display()
        ))
    };
    let (mut filters, entry) = match input {
        FilterInput::Source(input, entry) => {
            let ready = load_udf_filter(input, entry, engine)?;
            let name = ready.name.clone().or(entry.map(str::to_string));
            (Filters::One(Box::new(ready)), name)
        }
        FilterInput::Cbpf(path) => (Filters::One(Box::new(load_cbpf(path, engine)?)), None),
        FilterInput::Pcap(expr, netmask) => (
            Filters::Pcap {
                expr,
                netmask,
                engine,
                capture,
                compiled: Vec::new(),
            },
            None,
        ),
    };
    let mut cap = udf_cli::capture::Capture::open(capture).map_err(unreadable)?;
    // An expression is compiled before the first packet is read, so its errors show even for a
    // capture with no packets (for the capture's first link; Ethernet when it names none).
    let first = cap.link().unwrap_or(udf_cli::capture::Link::new(
        1,
        udf_cli::capture::MAX_SNAPLEN,
    ));
    let ready = filters.for_link(first)?;
    if cap.link().is_some() {
        check_views(ready, first, capture, "the capture's ")?;
    }
    let progress = std::io::stderr().is_terminal() && !std::io::stdout().is_terminal();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut results = Vec::new();
    let mut vm = Vm::new();
    let mut n = 0u64;
    let outcome = loop {
        let packet = match cap.next_packet() {
            None => break Ok(()),
            Some(Err(why)) => break Err(unreadable(why)),
            Some(Ok(p)) => p,
        };
        n += 1;
        let ready = match filters.for_link(packet.link) {
            Ok(r) => r,
            Err(f) => break Err(f),
        };
        if let Err(f) = check_views(ready, packet.link, capture, &format!("packet {n}: ")) {
            break Err(f);
        }
        if !ready.facts.admits(packet.data.len()) {
            break Err(Failure::refused(miette!(
                code = "udf::context",
                "{}: packet {n}: {} bytes, a length the filter was not verified for; nothing ran",
                capture.display(),
                packet.data.len()
            )));
        }
        let run = run_code(
            &mut vm,
            ready.code(),
            ProgramType::Filter,
            packet.data,
            Some(u64::from(packet.wire_len)),
            ready.facts.max_insns,
        );
        let r0 = match run {
            Ok(run) => run.outcome.r0,
            Err(f) => {
                break Err(Failure::refused(miette!(
                    code = "udf::fault",
                    "{}: packet {n}: {f}",
                    capture.display()
                )));
            }
        };
        if json {
            results.push(r0);
        } else {
            let _ = writeln!(stdout, "{r0}");
        }
        if progress && n.is_multiple_of(4096) {
            eprint!("\r{}: {n} packets\x1b[K", capture.display());
        }
    };
    if progress {
        eprint!("\r\x1b[K");
    }
    if json {
        let accepted = results.iter().filter(|&&r| r != 0).count();
        // With the error after them when the capture breaks off: one document.
        emit(json!({"entry": entry, "packets": n, "accepted": accepted, "results": results}));
    }
    let _ = stdout.flush();
    outcome
}

/// The exit status when stdout or stderr is a pipe its reader closed (a shell's 128 + SIGPIPE).
const BROKEN_PIPE_STATUS: u8 = 141;

/// A panic's message (its payload as text; empty when it is not text).
fn panic_text(info: &std::panic::PanicHookInfo<'_>) -> String {
    info.payload()
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// The exit status of a panic (Rust's).
const PANIC_STATUS: u8 = 101;

fn main() -> ExitCode {
    // Diagnostics keep each message on one line, so scripts can grep them.
    let _ = miette::set_hook(Box::new(|_| {
        Box::new(miette::MietteHandlerOpts::new().wrap_lines(false).build())
    }));
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let json = udf_cli::output::json_requested(&args);
    if json {
        // A panic is a bug, never an answer: it still exits 101 with Rust's message on stderr,
        // and with --json stdout still gets its one document, saying so.
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            default(info);
            let what = panic_text(info);
            let message = format!("internal error (a bug in udf): {what}");
            let err = udf_cli::output::error(Some("udf::internal"), &message, (None, None, None));
            udf_cli::output::print(&udf_cli::output::document(PANIC_STATUS, vec![err]));
        }));
    }
    // A reader that stops reading (`udf filter ... | head`) is not a crash: std's print macros
    // panic on a closed pipe, and that one panic ends the process quietly with the status a C
    // tool killed by SIGPIPE gives (128 + 13), before any other hook reports it as a bug.
    let inner = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let what = panic_text(info);
        if what.starts_with("failed printing to std") && what.contains("Broken pipe") {
            std::process::exit(BROKEN_PIPE_STATUS.into());
        }
        inner(info);
    }));
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(json, &e),
    };
    let result = match cli.cmd {
        Cmd::Demo => match udf_cli::demo::run() {
            Ok(report) if json => {
                let lines: Vec<&str> = report.lines().collect();
                emit(json!({"report": lines}));
                Ok(true)
            }
            Ok(report) => {
                print!("{report}");
                Ok(true)
            }
            Err(e) => Err(Failure::refused(miette!(code = "udf::demo", "{e}"))),
        },
        Cmd::Asm { input, output } => cmd_asm(json, &input, output).map(|_| true),
        Cmd::Disasm { input } => cmd_disasm(json, &input).map(|_| true),
        Cmd::Compile { input, dir, entry } => {
            cmd_compile(json, &input, dir, entry.as_deref()).map(|_| true)
        }
        Cmd::Run {
            input,
            entry,
            ty,
            data,
            engine,
            harden,
            budget,
        } => cmd_run(
            json,
            &input,
            entry.as_deref(),
            ty.as_deref(),
            &data,
            engine,
            harden,
            budget,
        )
        .map(|_| true),
        Cmd::Verify {
            input,
            entry,
            ty,
            ctx_size,
            budget,
        } => cmd_verify(
            json,
            &input,
            entry.as_deref(),
            ty.as_deref(),
            ctx_size,
            budget,
        ),
        Cmd::Jit {
            input,
            entry,
            ty,
            ctx_size,
            target,
        } => cmd_jit(
            json,
            &input,
            entry.as_deref(),
            ty.as_deref(),
            ctx_size,
            &target,
        )
        .map(|_| true),
        Cmd::Filter {
            input,
            entry,
            pcap,
            netmask,
            cbpf,
            capture,
            engine,
        } => {
            // clap's `requires` does not hold inside the argument group: checked here.
            let input = match (&input, &pcap, &cbpf) {
                _ if entry.is_some() && input.is_none() => Err(Failure::usage(miette!(
                    code = "udf::usage",
                    "--entry names an entry point of a .udf source"
                ))),
                _ if netmask.is_some() && pcap.is_none() => Err(Failure::usage(miette!(
                    code = "udf::usage",
                    "--netmask applies to --pcap expressions"
                ))),
                (Some(i), None, None) => Ok(FilterInput::Source(i, entry.as_deref())),
                (None, Some(e), None) => Ok(FilterInput::Pcap(e, netmask.map(u32::from))),
                (None, None, Some(c)) => Ok(FilterInput::Cbpf(c)),
                _ => Err(Failure::usage(miette!(
                    code = "udf::usage",
                    "give one of a .udf filter, --pcap or --cbpf"
                ))),
            };
            input
                .and_then(|i| cmd_filter(json, i, &capture, engine))
                .map(|_| true)
        }
        Cmd::Test {
            paths,
            engine,
            expect_failure,
            verbose,
        } => cmd_test(json, &paths, engine, expect_failure, verbose),
        Cmd::Xn { cmd } => match cmd {
            XnCmd::Rebuild { image, fs } => {
                udf_cli::xn::rebuild(json, &image, &fs).and_then(|same| match same {
                    true => Ok(true),
                    false if json => Err(Failure::refused(miette!(
                        code = "udf::xn::mismatch",
                        "{}: the free map rebuilt from the roots differs from the image's bitmaps, \
                         or the walk found problems",
                        image.display()
                    ))),
                    false => Ok(false),
                })
            }
            XnCmd::Alloc {
                image,
                fs,
                inode,
                slot,
                block,
                kind,
            } if block != 0 => udf_cli::xn::set_slot(json, &image, &fs, inode, slot, block, kind),
            XnCmd::Alloc { .. } => Err(Failure::usage(miette!(
                code = "udf::usage",
                "--block 0 is not a block: use `udf xn free` to free a slot"
            ))),
            XnCmd::Free {
                image,
                fs,
                inode,
                slot,
                kind,
            } => udf_cli::xn::set_slot(json, &image, &fs, inode, slot, 0, kind),
        },
        Cmd::Package {
            input,
            entry,
            ty,
            ctx_size,
            target,
            key,
            output,
        } => cmd_package(
            json,
            &input,
            entry.as_deref(),
            ty.as_deref(),
            udf_cli::kernel::PackageOptions {
                ctx_size,
                target: &target,
                key: key.as_deref(),
                output: &output,
            },
        )
        .map(|_| true),
        Cmd::Kernel {
            cmd:
                KernelCmd::Load {
                    package,
                    key,
                    require_tag,
                    data,
                },
        } => {
            udf_cli::kernel::load(json, &package, key.as_deref(), require_tag, &data).map(|_| true)
        }
    };
    let (status, reports) = match result {
        Ok(true) => (EXIT_OK, Vec::new()),
        Ok(false) => (EXIT_REFUSED, Vec::new()),
        Err(f) => (f.status, f.reports),
    };
    if json {
        udf_cli::output::finish(status, &reports);
    } else {
        for r in &reports {
            eprintln!("{}", udf_cli::input::render(r));
        }
        if reports.len() > 1 {
            eprintln!("{} errors", reports.len());
        }
    }
    ExitCode::from(status)
}

/// A usage error clap found (or `--help`, `--version`): as clap prints it, and with `--json`
/// also as the one document on stdout (`udf::usage`, exit 2; help and version exit 0 with
/// their text as `help`).
fn usage_error(json: bool, e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if !json {
        e.exit();
    }
    let text = e.render().to_string();
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        emit(json!({"help": text}));
        udf_cli::output::finish(EXIT_OK, &[]);
        return ExitCode::from(EXIT_OK);
    }
    eprint!("{text}");
    // clap's first line is the message (`error: ...`); the rest is usage and a hint.
    let message: &str = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        "a command is required (see `udf --help`)"
    } else {
        // clap's message is its first paragraph (`error: ...` and, for missing arguments,
        // the lines naming them); usage and tips follow.
        &text
            .split("\n\n")
            .next()
            .unwrap_or("bad usage")
            .trim_start_matches("error: ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let err = udf_cli::output::error(Some("udf::usage"), message, (None, None, None));
    udf_cli::output::print(&udf_cli::output::document(EXIT_USAGE, vec![err]));
    ExitCode::from(EXIT_USAGE)
}
