//! The pcap-filter(7) parser: libpcap's test suite expressions (`accept.json`, `reject.json`,
//! `apply.json`), precedence and qualifier inheritance, located errors, and the printer
//! (parse, print, parse again gives the same tree).

use std::path::PathBuf;

use udf_diag::Diagnostic;
use udf_diag::Span;
use udf_pcap::ast::{Arith, ArithOp, Dir, Expr, Id, IdKind, Keyword, Llc, Proto, Quals, RelOp};
use udf_pcap::parse;

fn suite(name: &str) -> Vec<serde_json::Value> {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/libpcap").join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    match serde_json::from_str(&text).expect("valid JSON") {
        serde_json::Value::Array(v) => v,
        _ => panic!("{name}: not an array"),
    }
}

fn field<'a>(v: &'a serde_json::Value, k: &str) -> &'a str {
    v.get(k).and_then(|x| x.as_str()).unwrap_or("")
}

// ---- spans cleared, for comparing trees --------------------------------------------------------

const Z: Span = Span { start: 0, end: 0 };

fn strip_quals(q: Quals) -> Quals {
    Quals {
        proto: q.proto.map(|(p, _)| (p, Z)),
        dir: q.dir.map(|(d, _)| (d, Z)),
        kind: q.kind.map(|(k, _)| (k, Z)),
    }
}

fn strip_arith(a: &Arith) -> Arith {
    match a {
        Arith::Num(n, _) => Arith::Num(*n, Z),
        Arith::Len(_) => Arith::Len(Z),
        Arith::Index { proto, index, size, .. } => Arith::Index {
            proto: (proto.0, Z),
            index: Box::new(strip_arith(index)),
            size: *size,
            span: Z,
        },
        Arith::Bin { op, lhs, rhs, .. } => Arith::Bin {
            op: *op,
            lhs: Box::new(strip_arith(lhs)),
            rhs: Box::new(strip_arith(rhs)),
            span: Z,
        },
        Arith::Neg(a, _) => Arith::Neg(Box::new(strip_arith(a)), Z),
    }
}

fn strip(e: &Expr) -> Expr {
    match e {
        Expr::True => Expr::True,
        Expr::And(a, b) => Expr::And(Box::new(strip(a)), Box::new(strip(b))),
        Expr::Or(a, b) => Expr::Or(Box::new(strip(a)), Box::new(strip(b))),
        Expr::Not(a, _) => Expr::Not(Box::new(strip(a)), Z),
        Expr::Qualified { quals, id, .. } => {
            Expr::Qualified { quals: strip_quals(*quals), id: id.clone(), id_span: Z, span: Z }
        }
        Expr::Keyword { kw, arg, .. } => {
            Expr::Keyword { kw: *kw, arg: arg.map(|(n, _)| (n, Z)), span: Z }
        }
        Expr::Rel { lhs, op, rhs, .. } => {
            Expr::Rel { lhs: strip_arith(lhs), op: *op, rhs: strip_arith(rhs), span: Z }
        }
    }
}

fn ok(src: &str) -> Expr {
    match parse(src) {
        Ok(e) => e,
        Err(d) => panic!("{src:?} should parse: {d:?}"),
    }
}

fn err(src: &str) -> Diagnostic {
    match parse(src) {
        Ok(e) => panic!("{src:?} should not parse, got {e}"),
        Err(d) => d,
    }
}

/// Parse, print, parse again: the same tree.
fn roundtrip(src: &str) -> Result<(), String> {
    let Ok(e) = parse(src) else { return Ok(()) };
    let printed = e.to_string();
    match parse(&printed) {
        Ok(e2) if strip(&e2) == strip(&e) => Ok(()),
        Ok(e2) => {
            Err(format!("{src:?} printed as {printed:?} reparses differently: {e2:?} vs {e:?}"))
        }
        Err(d) => Err(format!("{src:?} printed as {printed:?} does not reparse: {d:?}")),
    }
}

/// The canonical printing of an expression.
fn canon(src: &str) -> String {
    ok(src).to_string()
}

// ---- building expected trees -----------------------------------------------------------------

fn q(proto: Option<Proto>, dir: Option<Dir>, kind: Option<IdKind>) -> Quals {
    Quals { proto: proto.map(|p| (p, Z)), dir: dir.map(|d| (d, Z)), kind: kind.map(|k| (k, Z)) }
}

fn prim(quals: Quals, id: Id) -> Expr {
    Expr::Qualified { quals, id, id_span: Z, span: Z }
}

fn host(name: &str) -> Expr {
    prim(q(None, None, Some(IdKind::Host)), Id::Name(name.into()))
}

fn and(a: Expr, b: Expr) -> Expr {
    Expr::And(Box::new(a), Box::new(b))
}

fn or(a: Expr, b: Expr) -> Expr {
    Expr::Or(Box::new(a), Box::new(b))
}

fn not(a: Expr) -> Expr {
    Expr::Not(Box::new(a), Z)
}

fn proto(p: Proto) -> Expr {
    Expr::Keyword { kw: Keyword::Proto(p), arg: None, span: Z }
}

fn num(n: u32) -> Arith {
    Arith::Num(n, Z)
}

fn bin(op: ArithOp, a: Arith, b: Arith) -> Arith {
    Arith::Bin { op, lhs: Box::new(a), rhs: Box::new(b), span: Z }
}

fn same(src: &str, want: Expr) {
    assert_eq!(strip(&ok(src)), want, "{src:?}");
}

// ---- libpcap's suite -------------------------------------------------------------------------

#[test]
fn accept_en10mb_and_raw() {
    let mut parsed = 0;
    let mut refused = Vec::new();
    let mut failures = Vec::new();
    for case in suite("accept.json") {
        let dlt = field(&case, "dlt");
        if dlt != "EN10MB" && dlt != "RAW" {
            continue;
        }
        let expr = field(&case, "expr");
        match parse(expr) {
            Ok(_) => parsed += 1,
            Err(d) if d.code == "udf::pcap::unsupported" => {
                refused.push((expr.to_string(), d.message))
            }
            Err(d) => failures.push(format!("{dlt} {expr:?}: [{}] {}", d.code, d.message)),
        }
    }
    for (e, why) in &refused {
        println!("refused {e:?}: {why}");
    }
    println!("{parsed} parsed, {} refused as unsupported", refused.len());
    assert!(failures.is_empty(), "{} failed:\n{}", failures.len(), failures.join("\n"));
    assert!(refused.len() <= 5, "too many refused: {}", refused.len());
    assert!(parsed > 500);
}

/// Whatever libpcap accepts for any link type is valid syntax: it parses, or is refused as
/// unsupported (802.11, pflog, ATM, SS7 primitives), never a syntax or value error.
#[test]
fn accept_every_link_type_is_syntax_we_know() {
    let mut refused = 0;
    let mut failures = Vec::new();
    for case in suite("accept.json") {
        let expr = field(&case, "expr");
        match parse(expr) {
            Ok(_) => {}
            Err(d) if d.code == "udf::pcap::unsupported" => {
                assert!(!d.labels.is_empty(), "{expr:?}: unsupported without a label");
                refused += 1;
            }
            Err(d) => failures.push(format!(
                "{} {expr:?}: [{}] {}",
                field(&case, "dlt"),
                d.code,
                d.message
            )),
        }
    }
    println!("{refused} refused as unsupported");
    assert!(failures.is_empty(), "{} failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn apply_expressions_parse() {
    for case in suite("apply.json") {
        let expr = field(&case, "expr");
        if let Err(d) = parse(expr) {
            assert_eq!(d.code, "udf::pcap::unsupported", "{expr:?}: {d:?}");
        }
    }
}

/// libpcap errors the parser must report itself: lexical errors, grammar errors and the range
/// checks grammar.y and the scanner make.
fn parser_level(msg: &str) -> bool {
    [
        "syntax error",
        "invalid Ethernet address",
        "overflows 32 bits",
        "non-octal digit",
        "invalid IPv6 address",
        "data size must be",
        "qualifier applied to",
        "VLAN tag",
        "MPLS label",
        "PPPoE session number",
        "VXLAN VNI",
        "Geneve VNI",
        "netmask length",
        "mask length must be",
        "byte argument",
        "unknown LLC type",
    ]
    .iter()
    .any(|m| msg.contains(m))
}

/// libpcap errors that need the code generator (what the names, qualifiers and link type mean).
fn codegen_level(msg: &str) -> bool {
    [
        "is not a valid qualifier",
        "does not support the index operation",
        "invalid IPv4 address",
        "invalid DECnet address",
        "non-network bits set",
        "unknown network",
        "unknown host",
        "unknown Ethernet-like host",
        "greater than maximum",
        "not supported on DLT_",
        "not supported with variable length headers",
        "cannot be used within",
        "Ethernet address used in non-ether expression",
        "illegal link-layer address",
        "unknown 'proto' value",
        "unknown 'protochain' value",
        "proto' value",
        "protochain' value",
        "expression rejects all packets",
        "netmask not known",
        "not a live capture",
        "is valid for 802.11 syntax only",
        "supported only on",
        "unknown port",
        "unknown protocol",
        "illegal port",
        "illegal qualifier",
    ]
    .iter()
    .any(|m| msg.contains(m))
}

/// A message with its quoted parts and numbers blanked, to group similar ones.
fn generic(msg: &str) -> String {
    let mut out = String::new();
    let mut quoted = None;
    for c in msg.chars() {
        match quoted {
            Some(q) if c == q => {
                quoted = None;
                out.push(c);
            }
            Some(_) => {}
            None if c == '\'' || c == '"' => {
                quoted = Some(c);
                out.push_str(&format!("{c}…"));
            }
            None if c.is_ascii_digit() => {
                if !out.ends_with('N') {
                    out.push('N');
                }
            }
            None => out.push(c),
        }
    }
    out
}

#[test]
fn reject_en10mb_and_raw() {
    let mut by_parser = 0;
    let mut left = std::collections::BTreeMap::<String, Vec<String>>::new();
    let mut failures = Vec::new();
    for case in suite("reject.json") {
        let dlt = field(&case, "dlt");
        let expr = field(&case, "expr");
        let msg = field(&case, "expected_error");
        let en_or_raw = dlt == "EN10MB" || dlt == "RAW";
        match parse(expr) {
            Err(d) => {
                assert!(!d.labels.is_empty(), "{expr:?}: error without a label: {d:?}");
                if en_or_raw {
                    by_parser += 1;
                }
            }
            // A syntax error is one for every link type.
            Ok(e) if parser_level(msg) => {
                failures.push(format!("{dlt} {expr:?} ({msg}) parsed as {e}"))
            }
            Ok(_) if !en_or_raw => {}
            Ok(_) if codegen_level(msg) => {
                let key = generic(msg);
                left.entry(key).or_default().push(expr.to_string());
            }
            Ok(e) => failures.push(format!("{dlt} {expr:?} ({msg}) parsed as {e}, unclassified")),
        }
    }
    println!("{by_parser} EN10MB/RAW rejections made by the parser; left for the code generator:");
    for (k, v) in &left {
        println!(
            "  {k} ({}): {}",
            v.len(),
            v.iter().take(4).cloned().collect::<Vec<_>>().join(" | ")
        );
    }
    assert!(failures.is_empty(), "{} failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn print_parse_identity_over_the_suite() {
    let mut failures = Vec::new();
    let mut n = 0;
    for file in ["accept.json", "apply.json", "reject.json"] {
        for case in suite(file) {
            n += 1;
            if let Err(m) = roundtrip(field(&case, "expr")) {
                failures.push(m);
            }
        }
    }
    assert!(n > 1000);
    assert!(failures.is_empty(), "{} failed:\n{}", failures.len(), failures.join("\n"));
}

// ---- precedence and inheritance --------------------------------------------------------------

#[test]
fn and_or_same_precedence_left_assoc() {
    same("host a or host b and host c", and(or(host("a"), host("b")), host("c")));
    same("host a and host b or host c", or(and(host("a"), host("b")), host("c")));
    same(
        "host a && host b || host c && host d",
        and(or(and(host("a"), host("b")), host("c")), host("d")),
    );
    same("host a or (host b and host c)", or(host("a"), and(host("b"), host("c"))));
    same("not host a and host b", and(not(host("a")), host("b")));
    same("! tcp || ! udp", or(not(proto(Proto::Tcp)), not(proto(Proto::Udp))));
    same("not not tcp", not(not(proto(Proto::Tcp))));
    same("", Expr::True);
    same(" \t\n ", Expr::True);
}

#[test]
fn qualifier_inheritance() {
    same("host a or b", or(host("a"), host("b")));
    same("host a or b and c", and(or(host("a"), host("b")), host("c")));
    same("not host a or b", or(not(host("a")), host("b")));
    same("host a or not b", or(host("a"), not(host("b"))));
    let tcp_port = |n| prim(q(Some(Proto::Tcp), None, Some(IdKind::Port)), Id::Num(n));
    same("tcp port 80 or 443", or(tcp_port(80), tcp_port(443)));
    same("tcp port 80 and not 22", and(tcp_port(80), not(tcp_port(22))));
    same("tcp port 80 or (443)", or(tcp_port(80), tcp_port(443)));
    same("tcp port 80 or (443 or 8080)", or(tcp_port(80), or(tcp_port(443), tcp_port(8080))));
    let iph =
        |a: [u32; 4]| prim(q(Some(Proto::Ip), None, Some(IdKind::Host)), Id::Dotted(a.to_vec()));
    same("ip host 1.2.3.4 and not 5.6.7.8", and(iph([1, 2, 3, 4]), not(iph([5, 6, 7, 8]))));
    let isis = |n| prim(q(Some(Proto::Isis), None, Some(IdKind::Proto)), Id::Num(n));
    same("isis proto 0x1a or 0x18 or 0x12", or(or(isis(0x1a), isis(0x18)), isis(0x12)));
    let srcnet = |a: Vec<u32>| prim(q(None, Some(Dir::Src), Some(IdKind::Net)), Id::Dotted(a));
    same("src net 10.1 or 10.2", or(srcnet(vec![10, 1]), srcnet(vec![10, 2])));
    // A parenthesised list of values takes the qualifiers before it.
    same("host (a or b)", or(host("a"), host("b")));
    same("host (a or b) and c", and(or(host("a"), host("b")), host("c")));
    same("host a or (b or (c and d))", or(host("a"), or(host("b"), and(host("c"), host("d")))));
    same("host not a", not(host("a")));
    // After a parenthesised expression, the qualifiers before the parenthesis.
    same("host a and (tcp) or b", or(and(host("a"), proto(Proto::Tcp)), host("b")));
    same("host a and ((tcp) or b)", and(host("a"), or(proto(Proto::Tcp), host("b"))));
    same("(tcp or udp) and host x", and(or(proto(Proto::Tcp), proto(Proto::Udp)), host("x")));
    // A new head replaces the qualifiers.
    let port = |n| prim(q(None, None, Some(IdKind::Port)), Id::Num(n));
    same("host a or port 53 or 54", or(or(host("a"), port(53)), port(54)));
    // All three slots are inherited.
    let full = |n| prim(q(Some(Proto::Udp), Some(Dir::Src), Some(IdKind::Port)), Id::Num(n));
    same("udp src port 53 or 54", or(full(53), full(54)));
    let sod =
        |n| prim(q(Some(Proto::Tcp), Some(Dir::SrcOrDst), Some(IdKind::Portrange)), Id::Name(n));
    same(
        "tcp src or dst portrange 25-53 or smtp-domain",
        or(sod("25-53".into()), sod("smtp-domain".into())),
    );
    let sad =
        prim(q(None, Some(Dir::SrcAndDst), Some(IdKind::Host)), Id::Dotted(vec![192, 0, 2, 20]));
    same("dst and src host 192.0.2.20", sad);
}

#[test]
fn inheritance_needs_a_qualified_primitive() {
    for src in [
        "tcp or a",
        "tcp or 80",
        "(host a) or b",
        "not (tcp) or 1.2.3.4",
        "len > 5 or b",
        "vlan 1 or 2",
    ] {
        let d = err(src);
        assert_eq!(d.code, "udf::pcap::syntax", "{src}");
        assert!(d.message.contains("no qualifiers to inherit"), "{src}: {}", d.message);
    }
    // libpcap's grammar refuses these (a list cannot start with a list; a list holds values).
    for src in [
        "host a or ((b or c))",
        "host ((a or b) or c)",
        "host a and (b or tcp)",
        "a",
        "not a",
        "ip 1.2.3.4",
    ] {
        assert_eq!(err(src).code, "udf::pcap::syntax", "{src}");
    }
}

#[test]
fn primitives() {
    let e = |s: &str, quals: Quals, id: Id| same(s, prim(quals, id));
    e(
        "ether host ab:cd:ef:0:0:1",
        q(Some(Proto::Link), None, Some(IdKind::Host)),
        Id::Mac([0xab, 0xcd, 0xef, 0, 0, 1]),
    );
    e(
        "ether src ab.CD.ef.0.0.1",
        q(Some(Proto::Link), Some(Dir::Src), None),
        Id::Mac([0xab, 0xcd, 0xef, 0, 0, 1]),
    );
    e(
        "ether dst ab-cd-ef-00-00-02",
        q(Some(Proto::Link), Some(Dir::Dst), None),
        Id::Mac([0xab, 0xcd, 0xef, 0, 0, 2]),
    );
    e(
        "ether dst host abcd.ef00.0003",
        q(Some(Proto::Link), Some(Dir::Dst), Some(IdKind::Host)),
        Id::Mac([0xab, 0xcd, 0xef, 0, 0, 3]),
    );
    e(
        "fddi dst abcdef000003",
        q(Some(Proto::Link), Some(Dir::Dst), None),
        Id::Mac([0xab, 0xcd, 0xef, 0, 0, 3]),
    );
    e("ether proto \\arp", q(Some(Proto::Link), None, Some(IdKind::Proto)), Id::Name("arp".into()));
    e("iso proto \\isis", q(Some(Proto::Iso), None, Some(IdKind::Proto)), Id::Name("isis".into()));
    e("ip proto \\tcp", q(Some(Proto::Ip), None, Some(IdKind::Proto)), Id::Name("tcp".into()));
    e("ip6 protochain 17", q(Some(Proto::Ip6), None, Some(IdKind::Protochain)), Id::Num(17));
    e("protochain \\udp", q(None, None, Some(IdKind::Protochain)), Id::Name("udp".into()));
    e(
        "gateway host.invalid.",
        q(None, None, Some(IdKind::Gateway)),
        Id::Name("host.invalid.".into()),
    );
    e("ip host 0xc0a8aad3", q(Some(Proto::Ip), None, Some(IdKind::Host)), Id::Num(0xc0a8_aad3));
    e("ip host 0030052125323", q(Some(Proto::Ip), None, Some(IdKind::Host)), Id::Num(0xc0a8_aad3));
    e("decnet src 50.764", q(Some(Proto::Decnet), Some(Dir::Src), None), Id::Dotted(vec![50, 764]));
    e("net 010.1", q(None, None, Some(IdKind::Net)), Id::Dotted(vec![10, 1]));
    e(
        "ip src or dst net 192.168.170.211/ 32",
        q(Some(Proto::Ip), Some(Dir::SrcOrDst), Some(IdKind::Net)),
        Id::Prefix(Box::new(Id::Dotted(vec![192, 168, 170, 211])), 32),
    );
    e(
        "net 192.168 mask 255.255",
        q(None, None, Some(IdKind::Net)),
        Id::Masked(Box::new(Id::Dotted(vec![192, 168])), Box::new(Id::Dotted(vec![255, 255]))),
    );
    let v6 = |s: &str| Id::Ipv6(s.parse::<std::net::Ipv6Addr>().unwrap().octets());
    e("ip6 host ::1", q(Some(Proto::Ip6), None, Some(IdKind::Host)), v6("::1"));
    e("ip6 host ::0.0.0.1", q(Some(Proto::Ip6), None, Some(IdKind::Host)), v6("::1"));
    e(
        "ip6 src fe80::1122:33ff:254.68.85.102",
        q(Some(Proto::Ip6), Some(Dir::Src), None),
        v6("fe80::1122:33ff:fe44:5566"),
    );
    e(
        "ip6 net fe80::/10",
        q(Some(Proto::Ip6), None, Some(IdKind::Net)),
        Id::Prefix(Box::new(v6("fe80::")), 10),
    );
    e(
        "ip6 host 1:2:3:4:5:6:7:8",
        q(Some(Proto::Ip6), None, Some(IdKind::Host)),
        v6("1:2:3:4:5:6:7:8"),
    );
    e(
        "tcp portrange smtp-domain",
        q(Some(Proto::Tcp), None, Some(IdKind::Portrange)),
        Id::Name("smtp-domain".into()),
    );
    e("portrange 25-53", q(None, None, Some(IdKind::Portrange)), Id::Name("25-53".into()));
    e("src host \\host", q(None, Some(Dir::Src), Some(IdKind::Host)), Id::Name("host".into()));
    // Twelve decimal digits are an Ethernet address (the scanner's MAC rule comes first).
    e(
        "ether host 123456789012",
        q(Some(Proto::Link), None, Some(IdKind::Host)),
        Id::Mac([0x12, 0x34, 0x56, 0x78, 0x90, 0x12]),
    );

    let kw = |s: &str, kw: Keyword, arg: Option<u32>| {
        same(s, Expr::Keyword { kw, arg: arg.map(|n| (n, Z)), span: Z });
    };
    kw("ip", Keyword::Proto(Proto::Ip), None);
    kw("es-is", Keyword::Proto(Proto::Esis), None);
    kw("is-is", Keyword::Proto(Proto::Isis), None);
    kw("wlan", Keyword::Proto(Proto::Link), None);
    kw("type data", Keyword::WlanType { ty: 8, sub: None }, None);
    kw("wlan type mgt subtype beacon", Keyword::WlanType { ty: 0, sub: Some(0x80) }, None);
    kw("type 4 subtype 0xd0", Keyword::WlanType { ty: 4, sub: Some(0xd0) }, None);
    kw("wlan subtype beacon", Keyword::WlanSubtype(0x80), None);
    kw("subtype qos-data", Keyword::WlanSubtype(0x88), None);
    kw("dir fromds", Keyword::WlanDir(2), None);
    kw("direction 3", Keyword::WlanDir(3), None);
    kw("broadcast", Keyword::Broadcast(None), None);
    kw("ip broadcast", Keyword::Broadcast(Some(Proto::Ip)), None);
    kw("link multicast", Keyword::Multicast(Some(Proto::Link)), None);
    kw("ip6 multicast", Keyword::Multicast(Some(Proto::Ip6)), None);
    kw("less 64", Keyword::Less, Some(64));
    kw("greater 100", Keyword::Greater, Some(100));
    kw("vlan", Keyword::Vlan, None);
    kw("vlan 100", Keyword::Vlan, Some(100));
    kw("vlan (100)", Keyword::Vlan, Some(100));
    kw("mpls 1048575", Keyword::Mpls, Some(1_048_575));
    kw("pppoed", Keyword::Pppoed, None);
    kw("pppoes 0x3b", Keyword::Pppoes, Some(0x3b));
    kw("geneve 12345", Keyword::Geneve, Some(12345));
    kw("vxlan", Keyword::Vxlan, None);
    kw("llc", Keyword::Llc(None), None);
    kw("llc ui", Keyword::Llc(Some(Llc::Ui)), None);
    kw("llc rnr", Keyword::Llc(Some(Llc::Rnr)), None);
    kw("llc XID", Keyword::Llc(Some(Llc::Xid)), None);
    kw("inbound", Keyword::Inbound, None);
    kw("outbound", Keyword::Outbound, None);
    kw("ifindex 10", Keyword::Ifindex, Some(10));
}

#[test]
fn arithmetic() {
    let rel = |lhs, op, rhs| Expr::Rel { lhs, op, rhs, span: Z };
    let idx = |p, i, size| Arith::Index { proto: (p, Z), index: Box::new(num(i)), size, span: Z };
    same(
        "ip[0] & 0xf != 5",
        rel(bin(ArithOp::And, idx(Proto::Ip, 0, 1), num(15)), RelOp::Ne, num(5)),
    );
    same(
        "(ip[0] & 0xf0) >> 4 == 3",
        rel(
            bin(ArithOp::Rsh, bin(ArithOp::And, idx(Proto::Ip, 0, 1), num(0xf0)), num(4)),
            RelOp::Eq,
            num(3),
        ),
    );
    same("len >= 100", rel(Arith::Len(Z), RelOp::Ge, num(100)));
    same("length <= 200", rel(Arith::Len(Z), RelOp::Le, num(200)));
    same("ether[7:2] = 0x1234", rel(idx(Proto::Link, 7, 2), RelOp::Eq, num(0x1234)));
    same("tcp[13:4] < 1", rel(idx(Proto::Tcp, 13, 4), RelOp::Lt, num(1)));
    same(
        "tcp[tcpflags] & tcp-syn != 0",
        rel(bin(ArithOp::And, idx(Proto::Tcp, 13, 1), num(2)), RelOp::Ne, num(0)),
    );
    same("icmp[icmptype] = icmp-echo", rel(idx(Proto::Icmp, 0, 1), RelOp::Eq, num(8)));
    same("icmp6[icmp6type] = icmp6-echoreply", rel(idx(Proto::Icmp6, 0, 1), RelOp::Eq, num(129)));
    same("(1) = 1", rel(num(1), RelOp::Eq, num(1)));
    same("((1 + 2)) = 3", rel(bin(ArithOp::Add, num(1), num(2)), RelOp::Eq, num(3)));
    same("(1 + 2 = 3)", rel(bin(ArithOp::Add, num(1), num(2)), RelOp::Eq, num(3)));
    same(
        "tcp port 80 or (443) + 1 = 444",
        or(
            prim(q(Some(Proto::Tcp), None, Some(IdKind::Port)), Id::Num(80)),
            rel(bin(ArithOp::Add, num(443), num(1)), RelOp::Eq, num(444)),
        ),
    );
    same(
        "ip[ip[0] & 0xf] > 4",
        rel(
            Arith::Index {
                proto: (Proto::Ip, Z),
                index: Box::new(bin(ArithOp::And, idx(Proto::Ip, 0, 1), num(15))),
                size: 1,
                span: Z,
            },
            RelOp::Gt,
            num(4),
        ),
    );
    // `byte` is libpcap's shorthand for a comparison on the link-layer header.
    same("byte 8 = 5", rel(idx(Proto::Link, 8, 1), RelOp::Eq, num(5)));
    same("byte 8 & 5", rel(bin(ArithOp::And, idx(Proto::Link, 8, 1), num(5)), RelOp::Ne, num(0)));
}

#[test]
fn arithmetic_precedence() {
    // grammar.y: | < & < << >> < + - < * / < unary minus, all left associative.
    assert_eq!(canon("1 | 2 & 3 = 0"), "(1 | (2 & 3)) == 0");
    assert_eq!(canon("1 & 2 << 3 = 0"), "(1 & (2 << 3)) == 0");
    assert_eq!(canon("1 << 2 + 3 = 0"), "(1 << (2 + 3)) == 0");
    assert_eq!(canon("1 + 2 * 3 = 0"), "(1 + (2 * 3)) == 0");
    // A left-associative run of one operator prints flat.
    assert_eq!(canon("1 - 2 - 3 = 0"), "(1 - 2 - 3) == 0");
    assert_eq!(canon("8 / 4 / 2 = 1"), "(8 / 4 / 2) == 1");
    assert_eq!(canon("1 - 2 + 3 = 0"), "((1 - 2) + 3) == 0");
    assert_eq!(canon("- 1 * 2 = 0"), "((-1) * 2) == 0");
    assert_eq!(canon("- - 1 = 1"), "(-(-1)) == 1");
    assert_eq!(canon("1 - -2 = 3"), "(1 - (-2)) == 3");
    // `%` and `^` have no precedence in grammar.y: bison shifts, so they take everything to their
    // right (checked against libpcap: `2 % 3 * 4 = 2` accepts every packet).
    assert_eq!(canon("2 % 3 * 4 = 2"), "(2 % (3 * 4)) == 2");
    assert_eq!(canon("2 * 3 % 4 = 2"), "(2 * (3 % 4)) == 2");
    assert_eq!(canon("1 ^ 2 + 3 = 6"), "(1 ^ (2 + 3)) == 6");
    assert_eq!(canon("1 + 2 ^ 3 = 0"), "(1 + (2 ^ 3)) == 0");
    assert_eq!(canon("8 - 2 ^ 1 = 7"), "(8 - (2 ^ 1)) == 7");
    assert_eq!(canon("- 1 % 2 = 1"), "(-(1 % 2)) == 1");
    assert_eq!(canon("1 ^ 2 ^ 3 = 0"), "(1 ^ 2 ^ 3) == 0");
    assert_eq!(canon("1 ^ 2 % 3 = 0"), "(1 ^ 2 % 3) == 0");
    assert_eq!(canon("1 ^ (2 + 3) % 4 = 0"), "(1 ^ (2 + 3) % 4) == 0");
    assert_eq!(canon("1 * 2 ^ 3 * 4 - 5 = 0"), "(1 * (2 ^ ((3 * 4) - 5))) == 0");
    assert_eq!(canon("(1 ^ 2) + 3 = 6"), "((1 ^ 2) + 3) == 6");
}

#[test]
fn printing() {
    assert_eq!(canon("host a or b and not c"), "((host a or host b) and (not host c))");
    assert_eq!(canon("tcp dst port 80 or 443"), "(tcp dst port 80 or tcp dst port 443)");
    assert_eq!(canon("ether proto \\ip"), "ether proto \\ip");
    assert_eq!(canon("ip proto \\foo"), "ip proto foo");
    assert_eq!(canon("host \\25"), "host \\25");
    assert_eq!(canon("ip6 net fe80:0:0:0::/10"), "ip6 net fe80::/10");
    assert_eq!(canon("ip6 host ::0.0.0.1"), "ip6 host ::1");
    assert_eq!(canon("ip6 host 1:0:0:1:0:0:0:1"), "ip6 host 1:0:0:1::1");
    assert_eq!(canon("ether host AB-cd-EF-0-0-1"), "ether host ab:cd:ef:00:00:01");
    assert_eq!(
        canon("src or dst net 10.0.0.0 mask 255.0.0.0"),
        "src or dst net 10.0.0.0 mask 255.0.0.0"
    );
    assert_eq!(canon("vlan 100 && llc ui"), "(vlan 100 and llc ui)");
    assert_eq!(canon("ether[12:2] = 0x800"), "ether[12:2] == 2048");
    assert_eq!(canon(""), "");
    for src in [
        "(ip[0] & 0xf0) >> 4 == 3",
        "not (tcp or udp) and not host a",
        "host a or (b or (c and not d)) and port 1",
        "tcp[tcpflags] & (tcp-syn | tcp-ack) == tcp-syn",
        "- ip[0] % 3 ^ 1 < -len",
        "host \\and or \\or",
        "net 1.2.3.0/24 or 1.2.4.0/24",
        "geneve and tcp",
        "geneve 0 or vxlan",
        "vxlan 16777215 and (ip or arp) and not geneve 12345",
        "udp and vxlan 0x10 and vlan 100 and ether host 0:1:2:3:4:5",
        "not (vxlan and host 10.0.0.1)",
    ] {
        roundtrip(src).unwrap();
    }
    assert_eq!(canon("geneve 0x10 && tcp"), "(geneve 16 and tcp)");
    assert_eq!(canon("vxlan and not geneve"), "(vxlan and (not geneve))");
}

#[test]
fn spans() {
    let src = "ip host a or b and not tcp";
    let text = |sp: Span| &src[sp.range()];
    let Expr::And(l, r) = ok(src) else { panic!() };
    let Expr::Or(a, b) = *l else { panic!() };
    let Expr::Qualified { quals, id_span, span, .. } = *a else { panic!() };
    assert_eq!((text(span), text(id_span)), ("ip host a", "a"));
    assert_eq!(text(quals.proto.unwrap().1), "ip");
    assert_eq!(text(quals.kind.unwrap().1), "host");
    let Expr::Qualified { quals, id_span, span, .. } = *b else { panic!() };
    assert_eq!((text(span), text(id_span)), ("b", "b"));
    // Inherited qualifiers point at where they were written.
    assert_eq!(text(quals.kind.unwrap().1), "host");
    let Expr::Not(t, sp) = *r else { panic!() };
    assert_eq!(text(sp), "not tcp");
    assert_eq!(t.span().map(text), Some("tcp"));

    let src = "(ip[0] & 0xf0) >> 4 == 3 or vlan 100";
    let text = |sp: Span| &src[sp.range()];
    let Expr::Or(rel, vlan) = ok(src) else { panic!() };
    let Expr::Rel { lhs, span, .. } = *rel else { panic!() };
    assert_eq!(text(span), "(ip[0] & 0xf0) >> 4 == 3");
    let Arith::Bin { lhs: inner, .. } = lhs else { panic!() };
    assert_eq!(text(inner.span()), "(ip[0] & 0xf0)");
    let Expr::Keyword { arg: Some((100, a)), span, .. } = *vlan else { panic!() };
    assert_eq!((text(span), text(a)), ("vlan 100", "100"));

    let src = "ip6 src net fe80::/10 or not (1.2.3.4)";
    let text = |sp: Span| &src[sp.range()];
    let Expr::Or(a, b) = ok(src) else { panic!() };
    let Expr::Qualified { quals, id_span, span, .. } = *a else { panic!() };
    assert_eq!((text(span), text(id_span)), ("ip6 src net fe80::/10", "fe80::/10"));
    assert_eq!(text(quals.dir.unwrap().1), "src");
    let Expr::Not(_, sp) = *b else { panic!() };
    assert_eq!(text(sp), "not (1.2.3.4)");
    let d = err("tcp src or dst port 80 or 1.2.3.4");
    let spans: Vec<&str> =
        d.labels.iter().map(|l| &"tcp src or dst port 80 or 1.2.3.4"[l.span.range()]).collect();
    assert_eq!(spans, ["1.2.3.4", "port"]);
}

#[test]
fn long_chains_on_the_default_stack() {
    // Parsing and printing a long chain recurse neither on the chain nor on its text.
    let long = format!("host a{}", " or b".repeat(10_000));
    let printed = ok(&long).to_string();
    assert!(printed.starts_with("(host a or host b or host b"));
    assert!(parse(&printed).is_ok());
    let not = format!("not (a{})", " or b".repeat(9_998));
    assert!(parse(&format!("host x and {not}")).is_ok());
    // The limit is on the whole expression's operators, so nesting cannot multiply it.
    let half = format!("(host a{})", " or b".repeat(5_000));
    assert_eq!(err(&format!("{half} and {half}")).code, "udf::pcap::syntax");
}

// ---- errors ----------------------------------------------------------------------------------

fn located(src: &str, code: &str, at: &str) -> Diagnostic {
    let d = err(src);
    assert_eq!(d.code, code, "{src:?}: {d:?}");
    let l = d.labels.first().unwrap_or_else(|| panic!("{src:?}: no label"));
    assert_eq!(&src[l.span.range()], at, "{src:?}: {d:?}");
    assert!(!d.message.is_empty());
    d
}

#[test]
fn located_errors() {
    const S: &str = "udf::pcap::syntax";
    const U: &str = "udf::pcap::unsupported";
    const V: &str = "udf::pcap::value";
    let d = located("ether ab:cd:ef:0g:00:00", V, "ab:cd:ef:0g:00:00");
    assert!(d.message.contains("invalid Ethernet address"));
    located("host 1.2.3.4 and 4294967296", V, "4294967296");
    located("ip[0] = 0x100000000", V, "0x100000000");
    located("port 08", V, "08");
    located("ip6 host fe80::256.20.30.40", V, "fe80::256.20.30.40");
    located("ip6 host fe80:0:0:0:0:0:0:0:0", S, ":");
    located("link[0:3] != 0", V, "3");
    located("link[0:-1] != 0", S, "-");
    located("vlan 4096", V, "4096");
    located("pppoes 65536", V, "65536");
    located("mpls 1048576", V, "1048576");
    located("vxlan 123456789", V, "123456789");
    located("ip net 10.0.0.0/33", V, "33");
    located("ip6 net ::/129", V, "129");
    located("tcp port 1.2.3.4", V, "1.2.3.4");
    located("ip proto 10.0.0.0/8", V, "10.0.0.0/8");
    located("port 80 or ::1", V, "::1");
    located("byte 1 = 256", V, "256");
    located("llc foo", V, "foo");
    located("pppoed 1234", S, "1234");
    located("vlan any", S, "any");
    located("net 10/8", S, "/");
    located("net 10 mask 255.0.0.0", S, "mask");
    located("net 10.0.0.0 mask 255", S, "255");
    located("src proto 1", S, "proto");
    located("src gateway x", S, "gateway");
    located("src or 1.2.3.4", S, "1.2.3.4");
    located("host", S, "");
    located("tcp and", S, "");
    located("host a and (b or c", S, "(");
    located("(tcp or udp", S, "(");
    located("tcp or udp)", S, ")");
    located("host and", S, "and");
    located("host sc", S, "sc");
    located("lldp", S, "lldp");
    located("\\lldp", S, "\\lldp");
    located("tcp or foo", S, "foo");
    located("ip 1.2.3.4", S, "1.2.3.4");
    located("len + 1", S, "");
    located("host a # b", S, "#");
    located("host a é", S, "é");
    located("\\", S, "\\");
    located("ip[0] = 1 +", S, "");
    located("1 + ip = 2", S, "=");
    located("type foo", V, "foo");
    located("type data subtype beacon", V, "beacon");
    located("subtype 3", S, "3");
    located("dir sideways", V, "sideways");
    located("link host $21", U, "$21");
    located("on eth0", U, "on");
    located("rnr 3", U, "rnr");
    located("vpi 1", U, "vpi");
    located("fisu", U, "fisu");
    located("sio 1", U, "sio");
    located("radio", U, "radio");
    located("tcp and radio[0] = 1", U, "radio");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    // The trees of long chains are deep; comparing them recurses (in debug builds) more than
    // the default test thread's stack allows.
    std::thread::Builder::new().stack_size(256 << 20).spawn(deep_nesting).unwrap().join().unwrap();
}

fn deep_nesting() {
    let deep = format!("{}tcp{}", "(".repeat(100_000), ")".repeat(100_000));
    assert_eq!(err(&deep).code, "udf::pcap::syntax");
    let nots = format!("{}tcp", "not ".repeat(100_000));
    assert_eq!(err(&nots).code, "udf::pcap::syntax");
    let minus = format!("{}1 = 1", "-".repeat(100_000));
    assert_eq!(err(&minus).code, "udf::pcap::syntax");
    let index = format!("{}0{} = 1", "ip[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(err(&index).code, "udf::pcap::syntax");
    let fine = format!("{}tcp{}", "(".repeat(100), ")".repeat(100));
    assert!(parse(&fine).is_ok());
    // Expressions are fine up to 10000 operators (a tree is at most that deep).
    let chain = |n: usize, op: &str| format!("host a{}", format!(" {op} b").repeat(n));
    let long = ok(&chain(10_000, "or"));
    roundtrip(&long.to_string()).unwrap();
    assert_eq!(err(&chain(10_001, "and")).code, "udf::pcap::syntax");
    let sum = format!("1{} = 1", " + 1".repeat(10_000));
    roundtrip(&sum).unwrap();
    assert_eq!(err(&format!("1{} = 1", " % 1".repeat(10_001))).code, "udf::pcap::syntax");
    let list = format!("host (a{})", " or b".repeat(10_000));
    roundtrip(&list).unwrap();
}
