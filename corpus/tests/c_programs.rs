//! The C programs of `corpus/c` (issue 16), each built with clang for eBPF at every `-mcpu` from
//! v1 to v4, loaded with `udf_compiler::elf::load`, verified as the type its section names and,
//! when accepted, run on the interpreter and on trusted and hardened JIT code (every input), and
//! in the checking mode, which compares every step with the verifier's recorded states (a sample
//! of the inputs, see [`CHECKED_STEPS`]). Every run must give the `r0` and the extents, in order,
//! that the same C built natively with gcc (`corpus/c/driver.c`, with AddressSanitizer and UBSan,
//! so a C bug is a crash and not an answer) gives for the same bytes. A safe program the verifier
//! rejects is a failure; it is still run unverified on the interpreter, to tell a precision gap
//! from a real fault.
//!
//! Inputs: for filters, the Ethernet packets of the libpcap captures in
//! `shared/testdata/libpcap/captures` (beside the repository), crafted packets
//! for each feature the filters parse cut at every captured length, and mutations of them; for
//! `owns`/`acl`/`size`, crafted objects, mutations and random ones (fixed seed). The inputs must
//! exercise each program (a filter accepts some and drops some, and so on).
//!
//! The fixtures marked `/* UNSAFE */` must be rejected, the rejected instruction's line (from
//! `.BTF.ext` line info) must be the marked line, and run unverified the program must fault on
//! some input (the witness that the rejection is right).
//!
//! The compilers are `$UDF_CLANG` (default `clang-19`) and `$UDF_GCC` (default `gcc`); when
//! either cannot run, the test fails: nothing is skipped. A table of fixture × mcpu × verdict is
//! printed (`-- --nocapture`, and in the failure message); all failures are collected before the
//! test fails.

mod cinputs;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use cinputs::{Input, Rng};
use udf_bytecode::ProgramType;
use udf_runtime::{Context, Extent, RunOptions, Runnable, TypeHelpers, Vm};
use udf_verifier::Config;

const MCPUS: [&str; 4] = ["v1", "v2", "v3", "v4"];

/// The instruction budget of unverified runs of the unsafe programs (a loop that never ends
/// faults when it runs out).
const UNSAFE_BUDGET: u64 = 10_000;

/// The checking mode (slow: it compares every step with the recorded states) runs on every
/// `k`-th input, `k` chosen so that the inputs times the instruction bound stay below this.
const CHECKED_STEPS: u64 = 500_000;

/// What a run gives: `r0` and the extents in order.
type Result0 = (u64, Vec<(u64, u64, u32)>);

/// One C file of `corpus/c`.
struct Fixture {
    /// The file name without `.c`.
    stem: String,
    path: PathBuf,
    /// The section (the program type).
    ty: ProgramType,
    /// The entry function.
    entry: String,
    /// Object sizes declared by a `ctx-size: N...` comment (for entries taking bytes, not a
    /// struct whose size BTF gives).
    sizes: Vec<u32>,
    /// Lines (1-based) ending in `/* UNSAFE */`: the program must be rejected at one of them.
    unsafe_lines: Vec<u32>,
}

impl Fixture {
    fn is_unsafe(&self) -> bool {
        !self.unsafe_lines.is_empty()
    }
}

fn c_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("c")
}

/// The libpcap captures (`shared/` beside the repository, as the other suites find it).
fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/libpcap/captures")
}

/// The fixtures: every `.c` file of `corpus/c` with a `SEC("...")` entry.
fn fixtures() -> Vec<Fixture> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(c_dir())
        .expect("corpus/c")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "c"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let src = std::fs::read_to_string(&path).unwrap();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let lines: Vec<&str> = src.lines().collect();
        let Some(at) = lines.iter().position(|l| l.trim_start().starts_with("SEC(\"")) else {
            continue; // the driver
        };
        let sec = lines[at].split('"').nth(1).expect("SEC(\"name\")");
        let ty: ProgramType =
            sec.parse().unwrap_or_else(|_| panic!("{stem}: section `{sec}` is not a program type"));
        let head = lines[at + 1];
        let entry = head[..head.find('(').expect("entry signature on the line after SEC")]
            .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap()
            .to_string();
        let sizes = src
            .lines()
            .find_map(|l| l.split_once("ctx-size:").map(|(_, s)| s.to_string()))
            .map(|s| s.split_whitespace().map_while(|w| w.parse::<u32>().ok()).collect())
            .unwrap_or_default();
        let unsafe_lines = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.trim_end().ends_with("/* UNSAFE */"))
            .map(|(k, _)| k as u32 + 1)
            .collect();
        out.push(Fixture { stem, path, ty, entry, sizes, unsafe_lines });
    }
    out
}

/// The command to run for `var` (default `default`), checked to run at all: the test fails
/// when it cannot.
fn tool(var: &str, default: &str) -> String {
    let cmd = std::env::var(var).unwrap_or_else(|_| default.to_string());
    match Command::new(&cmd).arg("--version").output() {
        Ok(o) if o.status.success() => cmd,
        Ok(o) => panic!(
            "`{cmd} --version` failed ({}): {} (set {var})",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("cannot run `{cmd}` ({e}): install it or set {var}"),
    }
}

fn run_cmd(cmd: &mut Command) -> Result<Vec<u8>, String> {
    let o = cmd.output().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if o.status.success() {
        Ok(o.stdout)
    } else {
        Err(format!(
            "{cmd:?} failed ({}):\n{}{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ))
    }
}

/// The eBPF object of `f` for `-mcpu=mcpu`.
fn clang(clang: &str, f: &Fixture, mcpu: &str, out: &Path) -> Result<Vec<u8>, String> {
    let obj = out.join(format!("{}.{mcpu}.o", f.stem));
    run_cmd(
        Command::new(clang)
            .args(["-target", "bpf", "-O2", "-g", "-Wall", "-Werror"])
            .arg(format!("-mcpu={mcpu}"))
            .arg("-c")
            .arg(&f.path)
            .arg("-o")
            .arg(&obj),
    )?;
    std::fs::read(&obj).map_err(|e| format!("{}: {e}", obj.display()))
}

/// The native oracle of `f`: `driver.c` with `f` included, sanitizers on.
fn gcc(gcc: &str, f: &Fixture, out: &Path) -> Result<PathBuf, String> {
    let exe = out.join(format!("{}.native", f.stem));
    let mut cmd = Command::new(gcc);
    cmd.args(["-O2", "-g", "-Wall", "-Werror", "-Wno-unknown-pragmas"])
        .args(["-fsanitize=address,undefined", "-fno-sanitize-recover=all"])
        .arg("-DUDF_NATIVE")
        .arg(format!("-DUDF_FIXTURE=\"{}\"", f.path.display()))
        .arg(format!("-DUDF_ENTRY={}", f.entry))
        .arg(format!("-I{}", c_dir().display()));
    if f.ty == ProgramType::Filter {
        cmd.arg("-DUDF_FILTER");
    }
    cmd.arg(c_dir().join("driver.c")).arg("-o").arg(&exe);
    run_cmd(&mut cmd)?;
    Ok(exe)
}

/// What the oracle prints for each input (its batch mode).
fn oracle(exe: &Path, inputs: &[Input], dir: &Path) -> Result<Vec<Result0>, String> {
    let mut batch = Vec::new();
    for i in inputs {
        batch.extend_from_slice(&(i.bytes.len() as u64).to_le_bytes());
        batch.extend_from_slice(&i.wire.to_le_bytes());
        batch.extend_from_slice(&i.bytes);
    }
    let file = dir.join(format!("{}.batch", exe.file_name().unwrap().to_string_lossy()));
    std::fs::write(&file, &batch).unwrap();
    let out =
        run_cmd(Command::new(exe).env("ASAN_OPTIONS", "detect_leaks=0").arg("--batch").arg(&file))?;
    let text = String::from_utf8(out).map_err(|e| e.to_string())?;
    let mut results = Vec::new();
    let mut cur: Option<Result0> = None;
    for line in text.lines() {
        if line == "--" {
            results.push(cur.take().ok_or("oracle: `--` without `r0 =`")?);
        } else if let Some(v) = line.strip_prefix("r0 = ") {
            cur = Some((v.parse().map_err(|e| format!("oracle r0 `{v}`: {e}"))?, Vec::new()));
        } else if let Some(e) = line.strip_prefix("extent ") {
            let w: Vec<&str> = e.split(' ').collect();
            let (Some(c), [s, n, k]) = (cur.as_mut(), w.as_slice()) else {
                return Err(format!("oracle: bad line `{line}`"));
            };
            c.1.push((s.parse().unwrap(), n.parse().unwrap(), k.parse().unwrap()));
        } else {
            return Err(format!("oracle: unexpected line `{line}`"));
        }
    }
    if results.len() != inputs.len() {
        return Err(format!("oracle gave {} results for {} inputs", results.len(), inputs.len()));
    }
    Ok(results)
}

fn extents(e: &[Extent]) -> Vec<(u64, u64, u32)> {
    e.iter().map(|x| (x.start, x.count, x.kind)).collect()
}

/// A run of `code` (the interpreter's form or JIT code, named `engine` in errors) with the
/// type's helper table; `Err` for a fault.
fn run_on(
    vm: &mut Vm,
    code: Runnable<'_>,
    engine: &str,
    ty: ProgramType,
    i: &Input,
    budget: u64,
    max_extents: u64,
) -> Result<Result0, String> {
    let mut helpers = TypeHelpers::new(ty, usize::try_from(max_extents).unwrap_or(usize::MAX));
    let opts = RunOptions { budget, r3: i.wire };
    let out = code
        .run(vm, Context::ReadOnly(&i.bytes), helpers.table(), &opts)
        .map_err(|f| format!("{engine} fault: {f}"))?;
    Ok((out.r0, extents(helpers.extents())))
}

/// [`run_on`] the interpreter.
fn interp(
    vm: &mut Vm,
    compiled: &udf_runtime::Compiled,
    ty: ProgramType,
    i: &Input,
    budget: u64,
    max_extents: u64,
) -> Result<Result0, String> {
    run_on(vm, Runnable::Interp(compiled), "interpreter", ty, i, budget, max_extents)
}

/// The inputs of a fixture whose contexts are `len` bytes (`None`: a filter, any length).
struct Inputs {
    packets: Vec<Input>,
    objects: HashMap<(String, usize), Vec<Input>>,
}

impl Inputs {
    fn get(&mut self, f: &Fixture, len: Option<usize>) -> &[Input] {
        match len {
            None => &self.packets,
            Some(len) => self.objects.entry((f.stem.clone(), len)).or_insert_with(|| {
                let mut rng = Rng::new(0x5eed ^ len as u64 ^ f.stem.len() as u64);
                // Fewer for large objects (each run walks them whole).
                let mutants = (150_000 / len.max(1)).clamp(60, 600);
                cinputs::objects(&f.stem, len, mutants, mutants / 2, &mut rng)
            }),
        }
    }
}

/// One line of the table.
struct Row {
    fixture: String,
    mcpu: &'static str,
    size: String,
    verdict: String,
}

/// Where instruction `index` came from, as `file:line:col` and the line's text.
fn located(c: &udf_compiler::elf::CProgram, index: usize) -> (Option<u32>, String) {
    match c.lines.get(index).and_then(|l| l.as_ref()) {
        Some(l) => (
            Some(l.line),
            format!("{}:{}:{} `{}`", l.file, l.line, l.col, l.text.as_deref().unwrap_or("").trim()),
        ),
        None => (None, "no line info".to_string()),
    }
}

#[test]
fn c_programs_match_gcc_on_every_engine() {
    let clang_cmd = tool("UDF_CLANG", "clang-19");
    let gcc_cmd = tool("UDF_GCC", "gcc");
    let fixtures = fixtures();
    for ty in [ProgramType::Filter, ProgramType::Owns, ProgramType::Acl, ProgramType::Size] {
        assert!(
            fixtures.iter().any(|f| f.ty == ty && !f.is_unsafe()),
            "corpus/c has no {ty} program"
        );
    }
    assert!(
        fixtures.iter().filter(|f| f.is_unsafe()).count() >= 3,
        "corpus/c has fewer than 3 programs marked /* UNSAFE */"
    );
    let tmp = udf_corpus::TempDir::new("cprog").unwrap();
    let dir = tmp.path();

    let captures = captures_dir();
    let mut rng = Rng::new(16);
    let mut inputs =
        Inputs { packets: cinputs::packets(&captures, 1500, &mut rng), objects: HashMap::new() };
    let captured = inputs.packets.iter().filter(|i| i.what.contains(".pcap")).count();
    assert!(captured >= 50, "only {captured} packets read from {}", captures.display());
    println!(
        "{} packets ({} from captures in {}); per object fixture 600 mutated and 300 random objects (fewer for objects over 256 bytes)",
        inputs.packets.len(),
        captured,
        captures.display()
    );

    let target = udf_jit::Target::host().expect("the JIT supports this host");
    let mut jit = udf_jit::Jit::new(target).expect("a JIT for this host");
    let mut vm = Vm::new();
    let mut rows: Vec<Row> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut oracles: HashMap<(String, Option<usize>), Vec<Result0>> = HashMap::new();
    let mut runs = 0u64;

    for f in &fixtures {
        let exe = if f.is_unsafe() {
            None
        } else {
            match gcc(&gcc_cmd, f, dir) {
                Ok(e) => Some(e),
                Err(e) => {
                    failures.push(format!("{}: gcc: {e}", f.stem));
                    rows.push(Row {
                        fixture: f.stem.clone(),
                        mcpu: "-",
                        size: "-".into(),
                        verdict: "FAIL gcc build".into(),
                    });
                    continue;
                }
            }
        };
        for mcpu in MCPUS {
            let mut row = |size: String, verdict: String| {
                rows.push(Row { fixture: f.stem.clone(), mcpu, size, verdict })
            };
            let tag = format!("{} -mcpu={mcpu}", f.stem);
            let obj = match clang(&clang_cmd, f, mcpu, dir) {
                Ok(o) => o,
                Err(e) => {
                    failures.push(format!("{tag}: clang: {e}"));
                    row("-".into(), "FAIL clang".into());
                    continue;
                }
            };
            let c = match udf_compiler::elf::load(&obj, None) {
                Ok(c) => c,
                Err(e) => {
                    failures.push(format!("{tag}: elf::load: {e}"));
                    row("-".into(), format!("FAIL load: {e}"));
                    continue;
                }
            };
            if c.name != f.entry || c.ty != Some(f.ty) {
                failures.push(format!(
                    "{tag}: loaded `{}` of type {:?} from section `{}`, expected `{}` ({})",
                    c.name, c.ty, c.section, f.entry, f.ty
                ));
                row("-".into(), "FAIL entry/type".into());
                continue;
            }
            // The object sizes to verify for: the declared ones (the fixture's author knows
            // them), which the loader's size from BTF must match; else BTF's.
            let sizes: Vec<Option<u32>> = match (f.ty, c.object_size(f.ty)) {
                (ProgramType::Filter, _) => vec![None],
                (_, Some(n)) if f.sizes.is_empty() => vec![Some(n)],
                (_, Some(n)) => {
                    if !f.sizes.contains(&n) {
                        let msg = format!(
                            "the loader gives object size {n} (BTF), the object is {:?} bytes",
                            f.sizes
                        );
                        failures.push(format!("{tag}: {msg}"));
                        row(n.to_string(), format!("FAIL {msg}"));
                    }
                    f.sizes.iter().map(|&n| Some(n)).collect()
                }
                (_, None) if !f.sizes.is_empty() => f.sizes.iter().map(|&n| Some(n)).collect(),
                (_, None) => {
                    failures.push(format!(
                        "{tag}: no object size from BTF and none declared (`ctx-size:`)"
                    ));
                    row("-".into(), "FAIL no size".into());
                    continue;
                }
            };
            for size in sizes {
                let size_text = size.map_or("-".into(), |n| n.to_string());
                let mut conf = Config::new(f.ty);
                conf.ctx_size = size;
                let verdict = udf_verifier::verify(&c.prog, &conf);
                // The context length: the object, after the request for acl.
                let len = size.map(|n| n as usize + if f.ty == ProgramType::Acl { 16 } else { 0 });
                let verified = match (verdict, f.is_unsafe()) {
                    (Err(rej), true) => {
                        let (line, at) = located(&c, rej.index);
                        // The witness that the rejection is right: run unverified on the
                        // interpreter (every access checked, a budget), the program faults on
                        // some input of the set.
                        let compiled = udf_runtime::prepare(
                            &c.prog,
                            &udf_runtime::pre_run_checks(f.ty, false),
                        )
                        .expect("pre-run checks");
                        let ins = inputs.get(f, len);
                        let faults = ins
                            .iter()
                            .filter(|i| {
                                interp(&mut vm, &compiled, f.ty, i, UNSAFE_BUDGET, 1 << 20).is_err()
                            })
                            .count();
                        if faults == 0 {
                            failures.push(format!(
                                "{tag}: no input of {} makes the unsafe program fault: add a witness",
                                ins.len()
                            ));
                        }
                        if line.is_some_and(|l| f.unsafe_lines.contains(&l)) {
                            row(
                                size_text,
                                format!(
                                    "ok: rejected at {at}: {} (unverified, it faults on {faults} of {} inputs)",
                                    rej.rule,
                                    ins.len()
                                ),
                            );
                        } else {
                            failures.push(format!(
                                "{tag}: rejected at instruction {} ({at}), not at the /* UNSAFE */ line {:?}: {}",
                                rej.index, f.unsafe_lines, rej.rule
                            ));
                            row(size_text, format!("FAIL rejected elsewhere: {at}: {}", rej.rule));
                        }
                        continue;
                    }
                    (Ok(_), true) => {
                        failures.push(format!("{tag}: an unsafe program was ACCEPTED"));
                        row(size_text, "FAIL accepted".into());
                        continue;
                    }
                    (Err(rej), false) => {
                        let (_, at) = located(&c, rej.index);
                        let insn = c
                            .prog
                            .insns()
                            .get(rej.index)
                            .map(|i| i.to_string())
                            .unwrap_or_default();
                        let mut regs = String::new();
                        for (r, v) in &rej.regs {
                            let _ = write!(regs, " {r}={v}");
                        }
                        failures.push(format!(
                            "{tag} size {size_text}: REJECTED at instruction {} `{insn}` ({at}): {};{regs}",
                            rej.index, rej.rule
                        ));
                        // The program is still run unverified on the interpreter (every access
                        // checked), to tell a precision gap from a real fault.
                        let key = (f.stem.clone(), len);
                        let ins = inputs.get(f, len);
                        let expect = oracles.entry(key).or_insert_with(|| {
                            oracle(exe.as_ref().unwrap(), ins, dir)
                                .unwrap_or_else(|e| panic!("{}: oracle: {e}", f.stem))
                        });
                        let compiled = udf_runtime::prepare(
                            &c.prog,
                            &udf_runtime::pre_run_checks(f.ty, false),
                        )
                        .expect("pre-run checks");
                        let mut agree = 0;
                        let mut first_bad = None;
                        for (i, want) in ins.iter().zip(expect.iter()) {
                            match interp(&mut vm, &compiled, f.ty, i, 10_000_000, 1 << 20) {
                                Ok(got) if &got == want => agree += 1,
                                other => {
                                    first_bad.get_or_insert(format!(
                                        "{}: {other:?}, gcc {want:?}",
                                        i.what
                                    ));
                                }
                            }
                        }
                        let extra = match first_bad {
                            None => format!("unverified runs agree with gcc on all {agree}"),
                            Some(b) => {
                                failures.push(format!("{tag}: unverified run: {b}"));
                                format!("unverified runs DISAGREE: {b}")
                            }
                        };
                        row(size_text, format!("FAIL rejected at {at}: {} ({extra})", rej.rule));
                        continue;
                    }
                    (Ok(v), false) => v,
                };
                let mut rconf = conf.clone();
                rconf.record_states = true;
                let recorded = match udf_verifier::verify(&c.prog, &rconf) {
                    Ok(r) => r,
                    Err(e) => {
                        failures.push(format!(
                            "{tag}: accepted, but not when recording states: {}",
                            e.rule
                        ));
                        row(size_text, "FAIL recording".into());
                        continue;
                    }
                };
                let compiled =
                    udf_runtime::prepare(&c.prog, &udf_runtime::pre_run_checks(f.ty, true))
                        .expect("pre-run checks of a verified program");
                let mut jitted = Vec::new();
                for mode in [udf_jit::Mode::Trusted(&verified), udf_jit::Mode::Hardened(&verified)]
                {
                    match jit.compile(&c.prog, f.ty, mode) {
                        Ok(code) => {
                            jitted.push(udf_jit::Executable::new(code).expect("map JIT code"))
                        }
                        Err(e) => {
                            failures.push(format!("{tag}: JIT: {e}"));
                            break;
                        }
                    }
                }
                let [trusted, hardened] = &jitted[..] else {
                    row(size_text, "FAIL jit".into());
                    continue;
                };
                let key = (f.stem.clone(), len);
                let ins = inputs.get(f, len);
                let expect = oracles.entry(key).or_insert_with(|| {
                    oracle(exe.as_ref().unwrap(), ins, dir)
                        .unwrap_or_else(|e| panic!("{}: oracle: {e}", f.stem))
                });
                let facts = verified.facts();
                let (budget, max_ext) = (facts.max_insns, facts.max_extents);
                let mut bad = Vec::new();
                let mut ran = 0;
                let mut checked = 0;
                let stride = (ins.len() as u64)
                    .saturating_mul(facts.max_insns.max(1))
                    .div_ceil(CHECKED_STEPS)
                    .max(1) as usize;
                for (n, (i, want)) in ins.iter().zip(expect.iter()).enumerate() {
                    if !facts.admits(i.bytes.len()) {
                        bad.push(format!(
                            "{}: length {} not admitted by the facts",
                            i.what,
                            i.bytes.len()
                        ));
                        continue;
                    }
                    ran += 1;
                    let a = interp(&mut vm, &compiled, f.ty, i, budget, max_ext);
                    let b = run_on(
                        &mut vm,
                        Runnable::Native(trusted.native()),
                        "JIT",
                        f.ty,
                        i,
                        budget,
                        max_ext,
                    );
                    let h = run_on(
                        &mut vm,
                        Runnable::Native(hardened.native()),
                        "JIT",
                        f.ty,
                        i,
                        budget,
                        max_ext,
                    );
                    let mut results =
                        vec![("interpreter", a), ("trusted JIT", b), ("hardened JIT", h)];
                    if n % stride == 0 {
                        checked += 1;
                        let k = udf_runtime::checking::run_checked(
                            &c.prog,
                            recorded.facts(),
                            f.ty,
                            &i.bytes,
                            i.wire,
                        )
                        .map(|r| (r.outcome.r0, extents(&r.extents)))
                        .map_err(|v| format!("checking mode: {v}"));
                        results.push(("checking mode", k));
                    }
                    for (engine, got) in results {
                        if got.as_ref() != Ok(want) {
                            bad.push(format!(
                                "{} ({} bytes): {engine} {got:?}, gcc {want:?}",
                                i.what,
                                i.bytes.len()
                            ));
                        }
                    }
                }
                runs += ran;
                if bad.is_empty() {
                    row(
                        size_text,
                        format!(
                            "ok: accepted ({} insns, bound {}), {ran} inputs agree on 3 engines, {checked} in checking mode",
                            c.prog.len(),
                            facts.max_insns
                        ),
                    );
                } else {
                    row(size_text, format!("FAIL {} of {ran} runs differ: {}", bad.len(), bad[0]));
                    for b in bad.iter().take(5) {
                        failures.push(format!("{tag}: {b}"));
                    }
                }
            }
        }
        // The inputs must exercise the program, as the gcc build runs them: a filter accepts
        // some and drops some, an acl allows some and denies some, an owns program emits on
        // some, and every program gives at least two different results.
        for ((stem, len), results) in &oracles {
            if stem != &f.stem {
                continue;
            }
            let mut distinct = results.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let some_zero = results.iter().any(|r| r.0 == 0);
            let some_nonzero = results.iter().any(|r| r.0 != 0);
            let emits = results.iter().any(|r| !r.1.is_empty());
            let exercised = distinct.len() >= 2
                && match f.ty {
                    ProgramType::Filter | ProgramType::Acl => some_zero && some_nonzero,
                    ProgramType::Owns => emits,
                    _ => true,
                };
            if !exercised {
                failures.push(format!(
                    "{stem} ({len:?} bytes): the inputs do not exercise it: {} different results, r0 = 0 on some: {some_zero}, r0 != 0 on some: {some_nonzero}, extents on some: {emits}",
                    distinct.len()
                ));
            }
        }
    }

    let w = rows.iter().map(|r| r.fixture.len()).max().unwrap_or(8);
    let mut table = format!("{:w$}  mcpu  size  verdict\n", "fixture");
    for r in &rows {
        let _ = writeln!(table, "{:w$}  {:4}  {:>4}  {}", r.fixture, r.mcpu, r.size, r.verdict);
    }
    println!("{table}");
    println!(
        "{runs} inputs run (each on the interpreter, trusted and hardened JIT code; a sample in the checking mode)"
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}\n\n{table}",
        failures.len(),
        failures.join("\n")
    );
}
