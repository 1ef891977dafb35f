//! Boolean expressions and primitives: `and`/`or`/`not`, qualifiers and ids, keyword
//! primitives, with libpcap's qualifier inheritance.

use super::*;

impl<'a> Parser<'a> {
    /// `expr: term | expr and term | expr and id | expr or term | expr or id`.
    pub(super) fn expr(&mut self, q0: Inherit) -> Result<(Expr, Inherit), Diagnostic> {
        let (mut e, mut q) = self.term(q0)?;
        loop {
            let and = match self.tok() {
                Tok::And => true,
                Tok::Or => false,
                _ => break,
            };
            self.op()?;
            self.bump();
            let (r, q2) = self.term_or_id(q)?;
            e = if and {
                Expr::And(Box::new(e), Box::new(r))
            } else {
                Expr::Or(Box::new(e), Box::new(r))
            };
            q = q2;
        }
        Ok((e, q))
    }

    /// Counts an operator (see [`MAX_OPS`]).
    pub(super) fn op(&mut self) -> Result<(), Diagnostic> {
        self.ops += 1;
        if self.ops > MAX_OPS {
            return Err(Diagnostic::new(SYNTAX, "expression too long")
                .label(self.span(), format!("more than {MAX_OPS} operators"))
                .help("split the filter into smaller ones"));
        }
        Ok(())
    }

    /// The operand after `and`/`or`: a term, or a bare value inheriting `q`.
    pub(super) fn term_or_id(&mut self, q: Inherit) -> Result<(Expr, Inherit), Diagnostic> {
        self.enter()?;
        let r = match self.tok() {
            t if is_value(t) => Ok((self.id(q, false, None)?, q)),
            Tok::Num(_) => {
                if is_arith_follow(self.tok_at(self.pos + 1)) {
                    Ok((self.rel()?, None))
                } else {
                    Ok((self.id(q, false, None)?, q))
                }
            }
            Tok::Not => {
                self.op()?;
                let s = self.bump();
                let (e, q2) = self.term_or_id(q)?;
                let span = s.to(self.prev_span());
                Ok((Expr::Not(Box::new(e), span), q2))
            }
            Tok::Punct(Punct::LParen) => match self.classify(self.pos)? {
                Class::Arith => Ok((self.rel()?, None)),
                Class::Pnum | Class::Group => Ok((self.id(q, false, None)?, q)),
                Class::Expr => self.paren_expr(q),
            },
            _ => self.term(q),
        };
        self.leave();
        r
    }

    /// `( expr )`: afterwards the qualifiers in force are the ones before the `(`.
    pub(super) fn paren_expr(&mut self, q: Inherit) -> Result<(Expr, Inherit), Diagnostic> {
        let open = self.bump();
        let (e, _) = self.expr(q)?;
        if !matches!(self.tok(), Tok::Punct(Punct::RParen)) {
            let d = self.after_term("`)`");
            return Err(if matches!(self.tok(), Tok::Eof) {
                d.label(open, "to close this `(`")
            } else {
                d
            });
        }
        self.bump();
        Ok((e, q))
    }

    /// A term: `not term`, `( expr )`, `head id`, a protocol, a keyword primitive or a
    /// comparison.
    pub(super) fn term(&mut self, q: Inherit) -> Result<(Expr, Inherit), Diagnostic> {
        self.enter()?;
        let r = self.term_inner(q);
        self.leave();
        r
    }

    pub(super) fn term_inner(&mut self, q: Inherit) -> Result<(Expr, Inherit), Diagnostic> {
        let start = self.span();
        let next = self.tok_at(self.pos + 1).clone();
        match self.tok().clone() {
            Tok::Not => {
                self.op()?;
                self.bump();
                let (e, q2) = self.term(q)?;
                let span = start.to(self.prev_span());
                Ok((Expr::Not(Box::new(e), span), q2))
            }
            Tok::Punct(Punct::LParen) => match self.classify(self.pos)? {
                Class::Arith => Ok((self.rel()?, None)),
                _ => self.paren_expr(q),
            },
            Tok::Num(_) | Tok::Punct(Punct::Minus) | Tok::Kw(Kw::Len) => Ok((self.rel()?, None)),
            Tok::Kw(Kw::Pname(p)) => match next {
                Tok::Punct(Punct::LBrack) => Ok((self.rel()?, None)),
                Tok::Kw(k) if k.starts_qualified() => {
                    self.bump();
                    self.head(Some((p, start)), start)
                }
                Tok::Kw(Kw::WlanType | Kw::WlanSubtype | Kw::WlanDir) if p == Proto::Link => {
                    self.bump();
                    self.wlan_fc(start)
                }
                Tok::Kw(k @ (Kw::Broadcast | Kw::Multicast)) => {
                    self.bump();
                    let end = self.bump();
                    let kw = if k == Kw::Broadcast {
                        Keyword::Broadcast(Some(p))
                    } else {
                        Keyword::Multicast(Some(p))
                    };
                    Ok(keyword(kw, None, start.to(end)))
                }
                _ => {
                    self.bump();
                    Ok(keyword(Keyword::Proto(p), None, start))
                }
            },
            Tok::Kw(k) if k.starts_qualified() => self.head(None, start),
            Tok::Kw(k @ (Kw::Broadcast | Kw::Multicast)) => {
                self.bump();
                let kw = match k {
                    Kw::Broadcast => Keyword::Broadcast(None),
                    _ => Keyword::Multicast(None),
                };
                Ok(keyword(kw, None, start))
            }
            Tok::Kw(k @ (Kw::Less | Kw::Greater | Kw::Ifindex)) => {
                self.bump();
                let Tok::Num(n) = *self.tok() else {
                    let what = match k {
                        Kw::Ifindex => "an interface index",
                        _ => "a packet length",
                    };
                    return Err(self.expected(&format!("{what} after `{}`", self.text(start))));
                };
                let ns = self.bump();
                let kw = match k {
                    Kw::Less => Keyword::Less,
                    Kw::Greater => Keyword::Greater,
                    _ => Keyword::Ifindex,
                };
                Ok(keyword(kw, Some((n, ns)), start.to(ns)))
            }
            Tok::Kw(Kw::Byte) => Ok((self.byte()?, None)),
            Tok::Kw(k @ (Kw::Inbound | Kw::Outbound | Kw::Pppoed)) => {
                self.bump();
                let kw = match k {
                    Kw::Inbound => Keyword::Inbound,
                    Kw::Outbound => Keyword::Outbound,
                    _ => Keyword::Pppoed,
                };
                Ok(keyword(kw, None, start))
            }
            Tok::Kw(k @ (Kw::Vlan | Kw::Mpls | Kw::Pppoes | Kw::Geneve | Kw::Vxlan)) => {
                self.bump();
                let (kw, max, what) = match k {
                    Kw::Vlan => (Keyword::Vlan, 4095, "VLAN ID"),
                    Kw::Mpls => (Keyword::Mpls, 1_048_575, "MPLS label"),
                    Kw::Pppoes => (Keyword::Pppoes, 65535, "PPPoE session ID"),
                    Kw::Geneve => (Keyword::Geneve, 16_777_215, "Geneve VNI"),
                    _ => (Keyword::Vxlan, 16_777_215, "VXLAN VNI"),
                };
                let mut arg = None;
                if matches!(self.tok(), Tok::Num(_) | Tok::Punct(Punct::LParen)) {
                    let (n, ns) = self.pnum()?;
                    if n > max {
                        return Err(too_large(what, n, max, ns, "").label(start, "for this"));
                    }
                    arg = Some((n, ns));
                }
                let span = arg.map_or(start, |(_, s)| start.to(s));
                Ok(keyword(kw, arg, span))
            }
            Tok::Kw(Kw::Llc) => {
                self.bump();
                let sub = match self.tok().clone() {
                    Tok::Id(name) => {
                        let s = self.bump();
                        match llc_type(&name) {
                            Some(t) => Some((t, s)),
                            None => {
                                let msg = format!("unknown LLC frame type `{name}`");
                                return Err(Diagnostic::new(VALUE, msg)
                                    .label(s, "not an LLC frame type")
                                    .help(LLC_TYPES));
                            }
                        }
                    }
                    Tok::Kw(Kw::Rnr) => Some((Llc::Rnr, self.bump())),
                    _ => None,
                };
                let span = sub.map_or(start, |(_, s)| start.to(s));
                Ok(keyword(Keyword::Llc(sub.map(|x| x.0)), None, span))
            }
            Tok::Kw(Kw::WlanType | Kw::WlanSubtype | Kw::WlanDir) => self.wlan_fc(start),
            Tok::Kw(Kw::Unsup(f)) => Err(self.unsupported(start, f)),
            Tok::Kw(Kw::Rnr) => Err(self.unsupported(start, Family::Pflog)),
            t if is_value(&t) => Err(Diagnostic::new(
                SYNTAX,
                format!("`{}` needs a qualifier", self.text(start)),
            )
            .label(start, "a value alone is not a primitive")
            .help(match q {
                Some(_) => {
                    "only a value after `and`/`or` inherits the qualifiers of the primitive \
                     before it"
                }
                None => {
                    "say what the value is, as in `host 10.0.0.1`, `net 10.0.0.0/8` or \
                     `port 80`"
                }
            })),
            _ => Err(self.expected("a primitive")),
        }
    }

    /// `[pname] dqual [aqual] id`, `[pname] aqual id`, `[pname] proto id`, `[pname] protochain
    /// id`, `[pname] gateway id`; the current token follows the protocol.
    pub(super) fn head(
        &mut self,
        proto: Option<(Proto, Span)>,
        start: Span,
    ) -> Result<(Expr, Inherit), Diagnostic> {
        let mut quals = Quals { proto, dir: None, kind: None };
        if let Tok::Kw(Kw::WlanDirQ(d)) = *self.tok() {
            let s = self.bump();
            quals.dir = Some((d, s));
        } else if let Tok::Kw(k @ (Kw::Src | Kw::Dst)) = *self.tok() {
            let s = self.bump();
            let (other, one) = if k == Kw::Src { (Kw::Dst, Dir::Src) } else { (Kw::Src, Dir::Dst) };
            let mut dir = (one, s);
            if let Tok::And | Tok::Or = self.tok() {
                let both =
                    if matches!(self.tok(), Tok::Or) { Dir::SrcOrDst } else { Dir::SrcAndDst };
                self.bump();
                if *self.tok() != Tok::Kw(other) {
                    let o = if other == Kw::Src { "src" } else { "dst" };
                    return Err(self.expected(&format!(
                        "`{o}` (to make `{}`)",
                        self.text(s.to(self.prev_span()))
                    )));
                }
                dir = (both, s.to(self.bump()));
            }
            quals.dir = Some(dir);
            if let Tok::Kw(Kw::ProtoQual | Kw::Protochain | Kw::Gateway) = self.tok() {
                return Err(Diagnostic::new(
                    SYNTAX,
                    format!("`{}` takes no direction qualifier", self.text(self.span())),
                )
                .label(self.span(), "cannot follow a direction")
                .label(dir.1, "this direction"));
            }
        }
        let kind = match self.tok() {
            Tok::Kw(Kw::Host) => Some(IdKind::Host),
            Tok::Kw(Kw::Net) => Some(IdKind::Net),
            Tok::Kw(Kw::Port) => Some(IdKind::Port),
            Tok::Kw(Kw::Portrange) => Some(IdKind::Portrange),
            Tok::Kw(Kw::ProtoQual) => Some(IdKind::Proto),
            Tok::Kw(Kw::Protochain) => Some(IdKind::Protochain),
            Tok::Kw(Kw::Gateway) => Some(IdKind::Gateway),
            _ => None,
        };
        if let Some(k) = kind {
            quals.kind = Some((k, self.bump()));
        }
        let e = self.id(Some(quals), false, Some(start))?;
        Ok((e, Some(quals)))
    }

    /// `id: nid | pnum | ( pid )`, with the qualifiers `q`. `first`: the first id of a
    /// parenthesised list, which cannot itself be a list. `start`: where the primitive starts when
    /// the id follows its qualifiers directly.
    pub(super) fn id(
        &mut self,
        q: Inherit,
        first: bool,
        start: Option<Span>,
    ) -> Result<Expr, Diagnostic> {
        self.enter()?;
        let r = self.id_inner(q, first, start);
        self.leave();
        r
    }

    pub(super) fn id_inner(
        &mut self,
        q: Inherit,
        first: bool,
        start: Option<Span>,
    ) -> Result<Expr, Diagnostic> {
        let s = self.span();
        match self.tok().clone() {
            Tok::Not => {
                self.op()?;
                self.bump();
                let inner = self.id(q, false, None)?;
                let span = s.to(self.prev_span());
                Ok(Expr::Not(Box::new(inner), span))
            }
            Tok::Num(_) => {
                let (n, ns) = self.pnum()?;
                self.leaf(q, Id::Num(n), ns, start)
            }
            Tok::Punct(Punct::LParen) => {
                if self.pnum_end(self.pos).is_some() {
                    let (n, ns) = self.pnum()?;
                    self.leaf(q, Id::Num(n), ns, start)
                } else if first {
                    let msg = "a parenthesised list of values cannot start with another list";
                    Err(Diagnostic::new(SYNTAX, msg).label(s, "a nested list here").help(
                        "libpcap's grammar allows a nested list only after `and`/`or`: \
                             write `(a or (b or c))`",
                    ))
                } else {
                    self.group(q)
                }
            }
            Tok::Id(name) => {
                self.bump();
                self.leaf(q, Id::Name(name), s, start)
            }
            Tok::Hid(parts) => {
                self.bump();
                let dotted = Id::Dotted(parts);
                let (id, what, span) = match self.tok() {
                    Tok::Punct(Punct::Slash) => {
                        self.bump();
                        let (n, ns) = self.prefix_len(32, " for an IPv4 network")?;
                        (
                            Id::Prefix(Box::new(dotted), n),
                            "an IPv4 address and prefix length",
                            s.to(ns),
                        )
                    }
                    Tok::Kw(Kw::Mask) => {
                        self.bump();
                        let Tok::Hid(m) = self.tok().clone() else {
                            return Err(self.expected("a dotted network mask after `mask`"));
                        };
                        let ms = self.bump();
                        (
                            Id::Masked(Box::new(dotted), Box::new(Id::Dotted(m))),
                            "an IPv4 address and netmask",
                            s.to(ms),
                        )
                    }
                    _ => (dotted, "an IPv4 address", s),
                };
                self.check_address_kind(q, what, span)?;
                self.leaf(q, id, span, start)
            }
            Tok::Hid6(a) => {
                self.bump();
                let (id, what, span) = if matches!(self.tok(), Tok::Punct(Punct::Slash)) {
                    self.bump();
                    let (n, ns) = self.prefix_len(128, " for an IPv6 network")?;
                    (
                        Id::Prefix(Box::new(Id::Ipv6(a)), n),
                        "an IPv6 address and prefix length",
                        s.to(ns),
                    )
                } else {
                    (Id::Ipv6(a), "an IPv6 address", s)
                };
                self.check_address_kind(q, what, span)?;
                self.leaf(q, id, span, start)
            }
            Tok::Eid(m) => {
                self.bump();
                self.leaf(q, Id::Mac(m), s, start)
            }
            Tok::Aid => Err(self.unsupported(s, Family::Arcnet)),
            Tok::Kw(_) | Tok::And | Tok::Or => {
                let word = self.text(s);
                Err(Diagnostic::new(
                    SYNTAX,
                    format!("expected a value, found the keyword `{word}`"),
                )
                .label(s, "a keyword, not a value")
                .help(format!("to use `{word}` as a name, escape it: `\\{word}`")))
            }
            _ => Err(self.expected("a value")),
        }
    }

    /// grammar.y refuses addresses under `port`, `portrange`, `proto` and `protochain`.
    pub(super) fn check_address_kind(
        &self,
        q: Inherit,
        what: &str,
        span: Span,
    ) -> Result<(), Diagnostic> {
        if let Some(Quals { kind: Some((k, ks)), .. }) = q
            && matches!(k, IdKind::Port | IdKind::Portrange | IdKind::Proto | IdKind::Protochain)
        {
            let kw = self.text(ks);
            return Err(Diagnostic::new(VALUE, format!("`{kw}` cannot take {what}"))
                .label(span, what.to_string())
                .label(ks, "this qualifier")
                .help(format!("`{kw}` takes a number or a name")));
        }
        Ok(())
    }

    pub(super) fn leaf(
        &self,
        q: Inherit,
        id: Id,
        id_span: Span,
        start: Option<Span>,
    ) -> Result<Expr, Diagnostic> {
        let Some(quals) = q else {
            return Err(Diagnostic::new(
                SYNTAX,
                format!("`{}` has no qualifiers to inherit", self.text(id_span)),
            )
            .label(id_span, "a bare value")
            .help(
                "a bare value repeats the qualifiers of the primitive before it (`host a or b` is \
                 `host a or host b`), but no qualified primitive precedes it here; write them, as \
                 in `host b` or `port 80`",
            ));
        };
        Ok(Expr::Qualified { quals, id, id_span, span: start.map_or(id_span, |s| s.to(id_span)) })
    }

    /// `( pid )`: values joined by `and`/`or`, all with the qualifiers `q`.
    pub(super) fn group(&mut self, q: Inherit) -> Result<Expr, Diagnostic> {
        let open = self.bump();
        let mut e = self.id(q, true, None)?;
        loop {
            let and = match self.tok() {
                Tok::And => true,
                Tok::Or => false,
                Tok::Punct(Punct::RParen) => {
                    self.bump();
                    return Ok(e);
                }
                Tok::Eof => {
                    return Err(self.expected("`)`").label(open, "to close this `(`"));
                }
                _ => return Err(self.expected("`and`, `or` or `)` in a list of values")),
            };
            self.op()?;
            self.bump();
            let r = self.id(q, false, None)?;
            e = if and {
                Expr::And(Box::new(e), Box::new(r))
            } else {
                Expr::Or(Box::new(e), Box::new(r))
            };
        }
    }

    /// The prefix length after an address and its `/`: at most `max` bits.
    fn prefix_len(&mut self, max: u32, network: &str) -> Result<(u32, Span), Diagnostic> {
        let (n, ns) = self.raw_num("a prefix length after `/`")?;
        if n > max {
            return Err(too_large("prefix length", n, max, ns, network));
        }
        Ok((n, ns))
    }
}

/// A keyword primitive: no qualifiers are inherited past it.
fn keyword(kw: Keyword, arg: Option<(u32, Span)>, span: Span) -> (Expr, Inherit) {
    (Expr::Keyword { kw, arg, span }, None)
}

const LLC_TYPES: &str = "the LLC frame types are i, s, u, rr, rnr, rej, ui, ua, disc, dm, sabme, \
                         test, xid and frmr";

/// `llc` frame types; libpcap compares them case-insensitively.
fn llc_type(name: &str) -> Option<Llc> {
    Some(match name.to_ascii_lowercase().as_str() {
        "i" => Llc::I,
        "s" => Llc::S,
        "u" => Llc::U,
        "rr" => Llc::Rr,
        "rnr" => Llc::Rnr,
        "rej" => Llc::Rej,
        "ui" => Llc::Ui,
        "ua" => Llc::Ua,
        "disc" => Llc::Disc,
        "dm" => Llc::Dm,
        "sabme" => Llc::Sabme,
        "test" => Llc::Test,
        "xid" => Llc::Xid,
        "frmr" => Llc::Frmr,
        _ => return None,
    })
}

impl Parser<'_> {
    /// `type T [subtype S]`, `subtype S`, `dir D`: 802.11 frame control tests (the parser is
    /// at the keyword; `start` is where the primitive starts).
    fn wlan_fc(&mut self, start: Span) -> Result<(Expr, Inherit), Diagnostic> {
        let kw = match self.tok() {
            Tok::Kw(k) => *k,
            _ => return Err(self.expected("`type`, `subtype` or `dir`")),
        };
        self.bump();
        let value = |p: &mut Self, names: &dyn Fn(&str) -> Option<u32>, what: &str| {
            let span = p.span();
            match p.tok().clone() {
                Tok::Num(n) => {
                    p.bump();
                    Ok((n, span))
                }
                Tok::Id(name) => {
                    p.bump();
                    names(&name).map(|n| (n, span)).ok_or_else(|| {
                        Diagnostic::new(VALUE, format!("unknown 802.11 {what} `{name}`"))
                            .label(span, "not known")
                    })
                }
                _ => Err(p.expected(what)),
            }
        };
        let kw = match kw {
            Kw::WlanType => {
                let (ty, s) = value(self, &wlan_type_name, "frame type")?;
                if ty & !0x0c != 0 {
                    return Err(Diagnostic::new(VALUE, "invalid 802.11 type value")
                        .label(s, "not 0, 4, 8 or 12")
                        .help("the type bits of frame control: mgt 0, ctl 4, data 8"));
                }
                if let Tok::Kw(Kw::WlanSubtype) = self.tok() {
                    self.bump();
                    let (sub, s) = value(self, &|n| wlan_subtype_name(ty, n), "frame subtype")?;
                    if sub & !0xf0 != 0 {
                        return Err(Diagnostic::new(VALUE, "invalid 802.11 subtype value")
                            .label(s, "not a multiple of 0x10 up to 0xf0")
                            .help("the subtype bits of frame control: 0x00 to 0xf0"));
                    }
                    (Keyword::WlanType { ty, sub: Some(sub) }, s)
                } else {
                    (Keyword::WlanType { ty, sub: None }, s)
                }
            }
            Kw::WlanSubtype => {
                let span = self.span();
                match self.tok().clone() {
                    Tok::Id(name) => {
                        self.bump();
                        let v = WLAN_SUBTYPES
                            .iter()
                            .find(|(_, n, _)| *n == name)
                            .map(|(t, _, s)| t | s)
                            .ok_or_else(|| {
                                Diagnostic::new(
                                    VALUE,
                                    format!("unknown 802.11 frame subtype `{name}`"),
                                )
                                .label(span, "not known")
                            })?;
                        (Keyword::WlanSubtype(v), span)
                    }
                    _ => return Err(self.expected("an 802.11 frame subtype name")),
                }
            }
            _ => {
                let names = |n: &str| match n {
                    "nods" => Some(0),
                    "tods" => Some(1),
                    "fromds" => Some(2),
                    "dstods" => Some(3),
                    _ => None,
                };
                let (d, s) = value(self, &names, "direction")?;
                if d > 3 {
                    return Err(Diagnostic::new(VALUE, "invalid 802.11 direction")
                        .label(s, "not 0 to 3")
                        .help("nods 0, tods 1, fromds 2, dstods 3"));
                }
                (Keyword::WlanDir(d), s)
            }
        };
        Ok(keyword(kw.0, None, start.to(kw.1)))
    }
}

/// 802.11 frame types by name.
pub(crate) fn wlan_type_name(n: &str) -> Option<u32> {
    match n {
        "mgt" | "management" => Some(0x00),
        "ctl" | "control" => Some(0x04),
        "data" => Some(0x08),
        _ => None,
    }
}

/// An 802.11 subtype name within frame type `ty`.
fn wlan_subtype_name(ty: u32, n: &str) -> Option<u32> {
    WLAN_SUBTYPES.iter().find(|(t, name, _)| *t == ty && *name == n).map(|(_, _, s)| *s)
}

/// 802.11 subtypes: (type, name, subtype bits of frame control byte 0).
pub(crate) const WLAN_SUBTYPES: &[(u32, &str, u32)] = &[
    (0x00, "assoc-req", 0x00),
    (0x00, "assocreq", 0x00),
    (0x00, "assoc-resp", 0x10),
    (0x00, "assocresp", 0x10),
    (0x00, "reassoc-req", 0x20),
    (0x00, "reassocreq", 0x20),
    (0x00, "reassoc-resp", 0x30),
    (0x00, "reassocresp", 0x30),
    (0x00, "probe-req", 0x40),
    (0x00, "probereq", 0x40),
    (0x00, "probe-resp", 0x50),
    (0x00, "proberesp", 0x50),
    (0x00, "beacon", 0x80),
    (0x00, "atim", 0x90),
    (0x00, "disassoc", 0xa0),
    (0x00, "disassociation", 0xa0),
    (0x00, "auth", 0xb0),
    (0x00, "authentication", 0xb0),
    (0x00, "deauth", 0xc0),
    (0x00, "deauthentication", 0xc0),
    (0x04, "bar", 0x80),
    (0x04, "ba", 0x90),
    (0x04, "ps-poll", 0xa0),
    (0x04, "rts", 0xb0),
    (0x04, "cts", 0xc0),
    (0x04, "ack", 0xd0),
    (0x04, "cf-end", 0xe0),
    (0x04, "cf-end-ack", 0xf0),
    (0x08, "data", 0x00),
    (0x08, "data-cf-ack", 0x10),
    (0x08, "data-cf-poll", 0x20),
    (0x08, "data-cf-ack-poll", 0x30),
    (0x08, "null", 0x40),
    (0x08, "cf-ack", 0x50),
    (0x08, "cf-poll", 0x60),
    (0x08, "cf-ack-poll", 0x70),
    (0x08, "qos-data", 0x80),
    (0x08, "qos-data-cf-ack", 0x90),
    (0x08, "qos-data-cf-poll", 0xa0),
    (0x08, "qos-data-cf-ack-poll", 0xb0),
    (0x08, "qos", 0xc0),
    (0x08, "qos-cf-poll", 0xe0),
    (0x08, "qos-cf-ack-poll", 0xf0),
];
