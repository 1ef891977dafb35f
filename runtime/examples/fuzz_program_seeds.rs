//! Writes starting corpora for the program fuzz targets `verify_then_check` and `jit_diff`
//! (they read the same format, `udf_runtime::fuzzing::Case`): N generated cases each
//! (structured programs of all four verified types, seeds 0..N; default 256).
//!
//! ```text
//! cargo run -p udf-runtime --features fuzzing --example fuzz_program_seeds -- fuzz/corpus 256
//! ```

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let root = std::path::PathBuf::from(args.next().unwrap_or("fuzz/corpus".into()));
    let n: u64 = match args.next() {
        Some(s) => s.parse().map_err(std::io::Error::other)?,
        None => 256,
    };
    for target in ["verify_then_check", "jit_diff"] {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for seed in 0..n {
            let data = udf_runtime::fuzzing::generated_case(seed);
            std::fs::write(dir.join(format!("gen-{seed:05}")), data)?;
        }
    }
    println!("{n} seeds each in {}/{{verify_then_check,jit_diff}}", root.display());
    Ok(())
}
