import Testing
@testable import SwinetdCore

/// The reload job as a value: a loader's answer built here, a fake live
/// table standing in for the loop's services and listeners, and a fake
/// clock; the effects it returns are checked in the order the loop would
/// apply them. No process, no socket.
@Suite struct ReloadJobTests {
    func address(_ s: String) -> ListenAddress { try! ListenAddress.parse(s).get()[0] }

    func config(_ name: String, _ listen: String, args: [String] = [], backlog: Int = 128) -> ServiceConfig {
        ServiceConfig(name: name, listen: [ListenSpec(text: listen, addresses: try! ListenAddress.parse(listen).get(), ipv6IsOptional: false)],
                      exec: "/bin/cat", argv: ["cat"] + args, user: nil, group: nil, credentials: nil, env: [], cwd: "/",
                      maxConnections: 64, backlog: backlog, stderr: .log, enabled: true)
    }

    /// What the loader sends for `table`: a header announcing `announced`
    /// services (all of them by default), then each service, as its name
    /// when `live` has it unchanged and as its settings otherwise.
    func answer(_ table: [ServiceConfig], live: FakeTable, maxChildren: Int = 1024, announced: Int? = nil) throws -> TableStream {
        var bytes = FrameWriter.frame(.header, try PackedCoding.encode(TableLoadProcess.Header(maxChildren: maxChildren, services: announced ?? table.count)))
        for c in table {
            bytes += live.services[c.name] == c ? FrameWriter.frame(.unchanged, Array(c.name.utf8)) : FrameWriter.frame(.changed, try PackedCoding.encode(c))
        }
        return try TableStream.open(bytes, file: "s.yaml").get()
    }

    /// Runs `job` to its end, `budget` a step; returns how many steps it took
    /// (at most `limit`: a job that stops progressing fails the test, never hangs it).
    @discardableResult
    func run(_ job: ReloadJob, on live: FakeTable, budget: UInt64 = .max, clock: FakeClock = FakeClock(), limit: Int = 1000) -> Int {
        var steps = 0
        while !job.isDone && steps < limit {
            job.step(budget: budget, clock: clock.read, view: live, apply: live.apply)
            steps += 1
        }
        #expect(job.isDone, "the job still runs after \(limit) steps")
        return steps
    }

    /// Four services live; the new table renames one (its socket kept),
    /// keeps one, changes one's backlog, drops one and adds two.
    func scenario() -> (live: FakeTable, table: [ServiceConfig]) {
        let live = FakeTable(services: [config("old", "127.0.0.1:7000"), config("keep", "127.0.0.1:7001"),
                                        config("gone", "127.0.0.1:7002"), config("moved", "127.0.0.1:7003")])
        let table = [config("keep", "127.0.0.1:7001"), config("new", "127.0.0.1:7000", backlog: 64),
                     config("added", "127.0.0.1:7004"), config("moved", "127.0.0.1:7005")]
        return (live, table)
    }

    @Test func effectsComeInTheOrderTheLoopMustApplyThem() throws {
        let (live, table) = scenario()
        let job = ReloadJob(try answer(table, live: live, maxChildren: 512), purpose: .reload)
        run(job, on: live)
        #expect(!job.malformed)
        #expect(live.applied == [
            .addService(table[1]), .addService(table[2]), .changeService(table[3]), .setMaxChildren(512),
            // The kept socket goes to the service that names it now, and takes its backlog.
            .giveAddress(address("127.0.0.1:7000"), to: "new"), .setBacklog(address("127.0.0.1:7000"), 64),
            .removeService("gone"), .removeService("old"), .refreshAll,
            // Every address no one wants closes before any new one opens.
            .closeAddress(address("127.0.0.1:7002")), .closeAddress(address("127.0.0.1:7003")),
            .openAddress(address("127.0.0.1:7004"), for: "added"), .openAddress(address("127.0.0.1:7005"), for: "moved"),
        ])
        #expect(job.outcome == Outcome(added: 2, removed: 2, changed: 1, unchanged: 1, failed: 0))
        #expect(live.listeners.mapValues(\.owner) == [address("127.0.0.1:7000"): "new", address("127.0.0.1:7001"): "keep",
                                                       address("127.0.0.1:7004"): "added", address("127.0.0.1:7005"): "moved"])
    }

    /// Bug 8 as the job sees it: a kept address changes owner, and is
    /// neither closed nor opened again.
    @Test func aKeptAddressChangesOwnerInPlace() throws {
        let live = FakeTable(services: [config("first", "127.0.0.1:7000")])
        let job = ReloadJob(try answer([config("second", "127.0.0.1:7000")], live: live), purpose: .reload)
        run(job, on: live)
        #expect(live.applied == [.addService(config("second", "127.0.0.1:7000")), .setMaxChildren(1024),
                                 .giveAddress(address("127.0.0.1:7000"), to: "second"), .removeService("first"), .refreshAll])
    }

    @Test func anUnchangedTableChangesNothing() throws {
        let live = FakeTable(services: [config("a", "127.0.0.1:7000"), config("b", "127.0.0.1:7001")])
        let job = ReloadJob(try answer(live.services.values.sorted { $0.name < $1.name }, live: live), purpose: .reload)
        run(job, on: live)
        #expect(live.applied == [.setMaxChildren(1024), .refreshAll])
        #expect(job.outcome == Outcome(unchanged: 2))
    }

    /// An address that does not open costs that address: counted, and the
    /// rest goes on.
    @Test func anAddressThatDoesNotOpenIsCountedAndTheRestGoesOn() throws {
        let (live, table) = scenario()
        live.failing = [address("127.0.0.1:7004")]
        let job = ReloadJob(try answer(table, live: live), purpose: .reload)
        run(job, on: live)
        #expect(job.outcome.failed == 1)
        #expect(live.applied.last == .openAddress(address("127.0.0.1:7005"), for: "moved"))
        #expect(live.listeners[address("127.0.0.1:7005")] != nil)
    }

    /// A loader that died between two frames, a frame of the wrong kind,
    /// or an unchanged service that is not live: the job ends having
    /// decided nothing, and the old table keeps serving.
    @Test func aMalformedAnswerIsRejectedBeforeAnyEffect() throws {
        let (live, table) = scenario()
        var broken: [TableStream] = [try answer(table, live: live, announced: table.count + 1)]
        var bytes = FrameWriter.frame(.header, try PackedCoding.encode(TableLoadProcess.Header(maxChildren: 10, services: 2)))
        bytes += FrameWriter.frame(.changed, try PackedCoding.encode(table[1]))
        bytes += FrameWriter.frame(.header, try PackedCoding.encode(TableLoadProcess.Header(maxChildren: 10, services: 2)))
        broken.append(try TableStream.open(bytes, file: "s.yaml").get())
        bytes = FrameWriter.frame(.header, try PackedCoding.encode(TableLoadProcess.Header(maxChildren: 10, services: 1)))
        bytes += FrameWriter.frame(.unchanged, Array("nobody".utf8))
        broken.append(try TableStream.open(bytes, file: "s.yaml").get())
        bytes = FrameWriter.frame(.header, try PackedCoding.encode(TableLoadProcess.Header(maxChildren: 10, services: 1)))
        bytes += FrameWriter.frame(.changed, [1, 2, 3])
        broken.append(try TableStream.open(bytes, file: "s.yaml").get())
        for stream in broken {
            let job = ReloadJob(stream, purpose: .reload)
            run(job, on: live)
            #expect(job.malformed)
            #expect(live.applied.isEmpty)
        }
        // The same table, whole, is not.
        let job = ReloadJob(try answer(table, live: live), purpose: .reload)
        run(job, on: live)
        #expect(!job.malformed && !live.applied.isEmpty)
    }

    /// A step takes at least one item, whatever its budget: a budget of 0
    /// (or a clock that stands still) still gets to the end, one item a step.
    @Test func aStepBudgetOfZeroStillProgresses() throws {
        let (whole, table) = scenario()
        run(ReloadJob(try answer(table, live: whole), purpose: .reload), on: whole)

        let (live, _) = scenario()
        let job = ReloadJob(try answer(table, live: live), purpose: .reload)
        let steps = run(job, on: live, budget: 0, clock: FakeClock(tick: 0))
        #expect(live.applied == whole.applied)
        #expect(steps > live.applied.count, "one item a step: decoding and planning are items too")
        #expect(job.blocked == 0 && job.longest == 0)
    }

    /// A step ends once its budget of the clock has passed: with a clock
    /// that moves 1 a reading, a budget of 3 takes three items a step.
    @Test func aStepEndsWhenItsBudgetIsSpent() throws {
        let (one, table) = scenario()
        let items = run(ReloadJob(try answer(table, live: one), purpose: .reload), on: one, budget: 0, clock: FakeClock(tick: 0))

        let (live, _) = scenario()
        let job = ReloadJob(try answer(table, live: live), purpose: .reload)
        let steps = run(job, on: live, budget: 3, clock: FakeClock(tick: 1))
        #expect(steps == (items + 2) / 3)
        #expect(live.applied == one.applied)
        #expect(job.longest == 3)
        #expect(job.blocked == UInt64(items))
    }
}

/// The live table as plain values, and the loop's part of each effect.
final class FakeTable: ReloadView {
    var services: [String: ServiceConfig]
    var listeners: [ListenAddress: (owner: String, backlog: Int)] = [:]
    /// Addresses that do not open.
    var failing: Set<ListenAddress> = []
    private(set) var applied: [ReloadEffect] = []

    init(services: [ServiceConfig]) {
        self.services = Dictionary(uniqueKeysWithValues: services.map { ($0.name, $0) })
        for s in services { for a in s.addresses { listeners[a] = (s.name, s.backlog) } }
    }

    var serviceNames: [String] { Array(services.keys) }
    func config(of service: String) -> ServiceConfig? { services[service] }
    var listening: Set<ListenAddress> { Set(listeners.keys) }
    func listener(at address: ListenAddress) -> (owner: String, backlog: Int)? { listeners[address] }

    func apply(_ effect: ReloadEffect) -> Bool {
        applied.append(effect)
        switch effect {
        case .addService(let c), .changeService(let c): services[c.name] = c
        case .setMaxChildren, .refreshAll: break
        case .giveAddress(let a, let owner): listeners[a]?.owner = owner
        case .setBacklog(let a, let backlog): listeners[a]?.backlog = backlog
        case .removeService(let name): services[name] = nil
        case .closeAddress(let a): listeners[a] = nil
        case .openAddress(let a, let owner):
            guard !failing.contains(a) else { return false }
            listeners[a] = (owner, services[owner]!.backlog)
        }
        return true
    }
}

/// A clock that moves `tick` each time it is read.
final class FakeClock {
    private var now: UInt64 = 1_000_000
    let tick: UInt64
    init(tick: UInt64 = 1) { self.tick = tick }
    func read() -> UInt64 {
        now += tick
        return now
    }
}
