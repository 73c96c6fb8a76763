// libFuzzer target: svc_init with arbitrary initial payloads, each input on
// a fresh FFIServiceRuntime. When svc_init accepts the payload the target
// goes on as the launcher would: svc_prepare, svc_launch, a few calls (list,
// var.list, info), svc_terminate.
// Input: the initial payload's bytes, as is. A payload's data_path may be
// any relative path: the target works in a scratch folder of its own (under
// $TMPDIR), so that the journals it writes stay out of the checkout.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import FuzzKit
import FuzzLauncher

let probes: [(String, [UInt8]?)] = [
    ("list", nil),
    ("var.list", [0x81, 0xa4, 0x66, 0x75, 0x6c, 0x6c, 0xc3]), // {"full": true}
    ("info", nil),
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    let session = Session()
    let rc = session.start(initial: input)
    if rc > 0, session.ready {
        for (method, payload) in probes {
            let m = Array(method.utf8)
            let r = m.withUnsafeBytes { mb in
                if let payload {
                    return payload.withUnsafeBytes { session.call(method: mb, payload: $0) }
                }
                return session.call(method: mb, payload: nil)
            }
            if r < 0 { fuzz_violation("\(method) failed on a controller that started") }
        }
    }
    session.close()
    fuzz_launcher_clear_registry()
    return 0
}

/// The entry SwiftPM links as main; libFuzzer's driver does the rest.
@_cdecl("fuzz_init_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    // Paths given relative to where the target started (corpora, -dict=...)
    // are made absolute first: libFuzzer reads them after the move.
    var args: [UnsafeMutablePointer<CChar>?] = (0..<Int(argc)).map { i in
        guard let arg = argv?[i] else { return nil }
        return strdup(Scratch.absolute(String(cString: arg)))
    }
    args.append(nil)
    Scratch.enter()
    return args.withUnsafeMutableBufferPointer { fuzz_run_driver(argc, $0.baseAddress, fuzzOneInput) }
}

/// The scratch folder the target runs in.
enum Scratch {
    /// `arg` with an existing relative path (alone, or after `-flag=`)
    /// made absolute.
    static func absolute(_ arg: String) -> String {
        var prefix = ""
        var path = arg
        if arg.hasPrefix("-") {
            guard let eq = arg.firstIndex(of: "=") else { return arg }
            prefix = String(arg[...eq])
            path = String(arg[arg.index(after: eq)...])
        }
        guard !path.isEmpty, !path.hasPrefix("/"), let resolved = realpath(path, nil) else { return arg }
        defer { free(resolved) }
        return prefix + String(cString: resolved)
    }

    static func enter() {
        let base = getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp"
        var template = Array("\(base)/fuzz-init-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else { return }
        let path = String(cString: template)
        guard chdir(path) == 0 else { return }
        let line = "fuzz-init: working in \(path) (removed at exit)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
        folder = strdup(path)
        atexit {
            guard let folder = Scratch.folder else { return }
            Scratch.removeTree(String(cString: folder))
        }
    }

    /// Removes a folder and what is in it, depth first, following no
    /// links: the journals the inputs left and their folders.
    static func removeTree(_ path: String) {
        if let dir = opendir(path) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
                }
                if name == "." || name == ".." { continue }
                let child = "\(path)/\(name)"
                var info = stat()
                if lstat(child, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
                    removeTree(child)
                } else {
                    unlink(child)
                }
            }
            closedir(dir)
        }
        rmdir(path)
    }

    /// Set once, before the driver starts.
    nonisolated(unsafe) static var folder: UnsafeMutablePointer<CChar>?
}
