#if canImport(Glibc)
import Glibc
#endif

/// `GET /metrics` over HTTP/1.1 from the master, on the table's `metrics`
/// addresses: the same text as `swinetd status --format prometheus`.
/// Requests of at most 8 KiB, at most 16 scrapes at once and 20 a second,
/// fewer for a large text (at most 8 MiB of it a second: 5 scrapes of a
/// 1000-service table's 1.5 MB), beyond which the listeners are not
/// watched and scrapers wait in the kernel's queue; 5 seconds each;
/// anything but `GET /metrics` gets 404 or 400. The text is built at most
/// once a second and served from that copy meanwhile: scrapers, however
/// many and however fast, cost the loop one build a second and a bounded
/// number of bytes to send, and serving goes on.
final class MetricsServer {
    static let maxRequest = 8 * 1024
    static let maxScrapes = 16
    static let timeout = 5 * Nanoseconds.perSecond
    /// How long a built response is served again.
    static let cachePeriod = Nanoseconds.perSecond
    /// Scrapes accepted a second, and at most saved up, for a small text.
    static let scrapesPerSecond: UInt64 = 20
    /// The text sent a second, at most: a large table's scrapes are fewer
    /// (copying 30 MB a second through loopback took a quarter of the
    /// services' throughput on two cores).
    static let bytesPerSecond = 8 << 20

    /// The scrapes a second for a response of `size` bytes (one at least,
    /// so a text over 8 MiB still goes out once a second).
    static func rate(forResponseOf size: Int) -> UInt64 {
        max(1, min(scrapesPerSecond, UInt64(bytesPerSecond / max(1, size))))
    }
    /// Room in the kernel's queue for scrapers beyond the 16: a full queue
    /// with SYN cookies on resets the next ones instead of making them wait.
    static let backlog = 512

    final class Endpoint {
        let address: ListenAddress
        let fd: Int32
        /// Its place in the epoll set (out while scrapes are at their limit).
        fileprivate(set) var watch: Watch
        var token: EventToken { watch.token }
        init(address: ListenAddress, fd: Int32) {
            self.address = address
            self.fd = fd
            watch = Watch(.next(.metrics, fd: fd))
        }
    }

    private(set) var endpoints: [ListenAddress: Endpoint] = [:]
    let conversations: Conversations
    private let epoll: Epoll
    /// The scrapes a second (`rate`); empty, the listeners are not watched until its next token.
    private(set) var budget: TokenBucket
    private(set) var rate = MetricsServer.scrapesPerSecond
    /// A timer is set for the budget's next token.
    private(set) var budgetTimer = false
    /// The budget ran out and scrapers may be waiting (logged once, as `paused`).
    private(set) var throttled = false
    /// The last `200 OK` response, where its head ends (for HEAD), and when it was built.
    private(set) var cached: (response: [UInt8], headLength: Int, at: UInt64)?
    /// How many times the text was built for a scrape.
    private(set) var renders: UInt64 = 0

    init(epoll: Epoll, now: UInt64) {
        self.epoll = epoll
        budget = TokenBucket(rate: Self.scrapesPerSecond, burst: Self.scrapesPerSecond, now: now)
        conversations = Conversations(kind: .metricsClient, epoll: epoll, maxRequest: Self.maxRequest, timeout: Self.timeout) { input in
            // The request ends with its headers (a GET has no body).
            for i in input.indices.dropFirst(1) where input[i] == 10 {
                if input[i - 1] == 10 { return i + 1 }
                if i >= 3, input[i - 1] == 13, input[i - 2] == 10 { return i + 1 }
            }
            return nil
        }
    }

    /// Serves `fd` (listening, non-blocking) at `address`; watched from the next `refresh`.
    func addEndpoint(_ address: ListenAddress, fd: Int32) {
        endpoints[address] = Endpoint(address: address, fd: fd)
    }

    /// Closes the endpoints at addresses not in `kept`; returns their addresses.
    func closeEndpoints(keeping kept: [ListenAddress]) -> [ListenAddress] {
        var closed: [ListenAddress] = []
        for (address, e) in endpoints where !kept.contains(address) {
            e.watch.set(false, in: epoll)
            closeDescriptor(e.fd)
            endpoints[address] = nil
            closed.append(address)
        }
        return closed
    }

    /// What a `refresh` found for the loop to do.
    struct Refresh {
        /// The budget just ran out: a `paused` line is due.
        var paused = false
        /// A timer is due at the budget's next token.
        var timerAt: UInt64?
    }

    /// Watches the listeners while fewer than 16 scrapes run and the budget
    /// has a scrape left (never once `stopping`); when it has none, asks for
    /// a timer at its next one (scrapers wait in the kernel's queue meanwhile).
    func refresh(now: UInt64, stopping: Bool) -> Refresh {
        var refresh = Refresh()
        let hasToken = budget.hasToken(now: now)
        if !hasToken && !stopping {
            if !throttled {
                throttled = true
                refresh.paused = true
            }
            if !budgetTimer {
                budgetTimer = true
                refresh.timerAt = budget.nextToken(now: now)
            }
        }
        let want = conversations.count < Self.maxScrapes && !stopping && hasToken
        for e in endpoints.values { e.watch.set(want, in: epoll) }
        return refresh
    }

    /// The budget's timer fired.
    func budgetTimerFired() { budgetTimer = false }

    /// Accepts scrapes on `e` while the budget and the limit allow; true
    /// when its queue was found empty after a pause (a `resumed` line is due).
    func acceptScrapes(_ e: Endpoint, now: UInt64) -> (added: Int, resumed: Bool) {
        var added = 0
        while conversations.count < Self.maxScrapes && budget.hasToken(now: now) {
            var peer = sockaddr_storage()
            switch Socket.accept(e.fd, peer: &peer, nonBlocking: true) {
            case .accepted(let fd):
                _ = budget.take(now: now)
                if conversations.add(fd, now: now) != nil { added += 1 }
            case .empty:
                let resumed = throttled
                throttled = false
                return (added, resumed)
            case .failed:
                return (added, false)
            }
        }
        return (added, false)
    }

    /// The `200 OK` response to a scrape: the one built less than a second
    /// ago, or a new one of `text()`.
    func okResponse(now: UInt64, text: () -> String) -> (response: [UInt8], headLength: Int) {
        if let c = cached, Nanoseconds.since(now, c.at) < Self.cachePeriod { return (c.response, c.headLength) }
        let built = Self.ok(text())
        // Counted once built: the text shows the renders before it, as
        // `status --format prometheus` at the same moment does.
        renders &+= 1
        cached = (built.response, built.headLength, now)
        let rate = Self.rate(forResponseOf: built.response.count)
        if rate != self.rate {
            self.rate = rate
            budget = budget.withRate(rate, now: now)
        }
        return built
    }

    /// The response to one request's head; `metrics` gives the `200 OK`
    /// response to a GET and where its head ends.
    static func response(to head: [UInt8], metrics: () -> (response: [UInt8], headLength: Int)) -> [UInt8] {
        let firstLine = head.prefix { $0 != 13 && $0 != 10 }
        let parts = firstLine.split(separator: 32, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else { return respond(400, "Bad Request", "bad request\n") }
        guard parts[0] == "GET" || parts[0] == "HEAD" else { return respond(400, "Bad Request", "only GET /metrics is served\n") }
        let path = parts[1].split(separator: "?", maxSplits: 1).first.map(String.init) ?? ""
        guard path == "/metrics" else { return respond(404, "Not Found", "only /metrics is here\n") }
        let ok = metrics()
        return parts[0] == "HEAD" ? Array(ok.response[0..<ok.headLength]) : ok.response
    }

    /// The `200 OK` response that carries `text`, and where its head ends.
    static func ok(_ text: String) -> (response: [UInt8], headLength: Int) {
        var response = Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: \(text.utf8.count)\r\nConnection: close\r\n\r\n".utf8)
        let headLength = response.count
        response += text.utf8
        return (response, headLength)
    }

    /// The answer to a request head longer than `maxRequest`.
    static let tooLong = respond(431, "Request Header Fields Too Large", "request head too long: at most \(maxRequest) bytes\n")

    private static func respond(_ code: Int, _ reason: String, _ body: String, type: String = "text/plain; charset=utf-8", head: Bool = false) -> [UInt8] {
        let bytes = Array(body.utf8)
        var out = Array("HTTP/1.1 \(code) \(reason)\r\nContent-Type: \(type)\r\nContent-Length: \(bytes.count)\r\nConnection: close\r\n\r\n".utf8)
        if !head { out += bytes }
        return out
    }
}

extension Supervisor {
    /// Puts the table's `metrics` addresses in place: keeps the sockets of
    /// addresses that stay, opens new ones, closes the rest. Returns how
    /// many could not be opened (logged).
    func applyMetrics(_ addresses: [ListenAddress]) -> Int {
        if addresses.isEmpty && metrics == nil { return 0 }
        let m = metrics ?? MetricsServer(epoll: epoll, now: now)
        metrics = m
        var failed = 0
        for address in m.closeEndpoints(keeping: addresses) {
            log.event(.notice, "metrics", "closed", ["address": .string(address.description)])
        }
        for address in addresses where m.endpoints[address] == nil {
            // A socket handed over (systemd's, or the replaced image's in an upgrade).
            if let handed = inherited.take(address) {
                _ = fcntl(handed.fd, F_SETFL, fcntl(handed.fd, F_GETFL) | O_NONBLOCK)
                m.addEndpoint(address, fd: handed.fd)
                log.event(.notice, "metrics", "listening", ["address": .string(address.description), "from": .string(handed.origin)])
                continue
            }
            switch Socket.listen(address, backlog: MetricsServer.backlog) {
            case .success(let fd):
                m.addEndpoint(address, fd: fd)
                log.event(.notice, "metrics", "listening", ["address": .string(address.description)])
            case .failure(let e):
                log.event(.error, "metrics", "error", ["address": .string(address.description), "op": .string(e.step), "error": .string(e.errno.text)])
                failed += 1
            }
        }
        refreshMetricsListeners()
        return failed
    }

    /// Watches the metrics listeners as MetricsServer says, and logs and
    /// sets the timer it asks for.
    func refreshMetricsListeners() {
        guard let m = metrics else { return }
        let r = m.refresh(now: now, stopping: stop != nil)
        if r.paused { log.event(.notice, "metrics", "paused", ["reason": .string("rate"), "rate": .string("\(m.rate)/s")]) }
        if let at = r.timerAt { timers.add(.metricsBudget, at: at) }
    }

    func metricsAcceptable(_ token: EventToken) {
        guard let m = metrics, let e = m.endpoints.values.first(where: { $0.token == token }) else { return }
        acceptScrapes(m, e)
        refreshMetricsListeners()
    }

    private func acceptScrapes(_ m: MetricsServer, _ e: MetricsServer.Endpoint) {
        let accepted = m.acceptScrapes(e, now: now)
        if accepted.added > 0 { scheduleConversationSweep(of: m.conversations) }
        if accepted.resumed { log.event(.notice, "metrics", "resumed", ["reason": .string("rate")]) }
    }

    /// The budget has its next scrape: watch again, and accept at once, so
    /// that a queue found empty ends the episode (`resumed`).
    func metricsBudgetReady() {
        guard let m = metrics else { return }
        m.budgetTimerFired()
        refreshMetricsListeners()
        for e in m.endpoints.values where e.watch.isOn { acceptScrapes(m, e) }
        refreshMetricsListeners()
    }

    func metricsReady(_ token: EventToken, bits: UInt32) {
        guard let m = metrics else { return }
        switch m.conversations.ready(token, bits: bits) {
        case .none: break
        case .tooLong(let c):
            m.conversations.reply(c, MetricsServer.tooLong, now: now)
        case .request(let c, let head):
            let response = MetricsServer.response(to: head) {
                m.okResponse(now: now) { statusReport(only: [], verbose: false).prometheus() }
            }
            m.conversations.reply(c, response, now: now)
        }
        refreshMetricsListeners()
    }

    func closeMetrics() {
        _ = applyMetrics([])
        metrics?.conversations.closeAll()
        metrics = nil
    }
}

// MARK: Handover

extension MetricsServer {
    /// What the metrics listeners hand to the next image at an upgrade:
    /// each listening socket by address, which the new image takes back
    /// instead of binding it (the scrape budget starts afresh: it bounds
    /// the master's work, not a client's).
    struct Snapshot: Codable, Equatable {
        struct Endpoint: Codable, Equatable {
            var address: ListenAddress
            var fd: Int32
        }
        var endpoints: [Endpoint] = []
    }

    func snapshot() -> Snapshot {
        Snapshot(endpoints: endpoints.values.sorted { $0.address < $1.address }.map { .init(address: $0.address, fd: $0.fd) })
    }
}
