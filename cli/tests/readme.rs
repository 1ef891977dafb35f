//! README.md's commands (the lines of its indented code blocks), as a reader would type them:
//!
//! - every path a command names exists in the repository or is made by an earlier command of the
//!   README (`-o FILE`, `> FILE`, the image `mke2fs` writes); every option is one this test
//!   knows to take a path, a value or nothing, so a new option cannot slip past unchecked;
//! - the cheap commands run, in order, from a scratch directory where `corpus` is the
//!   repository's, and exit as the README says: 0, or 1 where the comment says `(exit 1)`, then
//!   printing the text the comment quotes;
//! - the XN example leaves an image `e2fsck -fn` calls clean after every accepted `udf xn`
//!   command, and a refused one leaves the image byte-identical.
//!
//! Not run (they are slow or need `../shared`): `cargo run`, `./scripts/test.sh` and the
//! commands on `../shared/testdata` (their paths are still checked). A missing e2fsprogs or
//! clang-19 fails the run: nothing is skipped.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// One command line of the README.
#[derive(Debug)]
struct Line {
    /// 1-based line number in README.md.
    at: usize,
    /// The command, without its comment.
    text: String,
    /// Its words (quotes removed), with whether each was quoted.
    words: Vec<(String, bool)>,
    /// The comment (after `#`), trimmed.
    comment: String,
}

/// Splits a shell line into words (single and double quotes) and a `#` comment.
fn split(line: &str) -> (Vec<(String, bool)>, String, String) {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut started = false;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' | '"' => {
                started = true;
                quoted = true;
                for (_, d) in chars.by_ref() {
                    if d == c {
                        break;
                    }
                    cur.push(d);
                }
            }
            ' ' | '\t' => {
                if started {
                    words.push((std::mem::take(&mut cur), quoted));
                }
                started = false;
                quoted = false;
            }
            '#' if !started => {
                return (words, line[..i].trim_end().to_string(), line[i + 1..].trim().to_string());
            }
            c => {
                started = true;
                cur.push(c);
            }
        }
    }
    if started {
        words.push((cur, quoted));
    }
    (words, line.trim_end().to_string(), String::new())
}

/// The command lines of README.md's indented code blocks.
fn lines() -> Vec<Line> {
    let text = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let mut out = Vec::new();
    let mut prev_blank = true;
    let mut in_block = false;
    for (i, l) in text.lines().enumerate() {
        let code = l.starts_with("    ") && !l.trim().is_empty();
        in_block = code && (in_block || prev_blank);
        prev_blank = l.trim().is_empty();
        if !in_block {
            continue;
        }
        let (words, text, comment) = split(l.trim_start());
        assert!(!words.is_empty(), "README.md:{}: an empty command", i + 1);
        out.push(Line { at: i + 1, text, words, comment });
    }
    out
}

/// What a command reads and writes.
#[derive(Debug, Default)]
struct Paths {
    inputs: Vec<String>,
    outputs: Vec<String>,
}

/// `udf`'s options: taking a path, taking another value, or nothing.
const UDF_PATH_OPTS: &[&str] = &["--input", "--read", "--cbpf", "--key", "--filters"];
const UDF_OUTPUT_OPTS: &[&str] = &["-o", "--output", "-w", "--write"];
const UDF_VALUE_OPTS: &[&str] = &[
    "--entry",
    "--type",
    "--ctx-size",
    "--target",
    "--engine",
    "--fs",
    "--inode",
    "--slot",
    "--lblock",
    "--block",
    "--kind",
    "--pcap",
    "--netmask",
    "--as",
    "--crash-after",
    "--to-inode",
    "--to-slot",
];
const UDF_FLAGS: &[&str] = &[
    "--json",
    "--harden",
    "--expect-failure",
    "--require-tag",
    "-v",
    "--verbose",
    "--count",
    "--repair",
];

/// The paths `l` reads and writes; panics on a program or an option this test does not know.
fn paths(l: &Line) -> Paths {
    let mut p = Paths::default();
    let w: Vec<&str> = l.words.iter().map(|(s, _)| s.as_str()).collect();
    let here = format!("README.md:{}: `{}`", l.at, l.text);
    // `> FILE` writes FILE, whatever the program.
    let mut args: Vec<&str> = Vec::new();
    let mut it = w.iter().skip(1);
    while let Some(&a) = it.next() {
        if a == ">" {
            p.outputs.push(it.next().expect("a file after >").to_string());
        } else {
            args.push(a);
        }
    }
    let mut it = args.into_iter();
    let mut positional = Vec::new();
    match w[0] {
        "udf" => {
            let sub = it.next().unwrap_or_else(|| panic!("{here}: no subcommand"));
            if matches!(sub, "kernel" | "xn") {
                it.next();
            }
            while let Some(a) = it.next() {
                let mut value =
                    || it.next().unwrap_or_else(|| panic!("{here}: {a} takes a value")).to_string();
                if UDF_PATH_OPTS.contains(&a) {
                    p.inputs.push(value());
                } else if UDF_OUTPUT_OPTS.contains(&a) {
                    p.outputs.push(value());
                } else if UDF_VALUE_OPTS.contains(&a) {
                    value();
                } else if a.starts_with('-') {
                    assert!(UDF_FLAGS.contains(&a), "{here}: unknown option {a}");
                } else {
                    p.inputs.push(a.to_string());
                }
            }
        }
        "mke2fs" => {
            while let Some(a) = it.next() {
                match a {
                    "-q" | "-F" => {}
                    "-d" => p.inputs.push(it.next().expect("-d DIR").to_string()),
                    "-t" | "-b" | "-N" | "-L" | "-O" | "-E" | "-I" | "-i" | "-m" | "-T" => {
                        it.next();
                    }
                    a if a.starts_with('-') => panic!("{here}: unknown option {a}"),
                    a => positional.push(a.to_string()),
                }
            }
            assert_eq!(positional.len(), 2, "{here}: mke2fs IMAGE SIZE");
            p.outputs.push(positional[0].clone());
        }
        "e2fsck" => {
            for a in it {
                match a {
                    "-fn" | "-f" | "-n" => {}
                    a if a.starts_with('-') => panic!("{here}: unknown option {a}"),
                    a => p.inputs.push(a.to_string()),
                }
            }
        }
        "head" => {
            while let Some(a) = it.next() {
                match a {
                    "-c" | "-n" => {
                        it.next();
                    }
                    a if a.starts_with('-') => panic!("{here}: unknown option {a}"),
                    a => p.inputs.push(a.to_string()),
                }
            }
        }
        "clang-19" => {
            while let Some(a) = it.next() {
                match a {
                    "-target" => {
                        it.next();
                    }
                    "-c" => p.inputs.push(it.next().expect("-c FILE").to_string()),
                    "-o" => p.outputs.push(it.next().expect("-o FILE").to_string()),
                    a if a.starts_with('-') => {}
                    a => p.inputs.push(a.to_string()),
                }
            }
        }
        "cargo" => {
            // `cargo run ... -- demo`: no paths.
            assert!(it.all(|a| !a.contains('/')), "{here}: a path in a cargo line");
        }
        prog if prog.starts_with("./") => p.inputs.push(prog.to_string()),
        prog => panic!("{here}: the README runs `{prog}`: teach this test its arguments"),
    }
    p
}

#[test]
fn every_path_in_the_readme_exists_or_is_made_earlier() {
    let lines = lines();
    assert!(lines.len() > 30, "only {} command lines found", lines.len());
    let mut made: BTreeSet<String> = BTreeSet::new();
    let mut checked = 0;
    for l in &lines {
        let p = paths(l);
        for input in &p.inputs {
            let by_earlier = made.contains(input)
                || made.iter().any(|m| m.ends_with('/') && input.starts_with(m.as_str()));
            let exists = if Path::new(input).is_absolute() {
                Path::new(input).exists()
            } else {
                root().join(input).exists()
            };
            assert!(
                by_earlier || exists,
                "README.md:{}: `{}` names {input}, which is not in the repository and no \
                 earlier command makes",
                l.at,
                l.text
            );
            checked += 1;
        }
        made.extend(p.outputs);
    }
    assert!(checked > 40, "only {checked} paths checked");
    // The files the examples make are made.
    for f in ["kernel.key", "inode.pkg", "fs.img", "filter_http.bin", "out/"] {
        assert!(made.contains(f), "no README command makes {f}");
    }
}

/// Whether `l` is run by [`the_readme_commands_run_as_documented`].
fn runs(l: &Line, p: &Paths) -> bool {
    let w0 = l.words[0].0.as_str();
    w0 != "cargo"
        && !w0.starts_with("./")
        && !p.inputs.iter().chain(&p.outputs).any(|x| x.starts_with("../shared"))
}

#[test]
fn the_readme_commands_run_as_documented() {
    let udf = Path::new(env!("CARGO_BIN_EXE_udf"));
    let dir = std::env::temp_dir().join(format!("udf-readme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::os::unix::fs::symlink(root().join("corpus"), dir.join("corpus")).expect("symlink");
    let path = format!(
        "{}:{}:/sbin:/usr/sbin",
        udf.parent().expect("bin dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let sh = |cmd: &str| {
        Command::new("bash")
            .arg("-c")
            .arg(cmd)
            .current_dir(&dir)
            .env("PATH", &path)
            .output()
            .expect("bash runs")
    };
    let mut ran = 0;
    let mut xn_checked = 0;
    for l in lines() {
        let p = paths(&l);
        if !runs(&l, &p) {
            continue;
        }
        let refused = l.comment.contains("(exit 1)");
        let image =
            (l.words[0].0 == "udf" && l.words[1].0 == "xn").then(|| dir.join(&l.words[3].0));
        let before = image.as_ref().and_then(|i| std::fs::read(i).ok());
        let o = sh(&l.text);
        let out =
            format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        let want = if refused { 1 } else { 0 };
        assert_eq!(o.status.code(), Some(want), "README.md:{}: `{}`:\n{out}", l.at, l.text);
        // A refusal's comment quotes what the command prints.
        if refused {
            let after = l.comment.split("(exit 1)").nth(1).unwrap_or("");
            let q = after
                .split('"')
                .nth(1)
                .unwrap_or_else(|| panic!("README.md:{}: quote the refusal after (exit 1)", l.at));
            assert!(
                out.contains(q),
                "README.md:{}: `{}` does not print {q:?}:\n{out}",
                l.at,
                l.text
            );
        }
        ran += 1;
        let op = l.words.get(2).map(|w| w.0.as_str());
        let repair = op == Some("rebuild") && l.words.iter().any(|w| w.0 == "--repair");
        let crash = l.words.iter().any(|w| w.0 == "--crash-after");
        if let (Some(img), Some("alloc" | "free" | "move" | "rebuild")) = (&image, op) {
            if op == Some("rebuild") && !repair {
                continue;
            }
            if crash && !refused {
                // A power cut: e2fsck finds a leaked block (a `-` bitmap difference) and
                // nothing in use that the bitmap marks free.
                let f = sh(&format!("e2fsck -fn {}", l.words[3].0));
                let report = String::from_utf8_lossy(&f.stdout);
                assert!(
                    report.contains("Block bitmap differences:  -") && !report.contains(" +"),
                    "README.md:{}: e2fsck -fn after `{}`:\n{report}",
                    l.at,
                    l.text
                );
            } else if refused {
                assert!(
                    std::fs::read(img).ok() == before,
                    "README.md:{}: a refused `udf xn` changed the image",
                    l.at
                );
            } else {
                let f = sh(&format!("e2fsck -fn {}", l.words[3].0));
                assert_eq!(
                    f.status.code(),
                    Some(0),
                    "README.md:{}: e2fsck -fn after `{}`:\n{}{}",
                    l.at,
                    l.text,
                    String::from_utf8_lossy(&f.stdout),
                    String::from_utf8_lossy(&f.stderr)
                );
            }
            xn_checked += 1;
        }
    }
    assert!(ran > 25, "only {ran} commands ran");
    assert!(xn_checked >= 4, "the README's XN example has {xn_checked} alloc/free lines");
    let _ = std::fs::remove_dir_all(&dir);
}
