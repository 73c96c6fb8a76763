/// A MessagePack value, as EAPI payloads carry them.
///
/// Integers are normalised: every value that fits `Int64` is `.int`, only
/// larger positives are `.uint`, so equal numbers compare equal whatever
/// width they arrived in.
public enum MsgPackValue: Sendable, Hashable {
    case `nil`
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case float(Float)
    case double(Double)
    case string(String)
    case binary([UInt8])
    case array([MsgPackValue])
    case map(MsgPackMap)
    case ext(Int8, [UInt8])

    /// A Swift `Int` as `.int` (the case holds an `Int64`): `.int(items.count)`.
    public static func int(_ v: Int) -> MsgPackValue { .int(Int64(v)) }

    /// An unsigned value, normalised to `.int` when it fits.
    public static func unsigned(_ v: UInt64) -> MsgPackValue {
        v <= UInt64(Int64.max) ? .int(Int64(v)) : .uint(v)
    }
}

/// A MessagePack map that keeps its entries in order.
///
/// EAPI maps are small (a handful of fields), so lookups are linear scans:
/// cheaper than hashing for the sizes seen, and the encoded order stays stable.
public struct MsgPackMap: Sendable, Hashable, ExpressibleByDictionaryLiteral {
    public var entries: [(key: MsgPackValue, value: MsgPackValue)]

    public init() { entries = [] }
    public init(_ entries: [(key: MsgPackValue, value: MsgPackValue)]) { self.entries = entries }
    public init(dictionaryLiteral elements: (String, MsgPackValue)...) {
        entries = elements.map { (key: .string($0.0), value: $0.1) }
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// The value under a string key; nil when the key is absent (not when its
    /// value is MessagePack nil, which is `.some(.nil)`).
    public subscript(key: String) -> MsgPackValue? {
        get {
            for entry in entries {
                if case .string(let k) = entry.key, k == key { return entry.value }
            }
            return nil
        }
        set {
            if let index = entries.firstIndex(where: { if case .string(let k) = $0.key { k == key } else { false } }) {
                if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                entries.append((key: .string(key), value: newValue))
            }
        }
    }

    public static func == (lhs: MsgPackMap, rhs: MsgPackMap) -> Bool {
        guard lhs.entries.count == rhs.entries.count else { return false }
        for (a, b) in zip(lhs.entries, rhs.entries) where a.key != b.key || a.value != b.value {
            return false
        }
        return true
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(entries.count)
        for entry in entries {
            hasher.combine(entry.key)
            hasher.combine(entry.value)
        }
    }
}

extension MsgPackValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .nil }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: MsgPackValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, MsgPackValue)...) {
        self = .map(MsgPackMap(elements.map { (key: .string($0.0), value: $0.1) }))
    }
}

extension MsgPackValue {
    public var isNil: Bool { if case .nil = self { true } else { false } }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var arrayValue: [MsgPackValue]? { if case .array(let a) = self { a } else { nil } }
    public var mapValue: MsgPackMap? { if case .map(let m) = self { m } else { nil } }
    public var binaryValue: [UInt8]? { if case .binary(let b) = self { b } else { nil } }

    /// An integer of any width that fits `Int64`.
    public var int64Value: Int64? {
        switch self {
        case .int(let v): v
        default: nil
        }
    }

    /// A number as a Double: floats of either width, or an integer (EAPI
    /// sends float fields as integers at times).
    public var doubleValue: Double? {
        switch self {
        case .int(let v): Double(v)
        case .uint(let v): Double(v)
        case .float(let v): Double(v)
        case .double(let v): v
        default: nil
        }
    }

    /// Map lookup by string key; nil when self is not a map or lacks the key.
    public subscript(key: String) -> MsgPackValue? {
        if case .map(let m) = self { m[key] } else { nil }
    }
}

extension MsgPackValue {
    /// Containers nested in this value: 0 for a scalar, 1 for `[1]`.
    /// libmsgpack decodes at most 32 levels, so a value stored for later
    /// sending must leave room for the maps it is sent inside.
    public var nestingDepth: Int {
        switch self {
        case .array(let a): 1 + (a.lazy.map(\.nestingDepth).max() ?? 0)
        case .map(let m): 1 + (m.entries.lazy.map { max($0.key.nestingDepth, $0.value.nestingDepth) }.max() ?? 0)
        default: 0
        }
    }
}
