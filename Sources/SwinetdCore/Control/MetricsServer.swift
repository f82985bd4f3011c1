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
        let token: EventToken
        var watched = false
        init(address: ListenAddress, fd: Int32) {
            self.address = address
            self.fd = fd
            token = .next(.metrics, fd: fd)
        }
    }

    var endpoints: [ListenAddress: Endpoint] = [:]
    let conversations: Conversations
    /// The scrapes a second (`rate`); empty, the listeners are not watched until its next token.
    var budget: TokenBucket
    var rate = MetricsServer.scrapesPerSecond
    /// A timer is set for the budget's next token.
    var budgetTimer = false
    /// The budget ran out and scrapers may be waiting (logged once, as `paused`).
    var throttled = false
    /// The last `200 OK` response, where its head ends (for HEAD), and when it was built.
    var cached: (response: [UInt8], headLength: Int, at: UInt64)?
    /// How many times the text was built for a scrape.
    var renders: UInt64 = 0

    init(epoll: Epoll, now: UInt64) {
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
        for (address, e) in m.endpoints where !addresses.contains(address) {
            if e.watched { epoll.remove(e.fd) }
            closeDescriptor(e.fd)
            m.endpoints[address] = nil
            log.event(.notice, "metrics", "closed", ["address": .string(address.description)])
        }
        for address in addresses where m.endpoints[address] == nil {
            // A socket handed over (systemd's, or the replaced image's in an upgrade).
            if let handed = inherited.take(address) {
                _ = fcntl(handed.fd, F_SETFL, fcntl(handed.fd, F_GETFL) | O_NONBLOCK)
                m.endpoints[address] = MetricsServer.Endpoint(address: address, fd: handed.fd)
                log.event(.notice, "metrics", "listening", ["address": .string(address.description), "from": .string(handed.origin)])
                continue
            }
            switch Socket.listen(address, backlog: MetricsServer.backlog) {
            case .success(let fd):
                m.endpoints[address] = MetricsServer.Endpoint(address: address, fd: fd)
                log.event(.notice, "metrics", "listening", ["address": .string(address.description)])
            case .failure(let e):
                log.event(.error, "metrics", "error", ["address": .string(address.description), "op": .string(e.step), "error": .string(e.errno.text)])
                failed += 1
            }
        }
        refreshMetricsListeners()
        return failed
    }

    /// Watches the metrics listeners while fewer than 16 scrapes run and
    /// the budget has a scrape left; when it has none, sets a timer for its
    /// next one (scrapers wait in the kernel's queue meanwhile).
    func refreshMetricsListeners() {
        guard let m = metrics else { return }
        let hasToken = m.budget.hasToken(now: now)
        if !hasToken && stop == nil {
            if !m.throttled {
                m.throttled = true
                log.event(.notice, "metrics", "paused", ["reason": .string("rate"), "rate": .string("\(m.rate)/s")])
            }
            if !m.budgetTimer {
                m.budgetTimer = true
                timers.add(.metricsBudget, at: m.budget.nextToken(now: now))
            }
        }
        let want = m.conversations.count < MetricsServer.maxScrapes && stop == nil && hasToken
        for e in m.endpoints.values where e.watched != want {
            if want {
                guard case .success = epoll.add(e.token) else { continue }
            } else {
                epoll.remove(e.fd)
            }
            e.watched = want
        }
    }

    func metricsAcceptable(_ token: EventToken) {
        guard let m = metrics, let e = m.endpoints.values.first(where: { $0.token == token }) else { return }
        acceptScrapes(m, e)
        refreshMetricsListeners()
    }

    private func acceptScrapes(_ m: MetricsServer, _ e: MetricsServer.Endpoint) {
        while m.conversations.count < MetricsServer.maxScrapes && m.budget.hasToken(now: now) {
            var peer = sockaddr_storage()
            switch Socket.accept(e.fd, peer: &peer, nonBlocking: true) {
            case .accepted(let fd):
                _ = m.budget.take(now: now)
                m.conversations.add(fd, now: now)
                scheduleConversationSweep()
            case .empty:
                if m.throttled {
                    m.throttled = false
                    log.event(.notice, "metrics", "resumed", ["reason": .string("rate")])
                }
                return
            case .failed:
                return
            }
        }
    }

    /// The budget has its next scrape: watch again, and accept at once, so
    /// that a queue found empty ends the episode (`resumed`).
    func metricsBudgetReady() {
        guard let m = metrics else { return }
        m.budgetTimer = false
        refreshMetricsListeners()
        for e in m.endpoints.values where e.watched { acceptScrapes(m, e) }
        refreshMetricsListeners()
    }

    /// The `200 OK` response to a scrape: the one built less than a second
    /// ago, or a new one.
    private func metricsResponse(_ m: MetricsServer) -> (response: [UInt8], headLength: Int) {
        if let c = m.cached, Nanoseconds.since(now, c.at) < MetricsServer.cachePeriod { return (c.response, c.headLength) }
        let built = MetricsServer.ok(statusReport(only: [], verbose: false).prometheus())
        // Counted once built: the text shows the renders before it, as
        // `status --format prometheus` at the same moment does.
        m.renders &+= 1
        m.cached = (built.response, built.headLength, now)
        let rate = MetricsServer.rate(forResponseOf: built.response.count)
        if rate != m.rate {
            m.rate = rate
            m.budget = m.budget.withRate(rate, now: now)
        }
        return built
    }

    func metricsReady(_ token: EventToken, bits: UInt32) {
        guard let m = metrics else { return }
        switch m.conversations.ready(token, bits: bits) {
        case .none: break
        case .tooLong(let c):
            m.conversations.reply(c, MetricsServer.tooLong, now: now)
        case .request(let c, let head):
            m.conversations.reply(c, MetricsServer.response(to: head) { metricsResponse(m) }, now: now)
        }
        refreshMetricsListeners()
    }

    func closeMetrics() {
        _ = applyMetrics([])
        metrics?.conversations.closeAll()
        metrics = nil
    }
}
