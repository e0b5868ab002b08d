/// What an API key or token may do (seed 002 "API Key").
public enum APIScope: String, Sendable, CaseIterable, Comparable {
    case simulationRead = "simulation:read"
    case simulationWrite = "simulation:write"
    case orgRead = "org:read"
    case usageRead = "usage:read"

    public static func < (a: APIScope, b: APIScope) -> Bool {
        allCases.firstIndex(of: a) ?? 0 < allCases.firstIndex(of: b) ?? 0
    }

    /// Parses `a,b,c`; the unknown names are returned separately so callers can name them.
    public static func parseList(_ text: String) -> (scopes: [APIScope], unknown: [String]) {
        var scopes: [APIScope] = []
        var unknown: [String] = []
        for part in text.split(separator: ",") {
            let name = part.trimmingCharacters(in: " ")
            if name.isEmpty { continue }
            if let scope = APIScope(rawValue: name) {
                if !scopes.contains(scope) { scopes.append(scope) }
            } else {
                unknown.append(name)
            }
        }
        return (scopes.sorted(), unknown)
    }
}

/// An organization's license tier, which sets its rate limits (seed 002 "Tier Limits").
public enum OrganizationTier: String, Sendable, CaseIterable {
    case community, professional, enterprise, strategic

    /// Requests per sliding 60 s window by route class, and concurrent SSE streams.
    public var limits: TierLimits {
        switch self {
        case .community: TierLimits(create: 10, step: 60, read: 120, concurrentStreams: 1)
        case .professional: TierLimits(create: 30, step: 300, read: 600, concurrentStreams: 5)
        case .enterprise: TierLimits(create: 100, step: 1000, read: 3000, concurrentStreams: 20)
        case .strategic: TierLimits(create: 500, step: 5000, read: 10000, concurrentStreams: 100)
        }
    }
}

/// The limits of one tier.
public struct TierLimits: Sendable, Equatable {
    public var create: Int
    public var step: Int
    public var read: Int
    public var concurrentStreams: Int
    public init(create: Int, step: Int, read: Int, concurrentStreams: Int) {
        self.create = create
        self.step = step
        self.read = read
        self.concurrentStreams = concurrentStreams
    }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> String {
        var s = self
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return String(s)
    }
}
