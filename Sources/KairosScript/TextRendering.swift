import KairosEngine

/// Terminal text for `table` and `plot`.
enum TextRendering {
    /// Aligned columns: a list of records (a header from their keys) or a list of lists.
    /// Numbers are right-aligned, everything else left-aligned.
    static func table(_ v: Value, at range: SourceRange) throws(RuntimeError) -> String {
        guard case .list(let rows) = v else {
            throw RuntimeError("table takes a list of records or a list of lists, got \(v.typeName)", at: range, id: "type-error")
        }
        var header: [String] = []
        var cells: [[Value?]] = []
        if !rows.isEmpty, rows.allSatisfy({ if case .trace = $0 { true } else { false } }) {
            // A list of traces: one line of summary figures each.
            return try table(.list(rows.compactMap { if case .trace(let t) = $0 { .record(t.tableRow) } else { nil } }), at: range)
        }
        if rows.allSatisfy({ if case .record = $0 { true } else { false } }) {
            for case .record(let r) in rows {
                for k in r.keys where !header.contains(k) { header.append(k) }
            }
            for case .record(let r) in rows { cells.append(header.map { r[$0] }) }
        } else if rows.allSatisfy({ if case .list = $0 { true } else { false } }) {
            for case .list(let items) in rows { cells.append(items.map { $0 }) }
        } else {
            throw RuntimeError("table rows must be all records or all lists", at: range, id: "type-error")
        }
        let columns = max(header.count, cells.map(\.count).max() ?? 0)
        var widths = Array(repeating: 0, count: columns)
        var numeric = Array(repeating: true, count: columns)
        let texts = cells.map { row in
            (0 ..< columns).map { c -> String in
                guard c < row.count, let value = row[c] else { return "" }
                if case .number = value {} else { numeric[c] = false }
                return value.displayText
            }
        }
        for (c, h) in header.enumerated() { widths[c] = h.count }
        for row in texts { for (c, t) in row.enumerated() { widths[c] = max(widths[c], t.count) } }
        func line(_ items: [String], alignRight: [Bool]) -> String {
            var parts: [String] = []
            for (c, t) in items.enumerated() {
                let pad = String(repeating: " ", count: widths[c] - t.count)
                parts.append(alignRight[c] ? pad + t : t + pad)
            }
            return String(parts.joined(separator: "  ").reversed().drop { $0 == " " }.reversed())
        }
        var lines: [String] = []
        if !header.isEmpty {
            lines.append(line(header, alignRight: numeric))
            lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
        }
        for row in texts { lines.append(line(row, alignRight: numeric)) }
        return lines.joined(separator: "\n")
    }

    static let blocks: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]

    /// An area chart, `height` rows of at most `width` columns (each column the mean of its
    /// share of the series), with the value range on the left and the index range below.
    static func plot(_ series: [Double], title: String? = nil, width: Int = 60, height: Int = 8) -> String {
        guard !series.isEmpty else { return "(empty series)" }
        let finite = series.filter(\.isFinite)
        guard !finite.isEmpty else { return "(no finite values)" }
        let columns = min(width, series.count)
        var values: [Double] = []
        for c in 0 ..< columns {
            let start = c * series.count / columns
            let end = max(start + 1, (c + 1) * series.count / columns)
            // The column's mean, summed in parts so that huge values do not overflow.
            var mean = 0.0
            for i in start ..< end { mean += (series[i].isFinite ? series[i] : 0) / Double(end - start) }
            values.append(mean)
        }
        var lo = finite.min() ?? 0
        var hi = finite.max() ?? 1
        if lo == hi {
            lo -= 0.5
            hi += 0.5
        }
        let labels = [formatFixed(hi, 3), formatFixed(lo, 3)]
        let labelWidth = labels.map(\.count).max() ?? 0
        var lines: [String] = []
        if let title { lines.append(title) }
        for row in stride(from: height - 1, through: 0, by: -1) {
            var text = ""
            for v in values {
                // Halves keep the span finite for any finite bounds (1e308 - -1e308 overflows).
                let scaled = ((v / 2 - lo / 2) / (hi / 2 - lo / 2) * Double(height * 8)).rounded()
                let level = scaled.isFinite ? Int(max(-1, min(Double(height * 8 + 8), scaled))) : 0
                let inRow = level - row * 8
                text.append(inRow >= 8 ? "█" : inRow >= 1 ? blocks[inRow - 1] : (row == 0 ? "▁" : " "))
            }
            let label = row == height - 1 ? labels[0] : row == 0 ? labels[1] : ""
            let padded = String(repeating: " ", count: labelWidth - label.count) + label
            lines.append(padded + " │" + String(text.reversed().drop { $0 == " " }.reversed()))
        }
        let axis = String(repeating: " ", count: labelWidth) + " └" + String(repeating: "─", count: columns)
        lines.append(axis)
        let first = "0"
        let last = String(series.count - 1)
        let gap = max(1, columns - first.count - last.count)
        lines.append(String(repeating: " ", count: labelWidth + 2) + first + String(repeating: " ", count: gap) + last)
        return lines.joined(separator: "\n")
    }
}
