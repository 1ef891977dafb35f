//! Reading packet captures for `udf filter`: pcap and pcapng files (told apart by their first
//! four bytes).
//!
//! Each packet is its captured bytes, its length on the wire and the [`Link`] it was captured
//! on: the file header's link type and snap length for pcap, its interface's for pcapng (a
//! pcapng file may mix interfaces of different link types). A packet longer on the wire than
//! the snap length is what a capture with a small snap length holds, and is read as it is; a
//! pcapng simple packet block's data is cut to its captured length (the block's padding is not
//! packet data).
//!
//! The files are read here rather than through a library so that a broken one is named
//! precisely: every error gives the packet's number, the byte offset in the file of the record
//! or block it is in, and what is wrong there (a truncated record header or block, truncated
//! packet data, a length beyond the limits, a bad magic number, a malformed pcapng block).
//!
//! A capture is read without copying: a regular file is memory-mapped
//! (`udf_runtime::mapped::MappedFile`; anything else, a pipe say, is read into memory once), and
//! each [`Packet`] borrows its bytes from the mapping. [`Capture::packets`] hands out packets
//! that outlive the borrow of the reader; each carries its time stamp ([`Packet::time`]) and,
//! for pcap files, its whole record as the file holds it ([`Packet::record`]), which is what
//! `udf filter -w` writes.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use pcap_file::DataLink;

/// The first four bytes of a pcapng file (a section header block's type).
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// The snap length libpcap assumes when a capture gives none (or one larger than this): its
/// `MAXIMUM_SNAPLEN`, also tcpdump's default.
pub const MAX_SNAPLEN: u32 = 262_144;

/// What packets were captured on: the link-layer header type and the snap length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Link {
    /// The link-layer header type (`LINKTYPE_*` number: 1 Ethernet, 101 raw IP, ...).
    pub linktype: u32,
    /// The snap length as libpcap takes it (a value of 0 or above [`MAX_SNAPLEN`] is
    /// [`MAX_SNAPLEN`]): what a compiled pcap-filter expression returns on acceptance.
    pub snaplen: u32,
    /// The capture file (or pcapng section) is big-endian. It matters to a filter only for
    /// `DLT_NULL`, whose family word is in the writing machine's byte order.
    pub big_endian: bool,
}

impl Link {
    /// A link as a capture states it, with libpcap's adjustment of the snap length, for a
    /// little-endian file.
    pub fn new(linktype: u32, snaplen: u32) -> Link {
        let snaplen = if snaplen == 0 || snaplen > MAX_SNAPLEN { MAX_SNAPLEN } else { snaplen };
        Link { linktype, snaplen, big_endian: false }
    }

    /// A link as a file of byte order `o` states it.
    fn in_file(linktype: u32, snaplen: u32, o: Order) -> Link {
        Link { big_endian: o == Order::Be, ..Link::new(linktype, snaplen) }
    }

    /// The link type's name, for messages: libpcap's `DLT_` name for the common ones, else
    /// pcap-file's (`105 (IEEE802_11)`, `1 (EN10MB)`).
    pub fn name(self) -> String {
        let known = match self.linktype {
            0 => "NULL",
            1 => "EN10MB",
            6 => "IEEE802",
            7 => "ARCNET",
            8 => "SLIP",
            9 => "PPP",
            10 => "FDDI",
            12 | 14 | 101 => "RAW",
            104 => "C_HDLC",
            105 => "IEEE802_11",
            108 => "LOOP",
            113 => "LINUX_SLL",
            117 => "PFLOG",
            119 => "PRISM_HEADER",
            127 => "IEEE802_11_RADIO",
            129 => "ARCNET_LINUX",
            140 => "MTP2",
            165 => "BACNET_MS_TP",
            192 => "PPI",
            228 => "IPV4",
            229 => "IPV6",
            276 => "LINUX_SLL2",
            281 => "DSA_TAG_BRCM",
            284 => "DSA_TAG_DSA",
            _ => "",
        };
        if known.is_empty() {
            format!("{} ({:?})", self.linktype, DataLink::from(self.linktype))
        } else {
            format!("{} ({known})", self.linktype)
        }
    }
}

/// The largest pcapng block read (libpcap's reader refuses larger ones too): a corrupt length
/// field is an error, not an allocation of gigabytes.
pub const MAX_BLOCK: u32 = 16 << 20;

/// How far ahead of the record or block being read the file is prefetched.
const AHEAD: usize = 32768;

/// Byte order of a file's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Le,
    Be,
}

impl Order {
    #[inline]
    fn u32(self, b: &[u8]) -> u32 {
        let a = [b[0], b[1], b[2], b[3]];
        match self {
            Order::Le => u32::from_le_bytes(a),
            Order::Be => u32::from_be_bytes(a),
        }
    }
    fn u16(self, b: &[u8]) -> u16 {
        let a = [b[0], b[1]];
        match self {
            Order::Le => u16::from_le_bytes(a),
            Order::Be => u16::from_be_bytes(a),
        }
    }
}

/// Up to `n` bytes of `bytes` from `at` (fewer at the end of the file).
#[inline]
fn take(bytes: &[u8], at: usize, n: usize) -> &[u8] {
    let rest = bytes.get(at..).unwrap_or(&[]);
    &rest[..n.min(rest.len())]
}

/// A packet's time stamp: seconds since the epoch and nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Time {
    /// Seconds.
    pub secs: u64,
    /// Nanoseconds (below 1,000,000,000).
    pub nanos: u32,
}

/// A pcapng interface: its link, and how its packets' time stamps count.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link: Link,
    /// Time stamp units per second (`if_tsresol`; 10^6 by default).
    units: u128,
    /// Seconds added to every time stamp (`if_tsoffset`).
    offset: i64,
}

impl Interface {
    /// Reads an interface description block's body (at least its 8-byte fixed part): the link,
    /// and the options `if_tsresol` (9) and `if_tsoffset` (14); other options, and options cut
    /// short, are passed over.
    fn parse(o: Order, b: &[u8]) -> Interface {
        let link = Link::in_file(u32::from(o.u16(b)), o.u32(&b[4..]), o);
        let mut i = Interface { link, units: 1_000_000, offset: 0 };
        let mut at = 8;
        while at + 4 <= b.len() {
            let code = o.u16(&b[at..]);
            let len = usize::from(o.u16(&b[at + 2..]));
            let Some(value) = b.get(at + 4..at + 4 + len) else { break };
            match (code, len) {
                (0, _) => break,
                (9, 1) => {
                    let r = value[0];
                    let (base, exp) = if r & 0x80 == 0 { (10u128, r) } else { (2, r & 0x7f) };
                    i.units = base.checked_pow(u32::from(exp)).unwrap_or(u128::MAX);
                }
                (14, 8) => {
                    let v = [0, 1, 2, 3, 4, 5, 6, 7].map(|k| value[k]);
                    i.offset = match o {
                        Order::Le => i64::from_le_bytes(v),
                        Order::Be => i64::from_be_bytes(v),
                    };
                }
                _ => {}
            }
            at += 4 + len.next_multiple_of(4);
        }
        i
    }

    /// A time stamp of this interface's units as seconds and nanoseconds.
    fn time(&self, ts: u64) -> Time {
        let units = self.units.max(1);
        let ts = u128::from(ts);
        let secs = (ts / units) as u64;
        let nanos = ((ts % units) * 1_000_000_000 / units) as u32;
        Time { secs: secs.wrapping_add_signed(self.offset), nanos }
    }

    /// Whether its time stamps are finer than microseconds.
    fn fine(&self) -> bool {
        self.units > 1_000_000
    }
}

/// What an error is about: a packet (by number) or, when the file is opened, its first block.
#[derive(Clone, Copy)]
enum What {
    Packet(u64),
    SectionHeader,
}

impl std::fmt::Display for What {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            What::Packet(n) => write!(f, "packet {n}"),
            What::SectionHeader => f.write_str("the section header"),
        }
    }
}

/// A pcap file's fixed facts, from its header.
#[derive(Clone, Debug)]
struct PcapHeader {
    order: Order,
    link: Link,
    /// The largest captured length a record may give: the header's snap length, or libpcap's
    /// limit when that is larger.
    limit: u32,
    /// Record time stamps count nanoseconds (else microseconds).
    nanos: bool,
}

impl PcapHeader {
    fn parse(bytes: &[u8]) -> Result<PcapHeader, String> {
        let h = take(bytes, 0, 24);
        let (order, nanos) = match h[..4] {
            [0xd4, 0xc3, 0xb2, 0xa1] => (Order::Le, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (Order::Le, true),
            [0xa1, 0xb2, 0xc3, 0xd4] => (Order::Be, false),
            [0xa1, 0xb2, 0x3c, 0x4d] => (Order::Be, true),
            _ => {
                return Err(format!(
                    "not a pcap or pcapng file: bad magic number {:02x}{:02x}{:02x}{:02x} at byte 0 \
                     (pcap files start with a1b2c3d4 or a1b23c4d in either byte order, pcapng \
                     files with 0a0d0d0a)",
                    h[0], h[1], h[2], h[3]
                ));
            }
        };
        if h.len() < 24 {
            return Err(format!(
                "truncated pcap file header: {} of its 24 bytes, then the file ends",
                h.len()
            ));
        }
        let snaplen = order.u32(&h[16..]);
        // The link type is the low 16 bits; the rest of the field holds FCS information.
        let linktype = order.u32(&h[20..]) & 0xffff;
        Ok(PcapHeader {
            order,
            link: Link::in_file(linktype, snaplen, order),
            limit: snaplen.max(MAX_SNAPLEN),
            nanos,
        })
    }
}

/// Where a reader is in a file, and what it knows of it.
#[derive(Clone, Debug)]
enum Format {
    Pcap(PcapHeader),
    PcapNg {
        /// The current section's byte order (known after its header block).
        order: Order,
        /// The current section's interfaces.
        interfaces: Vec<Interface>,
    },
}

/// A reader's position in a capture.
#[derive(Clone, Debug)]
struct State {
    format: Format,
    /// Where the next record or block starts.
    offset: usize,
    /// Packets read so far.
    count: u64,
    /// How far the file has been prefetched.
    prefetched: usize,
}

/// What a pcapng block holds, as far as `udf filter` cares.
enum NgBlock {
    /// A packet: the interface it names, its wire length, its time stamp (in the interface's
    /// units) and the range of its captured bytes in the file.
    Packet(u32, u32, u64, std::ops::Range<usize>),
    /// An interface description (already recorded).
    Interface,
    /// Anything else.
    Other,
}

const SHB: u32 = 0x0a0d_0d0a;

impl State {
    /// Each record's place depends on the one before (a chain of loads, each a cache miss over
    /// a large capture): the file is prefetched, every cache line, [`AHEAD`] bytes before the
    /// reader at `at` gets there (end to end over a 1,000,000-packet capture, `udf filter
    /// --count` takes a third of the time it takes without).
    #[inline]
    fn prefetch(&mut self, bytes: &[u8], at: usize) {
        while self.prefetched < at + AHEAD {
            udf_runtime::mapped::prefetch(bytes, self.prefetched);
            self.prefetched += 64;
        }
    }

    /// The next pcap record: the packet, or what is wrong with the file there.
    #[inline]
    fn next_pcap<'a>(&mut self, bytes: &'a [u8]) -> Option<Result<Packet<'a>, String>> {
        let number = self.count + 1;
        let at = self.offset;
        self.prefetch(bytes, at);
        let Format::Pcap(h) = &self.format else { unreachable!("a pcap reader") };
        let rest = bytes.get(at..).unwrap_or(&[]);
        if rest.is_empty() {
            return None;
        }
        if rest.len() < 16 {
            return Some(Err(format!(
                "packet {number} at byte {at}: truncated record header: {} of its 16 bytes, \
                 then the file ends",
                rest.len()
            )));
        }
        let o = h.order;
        let caplen = o.u32(&rest[8..]);
        let wire_len = o.u32(&rest[12..]);
        if caplen > h.limit {
            return Some(Err(format!(
                "packet {number} at byte {at}: bad record: a captured length of {caplen} bytes, \
                 more than any record of this file may hold ({}: the larger of its snap length \
                 and libpcap's limit {MAX_SNAPLEN}); the file is corrupt here",
                h.limit
            )));
        }
        let end = 16 + caplen as usize;
        if rest.len() < end {
            return Some(Err(format!(
                "packet {number} at byte {at}: truncated packet data: the record gives \
                 {caplen} captured bytes, the file ends after {}",
                rest.len() - 16
            )));
        }
        let frac = o.u32(&rest[4..]);
        let nanos = if h.nanos { frac } else { frac.wrapping_mul(1000) };
        let time = Time { secs: u64::from(o.u32(rest)), nanos };
        self.offset = at + end;
        self.count = number;
        Some(Ok(Packet {
            data: &rest[16..end],
            wire_len,
            link: h.link,
            time,
            record: Some(&rest[..end]),
            offset: at as u64,
        }))
    }

    /// The next pcapng packet: blocks are read until one holds a packet.
    fn next_pcapng<'a>(&mut self, bytes: &'a [u8]) -> Option<Result<Packet<'a>, String>> {
        let number = self.count + 1;
        loop {
            let at = self.offset;
            match self.next_block(bytes, What::Packet(number))? {
                Ok(NgBlock::Packet(iface, wire_len, ts, range)) => {
                    let Format::PcapNg { interfaces, .. } = &self.format else {
                        unreachable!("a pcapng reader")
                    };
                    let Some(i) = interfaces.get(iface as usize) else {
                        return Some(Err(format!(
                            "packet {number} (block at byte {at}): it names interface \
                             {iface}, which no interface description block of its section \
                             describes"
                        )));
                    };
                    self.count = number;
                    return Some(Ok(Packet {
                        data: &bytes[range],
                        wire_len,
                        link: i.link,
                        time: i.time(ts),
                        record: None,
                        offset: at as u64,
                    }));
                }
                Ok(_) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// The next pcapng block; errors name the block's offset and `what` is being read.
    fn next_block(&mut self, bytes: &[u8], what: What) -> Option<Result<NgBlock, String>> {
        let at = self.offset;
        self.prefetch(bytes, at);
        let Format::PcapNg { order, interfaces } = &mut self.format else {
            unreachable!("a pcapng reader")
        };
        let err = |why: String| Some(Err(format!("{what} (block at byte {at}): {why}")));
        let h = take(bytes, at, 8);
        if h.is_empty() {
            return None;
        }
        if h.len() < 8 {
            return err(format!(
                "truncated block header: {} of its 8 bytes, then the file ends",
                h.len()
            ));
        }
        let raw_type = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let mut consumed = 0usize;
        if raw_type == SHB {
            // A section header: its byte-order magic says how to read everything after it.
            let m = take(bytes, at + 8, 4);
            if m.len() < 4 {
                return err(format!(
                    "truncated section header block: {} of its first 12 bytes, then the file ends",
                    8 + m.len()
                ));
            }
            *order = match m {
                [0x4d, 0x3c, 0x2b, 0x1a] => Order::Le,
                [0x1a, 0x2b, 0x3c, 0x4d] => Order::Be,
                _ => {
                    return err(format!(
                        "bad section header block: byte-order magic {:02x}{:02x}{:02x}{:02x}, \
                         not 1a2b3c4d in either byte order",
                        m[0], m[1], m[2], m[3]
                    ));
                }
            };
            interfaces.clear();
            consumed = 4;
        } else if at == 0 {
            return err("not a pcapng file: it does not start with a section header block".into());
        }
        let o = *order;
        let ty = o.u32(h);
        let len = o.u32(&h[4..]);
        if len < 12 || !len.is_multiple_of(4) {
            return err(format!(
                "bad block length {len} (block type {ty:#x}): a block is a multiple of 4 bytes, \
                 at least 12"
            ));
        }
        if len > MAX_BLOCK {
            return err(format!(
                "bad block length {len} (block type {ty:#x}): more than the {MAX_BLOCK}-byte limit"
            ));
        }
        let rest = len as usize - 8;
        if rest < consumed + 4 {
            return err(format!("bad block length {len} for a section header block"));
        }
        let start = at + 8 + consumed;
        let want = rest - consumed;
        let got = take(bytes, start, want).len();
        if got < want {
            return err(format!(
                "truncated block: its length is {len} bytes, the file ends after {}",
                8 + consumed + got
            ));
        }
        let trailer = o.u32(&bytes[start + want - 4..]);
        if trailer != len {
            return err(format!(
                "bad block: its trailing length {trailer} differs from its leading length {len}"
            ));
        }
        let b = &bytes[start..start + want - 4];
        self.offset = at + len as usize;
        let short = |need: usize, name: &str| {
            Some(Err(format!(
                "{what} (block at byte {at}): bad {name} block: a body of {} bytes, shorter than \
                 its {need}-byte fixed part",
                b.len()
            )))
        };
        let packet = |iface: u32, caplen: u32, wire: u32, ts: u64, from: usize, name: &str| {
            let end = from as u64 + u64::from(caplen);
            if end > b.len() as u64 {
                return Some(Err(format!(
                    "{what} (block at byte {at}): bad {name} block: a captured length of \
                     {caplen} bytes, more than the block holds ({})",
                    b.len() - from
                )));
            }
            Some(Ok(NgBlock::Packet(iface, wire, ts, start + from..start + end as usize)))
        };
        let ts = |b: &[u8]| (u64::from(o.u32(&b[4..])) << 32) | u64::from(o.u32(&b[8..]));
        match ty {
            SHB => Some(Ok(NgBlock::Other)),
            1 => {
                if b.len() < 8 {
                    return short(8, "interface description");
                }
                interfaces.push(Interface::parse(o, b));
                Some(Ok(NgBlock::Interface))
            }
            6 => {
                if b.len() < 20 {
                    return short(20, "enhanced packet");
                }
                packet(o.u32(b), o.u32(&b[12..]), o.u32(&b[16..]), ts(b), 20, "enhanced packet")
            }
            2 => {
                if b.len() < 20 {
                    return short(20, "packet");
                }
                packet(u32::from(o.u16(b)), o.u32(&b[12..]), o.u32(&b[16..]), ts(b), 20, "packet")
            }
            3 => {
                if b.len() < 4 {
                    return short(4, "simple packet");
                }
                // Simple packet blocks belong to the first interface and do not say how much
                // was captured: the data, the wire length and its snap length do (0: no limit).
                // They carry no time stamp (0 here).
                let wire = o.u32(b);
                let mut len = (b.len() - 4).min(wire as usize);
                if let Some(i) = interfaces.first()
                    && i.link.snaplen != 0
                {
                    len = len.min(i.link.snaplen as usize);
                }
                Some(Ok(NgBlock::Packet(0, wire, 0, start + 4..start + 4 + len)))
            }
            _ => Some(Ok(NgBlock::Other)),
        }
    }
}

/// A capture's bytes: mapped, or read into memory when the file cannot be mapped.
enum Source {
    Mapped(udf_runtime::mapped::MappedFile),
    Read(Vec<u8>),
}

impl Source {
    fn bytes(&self) -> &[u8] {
        match self {
            Source::Mapped(m) => m.bytes(),
            Source::Read(v) => v,
        }
    }
}

/// An open capture.
pub struct Capture {
    source: Source,
    /// The first packet's link, as far as known when the file was opened.
    first: Option<Link>,
    /// Whether the first pcapng interface's time stamps are finer than microseconds.
    first_fine: bool,
    state: State,
}

/// One packet: its captured bytes, its length on the wire, its link and time, borrowed from the
/// capture's bytes.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// The captured bytes.
    pub data: &'a [u8],
    /// The length on the wire (at least `data.len()` in a well-formed capture).
    pub wire_len: u32,
    /// What it was captured on.
    pub link: Link,
    /// Its time stamp (0 for a pcapng simple packet block, which has none).
    pub time: Time,
    /// For a pcap file, its record as the file holds it (16-byte header in the file's byte
    /// order and time precision, then the data); `None` for pcapng.
    pub record: Option<&'a [u8]>,
    /// The byte offset in the file of its record or block.
    pub offset: u64,
}

/// The packets of a capture, from where its reader is; each borrows the capture's bytes, not
/// this iterator.
pub struct Packets<'a> {
    bytes: &'a [u8],
    state: &'a mut State,
}

impl<'a> Packets<'a> {
    /// The next packet, `None` at the end of the file, or what is wrong with the file there
    /// (naming the packet's number and the byte offset of its record or block).
    #[inline]
    pub fn next_packet(&mut self) -> Option<Result<Packet<'a>, String>> {
        match self.state.format {
            Format::Pcap(_) => self.state.next_pcap(self.bytes),
            Format::PcapNg { .. } => self.state.next_pcapng(self.bytes),
        }
    }

    /// Packets read so far (from the start of the file).
    pub fn count(&self) -> u64 {
        self.state.count
    }

    /// Where the next record or block starts, and the file's size: how far the reader is.
    pub fn progress(&self) -> (u64, u64) {
        (self.state.offset as u64, self.bytes.len() as u64)
    }
}

impl Capture {
    /// Opens a pcap or pcapng file (memory-mapped when it is a regular file). Errors say what
    /// is wrong with it.
    pub fn open(path: &Path) -> Result<Capture, String> {
        let cannot = |e: std::io::Error| format!("cannot read: {e}");
        let mut file = File::open(path).map_err(cannot)?;
        let source = match udf_runtime::mapped::MappedFile::map(&file).and_then(|m| {
            if std::env::var_os("UDF_NO_MMAP").is_some() {
                Err(std::io::Error::other("x"))
            } else {
                Ok(m)
            }
        }) {
            Ok(m) => Source::Mapped(m),
            Err(_) => {
                let mut v = Vec::new();
                file.read_to_end(&mut v).map_err(cannot)?;
                Source::Read(v)
            }
        };
        let bytes = source.bytes();
        if bytes.len() < 4 {
            return Err(format!(
                "not a pcap or pcapng file: {} byte(s), too short for a file header",
                bytes.len()
            ));
        }
        let (state, first, first_fine) = if bytes[..4] == PCAPNG_MAGIC {
            let state = State {
                format: Format::PcapNg { order: Order::Le, interfaces: Vec::new() },
                offset: 0,
                count: 0,
                prefetched: 0,
            };
            // The first block must read (a section header); the first interface is looked for
            // ahead, by a second reader, so the main one starts at the beginning.
            let mut probe = state.clone();
            let first = loop {
                match probe.next_block(bytes, What::SectionHeader) {
                    Some(Ok(NgBlock::Interface)) => {
                        let Format::PcapNg { interfaces, .. } = &probe.format else {
                            unreachable!("a pcapng reader")
                        };
                        break interfaces.first().copied();
                    }
                    Some(Ok(NgBlock::Other)) => continue,
                    Some(Err(e)) if probe.offset == 0 => return Err(e),
                    _ => break None,
                }
            };
            (state, first.map(|i| i.link), first.is_some_and(|i| i.fine()))
        } else {
            let h = PcapHeader::parse(bytes)?;
            let link = h.link;
            (
                State { format: Format::Pcap(h), offset: 24, count: 0, prefetched: 0 },
                Some(link),
                false,
            )
        };
        Ok(Capture { source, first, first_fine, state })
    }

    /// The link of the capture's first packets: the pcap file header's, or the first pcapng
    /// interface's; `None` for a pcapng file that describes no interface (or is broken before
    /// it does).
    pub fn link(&self) -> Option<Link> {
        self.first
    }

    /// For a pcap file, its 24-byte file header as the file holds it.
    pub fn pcap_header(&self) -> Option<&[u8]> {
        matches!(self.state.format, Format::Pcap(_)).then(|| &self.source.bytes()[..24])
    }

    /// Whether the time stamps are finer than microseconds: a pcap file of nanoseconds, or a
    /// pcapng file whose first interface counts in units finer than a microsecond.
    pub fn nanosecond(&self) -> bool {
        match &self.state.format {
            Format::Pcap(h) => h.nanos,
            Format::PcapNg { .. } => self.first_fine,
        }
    }

    /// The packets from where the reader is.
    pub fn packets(&mut self) -> Packets<'_> {
        Packets { bytes: self.source.bytes(), state: &mut self.state }
    }

    /// The next packet, `None` at the end of the file, or what is wrong with the file there
    /// (naming the packet's number and the byte offset of its record or block).
    pub fn next_packet(&mut self) -> Option<Result<Packet<'_>, String>> {
        let mut packets = Packets { bytes: self.source.bytes(), state: &mut self.state };
        packets.next_packet()
    }
}
