import Foundation
import SeamFuzzing

#if FUZZING
    /// libFuzzer's driver (built by `ops/fuzz` with `-sanitize=fuzzer,address -DFUZZING`);
    /// the target comes from `SEAM_FUZZ_TARGET`. SwiftPM links an executable's entry point as
    /// `seam_fuzz_main`, so this hands control to libFuzzer from there.
    nonisolated(unsafe) private var selected: FuzzTarget? = nil

    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32

    @_cdecl("seam_fuzz_main")
    func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
        var argc = argc
        var argv = argv
        return LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput)
    }

    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        if selected == nil {
            let name = ProcessInfo.processInfo.environment["SEAM_FUZZ_TARGET"] ?? ""
            guard let target = FuzzTarget(rawValue: name) else {
                FileHandle.standardError.write(
                    Data("set SEAM_FUZZ_TARGET to one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
                exit(2)
            }
            selected = target
        }
        let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        if let problem = selected!.run(bytes) {
            FileHandle.standardError.write(Data("seam-fuzz: invariant broken: \(problem)\n".utf8))
            abort()
        }
        return 0
    }
#else
    /// Without libFuzzer: `seam-fuzz TARGET FILE…` replays inputs (a crash reproduces).
    @main
    struct SeamFuzz {
        static func main() {
            let arguments = CommandLine.arguments.dropFirst()
            guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
                print("usage: seam-fuzz TARGET FILE…  (targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))")
                exit(2)
            }
            var failures = 0
            for path in arguments.dropFirst() {
                guard let data = FileManager.default.contents(atPath: path) else {
                    print("cannot read \(path)")
                    exit(2)
                }
                if let problem = target.run(Array(data)) {
                    print("\(path): \(problem)")
                    failures += 1
                }
            }
            exit(failures == 0 ? 0 : 1)
        }
    }
#endif
