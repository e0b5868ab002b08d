#if canImport(Glibc)
import Glibc
#endif

/// File-name completion for `:load "` and strings: entries of the typed directory whose
/// names start with the typed prefix; directories end in `/`.
enum FileCompletion {
    static func candidates(for typed: String) -> [String] {
        let directory: String
        let prefix: String
        if let slash = typed.lastIndex(of: "/") {
            directory = String(typed[...slash])
            prefix = String(typed[typed.index(after: slash)...])
        } else {
            directory = ""
            prefix = typed
        }
        guard let dir = opendir(directory.isEmpty ? "." : directory) else { return [] }
        defer { closedir(dir) }
        var result: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name != ".", name != "..", name.hasPrefix(prefix), !name.hasPrefix(".") || prefix.hasPrefix(".") else { continue }
            var st = stat()
            let isDirectory = stat(directory + name, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
            result.append(directory + name + (isDirectory ? "/" : ""))
        }
        return result.sorted()
    }
}
