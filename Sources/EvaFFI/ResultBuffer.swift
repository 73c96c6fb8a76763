import CEvaFFI
import EAPI

/// `eva_svc_get_result`: copies this thread's pending result into the
/// caller's buffer.
///
/// The caller owns the memory: a buffer whose `max` is below the result gets
/// ABORTED and not a byte is written; a null buffer or data pointer gets
/// INVALID_DATA. The result stays pending, so a retry with a larger buffer works.
public func copyPendingResult(into buffer: UnsafeMutablePointer<EvaFFIBuffer>?) -> Int16 {
    ThreadContext.with(key: ThreadContext.key) { copyPendingResult(of: $0, into: buffer) }
}

@inline(__always)
func copyPendingResult(of context: ThreadContext, into buffer: UnsafeMutablePointer<EvaFFIBuffer>?) -> Int16 {
    guard let buffer else { return EAPIErrorCode.invalidData.rawValue }
    let result = context.result.bytes
    guard buffer.pointee.max >= result.count else { return EAPIErrorCode.aborted.rawValue }
    if result.count > 0 {
        guard let data = buffer.pointee.data else { return EAPIErrorCode.invalidData.rawValue }
        UnsafeMutableRawPointer(data).copyMemory(from: result.baseAddress!, byteCount: result.count)
    }
    buffer.pointee.len = result.count
    return Int16(EVA_OK)
}

/// The return value of a call that left its reply in `reply`: the size when
/// there is a payload, 0 when none.
@inline(__always)
func pendingResultSize(_ reply: MsgPackWriter) -> Int32 {
    let count = reply.count
    return count <= Int(Int32.max) ? Int32(count) : Int32(EAPIErrorCode.invalidData.rawValue)
}
