// The libFuzzer target over the whole language pipeline: lexer → parser → checker →
// evaluator, and `kairos compile`'s declaration pass, each on a sandboxed interpreter (a step
// budget so loops end, short runs, no file access, no remote). `scripts/fuzz` builds it with
// `-DKAIROS_LIBFUZZER` and the fuzzer sanitizer; in an ordinary build it is a replayer:
// `KairosFuzz FILE|DIR …` runs each input once, as the fuzzer would (a crash reproduces).
import KairosScript

#if canImport(Glibc)
import Glibc
#endif

/// Throws away what a fuzzed program prints.
final class DiscardingOutput: OutputSink {
    func write(_ text: String) {}
}

enum Harness {
    /// Tighter than `Limits.sandbox`: many short inputs a second beat a few long ones.
    static let limits = Interpreter.Limits(maxSteps: 5_000, maxLength: 100_000, maxTicks: 100, fileAccess: false)

    static func run(_ bytes: UnsafeBufferPointer<UInt8>) {
        let source = String(decoding: bytes, as: UTF8.self)
        let checker = Interpreter(output: DiscardingOutput())
        _ = checker.check(source: source, fileName: "fuzz.krs")

        let interpreter = Interpreter(output: DiscardingOutput())
        interpreter.limits = limits
        _ = interpreter.evaluate(source: source, fileName: "fuzz.krs")
        // A second input in the same session, as the REPL does.
        _ = interpreter.evaluate(source: "print(1)", fileName: "<input>")

        let compiler = Interpreter(output: DiscardingOutput())
        compiler.limits = limits
        _ = compiler.compileScenarios(source: source, fileName: "fuzz.krs")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    Harness.run(UnsafeBufferPointer(start: data, count: size))
    return 0
}

#if !KAIROS_LIBFUZZER
@main
enum Replay {
    static func main() {
        var inputs: [String] = []
        for argument in CommandLine.arguments.dropFirst() {
            var st = stat()
            if stat(argument, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, let dir = opendir(argument) {
                while let entry = readdir(dir) {
                    let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                    if !name.hasPrefix(".") { inputs.append(argument + "/" + name) }
                }
                closedir(dir)
            } else {
                inputs.append(argument)
            }
        }
        guard !inputs.isEmpty else {
            let usage = "usage: KairosFuzz FILE|DIR … (replays inputs through the fuzz target; scripts/fuzz fuzzes)\n"
            _ = usage.withCString { write(2, $0, strlen($0)) }
            exit(2)
        }
        for path in inputs.sorted() {
            guard let file = fopen(path, "rb") else { continue }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = fread(&buffer, 1, buffer.count, file)
                if n <= 0 { break }
                bytes.append(contentsOf: buffer[0 ..< n])
            }
            fclose(file)
            bytes.withUnsafeBufferPointer { Harness.run($0) }
        }
        print("replayed \(inputs.count) inputs")
    }
}
#endif
