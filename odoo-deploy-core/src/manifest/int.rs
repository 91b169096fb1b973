//! Python's unbounded `int`, just enough of it: build from literal digits, negate, compare,
//! convert to decimal text (with Python 3.11's 4,300-digit limit) and to `f64`.

use std::fmt::Write as _;

/// Python 3.11's default `sys.get_int_max_str_digits()`.
pub(crate) const MAX_STR_DIGITS: usize = 4300;

/// An arbitrary-precision integer, exact.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Int {
    negative: bool,
    /// Magnitude, little-endian base 2^32, no high zero limbs (zero is empty).
    mag: Vec<u32>,
}

impl Int {
    /// Zero.
    pub fn zero() -> Self {
        Int::default()
    }

    /// From an `i128`.
    pub fn from_i128(v: i128) -> Self {
        let negative = v < 0;
        let mut m = v.unsigned_abs();
        let mut mag = Vec::new();
        while m != 0 {
            mag.push((m & 0xffff_ffff) as u32);
            m >>= 32;
        }
        Int { negative, mag }
    }

    /// From digit values (each `< radix`), most significant first. Linear for power-of-two
    /// radixes, quadratic for 10 (callers bound the length by `MAX_STR_DIGITS`).
    pub(crate) fn from_digits(digits: &[u8], radix: u32) -> Self {
        let mut mag: Vec<u32> = Vec::new();
        if radix.is_power_of_two() {
            let bits = radix.trailing_zeros() as usize;
            let mut acc: u64 = 0;
            let mut nbits = 0usize;
            for &d in digits.iter().rev() {
                acc |= u64::from(d) << nbits;
                nbits += bits;
                if nbits >= 32 {
                    mag.push((acc & 0xffff_ffff) as u32);
                    acc >>= 32;
                    nbits -= 32;
                }
            }
            if nbits > 0 {
                mag.push(acc as u32);
            }
        } else {
            // Chunks of 9 decimal digits.
            for chunk in digits.chunks(9) {
                let mut mul: u64 = 1;
                let mut add: u64 = 0;
                for &d in chunk {
                    mul *= u64::from(radix);
                    add = add * u64::from(radix) + u64::from(d);
                }
                let mut carry = add;
                for limb in &mut mag {
                    let v = u64::from(*limb) * mul + carry;
                    *limb = (v & 0xffff_ffff) as u32;
                    carry = v >> 32;
                }
                while carry != 0 {
                    mag.push((carry & 0xffff_ffff) as u32);
                    carry >>= 32;
                }
            }
        }
        let mut int = Int {
            negative: false,
            mag,
        };
        int.trim();
        int
    }

    /// The exact integer value of an integral, finite `f64`.
    pub(crate) fn from_integral_f64(f: f64) -> Self {
        debug_assert!(f.is_finite() && f.fract() == 0.0);
        let bits = f.to_bits();
        let negative = (bits >> 63) == 1;
        let exp = ((bits >> 52) & 0x7ff) as i64;
        let frac = bits & ((1u64 << 52) - 1);
        if exp == 0 {
            // Zero or subnormal; integral subnormals are only ±0.
            return Int::zero();
        }
        let mantissa = frac | (1u64 << 52);
        let shift = exp - 1075;
        let mut int = if shift >= 0 {
            let mut mag = vec![(mantissa & 0xffff_ffff) as u32, (mantissa >> 32) as u32];
            let limbs = (shift / 32) as usize;
            let rem = (shift % 32) as u32;
            if rem > 0 {
                let mut carry = 0u32;
                for limb in &mut mag {
                    let v = (u64::from(*limb) << rem) | u64::from(carry);
                    *limb = (v & 0xffff_ffff) as u32;
                    carry = (v >> 32) as u32;
                }
                mag.push(carry);
            }
            let mut full = vec![0u32; limbs];
            full.extend(mag);
            Int {
                negative: false,
                mag: full,
            }
        } else {
            let v = mantissa >> (-shift).min(63);
            Int::from_i128(i128::from(v))
        };
        int.negative = negative;
        int.trim();
        int
    }

    fn trim(&mut self) {
        while self.mag.last() == Some(&0) {
            self.mag.pop();
        }
        if self.mag.is_empty() {
            self.negative = false;
        }
    }

    /// `-self`.
    pub fn neg(&self) -> Self {
        let mut r = self.clone();
        if !r.mag.is_empty() {
            r.negative = !r.negative;
        }
        r
    }

    /// Is this zero?
    pub fn is_zero(&self) -> bool {
        self.mag.is_empty()
    }

    /// Is this below zero?
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The value as an `i64`, if it fits.
    pub fn to_i64(&self) -> Option<i64> {
        i64::try_from(self.to_i128()?).ok()
    }

    /// The value as an `i128`, if it fits.
    pub fn to_i128(&self) -> Option<i128> {
        if self.mag.len() > 4 {
            return None;
        }
        let mut m: u128 = 0;
        for (i, &limb) in self.mag.iter().enumerate() {
            m |= u128::from(limb) << (32 * i);
        }
        if self.negative {
            if m <= i128::MAX as u128 + 1 {
                Some((m as i128).wrapping_neg())
            } else {
                None
            }
        } else {
            i128::try_from(m).ok()
        }
    }

    /// Number of bits of the magnitude.
    fn bit_len(&self) -> usize {
        match self.mag.last() {
            None => 0,
            Some(&top) => (self.mag.len() - 1) * 32 + (32 - top.leading_zeros() as usize),
        }
    }

    /// Decimal text without any limit (quadratic: only for values known to be small enough).
    fn decimal_unbounded(&self) -> String {
        let mut mag = self.mag.clone();
        let mut chunks: Vec<u32> = Vec::new();
        while !mag.is_empty() {
            let mut rem: u64 = 0;
            for limb in mag.iter_mut().rev() {
                let cur = (rem << 32) | u64::from(*limb);
                *limb = (cur / 1_000_000_000) as u32;
                rem = cur % 1_000_000_000;
            }
            chunks.push(rem as u32);
            while mag.last() == Some(&0) {
                mag.pop();
            }
        }
        let mut s = String::new();
        if self.negative {
            s.push('-');
        }
        match chunks.split_last() {
            None => s.push('0'),
            Some((first, rest)) => {
                let _ = write!(s, "{first}");
                for c in rest.iter().rev() {
                    let _ = write!(s, "{c:09}");
                }
            }
        }
        s
    }

    /// Decimal text as Python's `int.__repr__` gives it, or `None` when Python refuses
    /// (more than 4,300 digits, `sys.get_int_max_str_digits()`).
    pub fn to_decimal(&self) -> Option<String> {
        // 4300 digits need at most 14,285 bits; anything far above is refused unconverted.
        if self.bit_len() > 14_400 {
            return None;
        }
        let s = self.decimal_unbounded();
        let digits = s.len() - usize::from(self.negative);
        (digits <= MAX_STR_DIGITS).then_some(s)
    }

    /// `float(self)`, correctly rounded, or `None` on overflow (Python's `OverflowError`).
    pub fn to_f64(&self) -> Option<f64> {
        if self.bit_len() > 1030 {
            return None;
        }
        let f: f64 = self.decimal_unbounded().parse().ok()?;
        f.is_finite().then_some(f)
    }
}

impl std::fmt::Display for Int {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.bit_len() > 200_000 {
            return write!(f, "<int of {} bits>", self.bit_len());
        }
        f.write_str(&self.decimal_unbounded())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        let d = |s: &str, r: u32| {
            let digits: Vec<u8> = s
                .chars()
                .map(|c| c.to_digit(r).expect("digit") as u8)
                .collect();
            Int::from_digits(&digits, r)
        };
        assert_eq!(d("0", 10).to_decimal().as_deref(), Some("0"));
        assert_eq!(
            d("123456789012345678901234567890", 10)
                .to_decimal()
                .as_deref(),
            Some("123456789012345678901234567890")
        );
        assert_eq!(
            d("ffffffffffffffffffffffff", 16).to_decimal().as_deref(),
            Some("79228162514264337593543950335")
        );
        assert_eq!(d("777", 8).to_i64(), Some(511));
        assert_eq!(d("101", 2).neg().to_i64(), Some(-5));
        assert_eq!(Int::from_integral_f64(1e20), d("100000000000000000000", 10));
        assert_eq!(Int::from_integral_f64(-3.0).to_i64(), Some(-3));
        assert_eq!(Int::from_i128(i128::MIN).to_i128(), Some(i128::MIN));
        assert!(d(&"9".repeat(4301), 10).to_decimal().is_none());
        assert!(d(&"9".repeat(4300), 10).to_decimal().is_some());
        assert_eq!(d("10", 10).to_f64(), Some(10.0));
        assert_eq!(d(&"9".repeat(400), 10).to_f64(), None);
    }
}
