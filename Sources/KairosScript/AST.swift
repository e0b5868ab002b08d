/// The syntax tree: plain enums and structs, every node with its source range.

/// An expression and where it is written.
public struct Expr: Sendable, Equatable {
    public var kind: ExprKind
    public var range: SourceRange
    /// How deep the tree under this node goes (1 for a leaf). The parser refuses trees
    /// deeper than `Parser.maxHeight`, so every tree walk has bounded recursion.
    public let height: Int

    public init(_ kind: ExprKind, _ range: SourceRange) {
        self.kind = kind
        self.range = range
        height = 1 + kind.childHeight
    }
}

extension ExprKind {
    /// The height of the tallest direct subexpression (0 for a leaf). Function bodies that
    /// are blocks count as 1: statements are bounded by the parser's nesting limit.
    var childHeight: Int {
        switch self {
        case .number, .bool, .null, .name: 0
        case .string(let segments):
            segments.reduce(0) { if case .expr(let e) = $1 { max($0, e.height) } else { $0 } }
        case .list(let items): items.reduce(0) { max($0, $1.height) }
        case .record(let fields): fields.reduce(0) { max($0, $1.value.height) }
        case .unary(_, let x), .member(let x, _), .start(let x), .compile(let x, _): x.height
        case .binary(_, let a, let b), .index(let a, let b): max(a.height, b.height)
        case .range(let a, let b, let step): max(a.height, b.height, step?.height ?? 0)
        case .call(let f, let args): args.reduce(f.height) { max($0, $1.height) }
        case .lambda(_, let body):
            if case .expression(let e) = body { e.height } else { 1 }
        case .run(let x, let ticks), .stream(let x, let ticks): max(x.height, ticks?.height ?? 0)
        }
    }
}

/// Binary operators, loosest (`or`) to tightest (`* / %`) as LANGUAGE.md orders them.
public enum BinaryOperator: String, Sendable, Equatable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", remainder = "%"
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
    case and, or
}

/// `-x` and `not x`.
public enum UnaryOperator: String, Sendable, Equatable {
    case negate = "-", not
}

/// What `compile … as …` produces.
public enum CompileForm: String, Sendable, Equatable {
    /// The domain input when the scenario has only models, else the native scenario.
    case automatic
    case domain
    case scenario
}

/// A piece of a string literal: text, or an interpolated `{expr}`.
public enum StringSegment: Sendable, Equatable {
    case text(String)
    case expr(Expr)
}

/// `key: value` in a record literal.
public struct RecordField: Sendable, Equatable {
    public var key: String
    public var value: Expr
    public var range: SourceRange
}

public indirect enum ExprKind: Sendable, Equatable {
    case number(Double)
    case string([StringSegment])
    case bool(Bool)
    case null
    case name(String)
    case list([Expr])
    case record([RecordField])
    case unary(UnaryOperator, Expr)
    case binary(BinaryOperator, Expr, Expr)
    /// `a..b` or `a..b step s` (inclusive).
    case range(Expr, Expr, step: Expr?)
    case call(Expr, [Expr])
    case index(Expr, Expr)
    case member(Expr, String)
    case lambda(params: [String], body: FunctionBody)
    /// `run X [ticks N]`: a trace, or a list of traces for a list.
    case run(Expr, ticks: Expr?)
    /// `stream X [ticks N]`: a lazy sequence of steps.
    case stream(Expr, ticks: Expr?)
    /// `start X`: a live simulation.
    case start(Expr)
    case compile(Expr, as: CompileForm)
}

/// A lambda body (`x => x * 2`) or a block (`fn f() { … }`, `x => { … }`).
public enum FunctionBody: Sendable, Equatable {
    case expression(Expr)
    case block([Stmt])
}

/// A statement and where it is written.
public struct Stmt: Sendable, Equatable {
    public var kind: StmtKind
    public var range: SourceRange
    public init(_ kind: StmtKind, _ range: SourceRange) {
        self.kind = kind
        self.range = range
    }
}

/// A model or agent name: a string (maybe interpolated) or a bare word taken literally.
public struct EntityName: Sendable, Equatable {
    public var expr: Expr
    /// The name when it is known without running anything.
    public var literal: String? {
        switch expr.kind {
        case .string(let segments):
            var text = ""
            for s in segments {
                guard case .text(let t) = s else { return nil }
                text += t
            }
            return text
        default: return nil
        }
    }
}

/// `capability 600` inside a model or agent block.
public struct EntityField: Sendable, Equatable {
    public var name: String
    public var nameRange: SourceRange
    public var value: Expr
}

/// `model` (AI-safety scales, 0–100) or `agent` (native scales, 0–1).
public enum EntityKind: String, Sendable, Equatable {
    case model, agent

    /// The fields a block may set, in documentation order.
    public var fields: [String] {
        switch self {
        case .model: ["capability", "alignment", "guardrails", "growth", "lambda", "gamma"]
        case .agent: ["capability", "alignment", "guardrail", "growth", "lambda", "gamma"]
        }
    }

    public var requiredFields: [String] {
        switch self {
        case .model: ["capability", "alignment", "guardrails"]
        case .agent: []
        }
    }
}

/// `at TICK KIND [TARGET] [by MAGNITUDE] [for N ticks]`.
public struct EventDecl: Sendable, Equatable {
    public var tick: Expr
    public var kind: String
    public var kindRange: SourceRange
    public var target: EntityName?
    public var magnitude: Expr?
    public var duration: Expr?
}

/// `prophecy every N horizon H depth D` (each part optional).
public struct ProphecyDecl: Sendable, Equatable {
    public var every: Expr?
    public var horizon: Expr?
    public var depth: Expr?
}

/// `use embedded`, `use remote URL`, `use engine VERSION`.
public enum UseTarget: Sendable, Equatable {
    case embedded
    case remote(Expr)
    case engine(Expr)
}

public indirect enum StmtKind: Sendable, Equatable {
    case expression(Expr)
    case letBinding(name: String, nameRange: SourceRange, value: Expr)
    /// `target = value` where target is a name, index or member expression.
    case assign(target: Expr, value: Expr)
    case function(name: String, nameRange: SourceRange, params: [String], body: [Stmt])
    case scenario(name: String, nameRange: SourceRange, params: [String]?, body: [Stmt])
    case ifElse(condition: Expr, then: [Stmt], otherwise: [Stmt]?)
    case forIn(name: String, nameRange: SourceRange, sequence: Expr, body: [Stmt])
    case whileLoop(condition: Expr, body: [Stmt])
    case breakLoop
    case continueLoop
    case returnValue(Expr?)
    case use(UseTarget)
    // Declarations inside a scenario body.
    case seed(Expr)
    case ticks(Expr)
    case stability(Expr)
    case basin(Expr)
    case entity(EntityKind, name: EntityName, fields: [EntityField])
    case event(EventDecl)
    case prophecy(ProphecyDecl)
}

/// A parsed file or REPL input.
public struct Program: Sendable, Equatable {
    public var statements: [Stmt]
    public init(statements: [Stmt]) { self.statements = statements }
}

extension StmtKind {
    /// The name a `let`, `fn` or `scenario` statement binds.
    var declaredName: String? {
        switch self {
        case .letBinding(let name, _, _), .function(let name, _, _, _), .scenario(let name, _, _, _): name
        default: nil
        }
    }
}

extension Expr {
    /// A number literal as written (`30`), for hints that repeat the user's code.
    var literalText: String? {
        if case .number(let n) = kind { return formatNumber(n) }
        return nil
    }
}
