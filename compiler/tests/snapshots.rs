//! Snapshot tests of each phase (expect-test): tokens, syntax tree, bytecode listing, rendered
//! diagnostics. `UPDATE_EXPECT=1 cargo test -p udf-compiler` rewrites them after an intended
//! change.

use expect_test::{Expect, expect};

mod common;

fn check_tokens(src: &str, want: Expect) {
    let toks: Vec<String> = udf_compiler::lexer::tokens(src)
        .map(|t| match t {
            Ok((l, t, r)) => format!("{l}..{r} {t}"),
            Err(e) => format!("error {:?} at {}", e.kind, e.span),
        })
        .collect();
    want.assert_eq(&toks.join("\n"));
}

fn check_tree(src: &str, want: Expect) {
    let mut diags = Vec::new();
    let file = udf_compiler::parse::parse(src, &mut diags);
    assert!(diags.is_empty(), "{diags:?}");
    want.assert_eq(&udf_compiler::ast::print(&file));
}

fn check_listing(src: &str, entry: &str, want: Expect) {
    let m = common::compile(src);
    let e = m.entry(entry).expect("entry");
    let mut out = String::new();
    for (k, (_, insn)) in e.prog.iter().enumerate() {
        let span = e.map.span(k).expect("every instruction has a span");
        let text = &src[span.range()];
        let first = text.lines().next().unwrap_or("");
        out.push_str(&format!("{insn:<28} ; {first}\n"));
    }
    want.assert_eq(&out);
}

fn check_diags(src: &str, want: Expect) {
    want.assert_eq(&errors("bad.udf", src).render());
}

/// The diagnostics of a source that must not compile.
fn errors(file: &str, src: &str) -> udf_compiler::Diagnostics {
    udf_compiler::compile(file, src).expect_err("must not compile")
}

#[test]
fn tokens() {
    check_tokens(
        "layout L le size 0x10 { a: u16 @ 0b10 } // c\n/* block */ x += 1_000;",
        expect![[r#"
            0..6 `layout`
            7..8 identifier `L`
            9..11 `le`
            12..16 `size`
            17..21 integer `16`
            22..23 `{`
            24..25 identifier `a`
            25..26 `:`
            27..30 identifier `u16`
            31..32 `@`
            33..37 integer `2`
            38..39 `}`
            57..58 identifier `x`
            59..61 `+=`
            62..67 integer `1000`
            67..68 `;`"#]],
    );
    check_tokens(
        "a $ 99999999999999999999",
        expect![[r#"
            0..1 identifier `a`
            error Unexpected at 2..3
            error BadInt at 4..24"#]],
    );
}

#[test]
fn syntax_tree() {
    check_tree(
        "const K: u32 = 1 << 4;
layout X be size 8 { a: [u16; 2] le @ 0, b: u32 @ 4 }
fn f(x: u64) -> u64 { if x > K { x - 1 } else { x } }
owns o(x: X) { for k in 0..2 { if x.a[k] != 0 { emit(f(x.a[k] as u64), 1, 0); } } let n = -(x.b as i64); }
filter g = pcap \"tcp port 80\";",
        expect![[r#"
            const K: u32 = 1 << 4;
            layout X be size 8 {
                a: [u16; 2] le @ 0,
                b: u32 @ 4,
            }
            fn f(x: u64) -> u64 {
                if x > K {
                    x - 1
                } else {
                    x
                }
            }
            owns o(x: X) {
                for k in 0..2 {
                    if x.a[k] != 0 {
                        emit(f(x.a[k] as u64), 1, 0);
                    }
                }
                let n = -(x.b as i64);
            }
            filter g = pcap "tcp port 80";
        "#]],
    );
}

#[test]
fn print_then_parse_is_identity_on_the_corpus() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../corpus");
    let mut files = Vec::new();
    for dir in ["fs", "filters"] {
        if let Ok(rd) = std::fs::read_dir(format!("{root}/{dir}")) {
            for e in rd.flatten() {
                if e.path().extension().is_some_and(|x| x == "udf") {
                    files.push(e.path());
                }
            }
        }
    }
    assert!(!files.is_empty());
    for f in files {
        let src = std::fs::read_to_string(&f).unwrap();
        let mut d = Vec::new();
        let once = udf_compiler::ast::print(&udf_compiler::parse::parse(&src, &mut d));
        assert!(d.is_empty(), "{}: {d:?}", f.display());
        let twice = udf_compiler::ast::print(&udf_compiler::parse::parse(&once, &mut d));
        assert!(d.is_empty(), "{}: reprint does not parse: {d:?}", f.display());
        assert_eq!(once, twice, "{}", f.display());
        // And the reprinted source compiles to the same bytes.
        let a = udf_compiler::compile("a", &src).expect("corpus compiles");
        let b = udf_compiler::compile("b", &once).expect("reprint compiles");
        for (x, y) in a.entries.iter().zip(&b.entries) {
            assert_eq!(x.prog.encode(), y.prog.encode(), "{}: {}", f.display(), x.name);
        }
    }
}

#[test]
fn listing_with_source_map() {
    check_listing(
        "layout I le size 16 { n: u8 @ 0, p: [u32; 3] @ 4 }
owns o(i: I) {
    for k in 0..3 { if i.p[k] != 0 { emit(i.p[k], 1, 0); } }
}",
        "o",
        expect![[r#"
            mov %r9, %r1 ; o
            mov %r6, 0 ; for k in 0..3 { if i.p[k] != 0 { emit(i.p[k], 1, 0); } }
            jge %r6, 3, +14 ; for k in 0..3 { if i.p[k] != 0 { emit(i.p[k], 1, 0); } }
            mov %r2, %r6 ; i.p[k]
            lsh %r2, 2 ; i.p[k]
            add %r2, %r9 ; i.p[k]
            ldxw %r1, [%r2+4] ; i.p[k]
            jeq %r1, 0, +7 ; i.p[k] != 0
            mov %r2, %r6 ; i.p[k]
            lsh %r2, 2 ; i.p[k]
            add %r2, %r9 ; i.p[k]
            ldxw %r1, [%r2+4] ; i.p[k]
            mov %r2, 1 ; emit(i.p[k], 1, 0)
            mov %r3, 0 ; emit(i.p[k], 1, 0)
            call 1 ; emit(i.p[k], 1, 0)
            add %r6, 1 ; k
            ja -15 ; k
            mov %r0, 0 ; {
            exit ; {
        "#]],
    );
}

#[test]
fn two_independent_errors_are_both_reported() {
    check_diags(
        "layout L size 4 { a: u32 @ 0 }
size one(x: L) -> u64 { x.a + nope }
size two(x: L) -> u64 { let s: i32 = x.a; s as u64 }
",
        expect![[r#"
            udf::name::unknown

              × bad.udf:2:31: no variable or constant `nope`
               ╭─[bad.udf:2:31]
             1 │ layout L size 4 { a: u32 @ 0 }
             2 │ size one(x: L) -> u64 { x.a + nope }
               ·                               ──┬─
               ·                                 ╰── not defined here
             3 │ size two(x: L) -> u64 { let s: i32 = x.a; s as u64 }
               ╰────
            udf::type::mismatch

              × bad.udf:3:38: expected `i32`, found `u32`
               ╭─[bad.udf:3:38]
             2 │ size one(x: L) -> u64 { x.a + nope }
             3 │ size two(x: L) -> u64 { let s: i32 = x.a; s as u64 }
               ·                                      ─┬─
               ·                                       ╰── this is `u32`
               ╰────
              help: convert it: `(...) as i32`
        "#]],
    );
}

#[test]
fn syntax_errors_recover_at_the_next_statement_and_item() {
    let d = errors(
        "x.udf",
        "layout L size 4 { a: u32 @ 0 }
size one(x: L) -> u64 { let a = ; x.a as u64 }
size two(x: L) -> u64 { x.a +* 2 }
size three(x: L) -> u64 { x.b }
",
    );
    let got: Vec<String> = d.list.iter().map(|e| format!("{} {}", d.location(e), e.code)).collect();
    assert_eq!(
        got,
        vec!["x.udf:2:33 udf::syntax", "x.udf:3:30 udf::syntax", "x.udf:4:29 udf::name::unknown",]
    );
}

#[test]
fn index_proofs_and_their_errors() {
    check_diags(
        "layout B size 64 { v: [u32; 16] @ 0, n: u8 @ 63 }
size a(b: B) -> u64 { b.v[16] as u64 }
size c(b: B) -> u64 { let k = b.n; b.v[k] as u64 }
size d(b: B) -> u64 { let k = b.n; if k < 16 { b.v[k] as u64 } else { b.v[k & 15] as u64 } }
",
        expect![[r#"
            udf::index::out_of_range

              × bad.udf:2:27: index 16 is past the end of an array of 16
               ╭─[bad.udf:2:27]
             1 │ layout B size 64 { v: [u32; 16] @ 0, n: u8 @ 63 }
             2 │ size a(b: B) -> u64 { b.v[16] as u64 }
               ·                           ─┬
               ·                            ╰── valid indexes are 0..16
             3 │ size c(b: B) -> u64 { let k = b.n; b.v[k] as u64 }
               ╰────
            udf::index::unproven

              × bad.udf:3:40: cannot prove this index is below 16
               ╭─[bad.udf:3:40]
             2 │ size a(b: B) -> u64 { b.v[16] as u64 }
             3 │ size c(b: B) -> u64 { let k = b.n; b.v[k] as u64 }
               ·                                        ┬
               ·                                        ╰── may be out of range
             4 │ size d(b: B) -> u64 { let k = b.n; if k < 16 { b.v[k] as u64 } else { b.v[k & 15] as u64 } }
               ╰────
              help: guard the access: `if k < 16 { ... }`, or mask it
        "#]],
    );
}

#[test]
fn layout_and_loop_errors() {
    let d = errors(
        "e.udf",
        "layout L size 4 { a: u32 @ 2 }
layout M size 8 { a: u8 @ 0, a: u8 @ 1 }
fn r(x: u64) -> u64 { r(x) }
owns o(x: M) { for k in 0..x.a as u64 { emit(k, 1, 0); } }
filter f(p: packet) { emit(1, 1, 1); true }
",
    );
    let codes: Vec<&str> = d.list.iter().map(|e| e.code).collect();
    assert_eq!(
        codes,
        vec![
            "udf::layout::out_of_range",
            "udf::name::duplicate",
            "udf::fn::recursion",
            "udf::loop::bound",
            "udf::entry::emit",
        ]
    );
}

#[test]
fn compiling_twice_gives_the_same_bytes() {
    let src =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../corpus/fs/ext2.udf"))
            .unwrap();
    let a = udf_compiler::compile("a", &src).unwrap();
    let b = udf_compiler::compile("a", &src).unwrap();
    assert_eq!(a.entries.len(), b.entries.len());
    for (x, y) in a.entries.iter().zip(&b.entries) {
        assert_eq!(x.prog.encode(), y.prog.encode());
        assert_eq!(x.map, y.map);
    }
}
