//! Reading packet captures for `udf filter`: pcap and pcapng files (told apart by their first
//! four bytes), through pcap-file's raw readers.
//!
//! Each packet is its captured bytes, its length on the wire and the [`Link`] it was captured
//! on: the file header's link type and snap length for pcap, its interface's for pcapng (a
//! pcapng file may mix interfaces of different link types). pcap-file's checked pcap packets
//! refuse a packet longer on the wire than the snap length, which is exactly what a capture
//! with a small snap length holds, so pcap records are read raw; a pcapng simple packet block's
//! data is cut to its captured length (the block's padding is not packet data).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};

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
        let snaplen = if snaplen == 0 || snaplen > MAX_SNAPLEN {
            MAX_SNAPLEN
        } else {
            snaplen
        };
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

enum Reader {
    Pcap(PcapReader<BufReader<File>>, Link),
    PcapNg(PcapNgReader<BufReader<File>>),
}

/// An open capture, read one packet at a time.
pub struct Capture {
    reader: Reader,
    /// The first packet's link, as far as known when the file was opened.
    first: Option<Link>,
    /// The current packet's captured bytes.
    buf: Vec<u8>,
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

/// The link of a pcapng interface description block.
fn interface_link(
    i: &pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock,
) -> Link {
    Link::new(u32::from(i.linktype), i.snaplen)
}

impl Capture {
    /// Opens a pcap or pcapng file. Errors say what is wrong with it.
    pub fn open(path: &Path) -> Result<Capture, String> {
        let mut magic = [0u8; 4];
        File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .map_err(|e| format!("cannot read: {e}"))?;
        let open = || -> Result<BufReader<File>, String> {
            Ok(BufReader::new(
                File::open(path).map_err(|e| format!("cannot read: {e}"))?,
            ))
        };
        let (reader, first) = if magic == PCAPNG_MAGIC {
            let first = Self::first_interface(open()?);
            let r = PcapNgReader::new(open()?).map_err(|e| format!("not a pcapng file: {e}"))?;
            (Reader::PcapNg(r), first)
        } else {
            let r =
                PcapReader::new(open()?).map_err(|e| format!("not a pcap or pcapng file: {e}"))?;
            let h = r.header();
            let link = Link::new(u32::from(h.datalink), h.snaplen);
            (Reader::Pcap(r, link), Some(link))
        };
        Ok(Capture {
            reader,
            first,
            buf: Vec::new(),
        })
    }

    /// The first interface described in a pcapng file (read ahead on a second handle, so the
    /// main reader starts at the beginning).
    fn first_interface(file: BufReader<File>) -> Option<Link> {
        let mut r = PcapNgReader::new(file).ok()?;
        loop {
            match r.next_block()? {
                Ok(Block::InterfaceDescription(i)) => return Some(interface_link(&i)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// The link of the capture's first packets: the pcap file header's, or the first pcapng
    /// interface's; `None` for a pcapng file that describes no interface (or is broken before
    /// it does).
    pub fn link(&self) -> Option<Link> {
        self.first
    }

    /// The next packet, `None` at the end of the file, or what is wrong with the file there.
    pub fn next_packet(&mut self) -> Option<Result<Packet<'_>, String>> {
        let (wire_len, link) = match &mut self.reader {
            Reader::Pcap(r, link) => match r.next_raw_packet()? {
                Ok(p) => {
                    self.buf.clear();
                    self.buf.extend_from_slice(&p.data);
                    (p.orig_len, *link)
                }
                Err(e) => return Some(Err(e.to_string())),
            },
            Reader::PcapNg(r) => {
                let (wire_len, interface) = loop {
                    let snaplen = r.interfaces().first().map_or(0, |i| i.snaplen);
                    match r.next_block()? {
                        Ok(Block::EnhancedPacket(p)) => {
                            self.buf.clear();
                            self.buf.extend_from_slice(&p.data);
                            break (p.original_len, p.interface_id);
                        }
                        Ok(Block::Packet(p)) => {
                            self.buf.clear();
                            self.buf.extend_from_slice(&p.data);
                            break (p.original_len, u32::from(p.interface_id));
                        }
                        Ok(Block::SimplePacket(p)) => {
                            // Simple packet blocks belong to the first interface and do not
                            // say how much was captured: its snap length does (0: no limit).
                            let mut len = p.data.len().min(p.original_len as usize);
                            if snaplen != 0 {
                                len = len.min(snaplen as usize);
                            }
                            self.buf.clear();
                            self.buf.extend_from_slice(&p.data[..len]);
                            break (p.original_len, 0);
                        }
                        Ok(_) => continue,
                        Err(e) => return Some(Err(e.to_string())),
                    }
                };
                let Some(i) = r.interfaces().get(interface as usize) else {
                    return Some(Err(format!(
                        "a packet of interface {interface}, which no interface description block describes"
                    )));
                };
                (wire_len, interface_link(i))
            }
        };
        Some(Ok(Packet {
            data: &self.buf,
            wire_len,
            link,
        }))
    }
}
