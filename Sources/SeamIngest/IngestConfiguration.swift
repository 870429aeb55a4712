import Foundation

/// Settings of the ingestion HTTP server.
public struct IngestConfiguration: Sendable {
    /// Host to listen on.
    public var host: String
    /// Port to listen on; 0 picks a free one.
    public var port: Int
    /// Largest accepted request body, in bytes (after decompression).
    public var maximumBodyBytes: Int
    /// Ingestion tokens → source names. Empty: no token needed. Otherwise requests must carry
    /// one (`Authorization: Bearer …`, or `?token=…` for navigator.sendBeacon) or get 401.
    public var tokens: [String: String]
    /// Seconds clients are told to wait (`Retry-After`) when the spool is full.
    public var retryAfterSeconds: Int
    /// Share of the spool's capacity above which `/readyz` reports not ready.
    public var spoolHighWaterMark: Double

    public init(
        host: String = "127.0.0.1", port: Int = 4318, maximumBodyBytes: Int = 20 << 20, tokens: [String: String] = [:],
        retryAfterSeconds: Int = 5, spoolHighWaterMark: Double = 0.8
    ) {
        self.host = host
        self.port = port
        self.maximumBodyBytes = maximumBodyBytes
        self.tokens = tokens
        self.retryAfterSeconds = retryAfterSeconds
        self.spoolHighWaterMark = spoolHighWaterMark
    }

    /// Parses `host:port` (`[::1]:4318` for IPv6).
    public static func parseAddress(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return (host, port)
    }
}
