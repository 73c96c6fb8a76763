import EAPI

/// The variables (PLC tags) and what the tag methods do to them.
///
/// Edge cases, chosen to read like PLC registers (a block read has the size
/// asked for, a block write is all or nothing):
/// - `name[n]` past the end of an array reads nil.
/// - `name[a-b]` reads exactly b-a+1 elements, nil where the array is
///   shorter (a fixed-size block, as a PLC client reading `DB[0-9]` expects;
///   the same length `var.set` demands for that range).
/// - `name[a-]` reads the elements from a to the end: an empty array when
///   the array has a or fewer elements.
/// - `name[-b]` is `name[0-b]`.
/// - `var.set name[a-b]` takes an array of exactly b-a+1 values and writes
///   them at a..b, growing the array with nils as needed.
/// - `var.set name[a-]` replaces the array's tail from a with the given
///   array (of any length; padded with nils up to a first), so that reading
///   `name[a-]` back gives what was written.
/// - An index or range on a missing name writes into a new array (nils
///   before the first element written); on a value that is not an array it
///   is INVALID_DATA, for reads and writes alike.
struct VarStore: ~Copyable {
    var values: [String: MsgPackValue] = [:]
    /// Bumped on every change: the persister writes when it moved.
    private(set) var generation: UInt64 = 0
    /// False until the persisted variables are loaded (after launch, from
    /// the controller's thread). Until then the store holds the config
    /// seeds, and every write (a bound frame, an action's `action_map`, a
    /// macro step) is also logged in `preload`, to be replayed on top of
    /// what is loaded: a live value is newer than a persisted one.
    private(set) var loaded = false
    /// Writes made before the load, in order; one entry per tag (a later
    /// write of the same tag moves it to the end), so the log stays as
    /// small as the set of tags written.
    private var preload: [(tag: PLCTag, value: MsgPackValue)] = []

    mutating func touch() { generation &+= 1 }

    private mutating func logPreload(_ tag: PLCTag, _ value: MsgPackValue) {
        guard !loaded else { return }
        preload.removeAll { $0.tag == tag }
        preload.append((tag, value))
    }

    func get(_ tag: PLCTag) throws(EAPIError) -> MsgPackValue {
        guard let value = values[tag.name] else { throw .notFound("variable \(tag.name)") }
        if case .whole = tag.selector { return value }
        guard case .array(let array) = value else { throw .invalidData("\(tag.name) is not an array") }
        switch tag.selector {
        case .whole:
            return value
        case .index(let n):
            return n < array.count ? array[n] : .nil
        case .range(let lower, let upper?):
            var out: [MsgPackValue] = []
            out.reserveCapacity(upper - lower + 1)
            if lower < array.count { out += array[lower..<min(upper + 1, array.count)] }
            while out.count < upper - lower + 1 { out.append(.nil) }
            return .array(out)
        case .range(let lower, nil):
            return .array(lower < array.count ? Array(array[lower...]) : [])
        }
    }

    /// Nesting a stored variable may have. Variables go out again inside
    /// other containers (the registry's `{key, value: {name: v}}`, a bulk
    /// `RAW` list), and libmsgpack peers read at most 32 levels: 24 leaves
    /// room, where an unbounded `name[n]` chain could nest past any limit.
    static let maxNestingDepth = 24

    mutating func set(_ tag: PLCTag, _ value: MsgPackValue) throws(EAPIError) {
        let added: Int
        if case .index = tag.selector { added = 1 } else { added = 0 }
        guard value.nestingDepth + added <= Self.maxNestingDepth else {
            throw .invalidParams("\(tag) would nest deeper than \(Self.maxNestingDepth) levels")
        }
        switch tag.selector {
        case .whole:
            values[tag.name] = value
            touch()
            logPreload(tag, value)
            return
        case .index:
            break
        case .range(let lower, let upper):
            guard case .array(let block) = value else {
                throw .invalidParams("a range takes an array: \(tag)")
            }
            if let upper, block.count != upper - lower + 1 {
                throw .invalidParams("\(tag) takes \(upper - lower + 1) values, got \(block.count)")
            }
        }
        var array: [MsgPackValue]
        switch values[tag.name] {
        case nil:
            array = []
        case .array(let existing)?:
            array = existing
            // Drop the stored copy so that `array` is the only reference and
            // the write below mutates in place instead of copying.
            values[tag.name] = .nil
        case _?:
            throw .invalidData("\(tag.name) is not an array")
        }
        switch tag.selector {
        case .whole:
            break
        case .index(let n):
            if n < array.count {
                array[n] = value
            } else {
                array.reserveCapacity(n + 1)
                while array.count < n { array.append(.nil) }
                array.append(value)
            }
        case .range(let lower, let upper):
            guard case .array(let block) = value else { break }
            if let upper {
                while array.count <= upper { array.append(.nil) }
                array.replaceSubrange(lower...upper, with: block)
            } else {
                while array.count < lower { array.append(.nil) }
                array.replaceSubrange(lower..., with: block)
            }
        }
        values[tag.name] = .array(array)
        touch()
        logPreload(tag, value)
    }

    mutating func destroy(_ name: String) throws(EAPIError) {
        guard values.removeValue(forKey: name) != nil else { throw .notFound("variable \(name)") }
        touch()
        // Before the load only the methods destroy, and they answer
        // NOT_READY then: nothing to log.
    }

    /// Replaces every variable (the config seeds, at init).
    mutating func replaceAll(_ new: [String: MsgPackValue]) {
        values = new
    }

    /// The load: `persisted` (nil: none, the seeds stay) replaces the
    /// variables, then the writes made before it are replayed on top.
    /// Returns the generation the persisted values have (before the
    /// replay: what is replayed is still to be written) and the replayed
    /// writes that failed (the persisted value has another shape).
    mutating func load(_ persisted: [String: MsgPackValue]?) -> (generation: UInt64, failed: [(PLCTag, EAPIError)]) {
        let writes = preload
        preload = []
        loaded = true
        if let persisted { values = persisted }
        touch()
        let base = generation
        var failed: [(PLCTag, EAPIError)] = []
        for write in writes {
            do throws(EAPIError) { try set(write.tag, write.value) } catch { failed.append((write.tag, error)) }
        }
        return (base, failed)
    }
}
