/// Cuts a byte stream into log lines, however it arrives: a line is logged
/// whole when it fits in `maxLine` bytes, and otherwise as its first
/// `maxLine` bytes (ending on a character boundary) with the number of bytes
/// left out. A line is never buffered beyond the cap, whatever one read
/// brings.
struct LineAssembler {
    static let maxLine = 4096

    private var pending: [UInt8] = []
    /// Bytes of the current line left out so far.
    private var truncated = 0

    /// Feeds `bytes`; `emit(line, truncated)` gets each complete line
    /// (without its newline or a trailing CR).
    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: ([UInt8], Int) -> Void) {
        var start = 0
        while start < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[start...])
            let newline = rest.firstIndex(of: 10).map { start + $0 }
            let end = newline ?? bytes.count
            take(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
            guard newline != nil else { return }
            finishLine(emit)
            start = end + 1
        }
    }

    /// At the end of the stream: what is left, as a last line.
    mutating func finish(_ emit: ([UInt8], Int) -> Void) {
        if !pending.isEmpty || truncated > 0 { finishLine(emit) }
    }

    private mutating func take(_ segment: UnsafeRawBufferPointer) {
        let room = Self.maxLine - pending.count
        if segment.count <= room {
            pending.append(contentsOf: segment)
        } else {
            pending.append(contentsOf: segment.prefix(room))
            truncated += segment.count - room
        }
    }

    private mutating func finishLine(_ emit: ([UInt8], Int) -> Void) {
        if pending.last == 13 { pending.removeLast() }
        if truncated > 0 {
            // Do not end on half a character.
            var cut = pending.count
            while cut > 0 && pending[cut - 1] & 0xC0 == 0x80 { cut -= 1 }
            if cut > 0 && pending[cut - 1] >= 0xC0 {
                let lead = pending[cut - 1]
                let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2
                if pending.count - (cut - 1) < length { cut -= 1 } else { cut = pending.count }
            } else {
                cut = pending.count
            }
            truncated += pending.count - cut
            pending.removeSubrange(cut...)
        }
        emit(pending, truncated)
        pending.removeAll(keepingCapacity: true)
        truncated = 0
    }
}

/// A token bucket over the monotonic clock: one token every `interval`
/// nanoseconds, at most `burst` saved up. It bounds how many lines a handler
/// may log, how fast a service accepts (`rate`) and how often one client
/// group connects (`source_rate`).
struct TokenBucket: Equatable, Codable {
    let burst: UInt64
    /// Nanoseconds of credit one token costs.
    let cost: UInt64
    private var credit: UInt64
    private var updated: UInt64

    init(interval: UInt64, burst: UInt64, now: UInt64) {
        self.burst = max(burst, 1)
        self.cost = max(interval, 1)
        self.credit = self.burst * cost
        self.updated = now
    }

    /// `rate` tokens a second.
    init(rate: UInt64, burst: UInt64, now: UInt64) {
        self.init(interval: Nanoseconds.perSecond / max(rate, 1), burst: burst, now: now)
    }

    mutating func take(now: UInt64) -> Bool {
        refill(now)
        guard credit >= cost else { return false }
        credit -= cost
        return true
    }

    /// Whether a token is there to take, without taking it.
    func hasToken(now: UInt64) -> Bool {
        var copy = self
        copy.refill(now)
        return copy.credit >= cost
    }

    /// Whether it has saved up all it can (it forgets nothing by being dropped).
    func isFull(now: UInt64) -> Bool {
        var copy = self
        copy.refill(now)
        return copy.credit >= burst * cost
    }

    /// The same bucket at `rate` a second (saving up as many), keeping the
    /// whole tokens it has left, never more than the new burst: a change of
    /// rate grants nothing (an emptied bucket stays empty).
    func withRate(_ rate: UInt64, now: UInt64) -> TokenBucket {
        var copy = self
        copy.refill(now)
        var next = TokenBucket(rate: rate, burst: rate, now: now)
        next.credit = min(next.burst, copy.credit / copy.cost) * next.cost
        return next
    }

    /// When the next token is due.
    func nextToken(now: UInt64) -> UInt64 {
        var copy = self
        copy.refill(now)
        return copy.credit >= cost ? now : now + (cost - copy.credit)
    }

    private mutating func refill(_ now: UInt64) {
        credit = min(burst * cost, Nanoseconds.adding(credit, Nanoseconds.since(now, updated)))
        updated = max(updated, now)
    }
}
