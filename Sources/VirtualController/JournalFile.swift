#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

#if canImport(Glibc)
private let posixRead = Glibc.read
private let posixWrite = Glibc.write
#elseif canImport(Musl)
private let posixRead = Musl.read
private let posixWrite = Musl.write
#endif

/// One record in a file of the service's own folder: a sequence number and
/// a payload, written atomically (a temporary file, fsync, rename, fsync of
/// the folder), read back only when whole.
///
/// Layout (little-endian): 8 bytes of magic (the record's kind and format
/// version), the sequence number (u64), the payload length (u64), the
/// FNV-1a 64 hash of the sequence number, length and payload bytes (u64),
/// then the payload. A file that is
/// shorter or longer than its header says, has another magic, or fails the
/// hash is refused as a whole (`ReadResult.damaged`), never half-read.
struct JournalFile: Sendable {
    static let headerSize = 32
    /// A payload larger than this is refused on read (a damaged length).
    static let maxPayload = 1 << 30

    let path: String
    let magic: [UInt8]

    init(path: String, magic: String) {
        precondition(magic.utf8.count == 8)
        self.path = path
        self.magic = Array(magic.utf8)
    }

    enum ReadResult {
        case record(sequence: UInt64, payload: [UInt8])
        /// No such file.
        case missing
        /// The file exists but is not one whole record (the reason).
        case damaged(String)
    }

    static func fnv1a(_ bytes: UnsafeRawBufferPointer, from start: UInt64 = 0xCBF2_9CE4_8422_2325) -> UInt64 {
        var h = start
        for b in bytes {
            h ^= UInt64(b)
            h &*= 0x100_0000_01B3
        }
        return h
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }

    func read() -> ReadResult {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            return errno == ENOENT ? .missing : .damaged("cannot open: \(Self.errnoText())")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .damaged("cannot stat: \(Self.errnoText())") }
        let size = Int(info.st_size)
        guard size >= Self.headerSize else { return .damaged("\(size) bytes, shorter than a header") }
        guard size - Self.headerSize <= Self.maxPayload else { return .damaged("\(size) bytes, too large") }
        var bytes = [UInt8](repeating: 0, count: size)
        var got = 0
        let failed: String? = bytes.withUnsafeMutableBytes { buffer in
            while got < size {
                let n = posixRead(fd, buffer.baseAddress! + got, size - got)
                if n < 0 {
                    if errno == EINTR { continue }
                    return "cannot read: \(Self.errnoText())"
                }
                if n == 0 { return "ended at \(got) of \(size) bytes" }
                got += n
            }
            return nil
        }
        if let failed { return .damaged(failed) }
        guard Array(bytes[0..<8]) == magic else { return .damaged("not a record of this kind (magic)") }
        let sequence = Self.word(bytes, at: 8)
        let length = Self.word(bytes, at: 16)
        let hash = Self.word(bytes, at: 24)
        guard length == UInt64(size - Self.headerSize) else {
            return .damaged("payload of \(size - Self.headerSize) bytes, header says \(length)")
        }
        let payload = Array(bytes[Self.headerSize...])
        let fields = Array(bytes[8..<24])
        let computed = payload.withUnsafeBytes { p in fields.withUnsafeBytes { Self.fnv1a(p, from: Self.fnv1a($0)) } }
        guard computed == hash else { return .damaged("checksum mismatch") }
        return .record(sequence: sequence, payload: payload)
    }

    private static func word(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        var w: UInt64 = 0
        for i in (0..<8).reversed() { w = w << 8 | UInt64(bytes[offset + i]) }
        return w
    }

    private static func append(_ w: UInt64, to bytes: inout [UInt8]) {
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: w >> (8 * UInt64(i)))) }
    }

    /// Replaces the file with one record. Throws the reason on failure (the
    /// old file, if any, is then still whole).
    func write(sequence: UInt64, payload: UnsafeRawBufferPointer) throws(JournalError) {
        var header = magic
        header.reserveCapacity(Self.headerSize)
        Self.append(sequence, to: &header)
        Self.append(UInt64(payload.count), to: &header)
        let fields = Array(header[8..<24])
        Self.append(fields.withUnsafeBytes { Self.fnv1a(payload, from: Self.fnv1a($0)) }, to: &header)
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw JournalError("cannot create \(temporary): \(Self.errnoText())") }
        var ok = header.withUnsafeBytes { Self.writeAll(fd, $0) } && Self.writeAll(fd, payload)
        var reason = ok ? "" : "cannot write \(temporary): \(Self.errnoText())"
        if ok, fsync(fd) != 0 {
            ok = false
            reason = "cannot fsync \(temporary): \(Self.errnoText())"
        }
        close(fd)
        guard ok else {
            unlink(temporary)
            throw JournalError(reason)
        }
        guard rename(temporary, path) == 0 else {
            let text = "cannot rename \(temporary): \(Self.errnoText())"
            unlink(temporary)
            throw JournalError(text)
        }
        // The rename itself is durable once the folder is synced.
        let folder = path.utf8.lastIndex(of: UInt8(ascii: "/")).map { String(path[..<$0]) } ?? "."
        let dfd = open(folder.isEmpty ? "/" : folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = posixWrite(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            done += n
        }
        return true
    }
}

struct JournalError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
