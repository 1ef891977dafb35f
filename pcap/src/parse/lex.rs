//! The lexer: every pattern of libpcap's scanner.l is tried, the longest match wins, ties go to
//! the earlier rule.

use super::*;

fn keyword(w: &str) -> Option<Tok> {
    use Proto as Pr;
    let k = match w {
        "dst" => Kw::Dst,
        "src" => Kw::Src,
        "link" | "ether" | "ppp" | "slip" | "fddi" | "tr" | "wlan" => Kw::Pname(Pr::Link),
        "arp" => Kw::Pname(Pr::Arp),
        "rarp" => Kw::Pname(Pr::Rarp),
        "ip" => Kw::Pname(Pr::Ip),
        "sctp" => Kw::Pname(Pr::Sctp),
        "tcp" => Kw::Pname(Pr::Tcp),
        "udp" => Kw::Pname(Pr::Udp),
        "icmp" => Kw::Pname(Pr::Icmp),
        "igmp" => Kw::Pname(Pr::Igmp),
        "igrp" => Kw::Pname(Pr::Igrp),
        "pim" => Kw::Pname(Pr::Pim),
        "vrrp" => Kw::Pname(Pr::Vrrp),
        "carp" => Kw::Pname(Pr::Carp),
        "radio" => Kw::Unsup(Family::Radio),
        "ip6" => Kw::Pname(Pr::Ip6),
        "icmp6" => Kw::Pname(Pr::Icmp6),
        "ah" => Kw::Pname(Pr::Ah),
        "esp" => Kw::Pname(Pr::Esp),
        "atalk" => Kw::Pname(Pr::Atalk),
        "aarp" => Kw::Pname(Pr::Aarp),
        "decnet" => Kw::Pname(Pr::Decnet),
        "lat" => Kw::Pname(Pr::Lat),
        "sca" => Kw::Pname(Pr::Sca),
        "moprc" => Kw::Pname(Pr::Moprc),
        "mopdl" => Kw::Pname(Pr::Mopdl),
        "iso" => Kw::Pname(Pr::Iso),
        "esis" | "es-is" => Kw::Pname(Pr::Esis),
        "isis" | "is-is" => Kw::Pname(Pr::Isis),
        "l1" => Kw::Pname(Pr::L1),
        "l2" => Kw::Pname(Pr::L2),
        "iih" => Kw::Pname(Pr::Iih),
        "lsp" => Kw::Pname(Pr::Lsp),
        "snp" => Kw::Pname(Pr::Snp),
        "csnp" => Kw::Pname(Pr::Csnp),
        "psnp" => Kw::Pname(Pr::Psnp),
        "clnp" => Kw::Pname(Pr::Clnp),
        "stp" => Kw::Pname(Pr::Stp),
        "ipx" => Kw::Pname(Pr::Ipx),
        "netbeui" => Kw::Pname(Pr::Netbeui),
        "host" => Kw::Host,
        "net" => Kw::Net,
        "mask" => Kw::Mask,
        "port" => Kw::Port,
        "portrange" => Kw::Portrange,
        "proto" => Kw::ProtoQual,
        "protochain" => Kw::Protochain,
        "gateway" => Kw::Gateway,
        "type" => Kw::WlanType,
        "subtype" => Kw::WlanSubtype,
        "direction" | "dir" => Kw::WlanDir,
        "address1" | "addr1" => Kw::WlanDirQ(Dir::Addr1),
        "address2" | "addr2" => Kw::WlanDirQ(Dir::Addr2),
        "address3" | "addr3" => Kw::WlanDirQ(Dir::Addr3),
        "address4" | "addr4" => Kw::WlanDirQ(Dir::Addr4),
        "ra" => Kw::WlanDirQ(Dir::Ra),
        "ta" => Kw::WlanDirQ(Dir::Ta),
        "less" => Kw::Less,
        "greater" => Kw::Greater,
        "byte" => Kw::Byte,
        "broadcast" => Kw::Broadcast,
        "multicast" => Kw::Multicast,
        "and" => return Some(Tok::And),
        "or" => return Some(Tok::Or),
        "not" => return Some(Tok::Not),
        "len" | "length" => Kw::Len,
        "inbound" => Kw::Inbound,
        "outbound" => Kw::Outbound,
        "ifindex" => Kw::Ifindex,
        "vlan" => Kw::Vlan,
        "mpls" => Kw::Mpls,
        "pppoed" => Kw::Pppoed,
        "pppoes" => Kw::Pppoes,
        "geneve" => Kw::Geneve,
        "vxlan" => Kw::Vxlan,
        "llc" => Kw::Llc,
        "lane" | "metac" | "bcc" | "oam" | "oamf4" | "oamf4ec" | "oamf4sc" | "sc" | "ilmic"
        | "vpi" | "vci" | "connectmsg" | "metaconnect" => Kw::Unsup(Family::Atm),
        "rnr" | "rulenum" => Kw::Rnr,
        "on" | "ifname" | "rset" | "ruleset" | "srnr" | "subrulenum" | "reason" | "action" => {
            Kw::Unsup(Family::Pflog)
        }
        "fisu" | "lssu" | "lsu" | "msu" | "hfisu" | "hlssu" | "hmsu" | "sio" | "opc" | "dpc"
        | "sls" | "hsio" | "hopc" | "hdpc" | "hsls" => Kw::Unsup(Family::Mtp),
        _ => return named_constant(w).map(Tok::Num),
    };
    Some(Tok::Kw(k))
}

/// The named values of scanner.l (header offsets, ICMP/ICMPv6 types, TCP flags).
fn named_constant(w: &str) -> Option<u32> {
    Some(match w {
        "icmptype" | "icmp6type" => 0,
        "icmpcode" | "icmp6code" => 1,
        "icmp-echoreply" => 0,
        "icmp-unreach" => 3,
        "icmp-sourcequench" => 4,
        "icmp-redirect" => 5,
        "icmp-echo" => 8,
        "icmp-routeradvert" => 9,
        "icmp-routersolicit" => 10,
        "icmp-timxceed" => 11,
        "icmp-paramprob" => 12,
        "icmp-tstamp" => 13,
        "icmp-tstampreply" => 14,
        "icmp-ireq" => 15,
        "icmp-ireqreply" => 16,
        "icmp-maskreq" => 17,
        "icmp-maskreply" => 18,
        "icmp6-destinationunreach" => 1,
        "icmp6-packettoobig" => 2,
        "icmp6-timeexceeded" => 3,
        "icmp6-parameterproblem" => 4,
        "icmp6-echo" => 128,
        "icmp6-echoreply" => 129,
        "icmp6-multicastlistenerquery" => 130,
        "icmp6-multicastlistenerreportv1" => 131,
        "icmp6-multicastlistenerdone" => 132,
        "icmp6-routersolicit" => 133,
        "icmp6-routeradvert" => 134,
        "icmp6-neighborsolicit" => 135,
        "icmp6-neighboradvert" => 136,
        "icmp6-redirect" => 137,
        "icmp6-routerrenum" => 138,
        "icmp6-nodeinformationquery" => 139,
        "icmp6-nodeinformationresponse" => 140,
        "icmp6-ineighbordiscoverysolicit" => 141,
        "icmp6-ineighbordiscoveryadvert" => 142,
        "icmp6-multicastlistenerreportv2" => 143,
        "icmp6-homeagentdiscoveryrequest" => 144,
        "icmp6-homeagentdiscoveryreply" => 145,
        "icmp6-mobileprefixsolicit" => 146,
        "icmp6-mobileprefixadvert" => 147,
        "icmp6-certpathsolicit" => 148,
        "icmp6-certpathadvert" => 149,
        "icmp6-multicastrouteradvert" => 151,
        "icmp6-multicastroutersolicit" => 152,
        "icmp6-multicastrouterterm" => 153,
        "tcpflags" => 13,
        "tcp-fin" => 0x01,
        "tcp-syn" => 0x02,
        "tcp-rst" => 0x04,
        "tcp-push" => 0x08,
        "tcp-ack" => 0x10,
        "tcp-urg" => 0x20,
        "tcp-ece" => 0x40,
        "tcp-cwr" => 0x80,
        _ => return None,
    })
}

/// Elements of the scanner's address patterns.
#[derive(Clone, Copy, Debug)]
enum El {
    Lit(&'static [u8]),
    /// `{W}`: one to four hex digits.
    W,
    /// `{B}`: one or two hex digits.
    B,
    /// `{B2}`: exactly four hex digits.
    B2,
    /// `{N}`: decimal digits, or `0x` and hex digits.
    N,
}

fn run_len(s: &[u8], p: usize, f: impl Fn(u8) -> bool) -> usize {
    s[p.min(s.len())..].iter().take_while(|&&c| f(c)).count()
}

/// The longest match of a sequence of elements at `start`, simulating every way each element
/// can match (the patterns are regular, so this is exact).
fn match_seq(s: &[u8], start: usize, pat: &[El]) -> Option<usize> {
    let mut set = vec![start];
    for e in pat {
        let mut next = Vec::new();
        for &p in &set {
            match *e {
                El::Lit(l) => {
                    if s[p..].starts_with(l) {
                        next.push(p + l.len());
                    }
                }
                El::W | El::B => {
                    let max = if matches!(e, El::W) { 4 } else { 2 };
                    let r = run_len(s, p, |c| c.is_ascii_hexdigit()).min(max);
                    next.extend((1..=r).map(|k| p + k));
                }
                El::B2 => {
                    if run_len(s, p, |c| c.is_ascii_hexdigit()) >= 4 {
                        next.push(p + 4);
                    }
                }
                El::N => {
                    let d = run_len(s, p, |c| c.is_ascii_digit());
                    next.extend((1..=d).map(|k| p + k));
                    if s[p..].starts_with(b"0x") || s[p..].starts_with(b"0X") {
                        let h = run_len(s, p + 2, |c| c.is_ascii_hexdigit());
                        next.extend((1..=h).map(|k| p + 2 + k));
                    }
                }
            }
        }
        next.sort_unstable();
        next.dedup();
        if next.is_empty() {
            return None;
        }
        set = next;
    }
    set.into_iter().max()
}

fn longest(s: &[u8], start: usize, pats: &[Vec<El>]) -> usize {
    pats.iter().filter_map(|p| match_seq(s, start, p)).max().map_or(0, |e| e - start)
}

/// scanner.l's `V6`: every placement of `::` among the hex groups, with and without a trailing
/// dotted IPv4 address.
fn v6_patterns() -> &'static [Vec<El>] {
    static PATS: OnceLock<Vec<Vec<El>>> = OnceLock::new();
    PATS.get_or_init(|| {
        let groups = |n: usize| -> Vec<El> {
            let mut v = Vec::new();
            for i in 0..n {
                if i > 0 {
                    v.push(El::Lit(b":"));
                }
                v.push(El::W);
            }
            v
        };
        let v4 = [El::N, El::Lit(b"."), El::N, El::Lit(b"."), El::N, El::Lit(b"."), El::N];
        let mut pats = vec![groups(8)];
        for n in 0..=7 {
            for k in 0..=n {
                let mut v = groups(k);
                v.push(El::Lit(b"::"));
                v.extend(groups(n - k));
                pats.push(v);
            }
        }
        let mut v = Vec::new();
        for _ in 0..6 {
            v.extend([El::W, El::Lit(b":")]);
        }
        v.extend(v4);
        pats.push(v);
        for n in 0..=5 {
            for k in 0..=n {
                let mut v = groups(k);
                v.push(El::Lit(b"::"));
                for _ in k..n {
                    v.extend([El::W, El::Lit(b":")]);
                }
                v.extend(v4);
                pats.push(v);
            }
        }
        pats
    })
}

/// scanner.l's `MAC`.
fn mac_patterns() -> &'static [Vec<El>] {
    static PATS: OnceLock<Vec<Vec<El>>> = OnceLock::new();
    PATS.get_or_init(|| {
        let sep = |l: &'static [u8]| -> Vec<El> {
            let mut v = vec![El::B];
            for _ in 0..5 {
                v.extend([El::Lit(l), El::B]);
            }
            v
        };
        vec![
            sep(b":"),
            sep(b"-"),
            sep(b"."),
            vec![El::B2, El::Lit(b"."), El::B2, El::Lit(b"."), El::B2],
            vec![El::B2, El::B2, El::B2],
        ]
    })
}

/// scanner.l's HID: two to four `{N}` joined by dots.
fn hid_patterns() -> &'static [Vec<El>] {
    static PATS: OnceLock<Vec<Vec<El>>> = OnceLock::new();
    PATS.get_or_init(|| {
        (2..=4)
            .map(|n| {
                let mut v = vec![El::N];
                for _ in 1..n {
                    v.extend([El::Lit(b"."), El::N]);
                }
                v
            })
            .collect()
    })
}

/// The malformed-address rule `{B}:+({B}:+)+`.
fn bad_mac_len(s: &[u8], start: usize) -> usize {
    // One step: `{B}` then one or more colons.
    let step = |set: &[usize]| -> Vec<usize> {
        let mut out = Vec::new();
        for &p in set {
            let b = run_len(s, p, |c| c.is_ascii_hexdigit()).min(2);
            for k in 1..=b {
                let c = run_len(s, p + k, |c| c == b':');
                out.extend((1..=c).map(|j| p + k + j));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    };
    let mut set = step(&[start]);
    let mut best = 0;
    loop {
        set = step(&set);
        match set.iter().max() {
            Some(&m) => best = best.max(m - start),
            None => return best,
        }
    }
}

/// scanner.l's ID: `[A-Za-z0-9]([-_.A-Za-z0-9]*[.A-Za-z0-9])?`.
fn id_len(s: &[u8], p: usize) -> usize {
    if !s[p].is_ascii_alphanumeric() {
        return 0;
    }
    let mut last = p + 1;
    let mut q = p + 1;
    while q < s.len() && (s[q].is_ascii_alphanumeric() || matches!(s[q], b'-' | b'_' | b'.')) {
        q += 1;
        if s[q - 1] != b'-' && s[q - 1] != b'_' {
            last = q;
        }
    }
    last - p
}

fn char_len(src: &str, p: usize) -> usize {
    src[p..].chars().next().map_or(1, char::len_utf8)
}

pub(super) fn lex(src: &str) -> Vec<Token> {
    let s = src.as_bytes();
    let mut out = Vec::new();
    let mut p = 0;
    while p < s.len() {
        if matches!(s[p], b' ' | b'\r' | b'\n' | b'\t') {
            p += 1;
            continue;
        }
        let (len, tok) = lex_one(src, p);
        out.push(Token { tok, span: Span::new(p, p + len) });
        p += len;
    }
    out.push(Token { tok: Tok::Eof, span: Span::new(s.len(), s.len()) });
    out
}

/// Which rule of scanner.l won, in rule order (ties go to the smaller).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    Keyword,
    Aid,
    Mac,
    Num,
    Hid,
    V6,
    BadMac,
    Id,
}

fn lex_one(src: &str, p: usize) -> (usize, Tok) {
    let s = src.as_bytes();
    let two = &s[p..(p + 2).min(s.len())];
    let punct2 = match two {
        b">=" => Some(Tok::Punct(Punct::Ge)),
        b"<=" => Some(Tok::Punct(Punct::Le)),
        b"!=" => Some(Tok::Punct(Punct::Ne)),
        b"==" => Some(Tok::Punct(Punct::Eq)),
        b"<<" => Some(Tok::Punct(Punct::Lsh)),
        b">>" => Some(Tok::Punct(Punct::Rsh)),
        b"&&" => Some(Tok::And),
        b"||" => Some(Tok::Or),
        _ => None,
    };
    if let Some(t) = punct2 {
        return (2, t);
    }
    let punct1 = match s[p] {
        b'+' => Some(Punct::Plus),
        b'-' => Some(Punct::Minus),
        b'*' => Some(Punct::Star),
        b'/' => Some(Punct::Slash),
        b'%' => Some(Punct::Percent),
        b'[' => Some(Punct::LBrack),
        b']' => Some(Punct::RBrack),
        b'(' => Some(Punct::LParen),
        b')' => Some(Punct::RParen),
        b'<' => Some(Punct::Lt),
        b'>' => Some(Punct::Gt),
        b'&' => Some(Punct::Amp),
        b'|' => Some(Punct::Pipe),
        b'^' => Some(Punct::Caret),
        b'=' => Some(Punct::Eq),
        _ => None,
    };
    if let Some(t) = punct1 {
        return (1, Tok::Punct(t));
    }
    if s[p] == b'!' {
        return (1, Tok::Not);
    }
    if s[p] == b'\\' {
        let n = run_len(s, p + 1, |c| !matches!(c, b' ' | b'!' | b'(' | b')' | b'\n' | b'\t'));
        if n > 0 {
            return (n + 1, Tok::Id(src[p + 1..p + 1 + n].to_string()));
        }
    }

    // The alphanumeric rules: find the longest match; ties go to the earlier rule.
    let mut cands: Vec<(usize, Rule)> = Vec::new();
    if s[p] == b'$' {
        let b = run_len(s, p + 1, |c| c.is_ascii_hexdigit()).min(2);
        if b > 0 {
            cands.push((1 + b, Rule::Aid));
        }
    }
    let idl = id_len(s, p);
    if idl > 0 && keyword(&src[p..p + idl]).is_some() {
        cands.push((idl, Rule::Keyword));
    }
    cands.push((longest(s, p, mac_patterns()), Rule::Mac));
    let n = match_seq(s, p, &[El::N]).map_or(0, |e| e - p);
    cands.push((n, Rule::Num));
    cands.push((longest(s, p, hid_patterns()), Rule::Hid));
    if s[p].is_ascii_hexdigit() || s[p] == b':' {
        cands.push((longest(s, p, v6_patterns()), Rule::V6));
    }
    cands.push((bad_mac_len(s, p), Rule::BadMac));
    cands.push((idl, Rule::Id));
    let best =
        cands.iter().filter(|c| c.0 > 0).max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1))).copied();
    let Some((len, rule)) = best else {
        if s[p] == b':' {
            return (1, Tok::Punct(Punct::Colon));
        }
        let len = char_len(src, p);
        let c = &src[p..p + len];
        let mut d = Diagnostic::new(SYNTAX, format!("unexpected character `{}`", c.escape_debug()))
            .label(Span::new(p, p + len), "not part of pcap-filter syntax");
        if c == "\\" {
            d = d.help("a backslash escapes a name that is also a keyword, as in `ip proto \\tcp`");
        }
        return (len, Tok::Error(Box::new(d)));
    };
    let text = &src[p..p + len];
    let span = Span::new(p, p + len);
    let tok = match rule {
        Rule::Keyword => keyword(text).unwrap_or(Tok::Id(text.to_string())),
        Rule::Aid => Tok::Aid,
        Rule::Mac => Tok::Eid(parse_mac(text)),
        Rule::Num => match parse_number(text) {
            Ok(v) => Tok::Num(v),
            Err((msg, help)) => Tok::Error(Box::new(
                Diagnostic::new(VALUE, msg).label(span, "not a 32-bit number").help(help),
            )),
        },
        Rule::Hid => match parse_dotted(text) {
            Ok(parts) => Tok::Hid(parts),
            Err(msg) => Tok::Error(Box::new(
                Diagnostic::new(VALUE, format!("invalid IPv4 address `{text}`: {msg}"))
                    .label(span, "invalid address")
                    .help("the parts of a dotted address are decimal numbers, as in `10.0.0.1`"),
            )),
        },
        Rule::V6 => match parse_ipv6(text) {
            Some(a) => Tok::Hid6(a),
            None => Tok::Error(Box::new(
                Diagnostic::new(VALUE, format!("invalid IPv6 address `{text}`"))
                    .label(span, "invalid address")
                    .help("an embedded IPv4 address has four decimal parts from 0 to 255"),
            )),
        },
        Rule::BadMac => {
            // Report the whole word the user meant as an address.
            let end =
                p + run_len(s, p, |c| c.is_ascii_alphanumeric() || matches!(c, b':' | b'.' | b'-'));
            let word = &src[p..end];
            return (
                end - p,
                Tok::Error(Box::new(
                    Diagnostic::new(VALUE, format!("invalid Ethernet address `{word}`"))
                        .label(Span::new(p, end), "not an Ethernet address")
                        .help(
                            "write six bytes of one or two hex digits, as in `ab:cd:ef:00:00:01`, \
                             `ab-cd-ef-00-00-01`, `abcd.ef00.0001` or `abcdef000001`",
                        ),
                )),
            );
        }
        Rule::Id => Tok::Id(text.to_string()),
    };
    (len, tok)
}

/// libpcap's number syntax: decimal, `0x` hex, or a leading `0` for octal; 32 bits.
pub(crate) fn parse_number(text: &str) -> Result<u32, (String, String)> {
    let overflow = |kind: &str| {
        (
            format!("{kind} number {text} overflows 32 bits"),
            "numbers are unsigned 32-bit values (at most 4294967295 = 0xffffffff)".to_string(),
        )
    };
    if let Some(h) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).map_err(|_| overflow("hexadecimal"))
    } else if text.len() > 1 && text.starts_with('0') {
        if text.bytes().any(|c| c == b'8' || c == b'9') {
            return Err((
                format!("number {text} contains a non-octal digit"),
                format!(
                    "a leading 0 makes a number octal; write `{}` for decimal",
                    text.trim_start_matches('0')
                ),
            ));
        }
        u32::from_str_radix(&text[1..], 8).map_err(|_| overflow("octal"))
    } else {
        text.parse::<u32>().map_err(|_| overflow("decimal"))
    }
}

/// The parts of a HID, decimal as libpcap reads them (`010.1` is `10.1`).
fn parse_dotted(text: &str) -> Result<Vec<u32>, String> {
    text.split('.')
        .map(|part| {
            if part.bytes().all(|c| c.is_ascii_digit()) {
                part.parse::<u32>().map_err(|_| format!("part `{part}` is too large"))
            } else {
                Err(format!("part `{part}` is not decimal"))
            }
        })
        .collect()
}

fn parse_mac(text: &str) -> [u8; 6] {
    let mut out = [0u8; 6];
    let hex = |t: &str| u16::from_str_radix(t, 16).unwrap_or(0);
    let parts: Vec<&str> = text.split([':', '-', '.']).collect();
    if parts.len() == 6 {
        for (o, t) in out.iter_mut().zip(&parts) {
            *o = hex(t) as u8;
        }
    } else {
        let digits: String = parts.concat();
        for (i, o) in out.iter_mut().enumerate() {
            *o = hex(&digits[2 * i..2 * i + 2]) as u8;
        }
    }
    out
}

/// An address the `V6` pattern matched, checked as `inet_pton` would.
fn parse_ipv6(text: &str) -> Option<[u8; 16]> {
    let (head, tail) = match text.split_once("::") {
        Some((h, t)) => (h, Some(t)),
        None => (text, None),
    };
    let split = |s: &str| -> Vec<String> {
        if s.is_empty() { Vec::new() } else { s.split(':').map(str::to_string).collect() }
    };
    let mut left = split(head);
    let mut right = tail.map(split).unwrap_or_default();
    // A trailing dotted IPv4 address stands for two groups.
    let last = if tail.is_some() { &mut right } else { &mut left };
    let mut v4 = None;
    if last.last().is_some_and(|g| g.contains('.')) {
        let dotted = last.pop()?;
        let mut b = [0u8; 4];
        let parts: Vec<&str> = dotted.split('.').collect();
        if parts.len() != 4 {
            return None;
        }
        for (o, part) in b.iter_mut().zip(parts) {
            if part.is_empty()
                || !part.bytes().all(|c| c.is_ascii_digit())
                || (part.len() > 1 && part.starts_with('0'))
            {
                return None;
            }
            *o = u8::try_from(part.parse::<u32>().ok()?).ok()?;
        }
        v4 = Some(b);
    }
    let mut words: Vec<u16> = Vec::new();
    for g in &left {
        words.push(u16::from_str_radix(g, 16).ok()?);
    }
    let mut rwords: Vec<u16> = Vec::new();
    for g in &right {
        rwords.push(u16::from_str_radix(g, 16).ok()?);
    }
    if let Some(b) = v4 {
        let w = [u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[2], b[3]])];
        if tail.is_some() { rwords.extend(w) } else { words.extend(w) }
    }
    let total = words.len() + rwords.len();
    if tail.is_some() {
        if total > 7 {
            return None;
        }
        words.extend(std::iter::repeat_n(0, 8 - total));
        words.extend(rwords);
    } else if total != 8 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, w) in words.iter().enumerate() {
        out[2 * i..2 * i + 2].copy_from_slice(&w.to_be_bytes());
    }
    Some(out)
}
