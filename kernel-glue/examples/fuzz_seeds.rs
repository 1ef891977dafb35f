//! Writes the fuzz targets' starting corpora: `cargo run -p udf-kernel-glue --features
//! fuzzing --example fuzz_seeds -- fuzz/corpus` (valid packages for `package_reader` and
//! `load_then_run`, operation sequences the hand-picked XN test uses for `xn_ops`).

fn main() -> std::io::Result<()> {
    let root = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or("fuzz/corpus".into()));
    for target in ["package_reader", "load_then_run"] {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for (i, p) in udf_kernel_glue::fuzzing::seed_packages().iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), p)?;
        }
    }
    let dir = root.join("xn_ops");
    std::fs::create_dir_all(&dir)?;
    let ops: [[u8; 8]; 4] = [
        [0, 3, 60, 0, 0, 0, 0, 0],
        [1, 6, 80, 0, 0, 0, 0, 0],
        [0, 3, 0, 0, 0, 2, 0, 0],
        [0, 6, 0, 0, 0, 2, 0, 0],
    ];
    std::fs::write(dir.join("seed-0"), ops.concat())?;
    Ok(())
}
