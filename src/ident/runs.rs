//! Where an answer can name somebody: its runs of exactly 10 or 11 ASCII digits (an account
//! number; a BVN or a NIN). Every answer is scanned for them (the job index, the reuse store's
//! `carries:`), and an answer is mostly other numbers (dates, times, ids, amounts): the runs are
//! found with bit masks, 64 bytes at a time, so the other numbers cost no more than letters do
//! (about a sixth of the instructions of a byte-by-byte scan on an Okra profile; docs/costs.md).

use std::ops::Range;

/// The runs of exactly 10 or 11 ASCII digits in `b` (each bounded by a non-digit or an end),
/// in order.
pub(super) fn id_runs(b: &[u8]) -> IdRuns<'_> {
    IdRuns {
        b,
        word: 0,
        before: 0,
        this: mask(b, 0),
        after: mask(b, 1),
        starts: 0,
        longer: 0,
    }
}

/// Iterator of [`id_runs`]: the text's digit masks, 64 bytes to a word, read a word ahead.
pub(super) struct IdRuns<'a> {
    b: &'a [u8],
    /// The next word to look at.
    word: usize,
    /// The digit masks of the words before it, it and after it (bit `i`: byte `64 * w + i`).
    before: u64,
    this: u64,
    after: u64,
    /// The current word's runs not yet returned (bit: where one starts).
    starts: u64,
    /// Bit set: that run is 11 digits long (else 10).
    longer: u64,
}

impl Iterator for IdRuns<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        while self.starts == 0 {
            if self.word * 64 >= self.b.len() {
                return None;
            }
            self.load();
        }
        let at = self.starts.trailing_zeros();
        self.starts &= self.starts - 1;
        let start = (self.word - 1) * 64 + at as usize;
        Some(start..start + 10 + ((self.longer >> at) & 1) as usize)
    }
}

impl IdRuns<'_> {
    /// The runs that start in the next word, from a window of it and the word after.
    fn load(&mut self) {
        let lo = self.this;
        let x = u128::from(lo) | (u128::from(self.after) << 64);
        let before = (lo << 1) | (self.before >> 63);
        // Bit p of `ten`: bytes p..p+10 are all digits.
        let two = x & (x >> 1);
        let four = two & (two >> 2);
        let ten = (four & (four >> 4) & (two >> 8)) as u64;
        let (d10, d11) = ((x >> 10) as u64, (x >> 11) as u64);
        // A run starts where the byte before is no digit; 12 digits or more name nobody.
        self.starts = ten & !before & !(d10 & d11);
        self.longer = d10;
        self.word += 1;
        (self.before, self.this) = (lo, self.after);
        self.after = mask(self.b, self.word + 1);
    }
}

/// The digit mask of word `w` of `b` (no digits past its end).
fn mask(b: &[u8], w: usize) -> u64 {
    match b.get(64 * w..) {
        Some(rest) if rest.len() >= 64 => block(&rest[..64]),
        Some(rest) => scalar(rest),
        None => 0,
    }
}

/// The digit mask of 64 bytes.
#[cfg(target_arch = "x86_64")]
fn block(c: &[u8]) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_set1_epi8,
        _mm_sub_epi8,
    };
    debug_assert_eq!(c.len(), 64);
    let mut mask = 0;
    for (k, part) in c.chunks_exact(16).enumerate() {
        // SAFETY: `part` is 16 readable bytes and the load has no alignment requirement; SSE2
        // is part of every x86_64 target, so its instructions are always there.
        let digits = unsafe {
            let v = _mm_loadu_si128(part.as_ptr().cast::<__m128i>());
            // A digit is a byte whose distance above '0' is at most 9.
            let d = _mm_sub_epi8(v, _mm_set1_epi8(b'0' as i8));
            _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d))
        };
        mask |= u64::from(digits as u16) << (16 * k);
    }
    mask
}

#[cfg(not(target_arch = "x86_64"))]
fn block(c: &[u8]) -> u64 {
    scalar(c)
}

/// The digit mask of up to 64 bytes, a byte at a time.
fn scalar(c: &[u8]) -> u64 {
    c.iter()
        .enumerate()
        .fold(0, |m, (i, b)| m | (u64::from(b.is_ascii_digit()) << i))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, a byte at a time.
    fn naive(b: &[u8]) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if !b[i].is_ascii_digit() {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if matches!(i - start, 10 | 11) {
                out.push(start..i);
            }
        }
        out
    }

    #[test]
    fn the_runs_are_the_definitions_anywhere_in_any_text() {
        // Random texts of digits, letters, the bytes either side of the digits and non-ASCII
        // bytes, every length up to three blocks: runs at, across and after every boundary.
        let alphabet = b"0123456789/:a\xc3\xa9\xff\x80";
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for len in 0..200 {
            for round in 0..60 {
                // Some texts mostly digits (long runs), some mostly not.
                let digits = [2, 8, 12][round % 3];
                let text: Vec<u8> = (0..len)
                    .map(|_| {
                        let r = next() as usize;
                        if r % 16 < digits {
                            alphabet[r / 16 % 10]
                        } else {
                            alphabet[10 + r / 16 % (alphabet.len() - 10)]
                        }
                    })
                    .collect();
                assert_eq!(id_runs(&text).collect::<Vec<_>>(), naive(&text), "{text:?}");
            }
        }
    }

    #[test]
    fn runs_at_the_edges_of_blocks() {
        for at in [0, 1, 53, 54, 55, 63, 64, 65, 117, 127, 128] {
            for n in 9..=12 {
                for tail in [0, 1, 64] {
                    let mut text = "x".repeat(at);
                    text.push_str(&"7".repeat(n));
                    text.push_str(&"y".repeat(tail));
                    let want = matches!(n, 10 | 11).then_some(at..at + n);
                    let got: Vec<_> = id_runs(text.as_bytes()).collect();
                    assert_eq!(got, want.into_iter().collect::<Vec<_>>(), "{at} {n} {tail}");
                }
            }
        }
        assert_eq!(id_runs(b"").count(), 0);
    }

    #[test]
    fn the_block_mask_is_the_bytes_one_by_one() {
        let text: Vec<u8> = (0..=255u8).chain(0..=255).take(64 * 8).collect();
        for c in text.chunks_exact(64) {
            assert_eq!(block(c), scalar(c));
        }
    }
}
