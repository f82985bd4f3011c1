#if canImport(Glibc)
import Glibc
#endif

/// A service as the running master sees it: its current settings, the spawn
/// plan built from them, how many handlers it has running, and its sockets.
/// Kept by name across reloads, so running handlers keep counting against
/// their service's limit.
final class ServiceState {
    var config: ServiceConfig
    var plan: SpawnPlan
    var running = 0
    var listeners: [Listener] = []
    /// Gone from the table: its handlers finish and are reaped, nothing new starts.
    var retired = false

    init(_ config: ServiceConfig) {
        self.config = config
        self.plan = SpawnPlan(config)
    }

    var name: String { config.name }
}

/// One listening socket, kept by address across reloads (the same socket,
/// open the whole time, when both tables have the address).
final class Listener {
    let address: ListenAddress
    let fd: Int32
    var backlog: Int
    var service: ServiceState
    /// Whether the event loop watches it now (it does not while its service
    /// is at its limit: connections then wait in the kernel's queue).
    var watched = false
    /// The local IP as text when the address is not a wildcard, so the spawn
    /// path needs no getsockname for TCPLOCALIP.
    let fixedLocalIP: [CChar]?

    init(address: ListenAddress, fd: Int32, backlog: Int, service: ServiceState) {
        self.address = address
        self.fd = fd
        self.backlog = backlog
        self.service = service
        self.fixedLocalIP = address.isWildcard ? nil
            : Array(ListenAddress.text(family: address.family, ip: address.ip).utf8CString)
    }
}

/// A running handler.
struct Child {
    let service: ServiceState
    let peer: String
    let started: UInt64
}
