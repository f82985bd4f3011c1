// The table loader under libFuzzer (`make fuzz`), and with it the control
// socket's JSON, the metrics server's request reader, both importers and the
// PROXY protocol header parser: every input must
// give a table or at least one diagnostic, within the fuzzer's time and memory
// limits, and whatever it gives must survive the trip from the loader
// process to the master. Built with -DFUZZING -sanitize=fuzzer,address it
// is libFuzzer's target; built plainly it replays files given as
// arguments (a crash the fuzzer found, say) through the same check.
import SwinetdCore

func check(_ bytes: [UInt8]) {
    precondition(FuzzSupport.controlInputHolds(bytes), "a control request or HTTP head was mishandled")
    precondition(FuzzSupport.importHolds(bytes), "swinetd import wrote a table that does not load")
    precondition(FuzzSupport.proxyHeaderHolds(bytes), "a PROXY header was misread")
    // `include` would read whatever the input names: only the bytes count.
    var loader = TableLoader()
    loader.followIncludes = false
    switch loader.load(bytes: bytes, file: "fuzz.yaml") {
    case .success(let table):
        precondition(!table.services.isEmpty, "a table with no services")
        precondition(FuzzSupport.roundTrips(table), "the table does not survive PackedCoding")
    case .failure(let errors):
        precondition(!errors.diagnostics.isEmpty, "failed without a diagnostic")
        precondition(errors.diagnostics.count <= TableLoader.maxDiagnostics, "more diagnostics than the cap")
        precondition(FuzzSupport.roundTrips(errors), "the diagnostics do not survive PackedCoding")
    }
}

#if FUZZING
/// The entry libFuzzer's own main expects; ours (below) wins, since SwiftPM
/// gives every executable a main of its own.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    check(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

/// libFuzzer's driver, called from that main.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@main
enum Fuzz {
    static func main() {
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        let status = LLVMFuzzerRunDriver(&argc, &argv) { fuzzOne($0, $1) }
        if status != 0 { fatalError("libFuzzer ended with status \(status)") }
    }
}
#else
@main
enum Replay {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let bytes = FuzzSupport.read(path) else { print("\(path): cannot read"); continue }
            check(bytes)
            print("\(path): ok")
        }
    }
}
#endif
