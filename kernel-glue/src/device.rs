//! Block I/O: the small trait XN and the file-system front ends read and write through, so a
//! kernel can put its own buffer cache behind it; [`MemDevice`] holds an image in memory.

use alloc::vec::Vec;
use core::fmt;

/// Why a block could not be read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoError {
    /// The block is past the end of the device.
    OutOfRange {
        /// The block asked for.
        block: u64,
        /// Blocks on the device.
        blocks: u64,
    },
    /// The buffer is not one block long.
    BufferSize {
        /// Its length.
        len: usize,
        /// The device's block size.
        block_size: usize,
    },
    /// The device failed (the kernel's driver says why).
    Device(&'static str),
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IoError::OutOfRange { block, blocks } => {
                write!(f, "block {block} is past the end of the device ({blocks} blocks)")
            }
            IoError::BufferSize { len, block_size } => {
                write!(f, "a {len}-byte buffer for {block_size}-byte blocks")
            }
            IoError::Device(why) => write!(f, "device error: {why}"),
        }
    }
}

/// A device of fixed-size blocks.
pub trait BlockDevice {
    /// Bytes per block.
    fn block_size(&self) -> usize;
    /// Number of blocks.
    fn blocks(&self) -> u64;
    /// Reads block `block` into `buf` (exactly one block long).
    fn read_block(&mut self, block: u64, buf: &mut [u8]) -> Result<(), IoError>;
    /// Writes `buf` (exactly one block long) to block `block`.
    fn write_block(&mut self, block: u64, buf: &[u8]) -> Result<(), IoError>;
}

/// Reads `buf.len()` bytes at byte offset `at` of `dev`, whatever its block size.
pub fn read_bytes(dev: &mut dyn BlockDevice, at: u64, buf: &mut [u8]) -> Result<(), IoError> {
    let bs = dev.block_size();
    let mut block = alloc::vec![0u8; bs];
    let mut done = 0usize;
    while done < buf.len() {
        let pos = at + done as u64;
        let (b, off) = (pos / bs as u64, (pos % bs as u64) as usize);
        dev.read_block(b, &mut block)?;
        let n = (bs - off).min(buf.len() - done);
        buf[done..done + n].copy_from_slice(&block[off..off + n]);
        done += n;
    }
    Ok(())
}

/// An image held in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemDevice {
    bytes: Vec<u8>,
    block_size: usize,
}

impl MemDevice {
    /// The image `bytes` seen as blocks of `block_size` bytes (a trailing partial block is not
    /// addressable).
    pub fn new(bytes: Vec<u8>, block_size: usize) -> MemDevice {
        assert!(block_size > 0, "a block size of 0");
        MemDevice { bytes, block_size }
    }

    /// The image.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The image, given back.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    fn range(&self, block: u64, len: usize) -> Result<core::ops::Range<usize>, IoError> {
        if len != self.block_size {
            return Err(IoError::BufferSize { len, block_size: self.block_size });
        }
        let blocks = self.blocks();
        if block >= blocks {
            return Err(IoError::OutOfRange { block, blocks });
        }
        let at = block as usize * self.block_size;
        Ok(at..at + self.block_size)
    }
}

impl BlockDevice for MemDevice {
    fn block_size(&self) -> usize {
        self.block_size
    }

    fn blocks(&self) -> u64 {
        (self.bytes.len() / self.block_size) as u64
    }

    fn read_block(&mut self, block: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let r = self.range(block, buf.len())?;
        buf.copy_from_slice(&self.bytes[r]);
        Ok(())
    }

    fn write_block(&mut self, block: u64, buf: &[u8]) -> Result<(), IoError> {
        let r = self.range(block, buf.len())?;
        self.bytes[r].copy_from_slice(buf);
        Ok(())
    }
}
