#if canImport(Glibc)
import Glibc
#endif

/// The binary this process was started from, by path and by descriptor,
/// taken once at the very start of main (`SelfExecutable.capture()`).
///
/// By path, as `/proc/self/exe` named it then: once install(1) or dpkg
/// renames a new file over the running one, `/proc/self/exe` reads
/// `PATH (deleted)`, which no exec can run; the path taken at start is
/// where the new binary now is, and what builtins and an upgrade run.
///
/// By descriptor: the very file that is running, whatever is renamed over
/// its path later, so that an upgrade whose new image cannot serve can
/// exec the old one again (see UpgradeFallback).
public enum SelfExecutable {
    /// The path taken at start (or, in a process that never called
    /// `capture`, such as a unit test, the one `/proc/self/exe` names now).
    public static var path: String? { captured ?? current() }
    private nonisolated(unsafe) static var captured: String?
    /// The command line an upgrade runs the next image with: this image's
    /// own, plus what `serve` appends (see `resolvedForDaemon`).
    public nonisolated(unsafe) static var arguments: [String] = CommandLine.arguments
    /// O_RDONLY | O_CLOEXEC on the running binary; -1 if it could not be opened.
    public nonisolated(unsafe) private(set) static var descriptor: Int32 = -1

    /// Reads both; call after descriptors 3 and 4 are reserved, so that
    /// the descriptor is not one of the spawn's slots.
    public static func capture() {
        captured = current()
        descriptor = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)
    }

    /// A daemon leaves its working folder, so the next image of an upgrade
    /// must not get the relative paths it was started with: the absolute
    /// ones are appended (the last of a repeated option wins), and so they
    /// stay across every later upgrade.
    public static func resolvedForDaemon(config: String, pidFile: String?, control: String?) {
        var args = CommandLine.arguments + ["-f", config]
        if let pidFile { args += ["--pid-file", pidFile] }
        if let control { args += ["-c", control] }
        arguments = args
    }

    private static func current() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        var p = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if p.hasSuffix(" (deleted)") { p.removeLast(10) }
        return p
    }
}
