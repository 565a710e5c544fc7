//! Reading a decimal number from CSV text: `str::parse::<f64>`'s result, bit for bit, with a
//! direct path for the plain decimals that fill most numeric files (`-1.2345`, `0.5e-3`), which
//! is most of the time spent loading one. It knows nothing of cells, columns or files.

/// `s.parse::<f64>()`, bit for bit, going straight to the answer for plain decimals.
pub(crate) fn parse_f64(s: &str) -> Result<f64, std::num::ParseFloatError> {
    match decimal_prefix(s.as_bytes()) {
        Some((v, len)) if len == s.len() => Ok(v),
        _ => s.parse(),
    }
}

/// A plain decimal at the start of `b`, `[+-]digits[.digits][(e|E)[+-]digits]` with fewer than 8
/// digits on each side of the point and at most 3 in the exponent: its value and length. The
/// mantissa (below 10^14) and the power of ten (when within ±22) are then exact f64s, and one
/// multiplication or division rounds their quotient correctly, which is what `str::parse`
/// returns (its own fast path does the same). `None` for anything else.
#[inline]
pub(crate) fn decimal_prefix(b: &[u8]) -> Option<(f64, usize)> {
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    const SCALE: [u64; 9] = [
        1,
        10,
        100,
        1000,
        10_000,
        100_000,
        1_000_000,
        10_000_000,
        100_000_000,
    ];
    let negative = *b.first()? == b'-';
    let mut i = usize::from(negative || b[0] == b'+');
    let (whole, mut mantissa) = leading_digits(&b[i..]);
    i += whole;
    let mut fraction = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let (n, digits) = leading_digits(&b[i..]);
        i += n;
        fraction = n;
        mantissa = mantissa * SCALE[n] + digits;
    }
    if whole + fraction == 0 || whole == 8 || fraction == 8 {
        return None;
    }
    let mut exponent = -(fraction as i32);
    if b.get(i).is_some_and(|&c| c | 0x20 == b'e') {
        i += 1;
        let sign = match b.get(i) {
            Some(b'-') => -1,
            _ => 1,
        };
        i += usize::from(matches!(b.get(i), Some(b'-' | b'+')));
        let (n, e) = leading_digits(&b[i..]);
        if n == 0 || n > 3 {
            return None;
        }
        i += n;
        exponent += sign * e as i32;
    }
    // Below 10^16, so the signed conversion (one instruction) is exact.
    let m = mantissa as i64 as f64;
    let v = match exponent {
        0..=22 => m * POW10[exponent as usize],
        -22..=-1 => m / POW10[exponent.unsigned_abs() as usize],
        _ => return None,
    };
    Some((if negative { -v } else { v }, i))
}

/// The leading ASCII digits of `b`, at most 8 of them: how many, and their value. Eight bytes at a
/// time when `b` has them: the digits are found and summed within one u64.
#[inline]
fn leading_digits(b: &[u8]) -> (usize, u64) {
    let Some(chunk) = b.first_chunk::<8>() else {
        let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let value = b[..n].iter().fold(0, |v, &c| v * 10 + u64::from(c - b'0'));
        return (n, value);
    };
    // Each byte minus '0' (as xor, which agrees on digits); a byte is a digit when that is ≤ 9:
    // adding 0x76 to its low 7 bits sets the top bit exactly when it is above 9.
    let t = u64::from_le_bytes(*chunk) ^ 0x3030_3030_3030_3030;
    let high = 0x8080_8080_8080_8080;
    let not_digit = (((t & !high) + 0x7676_7676_7676_7676) | t) & high;
    let n = (not_digit.trailing_zeros() / 8) as usize;
    if n == 0 {
        return (0, 0);
    }
    // The n digits to the top bytes, so that they read as the last n of eight; then pairs,
    // quadruples and the whole are summed with their weights.
    let mut v = t << (64 - 8 * n as u32);
    v = (v & 0x0f0f_0f0f_0f0f_0f0f).wrapping_mul(10 << 8 | 1) >> 8;
    v = (v & 0x00ff_00ff_00ff_00ff).wrapping_mul(100 << 16 | 1) >> 16;
    v = (v & 0x0000_ffff_0000_ffff).wrapping_mul(10000 << 32 | 1) >> 32;
    (n, v)
}
