import Testing
@testable import SwinetdCore
import CLinux
#if canImport(Glibc)
import Glibc
#endif

/// The whole transfers every caller uses: on real pipes and files, with
/// short writes (a pipe holds less than is written) and the limit exact.
@Suite(.timeLimit(.minutes(3))) struct ReadAllWriteAllTests {
    /// An unlinked temporary file, open read-write.
    static func temporaryFile() throws -> Int32 {
        var template = Array("/tmp/swinetd-readall-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        try #require(fd >= 0)
        unlink(template)
        return fd
    }

    static func pipe(nonBlocking: Bool) throws -> (read: Int32, write: Int32) {
        var ends: [Int32] = [-1, -1]
        try #require(clinux_pipe2(&ends, O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0)) == 0)
        return (ends[0], ends[1])
    }

    static let sample: [UInt8] = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }

    @Test func whatIsWrittenIsReadBackWhole() throws {
        let fd = try Self.temporaryFile()
        defer { close(fd) }
        #expect(throws: Never.self) { try writeAll(fd, Self.sample).get() }
        #expect(lseek(fd, 0, SEEK_SET) == 0)
        #expect(try readAll(fd, limit: Self.sample.count).get() == Self.sample)
    }

    @Test func theLimitIsExact() throws {
        let fd = try Self.temporaryFile()
        defer { close(fd) }
        try writeAll(fd, Self.sample).get()
        lseek(fd, 0, SEEK_SET)
        #expect(try readAll(fd, limit: Self.sample.count).get().count == Self.sample.count)
        lseek(fd, 0, SEEK_SET)
        #expect(throws: Errno.fileTooLarge) { try readAll(fd, limit: Self.sample.count - 1).get() }
        // What was read stays, at most one byte past the limit.
        lseek(fd, 0, SEEK_SET)
        var start: [UInt8] = []
        #expect(throws: Errno.fileTooLarge) { try readAll(fd, appendingTo: &start, limit: 1000).get() }
        #expect(start == Array(Self.sample.prefix(1001)))
    }

    /// A non-blocking pipe takes part of a long write: the write tells how
    /// far it got and goes on from there; the reader drains what is there.
    @Test func aShortWriteGoesOnWhereItStopped() throws {
        let (r, w) = try Self.pipe(nonBlocking: true)
        defer { close(r) }
        var written = 0
        #expect(throws: Errno.wouldBlock) { try writeAll(w, Self.sample, written: &written).get() }
        #expect(written > 0 && written < Self.sample.count)
        var received: [UInt8] = []
        #expect(try readAll(r, appendingTo: &received, limit: .max).get() == .wouldBlock)
        #expect(received == Array(Self.sample.prefix(written)))
        while written < Self.sample.count {
            if case .failure(let e) = writeAll(w, Self.sample, written: &written) { #expect(e == .wouldBlock) }
            #expect(try readAll(r, appendingTo: &received, limit: .max).get() == .wouldBlock)
        }
        close(w)
        #expect(try readAll(r, appendingTo: &received, limit: .max).get() == .endOfFile)
        #expect(received == Self.sample)
    }

    @Test func sendAllSendsEverything() throws {
        var pair: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0)
        defer { close(pair[0]) }
        let bytes = Array(Self.sample.prefix(1000))
        #expect(throws: Never.self) { try sendAll(pair[1], bytes, flags: Int32(MSG_NOSIGNAL)).get() }
        close(pair[1])
        #expect(try readAll(pair[0], limit: 1000).get() == bytes)
        // To a peer that is gone: EPIPE, and no SIGPIPE (the test lives).
        var gone: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &gone) == 0)
        close(gone[0])
        defer { close(gone[1]) }
        #expect(throws: Errno.brokenPipe) { try sendAll(gone[1], bytes, flags: Int32(MSG_NOSIGNAL)).get() }
    }
}
