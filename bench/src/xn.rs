//! `xn`: XN on real images, with the corpus owns-udfs installed the two ways a kernel installs
//! them: as bytecode (re-verified, run by the interpreter) and as authenticated native packages
//! (trusted JIT code from the toolchain, re-verified, mapped W^X).
//!
//! - Free-map rebuild throughput: a 256 MiB ext4 image (4 KiB blocks) that `mke2fs -d` fills
//!   from a generated tree of 30,000 files; every in-use inode is walked through the owns-udfs
//!   and the result compared with the image's bitmaps (they must match). Inodes per second.
//! - Allocation check cost: on an ext2 (1 KiB) image, XN allocates a free block into a hole of a
//!   file, then frees it, through `ExtFs::set_slot`: each operation runs the owns-udf on the
//!   inode before and after, compares the extents, and updates inode, bitmap and free counts on
//!   an in-memory device. Nanoseconds per operation.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use udf_jit::{Jit, Mode};
use udf_kernel_glue::ext::{ExtFs, Flavor, SlotRequest};
use udf_kernel_glue::package::{NativeMode, NativeSection};
use udf_kernel_glue::xn::{Op, Patch};
use udf_kernel_glue::{MemDevice, Package, Policy, Table};
use udf_runtime::Extent;

const KEY: &[u8] = b"udf-bench: the kernel's key for the toolchain's packages";

/// A program table and how its programs run.
struct Kernel {
    what: &'static str,
    table: Table,
}

fn modules() -> Vec<udf_compiler::Module> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus/fs");
    ["ext2.udf", "ext4.udf"]
        .iter()
        .map(|f| udf_compiler::compile_file(&root.join(f)).expect("the corpus compiles"))
        .collect()
}

/// The udfs installed as bytecode: the kernel re-verifies them and interprets them.
fn interp_kernel(mods: &[udf_compiler::Module]) -> Kernel {
    let mut table = Table::new();
    for e in mods.iter().flat_map(|m| &m.entries) {
        let id = table
            .install_bytecode(&e.name, e.ty, e.ctx_size, &e.prog)
            .expect("the kernel accepts the corpus");
        assert!(!table.get(id).expect("installed").is_native());
    }
    Kernel { what: "interpreter (bytecode installed)", table }
}

/// The udfs as signed native packages for this host, loaded through the download path.
fn native_kernel(mods: &[udf_compiler::Module]) -> Option<Kernel> {
    let host = udf_kernel_glue::Target::host()?;
    let mut jit = Jit::new(host).expect("host ISA");
    let mut table = Table::new();
    let policy = Policy { key: Some(KEY.to_vec()), allow_unauthenticated_bytecode: false };
    for e in mods.iter().flat_map(|m| &m.entries) {
        let code = jit
            .compile(&e.prog, e.ty, Mode::Trusted(&e.facts))
            .expect("the JIT compiles the corpus");
        let native = NativeSection {
            mode: NativeMode::Trusted,
            regions: code.regions().to_vec(),
            code: code.bytes().to_vec(),
        };
        let mut pkg = Package::new(&e.name, &e.facts, Some(host), Some(native));
        pkg.sign(KEY).expect("a key");
        let id = table.load(&pkg.to_bytes(), &policy).expect("the kernel accepts the package");
        assert!(table.get(id).expect("installed").is_native());
    }
    Some(Kernel { what: "native packages (trusted JIT code)", table })
}

/// Deterministic file bytes (not zeros: mke2fs skips zero blocks).
fn fill(seed: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + seed * 7 + 1) as u8 | 1).collect()
}

/// Makes `img` (`size_mib` MiB, `bs`-byte blocks, `fs`) from a tree written by `make`.
fn image(
    dir: &Path,
    name: &str,
    fs: &str,
    bs: u32,
    size_mib: u64,
    inodes: usize,
    make: impl Fn(&Path),
) -> PathBuf {
    let tree = dir.join(format!("{name}-tree"));
    std::fs::create_dir_all(&tree).expect("temp dir");
    make(&tree);
    let img = dir.join(format!("{name}.img"));
    let mut mk = udf_corpus::tools::MKE2FS.command().expect("mke2fs");
    mk.args(["-q", "-F", "-t", fs, "-b", &bs.to_string(), "-N", &inodes.to_string(), "-d"])
        .arg(&tree)
        .arg(&img)
        .arg(format!("{size_mib}M"))
        .env("E2FSPROGS_FAKE_TIME", "1700000000");
    udf_corpus::tools::run(&mut mk).unwrap_or_else(|e| panic!("{e}"));
    img
}

fn best<T>(reps: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..reps {
        let start = Instant::now();
        let r = f();
        best = best.min(start.elapsed());
        last = Some(r);
    }
    (best, last.expect("at least one repetition"))
}

pub fn run(quick: bool) {
    let dir = std::env::temp_dir().join(format!("udf-bench-xn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mods = modules();
    let kernels: Vec<Kernel> =
        [Some(interp_kernel(&mods)), native_kernel(&mods)].into_iter().flatten().collect();

    // Free-map rebuild on ext4.
    let (size, files) = if quick { (32, 2_000) } else { (256, 30_000) };
    let img = image(&dir, "ext4", "ext4", 4096, size, files + 2_000, |t| {
        for i in 0..files {
            let d = t.join(format!("d{:03}", i / 100));
            if i % 100 == 0 {
                std::fs::create_dir_all(&d).expect("dir");
            }
            let len = match i % 1000 {
                0 => 300 << 10,
                _ if i % 100 < 4 => 24 << 10,
                _ => (i * 37) % 3000,
            };
            std::fs::write(d.join(format!("f{i}")), fill(i, len)).expect("file");
        }
    });
    let bytes = std::fs::read(&img).expect("image");
    println!("free-map rebuild: {size} MiB ext4, 4 KiB blocks, {files} files (best of 5):\n");
    println!("| udfs | inodes walked | metadata blocks | time | inodes/s |");
    println!("| --- | --- | --- | --- | --- |");
    for k in &kernels {
        let mut dev = MemDevice::new(bytes.clone(), 4096);
        let fs = ExtFs::open(&mut dev, Flavor::Ext4).expect("ext4 image");
        let (t, r) = best(if quick { 2 } else { 5 }, || {
            let mut xn = fs.xn(&k.table).expect("templates");
            fs.rebuild(&mut xn, &k.table, &mut dev).expect("rebuild")
        });
        assert!(
            r.differences.is_empty() && r.rebuilt.problems.is_empty(),
            "the rebuilt map must equal the bitmaps"
        );
        let roots = r.rebuilt.roots;
        println!(
            "| {} | {roots} | {} | {:.1} ms | {:.0} |",
            k.what,
            r.rebuilt.objects - roots,
            t.as_secs_f64() * 1e3,
            roots as f64 / t.as_secs_f64()
        );
    }

    // Allocation check cost on ext2.
    let img = image(&dir, "ext2", "ext2", 1024, 16, 256, |t| {
        let f = std::fs::File::create(t.join("sparse")).expect("file");
        f.set_len(1 << 20).expect("size");
        use std::os::unix::fs::FileExt;
        f.write_all_at(&fill(1, 1024), 0).expect("write");
    });
    let bytes = std::fs::read(&img).expect("image");
    let pairs = if quick { 2_000 } else { 100_000 };
    println!(
        "\nXN allocation check: allocate a free block into a hole of an ext2 (1 KiB) file, then free it ({pairs} pairs, best of 5):\n"
    );
    println!(
        "| udfs | XN check (`Xn::apply`) ns/op | with the ext bookkeeping (`ExtFs::set_slot`) ns/op |"
    );
    println!("| --- | --- | --- |");
    for k in &kernels {
        let mut dev = MemDevice::new(bytes.clone(), 1024);
        let fs = ExtFs::open(&mut dev, Flavor::Ext2).expect("ext2 image");
        let mut xn = fs.xn(&k.table).expect("templates");
        fs.rebuild(&mut xn, &k.table, &mut dev).expect("rebuild");
        let ino = 12; // the tree's only file: the first inode after lost+found
        let block = (2000..fs.sb.blocks).find(|&b| !xn.used.get(b)).expect("a free block");
        let original = dev.bytes().to_vec();
        let (t, ()) = best(if quick { 2 } else { 5 }, || {
            for _ in 0..pairs {
                for (b, what) in [(block, "allocation"), (0, "free")] {
                    let req = SlotRequest { ino, slot: 5, block: b, kind: None };
                    fs.set_slot(&mut xn, &k.table, &mut dev, req)
                        .unwrap_or_else(|e| panic!("{what} refused: {e}"));
                }
            }
        });
        assert!(dev.bytes() == original.as_slice(), "allocate + free gives back the image");
        // XN's check alone: the same change as two patches of the inode, through `Xn::apply`.
        let obj = fs.inode_obj(ino).expect("inode");
        let e = Extent { start: block, count: 1, kind: 0 };
        let (put, clear) = ((block as u32).to_le_bytes(), [0u8; 4]);
        let (tx, ()) = best(if quick { 2 } else { 5 }, || {
            for _ in 0..pairs {
                let p = [Patch { offset: 40 + 4 * 5, bytes: &put }];
                xn.apply(&k.table, &mut dev, obj, &p, Op::Alloc(e), 0)
                    .expect("allocation accepted");
                let p = [Patch { offset: 40 + 4 * 5, bytes: &clear }];
                xn.apply(&k.table, &mut dev, obj, &p, Op::Free(e), 0).expect("free accepted");
            }
        });
        assert!(dev.bytes() == original.as_slice());
        let per = |t: Duration| t.as_secs_f64() * 1e9 / (2 * pairs) as f64;
        println!("| {} | {:.0} | {:.0} |", k.what, per(tx), per(t));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
