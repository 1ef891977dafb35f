//! The one seeded random generator of the test and fuzzing code: SplitMix64, the same stream
//! from the same seed on every run and every machine.

use alloc::vec::Vec;

/// SplitMix64: small, fast, good enough for test generation.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    /// Uniform in `0..n` (`n > 0`), as an index.
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
    /// `len` uniformly random bytes (one draw each).
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
    /// True with probability `num/den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
    /// One of `items` (non-empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
    /// One of `table`'s items, each with probability its weight over the total (one draw;
    /// the total must not be 0). `None` only if every weight is 0.
    pub fn weighted<T: Copy>(&mut self, table: &[(u64, T)]) -> Option<T> {
        let total: u64 = table.iter().map(|t| t.0).sum();
        let mut x = self.below(total);
        for &(w, t) in table {
            if x < w {
                return Some(t);
            }
            x -= w;
        }
        None
    }
    /// An interesting 32-bit immediate: small, boundary or random.
    pub fn imm32(&mut self) -> i32 {
        match self.below(6) {
            0 => self.below(16) as i32 - 4,
            1 => self.pick(&[i32::MIN, i32::MAX, -1, 0, 1, 0xff, 0xffff, 0x7fff, -0x8000]),
            2 => self.below(64) as i32,
            _ => self.next_u64() as i32,
        }
    }

    /// `len` input bytes for a run, biased towards 0 and 0xff (a quarter each), so that
    /// length fields, flags and bounds take their edge values often.
    pub fn input(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| match self.below(4) {
                0 => 0,
                1 => 0xff,
                _ => self.next_u64() as u8,
            })
            .collect()
    }
}
