/// Fixed-point text with `places` decimals, rounding half away from zero on the decimal
/// text (no locale, no Foundation): `formatFixed(0.55783, 4) == "0.5578"`.
public func formatFixed(_ value: Double, _ places: Int) -> String {
    guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
    var scale = 1.0
    for _ in 0 ..< places { scale *= 10 }
    let scaled = (value.magnitude * scale).rounded(.toNearestOrAwayFromZero)
    guard scaled < 9e15 else { return CanonicalJSON.number(value) }
    let n = Int(scaled)
    let whole = n / Int(scale)
    let frac = n % Int(scale)
    var text = (value < 0 && n != 0 ? "-" : "") + String(whole)
    if places > 0 {
        let f = String(frac)
        text += "." + String(repeating: "0", count: places - f.count) + f
    }
    return text
}

/// Unicode block sparklines for a series, resampled to `width` columns (mean per column).
public enum Sparkline {
    static let blocks: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]

    public static func render(_ series: [Double], width: Int = 40, lower: Double? = nil, upper: Double? = nil) -> String {
        guard !series.isEmpty, width > 0 else { return "" }
        var columns = Columns(count: series.count, width: width)
        for x in series { columns.add(x) }
        return render(columnMeans: columns.means, lower: lower, upper: upper)
    }

    /// The column means of a series whose length is known up front, fed one value at a time
    /// (a summary of 10^9 ticks keeps 60 numbers, not the series); `render(series)` gives
    /// the same columns.
    public struct Columns: Sendable {
        public private(set) var means: [Double] = []
        private let count: Int
        private let columns: Int
        private var index = 0
        private var column = 0

        public init(count: Int, width: Int) {
            self.count = count
            columns = max(0, min(width, count))
            means.reserveCapacity(columns)
        }

        private func bounds(_ c: Int) -> (start: Int, end: Int) {
            guard columns > 0 else { return (0, 0) }
            let start = c * count / columns
            return (start, max(start + 1, (c + 1) * count / columns))
        }

        public mutating func add(_ x: Double) {
            guard column < columns else { return }
            let (start, end) = bounds(column)
            if means.count == column { means.append(0) }
            // The mean of the column, summed in parts so that huge values do not overflow.
            means[column] += x / Double(end - start)
            index += 1
            if index >= end { column += 1 }
        }
    }

    public static func render(columnMeans values: [Double], lower: Double? = nil, upper: Double? = nil) -> String {
        guard !values.isEmpty else { return "" }
        let lo = lower ?? values.min() ?? 0
        let hi = upper ?? values.max() ?? 1
        // Halves keep the span finite for any finite bounds (1e308 - -1e308 overflows).
        let span = hi / 2 - lo / 2
        return String(values.map { v -> Character in
            guard span > 0 else { return blocks[3] }
            let scaled = ((v / 2 - lo / 2) / span * 7).rounded()
            guard scaled.isFinite else { return blocks[0] }
            return blocks[Int(max(0, min(7, scaled)))]
        })
    }
}
