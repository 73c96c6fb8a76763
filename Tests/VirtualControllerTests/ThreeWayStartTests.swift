#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import EAPI
import Testing
@testable import VirtualController

/// The start's three-way choice per variable (registry, journal, base):
/// another writer's registry edits win, our journal wins elsewhere.
@Suite struct ThreeWayStartTests {
    static let key = "eva/svc_data/test.virtual/vars"

    func put(_ file: JournalFile, sequence: UInt64, _ value: MsgPackValue) throws {
        let bytes = value.encoded()
        try bytes.withUnsafeBytes { b in
            Result { () throws(JournalError) in try file.write(sequence: sequence, payload: b) }
        }.get()
    }

    func journal(_ folder: String) -> JournalFile {
        JournalFile(path: "\(folder)/\(VariablePersistence.journalName)", magic: "EVAVCJ01")
    }

    func base(_ folder: String) -> JournalFile {
        JournalFile(path: "\(folder)/\(VariablePersistence.baseName)", magic: "EVAVCB01")
    }

    func content(_ file: JournalFile) -> MsgPackValue? {
        guard case .record(_, let payload) = file.read() else { return nil }
        return try? MsgPackValue(decoding: payload)
    }

    func variables(_ h: ControllerHarness) throws -> MsgPackValue {
        var out = MsgPackMap()
        for entry in try h.call("var.list", ["full": true])?.arrayValue ?? [] {
            out.entries.append((key: entry["id"]!, value: entry["value"] ?? .nil))
        }
        return .map(out)
    }

    func loadLine(_ h: ControllerHarness) -> String? {
        h.logs(.info).first { $0.hasPrefix("loaded ") }
    }

    // MARK: The rule, case by case (files written, then one start)

    @Test func registryChangedAddedOrDeletedByAnotherWriterWinsJournalElsewhere() throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        try put(base(folder), sequence: 4, ["ours": 1, "theirs": 1, "gone": 1, "same": 1, "dropped": 1])
        try put(journal(folder), sequence: 5, ["ours": 2, "theirs": 1, "gone": 1, "same": 1, "mine": 5])
        let registry: MsgPackValue = ["ours": 1, "theirs": 9, "same": 1, "dropped": 1, "added": 7]
        let h = try ControllerHarness(registry: [Self.key: registry], dataPath: folder)
        // ours: changed by us (journal); theirs: changed by them; gone:
        // deleted by them; same: nobody; dropped: deleted by us; mine:
        // added by us; added: added by them.
        #expect(try variables(h) == ["added": 7, "mine": 5, "ours": 2, "same": 1, "theirs": 9])
        #expect(loadLine(h) == "loaded 5 variable(s): 3 from the journal, 2 from the registry, 0 from the config; "
            + "1 deleted in the registry by another writer")
    }

    @Test func registryUnchangedSinceOurLastWriteJournalWinsWhole() throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        try put(base(folder), sequence: 2, ["a": 1, "b": 1])
        try put(journal(folder), sequence: 3, ["a": 2, "c": [1, 2]])
        let h = try ControllerHarness(registry: [Self.key: ["a": 1, "b": 1]], dataPath: folder)
        #expect(try variables(h) == ["a": 2, "c": [1, 2]])
        #expect(loadLine(h) == "loaded 2 variable(s): 2 from the journal, 0 from the registry, 0 from the config")
    }

    @Test func aRegistryDeletedWholeByAnotherWriterWins() throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        try put(base(folder), sequence: 2, ["a": 1, "b": 2])
        try put(journal(folder), sequence: 3, ["a": 5, "b": 2])
        // NOT_FOUND: the key was deleted (a reset); the config seeds come back.
        let h = try ControllerHarness(config: ["vars": ["s": "seed"]], dataPath: folder)
        #expect(try variables(h) == ["s": "seed"])
    }

    @Test func theRegistrysOwnFormsOfAValueAreNotAnotherWritersChange() throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        // What we wrote (a float32, a map in our order, bytes) and what a
        // JSON store gives back (a float64, sorted keys, an array of numbers).
        try put(base(folder), sequence: 2, ["f": .float(1.5), "m": ["b": 1, "a": 2], "n": 2.0, "bin": .binary([1, 2])])
        try put(journal(folder), sequence: 3, ["f": 2.5, "m": ["a": 3], "n": 3, "bin": "text"])
        let registry: MsgPackValue = ["f": .double(1.5), "m": ["a": 2, "b": 1], "n": 2, "bin": [1, 2]]
        let h = try ControllerHarness(registry: [Self.key: registry], dataPath: folder)
        #expect(try variables(h) == ["bin": "text", "f": 2.5, "m": ["a": 3], "n": 3])
    }

    @Test func firstStartTakesTheRegistryOrTheSeeds() throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        let h = try ControllerHarness(config: ["vars": ["s": 1]], registry: [Self.key: ["r": 1]], dataPath: folder)
        #expect(try variables(h) == ["r": 1, "s": 1])
        #expect(loadLine(h) == "loaded 2 variable(s): 0 from the journal, 1 from the registry, 1 from the config")
        let folder2 = makeFolder()
        defer { removeFolder(folder2) }
        let h2 = try ControllerHarness(config: ["vars": ["s": 1]], dataPath: folder2)
        #expect(try variables(h2) == ["s": 1])
    }

    @Test func noBaseTheJournalWinsAndTheRegistryAddsWhatOnlyItHas() throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        try put(journal(folder), sequence: 3, ["a": 2, "j": 1])
        let h = try ControllerHarness(registry: [Self.key: ["a": 1, "r": 1]], dataPath: folder)
        #expect(try variables(h) == ["a": 2, "j": 1, "r": 1])
        #expect(h.logs(.warn).contains { $0.contains("no registry base") })
    }

    @Test func noDataPathTheRegistryAlone() throws {
        let h = try ControllerHarness(config: ["vars": ["s": 1]], registry: [Self.key: ["r": 2]])
        #expect(try variables(h) == ["r": 2, "s": 1])
    }

    @Test func anUnreadableRegistryFallsBackToTheJournal() throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        try put(base(folder), sequence: 2, ["a": 1])
        try put(journal(folder), sequence: 3, ["a": 2])
        let h = try ControllerHarness(registry: [Self.key: ["a": 9]], registryError: EAPIError(.timeout),
                                      dataPath: folder)
        #expect(try variables(h) == ["a": 2])
        #expect(h.logs(.error).contains { $0.contains("cannot read variables") && $0.contains("using the journal") })
        // The base is left as it was: the registry's content is unknown.
        #expect(content(base(folder)) == ["a": 1])
    }

    @Test func aDamagedBaseCountsAsNone() throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        try put(journal(folder), sequence: 3, ["a": 2])
        let fd = open(base(folder).path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        _ = write(fd, "EVAVCB01 torn", 13)
        close(fd)
        let h = try ControllerHarness(registry: [Self.key: ["a": 1, "r": 1]], dataPath: folder)
        #expect(try variables(h) == ["a": 2, "r": 1])
        #expect(h.logs(.warn).contains { $0.contains("registry base") && $0.contains("damaged") })
    }

    // MARK: Configured variables

    @Test func aConfiguredVariableMissingFromThePersistedStateIsCreatedPersistedOnesWin() throws {
        let config: MsgPackValue = ["vars": ["old": 1, "later": "new", "arr[2]": 5]]
        let h = try ControllerHarness(config: config, registry: [Self.key: ["old": 7, "arr": [9]]])
        #expect(try variables(h) == ["arr": [9], "later": "new", "old": 7])
        // And the registry gets it at the stop.
        h.controller.terminate()
        #expect(h.host.registry[Self.key] == ["arr": [9], "later": "new", "old": 7])
    }

    // MARK: Whole runs

    @Test(arguments: [Int64(1), 2])
    func aSwitchToAnotherWriterAndBackKeepsBothSides(workers: Int64) throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        // Ours: sets x and stops (workers 1: journal only; 2: registry too).
        let first = try ControllerHarness(config: ["persist_interval": 0], registry: [Self.key: ["x": 0, "y": 0]],
                                          prepare: false, workers: workers, dataPath: folder)
        try first.prepare()
        try first.launch()
        try first.varSet("x", 1)
        first.stop()
        #expect(first.host.registry[Self.key] == (workers == 1 ? ["x": 0, "y": 0] : ["x": 1, "y": 0]))
        // Another writer (the shipped controller, an operator) changes y and
        // adds z while ours is stopped.
        var registry = first.host.registry
        var edited = registry[Self.key]!.mapValue!
        edited["y"] = 2
        edited["z"] = "theirs"
        registry[Self.key] = .map(edited)
        // Ours again: x from the journal, y and z from the registry.
        let second = try ControllerHarness(registry: registry, prepare: false, workers: workers, dataPath: folder)
        try second.prepare()
        try second.launch()
        #expect(waitUntil { (try? second.varGet("x")) == 1 })
        #expect(try variables(second) == ["x": 1, "y": 2, "z": "theirs"])
        // The registry is caught up at once; the journal and the base
        // follow it by the stop.
        #expect(waitUntil { second.host.registry[Self.key] == ["x": 1, "y": 2, "z": "theirs"] })
        second.stop()
        #expect(content(base(folder)) == ["x": 1, "y": 2, "z": "theirs"])
        #expect(content(journal(folder)) == ["x": 1, "y": 2, "z": "theirs"])
    }

    @Test func aChangeAfterTheLoadOfAVariableAnotherWriterChangedSurvivesAJournalOnlyStop() throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        try put(base(folder), sequence: 2, ["y": 1])
        try put(journal(folder), sequence: 3, ["y": 1])
        // They set y = 2; we start (registry wins), set y = 3, stop journal-only.
        let h = try ControllerHarness(config: ["persist_interval": 0], registry: [Self.key: ["y": 2]],
                                      workers: 1, dataPath: folder)
        #expect(try h.varGet("y") == 2)
        try h.varSet("y", 3)
        h.stop()
        #expect(h.host.registry[Self.key] == ["y": 2])
        // The base now records the registry's y = 2, so our 3 wins next time.
        #expect(content(base(folder)) == ["y": 2])
        let again = try ControllerHarness(registry: h.host.registry, dataPath: folder)
        #expect(try again.varGet("y") == 3)
    }

    @Test func aCleanStopWithTwoWorkersWritesTheRegistryAndTheBase() throws {
        let folder = makeFolder()
        defer { removeFolder(folder) }
        let h = try ControllerHarness(config: ["persist_interval": 60], prepare: false, workers: 2, dataPath: folder)
        try h.prepare()
        try h.launch()
        try h.varSet("v", 1)
        h.stop()
        #expect(h.host.registry[Self.key] == ["v": 1])
        #expect(content(base(folder)) == ["v": 1])
        #expect(content(journal(folder)) == ["v": 1])
    }

    // MARK: The comparison

    @Test func sameStoredTellsRealChangesFromStorageForms() {
        #expect(VariableMerge.sameStored(.float(0.5), .double(0.5)))
        #expect(VariableMerge.sameStored(.double(2), .int(2)))
        #expect(!VariableMerge.sameStored(.int(Int64.max), .int(Int64.max - 1)))
        #expect(!VariableMerge.sameStored(.int(1), .string("1")))
        #expect(VariableMerge.sameStored(["a": 1, "b": [1, ["c": 2]]], ["b": [1, ["c": 2.0]], "a": 1]))
        #expect(!VariableMerge.sameStored(["a": 1], ["a": 1, "b": 1]))
        #expect(!VariableMerge.sameStored(.array([1, 2]), .array([2, 1])))
        #expect(VariableMerge.sameStored(.binary([0, 255]), [0, 255]))
        #expect(!VariableMerge.sameStored(MsgPackValue?.none, .some(.nil)))
    }
}
