#if canImport(Glibc)
import Glibc
#endif

// Whole transfers on a descriptor, through the wrapper (Errno+Syscall.swift):
// write(2) and send(2) may take fewer bytes than asked, read(2) gives what
// is there; EINTR is retried. Every loop that writes "all of it" or reads
// "to the end" is one of these, so the policy lives in one place.

/// Writes all of `bytes[written...]` to `fd`, advancing `written` as bytes
/// go: on a failure (EAGAIN on a non-blocking descriptor among them) it
/// tells how far the write got, and the caller may go on from there later.
/// A write that takes nothing fails with EIO (write(2) does not do that for
/// a non-empty buffer; looping on it would never end).
@discardableResult
public func writeAll(_ fd: Int32, _ bytes: [UInt8], written: inout Int) -> Result<Void, Errno> {
    transferAll(bytes, done: &written) { buf in Glibc.write(fd, buf.baseAddress, buf.count) }
}

/// Writes all of `bytes` to `fd`.
@discardableResult
public func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Result<Void, Errno> {
    var written = 0
    return writeAll(fd, bytes, written: &written)
}

/// send(2) with `flags` (MSG_NOSIGNAL, MSG_DONTWAIT) until all of
/// `bytes[sent...]` is sent; `sent` as in `writeAll(_:_:written:)`.
@discardableResult
func sendAll(_ fd: Int32, _ bytes: [UInt8], flags: Int32, sent: inout Int) -> Result<Void, Errno> {
    transferAll(bytes, done: &sent) { buf in Glibc.send(fd, buf.baseAddress, buf.count, flags) }
}

/// Sends all of `bytes` on `fd` with `flags`.
@discardableResult
func sendAll(_ fd: Int32, _ bytes: [UInt8], flags: Int32) -> Result<Void, Errno> {
    var sent = 0
    return sendAll(fd, bytes, flags: flags, sent: &sent)
}

@inline(__always)
private func transferAll(_ bytes: [UInt8], done: inout Int, _ call: (UnsafeRawBufferPointer) -> Int) -> Result<Void, Errno> {
    while done < bytes.count {
        let start = done
        switch bytes.withUnsafeBytes({ all in syscallResult { call(UnsafeRawBufferPointer(rebasing: all[start...])) } }) {
        case .success(0): return .failure(.ioError)
        case .success(let n): done += n
        case .failure(let e): return .failure(e)
        }
    }
    return .success(())
}

/// Where `readAll(_:appendingTo:limit:)` stopped without a failure.
enum ReadEnd: Equatable {
    /// read(2) returned 0: the writer is done.
    case endOfFile
    /// Nothing more for now (EAGAIN on a non-blocking descriptor).
    case wouldBlock
}

/// Reads `fd` to its end, or to EAGAIN, appending to `bytes`. More than
/// `limit` bytes in `bytes` fails with EFBIG, having read at most one byte
/// past the limit (those read stay in `bytes`: a caller that wants only the
/// start of a long output has it).
func readAll(_ fd: Int32, appendingTo bytes: inout [UInt8], limit: Int) -> Result<ReadEnd, Errno> {
    // Read into a buffer of its own and appended from there: appending
    // zeros to read into the array's tail costs an element at a time in a
    // debug build (hundreds of milliseconds over an upgrade).
    var chunk = [UInt8](repeating: 0, count: 65536)
    while bytes.count <= limit {
        let room = limit - bytes.count < chunk.count ? limit - bytes.count + 1 : chunk.count
        let n = chunk.withUnsafeMutableBytes { buf in syscallResult { Glibc.read(fd, buf.baseAddress, room) } }
        switch n {
        case .success(0): return .success(.endOfFile)
        case .success(let k): bytes.append(contentsOf: chunk[0..<k])
        case .failure(.wouldBlock): return .success(.wouldBlock)
        case .failure(let e): return .failure(e)
        }
    }
    return .failure(.fileTooLarge)
}

/// All of `fd` to its end (a blocking descriptor), at most `limit` bytes:
/// more fails with EFBIG.
func readAll(_ fd: Int32, limit: Int) -> Result<[UInt8], Errno> {
    var bytes: [UInt8] = []
    switch readAll(fd, appendingTo: &bytes, limit: limit) {
    case .success(.endOfFile): return .success(bytes)
    case .success(.wouldBlock): return .failure(.wouldBlock)
    case .failure(let e): return .failure(e)
    }
}
