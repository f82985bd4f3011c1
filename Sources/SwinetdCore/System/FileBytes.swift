#if canImport(Glibc)
import Glibc
#endif

/// Reading a whole (small) regular file, for the table. The file is opened
/// with O_NONBLOCK, so a FIFO or a device put in its place never blocks the
/// open, and anything but a regular file is refused before a byte is read.
enum FileBytes {
    enum Failure: Error, Equatable {
        case system(Errno)
        case notRegular(String)
        case tooLarge(limit: Int)

        var text: String {
            switch self {
            case .system(let e): return e.text
            case .notRegular(let what): return "not a regular file (\(what))"
            case .tooLarge(let limit): return "the file is larger than \(limit / (1 << 20)) MiB"
            }
        }
    }

    static func read(_ path: String, limit: Int = 64 << 20) -> Result<[UInt8], Failure> {
        let fd: Int32
        switch syscallResult({ open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY) }) {
        case .success(let d): fd = d
        case .failure(let e): return .failure(.system(e))
        }
        defer { closeDescriptor(fd) }
        return read(descriptor: fd, limit: limit)
    }

    /// Why a file of mode `mode` is not one to read (nil for a regular file).
    static func kindProblem(_ mode: mode_t) -> Failure? {
        switch mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return .system(.isDirectory)
        case S_IFIFO: return .notRegular("a FIFO")
        case S_IFCHR, S_IFBLK: return .notRegular("a device")
        case S_IFSOCK: return .notRegular("a socket")
        default: return .notRegular("of an unknown kind")
        }
    }

    /// The whole of the open file `fd` (not closed here), at most `limit` bytes.
    static func read(descriptor fd: Int32, limit: Int) -> Result<[UInt8], Failure> {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .failure(.system(.current)) }
        if let problem = kindProblem(st.st_mode) { return .failure(problem) }
        if Int(st.st_size) > limit { return .failure(.tooLarge(limit: limit)) }
        switch readAll(fd, limit: limit) {
        case .success(let bytes): return .success(bytes)
        // A file that grows while it is read.
        case .failure(.fileTooLarge): return .failure(.tooLarge(limit: limit))
        case .failure(let e): return .failure(.system(e))
        }
    }
}
