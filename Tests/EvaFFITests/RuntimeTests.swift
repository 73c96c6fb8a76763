import CEvaFFI
import EAPI
import EvaFFI
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct RuntimeTests {
    @Test func refusesEveryABIVersionButOne() {
        let runtime = FFIServiceRuntime<EchoService>()
        #expect(runtime.setOpFunction(abiVersion: 0, fakeOpFunction) == -32006)
        #expect(runtime.setOpFunction(abiVersion: 2, fakeOpFunction) == -32006)
        #expect(!runtime.ops.isSet)
        #expect(runtime.setOpFunction(abiVersion: 1, fakeOpFunction) == 0)
        #expect(runtime.ops.isSet)
    }

    @Test func initReturnsTheInfoAndRefusesASecondInit() throws {
        let runtime = FFIServiceRuntime<EchoService>()
        let size = initialize(runtime, initialPayload())
        #expect(size > 0)
        var out = [UInt8](repeating: 0, count: Int(size))
        let rc = out.withUnsafeMutableBytes { raw in
            var b = EvaFFIBuffer(len: 0, data: raw.baseAddress!.assumingMemoryBound(to: CChar.self), max: raw.count)
            return runtime.getResult(&b)
        }
        #expect(rc == 0)
        let info = try MsgPackValue(decoding: out)
        #expect(info["description"] == "echo")
        #expect(initialize(runtime, initialPayload()) == -32012)
    }

    @Test func initErrorsAreNegativeCodes() {
        #expect(initialize(FFIServiceRuntime<EchoService>(), [0xc1]) == -32602)
        #expect(initialize(FFIServiceRuntime<EchoService>(), MsgPackValue.array([]).encoded()) == -32602)
        #expect(initialize(FFIServiceRuntime<EchoService>(), initialPayload(config: ["refuse": true])) == -32602)
        #expect(FFIServiceRuntime<EchoService>().initialize(nil) == -32602)
    }

    @Test func callsBeforeInitAnswerNotReady() {
        let runtime = FFIServiceRuntime<EchoService>()
        #expect(call(runtime, "echo", [0x01]).0 == -32005)
        #expect(runtime.prepare() == -32005)
    }

    @Test func shortBufferIsRefusedWithoutWritingPastMax() {
        let runtime = FFIServiceRuntime<EchoService>()
        #expect(initialize(runtime, initialPayload()) > 0)
        let payload = MsgPackValue.int(100).encoded()
        let (rc, _) = call(runtime, "size", payload)  // leaves a 102-byte result pending
        #expect(rc == 102)
        // Re-run the call and fetch with a short buffer inside a canary.
        var methodBytes = Array("size".utf8)
        var p = payload
        let n = methodBytes.withUnsafeMutableBytes { m in p.withUnsafeMutableBytes { pp in
            var e = EvaFFIRpcEvent(primary_sender: nil, method_size: 4, method: m.baseAddress!.assumingMemoryBound(to: CChar.self),
                                   payload_size: pp.count, payload: pp.baseAddress!.assumingMemoryBound(to: CChar.self))
            return runtime.handleCall(&e)
        } }
        var canary = [UInt8](repeating: 0xAB, count: Int(n) + 64)
        let short = canary.withUnsafeMutableBytes { raw in
            var b = EvaFFIBuffer(len: 0, data: raw.baseAddress!.assumingMemoryBound(to: CChar.self), max: Int(n) - 1)
            return runtime.getResult(&b)
        }
        #expect(short == -32011)
        #expect(canary.allSatisfy { $0 == 0xAB })
        #expect(runtime.getResult(nil) == -32009)
        var nullData = EvaFFIBuffer(len: 0, data: nil, max: 1000)
        #expect(runtime.getResult(&nullData) == -32009)
        // The result is still there for a buffer of the right size.
        let full = canary.withUnsafeMutableBytes { raw in
            var b = EvaFFIBuffer(len: 0, data: raw.baseAddress!.assumingMemoryBound(to: CChar.self), max: Int(n))
            let rc = runtime.getResult(&b)
            return rc == 0 ? b.len : -1
        }
        #expect(full == Int(n))
        #expect(canary[Int(n)...].allSatisfy { $0 == 0xAB })
    }

    @Test func errorsAndEmptyRepliesLeaveNoStaleResult() {
        let runtime = FFIServiceRuntime<EchoService>()
        #expect(initialize(runtime, initialPayload()) > 0)
        #expect(call(runtime, "size", MsgPackValue.int(10).encoded()).0 == 11)  // fixstr: 1 + 10
        #expect(call(runtime, "boom", nil).0 == -32001)
        var b = EvaFFIBuffer(len: 99, data: nil, max: 0)
        #expect(runtime.getResult(&b) == 0)
        #expect(b.len == 0)
        #expect(call(runtime, "echo", nil).0 == 0)
        #expect(call(runtime, "\u{0}\u{ff}", nil).0 == -32601)
    }

    @Test func concurrentCallsEachSeeTheirOwnResult() {
        let runtime = FFIServiceRuntime<EchoService>()
        #expect(initialize(runtime, initialPayload()) > 0)
        let wrong = Atomic<Int>(0)
        let threads = (0..<8).map { t in
            TestThread {
                for i in 0..<5_000 {
                    let n = (t * 37 + i) % 300
                    let (rc, bytes) = call(runtime, "size", MsgPackValue.int(Int64(n)).encoded())
                    let value = try? MsgPackValue(decoding: bytes)
                    if rc <= 0 || value?.stringValue?.utf8.count != n { wrong.add(1, ordering: .relaxed) }
                }
            }
        }
        threads.forEach { $0.join() }
        #expect(wrong.load(ordering: .relaxed) == 0)
    }
}

/// A pthread for tests (Foundation's Thread would pull Foundation in).
final class TestThread: Sendable {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let handle: pthread_t
    init(_ body: @escaping @Sendable () -> Void) {
        var h = pthread_t()
        let ctx = Unmanaged.passRetained(Box(body)).toOpaque()
        pthread_create(&h, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, ctx)
        handle = h
    }
    func join() { pthread_join(handle, nil) }
}
