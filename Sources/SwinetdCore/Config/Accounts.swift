#if canImport(Glibc)
import Glibc
#endif

/// User and group lookups for the table, done once at load time so the spawn
/// path never calls into NSS (which may lock, allocate or open files).
enum Accounts {
    struct User {
        var name: String
        var uid: uid_t
        var gid: gid_t
    }

    /// A user by name, or by number when no user has that name.
    static func user(_ name: String) -> User? {
        var pw = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        if getpwnam_r(name, &pw, &buffer, buffer.count, &result) == 0, result != nil {
            return User(name: String(cString: pw.pw_name), uid: pw.pw_uid, gid: pw.pw_gid)
        }
        if let uid = UInt32(name), getpwuid_r(uid, &pw, &buffer, buffer.count, &result) == 0, result != nil {
            return User(name: String(cString: pw.pw_name), uid: pw.pw_uid, gid: pw.pw_gid)
        }
        return nil
    }

    /// A group's id by name, or by number when no group has that name.
    static func group(_ name: String) -> gid_t? {
        var gr = Glibc.group()
        var result: UnsafeMutablePointer<Glibc.group>?
        var buffer = [CChar](repeating: 0, count: 65536)
        if getgrnam_r(name, &gr, &buffer, buffer.count, &result) == 0, result != nil {
            return gr.gr_gid
        }
        if let gid = UInt32(name), getgrgid_r(gid, &gr, &buffer, buffer.count, &result) == 0, result != nil {
            return gid
        }
        return nil
    }

    /// The supplementary groups `user` belongs to, with `gid` first.
    static func groups(of user: String, gid: gid_t) -> [gid_t] {
        var count: Int32 = 64
        while true {
            var list = [gid_t](repeating: 0, count: Int(count))
            var n = count
            if getgrouplist(user, gid, &list, &n) >= 0 {
                return Array(list.prefix(Int(n)))
            }
            count = max(n, count * 2)
            if count > 65536 { return [gid] }
        }
    }
}
