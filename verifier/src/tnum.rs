//! Tristate numbers ("known bits"): a 64-bit value where each bit is known 0, known 1 or
//! unknown. `value` holds the known ones, `mask` the unknown bits; `value & mask == 0`.
//! A concrete `x` is in the tnum when `x & !mask == value`.

/// Known bits of a 64-bit value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tnum {
    /// Bits known to be 1.
    pub value: u64,
    /// Bits not known.
    pub mask: u64,
}

impl Tnum {
    /// Nothing known.
    pub const UNKNOWN: Tnum = Tnum { value: 0, mask: u64::MAX };

    /// Exactly `v`.
    pub const fn constant(v: u64) -> Tnum {
        Tnum { value: v, mask: 0 }
    }

    /// Whether every bit is known.
    pub const fn is_const(self) -> bool {
        self.mask == 0
    }

    /// Whether `x` is one of the values.
    pub const fn contains(self, x: u64) -> bool {
        x & !self.mask == self.value
    }

    /// The smallest tnum holding every value of `[min, max]`.
    pub const fn range(min: u64, max: u64) -> Tnum {
        let chi = min ^ max;
        let bits = 64 - chi.leading_zeros();
        if bits > 63 {
            return Tnum::UNKNOWN;
        }
        let delta = (1u64 << bits) - 1;
        Tnum { value: min & !delta, mask: delta }
    }

    /// Least value as unsigned.
    pub const fn umin(self) -> u64 {
        self.value
    }
    /// Greatest value as unsigned.
    pub const fn umax(self) -> u64 {
        self.value | self.mask
    }
    /// Least value as signed.
    pub const fn smin(self) -> i64 {
        (self.value | (self.mask & (1 << 63))) as i64
    }
    /// Greatest value as signed.
    pub const fn smax(self) -> i64 {
        (self.value | (self.mask & !(1 << 63))) as i64
    }

    /// Sum (wrapping).
    pub const fn add(self, b: Tnum) -> Tnum {
        let sm = self.mask.wrapping_add(b.mask);
        let sv = self.value.wrapping_add(b.value);
        let sigma = sm.wrapping_add(sv);
        let chi = sigma ^ sv;
        let mu = chi | self.mask | b.mask;
        Tnum { value: sv & !mu, mask: mu }
    }

    /// Difference (wrapping).
    pub const fn sub(self, b: Tnum) -> Tnum {
        let dv = self.value.wrapping_sub(b.value);
        let alpha = dv.wrapping_add(self.mask);
        let beta = dv.wrapping_sub(b.mask);
        let chi = alpha ^ beta;
        let mu = chi | self.mask | b.mask;
        Tnum { value: dv & !mu, mask: mu }
    }

    /// Bitwise and.
    pub const fn and(self, b: Tnum) -> Tnum {
        let alpha = self.value | self.mask;
        let beta = b.value | b.mask;
        let v = self.value & b.value;
        Tnum { value: v, mask: alpha & beta & !v }
    }

    /// Bitwise or.
    pub const fn or(self, b: Tnum) -> Tnum {
        let v = self.value | b.value;
        let mu = self.mask | b.mask;
        Tnum { value: v, mask: mu & !v }
    }

    /// Bitwise exclusive or.
    pub const fn xor(self, b: Tnum) -> Tnum {
        let v = self.value ^ b.value;
        let mu = self.mask | b.mask;
        Tnum { value: v & !mu, mask: mu }
    }

    /// Left shift by a known amount (< 64).
    pub const fn lsh(self, s: u32) -> Tnum {
        Tnum { value: self.value << s, mask: self.mask << s }
    }

    /// Logical right shift by a known amount (< 64).
    pub const fn rsh(self, s: u32) -> Tnum {
        Tnum { value: self.value >> s, mask: self.mask >> s }
    }

    /// Arithmetic right shift by a known amount (< 64).
    pub const fn arsh(self, s: u32) -> Tnum {
        Tnum { value: ((self.value as i64) >> s) as u64, mask: ((self.mask as i64) >> s) as u64 }
    }

    /// Product (wrapping): the sum of partial products, one per bit of `self`.
    pub const fn mul(self, b: Tnum) -> Tnum {
        let acc_v = self.value.wrapping_mul(b.value);
        let mut acc_m = Tnum::constant(0);
        let mut a = self;
        let mut b = b;
        while a.value != 0 || a.mask != 0 {
            if a.value & 1 != 0 {
                acc_m = acc_m.add(Tnum { value: 0, mask: b.mask });
            } else if a.mask & 1 != 0 {
                acc_m = acc_m.add(Tnum { value: 0, mask: b.value | b.mask });
            }
            a = a.rsh(1);
            b = b.lsh(1);
        }
        Tnum::constant(acc_v).add(acc_m)
    }

    /// Every value of either (the join).
    pub const fn union(self, b: Tnum) -> Tnum {
        let mu = self.mask | b.mask | (self.value ^ b.value);
        Tnum { value: self.value & b.value & !mu, mask: mu }
    }

    /// The values of both (the meet), or `None` when they share none.
    pub const fn intersect(self, b: Tnum) -> Option<Tnum> {
        if (self.value ^ b.value) & !(self.mask | b.mask) != 0 {
            return None;
        }
        let v = self.value | b.value;
        let mu = self.mask & b.mask;
        Some(Tnum { value: v & !mu, mask: mu })
    }

    /// The low `bits` bits, zero-extended.
    pub const fn truncate(self, bits: u32) -> Tnum {
        if bits >= 64 {
            return self;
        }
        let keep = (1u64 << bits) - 1;
        Tnum { value: self.value & keep, mask: self.mask & keep }
    }

    /// The low `bits` bits, sign-extended from bit `bits - 1`.
    pub const fn sign_extend(self, bits: u32) -> Tnum {
        let s = 64 - bits;
        Tnum {
            value: ((self.value << s) as i64 >> s) as u64,
            mask: ((self.mask << s) as i64 >> s) as u64,
        }
    }

    /// Bytes of the low `bits` bits reversed (the byte swap), zero-extended.
    pub const fn swap_bytes(self, bits: u32) -> Tnum {
        let t = self.truncate(bits);
        let s = 64 - bits;
        Tnum { value: t.value.swap_bytes() >> s, mask: t.mask.swap_bytes() >> s }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(t: Tnum) -> impl Iterator<Item = u64> {
        (0u64..256).filter(move |x| t.contains(*x))
    }

    #[test]
    fn ops_are_sound_on_small_tnums() {
        // Every pair of tnums over the low 4 bits (others known 0).
        let all: alloc::vec::Vec<Tnum> = (0u64..16)
            .flat_map(|m| {
                (0u64..16).filter(move |v| v & m == 0).map(move |v| Tnum { value: v, mask: m })
            })
            .collect();
        for &a in &all {
            for &b in &all {
                for x in members(a) {
                    for y in members(b) {
                        assert!(a.add(b).contains(x.wrapping_add(y)));
                        assert!(a.sub(b).contains(x.wrapping_sub(y)));
                        assert!(a.mul(b).contains(x.wrapping_mul(y)));
                        assert!(a.and(b).contains(x & y));
                        assert!(a.or(b).contains(x | y));
                        assert!(a.xor(b).contains(x ^ y));
                        assert!(a.union(b).contains(x) && a.union(b).contains(y));
                        if b.contains(x) {
                            assert!(a.intersect(b).unwrap().contains(x));
                        }
                    }
                }
                let r = Tnum::range(a.umin(), b.umax().max(a.umin()));
                for x in a.umin()..=b.umax().max(a.umin()) {
                    assert!(r.contains(x));
                }
            }
        }
    }
}
