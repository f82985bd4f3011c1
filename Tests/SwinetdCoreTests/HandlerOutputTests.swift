import Testing
@testable import SwinetdCore

/// Handler stderr turned into lines: capped, and limited per second.
@Suite struct LineAssemblerTests {
    func lines(_ chunks: [[UInt8]], finish: Bool = true) -> [(String, Int)] {
        var a = LineAssembler()
        var out: [(String, Int)] = []
        for chunk in chunks {
            chunk.withUnsafeBytes { a.feed($0) { out.append((String(decoding: $0, as: UTF8.self), $1)) } }
        }
        if finish { a.finish { out.append((String(decoding: $0, as: UTF8.self), $1)) } }
        return out
    }

    @Test func linesSplitAcrossReads() {
        let got = lines([Array("one\ntw".utf8), Array("o\r\nthree".utf8)])
        #expect(got.map(\.0) == ["one", "two", "three"] && got.allSatisfy { $0.1 == 0 })
    }

    /// One read that brings a 60,000-byte line logs 4096 bytes of it.
    @Test func aLongLineInOneReadIsCapped() {
        let got = lines([Array(repeating: UInt8(ascii: "x"), count: 60_000) + [10]])
        #expect(got.count == 1)
        #expect(got[0].0.utf8.count == LineAssembler.maxLine && got[0].1 == 60_000 - LineAssembler.maxLine)
    }

    @Test func aCutNeverSplitsACharacter() {
        // 4095 bytes, then "é" (2 bytes) straddling the cap.
        let got = lines([Array(repeating: UInt8(ascii: "x"), count: 4095) + Array("é\n".utf8)])
        #expect(got[0].0.utf8.count == 4095 && got[0].1 == 2)
        #expect(!got[0].0.unicodeScalars.contains("\u{FFFD}"))
    }

    @Test func anUnterminatedLastLineIsKept() {
        #expect(lines([Array("no newline".utf8)]).map(\.0) == ["no newline"])
        #expect(lines([Array("no newline".utf8)], finish: false).isEmpty)
    }

    @Test func theBucketRefillsAtItsRate() {
        let s = Nanoseconds.perSecond
        var b = TokenBucket(rate: 100, burst: 100, now: 0)
        for _ in 0..<100 { let took = b.take(now: 0); #expect(took) }
        let empty = b.take(now: 0)
        #expect(!empty)
        #expect(b.nextToken(now: 0) == s / 100)
        let early = b.take(now: s / 100 - 1)
        #expect(!early)
        let due = b.take(now: s / 100)
        #expect(due)
        // A long quiet spell saves up no more than the burst.
        var taken = 0
        while b.take(now: 100 * s) { taken += 1 }
        #expect(taken == 100)
    }
}

/// Log values that cannot forge lines.
@Suite struct LogTextTests {
    func text(_ s: String) -> String {
        var line: [UInt8] = []
        LogText.appendText(s, to: &line)
        return String(decoding: line, as: UTF8.self)
    }

    func json(_ s: String) -> String {
        var line: [UInt8] = []
        LogText.appendJSON(s, to: &line)
        return String(decoding: line, as: UTF8.self)
    }

    @Test func plainValuesStayBare() {
        #expect(text("127.0.0.1:80") == "127.0.0.1:80")
        #expect(text("héllo") == "héllo")
        #expect(text("") == #""""#)
        #expect(text("a b") == #""a b""#)
    }

    @Test func lineBreaksAndDirectionChangesAreEscaped() {
        #expect(text("a\u{85}b") == #""a\u0085b""#)
        #expect(text("a\u{2028}b\u{2029}c") == #""a\u2028b\u2029c""#)
        #expect(text("\u{202E}evil") == #""\u202eevil""#)
        #expect(text("x\u{2066}y\u{9B}z") == #""x\u2066y\u009bz""#)
        #expect(text("a\nb\u{1b}") == #""a\nb\x1b""#)
        #expect(json("a\u{85}b\u{1}") == #""a\u0085b\u0001""#)
        #expect(json("é\u{2028}") == #""é\u2028""#)
    }
}
