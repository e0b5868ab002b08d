import KairosEngine

/// What `plot(…)` returns: one or more series of (x, y) points, drawn on the terminal and
/// written by `save(p, "fig.svg")` as a standalone SVG.
public struct PlotValue: Sendable, Equatable {
    public struct Series: Sendable, Equatable {
        public var name: String
        public var x: [Double]
        public var y: [Double]
    }

    public var title: String?
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]

    public static let members = ["title", "x", "y", "series"]

    func property(_ name: String) -> Value? {
        switch name {
        case "title": title.map { .string($0) } ?? .null
        case "x": .string(xLabel)
        case "y": .string(yLabel)
        case "series":
            .list(series.map { s in
                .record(Record([("name", .string(s.name)), ("x", .list(s.x.map { .number($0) })), ("y", .list(s.y.map { .number($0) }))]))
            })
        default: nil
        }
    }

    /// `p.title = "…"`, `p.x = "…"`, `p.y = "…"` (labels of the figure).
    mutating func set(_ name: String, _ value: Value, at range: SourceRange) throws(RuntimeError) {
        guard ["title", "x", "y"].contains(name) else {
            throw RuntimeError("a plot's title, x and y labels can be set, not '\(name)'", at: range, id: "type-error")
        }
        guard case .string(let text) = value else {
            if name == "title", case .null = value { title = nil; return }
            throw RuntimeError("a plot's \(name) is a string, got \(value.typeName)", at: range, id: "type-error")
        }
        switch name {
        case "title": title = text
        case "x": xLabel = text
        default: yLabel = text
        }
    }

    var description: String {
        let names = series.map(\.name).joined(separator: ", ")
        return "<plot\(title.map { " " + quote($0) } ?? ""): \(series.count) series (\(names))>"
    }

    var jsonValue: JSONValue {
        .object([
            JSONMember(key: "title", value: title.map { .string($0) } ?? .null),
            JSONMember(key: "x", value: .string(xLabel)), JSONMember(key: "y", value: .string(yLabel)),
            JSONMember(key: "series", value: .array(series.map { s in
                .object([JSONMember(key: "name", value: .string(s.name)), JSONMember(key: "x", value: .array(s.x.map { .number($0) })),
                         JSONMember(key: "y", value: .array(s.y.map { .number($0) }))])
            })),
        ])
    }
}

extension Interpreter {
    /// `plot(x)`, `plot(x, "title")`, `plot(t1, t2, …[, "title"])`, `plot(rows, "x", "y", …)`.
    func plotBuiltin(_ values: [Value], _ site: CallSite) throws(RuntimeError) -> Value {
        let args = BuiltinArguments(name: "plot", values: values, site: site, interpreter: self)
        guard !values.isEmpty else { try args.arity(1 ... 1); return .null }
        var plot: PlotValue
        if case .list(let rows) = values[0], let first = rows.first, case .record = first {
            // Records: y fields against an x field.
            guard values.count >= 3 else {
                throw RuntimeError("plot of records needs the x field and at least one y field: plot(rows, \"cap\", \"p_loss\")",
                                   at: site.range, id: "arity")
            }
            let xKey = try args.string(1)
            var series: [PlotValue.Series] = []
            for i in 2 ..< values.count {
                let yKey = try args.string(i)
                var xs: [Double] = [], ys: [Double] = []
                for (k, row) in rows.enumerated() {
                    guard case .record(let r) = row else {
                        throw RuntimeError("plot of records: item \(k) is \(row.typeName)", at: site.arg(0), id: "type-error")
                    }
                    for (key, argIndex) in [(xKey, 1), (yKey, i)] {
                        guard let v = r[key] else {
                            throw RuntimeError("plot: row \(k) has no field \(quote(key))", at: site.arg(argIndex), id: "unknown-member",
                                               hint: didYouMean(key, in: r.keys))
                        }
                        guard case .number(let n) = v else {
                            if case .null = v { continue }
                            throw RuntimeError("plot: field \(quote(key)) of row \(k) is \(v.typeName) \(v.repr), not a number",
                                               at: site.arg(argIndex), id: "type-error")
                        }
                        _ = n
                    }
                    guard case .number(let x)? = r[xKey], case .number(let y)? = r[yKey] else { continue }
                    xs.append(x)
                    ys.append(y)
                }
                series.append(PlotValue.Series(name: yKey, x: xs, y: ys))
            }
            plot = PlotValue(title: nil, xLabel: xKey, yLabel: series.count == 1 ? series[0].name : "value", series: series)
        } else {
            // Traces and series, a trailing string as the title.
            var items = values
            var title: String?
            if items.count >= 2, case .string(let t) = items.last! {
                title = t
                items.removeLast()
            }
            // `plot({actual: a, what_if: b})`: the record's keys name the series.
            var labels: [String]?
            var checked = args
            if items.count == 1, case .record(let r) = items[0], !r.fields.isEmpty {
                labels = r.fields.map(\.key)
                items = r.fields.map(\.value)
                checked = BuiltinArguments(name: "plot", values: items, site: CallSite(
                    range: site.arg(0), calleeRange: site.calleeRange, argRanges: []), interpreter: self)
            }
            var series: [PlotValue.Series] = []
            var allTraces = true
            for (i, item) in items.enumerated() {
                switch item {
                case .trace(let t):
                    let ys = t.stabilitySeries
                    series.append(PlotValue.Series(name: labels?[i] ?? t.name ?? "trace \(i + 1)",
                                                   x: t.trace.steps.map { Double($0.tick) }, y: ys))
                default:
                    allTraces = false
                    let ys = try checked.numbers(i, minimum: 0)
                    series.append(PlotValue.Series(name: labels?[i] ?? "series \(i + 1)", x: ys.indices.map(Double.init), y: ys))
                }
            }
            // Same-named traces (one scenario function, several arguments or seeds) are told
            // apart by their parameters (`s(cap 400)`), else by seed, else by position.
            if labels == nil, allTraces, Set(series.map(\.name)).count < series.count {
                for (i, item) in items.enumerated() {
                    guard case .trace(let t) = item else { continue }
                    if case .record(let p) = t.paramsValue, !p.fields.isEmpty {
                        series[i].name += "(" + p.fields.map { "\($0.key) \($0.value.displayText)" }.joined(separator: ", ") + ")"
                    }
                }
                if Set(series.map(\.name)).count < series.count {
                    for (i, item) in items.enumerated() {
                        if case .trace(let t) = item { series[i].name += " seed \(t.seed)" }
                    }
                }
                if Set(series.map(\.name)).count < series.count {
                    for i in series.indices { series[i].name += " #\(i + 1)" }
                }
            }
            if let first = items.first, case .trace(let t) = first, items.count == 1 {
                title = title ?? "stability · \(t.name ?? "trace") · \(t.trace.steps.count) ticks"
            }
            plot = PlotValue(title: title, xLabel: allTraces ? "tick" : "index", yLabel: allTraces ? "stability" : "value",
                             series: series)
        }
        emit(TextRendering.plot(plot) + "\n")
        return .plot(plot)
    }
}

extension TextRendering {
    /// A plot on the terminal: one series as the area chart, several as markers with a legend.
    static func plot(_ p: PlotValue) -> String {
        if p.series.count == 1, p.xLabel == "tick" || p.xLabel == "index" {
            return plot(p.series[0].y, title: p.title)
        }
        let markers: [Character] = ["●", "○", "+", "×", "◆", "■", "▲", "*"]
        let width = 60, height = 12
        let xs = p.series.flatMap(\.x).filter(\.isFinite), ys = p.series.flatMap(\.y).filter(\.isFinite)
        guard let x0 = xs.min(), let x1 = xs.max(), var y0 = ys.min(), var y1 = ys.max() else { return "(empty plot)" }
        if y0 == y1 { y0 -= 0.5; y1 += 0.5 }
        var grid = Array(repeating: Array(repeating: Character(" "), count: width), count: height)
        for (k, s) in p.series.enumerated() {
            let mark = markers[k % markers.count]
            for (x, y) in zip(s.x, s.y) where x.isFinite && y.isFinite {
                /// Where a value falls between two ends, 0 … 1 (the middle when the span overflows).
                func fraction(_ v: Double, _ a: Double, _ b: Double) -> Double {
                    let f = (v - a) / (b - a)
                    return f.isFinite ? Swift.min(1, Swift.max(0, f)) : 0.5
                }
                let c = x1 == x0 ? width / 2 : Int((fraction(x, x0, x1) * Double(width - 1)).rounded())
                let r = Int((fraction(y, y0, y1) * Double(height - 1)).rounded())
                grid[height - 1 - r][c] = mark
            }
        }
        let labels = [formatFixed(y1, 3), formatFixed(y0, 3)]
        let labelWidth = labels.map(\.count).max() ?? 0
        var lines: [String] = []
        if let t = p.title { lines.append(t) }
        for (r, row) in grid.enumerated() {
            let label = r == 0 ? labels[0] : r == height - 1 ? labels[1] : ""
            lines.append(String(repeating: " ", count: labelWidth - label.count) + label + " │"
                + String(String(row).reversed().drop { $0 == " " }.reversed()))
        }
        lines.append(String(repeating: " ", count: labelWidth) + " └" + String(repeating: "─", count: width))
        let first = formatNumber(x0), last = formatNumber(x1)
        let gap = max(1, width - first.count - last.count)
        lines.append(String(repeating: " ", count: labelWidth + 2) + first + String(repeating: " ", count: gap) + last
            + "  " + p.xLabel)
        lines.append(String(repeating: " ", count: labelWidth + 2)
            + p.series.enumerated().map { "\(markers[$0.offset % markers.count]) \($0.element.name)" }.joined(separator: "   "))
        return lines.joined(separator: "\n")
    }
}

/// A plot as a standalone SVG document: axes with ticks at 1-2-5 steps, labels, a legend;
/// system fonts only, no scripts. Numbers are written with fixed decimals, so the same plot
/// always gives the same bytes.
enum SVGRendering {
    /// Okabe–Ito colours (distinguishable with common colour-vision deficiencies).
    static let colors = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

    static func niceStep(_ span: Double, targetTicks: Int = 6) -> Double {
        guard span > 0, span.isFinite else { return 1 }
        let raw = span / Double(targetTicks)
        var magnitude = 1.0
        while magnitude * 10 <= raw { magnitude *= 10 }
        while magnitude > raw { magnitude /= 10 }
        for m in [1.0, 2, 2.5, 5, 10] where magnitude * m >= raw { return magnitude * m }
        return magnitude * 10
    }

    static func ticks(_ lo: Double, _ hi: Double) -> (lo: Double, hi: Double, step: Double, values: [Double]) {
        var (lo, hi) = (lo, hi)
        if lo == hi { lo -= Swift.max(0.5, abs(lo) * 0.1); hi += Swift.max(0.5, abs(hi) * 0.1) }
        let step = niceStep(hi - lo)
        // Spans no 1-2-5 step can cover (beyond ±1e307, or below the smallest normal number):
        // the two ends only.
        guard step > 0, step.isFinite, (hi - lo).isFinite, (hi - lo) / step <= 100 else { return (lo, hi, hi - lo, [lo, hi]) }
        let start = (lo / step).rounded(.down) * step
        let end = (hi / step).rounded(.up) * step
        var values: [Double] = []
        var k = 0
        while true {
            let v = start + Double(k) * step
            if v > end + step * 1e-9 { break }
            values.append(abs(v) < step * 1e-9 ? 0 : v)
            k += 1
        }
        return (start, end, step, values)
    }

    static func label(_ v: Double, step: Double) -> String {
        var decimals = 0
        var s = step
        while s != s.rounded(), decimals < 6 {
            s *= 10
            decimals += 1
        }
        return formatFixed(v, decimals)
    }

    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }

    static func render(_ p: PlotValue, width: Double = 800, height: Double = 500) -> String {
        func f(_ v: Double) -> String { formatFixed(v, 2) }
        let left = 70.0, right = 20.0, top = p.title == nil ? 20.0 : 44.0
        let legendRows = p.series.count > 1 ? Double(p.series.count) : 0
        let bottom = 56.0
        let plotW = width - left - right, plotH = height - top - bottom
        let xs = p.series.flatMap(\.x).filter(\.isFinite), ys = p.series.flatMap(\.y).filter(\.isFinite)
        let xt = ticks(xs.min() ?? 0, xs.max() ?? 1)
        let yt = ticks(ys.min() ?? 0, ys.max() ?? 1)
        func px(_ x: Double) -> Double { left + (x - xt.lo) / (xt.hi - xt.lo) * plotW }
        func py(_ y: Double) -> Double { top + plotH - (y - yt.lo) / (yt.hi - yt.lo) * plotH }
        var out = """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(f(width))" height="\(f(height))" viewBox="0 0 \(f(width)) \(f(height))" font-family="Helvetica, Arial, sans-serif" font-size="13">

        """
        out += "<rect x=\"0\" y=\"0\" width=\"\(f(width))\" height=\"\(f(height))\" fill=\"#ffffff\"/>\n"
        if let t = p.title {
            out += "<text x=\"\(f(left + plotW / 2))\" y=\"26\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">\(escape(t))</text>\n"
        }
        // Grid lines and tick labels.
        out += "<g stroke=\"#e5e5e5\" stroke-width=\"1\">\n"
        for v in xt.values { out += "<line x1=\"\(f(px(v)))\" y1=\"\(f(top))\" x2=\"\(f(px(v)))\" y2=\"\(f(top + plotH))\"/>\n" }
        for v in yt.values { out += "<line x1=\"\(f(left))\" y1=\"\(f(py(v)))\" x2=\"\(f(left + plotW))\" y2=\"\(f(py(v)))\"/>\n" }
        out += "</g>\n<g fill=\"#333333\">\n"
        for v in xt.values {
            out += "<text x=\"\(f(px(v)))\" y=\"\(f(top + plotH + 18))\" text-anchor=\"middle\">\(label(v, step: xt.step))</text>\n"
        }
        for v in yt.values {
            out += "<text x=\"\(f(left - 8))\" y=\"\(f(py(v) + 4))\" text-anchor=\"end\">\(label(v, step: yt.step))</text>\n"
        }
        out += "</g>\n"
        out += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotW))\" height=\"\(f(plotH))\" fill=\"none\" stroke=\"#333333\" stroke-width=\"1\"/>\n"
        out += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 14))\" text-anchor=\"middle\">\(escape(p.xLabel))</text>\n"
        out += "<text x=\"18\" y=\"\(f(top + plotH / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(f(top + plotH / 2)))\">\(escape(p.yLabel))</text>\n"
        for (k, s) in p.series.enumerated() {
            let color = colors[k % colors.count]
            let points = zip(s.x, s.y).filter { $0.0.isFinite && $0.1.isFinite }
            let path = points.map { "\(f(px($0.0))),\(f(py($0.1)))" }.joined(separator: " ")
            out += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" stroke-linejoin=\"round\" points=\"\(path)\"/>\n"
            if points.count <= 60 {
                for (x, y) in points { out += "<circle cx=\"\(f(px(x)))\" cy=\"\(f(py(y)))\" r=\"3\" fill=\"\(color)\"/>\n" }
            }
        }
        if legendRows > 0 {
            let longest = Double(p.series.map(\.name.count).max() ?? 0)
            let boxW = 40 + longest * 7.5, boxH = legendRows * 20 + 8
            let bx = left + plotW - boxW - 10, by = top + 10
            out += "<g>\n<rect x=\"\(f(bx))\" y=\"\(f(by))\" width=\"\(f(boxW))\" height=\"\(f(boxH))\" fill=\"#ffffff\" fill-opacity=\"0.9\" stroke=\"#999999\"/>\n"
            for (k, s) in p.series.enumerated() {
                let y = by + 16 + Double(k) * 20
                out += "<line x1=\"\(f(bx + 8))\" y1=\"\(f(y - 4))\" x2=\"\(f(bx + 28))\" y2=\"\(f(y - 4))\" stroke=\"\(colors[k % colors.count])\" stroke-width=\"3\"/>\n"
                out += "<text x=\"\(f(bx + 34))\" y=\"\(f(y))\">\(escape(s.name))</text>\n"
            }
            out += "</g>\n"
        }
        out += "</svg>\n"
        return out
    }
}
