/// Action status byte, as published on `ACT/...`.
public enum ActionStatus: UInt8, Sendable {
    case created = 0x00
    case accepted = 0x01
    case pending = 0x02
    case running = 0x08
    case completed = 0x0F
    case failed = 0x80
    case canceled = 0x81
    case terminated = 0x82

    /// Completed, failed, canceled and terminated end an action.
    public var isTerminal: Bool { rawValue >= ActionStatus.completed.rawValue }
}

/// Item status values with a fixed meaning; any other int16 is custom.
public enum ItemStatus {
    public static let ok: Int16 = 1
    public static let error: Int16 = -1
}

/// Log levels of `core.log_level`; a message below the level is dropped.
public enum LogLevel: UInt8, Sendable, Comparable, CaseIterable {
    case trace = 0
    case debug = 10
    case info = 20
    case warn = 30
    case error = 40
    case off = 100

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }

    /// The level for a raw `core.log_level` number: the nearest named level at
    /// or below it, so an unknown value filters conservatively.
    public init(clamping raw: Int64) {
        self = LogLevel.allCases.last(where: { Int64($0.rawValue) <= raw }) ?? .trace
    }
}
