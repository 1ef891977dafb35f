//! `udf kernel boot`: boots the bare-metal kernel (`kernel/`, `udf-kernel`) under
//! `qemu-system-x86_64` (TCG), and speaks its serial protocol (documented in the kernel crate):
//! the key, the package, each input. The kernel authenticates, parses, re-verifies, installs
//! and runs; this prints what `udf kernel load` prints for the same package and each input, with
//! the same messages and exit status.
//!
//! The qemu binary is `$UDF_QEMU`, else `qemu-system-x86_64` on the `PATH`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use miette::{Report, miette};
use serde_json::json;
use udf_bytecode::ProgramType;
use udf_runtime::Extent;

use crate::input::{Failure, read};
use crate::{EXIT_REFUSED, verify};

/// What the kernel says first, after whatever the firmware printed.
const HELLO: &[u8] = b"H\x0c\x00\x00\x00udf-kernel 1";

/// Largest frame the kernel accepts.
const MAX_FRAME: usize = 16 << 20;

/// How long the kernel may take to answer one frame (TCG, a loaded machine).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// What `udf kernel boot` takes.
#[derive(Clone, Copy, Debug)]
pub struct BootArgs<'a> {
    /// The kernel image (an ELF with a PVH note).
    pub image: &'a Path,
    /// The package.
    pub package: &'a Path,
    /// `--key`: the kernel's key.
    pub key: Option<&'a Path>,
    /// The inputs, each run in turn.
    pub inputs: &'a [PathBuf],
    /// Tests only: raw x86-64 code the kernel runs instead of the package's code.
    pub test_native_code: Option<&'a Path>,
    /// Benchmarks only: the kernel runs each input this many times (the last run is
    /// printed), and the time of each input's exchange is reported on stderr.
    pub repeat: u32,
}

fn boot_error(msg: String) -> Failure {
    Failure::refused(miette!(code = "udf::kernel::boot", "{msg}"))
}

/// The running machine: qemu, its serial line in both directions.
struct Machine {
    child: Child,
    stdin: ChildStdin,
    frames: Receiver<Result<(u8, Vec<u8>), String>>,
}

impl Machine {
    /// Boots `image`, waits for the kernel's hello.
    fn boot(image: &Path) -> Result<Machine, Failure> {
        let qemu = std::env::var_os("UDF_QEMU").unwrap_or_else(|| "qemu-system-x86_64".into());
        let mut child = Command::new(&qemu)
            .args(["-accel", "tcg", "-nographic", "-m", "128M", "-no-reboot", "-net", "none"])
            .args(["-monitor", "none", "-serial", "stdio"])
            .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-kernel"])
            .arg(image)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                Failure::usage(miette!(
                    code = "udf::kernel::qemu",
                    help = "install qemu-system-x86 (or set UDF_QEMU)",
                    "cannot run {}: {e}",
                    Path::new(&qemu).display()
                ))
            })?;
        let (Some(stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(boot_error("qemu's serial line is not connected".into()));
        };
        let (tx, frames) = channel();
        std::thread::spawn(move || {
            let mut reader = FrameReader { inner: &mut stdout };
            if let Err(e) = reader.hello() {
                let _ = tx.send(Err(e));
                return;
            }
            let _ = tx.send(Ok((b'H', Vec::new())));
            loop {
                let f = reader.frame();
                let end = f.is_err();
                if tx.send(f).is_err() || end {
                    return;
                }
            }
        });
        let mut m = Machine { child, stdin, frames };
        m.expect_hello(image)?;
        Ok(m)
    }

    fn expect_hello(&mut self, image: &Path) -> Result<(), Failure> {
        match self.next()? {
            (b'H', _) => Ok(()),
            (t, _) => Err(self.fail(format!("{}: an unexpected frame {t}", image.display()))),
        }
    }

    /// The next frame from the kernel.
    fn next(&mut self) -> Result<(u8, Vec<u8>), Failure> {
        match self.frames.recv_timeout(ANSWER_TIMEOUT) {
            Ok(Ok((b'!', msg))) => {
                Err(self.fail(format!("the kernel stopped: {}", String::from_utf8_lossy(&msg))))
            }
            Ok(Ok(f)) => Ok(f),
            Ok(Err(e)) => Err(self.fail(e)),
            Err(RecvTimeoutError::Timeout) => {
                Err(self
                    .fail(format!("the kernel did not answer in {} s", ANSWER_TIMEOUT.as_secs())))
            }
            Err(RecvTimeoutError::Disconnected) => {
                Err(self.fail("the kernel's serial line closed".into()))
            }
        }
    }

    /// Sends a frame.
    fn send(&mut self, tag: u8, payload: &[u8]) -> Result<(), Failure> {
        let len = u32::try_from(payload.len())
            .map_err(|_| boot_error(format!("a frame of {} bytes", payload.len())))?;
        let mut head = vec![tag];
        head.extend_from_slice(&len.to_le_bytes());
        let r = self
            .stdin
            .write_all(&head)
            .and_then(|()| self.stdin.write_all(payload))
            .and_then(|()| self.stdin.flush());
        r.map_err(|e| self.fail(format!("cannot write to the kernel's serial line: {e}")))
    }

    /// Stops qemu and says why, with what qemu printed on stderr.
    fn fail(&mut self, why: String) -> Failure {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let err = err.trim();
        if err.is_empty() { boot_error(why) } else { boot_error(format!("{why} (qemu: {err})")) }
    }

    /// Ends the session: `E`, the kernel's status, qemu's exit.
    fn finish(mut self) -> Result<u8, Failure> {
        self.send(b'E', &[])?;
        let status = match self.next()? {
            (b'X', s) if s.len() == 1 => s[0],
            (t, _) => return Err(self.fail(format!("expected the exit frame, got {t}"))),
        };
        let exit = self.child.wait().map_err(|e| boot_error(format!("qemu: {e}")))?;
        // isa-debug-exit: qemu exits with `status << 1 | 1`.
        if exit.code() != Some(i32::from(status) << 1 | 1) {
            return Err(boot_error(format!(
                "the kernel said status {status}, and qemu exited with {exit}"
            )));
        }
        Ok(status)
    }
}

impl Drop for Machine {
    /// A machine left running (an early return) is stopped.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads frames from qemu's stdout.
struct FrameReader<'a, R: Read> {
    inner: &'a mut R,
}

impl<R: Read> FrameReader<'_, R> {
    fn exact(&mut self, n: usize) -> Result<Vec<u8>, String> {
        let mut buf = vec![0; n];
        self.inner.read_exact(&mut buf).map_err(|e| format!("the kernel's serial line: {e}"))?;
        Ok(buf)
    }

    /// Skips what the firmware printed, up to and including the kernel's hello.
    fn hello(&mut self) -> Result<(), String> {
        let mut seen = Vec::new();
        while !seen.ends_with(HELLO) {
            let b = self.exact(1).map_err(|_| {
                let tail =
                    String::from_utf8_lossy(&seen[seen.len().saturating_sub(200)..]).into_owned();
                format!(
                    "the machine stopped before the kernel said hello; its output ends: {tail:?}"
                )
            })?;
            seen.push(b[0]);
            if seen.len() > 1 << 20 {
                return Err("no hello from the kernel in 1 MiB of output".into());
            }
        }
        Ok(())
    }

    fn frame(&mut self) -> Result<(u8, Vec<u8>), String> {
        let head = self.exact(5)?;
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if len > 64 << 20 {
            return Err(format!("a frame of {len} bytes from the kernel"));
        }
        Ok((head[0], self.exact(len)?))
    }
}

/// A cursor over a frame's payload.
struct Payload<'a>(&'a [u8]);

impl<'a> Payload<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (a, b) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8).and_then(|b| b.try_into().ok()).map(u64::from_le_bytes)
    }
    fn str(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        self.take(n).map(|b| String::from_utf8_lossy(b).into_owned())
    }
}

/// The installed program, as the kernel described it.
struct Loaded {
    ty: ProgramType,
    ctx_size: Option<u32>,
    name: String,
    engine: String,
    native: bool,
}

fn parse_loaded(p: &[u8]) -> Option<Loaded> {
    let mut p = Payload(p);
    let native = p.u8()? != 0;
    let code = p.u8()?;
    let ty = [ProgramType::Filter, ProgramType::Owns, ProgramType::Acl, ProgramType::Size]
        .into_iter()
        .find(|&t| udf_runtime::native::signed::type_code(t) == Some(code))?;
    let ctx_size = Some(p.u32()?).filter(|&s| s != u32::MAX);
    Some(Loaded { native, ty, ctx_size, name: p.str()?, engine: p.str()? })
}

fn parse_run(p: &[u8]) -> Option<(u64, Vec<Extent>)> {
    let mut p = Payload(p);
    let r0 = p.u64()?;
    let n = p.u32()?;
    let mut extents = Vec::new();
    for _ in 0..n {
        extents.push(Extent { start: p.u64()?, count: p.u64()?, kind: p.u32()? });
    }
    p.0.is_empty().then_some((r0, extents))
}

/// `udf kernel boot`.
pub fn boot(json: bool, args: BootArgs<'_>) -> Result<(), Failure> {
    let package = read(args.package)?;
    let key = match args.key {
        Some(k) => crate::kernel::read_key(k)?,
        None => Vec::new(),
    };
    let inputs: Vec<Vec<u8>> = args.inputs.iter().map(|p| read(p)).collect::<Result<_, _>>()?;
    let test_code = args.test_native_code.map(read).transpose()?;
    read(args.image)?;
    // The kernel's frames hold at most 16 MiB.
    for (path, len) in std::iter::once((args.package, package.len()))
        .chain(args.inputs.iter().map(PathBuf::as_path).zip(inputs.iter().map(Vec::len)))
    {
        if len > MAX_FRAME {
            return Err(Failure::usage(miette!(
                code = "udf::kernel::boot",
                "{}: {len} bytes, more than the kernel's serial protocol carries ({MAX_FRAME} bytes)",
                path.display()
            )));
        }
    }

    let mut m = Machine::boot(args.image)?;
    m.send(b'K', &key)?;
    m.send(b'P', &package)?;
    let loaded = match m.next()? {
        (b'L', p) => parse_loaded(&p).ok_or_else(|| m.fail("a malformed `L` frame".into()))?,
        (b'R', p) => {
            let (kind, msg) = p.split_first().map_or((0, &[][..]), |(k, m)| (*k, m));
            let msg = String::from_utf8_lossy(msg);
            let pkg = args.package.display();
            let report = if kind == 1 {
                miette!(code = "udf::kernel::untagged", "{pkg}: refused: {msg} (--require-tag)")
            } else {
                miette!(code = "udf::kernel::load", "{pkg}: refused: {msg}")
            };
            m.finish()?;
            return Err(Failure::refused(report));
        }
        (t, _) => return Err(m.fail(format!("expected `L` or `R`, got {t}"))),
    };
    if let Some(code) = &test_code {
        // Signed like native code: the domain, the code, a tag of both under the key.
        let mut payload = b"udf-kernel test code\0".to_vec();
        payload.extend_from_slice(code);
        if !key.is_empty() {
            let tag = udf_runtime::mac::tag(&key, &payload)
                .map_err(|e| m.fail(format!("cannot sign the test code: {e:?}")))?;
            payload.extend_from_slice(&tag);
        }
        m.send(b'T', &payload)?;
    }
    let how = if loaded.native { "native" } else { "interpreted" };
    eprintln!(
        "{}: `{}` ({}) runs {} (in the kernel)",
        args.package.display(),
        loaded.name,
        loaded.ty,
        loaded.engine
    );
    let mut reports: Vec<Report> = Vec::new();
    let mut status = 0u8;
    let mut runs = Vec::new();
    let mut last_run = None;
    for (path, input) in args.inputs.iter().zip(&inputs) {
        // The same check as `udf kernel load`'s, with the same message.
        if let Err(f) = verify::check_input_size(
            loaded.ty,
            loaded.ctx_size,
            Some(&loaded.name),
            path,
            input.len(),
        ) {
            status = if status == 0 { f.status } else { status };
            runs.push(json!({"input": path.display().to_string(), "error": f.reports.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")}));
            reports.extend(f.reports);
            continue;
        }
        if args.repeat > 1 {
            m.send(b'N', &args.repeat.to_le_bytes())?;
        }
        let started = std::time::Instant::now();
        m.send(b'I', input)?;
        let answer = m.next()?;
        if args.repeat > 1 {
            eprintln!(
                "{}: {} runs in {:.6} s (in the kernel, with one exchange)",
                path.display(),
                args.repeat,
                started.elapsed().as_secs_f64()
            );
        }
        match answer {
            (b'O', p) => {
                let (r0, extents) =
                    parse_run(&p).ok_or_else(|| m.fail("a malformed `O` frame".into()))?;
                if !json {
                    crate::exec::print_run(false, r0, &extents, &[]);
                }
                let ext: Vec<_> = extents
                    .iter()
                    .map(|e| json!({"start": e.start, "count": e.count, "kind": e.kind}))
                    .collect();
                runs.push(json!({"input": path.display().to_string(), "r0": r0, "extents": ext}));
                last_run = Some((r0, extents));
            }
            (b'F', msg) => {
                let msg = String::from_utf8_lossy(&msg);
                let report = miette!(code = "udf::kernel::run", "{}: {msg}", path.display());
                runs.push(
                    json!({"input": path.display().to_string(), "error": report.to_string()}),
                );
                reports.push(report);
                status = if status == 0 { EXIT_REFUSED } else { status };
            }
            (t, _) => return Err(m.fail(format!("expected `O` or `F`, got {t}"))),
        }
    }
    let kernel_status = m.finish()?;
    if kernel_status != 0 && reports.is_empty() {
        return Err(boot_error(format!("the kernel exited with status {kernel_status}")));
    }
    if json {
        let extra = [
            ("engine", how.into()),
            ("detail", loaded.engine.clone().into()),
            ("name", loaded.name.clone().into()),
        ];
        match (args.inputs.len(), last_run) {
            // One input: the document of `udf kernel load`.
            (1, Some((r0, extents))) => crate::exec::print_run(true, r0, &extents, &extra),
            // One input that failed: only the error, as `udf kernel load`.
            (1, None) => {}
            _ => {
                let mut doc = serde_json::Map::new();
                for (k, v) in extra {
                    doc.insert(k.into(), v);
                }
                doc.insert("runs".into(), runs.into());
                crate::output::emit(serde_json::Value::Object(doc));
            }
        }
    }
    if reports.is_empty() { Ok(()) } else { Err(Failure { status, reports }) }
}
