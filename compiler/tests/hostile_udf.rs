//! Hostile `.udf` sources (issue 17): whatever their depth, length or size, the compiler answers
//! with located diagnostics, never a crash, never an exhausted memory, never a false
//! `udf::compiler_bug`. Every compilation runs on a thread with the default (2 MiB) test-thread
//! stack: the compiler must not need more, however deep the source nests.

use std::time::{Duration, Instant};

use udf_compiler::limits::{MAX_DEPTH, MAX_INSNS};

/// What a compilation gave: the entry points' names, or every error as (code, `line:col` of
/// its primary span, message, the source text of its labels).
type Outcome = Result<Vec<String>, Vec<Error>>;

#[derive(Debug)]
struct Error {
    code: &'static str,
    at: String,
    message: String,
    labels: Vec<String>,
    help: Option<String>,
}

/// Compiles `src` on a fresh thread with the default stack, and says how long it took.
fn compile(src: String) -> (Outcome, Duration) {
    std::thread::spawn(move || {
        let t = Instant::now();
        let out = match udf_compiler::compile("t.udf", &src) {
            Ok(m) => Ok(m.entries.iter().map(|e| e.name.clone()).collect()),
            Err(d) => Err(d
                .list
                .iter()
                .map(|e| Error {
                    code: e.code,
                    at: d.location(e),
                    message: e.message.clone(),
                    labels: e
                        .labels
                        .iter()
                        .map(|l| src[l.span.range()].chars().take(60).collect())
                        .collect(),
                    help: e.help.clone(),
                })
                .collect()),
        };
        (out, t.elapsed())
    })
    .join()
    .expect("the compiler does not panic")
}

/// `inner` inside `n` copies of `open` and `close`.
fn wrap(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("{}{inner}{}", open.repeat(n), close.repeat(n))
}

/// Refused as nesting too deep (`udf::limit::depth`).
fn too_deep(src: String) -> Vec<Error> {
    refused(src, "udf::limit::depth")
}

/// Compiles a source that must be refused with `code`, located in the file, quickly.
fn refused(src: String, code: &str) -> Vec<Error> {
    let (out, took) = compile(src);
    let errs = out.expect_err("a hostile source is refused");
    assert!(errs.iter().any(|e| e.code == code), "expected {code}, got {errs:#?}");
    for e in &errs {
        assert_ne!(e.code, "udf::compiler_bug", "{e:#?}");
        assert!(
            e.at.starts_with("t.udf:") && !e.labels.is_empty(),
            "every error is located: {e:#?}"
        );
    }
    assert!(took < Duration::from_secs(20), "took {took:?}");
    errs
}

const INO: &str = "layout Ino size 8 { n: u64 @ 0 }\n";

fn size_entry(body: &str) -> String {
    format!("{INO}size s(x: Ino) -> u64 {{ {body} }}\n")
}

fn acl_entry(body: &str) -> String {
    format!("{INO}acl a(x: Ino, req: request) -> bool {{ {body} }}\n")
}

// ---- deep nesting ---------------------------------------------------------------------------

#[test]
fn deep_parentheses() {
    let n = 20_000;
    let e = too_deep(size_entry(&wrap("(", "1", ")", n)));
    assert!(e[0].help.as_deref().unwrap_or("").contains("256"), "{e:#?}");
    // Never closed.
    too_deep(size_entry(&"(".repeat(n)));
}

#[test]
fn deep_prefix_operators() {
    let n = 20_000;
    too_deep(size_entry(&format!("let a: i64 = {}1; 0", "-".repeat(n))));
    too_deep(acl_entry(&format!("{}true", "!".repeat(n))));
    too_deep(size_entry(&format!("let a = 0 {}1; 0", "- ".repeat(n))));
}

#[test]
fn deep_blocks_and_ifs() {
    let n = 20_000;
    too_deep(size_entry(&wrap("{ ", "1", " }", n)));
    too_deep(size_entry(&wrap("if x.n > 0 { ", "1", " } else { 2 }", n)));
    // `else if` chains nest too.
    too_deep(size_entry(&format!("{}{{ 1 }}", "if x.n > 0 { 1 } else ".repeat(n))));
    // Nested loops.
    too_deep(format!(
        "{INO}owns o(x: Ino) {{ {}emit(0, 1, 0);{} }}\n",
        "for k in 0..2 { ".repeat(n),
        " }".repeat(n)
    ));
}

#[test]
fn postfix_and_cast_chains() {
    let n = 20_000;
    too_deep(size_entry(&format!("x.n{}", " as u64".repeat(n))));
    too_deep(size_entry(&format!("x{}", ".n".repeat(n))));
    too_deep(format!("layout L {{ a: {}u8{} @ 0 }}\n", "[".repeat(n), "; 1]".repeat(n)));
}

#[test]
fn flat_chains() {
    for n in [20_000, 100_000] {
        too_deep(size_entry(&vec!["x.n"; n].join(" + ")));
        too_deep(acl_entry(&vec!["x.n > 1"; n].join(" && ")));
        too_deep(acl_entry(&vec!["x.n > 1"; n].join(" || ")));
        too_deep(format!("const C: u64 = {};\n", vec!["1"; n].join(" * ")));
    }
}

#[test]
fn long_chains_of_items() {
    let n = 20_000;
    // Each constant defined through the one before.
    let mut src = String::from("const C0: u64 = 1;\n");
    for i in 1..n {
        src.push_str(&format!("const C{i}: u64 = C{} + 1;\n", i - 1));
    }
    too_deep(src);
    // Each layout holding the one after it.
    let mut src = String::new();
    for i in 0..n {
        src.push_str(&format!("layout L{i} {{ a: L{} @ 0 }}\n", i + 1));
    }
    src.push_str(&format!("layout L{n} {{ a: u8 @ 0 }}\n"));
    too_deep(src);
    // Each helper calling the one before, once: deep, not large.
    let mut src = String::from(INO);
    src.push_str("fn h0() -> u64 { 1 }\n");
    for i in 1..n {
        src.push_str(&format!("fn h{i}() -> u64 {{ h{}() }}\n", i - 1));
    }
    src.push_str(&format!("size s(x: Ino) -> u64 {{ h{}() }}\n", n - 1));
    let e = too_deep(src);
    // The error names the call the entry point makes.
    assert!(e.iter().any(|e| e.labels.iter().any(|l| l == &format!("h{}()", n - 1))), "{e:#?}");
    // With a parameter each.
    let mut src = String::from(INO);
    src.push_str("fn h0(x: u64) -> u64 { x }\n");
    for i in 1..n {
        src.push_str(&format!("fn h{i}(x: u64) -> u64 {{ h{}(x) }}\n", i - 1));
    }
    src.push_str(&format!("size s(x: Ino) -> u64 {{ h{}(x.n) }}\n", n - 1));
    too_deep(src);
}

// ---- size -----------------------------------------------------------------------------------

/// Helpers that each call the one before twice inline to 2^24 copies.
#[test]
fn exponential_inlining() {
    let mut src = String::from(INO);
    src.push_str("fn h0(x: u64) -> u64 { x + 1 }\n");
    for i in 1..=24 {
        src.push_str(&format!(
            "fn h{i}(x: u64) -> u64 {{ let a = h{p}(x); let b = h{p}(x + 1); a + b }}\n",
            p = i - 1
        ));
    }
    src.push_str("size s(x: Ino) -> u64 { h24(x.n) }\n");
    assert!(src.len() < 2048);
    let t = Instant::now();
    let e = refused(src, "udf::limit::inline");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    let d = e.iter().find(|e| e.code == "udf::limit::inline").unwrap();
    assert_eq!(d.labels[0], "h24(x.n)", "{d:#?}");
    assert!(d.message.contains(&MAX_INSNS.to_string()), "{d:#?}");
    assert!(d.at.starts_with("t.udf:27:"), "{d:#?}");
}

/// The same with helpers that emit no code: the work, not the code, is bounded.
#[test]
fn exponential_inlining_without_code() {
    let mut src = String::from(INO);
    src.push_str("fn h0() { }\n");
    for i in 1..=40 {
        src.push_str(&format!("fn h{i}() {{ h{p}(); h{p}(); }}\n", p = i - 1));
    }
    src.push_str("owns o(x: Ino) { h40(); }\n");
    let e = refused(src, "udf::limit::inline");
    let d = e.iter().find(|e| e.code == "udf::limit::inline").unwrap();
    assert_eq!(d.labels[0], "h40()", "{d:#?}");
}

/// The same with an error in the innermost helper: reported once, not at each of its copies.
#[test]
fn exponential_inlining_of_an_error() {
    let mut src = String::from(INO);
    src.push_str("fn h0(x: u64) -> u64 { x + true }\n");
    for i in 1..=30 {
        src.push_str(&format!(
            "fn h{i}(x: u64) -> u64 {{ let a = h{p}(x); let b = h{p}(x + 1); a + b }}\n",
            p = i - 1
        ));
    }
    src.push_str("size s(x: Ino) -> u64 { h30(x.n) }\n");
    let e = refused(src, "udf::type::mismatch");
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(e[0].at, "t.udf:2:24");
}

/// Plain code past the instruction limit, no helpers.
#[test]
fn too_many_instructions() {
    let body = "acc = acc + x.n;".repeat(40_000);
    let src = format!("{INO}size s(x: Ino) -> u64 {{ let mut acc = 0; {body} acc }}\n");
    refused(src, "udf::limit::size");
}

/// A megabyte of errors reports the first hundred and counts the rest.
#[test]
fn many_errors() {
    let src = size_entry(&"let a: u8 = 300; ".repeat(60_000));
    let e = refused(src, "udf::limit::errors");
    assert_eq!(e.len(), udf_compiler::limits::MAX_DIAGNOSTICS + 1);
    let src = "$ ".repeat(500_000);
    refused(src, "udf::limit::errors");
}

/// Huge literals, names, layouts and loop bounds are refused or compiled, never a crash.
#[test]
fn huge_values() {
    refused(size_entry(&"9".repeat(100_000)), "udf::lex");
    let name = "v".repeat(1_000_000);
    let (out, _) = compile(size_entry(&format!("let {name} = x.n; {name}")));
    assert!(out.is_ok(), "{out:?}");
    refused(
        "layout L { a: [[[u64; 2147483647]; 2147483647]; 2147483647] @ 0 }\n\
         size s(x: L) -> u64 { 0 }\n"
            .into(),
        "udf::layout::out_of_range",
    );
    refused(size_entry("let mut t = 0; for k in 0..16777216 { t += k; } t"), "udf::budget");
    // A field at the end of the largest object, past 2^31 with an `acl`'s 16-byte request.
    refused(
        "layout Big size 2147483647 { a: u8 @ 2147483646 }\n\
         acl a(x: Big, req: request) -> bool { x.a == 1 }\n"
            .into(),
        "udf::layout::out_of_range",
    );
    // `max` is at most 2^24.
    refused(
        size_entry("let mut t = 0; for k in 0..x.n max 16777217 { t += k; } t"),
        "udf::loop::bound",
    );
}

// ---- verifier limits are user errors --------------------------------------------------------

#[test]
fn loop_over_the_budget_is_a_user_error() {
    let src =
        format!("{INO}owns o(x: Ino) {{ for k in 0..x.n max 200000 {{ emit(k, 1, 0); }} }}\n");
    let e = refused(src, "udf::budget");
    assert_eq!(e.len(), 1, "{e:#?}");
    let d = &e[0];
    assert!(d.labels[0].starts_with("for k in 0..x.n max 200000"), "{d:#?}");
    assert_eq!(d.at, "t.udf:2:18");
    assert!(d.message.contains("1000000"), "{d:#?}");
    let help = d.help.as_deref().unwrap();
    assert!(help.contains("`max`") && help.contains("DEFAULT_BUDGET"), "{help}");
    // The same loop with a smaller `max` compiles.
    let src = format!("{INO}owns o(x: Ino) {{ for k in 0..x.n max 20000 {{ emit(k, 1, 0); }} }}\n");
    assert!(compile(src).0.is_ok());
}

#[test]
fn loop_in_a_helper_over_the_budget_names_that_loop() {
    let src = format!(
        "{INO}fn f(n: u64) {{ for k in 0..n max 300000 {{ emit(k, 1, 0); }} }}\n\
         owns o(x: Ino) {{ f(x.n); }}\n"
    );
    let e = refused(src, "udf::budget");
    assert!(e[0].labels[0].starts_with("for k in 0..n max 300000"), "{e:#?}");
    assert_eq!(e[0].labels[1], "o");
}

/// An extent whose start plus count may overflow is the program's to bound: a user error
/// naming the `emit`, with the guard that works in its help.
#[test]
fn emit_that_may_wrap_is_a_user_error() {
    let e = refused(format!("{INO}owns o(x: Ino) {{ emit(x.n, 1, 0); }}\n"), "udf::emit::range");
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(e[0].labels[0], "emit(x.n, 1, 0)");
    let (out, _) = compile(format!(
        "{INO}owns o(x: Ino) {{ let s = x.n; if s < 1 << 48 {{ emit(s, 1, 0); }} }}\n"
    ));
    assert!(out.is_ok(), "{out:#?}");
}

/// Loops nested deeper than the verifier analyses: a user error naming the loop.
#[test]
fn loops_nested_too_deep_are_a_user_error() {
    let n = 66;
    let src = format!(
        "{INO}owns o(x: Ino) {{\n{}emit(0, 1, 0);\n{}}}\n",
        (0..n).map(|i| format!("for k{i} in 0..1 {{\n")).collect::<String>(),
        "}\n".repeat(n)
    );
    let e = refused(src, "udf::limit::loops");
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].labels[0].starts_with("for k64 in 0..1"), "{e:#?}");
    assert!(e[0].message.contains("64"), "{e:#?}");
}

#[test]
fn recursion_is_reported_once() {
    let src = format!(
        "{INO}fn a() -> u64 {{ b() }}\nfn b() -> u64 {{ a() }}\nsize s(x: Ino) -> u64 {{ a() }}\n"
    );
    let e = refused(src, "udf::fn::recursion");
    assert_eq!(e.len(), 1, "{e:#?}");
    let src =
        format!("{INO}fn a(x: u64) -> u64 {{ a(x) + 1 }}\nsize s(x: Ino) -> u64 {{ a(x.n) }}\n");
    let e = refused(src, "udf::fn::recursion");
    assert_eq!(e.len(), 1, "{e:#?}");
}

/// A syntax error inside an entry point's body is the only error: the half-parsed body is not
/// handed to the verifier.
#[test]
fn syntax_error_is_reported_once() {
    let e = refused(size_entry("let a = ; x.n"), "udf::syntax");
    assert_eq!(e.len(), 1, "{e:#?}");
}

// ---- realistic programs near the limits still compile ---------------------------------------

#[test]
fn near_the_limits_compiles() {
    let ok = |src: String| {
        let (out, took) = compile(src);
        assert!(out.is_ok(), "{out:#?}");
        assert!(took < Duration::from_secs(20));
    };
    let n = 200;
    ok(size_entry(&wrap("(", "x.n", ")", n)));
    ok(size_entry(&vec!["x.n"; n].join(" + ")));
    ok(acl_entry(&vec!["x.n > 1"; n].join(" && ")));
    ok(acl_entry(&vec!["x.n == 7"; n].join(" || ")));
    ok(size_entry(&wrap("{ ", "x.n", " }", n)));
    ok(size_entry(&wrap("if x.n > 0 { ", "1", " } else { 2 }", n / 2)));
    ok(size_entry(&format!(
        "{}{{ 1 }}",
        (0..n).map(|k| format!("if x.n == {k} {{ {k} }} else ")).collect::<String>()
    )));
    ok(size_entry(&format!("let a: i64 = {}1; x.n", "-".repeat(n))));
    // A long function: many statements, at any length of the file, are not depth.
    let body = (0..2000)
        .map(|k| format!("let v{k} = x.n + {k}; if v{k} > 3 {{ t += 1; }}"))
        .collect::<String>();
    ok(format!(
        "{INO}size s(x: Ino) -> u64 {{ let mut t = 0; {} t }}\n",
        body.replace("let v", "{ let v").replace("t += 1; }", "t += 1; } }")
    ));
    // Helpers nested a few levels, each called twice: 2^10 copies.
    let mut src = String::from(INO);
    src.push_str("fn h0(x: u64) -> u64 { x + 1 }\n");
    for i in 1..=10 {
        src.push_str(&format!(
            "fn h{i}(x: u64) -> u64 {{ let a = h{p}(x); let b = h{p}(x + 1); a + b }}\n",
            p = i - 1
        ));
    }
    src.push_str("size s(x: Ino) -> u64 { h10(x.n) }\n");
    ok(src);
    // The depth limit is what the docs say.
    assert_eq!(MAX_DEPTH, 256);
}

/// Every shape at the largest depth the limits let through, and just past it: compiled or
/// refused, on the default stack, never a crash.
#[test]
fn at_the_limit_no_crash() {
    type Shape = Box<dyn Fn(usize) -> String>;
    let shapes: Vec<(&str, Shape)> = vec![
        ("parentheses", Box::new(|n| size_entry(&wrap("(", "x.n", ")", n)))),
        ("blocks", Box::new(|n| size_entry(&wrap("{ ", "x.n", " }", n)))),
        ("let blocks", Box::new(|n| size_entry(&wrap("{ let a = ", "x.n", "; a }", n)))),
        ("ifs", Box::new(|n| size_entry(&wrap("if x.n > 0 { ", "1", " } else { 2 }", n)))),
        (
            "if statements",
            Box::new(|n| {
                format!(
                    "{INO}owns o(x: Ino) {{ {}emit(0, 1, 0);{} }}\n",
                    "if x.n > 0 { ".repeat(n),
                    " }".repeat(n)
                )
            }),
        ),
        (
            "loops",
            Box::new(|n| {
                format!(
                    "{INO}owns o(x: Ino) {{ {}emit(0, 1, 0);{} }}\n",
                    "for k in 0..1 { ".repeat(n),
                    " }".repeat(n)
                )
            }),
        ),
        (
            "calls",
            Box::new(|n| {
                format!(
                    "{INO}fn f(v: u64) -> u64 {{ v + 1 }}\nsize s(x: Ino) -> u64 {{ {}x.n{} }}\n",
                    "f(".repeat(n),
                    ")".repeat(n)
                )
            }),
        ),
        (
            "indexes",
            Box::new(|n| {
                format!(
                    "layout A {{ a: [u8; 256] @ 0 }}\nsize s(x: A) -> u64 {{ ({}0{}) as u64 }}\n",
                    "x.a[".repeat(n),
                    "]".repeat(n)
                )
            }),
        ),
        ("negations", Box::new(|n| size_entry(&format!("let a: i64 = {}1; x.n", "-".repeat(n))))),
        ("not", Box::new(|n| acl_entry(&format!("{}(x.n > 1)", "!".repeat(n))))),
        ("sums", Box::new(|n| size_entry(&vec!["x.n"; n].join(" + ")))),
        ("ands", Box::new(|n| acl_entry(&vec!["x.n > 1"; n].join(" && ")))),
        (
            "else ifs",
            Box::new(|n| size_entry(&format!("{}{{ 1 }}", "if x.n > 0 { 1 } else ".repeat(n)))),
        ),
        (
            "constants",
            Box::new(|n| format!("const C: u64 = {}1{};\n", "(".repeat(n), " + 1)".repeat(n))),
        ),
    ];
    for (name, make) in &shapes {
        let (mut compiled, mut deepest) = (0, 0);
        for n in (1..=MAX_DEPTH + 2).step_by(3) {
            let (out, _) = compile(make(n));
            match out {
                Ok(_) => compiled = n,
                Err(e) => {
                    for e in &e {
                        assert_ne!(e.code, "udf::compiler_bug", "{name} {n}: {e:#?}");
                        assert!(!e.labels.is_empty(), "{name} {n}: {e:#?}");
                    }
                    if e.iter().all(|e| e.code != "udf::limit::depth") {
                        deepest = n;
                    }
                }
            }
        }
        eprintln!("{name}: compiled up to {compiled}, other errors up to {deepest}");
        assert!(compiled > 0, "{name}");
    }
}

/// Diagnostics of huge sources render in bounded space: a label far into a megabyte-long line,
/// a label over a megabyte-long name, a message quoting it.
#[test]
fn rendering_is_bounded() {
    let long_line = format!(
        "{INO}size s(x: Ino) -> u64 {{ let mut t = 0; {} t }}\n",
        "if x.n > 0 { t += 1; } ".repeat(40_000)
    );
    let name = "v".repeat(1_000_000);
    let long_name = size_entry(&name);
    let long_literal = size_entry(&format!("0x{}", "f".repeat(1_000_000)));
    for src in [long_line, long_name, long_literal] {
        std::thread::spawn(move || {
            let d = udf_compiler::compile("t.udf", &src).expect_err("refused");
            let out = d.render();
            assert!(out.len() < 4096 * d.list.len(), "{} bytes", out.len());
            assert!(out.contains("t.udf:2:"), "{out}");
        })
        .join()
        .expect("no panic");
    }
}

struct G {
    seed: u64,
}
impl G {
    fn r(&mut self, n: usize) -> usize {
        self.seed = self.seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.seed >> 33) as usize) % n
    }
    fn e(&mut self, d: usize) -> String {
        if d == 0 {
            return [
                "x.n",
                "1",
                "k",
                "a",
                "m",
                "x.arr[k & 7]",
                "x.a.b as u64",
                "C as u64",
                "0xffffffffffff",
                "f(3)",
                "x.arr[3]",
            ][self.r(11)]
            .to_string();
        }
        match self.r(9) {
            0 => format!("({})", self.e(d - 1)),
            1 => format!(
                "{} {} {}",
                self.e(d - 1),
                ["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"][self.r(10)],
                self.e(d - 1)
            ),
            2 => format!("-{}", self.e(d - 1)),
            3 => format!(
                "({} as {})",
                self.e(d - 1),
                ["u8", "u16", "u32", "u64", "i8", "i64"][self.r(6)]
            ),
            4 => {
                format!("if {} {{ {} }} else {{ {} }}", self.c(d - 1), self.e(d - 1), self.e(d - 1))
            }
            5 => format!("f({})", self.e(d - 1)),
            6 => format!(
                "if true {{ let t = {}; t + {} }} else {{ 0 }}",
                self.e(d - 1),
                self.e(d - 1)
            ),
            7 => format!("x.arr[({}) % 8]", self.e(d - 1)),
            _ => format!("!{}", self.e(d - 1)),
        }
    }
    fn c(&mut self, d: usize) -> String {
        match if d == 0 { 0 } else { self.r(4) } {
            0 => format!(
                "{} {} {}",
                self.e(d),
                ["==", "!=", "<", "<=", ">", ">="][self.r(6)],
                self.e(d)
            ),
            1 => format!("{} && {}", self.c(d.saturating_sub(1)), self.c(d.saturating_sub(1))),
            2 => format!("!({})", self.c(d.saturating_sub(1))),
            _ => format!("({} || {})", self.c(d.saturating_sub(1)), self.c(d.saturating_sub(1))),
        }
    }
    fn s(&mut self, d: usize, owns: bool) -> String {
        match self.r(if owns { 7 } else { 6 }) {
            0 => format!("let a = {};", self.e(d)),
            1 => format!("m += {};", self.e(d)),
            2 => format!("if {} {{ {} }}", self.c(d), self.s(d.saturating_sub(1), owns)),
            3 => format!(
                "for k in 0..{} max {} {{ {} }}",
                self.e(1),
                1 + self.r(50),
                self.s(d.saturating_sub(1), owns)
            ),
            4 => format!(
                "for k in 0..{} {{ {} if k > 2 {{ break; }} }}",
                self.r(9),
                self.s(d.saturating_sub(1), owns)
            ),
            5 => format!("m = {} as u64;", self.e(d)),
            _ => format!("g({});", self.e(d)),
        }
    }
}

/// Random programs (operators, casts, `if`s, loops, helpers, `emit`) compile or get user errors:
/// never a panic, never `udf::compiler_bug`.
#[test]
fn random_programs_never_blame_the_compiler() {
    let mut g = G { seed: 1 };
    let head = "layout In { a: In2 @ 0, arr: [u16; 8] @ 8, n: u64 @ 24 }\n\
                layout In2 { b: i32 @ 0 }\nconst C: i8 = -3;\n\
                fn f(v: u64) -> u64 { v * 2 }\nfn g(v: u64) { emit(v, 1, 0); }\n";
    let mut compiled = 0;
    for _ in 0..600 {
        let owns = g.r(2) == 0;
        let d = 1 + g.r(4);
        let stmts: String = (0..1 + g.r(5)).map(|_| g.s(d, owns) + "\n").collect();
        let src = if owns {
            format!("{head}owns o(x: In) {{ let mut m: u64 = 0; let a = 1; let k = 2; {stmts} }}\n")
        } else {
            let e = g.e(d);
            format!(
                "{head}size s(x: In) -> u64 {{ let mut m: u64 = 0; let a = 1; let k = 2; {stmts} ({e}) as u64 + m }}\n"
            )
        };
        match compile(src.clone()).0 {
            Ok(_) => compiled += 1,
            Err(e) => {
                for e in &e {
                    assert_ne!(e.code, "udf::compiler_bug", "{src}\n{e:#?}");
                }
            }
        }
    }
    // The generator makes programs that compile, not only errors.
    assert!(compiled > 100, "{compiled}");
}
