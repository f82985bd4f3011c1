#if canImport(Glibc)
import Glibc
#endif

/// `--log-timestamps`: whether text lines start with the time.
public enum LogTimestamps: String, Sendable, CaseIterable {
    /// On a terminal or a regular file; not on a pipe or socket, whose
    /// reader (journald, s6-log, multilog, a container runtime) stamps
    /// lines itself.
    case auto
    case always
    case never
}

extension Log.Prefix {
    /// What lines written to `fd` start with. Under journald (its
    /// `JOURNAL_STREAM` names `fd`'s device and inode, see systemd.exec(5))
    /// the `<N>` priority and never a time: journald keeps its own.
    public static func choose(for fd: Int32, timestamps: LogTimestamps,
                              journalStream: String? = getenv("JOURNAL_STREAM").map { String(cString: $0) }) -> Log.Prefix {
        var st = stat()
        let known = fstat(fd, &st) == 0
        if known, let journalStream, isJournal(journalStream, st) { return .priority }
        switch timestamps {
        case .always: return .time
        case .never: return .none
        case .auto:
            guard known else { return .none }
            let kind = st.st_mode & S_IFMT
            return kind == S_IFREG || (kind == S_IFCHR && isatty(fd) != 0) ? .time : .none
        }
    }

    /// `JOURNAL_STREAM=DEV:INODE`, both decimal, as systemd sets it.
    static func isJournal(_ value: String, _ st: stat) -> Bool {
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let dev = UInt64(parts[0]), let ino = UInt64(parts[1]) else { return false }
        return dev == UInt64(st.st_dev) && ino == UInt64(st.st_ino)
    }
}
