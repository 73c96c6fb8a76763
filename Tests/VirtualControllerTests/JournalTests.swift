#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EAPI
import Testing
@testable import VirtualController

/// The journal under data_path and how it merges with the registry.
@Suite struct JournalTests {
    static let key = "eva/svc_data/test.virtual/vars"

    func writeFile(_ path: String, _ bytes: [UInt8]) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        precondition(fd >= 0)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    func readFile(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return out }
            out += chunk[0..<n]
        }
    }

    func journal(_ folder: String) -> JournalFile {
        JournalFile(path: "\(folder)/\(VariablePersistence.journalName)", magic: "EVAVCJ01")
    }

    func base(_ folder: String) -> JournalFile {
        JournalFile(path: "\(folder)/\(VariablePersistence.baseName)", magic: "EVAVCB01")
    }

    func put(_ file: JournalFile, sequence: UInt64, _ value: MsgPackValue?) throws {
        let bytes = value?.encoded() ?? []
        try bytes.withUnsafeBytes { b in
            Result { () throws(JournalError) in try file.write(sequence: sequence, payload: b) }
        }.get()
    }

    // MARK: The file

    @Test func aRecordRoundTrips() throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        let file = journal(folder)
        guard case .missing = file.read() else { Issue.record("a missing file reads as missing"); return }
        try put(file, sequence: 41, ["a": 1, "b": [1, "x"]])
        try put(file, sequence: 42, ["a": 2])
        guard case .record(let sequence, let payload) = file.read() else { Issue.record("no record"); return }
        #expect(sequence == 42)
        #expect(try MsgPackValue(decoding: payload) == ["a": 2])
        // No temporary file is left behind.
        #expect(access("\(file.path).tmp", F_OK) != 0)
    }

    @Test func aTornOrGarbageFileIsRefusedWhole() throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        let file = journal(folder)
        try put(file, sequence: 7, ["name": "value", "n": 12345])
        let whole = try #require(readFile(file.path))
        var damaged: [[UInt8]] = (0..<whole.count).map { Array(whole[0..<$0]) }  // every torn prefix
        damaged.append(whole + [0])                                             // trailing garbage
        for i in stride(from: 0, to: whole.count, by: 3) {                      // flipped bytes
            var copy = whole
            copy[i] ^= 0x40
            damaged.append(copy)
        }
        damaged.append(Array(repeating: 0xFF, count: 64))
        damaged.append(Array("not a journal at all, just text\n".utf8))
        for bytes in damaged {
            writeFile(file.path, bytes)
            if case .record(let sequence, let payload) = file.read() {
                Issue.record("accepted a damaged file (\(bytes.count) bytes): \(sequence), \(payload.count) bytes")
            }
        }
        // A base is not a journal.
        try put(base(folder), sequence: 7, ["name": "value"])
        writeFile(file.path, try #require(readFile(base(folder).path)))
        guard case .damaged = file.read() else { Issue.record("a base read as a journal"); return }
    }

    // MARK: Merging at start

    @Test func aCleanStopOnOneThreadKeepsEverythingInTheJournal() throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        let h = try ControllerHarness(config: ["persist_interval": 0],
                                      registry: [Self.key: ["old": 1]], workers: 1, dataPath: folder)
        try h.launch()
        try h.varSet("new", ["deep": [1, 2]])
        try h.call("var.destroy", ["i": "old"])
        h.stop()
        #expect(h.host.lifecycleCalls.isEmpty)
        // The registry is behind; the journal is not.
        #expect(h.host.registry[Self.key] == ["old": 1])
        guard case .record(let sequence, let payload) = journal(folder).read() else {
            Issue.record("no journal")
            return
        }
        #expect(sequence >= 1)
        #expect(try MsgPackValue(decoding: payload) == ["new": ["deep": [1, 2]]])
        // The next start takes the journal and catches the registry up.
        let h2 = try ControllerHarness(registry: h.host.registry, prepare: false,
                                       workers: 1, dataPath: folder)
        try h2.prepare()
        try h2.launch()
        defer { h2.stop() }
        #expect(waitUntil { h2.host.registry[Self.key] == ["new": ["deep": [1, 2]]] })
        #expect(try h2.call("var.list", ["full": true]) == [["id": "new", "value": ["deep": [1, 2]]]])
        #expect(h2.host.lifecycleCalls.isEmpty)
        // Once the registry has it, so has the base.
        #expect(waitUntil {
            if case .record(let based, let payload) = base(folder).read() {
                return based >= sequence && (try? MsgPackValue(decoding: payload)) == ["new": ["deep": [1, 2]]]
            }
            return false
        })
    }

    @Test func sequenceNumbersGoOnFromTheLargestSeen() throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        try put(journal(folder), sequence: 3, ["a": 1])
        try put(base(folder), sequence: 10, ["a": 2])
        let h = try ControllerHarness(config: ["persist_interval": 0], registry: [Self.key: ["a": 2]],
                                      workers: 1, dataPath: folder)
        try h.varSet("a", 3)
        h.stop()
        guard case .record(let sequence, let payload) = journal(folder).read() else { Issue.record("no journal"); return }
        #expect(sequence == 11)
        #expect(try MsgPackValue(decoding: payload) == ["a": 3])
        #expect(try ControllerHarness(registry: [Self.key: ["a": 2]], dataPath: folder).varGet("a") == 3)
    }

    @Test(arguments: [[UInt8](), [0x45, 0x56], Array(repeating: 0x00, count: 100)])
    func aDamagedJournalIsLoggedAndTheRegistryUsed(bytes: [UInt8]) throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        writeFile(journal(folder).path, bytes)
        writeFile(base(folder).path, [1, 2, 3])
        let h = try ControllerHarness(registry: [Self.key: ["r": 1]], dataPath: folder)
        #expect(try h.varGet("r") == 1)
        #expect(h.logs(.error).contains { $0.contains("journal") && $0.contains("damaged") })
        #expect(h.logs(.warn).contains { $0.contains("base") && $0.contains("damaged") })
        // And it is replaced by a whole one at the next write.
        try h.varSet("r", 2)
        h.stop()
        guard case .record(_, let payload) = journal(folder).read() else { Issue.record("no journal"); return }
        #expect(try MsgPackValue(decoding: payload) == ["r": 2])
    }

    @Test func aJournalThatIsNotAMapOfNamesIsIgnoredOrFiltered() throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        try put(journal(folder), sequence: 5, [1, 2, 3])
        #expect(try ControllerHarness(registry: [Self.key: ["r": 1]], dataPath: folder).varGet("r") == 1)
        try put(journal(folder), sequence: 5,
                .map(MsgPackMap([(key: "ok", value: 1), (key: "bad[1]", value: 2), (key: 5, value: 3)])))
        let h = try ControllerHarness(registry: [Self.key: ["r": 1]], dataPath: folder)
        // (No base: the journal's names, and the registry's it lacks.)
        #expect(try h.call("var.list") == [["id": "ok"], ["id": "r"]])
    }

    @Test func theJournalIsWrittenThroughEveryPersistInterval() throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        let h = try ControllerHarness(config: ["persist_interval": 0.02], workers: 1, dataPath: folder)
        try h.launch()
        defer { h.stop() }
        try h.varSet("live", 1)
        func journaled() -> MsgPackValue? {
            guard case .record(_, let payload) = journal(folder).read() else { return nil }
            return try? MsgPackValue(decoding: payload)
        }
        #expect(waitUntil { journaled() == ["live": 1] })
        try h.varSet("live", 2)
        #expect(waitUntil { journaled() == ["live": 2] && h.host.registry[Self.key] == ["live": 2] })
    }

    @Test func anUnwritableFolderIsLoggedNotFatal() throws {
        let h = try ControllerHarness(config: ["persist_interval": 0], workers: 1,
                                      dataPath: "/proc/no-such-folder/svc")
        try h.varSet("v", 1)
        h.stop()
        #expect(h.logs(.error).contains { $0.contains("cannot write the journal") })
    }
}
