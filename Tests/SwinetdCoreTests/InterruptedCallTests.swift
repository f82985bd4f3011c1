import Testing
import Synchronization
@testable import SwinetdCore
#if canImport(Glibc)
import Glibc
#endif

/// Calls that wait in the kernel, interrupted by a real signal caught
/// without SA_RESTART (the call returns EINTR): each must still do its
/// whole work.
///
/// A blocking connect to a UNIX listener whose backlog is full waits in the
/// kernel. The connection must still be made once the listener accepts:
/// the test interrupts a real connect (seen blocked in the connect syscall
/// through /proc) with a real signal, then accepts, and checks the
/// descriptor it got is connected.
///
/// readAll waits in read on an empty pipe: interrupted, it reads on, and
/// returns everything written afterwards up to end of file.
///
/// Serialized: both tests own SIGUSR2's handler while they run.
@Suite(.serialized, .timeLimit(.minutes(3))) struct InterruptedCallTests {
    /// The connecting thread's side: its kernel thread id (for /proc), the
    /// outcome, and whether it is done.
    final class Attempt: @unchecked Sendable {
        let path: String
        let kernelThread = Atomic<Int32>(0)
        let done = Atomic<Bool>(false)
        /// Written by the thread before `done`, read after pthread_join.
        var result: Result<Int32, Errno>?
        init(path: String) { self.path = path }
    }

    static let interrupts = Atomic<Int>(0)

    /// connect(2)'s and read(2)'s numbers, as /proc/PID/task/TID/syscall shows them first.
    #if arch(x86_64)
    static let connectSyscall: String? = "42"
    static let readSyscall: String? = "0"
    #elseif arch(arm64)
    static let connectSyscall: String? = "203"
    static let readSyscall: String? = "63"
    #else
    static let connectSyscall: String? = nil
    static let readSyscall: String? = nil
    #endif

    /// The thread `tid` is blocked in connect(2) now (elsewhere than on
    /// x86_64 and arm64: asleep, which after its start it is only there).
    static func inConnect(_ tid: Int32) -> Bool { inSyscall(tid, connectSyscall) }

    /// The thread `tid` is blocked in the syscall numbered `number` now.
    static func inSyscall(_ tid: Int32, _ number: String?) -> Bool {
        let file = number == nil ? "stat" : "syscall"
        let fd = open("/proc/self/task/\(tid)/\(file)", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return false }
        let text = String(decoding: buffer[0..<n], as: UTF8.self)
        guard let number else {
            // "TID (name) S ...": the state follows the name's parenthesis.
            return text.split(separator: ")").last?.split(separator: " ").first == "S"
        }
        return text.split(separator: " ").first.map(String.init) == number
    }

    static func sleepMilliseconds(_ ms: Int) { usleep(UInt32(ms * 1000)) }

    /// Waits up to 10 s for `condition`.
    static func eventually(_ condition: () -> Bool) -> Bool {
        for _ in 0..<1000 {
            if condition() { return true }
            sleepMilliseconds(10)
        }
        return condition()
    }

    /// A handler that only counts, without SA_RESTART: a blocked call
    /// returns EINTR instead of being restarted by the kernel. Returns the
    /// disposition it replaced (nil: sigaction failed).
    static func catchSIGUSR2WithoutRestart() -> sigaction? {
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in _ = InterruptedCallTests.interrupts.add(1, ordering: .relaxed) }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        var previous = sigaction()
        return sigaction(SIGUSR2, &action, &previous) == 0 ? previous : nil
    }

    /// On the calling thread: takes SIGUSR2, and returns its kernel thread
    /// id (for /proc), -1 if unknown.
    static func becomeInterruptible() -> Int32 {
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGUSR2)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        var link = [CChar](repeating: 0, count: 64)
        let n = readlink("/proc/thread-self", &link, link.count - 1)
        let text = n > 0 ? String(decoding: link[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        return Int32(text.split(separator: "/").last.map(String.init) ?? "") ?? -1
    }

    @Test func aConnectInterruptedBySignalStillConnects() throws {
        var template = Array("/tmp/swinetd-connect-XXXXXX".utf8CString)
        let dir = String(cString: try #require(mkdtemp(&template)))
        let path = dir + "/s"
        defer { unlink(path); rmdir(dir) }

        // A listener with the smallest backlog, filled by non-blocking
        // connects until the kernel says EAGAIN: the next blocking connect waits.
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(listener >= 0)
        var listenerOpen = true
        defer { if listenerOpen { close(listener) } }
        try #require(UnixSocketFile.withAddress(path, { bind(listener, $0, $1) }) == 0)
        try #require(listen(listener, 0) == 0)
        var fillers: [Int32] = []
        defer { fillers.forEach { close($0) } }
        while fillers.count < 64 {
            let f = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            try #require(f >= 0)
            fillers.append(f)
            if UnixSocketFile.withAddress(path, { Glibc.connect(f, $0, $1) }) != 0 {
                try #require(errno == EAGAIN)
                break
            }
        }

        // A handler that does nothing, without SA_RESTART: the blocked
        // connect returns EINTR instead of being restarted by the kernel.
        var previous = try #require(Self.catchSIGUSR2WithoutRestart())
        defer { sigaction(SIGUSR2, &previous, nil) }
        let interruptsBefore = Self.interrupts.load(ordering: .relaxed)

        let attempt = Attempt(path: path)
        var thread = pthread_t()
        let context = Unmanaged.passRetained(attempt).toOpaque()
        try #require(pthread_create(&thread, nil, { context in
            let attempt = Unmanaged<Attempt>.fromOpaque(context!).takeRetainedValue()
            attempt.kernelThread.store(InterruptedCallTests.becomeInterruptible(), ordering: .releasing)
            attempt.result = UnixSocketFile.connect(attempt.path)
            attempt.done.store(true, ordering: .releasing)
            return nil
        }, context) == 0)
        var joined = false
        defer {
            // Closing the listener ends a connect that still waits (ECONNREFUSED).
            if !joined { close(listener); listenerOpen = false; pthread_join(thread, nil) }
        }


        try #require(Self.eventually { attempt.kernelThread.load(ordering: .acquiring) != 0 })
        let tid = attempt.kernelThread.load(ordering: .acquiring)
        try #require(tid > 0)
        try #require(Self.eventually { Self.inConnect(tid) }, "the connect never blocked")
        try #require(pthread_kill(thread, SIGUSR2) == 0)
        try #require(Self.eventually { Self.interrupts.load(ordering: .relaxed) > interruptsBefore }, "the signal was not handled")
        // Whatever the connect does after EINTR has happened by now: it
        // waits in connect again, or it has returned.
        try #require(Self.eventually { attempt.done.load(ordering: .acquiring) || Self.inConnect(tid) })

        // Room in the backlog: the waiting connect goes through.
        var accepted: [Int32] = []
        defer { accepted.forEach { close($0) } }
        let first = accept(listener, nil, nil)
        try #require(first >= 0)
        accepted.append(first)
        #expect(Self.eventually { attempt.done.load(ordering: .acquiring) }, "the connect did not finish once the listener accepted")
        if attempt.done.load(ordering: .acquiring) {
            pthread_join(thread, nil)
            joined = true
        }
        guard joined else { return }

        switch attempt.result {
        case .success(let fd)?:
            defer { close(fd) }
            var peer = sockaddr_un()
            var length = socklen_t(MemoryLayout<sockaddr_un>.size)
            let named = withUnsafeMutablePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
            }
            #expect(named == 0, "connected in name only: getpeername says \(Errno.current.text)")
        case .failure(let e)?:
            Issue.record("the interrupted connect failed: \(e.text)")
        case nil:
            Issue.record("no outcome")
        }
    }

    /// The reading thread's side.
    final class Reading: @unchecked Sendable {
        let fd: Int32
        let kernelThread = Atomic<Int32>(0)
        let done = Atomic<Bool>(false)
        /// Written by the thread before `done`, read after pthread_join.
        var result: Result<[UInt8], Errno>?
        init(fd: Int32) { self.fd = fd }
    }

    @Test func aReadAllInterruptedBySignalReadsOnToTheEnd() throws {
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        var writeEndOpen = true
        defer { close(ends[0]); if writeEndOpen { close(ends[1]) } }

        var previous = try #require(Self.catchSIGUSR2WithoutRestart())
        defer { sigaction(SIGUSR2, &previous, nil) }
        let interruptsBefore = Self.interrupts.load(ordering: .relaxed)

        let reading = Reading(fd: ends[0])
        var thread = pthread_t()
        let context = Unmanaged.passRetained(reading).toOpaque()
        try #require(pthread_create(&thread, nil, { context in
            let reading = Unmanaged<Reading>.fromOpaque(context!).takeRetainedValue()
            reading.kernelThread.store(InterruptedCallTests.becomeInterruptible(), ordering: .releasing)
            reading.result = readAll(reading.fd, limit: 1 << 20)
            reading.done.store(true, ordering: .releasing)
            return nil
        }, context) == 0)
        var joined = false
        defer {
            // Closing the write end ends a read that still waits (end of file).
            if !joined { if writeEndOpen { close(ends[1]); writeEndOpen = false }; pthread_join(thread, nil) }
        }

        try #require(Self.eventually { reading.kernelThread.load(ordering: .acquiring) != 0 })
        let tid = reading.kernelThread.load(ordering: .acquiring)
        try #require(tid > 0)
        try #require(Self.eventually { Self.inSyscall(tid, Self.readSyscall) }, "the read never blocked")
        try #require(pthread_kill(thread, SIGUSR2) == 0)
        try #require(Self.eventually { Self.interrupts.load(ordering: .relaxed) > interruptsBefore }, "the signal was not handled")
        // Interrupted, it must read on: still waiting, not returned.
        try #require(Self.eventually { reading.done.load(ordering: .acquiring) || Self.inSyscall(tid, Self.readSyscall) })
        let returnedEarly = reading.done.load(ordering: .acquiring)
        #expect(!returnedEarly, "readAll returned on EINTR instead of reading on")

        let sent = Array("after the signal\n".utf8)
        if case .failure(let e) = writeAll(ends[1], sent) { Issue.record("write: \(e.text)") }
        close(ends[1]); writeEndOpen = false
        #expect(Self.eventually { reading.done.load(ordering: .acquiring) }, "readAll did not end at end of file")
        if reading.done.load(ordering: .acquiring) {
            pthread_join(thread, nil)
            joined = true
        }
        guard joined else { return }
        switch reading.result {
        case .success(let bytes)?: #expect(bytes == sent)
        case .failure(let e)?: Issue.record("the interrupted readAll failed: \(e.text)")
        case nil: Issue.record("no outcome")
        }
    }
}
