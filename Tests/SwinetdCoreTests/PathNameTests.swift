import Testing
@testable import SwinetdCore
#if canImport(Glibc)
import Glibc
#endif

/// The one split of a path into folder and name, and the one way to make
/// a path absolute, that the socket files, the table, import and the
/// daemon's flags share.
@Suite struct PathNameTests {
    @Test func splitGivesTheFolderAndTheName() {
        #expect(PathName.split("/run/swinetd/control") == ("/run/swinetd", "control"))
        #expect(PathName.split("/control") == ("/", "control"))
        #expect(PathName.split("control") == (".", "control"))
        #expect(PathName.split("conf/services.yaml") == ("conf", "services.yaml"))
        #expect(PathName.split("dir/") == ("dir", ""))
    }

    @Test func absoluteStartsFromTheWorkingDirectory() throws {
        var buffer = [CChar](repeating: 0, count: 4096)
        try #require(getcwd(&buffer, buffer.count) != nil)
        let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(PathName.absolute("/etc/swinetd") == "/etc/swinetd")
        #expect(PathName.absolute("services.yaml") == (cwd == "/" ? "" : cwd) + "/services.yaml")
        #expect(PathName.absolute(".") == cwd)
    }
}
