import Testing
@testable import SwinetdCore

/// A small deterministic generator, so a failure names a seed that reproduces it.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// No input crashes or hangs the loader: every variant of the example table
/// yields a table or at least one diagnostic.
@Suite struct MutationTests {
    static let example = read(fixtures + "../../../services.yaml")
    static let mistakes = read(fixtures + "mistakes.yaml")

    func check(_ bytes: [UInt8], _ what: String) {
        switch TableLoader().load(bytes: bytes, file: "m.yaml") {
        case .success(let table):
            #expect(!table.services.isEmpty, "\(what): a table with no services")
        case .failure(let e):
            #expect(!e.diagnostics.isEmpty, "\(what): failed without a diagnostic")
        }
    }

    @Test func everyTruncation() {
        for base in [Self.example, Self.mistakes] {
            for n in 0...base.count { check(Array(base.prefix(n)), "truncated at \(n)") }
        }
    }

    @Test func mutatedBytes() {
        let alphabet = Array(":-[]{}&*!|>'\"#%@`, \n\t?0123456789abcxyz/\\~".utf8) + [0, 0xff, 0xc3]
        var rng = SplitMix64(state: 0x5EED)
        for round in 0..<4000 {
            var bytes = round % 2 == 0 ? Self.example : Self.mistakes
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                let at = Int.random(in: 0..<max(bytes.count, 1), using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0 where !bytes.isEmpty: bytes[at] = alphabet.randomElement(using: &rng)!
                case 1: bytes.insert(alphabet.randomElement(using: &rng)!, at: min(at, bytes.count))
                case 2 where !bytes.isEmpty: bytes.remove(at: at)
                default:
                    // Duplicate a random line somewhere: duplicate keys and services.
                    let lines = bytes.split(separator: 10, omittingEmptySubsequences: false)
                    let line = lines.randomElement(using: &rng) ?? []
                    bytes.insert(contentsOf: Array(line) + [10], at: min(at, bytes.count))
                }
            }
            check(bytes, "mutation round \(round)")
        }
    }

    @Test func randomBytes() {
        var rng = SplitMix64(state: 42)
        for round in 0..<1000 {
            let n = Int.random(in: 0..<400, using: &rng)
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            check(bytes, "random round \(round)")
        }
    }

    @Test func deepNestingAndLongScalars() {
        check(Array(String(repeating: "[", count: 10_000).utf8), "deep sequence")
        check(Array(String(repeating: "{a: ", count: 5_000).utf8), "deep mapping")
        check(Array(("services:\n  a:\n    listen: \"" + String(repeating: "9", count: 100_000) + "\"\n    exec: /bin/cat\n").utf8), "long port")
    }
}
