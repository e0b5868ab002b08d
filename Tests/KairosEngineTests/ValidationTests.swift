import KairosEngine
import Testing

@Suite struct ValidationTests {
    func issues(_ text: String) throws -> [String] {
        let json = try JSONParser.parse(text)
        do {
            _ = try ScenarioValidator.validate(json)
            return []
        } catch {
            return error.issues.map(\.description)
        }
    }

    @Test func everyIssueIsReportedByPath() throws {
        let text = """
        {"seed": -1, "agents": [
           {"id": "a", "policy": {"lambda": 0.5}},
           {"id": "b", "policy": {"lambda": 1.5, "gamma": "x"}, "state": {"capability": 2e6, "alignment": 1}, "speed": 3},
           {"id": "a"}
         ],
         "initialState": {"stability": 0.5, "basin": 2.5},
         "events": [{"tick": 3, "kind": "shok"}, {"tick": -2, "kind": "shock", "target": "c", "ticks": 4},
                    {"tick": 1, "kind": "policy"}],
         "settings": {"recursionDepth": 4}}
        """
        let found = try issues(text)
        let expected = [
            "seed: must be an integer between 0 and 9007199254740991",
            "agents[1].speed: unknown field",
            "agents[1].policy.lambda: must be between 0 and 1",
            "agents[1].policy.gamma: expected a number, got a string",
            "agents[1].state.capability: must be between 0 and 1000000",
            "agents[2].id: duplicate agent id \"a\"",
            "initialState.basin: must be an integer",
            "settings.recursionDepth: must be an integer between 0 and 3",
            "events[0].kind: unknown kind \"shok\" (did you mean \"shock\"?); expected one of capability_jump, alignment_breakthrough, guardrail_failure, guardrail_upgrade, shock, reinforce, moratorium, policy",
            "events[1].tick: must be an integer between 0 and 9007199254740991",
            "events[1].target: unknown agent \"c\"",
            "events[1].ticks: not a field of shock",
            "events[2]: policy needs lambda, gamma or both",
        ]
        #expect(found == expected)
    }

    @Test func missingRequiredFields() throws {
        #expect(try issues("{}") == ["seed: is required", "agents: is required", "initialState: is required"])
        #expect(try issues("[]") == ["expected an object, got an array"])
        #expect(try issues("{\"seed\": 1, \"agents\": [], \"initialState\": {}}") == ["initialState.stability: is required"])
    }

    @Test func suggestionsForMisspelledFields() throws {
        #expect(try issues("{\"seed\": 1, \"agents\": [], \"initialState\": {\"stabilty\": 0.5}}")
            == ["initialState.stabilty: unknown field (did you mean \"stability\"?)", "initialState.stability: is required"])
    }

    @Test func domainInputIssuesArePathed() throws {
        let input = try JSONParser.parse("""
        {"models": [{"name": "model", "capability_index": 550, "alignment_score": 170, "guardrail_coverage": 60},
                    {"name": "model", "capability_index": "high", "alignment_score": 1}],
         "events": [{"tick": 10, "type": "CAPABILITY_JMP", "target": "modle"}, {"tick": 5, "type": "MORATORIUM", "magnitude": 1}]}
        """)
        do {
            _ = try AISafetyValidator.validate(input, path: "input")
            Issue.record("validated a bad input")
        } catch {
            #expect(error.issues.map(\.description) == [
                "input.models[0].alignment_score: must be between 0 and 100",
                "input.models[1].name: duplicate model name \"model\"",
                "input.models[1].capability_index: expected a number, got a string",
                "input.models[1].guardrail_coverage: is required",
                "input.events[0].type: unknown event type \"CAPABILITY_JMP\" (did you mean \"CAPABILITY_JUMP\"?); expected one of CAPABILITY_JUMP, ALIGNMENT_BREAKTHROUGH, GUARDRAIL_FAILURE, GUARDRAIL_UPGRADE, INCIDENT, MORATORIUM",
                "input.events[0].target: unknown model \"modle\" (did you mean \"model\"?)",
                "input.events[1].magnitude: not a field of MORATORIUM",
            ])
        }
    }

    @Test func decreeValidation() throws {
        let ok = try ScenarioValidator.validateDecree(try JSONParser.parse("{\"kind\": \"guardrail_upgrade\", \"target\": \"m\", \"magnitude\": 0.5}"), agentIDs: ["m"])
        #expect(ok == Action(kind: .guardrailUpgrade, target: "m", magnitude: 0.5))
        #expect(throws: ValidationFailure.self) {
            try ScenarioValidator.validateDecree(try JSONParser.parse("{\"kind\": \"shock\", \"magnitude\": 2, \"tick\": 3}"), agentIDs: [])
        }
    }
}
