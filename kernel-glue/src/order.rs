//! Write ordering for XN: Ganger & Patt's rules for metadata updates, as XN enforced them.
//!
//! A [`Cache`] is a registry of cached blocks with per-block state ([`BlockState`]: dirty,
//! tainted, in flight). Front ends (the ext front end, or a kernel's buffer cache through
//! [`Ordered`]) put every metadata write into the cache and declare what it depends on; the
//! cache then issues the writes to the device in an order that keeps the disk consistent after
//! a crash at any point, up to leaked blocks (marked used, owned by nothing) and free counts:
//!
//! 1. **Initialise before pointing**: a new block is written with [`Cache::init`] and is
//!    *uninitialised on disk* until that write completes; a block that points at it
//!    ([`Cache::points_to`]) is *tainted* and may not reach disk until then. A tainted block
//!    is never written, whether or not it is reachable from a persistent root (a conservative
//!    form of the rule: a block that is not reachable yet becomes reachable the moment its
//!    parent is written, and then must not point at garbage).
//! 2. **Mark before pointing, unpoint before freeing**: [`Cache::depends`] makes one block's
//!    write wait for another's (an inode pointing at a block waits for the bitmap marking it
//!    used; a bitmap releasing a block waits for the inode that stopped pointing at it).
//! 3. **Free only after the parent is written**: [`Cache::will_free`] puts a block on its
//!    parent's *will-free* list; it stays unallocatable ([`Cache::allocatable`]) until the
//!    parent's write completes, and the flush reports it released.
//!
//! The order is computed before the first write ([`Cache::schedule`]): a dependency cycle is an
//! [`OrderError`] and nothing is written. Among the blocks ready to go (dirty, not in flight,
//! waiting for nothing), the one dirtied first goes first, so the order is deterministic.
//! [`Cache::flush`] with a limit `W` issues only the first `W` writes of that order and stops,
//! as a power cut would (the crash tests use it).
//!
//! A kernel with an asynchronous disk drives the cache itself: [`Cache::issue`] hands out the
//! next ready block (it is *in flight* until [`Cache::complete`]), so dependents wait for the
//! completion, not the issue.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::device::{BlockDevice, IoError};

/// What the cache knows about one block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BlockState {
    /// The cached bytes differ from (or were never compared with) the disk's: a write is due.
    pub dirty: bool,
    /// It points at a block not yet initialised on disk: it may not be written.
    pub tainted: bool,
    /// A write of it has been issued and not completed.
    pub in_flight: bool,
    /// It was put with [`Cache::init`] and that write has not completed: whatever the disk
    /// holds there is garbage.
    pub uninitialised: bool,
}

/// Why the cache cannot order its writes. Nothing was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderError {
    /// These dirty blocks wait for each other.
    Cycle(Vec<u64>),
    /// A dependency names a block the cache does not hold dirty and that is not initialised.
    Unknown(u64),
    /// Writing failed.
    Io(IoError),
}

impl fmt::Display for OrderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderError::Cycle(b) => {
                write!(f, "the writes of blocks {b:?} wait for each other: no safe order")
            }
            OrderError::Unknown(b) => write!(f, "a write depends on block {b}, never written"),
            OrderError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<IoError> for OrderError {
    fn from(e: IoError) -> OrderError {
        OrderError::Io(e)
    }
}

/// What [`Cache::flush`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Flushed {
    /// The blocks written, in the order they were issued.
    pub written: Vec<u64>,
    /// Blocks whose parents' writes completed: allocatable again.
    pub released: Vec<u64>,
    /// Writes left undone because the limit was reached (a simulated crash).
    pub left: usize,
}

#[derive(Clone, Debug, Default)]
struct Slot {
    data: Vec<u8>,
    /// What the disk holds there, when known (read from it, or written to it).
    disk: Option<Vec<u8>>,
    state: BlockState,
    /// When it was (first) dirtied: the tie-break among ready blocks.
    seq: u64,
    /// Dirtied again while in flight: still dirty when the write completes.
    redirty: bool,
    /// Blocks whose write must complete before this one's.
    waits: BTreeSet<u64>,
    /// Blocks released when this one's write completes.
    will_free: Vec<u64>,
}

/// The block-cache registry: cached blocks, their states and the order constraints between
/// their writes.
#[derive(Clone, Debug)]
pub struct Cache {
    block_size: usize,
    slots: BTreeMap<u64, Slot>,
    seq: u64,
    /// Blocks on some will-free list.
    freeing: BTreeSet<u64>,
}

impl Cache {
    /// An empty cache of `block_size`-byte blocks.
    pub fn new(block_size: usize) -> Cache {
        Cache { block_size, slots: BTreeMap::new(), seq: 0, freeing: BTreeSet::new() }
    }

    /// Bytes per block.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Reads `block` into `buf`: the cached bytes, else the device's (then cached clean).
    pub fn read(
        &mut self,
        dev: &mut dyn BlockDevice,
        block: u64,
        buf: &mut [u8],
    ) -> Result<(), IoError> {
        if buf.len() != self.block_size {
            return Err(IoError::BufferSize { len: buf.len(), block_size: self.block_size });
        }
        if let Some(s) = self.slots.get(&block).filter(|s| s.data.len() == buf.len()) {
            buf.copy_from_slice(&s.data);
            return Ok(());
        }
        // Not cached (or known only by its constraints so far): from the device.
        dev.read_block(block, buf)?;
        let s = self.slots.entry(block).or_default();
        s.data = buf.to_vec();
        s.disk = Some(buf.to_vec());
        Ok(())
    }

    /// Puts new bytes for `block` into the cache: it becomes dirty, its constraints stay. Bytes
    /// equal to what the disk holds (known from a read or a write) make it clean instead: that
    /// write is dropped with its constraints, and nothing waits for it any more.
    pub fn write(&mut self, block: u64, bytes: &[u8]) -> Result<(), IoError> {
        if bytes.len() != self.block_size {
            return Err(IoError::BufferSize { len: bytes.len(), block_size: self.block_size });
        }
        self.seq += 1;
        let seq = self.seq;
        let s = self.slots.entry(block).or_default();
        s.data.clear();
        s.data.extend_from_slice(bytes);
        let unchanged = !s.state.in_flight
            && !s.state.uninitialised
            && s.disk.as_deref() == Some(bytes)
            && s.will_free.is_empty();
        if unchanged {
            if s.state.dirty {
                s.state.dirty = false;
                s.waits.clear();
                for o in self.slots.values_mut() {
                    o.waits.remove(&block);
                }
            }
            return Ok(());
        }
        if s.state.in_flight {
            s.redirty = true;
        }
        if !s.state.dirty {
            s.state.dirty = true;
            s.seq = seq;
        }
        Ok(())
    }

    /// Puts the first contents of a newly allocated block: it is uninitialised on disk (and
    /// blocks pointing at it tainted) until this write completes.
    pub fn init(&mut self, block: u64, bytes: &[u8]) -> Result<(), IoError> {
        self.write(block, bytes)?;
        if let Some(s) = self.slots.get_mut(&block) {
            s.state.uninitialised = true;
        }
        Ok(())
    }

    /// Records that `parent`'s cached bytes point at `child`: while `child` is uninitialised
    /// on disk, `parent` is tainted and waits for `child`'s write.
    pub fn points_to(&mut self, parent: u64, child: u64) {
        let fresh = self.slots.get(&child).is_some_and(|s| s.state.uninitialised);
        if fresh && parent != child {
            self.slots.entry(parent).or_default().waits.insert(child);
        }
    }

    /// Makes `later`'s next write wait for the completion of `earlier`'s pending write (none
    /// when `earlier` is clean: its bytes are on disk already).
    pub fn depends(&mut self, later: u64, earlier: u64) {
        let pending = self.slots.get(&earlier).is_some_and(|s| s.state.dirty || s.state.in_flight);
        if pending && later != earlier {
            self.slots.entry(later).or_default().waits.insert(earlier);
        }
    }

    /// Puts `child` on `parent`'s will-free list: `child` becomes allocatable only once
    /// `parent`'s write (the one that stops pointing at it) completes. With `parent` clean,
    /// `child` is free at once.
    pub fn will_free(&mut self, parent: u64, child: u64) {
        match self.slots.get_mut(&parent) {
            Some(s) if s.state.dirty || s.state.in_flight => {
                s.will_free.push(child);
                self.freeing.insert(child);
            }
            _ => {}
        }
    }

    /// Takes `block` off every will-free list without waiting for its parent: for a block
    /// handed straight to a new owner (a move), whose pointer write waits for the old parent's
    /// instead ([`Cache::depends`]), so the block is never free on disk.
    pub fn reclaim(&mut self, block: u64) {
        if self.freeing.remove(&block) {
            for s in self.slots.values_mut() {
                s.will_free.retain(|&b| b != block);
            }
        }
    }

    /// Whether `block` may be handed out: it is on no will-free list.
    pub fn allocatable(&self, block: u64) -> bool {
        !self.freeing.contains(&block)
    }

    /// The state of `block` (`None`: not cached).
    pub fn state(&self, block: u64) -> Option<BlockState> {
        self.slots.get(&block).map(|s| {
            let mut st = s.state;
            st.tainted = s.waits.iter().any(|w| self.uninitialised(*w));
            st
        })
    }

    /// The cached bytes of `block`.
    pub fn cached(&self, block: u64) -> Option<&[u8]> {
        self.slots
            .get(&block)
            .filter(|s| s.data.len() == self.block_size)
            .map(|s| s.data.as_slice())
    }

    /// Dirty blocks (written into the cache, not yet issued).
    pub fn dirty(&self) -> impl Iterator<Item = u64> + '_ {
        self.slots.iter().filter(|(_, s)| s.state.dirty).map(|(&b, _)| b)
    }

    fn uninitialised(&self, b: u64) -> bool {
        self.slots.get(&b).is_some_and(|s| s.state.uninitialised)
    }

    fn ready(&self, s: &Slot) -> bool {
        s.state.dirty && !s.state.in_flight && s.waits.is_empty()
    }

    /// The order in which [`Cache::flush`] would write every dirty block, computed without
    /// writing; a cycle is an error.
    pub fn schedule(&self) -> Result<Vec<u64>, OrderError> {
        let mut pending: BTreeMap<u64, (u64, BTreeSet<u64>)> = BTreeMap::new();
        for (&b, s) in &self.slots {
            if s.state.dirty {
                pending.insert(b, (s.seq, s.waits.clone()));
            }
        }
        for (_, waits) in pending.values() {
            for w in waits {
                let known = self.slots.get(w).is_some_and(|s| s.state.dirty || s.state.in_flight);
                if !known {
                    return Err(OrderError::Unknown(*w));
                }
            }
        }
        let mut order = Vec::with_capacity(pending.len());
        while !pending.is_empty() {
            let next = pending
                .iter()
                .filter(|(_, (_, w))| w.iter().all(|b| !pending.contains_key(b)))
                .filter(|(b, _)| !self.slots[*b].state.in_flight)
                .min_by_key(|(b, (seq, _))| (*seq, **b))
                .map(|(&b, _)| b);
            let Some(b) = next else {
                return Err(OrderError::Cycle(pending.keys().copied().collect()));
            };
            pending.remove(&b);
            order.push(b);
        }
        Ok(order)
    }

    /// Issues the next write: the ready block dirtied first. It is in flight (and clean, its
    /// bytes handed to the disk) until [`Cache::complete`]. Returns it with its bytes.
    pub fn issue(&mut self) -> Option<(u64, Vec<u8>)> {
        let b = self
            .slots
            .iter()
            .filter(|(_, s)| self.ready(s))
            .min_by_key(|(b, s)| (s.seq, **b))
            .map(|(&b, _)| b)?;
        let s = self.slots.get_mut(&b)?;
        s.state.in_flight = true;
        s.state.dirty = false;
        s.redirty = false;
        s.disk = Some(s.data.clone());
        Some((b, s.data.clone()))
    }

    /// The write of `block` completed: it is initialised on disk, blocks waiting for it stop
    /// waiting, and its will-free list is released (returned: allocatable again).
    pub fn complete(&mut self, block: u64) -> Vec<u64> {
        let mut released = Vec::new();
        if let Some(s) = self.slots.get_mut(&block) {
            s.state.in_flight = false;
            s.state.uninitialised = false;
            if s.redirty {
                s.state.dirty = true;
                s.redirty = false;
            }
            released = core::mem::take(&mut s.will_free);
        }
        for s in self.slots.values_mut() {
            s.waits.remove(&block);
        }
        for b in &released {
            self.freeing.remove(b);
        }
        released
    }

    /// Writes every dirty block to `dev` in the order [`Cache::schedule`] gives (checked whole
    /// before the first write), or only the first `limit` of them: the rest stay dirty in the
    /// cache, as after a power cut if the cache is then dropped.
    pub fn flush(
        &mut self,
        dev: &mut dyn BlockDevice,
        limit: Option<usize>,
    ) -> Result<Flushed, OrderError> {
        let order = self.schedule()?;
        let n = limit.map_or(order.len(), |l| l.min(order.len()));
        let mut out = Flushed { left: order.len() - n, ..Flushed::default() };
        for _ in 0..n {
            let Some((b, bytes)) = self.issue() else { break };
            dev.write_block(b, &bytes)?;
            out.released.extend(self.complete(b));
            out.written.push(b);
        }
        Ok(out)
    }
}

/// A device seen through a [`Cache`]: reads come from the cache or the device, writes go into
/// the cache (dirty) and reach the device only through [`Cache::flush`]. Front ends written
/// against [`BlockDevice`] (XN's checked operations) run on it unchanged.
pub struct Ordered<'a> {
    /// The cache.
    pub cache: &'a mut Cache,
    /// The device below.
    pub dev: &'a mut dyn BlockDevice,
}

impl BlockDevice for Ordered<'_> {
    fn block_size(&self) -> usize {
        self.cache.block_size
    }

    fn blocks(&self) -> u64 {
        self.dev.blocks()
    }

    fn read_block(&mut self, block: u64, buf: &mut [u8]) -> Result<(), IoError> {
        if block >= self.dev.blocks() {
            return Err(IoError::OutOfRange { block, blocks: self.dev.blocks() });
        }
        self.cache.read(self.dev, block, buf)
    }

    fn write_block(&mut self, block: u64, buf: &[u8]) -> Result<(), IoError> {
        if block >= self.dev.blocks() {
            return Err(IoError::OutOfRange { block, blocks: self.dev.blocks() });
        }
        self.cache.write(block, buf)
    }
}

/// A zeroed block of `size` bytes (what a new indirect block is initialised with).
pub fn zeroed(size: usize) -> Vec<u8> {
    vec![0u8; size]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::MemDevice;

    fn blk(v: u8) -> Vec<u8> {
        vec![v; 1024]
    }

    #[test]
    fn pointer_waits_for_initialisation_and_bitmap() {
        let mut c = Cache::new(1024);
        // Dirtied in the wrong order on purpose: inode (7), then the new block (30), bitmap (3).
        c.write(7, &blk(1)).unwrap();
        c.init(30, &blk(0)).unwrap();
        c.write(3, &blk(2)).unwrap();
        c.points_to(7, 30);
        c.depends(7, 3);
        assert!(c.state(7).unwrap().tainted);
        assert!(c.state(30).unwrap().uninitialised);
        assert_eq!(c.schedule().unwrap(), vec![30, 3, 7]);
        let mut dev = MemDevice::new(vec![9u8; 64 * 1024], 1024);
        let f = c.flush(&mut dev, Some(1)).unwrap();
        assert_eq!((f.written.as_slice(), f.left), (&[30u64][..], 2));
        assert!(!c.state(7).unwrap().tainted, "initialised on disk now");
        let f = c.flush(&mut dev, None).unwrap();
        assert_eq!(f.written, vec![3, 7]);
        assert!(c.dirty().next().is_none());
        let mut b = blk(0);
        dev.read_block(7, &mut b).unwrap();
        assert_eq!(b, blk(1));
    }

    #[test]
    fn freed_block_allocatable_only_after_parent_written() {
        let mut c = Cache::new(1024);
        c.write(7, &blk(1)).unwrap();
        c.write(3, &blk(2)).unwrap();
        c.depends(3, 7);
        c.will_free(7, 40);
        assert!(!c.allocatable(40));
        let mut dev = MemDevice::new(vec![0u8; 64 * 1024], 1024);
        let (b, _) = c.issue().unwrap();
        assert_eq!(b, 7);
        assert!(c.state(7).unwrap().in_flight);
        assert!(c.issue().is_none(), "the bitmap waits for the inode's completion");
        assert!(!c.allocatable(40));
        assert_eq!(c.complete(7), vec![40]);
        assert!(c.allocatable(40));
        let f = c.flush(&mut dev, None).unwrap();
        assert_eq!(f.written, vec![3]);
    }

    #[test]
    fn writing_back_what_the_disk_holds_drops_the_write() {
        let mut c = Cache::new(1024);
        let mut dev = MemDevice::new(vec![4u8; 16 * 1024], 1024);
        let mut b = blk(0);
        c.read(&mut dev, 3, &mut b).unwrap();
        c.write(7, &blk(1)).unwrap();
        c.write(3, &blk(2)).unwrap();
        c.depends(7, 3);
        c.write(3, &blk(4)).unwrap();
        assert!(!c.state(3).unwrap().dirty);
        assert_eq!(c.schedule().unwrap(), vec![7]);
    }

    #[test]
    fn a_block_known_by_its_constraints_reads_from_the_device() {
        let mut c = Cache::new(1024);
        let mut dev = MemDevice::new(vec![6u8; 16 * 1024], 1024);
        c.write(2, &blk(1)).unwrap();
        c.depends(9, 2);
        let mut b = blk(0);
        c.read(&mut dev, 9, &mut b).unwrap();
        assert_eq!(b, blk(6));
        c.write(9, &blk(3)).unwrap();
        assert_eq!(c.schedule().unwrap(), vec![2, 9]);
    }

    #[test]
    fn a_cycle_writes_nothing() {
        let mut c = Cache::new(1024);
        c.write(1, &blk(1)).unwrap();
        c.write(2, &blk(2)).unwrap();
        c.depends(1, 2);
        c.depends(2, 1);
        let mut dev = MemDevice::new(vec![0u8; 8 * 1024], 1024);
        let before = dev.clone();
        assert_eq!(c.flush(&mut dev, None), Err(OrderError::Cycle(vec![1, 2])));
        assert_eq!(dev, before);
    }

    #[test]
    fn ordered_device_reads_its_writes() {
        let mut c = Cache::new(1024);
        let mut dev = MemDevice::new(vec![5u8; 8 * 1024], 1024);
        let mut o = Ordered { cache: &mut c, dev: &mut dev };
        o.write_block(2, &blk(7)).unwrap();
        let mut b = blk(0);
        o.read_block(2, &mut b).unwrap();
        assert_eq!(b, blk(7));
        o.read_block(3, &mut b).unwrap();
        assert_eq!(b, blk(5));
        assert!(o.write_block(8, &blk(0)).is_err());
        dev.read_block(2, &mut b).unwrap();
        assert_eq!(b, blk(5), "nothing reaches the disk before a flush");
    }
}
