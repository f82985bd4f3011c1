import Testing
@testable import SwinetdCore

@Suite struct BackoffTests {
    @Test func itDoublesUpToTheLastAndStartsOverWhenReset() {
        var b = Backoff(first: 5, last: 60)
        #expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()] == [5, 10, 20, 40, 60, 60])
        #expect(b.upcoming == 60)
        b.reset()
        #expect(b.upcoming == 5 && b.next() == 5 && b.upcoming == 10)
    }

    @Test func aLastThatIsNotAPowerOfTwoTimesTheFirstIsReachedAndKept() {
        var b = Backoff(first: 100, last: 250)
        #expect([b.next(), b.next(), b.next(), b.next()] == [100, 200, 250, 250])
    }

    @Test func doublingNeverOverflows() {
        var b = Backoff(first: UInt64.max / 2 + 1, last: .max)
        #expect(b.next() == UInt64.max / 2 + 1)
        #expect(b.next() == .max && b.next() == .max)
    }

    @Test func aHandedOverWaitGoesOnWhereItWasWithinItsBounds() {
        var b = Backoff(first: 5, last: 60, upcoming: 20)
        #expect(b.next() == 20 && b.next() == 40)
        #expect(Backoff(first: 5, last: 60, upcoming: 0).upcoming == 5, "below the first: the first")
        #expect(Backoff(first: 5, last: 60, upcoming: 1000).upcoming == 60, "above the last: the last")
    }
}
