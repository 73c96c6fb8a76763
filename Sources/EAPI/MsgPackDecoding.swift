import CEvaFFI

extension MsgPackValue {
    /// Decodes exactly one MessagePack value that fills the whole buffer.
    ///
    /// Not MessagePack, truncated, or followed by extra bytes: INVALID_PARAMS,
    /// the code EAPI methods answer for a payload they cannot read. libmsgpack
    /// bounds the nesting depth, so hostile input cannot exhaust the stack.
    public init(decoding bytes: UnsafeRawBufferPointer) throws(EAPIError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            throw .invalidParams("empty MessagePack payload")
        }
        // libmsgpack trusts header counts and allocates for them up front.
        guard MsgPackScanner.isWellFormed(bytes) else { throw .invalidParams("payload is not MessagePack") }
        var unpacked = msgpack_unpacked()
        msgpack_unpacked_init(&unpacked)
        defer { msgpack_unpacked_destroy(&unpacked) }
        var offset = 0
        let rc = msgpack_unpack_next(&unpacked, base.assumingMemoryBound(to: CChar.self), bytes.count, &offset)
        guard rc == MSGPACK_UNPACK_SUCCESS else {
            throw .invalidParams(rc == MSGPACK_UNPACK_NOMEM_ERROR ? "payload too large" : "payload is not MessagePack")
        }
        guard offset == bytes.count else { throw .invalidParams("extra bytes after the MessagePack payload") }
        self = MsgPackValue(unpacking: unpacked.data)
    }

    public init(decoding bytes: [UInt8]) throws(EAPIError) {
        let result: Result<MsgPackValue, EAPIError> = bytes.withUnsafeBytes { raw in
            do throws(EAPIError) { return .success(try MsgPackValue(decoding: raw)) } catch { return .failure(error) }
        }
        self = try result.get()
    }

    /// Converts a libmsgpack object tree (valid while its zone lives).
    init(unpacking object: msgpack_object) {
        switch object.type {
        case MSGPACK_OBJECT_NIL:
            self = .nil
        case MSGPACK_OBJECT_BOOLEAN:
            self = .bool(object.via.boolean)
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            self = .unsigned(object.via.u64)
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            self = .int(object.via.i64)
        case MSGPACK_OBJECT_FLOAT32:
            self = .float(Float(object.via.f64))
        case MSGPACK_OBJECT_FLOAT64:
            self = .double(object.via.f64)
        case MSGPACK_OBJECT_STR:
            self = .string(Self.string(object.via.str.ptr, Int(object.via.str.size)))
        case MSGPACK_OBJECT_BIN:
            self = .binary(Self.bytes(object.via.bin.ptr, Int(object.via.bin.size)))
        case MSGPACK_OBJECT_EXT:
            self = .ext(object.via.ext.type, Self.bytes(object.via.ext.ptr, Int(object.via.ext.size)))
        case MSGPACK_OBJECT_ARRAY:
            let array = object.via.array
            var elements: [MsgPackValue] = []
            elements.reserveCapacity(Int(array.size))
            for i in 0..<Int(array.size) { elements.append(MsgPackValue(unpacking: array.ptr[i])) }
            self = .array(elements)
        case MSGPACK_OBJECT_MAP:
            let map = object.via.map
            var entries: [(key: MsgPackValue, value: MsgPackValue)] = []
            entries.reserveCapacity(Int(map.size))
            for i in 0..<Int(map.size) {
                let kv = map.ptr[i]
                entries.append((key: MsgPackValue(unpacking: kv.key), value: MsgPackValue(unpacking: kv.val)))
            }
            self = .map(MsgPackMap(entries))
        default:
            self = .nil
        }
    }

    static func string(_ ptr: UnsafePointer<CChar>?, _ count: Int) -> String {
        guard let ptr, count > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: ptr, count: count), as: UTF8.self)
    }

    static func bytes(_ ptr: UnsafePointer<CChar>?, _ count: Int) -> [UInt8] {
        guard let ptr, count > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: ptr, count: count))
    }
}
