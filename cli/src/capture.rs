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

use std::fs::File;
use std::io::{BufReader, Read};
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
}

impl Link {
    /// A link as a capture states it, with libpcap's adjustment of the snap length.
    pub fn new(linktype: u32, snaplen: u32) -> Link {
        let snaplen = if snaplen == 0 || snaplen > MAX_SNAPLEN { MAX_SNAPLEN } else { snaplen };
        Link { linktype, snaplen }
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

/// Reads up to `buf.len()` bytes; how many were read (fewer only at the end of the file).
fn fill(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, String> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read: {e}")),
        }
    }
    Ok(got)
}

/// Byte order of a file's fields.
#[derive(Clone, Copy)]
enum Order {
    Le,
    Be,
}

impl Order {
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

/// A pcap file after its header.
struct PcapFile {
    r: BufReader<File>,
    order: Order,
    link: Link,
    /// The largest captured length a record may give: the header's snap length, or libpcap's
    /// limit when that is larger.
    limit: u32,
    /// Where the next record starts.
    offset: u64,
}

impl PcapFile {
    fn open(mut r: BufReader<File>) -> Result<PcapFile, String> {
        let mut h = [0u8; 24];
        let got = fill(&mut r, &mut h)?;
        let order = match h[..4] {
            [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => Order::Le,
            [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => Order::Be,
            _ => {
                return Err(format!(
                    "not a pcap or pcapng file: bad magic number {:02x}{:02x}{:02x}{:02x} at byte 0 \
                     (pcap files start with a1b2c3d4 or a1b23c4d in either byte order, pcapng \
                     files with 0a0d0d0a)",
                    h[0], h[1], h[2], h[3]
                ));
            }
        };
        if got < h.len() {
            return Err(format!(
                "truncated pcap file header: {got} of its 24 bytes, then the file ends"
            ));
        }
        let snaplen = order.u32(&h[16..]);
        // The link type is the low 16 bits; the rest of the field holds FCS information.
        let linktype = order.u32(&h[20..]) & 0xffff;
        Ok(PcapFile {
            r,
            order,
            link: Link::new(linktype, snaplen),
            limit: snaplen.max(MAX_SNAPLEN),
            offset: 24,
        })
    }

    /// The next record's captured bytes (into `buf`) and wire length; `number` is its packet
    /// number (1-based), for errors.
    fn next(&mut self, number: u64, buf: &mut Vec<u8>) -> Option<Result<u32, String>> {
        let at = self.offset;
        let mut h = [0u8; 16];
        let got = match fill(&mut self.r, &mut h) {
            Ok(g) => g,
            Err(e) => return Some(Err(format!("packet {number} at byte {at}: {e}"))),
        };
        if got == 0 {
            return None;
        }
        if got < h.len() {
            return Some(Err(format!(
                "packet {number} at byte {at}: truncated record header: {got} of its 16 bytes, \
                 then the file ends"
            )));
        }
        let caplen = self.order.u32(&h[8..]);
        let wire_len = self.order.u32(&h[12..]);
        if caplen > self.limit {
            return Some(Err(format!(
                "packet {number} at byte {at}: bad record: a captured length of {caplen} bytes, \
                 more than any record of this file may hold ({}: the larger of its snap length \
                 and libpcap's limit {MAX_SNAPLEN}); the file is corrupt here",
                self.limit
            )));
        }
        buf.clear();
        buf.resize(caplen as usize, 0);
        let got = match fill(&mut self.r, buf) {
            Ok(g) => g,
            Err(e) => return Some(Err(format!("packet {number} at byte {at}: {e}"))),
        };
        if got < buf.len() {
            return Some(Err(format!(
                "packet {number} at byte {at}: truncated packet data: the record gives \
                 {caplen} captured bytes, the file ends after {got}"
            )));
        }
        self.offset += 16 + u64::from(caplen);
        Some(Ok(wire_len))
    }
}

/// A pcapng file, read block by block.
struct PcapNgFile {
    r: BufReader<File>,
    /// The current section's byte order (known after its header block).
    order: Order,
    /// The current section's interfaces.
    interfaces: Vec<Link>,
    /// Where the next block starts.
    offset: u64,
    /// The current block's body.
    body: Vec<u8>,
}

/// What a pcapng block holds, as far as `udf filter` cares.
enum NgBlock {
    /// A packet: the interface it names, its wire length and the range of its captured bytes in
    /// the block body.
    Packet(u32, u32, std::ops::Range<usize>),
    /// An interface description (already recorded).
    Interface,
    /// Anything else.
    Other,
}

const SHB: u32 = 0x0a0d_0d0a;

impl PcapNgFile {
    fn open(r: BufReader<File>) -> PcapNgFile {
        PcapNgFile { r, order: Order::Le, interfaces: Vec::new(), offset: 0, body: Vec::new() }
    }

    /// The next block (its body in `self.body`); errors name the block's offset. `what` says
    /// what is being read, for errors (`packet 3`).
    fn next_block(&mut self, what: &str) -> Option<Result<NgBlock, String>> {
        let at = self.offset;
        let err = |why: String| Some(Err(format!("{what} (block at byte {at}): {why}")));
        let mut h = [0u8; 8];
        let got = match fill(&mut self.r, &mut h) {
            Ok(g) => g,
            Err(e) => return err(e),
        };
        if got == 0 {
            return None;
        }
        if got < h.len() {
            return err(format!(
                "truncated block header: {got} of its 8 bytes, then the file ends"
            ));
        }
        let raw_type = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let mut consumed = 0usize;
        if raw_type == SHB {
            // A section header: its byte-order magic says how to read everything after it.
            let mut m = [0u8; 4];
            let got = match fill(&mut self.r, &mut m) {
                Ok(g) => g,
                Err(e) => return err(e),
            };
            if got < 4 {
                return err(format!(
                    "truncated section header block: {} of its first 12 bytes, then the file ends",
                    8 + got
                ));
            }
            self.order = match m {
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
            self.interfaces.clear();
            consumed = 4;
        } else if at == 0 {
            return err("not a pcapng file: it does not start with a section header block".into());
        }
        let ty = self.order.u32(&h);
        let len = self.order.u32(&h[4..]);
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
        self.body.clear();
        self.body.resize(rest - consumed, 0);
        let got = match fill(&mut self.r, &mut self.body) {
            Ok(g) => g,
            Err(e) => return err(e),
        };
        if got < self.body.len() {
            return err(format!(
                "truncated block: its length is {len} bytes, the file ends after {}",
                8 + consumed + got
            ));
        }
        let trailer = self.order.u32(&self.body[self.body.len() - 4..]);
        if trailer != len {
            return err(format!(
                "bad block: its trailing length {trailer} differs from its leading length {len}"
            ));
        }
        self.body.truncate(self.body.len() - 4);
        self.offset += u64::from(len);
        let b = &self.body;
        let o = self.order;
        let short = |need: usize, name: &str| {
            Some(Err(format!(
                "{what} (block at byte {at}): bad {name} block: a body of {} bytes, shorter than \
                 its {need}-byte fixed part",
                b.len()
            )))
        };
        let packet = |iface: u32, caplen: u32, wire: u32, start: usize, name: &str| {
            let end = start as u64 + u64::from(caplen);
            if end > b.len() as u64 {
                return Some(Err(format!(
                    "{what} (block at byte {at}): bad {name} block: a captured length of \
                     {caplen} bytes, more than the block holds ({})",
                    b.len() - start
                )));
            }
            Some(Ok(NgBlock::Packet(iface, wire, start..end as usize)))
        };
        match ty {
            SHB => Some(Ok(NgBlock::Other)),
            1 => {
                if b.len() < 8 {
                    return short(8, "interface description");
                }
                let link = Link::new(u32::from(o.u16(b)), o.u32(&b[4..]));
                self.interfaces.push(link);
                Some(Ok(NgBlock::Interface))
            }
            6 => {
                if b.len() < 20 {
                    return short(20, "enhanced packet");
                }
                packet(o.u32(b), o.u32(&b[12..]), o.u32(&b[16..]), 20, "enhanced packet")
            }
            2 => {
                if b.len() < 20 {
                    return short(20, "packet");
                }
                packet(u32::from(o.u16(b)), o.u32(&b[12..]), o.u32(&b[16..]), 20, "packet")
            }
            3 => {
                if b.len() < 4 {
                    return short(4, "simple packet");
                }
                // Simple packet blocks belong to the first interface and do not say how much
                // was captured: the data, the wire length and its snap length do (0: no limit).
                let wire = o.u32(b);
                let mut len = (b.len() - 4).min(wire as usize);
                if let Some(i) = self.interfaces.first()
                    && i.snaplen != 0
                {
                    len = len.min(i.snaplen as usize);
                }
                Some(Ok(NgBlock::Packet(0, wire, 4..4 + len)))
            }
            _ => Some(Ok(NgBlock::Other)),
        }
    }
}

enum Reader {
    Pcap(PcapFile),
    PcapNg(PcapNgFile),
}

/// An open capture, read one packet at a time.
pub struct Capture {
    reader: Reader,
    /// The first packet's link, as far as known when the file was opened.
    first: Option<Link>,
    /// The current packet's captured bytes.
    buf: Vec<u8>,
    /// Packets read so far.
    count: u64,
}

/// One packet: its captured bytes, its length on the wire and its link.
pub struct Packet<'a> {
    /// The captured bytes.
    pub data: &'a [u8],
    /// The length on the wire (at least `data.len()` in a well-formed capture).
    pub wire_len: u32,
    /// What it was captured on.
    pub link: Link,
}

impl Capture {
    /// Opens a pcap or pcapng file. Errors say what is wrong with it.
    pub fn open(path: &Path) -> Result<Capture, String> {
        let mut magic = [0u8; 4];
        let open = || -> Result<BufReader<File>, String> {
            Ok(BufReader::new(File::open(path).map_err(|e| format!("cannot read: {e}"))?))
        };
        let got = fill(&mut open()?, &mut magic)?;
        if got < magic.len() {
            return Err(format!(
                "not a pcap or pcapng file: {got} byte(s), too short for a file header"
            ));
        }
        let (reader, first) = if magic == PCAPNG_MAGIC {
            let mut probe = PcapNgFile::open(open()?);
            // The first block must read (a section header); the first interface is looked for
            // ahead, on a second handle, so the main reader starts at the beginning.
            let first = loop {
                match probe.next_block("the section header") {
                    Some(Ok(NgBlock::Interface)) => break probe.interfaces.first().copied(),
                    Some(Ok(NgBlock::Other)) => continue,
                    Some(Err(e)) if probe.offset == 0 => return Err(e),
                    _ => break None,
                }
            };
            (Reader::PcapNg(PcapNgFile::open(open()?)), first)
        } else {
            let r = PcapFile::open(open()?)?;
            let link = r.link;
            (Reader::Pcap(r), Some(link))
        };
        Ok(Capture { reader, first, buf: Vec::new(), count: 0 })
    }

    /// The link of the capture's first packets: the pcap file header's, or the first pcapng
    /// interface's; `None` for a pcapng file that describes no interface (or is broken before
    /// it does).
    pub fn link(&self) -> Option<Link> {
        self.first
    }

    /// The next packet, `None` at the end of the file, or what is wrong with the file there
    /// (naming the packet's number and the byte offset of its record or block).
    pub fn next_packet(&mut self) -> Option<Result<Packet<'_>, String>> {
        let number = self.count + 1;
        let (wire_len, link) = match &mut self.reader {
            Reader::Pcap(r) => match r.next(number, &mut self.buf)? {
                Ok(wire) => (wire, r.link),
                Err(e) => return Some(Err(e)),
            },
            Reader::PcapNg(r) => loop {
                let at = r.offset;
                match r.next_block(&format!("packet {number}"))? {
                    Ok(NgBlock::Packet(iface, wire, range)) => {
                        let Some(&link) = r.interfaces.get(iface as usize) else {
                            return Some(Err(format!(
                                "packet {number} (block at byte {at}): it names interface \
                                 {iface}, which no interface description block of its section \
                                 describes"
                            )));
                        };
                        self.buf.clear();
                        self.buf.extend_from_slice(&r.body[range]);
                        break (wire, link);
                    }
                    Ok(_) => continue,
                    Err(e) => return Some(Err(e)),
                }
            },
        };
        self.count = number;
        Some(Ok(Packet { data: &self.buf, wire_len, link }))
    }
}
