//! Reading packet captures for `udf filter`: pcap and pcapng files (told apart by their first
//! four bytes), through pcap-file's raw readers.
//!
//! Each packet is its captured bytes and its length on the wire. pcap-file's checked pcap
//! packets refuse a packet longer on the wire than the snap length, which is exactly what a
//! capture with a small snap length holds, so pcap records are read raw; a pcapng simple packet
//! block's data is cut to its captured length (the block's padding is not packet data).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};

/// The first four bytes of a pcapng file (a section header block's type).
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

enum Reader {
    Pcap(PcapReader<BufReader<File>>),
    PcapNg(PcapNgReader<BufReader<File>>),
}

/// An open capture, read one packet at a time.
pub struct Capture {
    reader: Reader,
    /// The current packet's captured bytes.
    buf: Vec<u8>,
}

/// One packet: its captured bytes and its length on the wire.
pub struct Packet<'a> {
    /// The captured bytes.
    pub data: &'a [u8],
    /// The length on the wire (at least `data.len()` in a well-formed capture).
    pub wire_len: u32,
}

impl Capture {
    /// Opens a pcap or pcapng file. Errors say what is wrong with it.
    pub fn open(path: &Path) -> Result<Capture, String> {
        let mut magic = [0u8; 4];
        File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .map_err(|e| format!("cannot read: {e}"))?;
        let file = BufReader::new(File::open(path).map_err(|e| format!("cannot read: {e}"))?);
        let reader = if magic == PCAPNG_MAGIC {
            Reader::PcapNg(PcapNgReader::new(file).map_err(|e| format!("not a pcapng file: {e}"))?)
        } else {
            Reader::Pcap(
                PcapReader::new(file).map_err(|e| format!("not a pcap or pcapng file: {e}"))?,
            )
        };
        Ok(Capture {
            reader,
            buf: Vec::new(),
        })
    }

    /// The next packet, `None` at the end of the file, or what is wrong with the file there.
    pub fn next_packet(&mut self) -> Option<Result<Packet<'_>, String>> {
        let wire_len = match &mut self.reader {
            Reader::Pcap(r) => match r.next_raw_packet()? {
                Ok(p) => {
                    self.buf.clear();
                    self.buf.extend_from_slice(&p.data);
                    p.orig_len
                }
                Err(e) => return Some(Err(e.to_string())),
            },
            Reader::PcapNg(r) => loop {
                let snaplen = r.interfaces().first().map_or(0, |i| i.snaplen);
                match r.next_block()? {
                    Ok(Block::EnhancedPacket(p)) => {
                        self.buf.clear();
                        self.buf.extend_from_slice(&p.data);
                        break p.original_len;
                    }
                    Ok(Block::Packet(p)) => {
                        self.buf.clear();
                        self.buf.extend_from_slice(&p.data);
                        break p.original_len;
                    }
                    Ok(Block::SimplePacket(p)) => {
                        let mut len = p.data.len().min(p.original_len as usize);
                        if snaplen != 0 {
                            len = len.min(snaplen as usize);
                        }
                        self.buf.clear();
                        self.buf.extend_from_slice(&p.data[..len]);
                        break p.original_len;
                    }
                    Ok(_) => continue,
                    Err(e) => return Some(Err(e.to_string())),
                }
            },
        };
        Some(Ok(Packet {
            data: &self.buf,
            wire_len,
        }))
    }
}
