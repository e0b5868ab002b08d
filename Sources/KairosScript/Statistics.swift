#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The numerics behind the Analysis built-ins (docs/analysis.md): order statistics as NumPy
/// computes them, sample moments, Student-t and normal quantiles, and the logistic fit that
/// `tipping` uses. Pure functions of their inputs: no clock, no randomness.
enum Statistics {
    /// NumPy's default (`method="linear"`, R type 7): position `(n-1)·q` between order
    /// statistics, interpolated the way `numpy.lib._function_base_impl._lerp` does, so the
    /// figures agree with NumPy to the last bit. `sorted` must be ascending and non-empty.
    static func quantile(sorted xs: [Double], _ q: Double) -> Double {
        let h = Double(xs.count - 1) * q
        let lo = Int(h.rounded(.down))
        let t = h - Double(lo)
        guard lo + 1 < xs.count else { return xs[xs.count - 1] }
        let a = xs[lo], b = xs[lo + 1]
        let diff = b - a
        return t >= 0.5 ? b - diff * (1 - t) : a + diff * t
    }

    static func median(sorted xs: [Double]) -> Double {
        let n = xs.count
        return n % 2 == 1 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2
    }

    static func mean(_ xs: [Double]) -> Double {
        var total = 0.0
        for x in xs { total += x }
        return total / Double(xs.count)
    }

    /// The sample variance (divisor `n-1`), by two passes about the mean; needs `n >= 2`.
    static func variance(_ xs: [Double]) -> Double {
        let m = mean(xs)
        var ss = 0.0
        for x in xs { ss += (x - m) * (x - m) }
        return ss / Double(xs.count - 1)
    }

    // MARK: Distributions

    /// The regularized incomplete beta function I_x(a, b) (continued fraction, modified Lentz).
    static func incompleteBeta(_ x: Double, _ a: Double, _ b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x))
        // The fraction converges fast for x < (a+1)/(a+b+2); use the symmetry otherwise.
        if x > (a + 1) / (a + b + 2) { return 1 - incompleteBeta(1 - x, b, a) }
        let tiny = 1e-300
        var c = 1.0, d = 1 - (a + b) * x / (a + 1)
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var f = d
        for m in 1 ... 400 {
            let m = Double(m)
            var num = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
            d = 1 + num * d; if abs(d) < tiny { d = tiny }
            c = 1 + num / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            f *= d * c
            num = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
            d = 1 + num * d; if abs(d) < tiny { d = tiny }
            c = 1 + num / c; if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            f *= delta
            if abs(delta - 1) < 1e-16 { break }
        }
        return front * f / a
    }

    /// P(T <= t) for Student's t with `df` degrees of freedom.
    static func studentCDF(_ t: Double, df: Double) -> Double {
        let tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5)
        return t >= 0 ? 1 - tail : tail
    }

    /// The `p` quantile of Student's t (`scipy.stats.t.ppf(p, df)`), `0.5 <= p < 1`, by
    /// bisection on the CDF to the last representable bit.
    static func studentQuantile(_ p: Double, df: Double) -> Double {
        invert(p) { studentCDF($0, df: df) }
    }

    /// The `p` quantile of the standard normal (`scipy.stats.norm.ppf(p)`), `0.5 <= p < 1`.
    static func normalQuantile(_ p: Double) -> Double {
        invert(p) { 0.5 * erfc(-$0 / 2.0.squareRoot()) }
    }

    /// The `x >= 0` where an increasing `cdf` reaches `p`.
    private static func invert(_ p: Double, _ cdf: (Double) -> Double) -> Double {
        var lo = 0.0, hi = 1.0
        while cdf(hi) < p, hi < 1e300 { lo = hi; hi *= 2 }
        for _ in 0 ..< 2000 {
            let mid = lo + (hi - lo) / 2
            if mid <= lo || mid >= hi { break }
            if cdf(mid) < p { lo = mid } else { hi = mid }
        }
        return lo + (hi - lo) / 2
    }

    // MARK: Tipping point

    struct LogisticFit {
        /// `P(y) = 1 / (1 + exp(-(intercept + slope·x)))`.
        var intercept: Double
        var slope: Double
        /// The x where P crosses 1/2 and its Fieller interval (nil bounds when unbounded).
        var crossing: Double
        var lower: Double?
        var upper: Double?
    }

    enum FitProblem: Error {
        case oneOutcome
        case oneValue
        /// The outcomes switch cleanly between two x values: every x up to `below` gave 0,
        /// every x from `above` gave 1 (or the other way round).
        case separated(below: Double, above: Double)
        case noConvergence
    }

    /// Maximum-likelihood logistic regression of `ys` (0 or 1) on `xs` (Newton–Raphson on
    /// standardized x), then the 1/2 crossing `-intercept/slope` with Fieller's interval at
    /// `z` (the normal quantile of the level).
    static func logisticCrossing(_ xs: [Double], _ ys: [Double], z: Double) -> Result<LogisticFit, FitProblem> {
        let n = Double(xs.count)
        let ones = ys.reduce(0, +)
        guard ones > 0, ones < n else { return .failure(.oneOutcome) }
        let mx = mean(xs)
        var sxx = 0.0
        for x in xs { sxx += (x - mx) * (x - mx) }
        let sx = (sxx / n).squareRoot()
        guard sx > 0 else { return .failure(.oneValue) }
        let us = xs.map { ($0 - mx) / sx }
        // (Quasi-)complete separation, where the likelihood has no maximum (the slope runs
        // off to infinity): every x of one outcome lies at or below every x of the other.
        let zeroX = zip(xs, ys).filter { $0.1 == 0 }.map(\.0)
        let oneX = zip(xs, ys).filter { $0.1 == 1 }.map(\.0)
        if let zmax = zeroX.max(), let omin = oneX.min(), zmax <= omin {
            return .failure(.separated(below: zmax, above: omin))
        }
        if let omax = oneX.max(), let zmin = zeroX.min(), omax <= zmin {
            return .failure(.separated(below: omax, above: zmin))
        }
        var b0 = log(ones / (n - ones)), b1 = 0.0
        var i00 = 0.0, i01 = 0.0, i11 = 0.0
        var converged = false
        for _ in 0 ..< 200 {
            var g0 = 0.0, g1 = 0.0
            i00 = 0; i01 = 0; i11 = 0
            for (u, y) in zip(us, ys) {
                let p = 1 / (1 + exp(-(b0 + b1 * u)))
                let w = p * (1 - p)
                g0 += y - p
                g1 += (y - p) * u
                i00 += w
                i01 += w * u
                i11 += w * u * u
            }
            let det = i00 * i11 - i01 * i01
            guard det > 0, det.isFinite else { return .failure(.noConvergence) }
            let d0 = (i11 * g0 - i01 * g1) / det
            let d1 = (i00 * g1 - i01 * g0) / det
            b0 += d0
            b1 += d1
            if abs(d0) + abs(d1) < 1e-13 * (1 + abs(b0) + abs(b1)) {
                converged = true
                break
            }
        }
        guard converged, b1 != 0 else { return .failure(.noConvergence) }
        // The information matrix at the estimate; its inverse is the covariance.
        i00 = 0; i01 = 0; i11 = 0
        for u in us {
            let p = 1 / (1 + exp(-(b0 + b1 * u)))
            let w = p * (1 - p)
            i00 += w
            i01 += w * u
            i11 += w * u * u
        }
        let det = i00 * i11 - i01 * i01
        let v00 = i11 / det, v01 = -i01 / det, v11 = i00 / det
        let theta = -b0 / b1
        // Fieller: θ such that (b0 + θ·b1)² <= z²·(v00 + 2θ·v01 + θ²·v11).
        let a = b1 * b1 - z * z * v11
        let b = 2 * (b0 * b1 - z * z * v01)
        let c = b0 * b0 - z * z * v00
        var lower: Double?, upper: Double?
        let disc = b * b - 4 * a * c
        if a > 0, disc >= 0 {
            let r = disc.squareRoot()
            let q = -0.5 * (b + (b >= 0 ? r : -r))
            let roots = [q / a, c / q].sorted()
            lower = mx + sx * roots[0]
            upper = mx + sx * roots[1]
        }
        return .success(LogisticFit(intercept: b0 - b1 * mx / sx, slope: b1 / sx, crossing: mx + sx * theta,
                                    lower: lower, upper: upper))
    }
}
