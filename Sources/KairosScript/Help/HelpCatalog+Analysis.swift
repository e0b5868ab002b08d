extension HelpCatalog {
    /// Entries for the built-ins of LANGUAGE.md's "Analysis (language 1.1)" section and the
    /// analysis additions (grouping, tipping points, overlays, figures). docs/analysis.md
    /// explains each at length.
    static let analysis: [HelpEntry] = [
        HelpEntry("median", .builtin, "median(xs)", "the middle value of a list of numbers (the mean of the two middle ones for an even count)",
                  example: "print(median([3, 1, 4, 1, 5]))   # 3"),
        HelpEntry("quantile", .builtin, "quantile(xs, q)",
                  "the q-quantile (0 <= q <= 1, or a list of them) by linear interpolation at (n-1)·q, as NumPy's default",
                  example: "print(quantile([1, 2, 3, 4], 0.25), quantile(1..100, [0.05, 0.95]))"),
        HelpEntry("stdev", .builtin, "stdev(xs)", "the sample standard deviation (divisor n-1); needs at least 2 values",
                  example: "print(stdev([2, 4, 4, 4, 5, 5, 7, 9]))"),
        HelpEntry("variance", .builtin, "variance(xs)", "the sample variance (divisor n-1); needs at least 2 values",
                  example: "print(variance([2, 4, 4, 4, 5, 5, 7, 9]))"),
        HelpEntry("ci", .builtin, "ci(xs[, level])",
                  "a record {mean, lo, hi}: the Student-t confidence interval for the mean (level 0.95 unless given)",
                  example: "let c = ci([0.81, 0.79, 0.84, 0.8, 0.83])\nprint(\"{format(c.mean, 3)} [{format(c.lo, 3)}, {format(c.hi, 3)}]\")"),
        HelpEntry("number", .builtin, "number(s)", "a string as a number (\"3.5\", \"1e3\", \"1_000\"); an error naming the text otherwise",
                  example: "print(number(\"1_000\") + 1)"),
        HelpEntry("grid", .builtin, "grid({key: list or range, …})",
                  "every combination of the values as a record with the same keys, the first key varying slowest",
                  example: "print(grid({cap: [100, 200], seed: 1..2}))"),
        HelpEntry("type", .builtin, "type(x)", "the value's type name: \"number\", \"string\", \"list\", \"trace\", …",
                  example: "print(type(1), type(\"a\"), type([1]), type({a: 1}))"),
        HelpEntry("pow", .builtin, "pow(a, b)", "a to the power b", example: "print(pow(2, 10))"),
        HelpEntry("exp", .builtin, "exp(x)", "e to the power x", example: "print(exp(1))"),
        HelpEntry("log", .builtin, "log(x[, base])", "the natural logarithm of x > 0 (or to the given base)",
                  example: "print(log(exp(2)), log(1024, 2))"),
        HelpEntry("split", .builtin, "split(s, sep)", "the pieces of a string between separators",
                  example: "print(split(\"100,200,300\", \",\"))"),
        HelpEntry("join", .builtin, "join(xs, sep)", "the items as text, with sep between them",
                  example: "print(join([1, 2, 3], \" < \"))"),
        HelpEntry("format", .builtin, "format(x, d)", "a number as text with exactly d decimals",
                  example: "print(format(0.5, 3))   # 0.500"),
        HelpEntry("group", .builtin, "group(xs, key)",
                  "groups items by a field (records, or a trace's scenario parameters), several fields, or a function: [{key…, items}]",
                  example: """
                  let rows = [{cap: 1, lost: true}, {cap: 2, lost: false}, {cap: 1, lost: false}]
                  for g in group(rows, "cap") { print(g.cap, len(g.items)) }
                  """),
        HelpEntry("tipping", .builtin, "tipping(xs, outcomes[, level])",
                  "where a logistic fit of true/false outcomes against xs crosses 1/2: {x, lo, hi, level, n, slope, intercept}",
                  example: """
                  let xs = [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6]
                  let lost = [false, false, false, false, true, false, false, true, false, true, false, true, true, true, false, true, true, true]
                  let tp = tipping(xs, lost)
                  print("crosses 1/2 at {format(tp.x, 2)}, 95% [{format(tp.lo, 2)}, {format(tp.hi, 2)}]")
                  """),
        HelpEntry("diff", .builtin, "diff(a, b)",
                  "where two traces (or lists) first differ and by how much: {same, tick, a, b, by, max, max_tick}; for traces also changes, every member that differs at that tick [{member, a, b, by}]",
                  example: """
                  scenario s(j) {
                    ticks 30
                    model "m" { capability 500; alignment 70; guardrails 60 }
                    at 10 capability_jump "m" by j
                  }
                  print(diff(run s(0.1), run s(0.4)))
                  """),
        HelpEntry("params", .traceMember, "t.params",
                  "the arguments of the scenario function that built the run, as a record ({cap: 550, seed: 3})",
                  example: """
                  scenario s(cap) {
                    ticks 10
                    model "m" { capability cap; alignment 70; guardrails 60 }
                  }
                  print((run s(300)).params)
                  """),
    ]
}
