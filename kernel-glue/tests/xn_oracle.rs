//! XN's fuzz oracle (`udf_kernel_glue::fuzzing_xn`) for a few seconds under `cargo test`: random
//! operations with random modifications on the oracle's small file system. A refused operation
//! must change nothing; after an accepted one XN's map must equal the map rebuilt from the
//! roots. The checked-in regression inputs of `fuzz/regressions/xn_ops/` run first.

use std::time::{Duration, Instant};

use udf_bytecode::rng::Rng;
use udf_kernel_glue::fuzzing_xn::{Fs, xn_ops};

#[test]
fn regressions_replay() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/xn_ops");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries {
            let path = e.unwrap().path();
            xn_ops(&std::fs::read(&path).unwrap());
        }
    }
}

#[test]
fn hand_picked_operations() {
    let mut fs = Fs::seeded();
    // Allocate block 60 into inode 0's slot 3 (data): accepted.
    assert!(fs.step([0, 3, 60, 0, 0, 0, 0, 0]));
    // The same again into slot 4: block 60 is in use now.
    assert!(!fs.step([0, 4, 60, 0, 0, 0, 0, 0]));
    // Allocate block 70 into slot 0, which holds 20: a pointer overwrite.
    assert!(!fs.step([0, 0, 70, 0, 0, 0, 0, 0]));
    // Allocate 70 into slot 5 claiming kind 1 (indirect): wrong kind.
    assert!(!fs.step([0, 5, 70, 0, 0x81, 0, 0, 0]));
    // Allocate 80 as inode 1's indirect block (slot 6): accepted, block 80 is empty.
    assert!(fs.step([1, 6, 80, 0, 0, 0, 0, 0]));
    // Free inode 0's indirect block 10: it still owns 30 and 31.
    assert!(!fs.step([0, 6, 0, 0, 0, 2, 0, 0]));
    // Free inode 0's slot 3 (block 60): accepted.
    assert!(fs.step([0, 3, 0, 0, 0, 2, 0, 0]));
    // A block past the end of the disk.
    assert!(!fs.step([0, 5, 0xff, 1, 0, 0, 0, 0]));
}

#[test]
fn random_operations_for_three_seconds() {
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let start = Instant::now();
    let (mut runs, mut ops, mut accepted) = (0u64, 0u64, 0usize);
    // At least 3 s and at least 40 runs (a build with kernel-glue's `jit` feature compiles the
    // oracle's programs natively on every run, which is slower).
    while start.elapsed() < Duration::from_secs(3) || runs < 40 {
        let len = 8 * (1 + rng.below(48)) as usize;
        let data = rng.bytes(len);
        accepted += xn_ops(&data);
        runs += 1;
        ops += (len / 8) as u64;
    }
    // Random bytes must reach accepted operations too, or the oracle checks only refusals.
    assert!(accepted > 0, "{runs} runs, {ops} operations, {accepted} accepted");
    eprintln!("{runs} runs, {ops} operations, {accepted} accepted");
}
