//! JIT compile time against program size: the verifier benchmark's branchy programs (a
//! forward branch every 8 instructions, context loads, spills and fills) of 100 to 100k
//! instructions, compiled in trusted mode by one reused [`Jit`] for x86-64. Verification is
//! done once beforehand and not timed.

use std::time::{Duration, Instant};

use udf_bytecode::ProgramType;
use udf_jit::{Jit, Mode, Target};
use udf_verifier::{Config, verify};

use crate::verify::{Shape, program};

/// Prints the table: size, best compile time, microseconds per instruction, code size, and
/// the growth against the next smaller size.
pub fn run(quick: bool, region_len: Option<usize>) {
    let mut conf = Config::new(ProgramType::Size);
    conf.ctx_size = Some(64);
    conf.budget = u64::MAX;
    let mut jit = Jit::new(Target::X86_64).expect("x86-64 backend");
    if let Some(r) = region_len {
        jit.options.region_len = r;
    }
    println!(
        "JIT compile time (trusted, x86-64, regions of {} instructions)\n",
        jit.options.region_len
    );
    println!(
        "| instructions | compile time | us / insn | code bytes | regions | time / previous |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let sizes: &[usize] = if quick { &[100, 1_000] } else { &[100, 1_000, 10_000, 100_000] };
    // Sizes are measured round-robin, the best of each kept, so the machine's drift (this VM's
    // speed swings by tens of percent over minutes) hits every size alike.
    let progs: Vec<_> = sizes
        .iter()
        .map(|&n| {
            let prog = program(n, true, Shape::Udfkit);
            let facts = verify(&prog, &conf).expect("benchmark programs verify");
            (n, prog, facts)
        })
        .collect();
    let mut best = vec![Duration::MAX; progs.len()];
    let mut codes = vec![None; progs.len()];
    let rounds = if quick { 2 } else { 12 };
    for _ in 0..rounds {
        for (k, (n, prog, facts)) in progs.iter().enumerate() {
            let reps = (20_000 / n).max(1);
            for _ in 0..reps {
                let t = Instant::now();
                let c = jit
                    .compile(prog, ProgramType::Size, Mode::Trusted(facts))
                    .expect("benchmark programs compile");
                best[k] = best[k].min(t.elapsed());
                codes[k] = Some(c);
            }
        }
    }
    let mut prev: Option<(usize, Duration)> = None;
    for (k, (n, _, _)) in progs.iter().enumerate() {
        let (n, best) = (*n, best[k]);
        let code = codes[k].as_ref().expect("compiled at least once");
        let growth = prev.map_or("-".to_string(), |(m, t)| {
            format!("{:.1}x for {}x the size", best.as_secs_f64() / t.as_secs_f64(), n / m)
        });
        println!(
            "| {n} | {:.3} ms | {:.2} | {} | {} | {growth} |",
            best.as_secs_f64() * 1e3,
            best.as_secs_f64() * 1e6 / n as f64,
            code.bytes().len(),
            code.regions().len(),
        );
        prev = Some((n, best));
    }
}
