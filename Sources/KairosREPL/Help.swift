import KairosEngine
import KairosScript

/// `:help` and `:help TOPIC`.
enum Help {
    static var builtinNames: Set<String> { Set(Interpreter.builtinNames) }

    static let topics: [String: String] = [
        "language": """
        Kairos Script: let x = 3 · x = x + 1 · fn f(a) { return a * 2 } · let g = v => v / 2
        if … { } else if … { } else { } · for c in 1..10 step 2 { } · while c < 10 { } · break / continue
        Values: numbers, "strings with {interpolation}", true/false, null, [lists], {records}, ranges a..b step s.
        Operators: or, and, not, == != < <= > >=, .., + - * / %, unary -. Comments start with #.
        """,
        "scenarios": """
        scenario sweep(cap) {            # a function that returns a scenario
          seed cap; ticks 500
          model "model" { capability cap; alignment 70; guardrails 60 }
          at 100 capability_jump "model" by 0.3
          prophecy every 50 horizon 100 depth 1
        }
        agent NAME { capability …; alignment …; guardrail …; growth …; lambda …; gamma … } (0–1 scales)
        Event kinds: \(EventKind.allCases.map(\.rawValue).joined(separator: ", "))
        AI-safety types: \(AISafetyInput.EventType.allCases.map(\.rawValue).joined(separator: ", "))
        Built-in scenarios: \(ScenarioCatalog.all.map(\.id).joined(separator: ", "))
        """,
        "run": """
        let t = run sweep(550)              a trace on the current target
        let t = run sweep(550) ticks 2000   override the scenario's ticks
        let ts = run map(100..1000 step 18, c => sweep(c))   a list runs concurrently, results in order
        let sim = start sweep(550); sim.step(100); sim.decree("shock", null, 0.2); sim.policy("model", {lambda: 0.7})
        Ctrl-C cancels a running run, stream or sweep and keeps the session.
        watch sim      follows a simulation started on a remote target live until Ctrl-C (:help remote)
        """,
        "stream": """
        for s in stream sweep(900) ticks 100_000 { if s.stability < 0.1 { print(s.tick); break } }
        Steps are produced one at a time (constant memory); break stops the engine.
        """,
        "traces": """
        t.steps t.ticks t.seed t.engine t.digest t.final_phase t.final_stability t.mean_stability
        t.min_stability t.losses t.warnings t.prophecies t.paradoxes t.stability t.agent("id") t.at(tick)
        plot(t) draws stability · table(rows) aligns columns · save(t, "t.ndjson") / load("t.ndjson")
        """,
        "remote": """
        :target remote http://127.0.0.1:8080   (or `use remote "URL"` in a script) runs run, stream and start on a
        Kairos server with the key in KAIROS_API_KEY; :target embedded switches back. Digests match the embedded engine.
        let sim = start sweep(900); sim.step(50)   a simulation on the server, stepped and steered from here
        watch sim      prints the simulation's live events (ticks, warnings, losses, decrees, status) as the server
                       computes them — from another client's steps or PUT …/time-control play — until Ctrl-C.
        """,
        "keys": """
        Emacs keys: Ctrl-A/E start/end · Ctrl-K kill · Ctrl-R search history · Up/Down history · Tab completes
        names, members after '.', event kinds, scenario ids and paths after :load " · Ctrl-C clears the input or
        cancels a run · Ctrl-D on an empty line leaves.
        """,
    ]

    static func text(topic: String?) -> String {
        if let topic {
            if topic == "builtins" { return "Built-ins (help(NAME) or :help NAME for one):\n" + HelpCatalog.builtinTable }
            let found = HelpCatalog.entries(named: topic) + (topic.hasPrefix(":") ? [] : HelpCatalog.entries(named: ":" + topic))
            if !found.isEmpty {
                var seen = Set<String>()
                return HelpCatalog.render(found.filter { seen.insert($0.signature + $0.kind.rawValue).inserted })
            }
            if let text = topics[topic] { return text }
            let everything = topics.keys.sorted() + HelpCatalog.names + ["builtins"]
            let hint = closestName(to: topic, in: everything).map { " (did you mean \($0)?)" } ?? ""
            return "no help on \"\(topic)\"\(hint); topics: \(topics.keys.sorted().joined(separator: ", ")), builtins, or any built-in, keyword or member"
        }
        let width = (MetaCommand.summaries.map(\.0.count).max() ?? 0) + 2
        let lines = MetaCommand.summaries.map { $0.0 + String(repeating: " ", count: width - $0.0.count) + $0.1 }
        return (["Commands:"] + lines.map { "  " + $0 } + ["", "Type Kairos Script to evaluate it; an expression's value is printed.",
                                                            "Topics: :help \(topics.keys.sorted().joined(separator: " | ")) | builtins",
                                                            "Any name: :help quantile, :help stream, :help final_phase (or help(x) in code)."]).joined(separator: "\n")
    }
}
