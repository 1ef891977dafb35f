//! Red team against the precision work of branch h-prec (1288269, 9d31efc, e5ac36c): narrow
//! stack spills that keep the stored number, signed/unsigned range sync across the sign
//! boundaries, a register compared with itself, and the signed range of the low 32 bits.
//!
//! A targeted random campaign: straight-line programs (forward jumps only) made of exactly the
//! instructions those changes are about (1/2/4/8-byte stores and loads, zero- and
//! sign-extending, over spilled pointers and numbers; `movsx` of every width; 32- and 64-bit
//! ALU with constants at the sign boundaries; jumps of both widths with a register compared
//! with itself, with `jset` on constants 0 and sign bits; stack atomics), ending in context and
//! stack accesses through computed offsets; a quarter of the bodies run twice in a loop, a
//! quarter call a function writing into the caller's frame. Every accepted program runs on the checking
//! interpreter on inputs biased to the edge bytes (0, 1, 0x7f, 0x80, 0xfe, 0xff): every
//! register is held to its recorded abstract value (intervals, known bits and the 32-bit
//! signed view), every access to its proven region, every stack read to written bytes.
//!
//! `UDF_RED_PREC_PROGRAMS=N` sets the number of generated programs (default 1500 in debug,
//! 20000 in release).

use udf_bytecode::rng::Rng;
use udf_bytecode::{Program, ProgramType, assemble};
use udf_runtime::checking::run_checked;
use udf_verifier::{Config, verify};

fn conf() -> Config {
    let mut c = Config::new(ProgramType::Filter);
    c.record_states = true;
    c
}

const IMMS: [i64; 22] = [
    0,
    1,
    -1,
    2,
    7,
    8,
    31,
    32,
    63,
    0x7f,
    0x80,
    0xff,
    -0x80,
    0x7fff,
    0x8000,
    -0x8000,
    0xffff,
    0x7fff_ffff,
    -0x8000_0000,
    0x7fff_ff80,
    -0x7fff_ff80,
    0x1_0000,
];

const WIDE: [u64; 8] = [
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    0xffff_ffff_8000_0000,
    0x0000_0001_7fff_ff80,
];

/// Registers the body computes with (r1 is the context, r2 the length, r10 the frame).
const REGS: [u8; 7] = [3, 4, 5, 6, 7, 8, 9];

/// A body register; `r9` only where it is not a loop counter.
fn reg(rng: &mut Rng, looped: bool) -> u8 {
    if looped { rng.pick(&REGS[..6]) } else { rng.pick(&REGS) }
}

fn width(rng: &mut Rng) -> &'static str {
    if rng.chance(1, 2) { "32" } else { "" }
}

/// A stack offset in the two highest slots (-16..-1), mostly aligned to the size.
fn off(rng: &mut Rng, size: u64) -> i64 {
    if rng.chance(3, 4) {
        // Aligned to the size.
        -(((rng.below(16 / size) + 1) * size) as i64)
    } else {
        -(rng.below(16 - size + 1) as i64 + size as i64)
    }
}

fn sfx(size: u64) -> &'static str {
    match size {
        1 => "b",
        2 => "h",
        4 => "w",
        _ => "dw",
    }
}

/// One generated program's text.
fn program(rng: &mut Rng) -> String {
    let mut s = String::new();
    s.push_str("mov %r0, 0\njlt %r2, 16, out\n");
    // Inputs: packet bytes of each width, the length, constants at the boundaries.
    for &r in &REGS {
        match rng.below(7) {
            0 => s.push_str(&format!("ldxb %r{r}, [%r1+{}]\n", rng.below(8))),
            1 => s.push_str(&format!("ldxh %r{r}, [%r1+{}]\n", rng.below(8))),
            2 => s.push_str(&format!("ldxw %r{r}, [%r1+{}]\n", rng.below(8))),
            3 => s.push_str(&format!("ldxdw %r{r}, [%r1+{}]\n", rng.below(8))),
            4 => s.push_str(&format!("mov %r{r}, %r2\n")),
            5 => s.push_str(&format!("lddw %r{r}, {:#x}\n", rng.pick(&WIDE))),
            _ => s.push_str(&format!("mov %r{r}, {}\n", rng.pick(&IMMS))),
        }
        // Shift a byte to a boundary: `x + c` crossing 2^31, 2^63, 0.
        if rng.chance(1, 3) {
            let op = rng.pick(&["add", "sub", "xor", "or"]);
            s.push_str(&format!("{op}{} %r{r}, {}\n", width(rng), rng.pick(&IMMS)));
        }
    }
    if rng.chance(7, 8) {
        s.push_str("stdw [%r10-8], 0\nstdw [%r10-16], 0\n");
    }
    // A quarter of the bodies run twice, counted by r9 (joins at the loop head of spills and
    // ranges from the first round with the second's).
    let looped = rng.chance(1, 4);
    // A quarter of the programs call a function `f` given r10 - 16 (the caller's two slots):
    // the context pointer waits at r10 - 24 meanwhile.
    let called = rng.chance(1, 4);
    if called {
        s.push_str("stxdw [%r10-24], %r1\n");
    }
    if looped {
        s.push_str("mov %r9, 0\n");
    }
    let n = 6 + rng.below(20) as usize;
    for k in 0..n {
        s.push_str(&format!("l{k}:\n"));
        let a = reg(rng, looped);
        let b = reg(rng, looped);
        if called && rng.chance(1, 6) {
            s.push_str(
                "mov %r1, %r10\nsub %r1, 16\ncall local f\nldxdw %r1, [%r10-24]\n\
                 mov %r3, 0\nmov %r4, 1\nmov %r5, -1\n",
            );
            continue;
        }
        match rng.below(16) {
            0 | 1 => {
                let op = rng
                    .pick(&["add", "sub", "and", "or", "xor", "lsh", "rsh", "arsh", "mov", "mul"]);
                let src = if rng.chance(1, 2) {
                    format!("%r{b}")
                } else {
                    format!("{}", rng.pick(&IMMS))
                };
                s.push_str(&format!("{op}{} %r{a}, {src}\n", width(rng)));
            }
            2 | 3 => {
                let m = rng.pick(&["movsx864", "movsx832", "movsx1664", "movsx1632", "movsx3264"]);
                s.push_str(&format!("{m} %r{a}, %r{b}\n"));
            }
            4 => s.push_str(&format!("neg{} %r{a}\n", width(rng))),
            5..=7 => {
                // A store: a number, a pointer (whole), or an immediate.
                let size = rng.pick(&[1u64, 2, 4, 8]);
                let o = off(rng, size);
                match rng.below(10) {
                    0 => s.push_str(&format!("stxdw [%r10{o}], %r{}\n", rng.pick(&[1, 10]))),
                    1..=3 => {
                        s.push_str(&format!("st{} [%r10{o}], {}\n", sfx(size), rng.pick(&IMMS)))
                    }
                    _ => s.push_str(&format!("stx{} [%r10{o}], %r{b}\n", sfx(size))),
                }
            }
            8..=10 => {
                let size = rng.pick(&[1u64, 2, 4, 8]);
                let o = off(rng, size);
                let signed = size < 8 && rng.chance(1, 2);
                let m = if signed { "ldxs" } else { "ldx" };
                s.push_str(&format!("{m}{} %r{a}, [%r10{o}]\n", sfx(size)));
            }
            11..=13 => {
                let cond = rng.pick(&[
                    "jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle",
                    "jset",
                ]);
                let src = match rng.below(3) {
                    0 => format!("%r{a}"),
                    1 => format!("%r{b}"),
                    _ => format!("{}", rng.pick(&IMMS)),
                };
                let t = k + 1 + rng.below((n - k) as u64) as usize;
                let t = if t >= n { "tail".to_string() } else { format!("l{t}") };
                s.push_str(&format!("{cond}{} %r{a}, {src}, {t}\n", width(rng)));
            }
            14 => {
                let op = rng.pick(&["add", "or", "and", "xor", "xchg", "cmpxchg"]);
                let w = width(rng);
                let size = if w == "32" { 4 } else { 8 };
                let o = -(((rng.below(2) + 1) * size) as i64);
                let fetch = if rng.chance(1, 2) { "fetch " } else { "" };
                s.push_str(&format!("lock {fetch}{op}{w} [%r10{o}], %r{b}\n"));
            }
            _ => {
                // Copy a register (names travel), or spill-fill round trip of one width.
                let size = rng.pick(&[1u64, 2, 4]);
                let o = off(rng, size);
                let m = if rng.chance(1, 2) { "ldxs" } else { "ldx" };
                s.push_str(&format!(
                    "stx{} [%r10{o}], %r{a}\n{m}{} %r{b}, [%r10{o}]\n",
                    sfx(size),
                    sfx(size)
                ));
            }
        }
    }
    s.push_str("tail:\n");
    if looped {
        s.push_str("add %r9, 1\njlt %r9, 2, l0\n");
    }
    // Use one register as a context offset or a stack offset (accepted only where the
    // verifier proved the bound).
    let a = reg(rng, false);
    let size = rng.pick(&[1u64, 2, 4, 8]);
    match rng.below(3) {
        0 => s.push_str(&format!("add %r1, %r{a}\nldx{} %r0, [%r1+0]\n", sfx(size))),
        1 => s.push_str(&format!("mov %r2, %r10\nadd %r2, %r{a}\nldxb %r0, [%r2-16]\n")),
        _ => s.push_str(&format!("mov %r0, %r{a}\n")),
    }
    s.push_str("out:\nexit\n");
    if called {
        s.push_str(&callee(rng));
    }
    s
}

/// A function writing and reading the caller's 16 bytes at `r1` (numbers of every width, its
/// own frame pointer, the caller's pointer) and its own frame.
fn callee(rng: &mut Rng) -> String {
    let mut s = String::from("f:\nmov %r0, 0\nstdw [%r10-8], 0\n");
    for _ in 0..1 + rng.below(5) {
        let size = rng.pick(&[1u64, 2, 4, 8]);
        let o = 16 + off(rng, size);
        match rng.below(6) {
            0 => s.push_str(&format!("st{} [%r1+{o}], {}\n", sfx(size), rng.pick(&IMMS))),
            1 => s.push_str(&format!("stx{} [%r1+{o}], %r0\n", sfx(size))),
            2 => s.push_str(&format!("stxdw [%r1+{}], %r{}\n", o & !7, rng.pick(&[1, 10]))),
            3 => s.push_str(&format!("ldx{} %r0, [%r1+{o}]\n", sfx(size))),
            4 => s.push_str(&format!("stx{} [%r10{}], %r0\n", sfx(size), off(rng, size) / 2 - 1)),
            _ => s.push_str(&format!("ldxs{} %r0, [%r10-8]\n", sfx(size.min(4)))),
        }
    }
    s.push_str("exit\n");
    s
}

/// Inputs of 16 to 40 bytes, biased to the edge bytes.
fn input(rng: &mut Rng) -> Vec<u8> {
    let len = 16 + rng.below(25) as usize;
    (0..len)
        .map(|_| match rng.below(8) {
            0 => 0,
            1 => 1,
            2 => 0x7f,
            3 => 0x80,
            4 => 0xfe,
            5 => 0xff,
            _ => rng.next_u64() as u8,
        })
        .collect()
}

fn campaign_size() -> u64 {
    let default = if cfg!(debug_assertions) { 1500 } else { 20_000 };
    std::env::var("UDF_RED_PREC_PROGRAMS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn targeted_campaign_accepted_programs_pass_the_checking_mode() {
    let total = campaign_size();
    let mut rng = Rng::new(0x9ec_5eed);
    let (mut accepted, mut runs) = (0u64, 0u64);
    let (mut accepted_calls, mut accepted_loops) = (0u64, 0u64);
    let mut failures: Vec<String> = Vec::new();
    let mut rejections = std::collections::BTreeMap::new();
    for _ in 0..total {
        let src = program(&mut rng);
        let p: Program = assemble(&src).unwrap_or_else(|e| panic!("{e:?}\n{src}"));
        let v = match verify(&p, &conf()) {
            Ok(v) => v,
            Err(e) => {
                *rejections.entry(e.rule.code()).or_insert(0u64) += 1;
                continue;
            }
        };
        accepted += 1;
        accepted_calls += u64::from(src.contains("call local"));
        accepted_loops += u64::from(src.contains("jlt %r9, 2, l0"));
        for _ in 0..24 {
            let inp = input(&mut rng);
            runs += 1;
            if let Err(e) = run_checked(&p, &v, ProgramType::Filter, &inp, inp.len() as u64) {
                failures.push(format!("{e}\ninput {inp:02x?}\n{src}"));
                break;
            }
        }
        if failures.len() >= 3 {
            break;
        }
    }
    eprintln!(
        "red_team_prec: {accepted} of {total} accepted ({accepted_calls} with calls, \
         {accepted_loops} with loops), {runs} checked runs; refused: {rejections:?}"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n----\n"));
    // The campaign is about accepted programs: enough of them.
    assert!(accepted * 10 >= total, "{accepted} of {total}");
    assert!(accepted_calls * 100 >= total && accepted_loops * 100 >= total);
}

/// The red-team `.asmt` cases (filetests/cases/verifier/red_*.asmt): `(name, text)`.
fn red_cases() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../filetests/cases/verifier");
    let mut v: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| {
            let p = e.ok()?.path();
            let name = p.file_name()?.to_str()?.to_owned();
            (name.starts_with("red_") && name.ends_with(".asmt"))
                .then(|| (name, std::fs::read_to_string(&p).expect("readable case")))
        })
        .collect();
    v.sort();
    v
}

/// The hex input of a `; run: hex ..` line or `N` zero bytes, and the r0 it expects.
fn run_line(line: &str) -> Option<(Vec<u8>, u64)> {
    let rest = line.trim().strip_prefix("; run:")?;
    let (input, r0) = rest.split_once("=> r0 =")?;
    let input = input.trim();
    let bytes = match input.strip_prefix("hex") {
        Some(h) => h.split_whitespace().map(|b| u8::from_str_radix(b, 16).expect("hex")).collect(),
        None => vec![0; input.parse().expect("length")],
    };
    let r0 = r0.trim();
    let r0 = match r0.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).expect("hex r0"),
        None => r0.parse().expect("r0"),
    };
    Some((bytes, r0))
}

/// Every red-team case gets its verdict (the `; refused:` rule, or accepted), and every
/// accepted one passes the checking interpreter on its own runs (with their r0) and on 400
/// more inputs of every admitted length up to 40 bytes, biased to the edge bytes.
#[test]
fn red_cases_verdicts_and_checked_runs() {
    let cases = red_cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut rng = Rng::new(0x9ec_ca5e);
    let mut problems = Vec::new();
    for (name, text) in &cases {
        // (The filetests runner reads `;` in a comment as an annotation.)
        assert!(
            !text.lines().any(|l| l.starts_with('#') && l.contains(';')),
            "{name}: `;` in a comment"
        );
        let src: String =
            text.lines().map(|l| l.split(';').next().unwrap_or("")).collect::<Vec<_>>().join("\n");
        let refused =
            text.lines().find_map(|l| l.split_once("; refused:").map(|(_, r)| r.trim().to_owned()));
        let p = assemble(&src).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        match (verify(&p, &conf()), refused) {
            (Err(e), Some(code)) if e.rule.code() == code => {}
            (Err(e), want) => problems.push(format!("{name}: refused {e}, expected {want:?}")),
            (Ok(_), Some(code)) => problems.push(format!("{name}: accepted, expected {code}")),
            (Ok(v), None) => {
                let mut inputs: Vec<(Vec<u8>, Option<u64>)> =
                    text.lines().filter_map(run_line).map(|(i, r)| (i, Some(r))).collect();
                assert!(!inputs.is_empty(), "{name}: an accepted case has runs");
                for k in 0..400 {
                    let mut i = input(&mut rng);
                    i.truncate(k % 41);
                    inputs.push((i, None));
                }
                for (i, want) in inputs {
                    if !v.admits(i.len()) {
                        continue;
                    }
                    match run_checked(&p, &v, ProgramType::Filter, &i, i.len() as u64) {
                        Ok(r) if want.is_none_or(|w| w == r.outcome.r0) => {}
                        Ok(r) => problems.push(format!(
                            "{name}: r0 = {:#x}, expected {want:#x?} on {i:02x?}",
                            r.outcome.r0
                        )),
                        Err(e) => problems.push(format!("{name}: {e} on {i:02x?}")),
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
