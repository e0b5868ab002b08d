import ArgumentParser
import Foundation
import KairosAPI
import KairosServer

/// `kairos keys create|list|revoke`: API keys in the server's database.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and revoke API keys.",
        subcommands: [Create.self, List.self, Revoke.self])

    /// The server's repositories: SQLite at `db`, or PostgreSQL (migrated first) when a URL is given.
    static func open(db: String, databaseURL: String?) async throws -> ServerRepositories {
        let storage: ServerConfiguration.Storage
        do {
            storage = try Serve.storage(db: db, databaseURL: databaseURL)
        } catch {
            throw ValidationError("--database-url: \(error)")
        }
        let repositories = try await ServerRepositories.connect(storage)
        return repositories
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an API key; it is printed once, alone on the last line.")

        @Option(help: "SQLite database file of the server.")
        var db = "kairos.db"

        @Option(name: .customLong("database-url"),
                help: "The server's PostgreSQL URL instead (also KAIROS_DATABASE_URL), as for `kairos serve`.")
        var databaseURL: String?

        @Option(help: "Organization the key belongs to (created if new).")
        var org: String

        @Option(help: "Organization tier: community, professional, enterprise, strategic.")
        var tier = "community"

        @Option(help: "Comma-separated scopes: simulation:read, simulation:write, org:read, usage:read.")
        var scopes = "simulation:read,simulation:write"

        func validate() throws {
            guard APIKeyIssuer.isValidOrganizationId(org) else {
                throw ValidationError("--org must be 1-64 characters of A-Z a-z 0-9 . _ -")
            }
            guard OrganizationTier(rawValue: tier) != nil else {
                throw ValidationError("--tier must be one of \(OrganizationTier.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let parsed = APIScope.parseList(scopes)
            if !parsed.unknown.isEmpty {
                throw ValidationError("unknown scope \(parsed.unknown.joined(separator: ", ")); scopes are \(APIScope.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if parsed.scopes.isEmpty { throw ValidationError("--scopes needs at least one scope") }
        }

        func run() async throws {
            let repositories = try await Keys.open(db: db, databaseURL: databaseURL)
            let issuer = APIKeyIssuer(identities: repositories.identities)
            let (record, key) = try await issuer.create(organizationId: org, tier: OrganizationTier(rawValue: tier) ?? .community,
                                                        scopes: APIScope.parseList(scopes).scopes)
            print("created \(record.id) for organization \(record.organizationId) (\(tier)), scopes \(record.scopes.map(\.rawValue).joined(separator: ","))")
            print("the key is shown once; store it now:")
            print(key)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List API keys (never the keys themselves).")

        @Option(help: "SQLite database file of the server.")
        var db = "kairos.db"

        @Option(name: .customLong("database-url"),
                help: "The server's PostgreSQL URL instead (also KAIROS_DATABASE_URL), as for `kairos serve`.")
        var databaseURL: String?

        @Option(help: "Only this organization's keys.")
        var org: String?

        func run() async throws {
            let repositories = try await Keys.open(db: db, databaseURL: databaseURL)
            let keys = try await repositories.identities.keys(organizationId: org)
            print("ID                    ORGANIZATION          PREFIX     SCOPES                                  CREATED                   STATUS")
            for k in keys {
                let status = k.revokedAt.map { "revoked \(ServerTime.iso8601(milliseconds: $0))" } ?? "active"
                print([pad(k.id, 21), pad(k.organizationId, 21), pad(k.prefix + "…", 10),
                       pad(k.scopes.map(\.rawValue).joined(separator: ","), 39),
                       pad(ServerTime.iso8601(milliseconds: k.createdAt), 25), status].joined(separator: " "))
            }
        }

        private func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s : s + String(repeating: " ", count: width - s.count) }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an API key by its id.")

        @Option(help: "SQLite database file of the server.")
        var db = "kairos.db"

        @Option(name: .customLong("database-url"),
                help: "The server's PostgreSQL URL instead (also KAIROS_DATABASE_URL), as for `kairos serve`.")
        var databaseURL: String?

        @Argument(help: "The key's id (key_…), as `kairos keys list` shows it.")
        var id: String

        func run() async throws {
            let repositories = try await Keys.open(db: db, databaseURL: databaseURL)
            guard try await repositories.identities.revokeKey(id: id, at: ServerTime.nowMilliseconds()) else {
                CLI.fail("no active key \(id)", code: 1)
            }
            print("revoked \(id)")
        }
    }
}

/// `kairos token create`: an HS256 bearer token signed with KAIROS_JWT_SECRET.
struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Issue bearer tokens.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a bearer token signed with KAIROS_JWT_SECRET (HS256).")

        @Option(help: "The token's subject (a user id).")
        var sub: String

        @Option(help: "Comma-separated organizations the token may act for.")
        var orgs: String

        @Option(help: "Comma-separated scopes.")
        var scopes = "simulation:read,simulation:write"

        @Option(help: "Lifetime in seconds.")
        var ttl = 3600

        func validate() throws {
            let parsed = APIScope.parseList(scopes)
            if !parsed.unknown.isEmpty { throw ValidationError("unknown scope \(parsed.unknown.joined(separator: ", "))") }
            if ttl <= 0 { throw ValidationError("--ttl must be positive") }
            if sub.isEmpty { throw ValidationError("--sub must not be empty") }
        }

        func run() async throws {
            guard let secret = ProcessInfo.processInfo.environment["KAIROS_JWT_SECRET"], !secret.isEmpty else {
                CLI.fail("KAIROS_JWT_SECRET is not set", code: 2)
            }
            let authority: TokenAuthority
            do {
                authority = try await TokenAuthority(secret: secret)
            } catch {
                CLI.fail(error.description, code: 2)
            }
            let claims = KairosTokenClaims(
                subject: sub, organizationIds: orgs.split(separator: ",").map(String.init),
                scopes: APIScope.parseList(scopes).scopes, expires: Date().addingTimeInterval(TimeInterval(ttl)))
            print(try await authority.sign(claims))
        }
    }
}
