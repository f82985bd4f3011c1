import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite(.timeLimit(.minutes(2))) struct ReloadTests {
    func table(_ services: [(name: String, port: UInt16, reply: String)], extra: String = "") -> String {
        "services:\n" + services.map { s in
            "  \(s.name):\n    listen: 127.0.0.1:\(s.port)\n    exec: /bin/echo\n    args: [\(s.reply)]\n\(extra)"
        }.joined()
    }

    func reload(_ d: Daemon, count: Int = 1, expect line: String = "reload: applied") throws {
        d.signal(SIGHUP)
        try d.waitForLog(line, count: count)
    }

    @Test func addRemoveAndChangeServices() throws {
        let (d, p) = try startDaemon({ p in table([("a", p[0], "a1")]) }, ports: 2)
        #expect(try exchange(p[0]) == "a1\n")
        let inode = try #require(listeningInode(p[0]))

        try d.rewrite(table([("a", p[0], "a2"), ("b", p[1], "b1")]))
        try reload(d)
        #expect(d.log.contains("reload: applied added=1 removed=0 changed=1 unchanged=0 failed=0"), "\(d.log)")
        #expect(try exchange(p[0]) == "a2\n")
        #expect(try exchange(p[1]) == "b1\n")
        #expect(listeningInode(p[0]) == inode, "a kept address keeps its very socket")
        #expect(socketInodes(of: d.pid).contains(inode))

        try d.rewrite(table([("b", p[1], "b1")]))
        try reload(d, count: 2)
        #expect(d.log.contains("reload: applied added=0 removed=1 changed=0 unchanged=1 failed=0"), "\(d.log)")
        #expect(throws: (any Error).self) { try exchange(p[0]) }
        #expect(try exchange(p[1]) == "b1\n")
        #expect(d.log.contains("a: closed address=127.0.0.1:\(p[0])"))
    }

    @Test func aBrokenTableLeavesTheOldOneServing() throws {
        let (d, p) = try startDaemon({ p in table([("a", p[0], "old")]) })
        try d.rewrite("services:\n  a:\n    listen: 127.0.0.1:\(p[0])\n    exec: /bin/echo\n    max_conections: 3\n")
        try reload(d, expect: "reload: rejected errors=1")
        #expect(d.log.contains("reload: error diagnostic=\"\(d.tablePath):5:5: error: unknown key 'max_conections' in service 'a'; did you mean 'max_connections'?\""), "\(d.log)")
        #expect(try exchange(p[0]) == "old\n")
        // Mended, the next HUP applies it.
        try d.rewrite(table([("a", p[0], "new")]))
        try reload(d)
        #expect(try exchange(p[0]) == "new\n")
    }

    @Test func aMovedAddressKeepsItsSocketAndServesTheNewService() throws {
        let (d, p) = try startDaemon({ p in table([("first", p[0], "first")]) })
        let inode = try #require(listeningInode(p[0]))
        try d.rewrite(table([("second", p[0], "second")]))
        try reload(d)
        #expect(listeningInode(p[0]) == inode)
        #expect(try exchange(p[0]) == "second\n")
    }

    @Test func aRenamedServiceKeepsItsPortAfterTheOldHandlersExit() throws {
        let (d, p) = try startDaemon({ p in """
            services:
              first:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/cat
            """ })
        let held = try connectOnly(p[0])
        try d.waitForLog("first: accepted")
        try d.rewrite(table([("second", p[0], "second")]))
        try reload(d)
        #expect(try exchange(p[0], timeout: 3) == "second\n")
        // The retired service's last handler ends; the port must stay served.
        close(held)
        try d.waitForLog("first: exited")
        usleep(100_000)
        #expect(try exchange(p[0], timeout: 3) == "second\n", "\(d.log)")
    }

    @Test func aServiceThatComesBackCountsItsRunningHandlers() throws {
        let limited = { (p: [UInt16]) in """
            services:
              limited:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/cat
                max_connections: 2
              other:
                listen: 127.0.0.1:\(p[1])
                exec: /bin/cat
            """ }
        let (d, p) = try startDaemon(limited, ports: 2)
        let first = try (0..<2).map { _ in try connectOnly(p[0]) }
        defer { first.forEach { close($0) } }
        try d.waitForLog("limited: accepted", count: 2)
        try d.rewrite("services:\n  other:\n    listen: 127.0.0.1:\(p[1])\n    exec: /bin/cat\n")
        try reload(d)
        try d.rewrite(limited(p))
        try reload(d, count: 2)
        let more = try (0..<2).map { _ in try connectOnly(p[0]) }
        defer { more.forEach { close($0) } }
        usleep(500_000)
        #expect(d.logLines.filter { $0.hasPrefix("limited: accepted") }.count == 2, "\(d.log)")
        // As the old handlers end, the waiting clients are served.
        first.forEach { shutdown($0, Int32(SHUT_WR)) }
        try d.waitForLog("limited: accepted", count: 4)
    }

    @Test func continuousClientsSeeNoFailureAcrossFiftyReloads() throws {
        let (d, p) = try startDaemon({ p in table([("a", p[0], "v0"), ("b", p[1], "b")]) }, ports: 2)
        let stop = Flag()
        let failures = Failures()
        let served = Counter()
        let clients = DispatchGroup()
        for _ in 0..<4 {
            clients.enter()
            Thread {
                while !stop.isSet {
                    do {
                        let reply = try exchange(p[0])
                        if reply.hasPrefix("v") { served.increment() } else { failures.add("reply \(reply.debugDescription)") }
                    } catch {
                        failures.add("\(error)")
                    }
                }
                clients.leave()
            }.start()
        }
        for round in 1...50 {
            // Alternate a change to the service with a change to another one.
            try d.rewrite(table([("a", p[0], "v\(round)"), ("b", p[1], round % 2 == 0 ? "b" : "bb")]))
            d.signal(SIGHUP)
            usleep(20_000)
        }
        try waitUntil(10, "the last table to be served") { (try? exchange(p[0])) == "v50\n" }
        stop.set()
        clients.wait()
        #expect(failures.list.isEmpty, "\(failures.list.prefix(5))")
        #expect(served.value > 50)
        expectNoZombiesLeft(of: d.pid)
    }

    @Test func aLoweredLimitHoldsBackAcceptsUntilHandlersExit() throws {
        let (d, p) = try startDaemon({ p in """
            services:
              slow:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", "sleep 0.6; echo done"]
                max_connections: 3
            """ })
        let first = try (0..<3).map { _ in try connectOnly(p[0]) }
        defer { first.forEach { close($0) } }
        try d.waitForLog("slow: accepted", count: 3)
        try d.rewrite("services:\n  slow:\n    listen: 127.0.0.1:\(p[0])\n    exec: /bin/sh\n    args: [\"-c\", \"sleep 0.2; echo done\"]\n    max_connections: 1\n")
        try reload(d)
        let replies = Failures()
        concurrently(2) { _ in replies.add((try? exchange(p[0])) ?? "failed") }
        #expect(replies.list == ["done\n", "done\n"])
        try d.waitForLog("slow: exited", count: 5)
        // Replay the log after the reload: a new accept only when nothing runs.
        var running = 0
        var afterReload = false
        for line in d.logLines {
            if line.hasPrefix("reload: applied") { afterReload = true; continue }
            if line.contains("slow: exited") { running -= 1 }
            if line.contains("slow: accepted") {
                if afterReload { #expect(running == 0, "accepted while \(running) ran:\n\(d.log)") }
                running += 1
            }
        }
    }

    @Test func aRaisedLimitResumesAtOnce() throws {
        let (d, p) = try startDaemon({ p in """
            services:
              slow:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", "sleep 3; echo done"]
                max_connections: 1
            """ })
        let first = try connectOnly(p[0])
        defer { close(first) }
        try d.waitForLog("slow: accepted")
        let second = try connectOnly(p[0])
        defer { close(second) }
        usleep(200_000)
        #expect(d.handlerPids.count == 1, "the second waits in the queue")
        try d.rewrite("services:\n  slow:\n    listen: 127.0.0.1:\(p[0])\n    exec: /bin/sh\n    args: [\"-c\", \"sleep 3; echo done\"]\n    max_connections: 2\n")
        try reload(d)
        try d.waitForLog("slow: accepted", count: 2, timeout: 2)
    }

    @Test func anAddressThatCannotOpenIsLoggedAndRetriedOnTheNextHup() throws {
        let (d, p) = try startDaemon({ p in table([("a", p[0], "a")]) })
        let busy = freePort()
        let blocker = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #expect(withSockaddr("127.0.0.1", busy, { bind(blocker, $0, $1) }) == 0)
        listen(blocker, 1)
        try d.rewrite(table([("a", p[0], "a"), ("c", busy, "c")]))
        try reload(d)
        #expect(d.log.contains("c: error address=127.0.0.1:\(busy) op=bind error=\"Address already in use\""), "\(d.log)")
        #expect(d.log.contains("reload: applied added=1 removed=0 changed=0 unchanged=1 failed=1"), "\(d.log)")
        #expect(try exchange(p[0]) == "a\n")
        close(blocker)
        try reload(d, count: 2)
        #expect(d.log.contains("c: listening address=127.0.0.1:\(busy)"), "\(d.log)")
        #expect(try exchange(busy) == "c\n")
    }

    @Test func aHupStormDuringLoadIsHarmless() throws {
        let (d, p) = try startDaemon({ p in table([("a", p[0], "a")]) })
        let failures = Failures()
        let done = Flag()
        let pid = d.pid
        let storm = Thread {
            while !done.isSet { kill(pid, SIGHUP); usleep(500) }
        }
        storm.start()
        concurrently(8) { _ in
            for _ in 0..<25 {
                do { if try exchange(p[0]) != "a\n" { failures.add("bad reply") } } catch { failures.add("\(error)") }
            }
        }
        done.set()
        #expect(failures.list.isEmpty, "\(failures.list.prefix(3))")
        #expect(processExists(d.pid))
        try waitUntil(5, "no zombies") { zombies(of: d.pid).isEmpty }
        d.signal(SIGTERM)
        #expect(try d.waitForExit() == 0)
    }

    @Test func aHupWhileStoppingIsIgnored() throws {
        let (d, p) = try startDaemon(args: ["--grace", "2"], { p in """
            services:
              slow:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", "trap 'sleep 0.3; exit 0' TERM; echo up; sleep 10 & wait"]
            """ })
        let c = try connectOnly(p[0])
        defer { close(c) }
        var byte: UInt8 = 0
        _ = recv(c, &byte, 1, 0)
        d.signal(SIGTERM)
        try d.waitForLog("swinetd: stopping")
        d.signal(SIGHUP)
        #expect(try d.waitForExit() == 0)
        #expect(d.log.contains("reload: ignored reason=stopping"), "\(d.log)")
    }
}

final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}
