import EAPI

/// How a start chooses each variable from three versions of it: the
/// registry's (`R`: what is there now), the journal's (`J`: what this
/// service last had) and the base (`B`: what this service last wrote to
/// the registry, or last read from it).
///
/// - `R[v]` differs from `B[v]` (another writer changed, added or deleted
///   it since: the shipped controller after a switch, an operator, a
///   restore): the registry's version wins, a deletion included.
/// - Otherwise the journal's version wins (a deletion included): nobody
///   else touched it, and the journal is at least as new.
/// - No journal (first start, no `data_path`, a damaged file): the
///   registry, as it is.
/// - A journal but no base (the registry could not be read at the first
///   start, a damaged base): nothing tells another writer's changes from
///   ours; the journal wins for what it has, the registry adds the rest.
/// - The registry unreadable (`R` nil): the journal, else nothing.
/// Then every variable named in `config.vars` that is still missing gets
/// its configured value.
struct VariableMerge {
    private(set) var values: [String: MsgPackValue] = [:]
    private(set) var fromRegistry = 0
    private(set) var fromJournal = 0
    private(set) var fromConfig = 0
    /// Deleted from the registry by another writer, so dropped here too.
    private(set) var deletedElsewhere = 0

    init(registry: [String: MsgPackValue]?, journal: [String: MsgPackValue]?,
         base: [String: MsgPackValue]?, config: [String: MsgPackValue]) {
        switch (registry, journal, base) {
        case (let r?, let j?, let b?):
            for name in Set(r.keys).union(j.keys).union(b.keys) {
                if !Self.sameStored(r[name], b[name]) {
                    if let value = r[name] {
                        values[name] = value
                        fromRegistry += 1
                    } else {
                        deletedElsewhere += 1
                    }
                } else if let value = j[name] {
                    values[name] = value
                    fromJournal += 1
                }
            }
        case (let r?, let j?, nil):
            values = j
            fromJournal = j.count
            for (name, value) in r where j[name] == nil {
                values[name] = value
                fromRegistry += 1
            }
        case (let r?, nil, _):
            values = r
            fromRegistry = r.count
        case (nil, let j?, _):
            values = j
            fromJournal = j.count
        case (nil, nil, _):
            break
        }
        for (name, value) in config where values[name] == nil {
            values[name] = value
            fromConfig += 1
        }
    }

    /// Whether two versions of a variable (nil: absent) are the same once
    /// stored: the registry keeps values as JSON-like data, so a number may
    /// come back in another width or kind (a float32 as a float64, 2.0 as
    /// 2), a map with its keys in another order, bytes as an array of
    /// numbers. Such a difference is not another writer's change.
    static func sameStored(_ a: MsgPackValue?, _ b: MsgPackValue?) -> Bool {
        switch (a, b) {
        case (nil, nil): return true
        case (let a?, let b?): return sameStored(a, b)
        default: return false
        }
    }

    /// `sameStored` for every variable of two maps.
    static func sameStored(_ a: [String: MsgPackValue], _ b: [String: MsgPackValue]) -> Bool {
        a.count == b.count && a.allSatisfy { sameStored($0.value, b[$0.key]) }
    }

    static func sameStored(_ a: MsgPackValue, _ b: MsgPackValue) -> Bool {
        if a == b { return true }
        switch (a, b) {
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { sameStored($0, $1) }
        case (.map(let x), .map(let y)):
            guard x.count == y.count else { return false }
            return x.entries.allSatisfy { entry in
                y.entries.contains { sameStored($0.key, entry.key) && sameStored($0.value, entry.value) }
            }
        case (.binary(let bytes), .array(let items)), (.array(let items), .binary(let bytes)):
            return bytes.count == items.count && zip(bytes, items).allSatisfy { $1 == .int(Int64($0)) }
        case (.int, .int), (.int, .uint), (.uint, .int), (.uint, .uint):
            return false  // integers are normalised: unequal is unequal
        default:
            guard let x = a.doubleValue, let y = b.doubleValue else { return false }
            return x == y
        }
    }
}
