import Testing
@testable import SwinetdCore
#if canImport(Glibc)
import Glibc
#endif

/// The log never blocks: with a pipe nobody reads, lines queue up to a
/// bound, then are dropped and counted in one line once it drains.
@Suite struct LogSinkTests {
    @Test func aFullPipeDropsAndCountsThenReports() throws {
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        let log = Log(sink: .descriptor(ends[1]))
        let lines = 5_000
        for i in 0..<lines { log.event(.info, "t", "line", ["n": .int(i), "pad": .string(String(repeating: "p", count: 40))]) }
        #expect(log.sink.hasPending, "the pipe (64 KiB) and the queue are full")
        // Read everything, flushing as the loop would when writable.
        _ = fcntl(ends[0], F_SETFL, O_NONBLOCK)
        var text: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        for _ in 0..<100 {
            while true {
                let n = buffer.withUnsafeMutableBytes { read(ends[0], $0.baseAddress, $0.count) }
                if n <= 0 { break }
                text.append(contentsOf: buffer[0..<n])
            }
            if !log.flush() { break }
        }
        while true {
            let n = buffer.withUnsafeMutableBytes { read(ends[0], $0.baseAddress, $0.count) }
            if n <= 0 { break }
            text.append(contentsOf: buffer[0..<n])
        }
        let got = String(decoding: text, as: UTF8.self).split(separator: "\n")
        let dropped = got.filter { $0.hasPrefix("swinetd: log dropped=") }
        #expect(dropped.count == 1)
        let n = Int(dropped.first?.dropFirst("swinetd: log dropped=".count) ?? "") ?? -1
        #expect(n > 0 && got.count - 1 + n == lines, "every line is either written or counted")
        #expect(got.dropLast().allSatisfy { $0.hasPrefix("t: line n=") }, "lines are whole")
    }
}
