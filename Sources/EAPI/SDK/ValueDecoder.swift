/// Decodes a `MsgPackValue` into a `Decodable` Swift type (Codable, no
/// Foundation): a service's typed `config`, a call's params.
///
/// Errors are INVALID_PARAMS naming the key path: `config.units[2].time must
/// be a number`. Numbers convert when the value fits the type exactly (an
/// integer into a Double, 3.0 into an Int); keys the type does not declare
/// are ignored (reject them with `unknownKeys: .refuse`).
public struct MsgPackValueDecoder: Sendable {
    public enum UnknownKeys: Sendable { case ignore, refuse }
    public var unknownKeys: UnknownKeys

    public init(unknownKeys: UnknownKeys = .ignore) { self.unknownKeys = unknownKeys }

    /// `root` names the value in errors (`config`, `params`).
    public func decode<T: Decodable>(_ type: T.Type, from value: MsgPackValue, root: String = "value") throws(EAPIError) -> T {
        do {
            return try T(from: ValueDecoder(value: value, path: [], options: self))
        } catch let error as EAPIError {
            throw error
        } catch let error as DecodingError {
            throw EAPIError(.invalidParams, Self.describe(error, root: root))
        } catch {
            throw EAPIError(.invalidParams, "\(root): \(error)")
        }
    }

    static func path(_ keys: [any CodingKey], root: String) -> String {
        var s = root
        for k in keys {
            if let i = k.intValue { s += "[\(i)]" } else { s += ".\(k.stringValue)" }
        }
        return s
    }

    static func describe(_ error: DecodingError, root: String) -> String {
        switch error {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
            return "\(path(c.codingPath, root: root)) \(c.debugDescription)"
        case .keyNotFound(let key, let c):
            return "\(path(c.codingPath + [key], root: root)) is required"
        @unknown default:
            return "\(root): \(error)"
        }
    }
}

extension InitialPayload {
    /// `config` decoded into the service's own type; INVALID_PARAMS naming
    /// the key (`config.port must be an integer`).
    public func decodeConfig<T: Decodable>(_ type: T.Type = T.self,
                                           unknownKeys: MsgPackValueDecoder.UnknownKeys = .ignore) throws(EAPIError) -> T {
        try MsgPackValueDecoder(unknownKeys: unknownKeys).decode(type, from: config, root: "config")
    }
}

struct IndexKey: CodingKey {
    let intValue: Int?
    let stringValue: String
    init(_ i: Int) { intValue = i; stringValue = "\(i)" }
    init?(intValue: Int) { self.init(intValue) }
    init?(stringValue: String) { return nil }
}

private struct ValueDecoder: Decoder {
    let value: MsgPackValue
    let path: [any CodingKey]
    let options: MsgPackValueDecoder
    var codingPath: [any CodingKey] { path }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func mismatch(_ expected: String) -> DecodingError {
        .typeMismatch(Any.self, .init(codingPath: path, debugDescription: "must be \(expected)"))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .map(let m) = value else { throw mismatch("a map") }
        return KeyedDecodingContainer(try KeyedValues<Key>(map: m, path: path, options: options))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let a) = value else { throw mismatch("a list") }
        return UnkeyedValues(items: a, path: path, options: options)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleValue(decoder: self) }
}

private struct KeyedValues<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let map: MsgPackMap
    let path: [any CodingKey]
    let options: MsgPackValueDecoder
    var codingPath: [any CodingKey] { path }
    var allKeys: [Key] { map.entries.compactMap { $0.key.stringValue.flatMap(Key.init(stringValue:)) } }

    init(map: MsgPackMap, path: [any CodingKey], options: MsgPackValueDecoder) throws {
        self.map = map
        self.path = path
        self.options = options
        if options.unknownKeys == .refuse {
            for entry in map.entries {
                guard let name = entry.key.stringValue else {
                    throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "has a key that is not a string"))
                }
                guard Key(stringValue: name) != nil else {
                    throw DecodingError.dataCorrupted(.init(codingPath: path + [AnyKey(name)],
                                                            debugDescription: "is not a known key"))
                }
            }
        }
    }

    func contains(_ key: Key) -> Bool { map[key.stringValue] != nil }

    func value(_ key: Key) throws -> MsgPackValue {
        guard let v = map[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: path, debugDescription: "is required"))
        }
        return v
    }

    func decoder(_ key: Key) throws -> ValueDecoder {
        ValueDecoder(value: try value(key), path: path + [key], options: options)
    }

    func decodeNil(forKey key: Key) throws -> Bool { map[key.stringValue]?.isNil ?? true }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T { try T(from: decoder(key)) }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let v = map[key.stringValue], !v.isNil else { return nil }
        return try T(from: ValueDecoder(value: v, path: path + [key], options: options))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey> { try decoder(key).container(keyedBy: type) }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try decoder(key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { ValueDecoder(value: .map(map), path: path, options: options) }
    func superDecoder(forKey key: Key) throws -> any Decoder { try decoder(key) }
}

struct AnyKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

private struct UnkeyedValues: UnkeyedDecodingContainer {
    let items: [MsgPackValue]
    let path: [any CodingKey]
    let options: MsgPackValueDecoder
    var currentIndex = 0

    init(items: [MsgPackValue], path: [any CodingKey], options: MsgPackValueDecoder) {
        self.items = items
        self.path = path
        self.options = options
    }

    var codingPath: [any CodingKey] { path }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    mutating func next() throws -> ValueDecoder {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: path + [IndexKey(currentIndex)],
                                                              debugDescription: "is missing (the list is too short)"))
        }
        defer { currentIndex += 1 }
        return ValueDecoder(value: items[currentIndex], path: path + [IndexKey(currentIndex)], options: options)
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, items[currentIndex].isNil else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: next()) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey> { try next().container(keyedBy: type) }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer { try next().unkeyedContainer() }
    mutating func superDecoder() throws -> any Decoder { try next() }
}

private struct SingleValue: SingleValueDecodingContainer {
    let decoder: ValueDecoder
    var codingPath: [any CodingKey] { decoder.path }
    var value: MsgPackValue { decoder.value }

    func decodeNil() -> Bool { value.isNil }

    func decode(_ type: Bool.Type) throws -> Bool {
        guard let b = value.boolValue else { throw decoder.mismatch("a bool") }
        return b
    }

    func decode(_ type: String.Type) throws -> String {
        guard let s = value.stringValue else { throw decoder.mismatch("a string") }
        return s
    }

    func decode(_ type: Double.Type) throws -> Double {
        guard let d = value.doubleValue else { throw decoder.mismatch("a number") }
        return d
    }

    func decode(_ type: Float.Type) throws -> Float {
        guard let d = value.doubleValue else { throw decoder.mismatch("a number") }
        return Float(d)
    }

    func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        let exact: I?
        switch value {
        case .int(let v): exact = I(exactly: v)
        case .uint(let v): exact = I(exactly: v)
        case .float(let v): exact = I(exactly: v)
        case .double(let v): exact = I(exactly: v)
        default: throw decoder.mismatch("an integer")
        }
        guard let exact else { throw decoder.mismatch("an integer in \(I.min)...\(I.max)") }
        return exact
    }

    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        // A MsgPackValue field takes the value as it is (any shape).
        if type == MsgPackValue.self { return value as! T }
        if type == OID.self {
            guard let s = value.stringValue, let oid = OID(s) else { throw decoder.mismatch("an OID (kind:group/id)") }
            return oid as! T
        }
        return try T(from: decoder)
    }
}

/// A map decoded with its entries in their order, each key decoded as `Key`
/// (a `String`, an `OID`, any `Decodable` that reads a single value) and
/// each value as `Value`: for config maps whose order matters (applied in
/// order) or whose keys are not plain names (`{unit OID: settings}`), which
/// a Swift `Dictionary` cannot decode. Errors name the entry by its key:
/// `config.units.unit:a/b.time must be a number`, `config.units.bogus must be
/// an OID (kind:group/id)`. Decodes only with `MsgPackValueDecoder`.
public struct DecodedMap<Key: Decodable & Sendable, Value: Decodable & Sendable>: Decodable, Sendable {
    public var entries: [(key: Key, value: Value)]

    public init(entries: [(key: Key, value: Value)] = []) { self.entries = entries }

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }

    public init(from decoder: any Decoder) throws {
        guard let d = decoder as? ValueDecoder else {
            throw DecodingError.typeMismatch(DecodedMap.self, .init(codingPath: decoder.codingPath,
                debugDescription: "DecodedMap decodes only with MsgPackValueDecoder"))
        }
        guard case .map(let m) = d.value else { throw d.mismatch("a map") }
        var out: [(key: Key, value: Value)] = []
        out.reserveCapacity(m.count)
        for entry in m.entries {
            let path = d.path + [AnyKey(entry.key.stringValue ?? "\(entry.key)")]
            let key = try Key(from: ValueDecoder(value: entry.key, path: path, options: d.options))
            let value = try Value(from: ValueDecoder(value: entry.value, path: path, options: d.options))
            out.append((key: key, value: value))
        }
        entries = out
    }
}

/// A config field may be any MessagePack value: decode it as `MsgPackValue`.
extension MsgPackValue: Decodable {
    public init(from decoder: any Decoder) throws {
        if let d = decoder as? ValueDecoder { self = d.value; return }
        throw DecodingError.typeMismatch(MsgPackValue.self, .init(codingPath: decoder.codingPath,
            debugDescription: "MsgPackValue decodes only with MsgPackValueDecoder"))
    }
}

/// An OID field: a string `kind:group/id`.
extension OID: Decodable {
    public init(from decoder: any Decoder) throws {
        guard let s = try? decoder.singleValueContainer().decode(String.self), let oid = OID(s) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "must be an OID (kind:group/id)"))
        }
        self = oid
    }
}
