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
    /// Seconds a connection may stay silent (between requests, or mid-request) before it is closed.
    public var idleTimeoutSeconds: Int
    /// Seconds a request body may take to arrive in full (408 after).
    public var bodyTimeoutSeconds: Int
    /// Open connections at most; beyond it new connections wait in the listen backlog.
    public var maximumConnections: Int
    /// Request bytes held in memory at once across all requests (see `MemoryBudget`);
    /// beyond it requests get 503 with `Retry-After`.
    public var decodeBudgetBytes: Int
    /// Largest request header block, in bytes (431 above).
    public var maximumHeaderBytes: Int
    /// Token scopes: tokens listed here are browser tokens (public in page source), which
    /// may post tag events only. Tokens in `tokens` but not here are service tokens.
    public var browserTokens: Set<String>
    /// A token `/metrics` requires (`Authorization: Bearer`); nil leaves it open.
    public var metricsToken: String?

    public init(
        host: String = "127.0.0.1", port: Int = 4318, maximumBodyBytes: Int = 20 << 20, tokens: [String: String] = [:],
        retryAfterSeconds: Int = 5, spoolHighWaterMark: Double = 0.8, idleTimeoutSeconds: Int = 30, bodyTimeoutSeconds: Int = 30,
        maximumConnections: Int = 1024, decodeBudgetBytes: Int = 256 << 20, maximumHeaderBytes: Int = 32 << 10,
        browserTokens: Set<String> = [], metricsToken: String? = nil
    ) {
        self.host = host
        self.port = port
        self.maximumBodyBytes = maximumBodyBytes
        self.tokens = tokens
        self.retryAfterSeconds = retryAfterSeconds
        self.spoolHighWaterMark = spoolHighWaterMark
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.bodyTimeoutSeconds = bodyTimeoutSeconds
        self.maximumConnections = maximumConnections
        self.decodeBudgetBytes = decodeBudgetBytes
        self.maximumHeaderBytes = maximumHeaderBytes
        self.browserTokens = browserTokens
        self.metricsToken = metricsToken
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

/// Settings of the OTLP/gRPC server (`SeamGRPC.OTLPGRPCServer`), here so that settings can
/// name them without building the gRPC transport.
public struct OTLPGRPCConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Largest request message, in bytes (after gzip); the HTTP body limit by default.
    public var maximumMessageBytes: Int

    public init(host: String = "127.0.0.1", port: Int = 4317, maximumMessageBytes: Int = 20 << 20) {
        self.host = host
        self.port = port
        self.maximumMessageBytes = maximumMessageBytes
    }
}
