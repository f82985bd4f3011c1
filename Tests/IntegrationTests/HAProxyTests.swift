import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// HAProxy from Debian as the real PROXY protocol sender in front of swinetd.
@Suite(.timeLimit(.minutes(2))) struct HAProxyTests {
    @Test func haproxyIsARealSender() throws {
        let haproxy = ["/usr/sbin/haproxy", "/usr/bin/haproxy"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let haproxy else {
            throw TestFailure("haproxy is not installed: `make deps` installs it (Debian's haproxy package)")
        }
        let (d, ports) = try startDaemon({ p in """
            services:
              show:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", 'echo "remote=$TCPREMOTEIP via=$PROXYPEERIP local=$TCPLOCALPORT"; exec cat']
                stderr: null
                per_source: 1
                refuse_message: busy
                proxy_protocol: {from: [127.0.0.1]}
            """ }, ports: 1)
        // The ports are picked free; another test may take one first: then haproxy exits and this test fails with its log.
        let v1Port = freePort(), v2Port = freePort()
        let config = """
            global
                maxconn 100
            defaults
                mode tcp
                timeout connect 5s
                timeout client 30s
                timeout server 30s
            frontend v1
                bind 127.0.0.1:\(v1Port)
                default_backend v1
            frontend v2
                bind 127.0.0.1:\(v2Port)
                default_backend v2
            backend v1
                server s 127.0.0.1:\(ports[0]) send-proxy
            backend v2
                server s 127.0.0.1:\(ports[0]) send-proxy-v2
            """
        let path = d.dir + "/haproxy.cfg"
        try (config + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let pid = try spawnProcess([haproxy, "-db", "-f", path], output: d.dir + "/haproxy.log")
        defer { kill(pid, SIGKILL); var s: Int32 = 0; waitpid(pid, &s, 0) }
        try waitUntil(10, "haproxy to listen: \(readText(d.dir + "/haproxy.log") ?? "")") {
            // Seen in the kernel's table: a probe connection would be a client of its own.
            listeningInode(v1Port) != nil && listeningInode(v2Port) != nil
        }
        let a = try exchange(v1Port, "one\n", from: "127.0.0.2")
        #expect(a == "remote=127.0.0.2 via=127.0.0.1 local=\(v1Port)\none\n", "\(a)")
        let b = try exchange(v2Port, "two\n", from: "127.0.0.3")
        #expect(b == "remote=127.0.0.3 via=127.0.0.1 local=\(v2Port)\ntwo\n", "\(b)")
        // per_source sees the clients, not haproxy: 127.0.0.2 holds one, and its second is refused.
        let held = try connectOnly(v2Port, from: "127.0.0.2")
        defer { close(held) }
        try d.waitForLog("show: accepted", count: 3)
        #expect(try exchange(v1Port, "again\n", from: "127.0.0.2") == "busy\n")
        #expect(try exchange(v1Port, "four\n", from: "127.0.0.4").hasSuffix("four\n"))
        try d.waitForLog("reason=per-source")
        #expect(d.log.range(of: #"show: refused peer=127\.0\.0\.2:\d+ via=127\.0\.0\.1:\d+ reason=per-source"#, options: .regularExpression) != nil, "\(d.log)")
    }

    /// HAProxy terminating TLS and sending v2 with its SSL TLV, a CRC32C
    /// and the authority (SNI): the handler sees the client's TLS version
    /// and the name it asked for.
    @Test func haproxyV2WithTLSGivesTheSSLVariables() throws {
        guard let haproxy = ["/usr/sbin/haproxy", "/usr/bin/haproxy"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else {
            throw TestFailure("haproxy or openssl is not installed: `make deps` installs them")
        }
        let (d, ports) = try startDaemon({ p in """
            services:
              show:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", 'echo "remote=$TCPREMOTEIP ssl=$PROXY_SSL_VERSION authority=$PROXY_AUTHORITY"; exec head -n 1']
                stderr: null
                proxy_protocol: {from: [127.0.0.1], version: v2}
            """ })
        let key = try runToEnd(["/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                "-keyout", d.dir + "/key.pem", "-out", d.dir + "/cert.pem", "-days", "1", "-subj", "/CN=front.test"])
        #expect(key.status == 0, "\(key.output)")
        let pem = (readText(d.dir + "/cert.pem") ?? "") + (readText(d.dir + "/key.pem") ?? "")
        try pem.write(toFile: d.dir + "/front.pem", atomically: true, encoding: .utf8)
        let front = freePort()
        try """
            global
                maxconn 100
            defaults
                mode tcp
                timeout connect 5s
                timeout client 30s
                timeout server 30s
            frontend tls
                bind 127.0.0.1:\(front) ssl crt \(d.dir)/front.pem
                default_backend show
            backend show
                server s 127.0.0.1:\(ports[0]) send-proxy-v2-ssl proxy-v2-options crc32c,authority

            """.write(toFile: d.dir + "/haproxy.cfg", atomically: true, encoding: .utf8)
        let pid = try spawnProcess([haproxy, "-db", "-f", d.dir + "/haproxy.cfg"], output: d.dir + "/haproxy.log")
        defer { kill(pid, SIGKILL); var st: Int32 = 0; waitpid(pid, &st, 0) }
        try waitUntil(10, "haproxy to listen: \(readText(d.dir + "/haproxy.log") ?? "")") { listeningInode(front) != nil }
        let client = try runToEnd(["/usr/bin/openssl", "s_client", "-connect", "127.0.0.1:\(front)", "-servername", "svc.example",
                                   "-tls1_3", "-quiet", "-ign_eof"], timeout: 20, stdin: "over tls\n")
        #expect(client.output.contains("remote=127.0.0.1 ssl=TLSv1.3 authority=svc.example\nover tls\n"), "\(client.output)\n\(d.log)")
    }

}
