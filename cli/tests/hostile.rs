//! Hostile input (issue 17): for every front end (`.udf` source, pcap-filter expressions, the
//! assembler, PREVAIL YAML, classic BPF text and bytes, ELF objects, raw bytecode), inputs deep,
//! long, huge or garbled enough to break a recursive, quadratic or exponential pass. The `udf`
//! binary runs each under a memory limit (`ulimit -v`, 2 GB), the usual 8 MB stack and a time
//! limit, once as text and once with `--json`. Each run must end by itself (no signal: no stack
//! overflow, no abort on a failed allocation), in time, with the exit status expected (1 or 2
//! for a refusal, 0 where the input is legitimately fine), a refusal with a diagnostic code on
//! stderr (`udf test` reports a file that does not read as a FAIL line on stdout instead), and
//! with `--json` exactly one JSON document on stdout.

use std::fmt::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Most virtual memory a run may take, in KiB (`ulimit -v`).
const MEMORY_KB: u64 = 2_000_000;
/// Most time a run may take (a debug build on a busy machine; a release build needs a tenth).
const TIME: Duration = Duration::from_secs(90);

/// A folder of its own for each test.
fn dir(test: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("hostile-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p.to_str().expect("utf-8 path").to_string()
}

/// What a run must show.
#[derive(Clone, Copy)]
enum Want {
    /// Accepted: exit 0.
    Ok,
    /// Refused (exit 1) or unreadable (exit 2), with a code on stderr; with `Some(code)`, that
    /// code.
    Refused(Option<&'static str>),
    /// `udf test`: the file is a failure (exit 1) reported on stdout, naming `needle`.
    TestFails(&'static str),
    /// Either accepted or refused with a code (the input is at a limit, not past it).
    Either,
}

struct Outcome {
    status: Option<i32>,
    signal: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    took: Duration,
}

/// Runs `udf ARGS` under the limits; kills it (and says so) past the time limit.
fn run(dir: &Path, args: &[String]) -> Result<Outcome, String> {
    let out = dir.join("stdout");
    let err = dir.join("stderr");
    let start = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_KB}; ulimit -s 8192; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_udf"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("sh runs");
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > TIME {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running after {TIME:?}: killed"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok(Outcome {
        status: status.code(),
        signal: status.signal(),
        stdout: std::fs::read(&out).expect("stdout"),
        stderr: String::from_utf8_lossy(&std::fs::read(&err).expect("stderr")).into_owned(),
        took: start.elapsed(),
    })
}

/// The first characters of a text, for messages.
fn head(s: &str) -> String {
    s.chars().take(600).collect()
}

/// Runs one case as text and as `--json`; returns what went wrong (empty when all is well).
fn check(dir: &Path, name: &str, args: &[String], want: Want) -> String {
    let mut problems = String::new();
    for json in [false, true] {
        let mut all = Vec::new();
        if json {
            all.push("--json".to_string());
        }
        all.extend(args.iter().cloned());
        let what = format!("{name}{}", if json { " (--json)" } else { "" });
        let o = match run(dir, &all) {
            Ok(o) => o,
            Err(e) => {
                let _ = writeln!(problems, "{what}: {e}");
                continue;
            }
        };
        let stdout = String::from_utf8_lossy(&o.stdout);
        let shown = format!(
            "exit {:?}, {:.2?}\n  stderr: {}\n  stdout: {}",
            o.status,
            o.took,
            head(&o.stderr),
            head(&stdout)
        );
        if let Some(sig) = o.signal {
            let _ = writeln!(problems, "{what}: killed by signal {sig}: {shown}");
            continue;
        }
        let status_ok = match want {
            Want::Ok => o.status == Some(0),
            Want::Refused(_) => matches!(o.status, Some(1 | 2)),
            Want::TestFails(_) => o.status == Some(1),
            Want::Either => matches!(o.status, Some(0..=2)),
        };
        if !status_ok {
            let _ = writeln!(problems, "{what}: unexpected exit status: {shown}");
            continue;
        }
        if json {
            let docs: Result<Vec<serde_json::Value>, _> =
                serde_json::Deserializer::from_slice(&o.stdout).into_iter().collect();
            match docs {
                Ok(d) if d.len() == 1 => {}
                Ok(d) => {
                    let _ = writeln!(problems, "{what}: {} JSON documents: {shown}", d.len());
                }
                Err(e) => {
                    let _ = writeln!(problems, "{what}: stdout is not JSON ({e}): {shown}");
                }
            }
        }
        let refused = o.status != Some(0);
        let code = match want {
            Want::Refused(code) => code,
            _ => None,
        };
        match want {
            Want::Refused(_) | Want::Either if refused => {
                // A code names the diagnostic: `udf::...` on stderr, or in the JSON.
                let text = if json { &stdout } else { &o.stderr[..] };
                // `verify --json` names the rule (`"rule":"budget"`), not `udf::verify::budget`.
                let rule = |c: &str| {
                    json && c.starts_with("udf::verify")
                        && match c.strip_prefix("udf::verify::") {
                            Some(r) => text.contains(&format!("\"rule\":\"{r}\"")),
                            None => text.contains("\"rule\":"),
                        }
                };
                match code {
                    Some(c) if !text.contains(c) && !rule(c) => {
                        let _ = writeln!(problems, "{what}: no `{c}`: {shown}");
                    }
                    None if !text.contains("udf::") && !rule("udf::verify") => {
                        let _ = writeln!(problems, "{what}: no diagnostic code: {shown}");
                    }
                    _ => {}
                }
            }
            Want::TestFails(needle) => {
                if !stdout.contains(needle) {
                    let _ =
                        writeln!(problems, "{what}: the failure does not name `{needle}`: {shown}");
                }
                if !json && !stdout.contains("FAIL") {
                    let _ = writeln!(problems, "{what}: no FAIL line: {shown}");
                }
            }
            _ => {}
        }
        eprintln!("{what}: exit {:?} in {:.2?}", o.status, o.took);
    }
    problems
}

/// Runs every case; fails naming each one that went wrong.
fn suite(test: &str, cases: Vec<(String, Vec<String>, Want)>) {
    let d = dir(test);
    let start = Instant::now();
    let mut problems = String::new();
    for (name, args, want) in &cases {
        problems.push_str(&check(&d, name, args, *want));
    }
    eprintln!("{test}: {} cases in {:.2?}", cases.len(), start.elapsed());
    assert!(problems.is_empty(), "{problems}");
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// A capture of one Ethernet/IPv4/TCP packet to port 80.
fn capture(dir: &Path) -> String {
    let mut pkt = vec![0u8; 54];
    pkt[12] = 0x08; // IPv4
    pkt[14] = 0x45;
    pkt[16..18].copy_from_slice(&40u16.to_be_bytes());
    pkt[22] = 64;
    pkt[23] = 6; // TCP
    pkt[26..30].copy_from_slice(&[10, 0, 0, 1]);
    pkt[30..34].copy_from_slice(&[10, 0, 0, 2]);
    pkt[34..36].copy_from_slice(&1234u16.to_be_bytes());
    pkt[36..38].copy_from_slice(&80u16.to_be_bytes());
    pkt[46] = 0x50;
    let mut f = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    for w in [0u32, 0, 65535, 1] {
        f.extend_from_slice(&w.to_le_bytes());
    }
    for w in [0u32, 0, pkt.len() as u32, pkt.len() as u32] {
        f.extend_from_slice(&w.to_le_bytes());
    }
    f.extend_from_slice(&pkt);
    write(dir, "one.pcap", f)
}

#[test]
fn udf_sources() {
    let d = dir("udf-src");
    let n = 20_000;
    let pre = "filter f(p: packet) {\n    ";
    let post = "\n}\n";
    let mut sources = vec![
        (
            "parentheses 20,000 deep",
            format!("{pre}{}p.ether.type == 1{}{post}", "(".repeat(n), ")".repeat(n)),
        ),
        ("unary minus 20,000 deep", format!("{pre}({} 1) == 0{post}", "-".repeat(n))),
        ("blocks 20,000 deep", format!("{pre}{}true{}{post}", "{ ".repeat(n), " }".repeat(n))),
        (
            "a chain of 20,000 +",
            format!("{pre}({}) == 0{post}", vec!["p.ether.type"; n].join(" + ")),
        ),
        (
            "a chain of 20,000 &&",
            format!("{pre}{}{post}", vec!["p.ether.type == 1"; n].join(" && ")),
        ),
    ];
    sources.push((
        "an error at column 100,000",
        format!("{pre}{}p.ether.type == zz{post}", " ".repeat(100_000)),
    ));
    // Inlining doubles at every level: 2^24 copies.
    let mut helpers = "fn h0(x: u64) -> u64 { x }\n".to_string();
    for i in 1..=24 {
        let _ = writeln!(
            helpers,
            "fn h{i}(x: u64) -> u64 {{ let a = h{j}(x); let b = h{j}(x + 1); a + b }}",
            j = i - 1
        );
    }
    helpers.push_str("filter f(p: packet) {\n    h24(p.ether.type as u64) == 0\n}\n");
    sources.push(("helpers inlined 2^24 times", helpers));
    let cases = sources
        .into_iter()
        .enumerate()
        .map(|(i, (name, src))| {
            let f = write(&d, &format!("s{i}.udf"), src);
            (format!(".udf: {name}"), args(&["verify", &f]), Want::Refused(None))
        })
        .collect();
    suite("udf-src", cases);
}

#[test]
fn pcap_expressions() {
    let d = dir("pcap");
    let cap = capture(&d);
    let n = 20_000;
    let pcap = |name: &str, expr: String, want: Want| {
        (
            format!("pcap: {name}"),
            vec![
                "filter".to_string(),
                "--pcap".to_string(),
                expr,
                "--read".to_string(),
                cap.clone(),
            ],
            want,
        )
    };
    let too_large = Want::Refused(Some("udf::pcap::too_large"));
    // The parser's own limits (256 levels of nesting, 10,000 operators) are syntax errors.
    let too_deep = Want::Refused(Some("udf::pcap::syntax"));
    let hosts = |k: usize| {
        (0..k)
            .map(|i| format!("host 10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let cases = vec![
        pcap("a control", "tcp port 80 or udp port 53".into(), Want::Ok),
        pcap("parentheses 20,000 deep", format!("{}tcp{}", "(".repeat(n), ")".repeat(n)), too_deep),
        pcap("20,000 not", format!("{}tcp", "not ".repeat(n)), too_deep),
        pcap("20,000 !", format!("{}tcp", "!".repeat(n)), too_deep),
        pcap("a chain of 20,000 &&", vec!["tcp"; n].join("&&"), too_deep),
        pcap("a chain of 20,000 ||", vec!["tcp"; n].join("||"), too_deep),
        pcap("a chain of 20,000 +", format!("{} > 0", vec!["len"; n].join("+")), too_deep),
        pcap("20,000 unary minus", format!("len = {}1", "- ".repeat(n)), too_deep),
        pcap(
            "indexes 20,000 deep",
            format!("ip[{}0{}] = 1", "ip[".repeat(n), "]".repeat(n)),
            too_deep,
        ),
        pcap(
            "1,000 operators, left to right",
            format!("{} > 0", vec!["len"; 1001].join("+")),
            too_large,
        ),
        pcap("a chain of 2,000 and", vec!["tcp"; 2_000].join(" and "), too_large),
        // Past classic BPF's 4096 instructions with no deep nesting.
        pcap("400 hosts or-ed", hosts(400), too_large),
        pcap("5,000 hosts or-ed", hosts(5_000), too_large),
        pcap("200 hosts or-ed (fits)", hosts(200), Want::Ok),
        pcap(
            "garbage",
            (0..100_000u32)
                .map(|i| char::from(b'!' + (i.wrapping_mul(2_654_435_761) % 94) as u8))
                .collect(),
            Want::Refused(Some("udf::pcap")),
        ),
        // Past column 65,535, where miette's renderer panicked.
        pcap(
            "an error at column 100,000",
            format!("{}tcp garbage", " ".repeat(100_000)),
            Want::Refused(Some("udf::pcap::syntax")),
        ),
        pcap(
            "a 100,000-character name",
            format!("host {}", "a".repeat(100_000)),
            Want::Refused(Some("udf::pcap")),
        ),
    ];
    // Longer than a command-line argument may be: a 1 MB expression in a `.udf` file.
    let big = write(
        &d,
        "big.udf",
        format!("filter big = pcap \"{}\";\n", vec!["tcp"; 200_000].join(" or ")),
    );
    let mut cases = cases;
    cases.push((
        "pcap: a 1 MB expression in a .udf file".into(),
        args(&["filter", &big, "--read", &cap]),
        Want::Refused(None),
    ));
    suite("pcap", cases);
}

#[test]
fn classic_bpf() {
    let d = dir("cbpf");
    let cap = capture(&d);
    let ret = "{ 0x6, 0, 0, 0x00040000 },\n";
    let files: Vec<(&str, Vec<u8>, Want)> = vec![
        ("a control", ret.into(), Want::Ok),
        ("100,000 lines", ret.repeat(100_000).into(), Want::Refused(Some("udf::cbpf"))),
        (
            "a jump of 2^32 - 1",
            format!("{{ 0x5, 0, 0, 0xffffffff }},\n{ret}").into(),
            Want::Refused(Some("udf::cbpf")),
        ),
        (
            "4,000 jumps of 255",
            format!("{}{ret}", "{ 0x15, 255, 255, 0x0800 },\n".repeat(4_000)).into(),
            Want::Refused(Some("udf::cbpf")),
        ),
        (
            "100,000 lines of garbage",
            "{ }}{ ,,0x 0x6 ( ] garbage\n".repeat(100_000).into(),
            Want::Refused(Some("udf::cbpf")),
        ),
        (
            "-ddd: a count of 2^32 - 1",
            "4294967295\n6 0 0 0\n".into(),
            Want::Refused(Some("udf::cbpf")),
        ),
        (
            "-ddd: 100,000 lines",
            format!("100000\n{}", "6 0 0 0\n".repeat(100_000)).into(),
            Want::Refused(Some("udf::cbpf")),
        ),
        (
            "a 10 MB line",
            format!("{{ 0x6, 0, 0, {} }},\n", "9".repeat(10_000_000)).into(),
            Want::Refused(Some("udf::cbpf")),
        ),
        (
            "an error at column 100,000",
            format!("{}{{ 0x6, 0, 0, zz }},\n", " ".repeat(100_000)).into(),
            Want::Refused(Some("udf::cbpf")),
        ),
        ("300,000 open braces", "{".repeat(300_000).into(), Want::Refused(Some("udf::cbpf"))),
        (
            "raw: 100,000 records",
            [6u8, 0, 0, 0, 0, 0, 4, 0].repeat(100_000),
            Want::Refused(Some("udf::cbpf")),
        ),
        ("raw: an odd length", vec![0x5a; 1_000_001], Want::Refused(Some("udf::cbpf"))),
        (
            "raw: unknown opcodes",
            [0xff, 0xff, 0, 0, 0, 0, 0, 0].repeat(1_000),
            Want::Refused(Some("udf::cbpf")),
        ),
    ];
    let cases = files
        .into_iter()
        .enumerate()
        .map(|(i, (name, bytes, want))| {
            let f = write(&d, &format!("c{i}.bpf"), bytes);
            (format!("cbpf: {name}"), args(&["filter", "--cbpf", &f, "--read", &cap]), want)
        })
        .collect();
    suite("cbpf", cases);
}

#[test]
fn assembler_text() {
    let d = dir("asm");
    let files: Vec<(&str, String, Want)> = vec![
        ("a million bad lines", "bogus\n".repeat(1_000_000), Want::Refused(Some("1000000 errors"))),
        ("a million instructions", format!("{}exit\n", "mov %r0, 1\n".repeat(1_000_000)), Want::Ok),
        (
            "a 5 MB number",
            format!("mov %r0, {}\nexit\n", "1".repeat(5_000_000)),
            Want::Refused(Some("udf::asm")),
        ),
        (
            "a million brackets",
            format!("{}\nexit\n", "[".repeat(1_000_000)),
            Want::Refused(Some("udf::asm")),
        ),
        (
            "100,000 labels on one line",
            format!(
                "{}mov %r0, 0\nexit\n",
                (0..100_000).map(|i| format!("l{i}: ")).collect::<String>()
            ),
            Want::Ok,
        ),
        (
            "a label 40,000 slots away",
            format!("ja far\n{}far: exit\n", "mov %r0, 1\n".repeat(40_000)),
            Want::Refused(Some("udf::asm")),
        ),
        (
            "a million jumps to unknown labels",
            "ja nowhere\n".repeat(1_000_000),
            Want::Refused(Some("1000000 errors")),
        ),
        (
            "an error at column 100,000",
            format!("{}mov %r0, zz\nexit\n", " ".repeat(100_000)),
            Want::Refused(Some("udf::asm")),
        ),
        ("nothing but comments", "# x\n".repeat(100_000), Want::Refused(Some("udf::asm"))),
    ];
    let cases = files
        .into_iter()
        .enumerate()
        .map(|(i, (name, text, want))| {
            let f = write(&d, &format!("a{i}.s"), text);
            let out = d.join(format!("a{i}.bin"));
            (format!("asm: {name}"), args(&["asm", &f, "-o", out.to_str().expect("utf-8")]), want)
        })
        .collect();
    suite("asm", cases);
}

/// `udf asm` reports every error of a file, each at its line and column, then the count.
#[test]
fn asm_reports_every_error() {
    let d = dir("asm-all");
    let f = write(
        &d,
        "bad.s",
        "mov %r0, 1\nfoo %r1\nadd %r0, %r11\nja nowhere\nx: mov %r0, 2\nx: exit\n",
    );
    let o = run(&d, &args(&["asm", &f])).expect("runs");
    assert_eq!(o.status, Some(1), "{}", o.stderr);
    let at = |s: &str| o.stderr.find(s).unwrap_or_else(|| panic!("{s}: {}", o.stderr));
    let order = [
        at("bad.s:2:1: invalid mnemonic `foo`"),
        at("bad.s:3:10: invalid register `%r11`"),
        at("bad.s:4:4: invalid label `nowhere`"),
        at("bad.s:6:1: duplicate label `x`"),
        at("bad.s: 4 errors"),
    ];
    assert!(order.is_sorted(), "in line order, count last: {}", o.stderr);

    let o = run(&d, &args(&["--json", "asm", &f])).expect("runs");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    let errors = v["errors"].as_array().expect("errors");
    let lines: Vec<_> = errors.iter().map(|e| (e["line"].as_u64(), e["col"].as_u64())).collect();
    assert_eq!(
        lines,
        [
            (Some(2), Some(1)),
            (Some(3), Some(10)),
            (Some(4), Some(4)),
            (Some(6), Some(1)),
            (None, None)
        ],
        "{v}"
    );
    assert!(errors.iter().all(|e| e["code"] == "udf::asm"), "{v}");
}

#[test]
fn prevail_yaml() {
    let d = dir("yaml");
    let case =
        |code: &str| format!("---\ntest-case: t\npre: []\ncode:\n  <start>: |\n{code}post: []\n");
    let mut laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n".to_string();
    for i in 1..10 {
        let _ = writeln!(laughs, "a{i}: &a{i} [{}]", vec![format!("*a{}", i - 1); 10].join(", "));
    }
    let files: Vec<(&str, String, Want)> = vec![
        ("a control", case("    r0 = 0\n    exit\n"), Want::Ok),
        (
            "100,000 [",
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
            Want::TestFails("y1.yaml"),
        ),
        (
            "100,000 nested mappings",
            format!("a: {}1{}", "{a: ".repeat(100_000), "}".repeat(100_000)),
            Want::TestFails("y2.yaml:1:"),
        ),
        (
            "50,000 nested block sequences",
            format!("{}x\n", "- ".repeat(50_000)),
            Want::TestFails("y3.yaml:1:"),
        ),
        ("a billion laughs", laughs, Want::TestFails("y4.yaml:")),
        (
            "a sequence of 2 million",
            format!("pre: [{}]\n", vec!["x"; 2_000_000].join(",")),
            Want::TestFails("y5.yaml:"),
        ),
        (
            "200,000 lines of code",
            case(&format!("{}    exit\n", "    r0 = 0\n".repeat(200_000))),
            Want::Ok,
        ),
        (
            "100,000 parentheses in code",
            case(&format!("    r0 = {}1{}\n    exit\n", "(".repeat(100_000), ")".repeat(100_000))),
            Want::Either,
        ),
        ("20,000 documents", case("    r0 = 0\n    exit\n").repeat(20_000), Want::Ok),
    ];
    let cases = files
        .into_iter()
        .enumerate()
        .map(|(i, (name, text, want))| {
            let f = write(&d, &format!("y{i}.yaml"), text);
            (format!("yaml: {name}"), args(&["test", &f]), want)
        })
        .collect();
    suite("yaml", cases);
}

/// An ELF64 little-endian relocatable header for BPF with `shnum` section headers at `shoff`.
fn elf_header(shoff: u64, shnum: u16, shstrndx: u16) -> Vec<u8> {
    let mut h = b"\x7fELF\x02\x01\x01".to_vec();
    h.resize(16, 0);
    h.extend_from_slice(&1u16.to_le_bytes()); // ET_REL
    h.extend_from_slice(&247u16.to_le_bytes()); // EM_BPF
    h.extend_from_slice(&1u32.to_le_bytes());
    h.extend_from_slice(&0u64.to_le_bytes()); // entry
    h.extend_from_slice(&0u64.to_le_bytes()); // phoff
    h.extend_from_slice(&shoff.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes()); // flags
    for v in [64u16, 0, 0, 64, shnum, shstrndx] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    h
}

/// A 64-byte section header.
fn section(ty: u32, flags: u64, offset: u64, size: u64) -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(&0u32.to_le_bytes());
    s.extend_from_slice(&ty.to_le_bytes());
    for v in [flags, 0, offset, size] {
        s.extend_from_slice(&v.to_le_bytes());
    }
    s.extend_from_slice(&0u32.to_le_bytes());
    s.extend_from_slice(&0u32.to_le_bytes());
    s.extend_from_slice(&8u64.to_le_bytes());
    s.extend_from_slice(&0u64.to_le_bytes());
    s
}

#[test]
fn elf_objects() {
    let d = dir("elf");
    let many = 60_000u16;
    let mut progbits = elf_header(64, many + 1, 0);
    progbits.extend(section(0, 0, 0, 0));
    let data = 64 + 64 * (u64::from(many) + 1);
    for _ in 0..many {
        progbits.extend(section(1, 6, data, 8));
    }
    progbits.extend_from_slice(&[0x95, 0, 0, 0, 0, 0, 0, 0]);
    let mut nulls = elf_header(64, 0xff00, 0);
    nulls.resize(64 + 64 * 0xff00, 0);
    let mut extended = elf_header(64, 0, 0);
    extended.extend(section(0, 0, 0, 0xffff_ffff));
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("a truncated header", elf_header(64, 3, 0)[..40].to_vec()),
        ("65,535 sections claimed, none there", elf_header(64, 0xffff, 0)),
        ("65,280 empty sections", nulls),
        ("60,000 code sections", progbits),
        ("2^32 - 1 sections (extended numbering)", extended),
        ("section headers at 2^64 - 64", elf_header(u64::MAX - 63, 100, 0)),
    ];
    let cases = files
        .into_iter()
        .enumerate()
        .map(|(i, (name, bytes))| {
            let f = write(&d, &format!("e{i}.o"), bytes);
            (format!("elf: {name}"), args(&["verify", &f]), Want::Refused(Some("udf::elf")))
        })
        .collect();
    suite("elf", cases);
}

#[test]
fn raw_bytecode() {
    let d = dir("bin");
    let insn = |op: u8, regs: u8, off: i16, imm: i32| {
        let mut b = vec![op, regs];
        b.extend_from_slice(&off.to_le_bytes());
        b.extend_from_slice(&imm.to_le_bytes());
        b
    };
    let exit = insn(0x95, 0, 0, 0);
    let mov = insn(0xb7, 0, 0, 0);
    let million = |i: &[u8]| {
        let mut b = i.repeat(1_000_000);
        b.extend_from_slice(&exit);
        b
    };
    let mut branches = insn(0xb7, 1, 0, 0).repeat(1);
    for _ in 0..500_000 {
        branches.extend(insn(0x15, 1, 0, 0)); // jeq r1, 0, +0
    }
    branches.extend_from_slice(&mov);
    branches.extend_from_slice(&exit);
    let files: Vec<(&str, Vec<u8>, Want)> = vec![
        ("a control", [mov.clone(), exit.clone()].concat(), Want::Ok),
        ("7 bytes", vec![0; 7], Want::Refused(Some("udf::decode"))),
        ("an odd length", vec![0xb7; 1_000_001], Want::Refused(Some("udf::decode"))),
        ("a million movs", million(&mov), Want::Refused(Some("udf::verify::budget"))),
        ("a million ja +0", million(&insn(0x05, 0, 0, 0)), Want::Refused(Some("udf::verify"))),
        (
            "a million ja +32767",
            million(&insn(0x05, 0, i16::MAX, 0)),
            Want::Refused(Some("udf::decode")),
        ),
        (
            "a loop: ja -1",
            [insn(0x05, 0, -1, 0), exit.clone()].concat(),
            Want::Refused(Some("udf::verify")),
        ),
        ("half an lddw", insn(0x18, 0, 0, 0), Want::Refused(Some("udf::decode"))),
        ("500,000 branches", branches, Want::Either),
    ];
    let cases = files
        .into_iter()
        .enumerate()
        .map(|(i, (name, bytes, want))| {
            let f = write(&d, &format!("b{i}.bin"), bytes);
            (format!("bin: {name}"), args(&["verify", "--type", "filter", &f]), want)
        })
        .collect();
    suite("bin", cases);
}
