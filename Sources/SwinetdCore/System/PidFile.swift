#if canImport(Glibc)
import Glibc
#endif

/// `--pid-file`: a lock as well as a record. The file is opened without
/// following a symbolic link (as root, a link planted at the path would
/// otherwise aim the write at any file), must be a regular file, and is held
/// with an exclusive flock(2) for the master's whole life, so a second
/// swinetd with the same path is refused while the first runs, and a file
/// left by one that died (nobody holds its lock) is simply replaced.
public final class PidFile {
    public let path: String
    /// Kept open (and locked) across an upgrade's exec.
    let fd: Int32

    public struct Failure: Error {
        public var message: String
    }

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    /// The file and lock an upgraded image inherited (the same open file,
    /// so the lock never lapses).
    static func adopt(path: String, fd: Int32) -> PidFile { PidFile(path: path, fd: fd) }

    /// Opens and locks `path` (creating it); the pid is written by `record`.
    public static func lock(_ path: String) -> Result<PidFile, Failure> {
        let fd: Int32
        switch syscallResult({ open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0o644) }) {
        case .success(let d): fd = d
        case .failure(.tooManySymbolicLinkLevels): return .failure(Failure(message: "a symbolic link: not followed"))
        case .failure(let e): return .failure(Failure(message: e.text))
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            closeDescriptor(fd)
            return .failure(Failure(message: "not a regular file"))
        }
        if case .failure(let e) = syscallResult({ flock(fd, LOCK_EX | LOCK_NB) }) {
            let holder = e == .wouldBlock ? readPid(fd).map { "already running as PID \($0)" } ?? "locked by another process" : e.text
            closeDescriptor(fd)
            return .failure(Failure(message: holder))
        }
        return .success(PidFile(path: path, fd: fd))
    }

    /// Replaces the file's content with `pid`.
    public func record(_ pid: pid_t) -> Result<Void, Failure> {
        let text = Array("\(pid)\n".utf8)
        if case .failure(let e) = syscallResult({ ftruncate(fd, 0) }) { return .failure(Failure(message: e.text)) }
        let written = text.withUnsafeBytes { buf in syscallResult { pwrite(fd, buf.baseAddress, buf.count, 0) } }
        switch written {
        case .success(let n) where n == text.count: return .success(())
        case .success: return .failure(Failure(message: "short write"))
        case .failure(let e): return .failure(Failure(message: e.text))
        }
    }

    /// Removes the file (it is ours: we hold its lock) and lets the lock go.
    public func remove() {
        unlink(path)
        closeDescriptor(fd)
    }

    private static func readPid(_ fd: Int32) -> Int? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int(String(decoding: buffer[0..<n], as: UTF8.self).trimmingWhitespace)
    }
}

extension String {
    var trimmingWhitespace: String {
        String(self.drop(while: { $0.isWhitespace }).reversed().drop(while: { $0.isWhitespace }).reversed())
    }
}
