/// swinetd's version: `swinetd --version`, the Debian package's version
/// (the Makefile reads it from here), and both sides of an upgrade's log line.
public enum SwinetdVersion {
    public static let current = "0.8.0"
}
