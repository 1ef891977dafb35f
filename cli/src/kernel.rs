//! `udf package` and `udf kernel load`: the toolchain's and the kernel's ends of the download
//! path ([`udf_kernel_glue`]). Packaging verifies the program, compiles trusted native code for
//! the target, adds the source map of `.udf` input and signs; loading does what a kernel does
//! (authenticate, parse, re-verify, install) and runs the program once, printing as `udf run`.

use std::path::Path;

use miette::miette;
use serde_json::json;
use udf_bytecode::ProgramType;
use udf_bytecode::progtype::CtxSize;
use udf_kernel_glue::package::{NativeMode, NativeSection, SourceSpan};
use udf_kernel_glue::{LoadError, Package, Policy, Table, Target};
use udf_runtime::Vm;

use crate::input::{Failure, Loaded, ProgramArgs, read};
use crate::verify;

/// What `udf package` takes besides the program.
#[derive(Clone, Copy, Debug)]
pub struct PackageOptions<'a> {
    /// `--ctx-size`: the metadata object's size (else the `.udf` entry point's).
    pub ctx_size: Option<u32>,
    /// `--target`: none, x86_64, aarch64 or riscv64.
    pub target: &'a str,
    /// `--key`: the file holding the signing key.
    pub key: Option<&'a Path>,
    /// `-o`: where to write the package.
    pub output: &'a Path,
}

/// Reads a key file: its raw bytes, which may not be empty.
pub(crate) fn read_key(path: &Path) -> Result<Vec<u8>, Failure> {
    let key = read(path)?;
    if key.is_empty() {
        return Err(Failure::usage(miette!(code = "udf::key", "{}: an empty key", path.display())));
    }
    Ok(key)
}

/// The package's name: the entry point's, else the file stem with every character outside
/// `[A-Za-z0-9_.-]` made `_`, at most 64 bytes.
fn package_name(input: &Path, loaded: &Loaded) -> String {
    if let Some(n) = loaded.name() {
        return n.to_string();
    }
    let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '_' })
        .take(udf_kernel_glue::package::MAX_NAME_LEN)
        .collect();
    if name.is_empty() { "program".to_string() } else { name }
}

/// The source map of `.udf` input: 1-based line and column of each instruction's span; of C
/// input: each instruction's C line and column (0 where BTF has none).
fn source_map(loaded: &Loaded) -> Option<Vec<SourceSpan>> {
    if let Some(c) = &loaded.c {
        let has_lines = c.lines.iter().any(Option::is_some);
        let spans = c.lines.iter().map(|l| {
            let (line, col) = l.as_ref().map_or((0, 0), |l| (l.line, l.col));
            SourceSpan { start_line: line, start_col: col, end_line: line, end_col: col }
        });
        return has_lines.then(|| spans.collect());
    }
    let (entry, src) = (loaded.entry.as_ref()?, loaded.src.as_deref()?);
    let at = |offset: u32| {
        let (line, col) = udf_compiler::srcmap::line_col(src, offset as usize);
        (u32::try_from(line).unwrap_or(u32::MAX), u32::try_from(col).unwrap_or(u32::MAX))
    };
    let spans: Vec<SourceSpan> = entry
        .map
        .spans
        .iter()
        .map(|s| {
            let (start_line, start_col) = at(s.start);
            let (end_line, end_col) = at(s.end);
            SourceSpan { start_line, start_col, end_line, end_col }
        })
        .collect();
    (spans.len() == loaded.prog.len()).then_some(spans)
}

/// `udf package`: verifies `loaded` as a `ty` program, compiles trusted native code for the
/// target, and writes the package (signed with `--key`).
pub fn package(
    json: bool,
    input: &Path,
    loaded: &Loaded,
    ty: ProgramType,
    opts: PackageOptions<'_>,
) -> Result<(), Failure> {
    let usage = |msg: String| Failure::usage(miette!(code = "udf::usage", "{msg}"));
    // `none`: a bytecode package.
    let target = match opts.target {
        "none" => None,
        name => Some(Target::parse(name).ok_or_else(|| {
            usage(format!("--target {name}: expected none, x86_64, aarch64 or riscv64"))
        })?),
    };
    if !ty.info().verified {
        return Err(usage(format!(
            "`{ty}` programs cannot be packaged (a kernel installs verified types only)"
        )));
    }
    let ctx_size = opts.ctx_size.or(loaded.ctx_size(ty));
    if ctx_size.is_some() && ty.info().ctx.size == CtxSize::Variable {
        return Err(usage(format!("--ctx-size: a {ty} program's context has no template")));
    }
    if ctx_size == Some(udf_kernel_glue::package::NO_CTX_SIZE) {
        return Err(usage(format!("--ctx-size {}: too large for a package", u32::MAX)));
    }
    let key = opts.key.map(read_key).transpose()?;
    let conf = verify::config(ty, ctx_size, udf_verifier::DEFAULT_BUDGET);
    let facts = udf_verifier::verify(&loaded.prog, &conf)
        .map_err(|e| Failure::refused(verify::report(input, loaded, &e)))?;
    let native = match target {
        None => None,
        Some(t) => {
            let jit_err = |e: udf_jit::JitError| {
                Failure::refused(miette!(code = "udf::jit", "{}: {e}", input.display()))
            };
            let mut jit = udf_jit::Jit::new(t).map_err(jit_err)?;
            let code =
                jit.compile(&loaded.prog, ty, udf_jit::Mode::Trusted(&facts)).map_err(jit_err)?;
            Some(NativeSection {
                mode: NativeMode::Trusted,
                regions: code.regions().to_vec(),
                code: code.bytes().to_vec(),
            })
        }
    };
    let name = package_name(input, loaded);
    let mut pkg = Package::new(&name, &facts, target, native);
    pkg.source_map = source_map(loaded);
    if let Some(k) = &key {
        pkg.sign(k).map_err(|e| Failure::usage(miette!(code = "udf::key", "{e}")))?;
    }
    let bytes = pkg.to_bytes();
    // The writer and the reader agree (a kernel would refuse anything else).
    Package::parse(&bytes).map_err(|e| {
        Failure::refused(miette!(
            code = "udf::package",
            "{}: the package does not read back: {e}",
            input.display()
        ))
    })?;
    std::fs::write(opts.output, &bytes).map_err(|e| {
        Failure::usage(miette!(code = "udf::io", "cannot write {}: {e}", opts.output.display()))
    })?;
    let native_len = pkg.native.as_ref().map_or(0, |n| n.code.len());
    if json {
        crate::output::emit(json!({
            "output": opts.output.display().to_string(),
            "name": pkg.name,
            "type": ty.name(),
            "ctx_size": ctx_size,
            "target": target.map_or("none", Target::name),
            "instructions": loaded.prog.len(),
            "native_bytes": native_len,
            "source_map": pkg.source_map.is_some(),
            "signed": pkg.tag.is_some(),
            "bytes": bytes.len(),
        }));
    } else {
        let native = if pkg.native.is_some() {
            let target = target.map_or("none", Target::name);
            format!(", {native_len} bytes of {target} code")
        } else {
            String::new()
        };
        eprintln!(
            "{}: `{}` ({ty}), {} instructions{native}{}, {}, {} bytes",
            opts.output.display(),
            pkg.name,
            loaded.prog.len(),
            if pkg.source_map.is_some() { ", source map" } else { "" },
            if pkg.tag.is_some() { "signed" } else { "unsigned" },
            bytes.len()
        );
    }
    Ok(())
}

/// `udf kernel load`: installs the package as a kernel would (authenticated with `--key` when
/// given; unauthenticated bytecode accepted unless `require_tag`, the loader's
/// [`Policy::require_tag`]), runs it once on `data` and prints the result as `udf run` does;
/// says on stderr whether it ran native or interpreted. A refused package exits 1 with the
/// loader's typed error (`udf::kernel::untagged` for a package without the tag the policy
/// requires).
pub fn load(
    json: bool,
    pkg: &Path,
    key: Option<&Path>,
    require_tag: bool,
    data: &Path,
) -> Result<(), Failure> {
    let bytes = read(pkg)?;
    let key = key.map(read_key).transpose()?;
    let input = read(data)?;
    let policy =
        if require_tag { Policy::require_tag(key) } else { Policy::allow_untagged_bytecode(key) };
    let mut table = Table::new();
    // What `udf kernel load` prints must not depend on whether a workspace build unified
    // kernel-glue's `jit` feature into this binary: a package without native code this host
    // maps runs on the interpreter, as in the bare-metal kernel (`udf kernel boot`).
    table.set_kernel_jit(false);
    let id = table.load(&bytes, &policy).map_err(|e| match e {
        LoadError::Unauthenticated => Failure::refused(miette!(
            code = "udf::kernel::untagged",
            "{}: refused: {e} (--require-tag)",
            pkg.display()
        )),
        e => {
            Failure::refused(miette!(code = "udf::kernel::load", "{}: refused: {e}", pkg.display()))
        }
    })?;
    let (Some(prog), Some(engine)) = (table.get(id), table.engine(id)) else {
        return Err(Failure::refused(miette!(
            code = "udf::kernel::load",
            "{}: installed, then not found",
            pkg.display()
        )));
    };
    // The same check as `udf run`'s, with the same message.
    verify::check_input_size(prog.ty(), prog.ctx_size(), Some(prog.name()), data, input.len())?;
    let run = prog.invoke(&mut Vm::new(), &input, input.len() as u64).map_err(|e| {
        Failure::refused(miette!(code = "udf::kernel::run", "{}: {e}", data.display()))
    })?;
    let how = if engine.is_native() { "native" } else { "interpreted" };
    eprintln!("{}: `{}` ({}) runs {engine}", pkg.display(), prog.name(), prog.ty());
    crate::exec::print_run(
        json,
        run.r0,
        &run.extents,
        &[
            ("engine", how.into()),
            ("detail", engine.to_string().into()),
            ("name", prog.name().into()),
        ],
    );
    Ok(())
}

/// `udf package`: the program and its type as for `udf verify`, then [`package`].
pub fn package_command(
    json: bool,
    program: ProgramArgs<'_>,
    opts: crate::kernel::PackageOptions<'_>,
) -> Result<(), Failure> {
    let input = program.path;
    let (loaded, ty) = program.load(None)?;
    package(json, input, &loaded, ty, opts)
}
