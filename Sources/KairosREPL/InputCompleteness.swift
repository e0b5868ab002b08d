/// Decides whether REPL input is complete or needs a continuation line (`...> `): open
/// brackets, braces or parentheses, or a last line ending in a binary operator, `,`, `=`,
/// `=>` or `..` (LANGUAGE.md's rules). A string (and its `{…}` interpolations) ends on its
/// line, so an open one is complete input with an error to report, never a continuation.
public enum InputCompleteness {
    public static func needsContinuation(_ text: String) -> Bool {
        var closers: [Character] = []
        var inString = false
        /// Interpolation depth markers: a `{` opened inside a string pushes "string" so its `}` returns to the string.
        var stringResume: [Int] = []
        var chars = Array(text)
        var i = 0
        var lastSignificant = ""
        while i < chars.count {
            let c = chars[i]
            if inString {
                // Strings end on their line: an open one is an error to report, not a reason to wait.
                if c == "\n" { return false }
                if c == "\\" {
                    i += 2
                    continue
                }
                if c == "\"" {
                    inString = false
                } else if c == "{" {
                    inString = false
                    stringResume.append(closers.count)
                    closers.append("}")
                }
                i += 1
                continue
            }
            switch c {
            case "#":
                while i < chars.count, chars[i] != "\n" { i += 1 }
                continue
            case "\"":
                inString = true
                lastSignificant = "\""
            case "(": closers.append(")"); lastSignificant = "("
            case "[": closers.append("]"); lastSignificant = "["
            case "{": closers.append("}"); lastSignificant = "{"
            case ")", "]", "}":
                if closers.last == c { closers.removeLast() }
                if c == "}", let resume = stringResume.last, resume == closers.count {
                    stringResume.removeLast()
                    inString = true
                }
                lastSignificant = String(c)
            case " ", "\t", "\r":
                break
            case "\n":
                lastSignificant = ""
            default:
                // Track the trailing token text of the line (operators and words).
                var j = i
                if c.isLetter || c.isNumber || c == "_" {
                    while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" || chars[j] == "." && j + 1 < chars.count && chars[j + 1].isNumber { j += 1 }
                } else {
                    while j < chars.count, "+-*/%=<>!.,&|".contains(chars[j]) { j += 1 }
                }
                if j == i { j = i + 1 }
                lastSignificant = String(chars[i ..< j])
                i = j
                continue
            }
            i += 1
        }
        chars.removeAll()
        if inString || !stringResume.isEmpty { return false }
        if !closers.isEmpty { return true }
        let continuing: Set<String> = ["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "=", "=>", "..", ",", "and", "or", "not", "step"]
        return continuing.contains(lastSignificant)
    }
}
