//! `udf`: the command line over udfkit (contract: `shared/design/cli.md`).
//!
//! Exit status: 0 success; 1 the input was understood and refused; 2 bad usage or unreadable
//! input. Errors are miette diagnostics on stderr; `--json` prints results on stdout instead.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use miette::miette;
use serde_json::json;
use udf_cli::filter::FilterInput;
use udf_cli::input::Failure;
use udf_cli::output::emit;
use udf_cli::{EXIT_OK, EXIT_REFUSED, EXIT_USAGE};
use udf_filetests::ExecEngine as Engine;

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
        #[command(flatten)]
        program: ProgramSel,
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
        #[command(flatten)]
        program: ProgramSel,
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
        #[command(flatten)]
        program: ProgramSel,
        /// Size in bytes of the metadata object (owns, acl, size); unknown when absent (a `.udf`
        /// entry point's layout gives it).
        #[arg(long)]
        ctx_size: Option<u32>,
        /// Instruction set: x86_64, aarch64 or riscv64.
        #[arg(long, default_value = "x86_64")]
        target: String,
    },
    /// Run a filter over every packet of a pcap or pcapng capture; print one line per packet,
    /// its return value (as libpcap's `filtertest -r`); or, with -w, write the accepted packets
    /// to a pcap file (as `tcpdump -r CAPTURE -w OUT EXPR`); or, with --count, print how many
    /// were accepted. A `.udf` filter reading the packet views (`p.ether`, `p.ipv4`, ...:
    /// Ethernet frames) is refused on a capture of another link type.
    #[command(group = clap::ArgGroup::new("filter").required(true).args(["input", "pcap", "cbpf"]))]
    Filter {
        /// The filter's `.udf` source, or an ELF object (`clang -target bpf`).
        input: Option<PathBuf>,
        /// Entry point (for sources with more than one filter), or an ELF object's function.
        #[arg(long, requires = "input")]
        entry: Option<String>,
        /// A pcap-filter(7) expression instead of a source, compiled for the capture's link
        /// type with libpcap's meaning (Ethernet, raw IP, IPv4/IPv6, Linux cooked v1/v2,
        /// NULL/LOOP, PPP and its framings, Cisco HDLC, frame relay, SLIP, ARCnet, 802.11 bare,
        /// radiotap, PPI and Prism: docs/pcap-filter.md); accepted packets return the
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
        /// Engine (default: jit on x86-64 hosts, else interp).
        #[arg(long, value_enum)]
        engine: Option<EngineArg>,
        /// Write the accepted packets to this pcap file (the capture's link type and snap
        /// length; time stamps and lengths kept) instead of printing a line per packet, as
        /// `tcpdump -r CAPTURE -w OUT EXPR` does. Written under a temporary name and renamed
        /// when the whole capture was filtered: a failed run leaves no OUT. `-w -` writes to
        /// stdout; `/dev/null`, a pipe or another non-regular file is written in place.
        #[arg(short = 'w', long = "write", value_name = "OUT.pcap")]
        write: Option<PathBuf>,
        /// Print only the number of accepted packets (return value not 0).
        #[arg(long)]
        count: bool,
    },
    /// Install many filters, each with an owner name, in one merged demultiplexer (DPF) and run
    /// it over every packet of a capture; print one line per packet: the names accepting it, in
    /// file order, space-separated, or `-`; with --count, one line `NAME COUNT` per name.
    ///
    /// FILE holds one filter a line (`#` comment lines, blank lines skipped): `NAME pcap EXPR`
    /// (a pcap-filter expression, compiled for the capture's link type), `NAME udf
    /// PATH[:ENTRY]` (a `.udf` filter or an ELF object's function), `NAME cbpf PATH` (classic
    /// BPF), or `NAME EXPR` (short for `NAME pcap EXPR`). Paths are relative to FILE. A name
    /// may own several filters: it gets the union.
    Demux {
        /// The filters file.
        #[arg(long, value_name = "FILE")]
        filters: PathBuf,
        /// The capture (pcap or pcapng).
        #[arg(long = "read", value_name = "CAPTURE")]
        capture: PathBuf,
        /// Engine: interp (the merged trie walked in Rust, filters that do not merge run by the
        /// interpreter) or jit (the trie compiled into one verified program run as native code;
        /// the trie is walked where that program would be too large).
        #[arg(long, value_enum, default_value = "interp")]
        engine: EngineArg,
        /// Print only, per name, the number of packets it accepted.
        #[arg(long)]
        count: bool,
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
        #[command(flatten)]
        program: ProgramSel,
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
    /// Boot the bare-metal kernel IMAGE under qemu-system-x86_64 (TCG), send it the key, the
    /// package and each input over its serial line; prints what `udf kernel load` prints for
    /// each input, with the same exit status.
    Boot {
        /// The kernel image (`kernel/`, built for x86_64-unknown-none).
        image: PathBuf,
        /// The package.
        #[arg(long = "pkg", value_name = "PKG")]
        package: PathBuf,
        /// The kernel's key (the file's raw bytes).
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// The context bytes, one run per file.
        #[arg(long = "input", value_name = "FILE", required = true, num_args = 1..)]
        inputs: Vec<PathBuf>,
        /// Tests only: raw x86-64 code the kernel maps and runs instead of the package's.
        #[arg(long, value_name = "FILE", hide = true)]
        test_native_code: Option<PathBuf>,
        /// Benchmarks only: run each input N times in the kernel, timing the exchange.
        #[arg(long, value_name = "N", default_value_t = 1, hide = true)]
        repeat: u32,
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
        /// Recover from a crash: release leaked blocks (marked used, owned by nothing),
        /// recompute the free counts and each inode's i_blocks, written through XN's write
        /// ordering; exit 0 when the image then matches. Anything else a rebuild finds is
        /// refused (exit 1, nothing written).
        #[arg(long)]
        repair: bool,
    },
    /// Point block slot K (or logical block L) of inode N at block B through XN's ownership
    /// check; the image is written only when the check passes.
    Alloc {
        #[command(flatten)]
        at: XnSlot,
        /// The block.
        #[arg(long)]
        block: u64,
    },
    /// Free the block in slot K (or at logical block L) of inode N through XN's ownership
    /// check.
    Free {
        #[command(flatten)]
        at: XnSlot,
    },
    /// Move the block in slot K of inode N to the empty slot J of inode M, atomically: checked
    /// by XN as a free from N and an allocation to M with no window where the block is free
    /// (the bitmap keeps it in use; M's pointer is written after N's is cleared, so a crash in
    /// between leaks the block, never gives it two owners). Refused: exit 1, image untouched.
    Move {
        #[command(flatten)]
        at: XnSlot,
        /// The inode to give the block to.
        #[arg(long = "to-inode", value_name = "M")]
        to_inode: u32,
        /// Its (empty) slot, of the same kind as the source's.
        #[arg(long = "to-slot", value_name = "J")]
        to_slot: usize,
    },
}

/// The block slot or logical block an `xn alloc` or `xn free` changes, and the extent kind
/// claimed.
#[derive(clap::Args)]
struct XnSlot {
    /// The image.
    image: PathBuf,
    /// The file system (ext2 or ext4).
    #[arg(long = "fs")]
    fs: String,
    /// The inode.
    #[arg(long)]
    inode: u32,
    /// The block slot of a block-mapped inode (0-11 direct, 12-14 indirect).
    #[arg(long, required_unless_present = "lblock", conflicts_with = "lblock")]
    slot: Option<usize>,
    /// The logical block of the file: the pointer goes into the inode, the indirect block or
    /// the extent tree that maps it (extent-tree nodes are allocated and freed as the tree
    /// needs).
    #[arg(long)]
    lblock: Option<u64>,
    /// The extent kind claimed (default: the slot's; data at a logical block, or 1-3 for the
    /// indirect block of that depth covering it).
    #[arg(long)]
    kind: Option<u32>,
    /// The principal the acl-udf is asked for.
    #[arg(long = "as", value_name = "UID", default_value_t = 0)]
    principal: u64,
    /// Perform only the first W block writes, in the order XN's write ordering issues them,
    /// then stop as a power cut would.
    #[arg(long = "crash-after", value_name = "W")]
    crash_after: Option<usize>,
}

impl XnSlot {
    fn opts(&self) -> udf_cli::xn::SlotOpts {
        udf_cli::xn::SlotOpts {
            kind: self.kind,
            principal: self.principal,
            crash_after: self.crash_after,
        }
    }
}

/// The program a command takes: its file, entry point and type.
#[derive(clap::Args)]
struct ProgramSel {
    /// Program: `.udf` source, `.s` text, an ELF object (`clang -target bpf`) or raw bytecode.
    input: PathBuf,
    /// Entry point (for `.udf` sources with more than one), or an ELF object's function.
    #[arg(long)]
    entry: Option<String>,
    /// Program type: filter, owns, acl, size or raw (a `.udf` entry point fixes it; `run` and
    /// `jit` take raw by default, `verify` and `package` need a verified type).
    #[arg(long = "type")]
    ty: Option<String>,
}

impl ProgramSel {
    /// The program arguments as the commands take them.
    fn args(&self) -> udf_cli::input::ProgramArgs<'_> {
        udf_cli::input::ProgramArgs {
            path: &self.input,
            entry: self.entry.as_deref(),
            ty: self.ty.as_deref(),
        }
    }
}

/// The engine `--engine` names, when this host runs it.
fn engine_of(e: EngineArg) -> Result<Engine, Failure> {
    match e {
        EngineArg::Interp => Ok(Engine::Interp),
        EngineArg::Jit if udf_jit::Target::host().is_none() => Err(Failure::usage(miette!(
            code = "udf::unsupported",
            "the JIT runs native code on x86-64 hosts only; use --engine interp here"
        ))),
        EngineArg::Jit => Ok(Engine::Jit),
    }
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
        Cmd::Asm { input, output } => udf_cli::asm::asm(json, &input, output).map(|_| true),
        Cmd::Disasm { input } => udf_cli::asm::disasm(json, &input).map(|_| true),
        Cmd::Compile { input, dir, entry } => {
            udf_cli::compile::command(json, &input, dir, entry.as_deref()).map(|_| true)
        }
        Cmd::Run { program, data, engine, harden, budget } => engine_of(engine)
            .and_then(|engine| {
                udf_cli::run::command(json, program.args(), &data, engine, harden, budget)
            })
            .map(|_| true),
        Cmd::Verify { program, ctx_size, budget } => {
            udf_cli::verify::command(json, program.args(), ctx_size, budget)
        }
        Cmd::Jit { program, ctx_size, target } => {
            udf_cli::jit::command(json, program.args(), ctx_size, &target).map(|_| true)
        }
        Cmd::Filter { input, entry, pcap, netmask, cbpf, capture, engine, write, count } => {
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
            // The JIT where there is one: it outruns the interpreter from a few packets on.
            let engine = engine.unwrap_or(if udf_jit::Target::host().is_some() {
                EngineArg::Jit
            } else {
                EngineArg::Interp
            });
            let out = udf_cli::filter::Output { write: write.as_deref(), count };
            input
                .and_then(|i| udf_cli::filter::command(json, i, &capture, engine_of(engine)?, out))
                .map(|_| true)
        }
        Cmd::Demux { filters, capture, engine, count } => engine_of(engine)
            .and_then(|e| udf_cli::demux::command(json, &filters, &capture, e, count))
            .map(|_| true),
        Cmd::Test { paths, engine, expect_failure, verbose } => {
            engine_of(engine).and_then(|engine| {
                udf_cli::test_files::command(json, &paths, engine, expect_failure, verbose)
            })
        }
        Cmd::Xn { cmd } => match cmd {
            XnCmd::Rebuild { image, fs, repair: true } => udf_cli::xn::repair(json, &image, &fs),
            XnCmd::Rebuild { image, fs, repair: false } => udf_cli::xn::rebuild(json, &image, &fs)
                .and_then(|same| match same {
                    true => Ok(true),
                    false if json => Err(Failure::refused(miette!(
                        code = "udf::xn::mismatch",
                        "{}: the free map rebuilt from the roots differs from the image's bitmaps, \
                         or the walk found problems",
                        image.display()
                    ))),
                    false => Ok(false),
                }),
            XnCmd::Alloc { at, block } if block != 0 => match (at.lblock, at.slot) {
                (Some(l), _) => {
                    udf_cli::xn::set_lblock(json, &at.image, &at.fs, at.inode, l, block, at.opts())
                }
                (None, slot) => udf_cli::xn::set_slot(
                    json,
                    &at.image,
                    &at.fs,
                    at.inode,
                    slot.unwrap_or_default(),
                    block,
                    at.opts(),
                ),
            },
            XnCmd::Alloc { .. } => Err(Failure::usage(miette!(
                code = "udf::usage",
                "--block 0 is not a block: use `udf xn free` to free a slot"
            ))),
            XnCmd::Free { at } => match (at.lblock, at.slot) {
                (Some(l), _) => {
                    udf_cli::xn::set_lblock(json, &at.image, &at.fs, at.inode, l, 0, at.opts())
                }
                (None, slot) => udf_cli::xn::set_slot(
                    json,
                    &at.image,
                    &at.fs,
                    at.inode,
                    slot.unwrap_or_default(),
                    0,
                    at.opts(),
                ),
            },
            XnCmd::Move { at, .. } if at.lblock.is_some() => Err(Failure::usage(miette!(
                code = "udf::usage",
                "`udf xn move` takes --slot, not --lblock"
            ))),
            XnCmd::Move { at, to_inode, to_slot } => udf_cli::xn::move_block(
                json,
                &at.image,
                &at.fs,
                (at.inode, at.slot.unwrap_or_default()),
                (to_inode, to_slot),
                at.opts(),
            ),
        },
        Cmd::Package { program, ctx_size, target, key, output } => {
            udf_cli::kernel::package_command(
                json,
                program.args(),
                udf_cli::kernel::PackageOptions {
                    ctx_size,
                    target: &target,
                    key: key.as_deref(),
                    output: &output,
                },
            )
            .map(|_| true)
        }
        Cmd::Kernel { cmd: KernelCmd::Load { package, key, require_tag, data } } => {
            udf_cli::kernel::load(json, &package, key.as_deref(), require_tag, &data).map(|_| true)
        }
        Cmd::Kernel {
            cmd: KernelCmd::Boot { image, package, key, inputs, test_native_code, repeat },
        } => udf_cli::boot::boot(
            json,
            udf_cli::boot::BootArgs {
                image: &image,
                package: &package,
                key: key.as_deref(),
                inputs: &inputs,
                test_native_code: test_native_code.as_deref(),
                repeat,
            },
        )
        .map(|_| true),
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
