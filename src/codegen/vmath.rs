//! Branch-free f32 versions of exp, expm1, log, log1p, tanh, sigmoid and softplus for the helpers
//! (and the normal distribution function, a scalar f64 call: see `normal_cdf`), after Cephes'
//! single-precision routines (range reduction plus a short polynomial; at most 2.5 ulp from the
//! exact result, tested on every path below). Polynomials are evaluated with fused multiply-adds
//! (`mul_add`): one instruction on the vector paths, a correctly rounded library call on
//! processors without FMA, so that every path gives the same bits. libm's scalar calls cost 10–30
//! ns per element; these have no branches, so the loops in `map` compile to vector code: AVX2 when
//! the CPU has it, AVX-512 on AMD processors that have it (detected at run time: the crate itself
//! is built for generic x86-64). Special values behave like libm: NaN propagates, exp overflows
//! to infinity above 88.7 and underflows to 0, log(0) = -inf and log(x < 0) = NaN; sigmoid, tanh
//! and softplus are finite for every finite input.

const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

#[inline(always)]
pub(super) fn exp(x: f32) -> f32 {
    // exp(89) overflows and exp(-104) is below the smallest denormal, so the clamp changes no
    // result but keeps n small enough for the exponent arithmetic below.
    let xc = x.clamp(-104.0, 89.0);
    // n = round(x / ln 2) by the 1.5 * 2^23 trick, which needs no rounding instruction.
    const MAGIC: f32 = 12_582_912.0;
    let t = xc * std::f32::consts::LOG2_E + MAGIC;
    let n = t.to_bits() as i32 - MAGIC.to_bits() as i32;
    let nf = t - MAGIC;
    let r = xc - nf * LN2_HI - nf * LN2_LO;
    let mut p = 1.987_569_2e-4f32;
    for c in [1.398_2e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5] {
        p = p.mul_add(r, c);
    }
    let y = (p * r).mul_add(r, r) + 1.0;
    // 2^n in two factors so that n down to -252 (denormal results) and up to 128 stay exact.
    let n1 = n >> 1;
    let n2 = n - n1;
    let s1 = f32::from_bits(((n1 + 127) as u32) << 23);
    let s2 = f32::from_bits(((n2 + 127) as u32) << 23);
    let e = y * s1 * s2;
    if x.is_nan() {
        x
    } else {
        e
    }
}

#[inline(always)]
pub(super) fn ln(x: f32) -> f32 {
    // Denormals are scaled into the normal range first so the exponent field is meaningful.
    let tiny = x < f32::MIN_POSITIVE;
    let xs = if tiny { x * 8_388_608.0 } else { x };
    let bits = xs.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 126 - if tiny { 23 } else { 0 };
    let mut m = f32::from_bits((bits & 0x807f_ffff) | 0x3f00_0000);
    // m in [0.5, 1): move it to [sqrt(1/2), sqrt(2)) - 1 so the polynomial stays accurate.
    let low = m < std::f32::consts::FRAC_1_SQRT_2;
    e -= low as i32;
    m = if low { m + m - 1.0 } else { m - 1.0 };
    let z = m * m;
    let mut p = 7.037_683_6e-2f32;
    for c in [
        -1.151_461e-1,
        1.167_699_9e-1,
        -1.242_014_1e-1,
        1.424_932_3e-1,
        -1.666_805_8e-1,
        2.000_071_4e-1,
        -2.499_999_4e-1,
        3.333_333e-1,
    ] {
        p = p.mul_add(m, c);
    }
    let ef = e as f32;
    let y = m * z * p + ef * LN2_LO - 0.5 * z;
    let r = m + y + ef * LN2_HI;
    if x == 0.0 {
        f32::NEG_INFINITY
    } else if x.is_nan() || x < 0.0 {
        f32::NAN
    } else if x == f32::INFINITY {
        x
    } else {
        r
    }
}

/// exp(x) − 1, accurate near 0 where exp(x) − 1 would cancel: the Taylor series to x⁹ for
/// |x| < 0.7 (its truncation error there is below 1e-8 relative), exp(x) − 1 beyond, where the
/// result is at least half of max(exp(x), 1) in magnitude so the subtraction loses nothing.
#[inline(always)]
pub(super) fn expm1(x: f32) -> f32 {
    let mut q = 1.0 / 362_880.0f32;
    for c in [
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
    ] {
        q = q.mul_add(x, c);
    }
    let small = x + x * x * q;
    let large = exp(x) - 1.0;
    if x.abs() < 0.7 {
        small
    } else {
        large
    }
}

/// log(1 + t), accurate for tiny t: log(u) * t / (u - 1) with u = 1 + t cancels the rounding of
/// u (Goldberg's trick).
#[inline(always)]
pub(super) fn ln_1p(t: f32) -> f32 {
    let u = 1.0 + t;
    let d = u - 1.0;
    if d == 0.0 {
        t
    } else {
        ln(u) * (t / d)
    }
}

#[inline(always)]
pub(super) fn tanh(x: f32) -> f32 {
    let a = x.abs();
    // Near 0 an odd polynomial (1 - 2/(e^2a + 1) would cancel); beyond, the exponential form,
    // which tends to 1 without overflow trouble (2/inf = 0).
    let z = a * a;
    let mut p = -5.704_988_7e-3f32;
    for c in [2.063_909e-2, -5.373_971_6e-2, 1.333_144_2e-1, -3.333_328e-1] {
        p = p.mul_add(z, c);
    }
    let small = (p * z).mul_add(a, a);
    let large = 1.0 - 2.0 / (exp(a + a) + 1.0);
    let r = if a < 0.625 { small } else { large };
    r.copysign(x)
}

/// 1 / (1 + e^-x): for very negative x the denominator becomes infinite and the result 0, never
/// NaN, and no cancellation occurs anywhere.
#[inline(always)]
pub(super) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// max(x, 0) + log(1 + e^-|x|): e^-|x| never overflows.
#[inline(always)]
pub(super) fn softplus(x: f32) -> f32 {
    let r = x.max(0.0) + ln_1p(exp(-x.abs()));
    if x.is_nan() {
        x
    } else {
        r
    }
}

/// Φ(x) = ½·erfc(−x/√2), evaluated in f64 with libm's `erfc` and rounded once. In f32 the
/// argument −x/√2 would carry a rounding error that erfc's steep lower tail multiplies by up to
/// 2z² (1e-5 relative near x = −13); in f64 that error is 2⁻²⁹ times smaller, so the result is
/// the correctly rounded Φ in practice (measured: 0.5 ulp; libm's f32 `erfcf` gave 187 ulp near
/// x = −12.5). It is a scalar call, not a vector loop: measured about 3.5 times the cost of
/// `sigmoid` per element; gelu is the only user, and exactness was the requirement.
#[inline(always)]
pub(super) fn normal_cdf(x: f32) -> f32 {
    (0.5 * libm::erfc(-f64::from(x) * std::f64::consts::FRAC_1_SQRT_2)) as f32
}

fn map_plain(x: &[f32], y: &mut [f32], g: impl Fn(f32) -> f32) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = g(x);
    }
}

/// The vector paths' loop, inlined into each of them so that the compiler vectorizes it for
/// that path's features: 8 lanes with AVX2, 16 with AVX-512.
#[inline(always)]
fn map_blocked(x: &[f32], y: &mut [f32], g: impl Fn(f32) -> f32) {
    // 32 values per iteration: each function is a chain of some twenty dependent operations, and
    // with one vector per iteration the out-of-order window holds too few chains to fill the
    // pipelines (measured: exp at 1.9 ns per element, for about 45 instructions per 8).
    const BLOCK: usize = 32;
    let mut xs = x.chunks_exact(BLOCK);
    let mut ys = y.chunks_exact_mut(BLOCK);
    for (xb, yb) in (&mut xs).zip(&mut ys) {
        let xb: &[f32; BLOCK] = xb.try_into().expect("invariant: chunks of BLOCK");
        let yb: &mut [f32; BLOCK] = yb.try_into().expect("invariant: chunks of BLOCK");
        for (y, &x) in yb.iter_mut().zip(xb) {
            *y = g(x);
        }
    }
    for (y, &x) in ys.into_remainder().iter_mut().zip(xs.remainder()) {
        *y = g(x);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn map_avx2(x: &[f32], y: &mut [f32], g: impl Fn(f32) -> f32) {
    map_blocked(x, y, g)
}

/// Twice the lanes of AVX2 and twice its registers (the AVX2 loop of tanh keeps some of its
/// values on the stack): tanh over 2,048 values took 0.53 ns per value against 1.0 with AVX2 on
/// a Zen 4 core, which splits each 512-bit operation in two, so the gain is in the instructions
/// issued rather than in the arithmetic.
/// Taken on AMD processors only (`amd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn map_avx512(x: &[f32], y: &mut [f32], g: impl Fn(f32) -> f32) {
    map_blocked(x, y, g)
}

/// The widest vector path this CPU has (detected at run time; the crate itself is built for
/// generic x86-64). Every path computes the same bits: the same operations, fused multiply-adds
/// included, on more lanes at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    Plain,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

fn widest_path() -> Path {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        return if std::is_x86_feature_detected!("avx512f") && amd() {
            Path::Avx512
        } else {
            Path::Avx2
        };
    }
    Path::Plain
}

/// Is this an AMD processor? Only there do the helpers take their AVX-512 path: an Intel core
/// lowers its clock for a while after 512-bit arithmetic, and a small step that mixes a few such
/// calls with scalar code pays that everywhere (the first round's Xeon trained the tiny model
/// 22–45% slower with its small products on 512-bit vectors; see docs/performance.md). AMD's Zen 4
/// runs them at full clock, splitting each in two halves.
#[cfg(target_arch = "x86_64")]
fn amd() -> bool {
    use std::sync::OnceLock;
    static AMD: OnceLock<bool> = OnceLock::new();
    *AMD.get_or_init(|| {
        // Leaf 0 names the vendor in EBX, EDX, ECX: "Auth" "enti" "cAMD".
        let leaf = std::arch::x86_64::__cpuid(0);
        [leaf.ebx, leaf.edx, leaf.ecx] == [0x6874_7541, 0x6974_6e65, 0x444d_4163]
    })
}

/// `y[i] = g(x[i])` on `path`.
///
/// # Safety
/// The CPU has the features of `path` (as `widest_path` detects them).
unsafe fn map_on(path: Path, x: &[f32], y: &mut [f32], g: impl Fn(f32) -> f32) {
    match path {
        Path::Plain => map_plain(x, y, g),
        // SAFETY: the features are present, by the contract.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => unsafe { map_avx2(x, y, g) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Path::Avx512 => unsafe { map_avx512(x, y, g) },
    }
}

/// `y[i] = g(y[i])`, in place, with the widest vectors the CPU has.
pub(super) fn map_in_place(y: &mut [f32], g: impl Fn(f32) -> f32) {
    match widest_path() {
        Path::Plain => y.iter_mut().for_each(|y| *y = g(*y)),
        // SAFETY: `widest_path` detected the features.
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 => unsafe { map_in_place_avx2(y, g) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Path::Avx512 => unsafe { map_in_place_avx512(y, g) },
    }
}

/// The in-place loop of the vector paths, as `map_blocked`.
#[inline(always)]
fn map_in_place_blocked(y: &mut [f32], g: impl Fn(f32) -> f32) {
    const BLOCK: usize = 32;
    let mut ys = y.chunks_exact_mut(BLOCK);
    for yb in &mut ys {
        let yb: &mut [f32; BLOCK] = yb.try_into().expect("invariant: chunks of BLOCK");
        for y in yb.iter_mut() {
            *y = g(*y);
        }
    }
    for y in ys.into_remainder() {
        *y = g(*y);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn map_in_place_avx2(y: &mut [f32], g: impl Fn(f32) -> f32) {
    map_in_place_blocked(y, g)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn map_in_place_avx512(y: &mut [f32], g: impl Fn(f32) -> f32) {
    map_in_place_blocked(y, g)
}

/// `y[i] = g(x[i])`, with the widest vectors the CPU has.
pub(super) fn map(x: &[f32], y: &mut [f32], g: impl Fn(f32) -> f32) {
    // SAFETY: `widest_path` detected the features of the path it names.
    unsafe { map_on(widest_path(), x, y, g) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The distance from `got` to the exact `want` in units in the last place of f32 at `want`.
    fn ulps(got: f32, want: f64) -> f64 {
        let w = want.abs();
        let ulp = if w < f64::from(f32::MIN_POSITIVE) {
            2f64.powi(-149)
        } else {
            2f64.powi(w.log2().floor() as i32 - 23)
        };
        (f64::from(got) - want).abs() / ulp
    }

    type Case = (&'static str, fn(f32) -> f32, fn(f64) -> f64, f32, f32);

    fn cases() -> Vec<Case> {
        let softplus64 = |x: f64| x.max(0.0) + (-x.abs()).exp().ln_1p();
        let sigmoid64 = |x: f64| 1.0 / (1.0 + (-x).exp());
        let normal_cdf64 = |x: f64| 0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2);
        vec![
            ("exp", exp, f64::exp, -87.0, 88.7),
            ("exp near 0", exp, f64::exp, -1e-3, 1e-3),
            ("expm1", expm1, f64::exp_m1, -20.0, 88.7),
            ("expm1 near 0", expm1, f64::exp_m1, -0.8, 0.8),
            ("expm1 tiny", expm1, f64::exp_m1, -1e-6, 1e-6),
            ("ln", ln, f64::ln, 1e-3, 1e3),
            ("ln near 1", ln, f64::ln, 0.9, 1.1),
            ("ln large", ln, f64::ln, 1.0, 3e38),
            ("tanh", tanh, f64::tanh, -12.0, 12.0),
            ("tanh near 0", tanh, f64::tanh, -1e-3, 1e-3),
            ("sigmoid", sigmoid, sigmoid64, -80.0, 80.0),
            ("softplus", softplus, softplus64, -80.0, 80.0),
            // Down to the denormals (Φ(−14) ≈ 8e-45) and up to where Φ rounds to 1.
            ("normal_cdf", normal_cdf, normal_cdf64, -14.0, 6.0),
            ("normal_cdf near 0", normal_cdf, normal_cdf64, -1e-3, 1e-3),
        ]
    }

    /// The largest error in ulps of `g` over `n` points spread over `[lo, hi]`, through the loop
    /// of `path`, and where it occurs.
    fn worst_ulps(case: &Case, path: Path) -> (f64, f32) {
        let (_, g, reference, lo, hi) = *case;
        let n = 200_001;
        let x: Vec<f32> = (0..n)
            .map(|i| lo + (hi - lo) * (i as f32 / (n - 1) as f32))
            .collect();
        let mut y = vec![0.0; n];
        // SAFETY: `paths` lists only paths this CPU has.
        unsafe { map_on(path, &x, &mut y, g) };
        x.iter()
            .zip(&y)
            .map(|(&x, &y)| (ulps(y, reference(f64::from(x))), x))
            .fold((0.0, 0.0), |a, b| if b.0 > a.0 { b } else { a })
    }

    /// Every path this CPU can run (AVX-512 also where `widest_path` does not take it): the
    /// portable loop always, then each vector path its features allow.
    fn paths() -> Vec<Path> {
        let mut paths = vec![Path::Plain];
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            paths.push(Path::Avx2);
            if std::is_x86_feature_detected!("avx512f") {
                paths.push(Path::Avx512);
            }
        }
        paths
    }

    /// The bound `docs/architecture.md` states for the helpers' functions, checked on every path
    /// this machine has.
    const MAX_ULPS: f64 = 2.5;

    #[test]
    fn functions_are_within_the_documented_ulps_on_every_path() {
        for path in paths() {
            for case in cases() {
                let (err, at) = worst_ulps(&case, path);
                eprintln!("{} ({path:?}): {err:.2} ulp at {at}", case.0);
                assert!(
                    err <= MAX_ULPS,
                    "{} ({path:?}): {err:.2} ulp at {at}",
                    case.0
                );
            }
        }
    }

    #[test]
    fn every_vector_path_computes_what_the_portable_path_computes() {
        // Lengths that leave remainders after the blocks, values over every branch.
        let x: Vec<f32> = (0..1003).map(|i| (i as f32 - 500.0) * 0.037).collect();
        for path in paths() {
            for (name, g, ..) in cases() {
                let (mut a, mut b) = (vec![0.0; x.len()], vec![0.0; x.len()]);
                // SAFETY: `paths` lists only paths this CPU has.
                unsafe { map_on(path, &x, &mut a, g) };
                map_plain(&x, &mut b, g);
                let mut c = x.clone();
                match path {
                    Path::Plain => c.iter_mut().for_each(|v| *v = g(*v)),
                    // SAFETY: `paths` lists only paths this CPU has.
                    #[cfg(target_arch = "x86_64")]
                    Path::Avx2 => unsafe { map_in_place_avx2(&mut c, g) },
                    // SAFETY: as above.
                    #[cfg(target_arch = "x86_64")]
                    Path::Avx512 => unsafe { map_in_place_avx512(&mut c, g) },
                }
                for (i, ((u, v), w)) in a.iter().zip(&b).zip(&c).enumerate() {
                    let same =
                        |p: &f32, q: &f32| p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan());
                    assert!(same(u, v), "{name}({}) {path:?}: {u}, portable {v}", x[i]);
                    assert!(
                        same(w, v),
                        "{name}({}) {path:?} in place: {w}, portable {v}",
                        x[i]
                    );
                }
            }
        }
    }

    /// The vendor check reads CPUID's leaf 0 as the kernel does.
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    #[test]
    fn the_vendor_is_the_one_the_kernel_names() {
        let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let Some(vendor) = info.lines().find(|l| l.starts_with("vendor_id")) else {
            return; // no vendor line to compare with (a container without it)
        };
        assert_eq!(amd(), vendor.ends_with("AuthenticAMD"), "{vendor}");
    }

    #[test]
    fn special_values_behave_like_libm() {
        assert_eq!(exp(100.0), f32::INFINITY);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert!(
            exp(-100.0) > 0.0 && exp(-100.0) < 1e-43,
            "denormal, not flushed"
        );
        assert!(exp(f32::NAN).is_nan() && ln(f32::NAN).is_nan() && tanh(f32::NAN).is_nan());
        assert_eq!(ln(0.0), f32::NEG_INFINITY);
        assert!(ln(-1.0).is_nan());
        assert_eq!(ln(f32::INFINITY), f32::INFINITY);
        assert!(
            (ln(1e-40) as f64 - (1e-40f64).ln()).abs() < 1e-4,
            "denormal input"
        );
        assert_eq!((tanh(50.0), tanh(-50.0)), (1.0, -1.0));
        assert_eq!((sigmoid(-200.0), sigmoid(200.0)), (0.0, 1.0));
        assert_eq!(softplus(-200.0), 0.0);
        assert_eq!(softplus(200.0), 200.0);
        assert!(softplus(f32::NAN).is_nan() && sigmoid(f32::NAN).is_nan());
        assert_eq!(
            expm1(f32::NEG_INFINITY),
            -1.0,
            "Adam's bias correction at beta = 0"
        );
        assert_eq!(expm1(100.0), f32::INFINITY);
        assert_eq!(expm1(0.0), 0.0);
        assert!(expm1(f32::NAN).is_nan());
        assert_eq!((normal_cdf(-1e30), normal_cdf(1e30)), (0.0, 1.0));
        assert_eq!(normal_cdf(0.0), 0.5);
        assert!(normal_cdf(f32::NAN).is_nan());
    }
}
