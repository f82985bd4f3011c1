import Testing
@testable import SwinetdCore
#if canImport(Glibc)
import Glibc
#endif

/// `listen: ./NAME`: a UNIX socket beside the file that names it, so the
/// example table works for any user and as root without a shared folder
/// such as /tmp, where any local user could take the path first.
@Suite struct RelativeSocketPathTests {
    private func paths(_ yaml: String, file: String) throws -> [String] {
        let table = try TableLoader().load(bytes: Array(yaml.utf8), file: file).get()
        return table.services.flatMap { $0.addresses.compactMap(\.path) }
    }

    @Test func aDotSlashPathIsBesideTheTable() throws {
        let yaml = "services:\n  a:\n    listen: ./a.sock\n    exec: /bin/cat\n  b:\n    listen: [../run/b.sock]\n    exec: /bin/cat\n"
        #expect(try paths(yaml, file: "/etc/swinetd/services.yaml") == ["/etc/swinetd/a.sock", "/etc/swinetd/../run/b.sock"])
        var buffer = [CChar](repeating: 0, count: 4096)
        let cwd = String(cString: getcwd(&buffer, buffer.count))
        #expect(try paths(yaml, file: "services.yaml") == [cwd + "/a.sock", cwd + "/../run/b.sock"])
        #expect(try paths(yaml, file: "conf/services.yaml") == [cwd + "/conf/a.sock", cwd + "/conf/../run/b.sock"])
    }

    /// A table in "/" itself: beside it is "/", not the working directory.
    @Test func aTableAtTheRootPutsItsSocketsAtTheRoot() throws {
        let yaml = "services:\n  a:\n    listen: ./a.sock\n    exec: /bin/cat\n"
        #expect(try paths(yaml, file: "/services.yaml") == ["/a.sock"])
    }

    @Test func aBareNameIsStillNotAnAddress() {
        let got = diagnostics("services:\n  a:\n    listen: a.sock\n    exec: /bin/cat\n")
        #expect(got.count == 1 && got[0].contains("malformed address 'a.sock'"), "\(got)")
    }

    @Test func theShippedExamplePutsItsSocketBesideItselfNotInTmp() throws {
        // A 0644 copy in a folder of its own: as root the loader refuses a
        // checkout others can write (umask 002), and the path is the point.
        let copy = PrivateCopy(fixtures + "../../../services.yaml", as: "services.yaml")
        defer { copy.remove() }
        let file = copy.path
        let table = try TableLoader().load(path: file).get()
        let sockets = table.services.flatMap { $0.addresses.compactMap(\.path) }
        #expect(sockets == [String(file.dropLast("services.yaml".count)) + "hello.sock"], "\(sockets)")
        #expect(!String(decoding: read(file), as: UTF8.self).contains("/tmp"))
    }
}
