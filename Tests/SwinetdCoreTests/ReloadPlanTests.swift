import Testing
@testable import SwinetdCore

/// Reload's mark and sweep as a value: which services are added, removed,
/// changed; which sockets stay, close, open, and who owns each.
@Suite struct ReloadPlanTests {
    func address(_ s: String) -> ListenAddress { try! ListenAddress.parse(s).get()[0] }

    func config(_ name: String, _ listen: String, args: [String] = [], enabled: Bool = true) -> ServiceConfig {
        ServiceConfig(name: name, listen: [ListenSpec(text: listen, addresses: try! ListenAddress.parse(listen).get(), ipv6IsOptional: false)],
                      exec: "/bin/cat", argv: ["cat"] + args, user: nil, group: nil, credentials: nil, env: [], cwd: "/",
                      maxConnections: 64, backlog: 128, stderr: .log, enabled: enabled)
    }

    func table(_ services: ServiceConfig...) -> ServiceTable { ServiceTable(services: services, maxChildren: 1024) }

    /// Bug 8 as a value: a kept address under a new name goes to the new
    /// service; the retired one owns nothing, so nothing of it can take the
    /// socket out of the loop later.
    @Test func aRenamedServiceTakesItsAddressAlong() {
        let a = address("127.0.0.1:7000")
        let plan = ReloadPlan.make(current: ["first": config("first", "127.0.0.1:7000")], listening: [a],
                                   table: table(config("second", "127.0.0.1:7000")))
        #expect(plan.added == ["second"] && plan.removed == ["first"])
        #expect(plan.owners == [a: "second"])
        #expect(plan.close.isEmpty && plan.open.isEmpty, "the very socket is kept")
    }

    @Test func addRemoveChangeAndKeep() {
        let current = ["a": config("a", "127.0.0.1:7000"), "b": config("b", "127.0.0.1:7001"), "c": config("c", "127.0.0.1:7002")]
        let listening: Set = [address("127.0.0.1:7000"), address("127.0.0.1:7001"), address("127.0.0.1:7002")]
        let plan = ReloadPlan.make(current: current, listening: listening, table: table(
            config("a", "127.0.0.1:7000"), config("b", "127.0.0.1:7001", args: ["-u"]), config("d", "127.0.0.1:7003")))
        #expect(plan.unchanged == ["a"] && plan.changed == ["b"] && plan.added == ["d"] && plan.removed == ["c"])
        #expect(plan.close == [address("127.0.0.1:7002")])
        #expect(plan.open == [address("127.0.0.1:7003")])
    }

    @Test func aDisabledServiceListensNowhere() {
        let a = address("127.0.0.1:7000")
        let plan = ReloadPlan.make(current: ["a": config("a", "127.0.0.1:7000")], listening: [a],
                                   table: table(config("a", "127.0.0.1:7000", enabled: false)))
        #expect(plan.changed == ["a"])
        #expect(plan.close == [a] && plan.owners.isEmpty)
    }

    /// Equality is synthesized: any field that differs makes a change.
    @Test func everyFieldTakesPartInChange() {
        let base = config("a", "127.0.0.1:7000")
        var other = base
        other.env = [EnvVar(name: "X", value: "1")]
        #expect(base != other)
        other = base
        other.listen[0].ipv6IsOptional = true
        #expect(base != other)
    }
}
