#if canImport(Glibc)
import Glibc
#endif

/// Reading a whole (small) file, for the table.
enum FileBytes {
    static func read(_ path: String) -> Result<[UInt8], Errno> {
        let fd: Int32
        switch syscallResult({ open(path, O_RDONLY | O_CLOEXEC) }) {
        case .success(let d): fd = d
        case .failure(let e): return .failure(e)
        }
        defer { closeDescriptor(fd) }
        var st = stat()
        if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR { return .failure(.isDirectory) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { buf in
                syscallResult { Glibc.read(fd, buf.baseAddress, buf.count) }
            }
            switch n {
            case .success(0): return .success(out)
            case .success(let k): out.append(contentsOf: chunk[0..<k])
            case .failure(let e): return .failure(e)
            }
            // A table is small; refuse what cannot be one rather than eat memory.
            if out.count > 64 << 20 { return .failure(.fileTooLarge) }
        }
    }
}
