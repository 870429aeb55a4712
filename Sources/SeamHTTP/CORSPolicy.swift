import Hummingbird

/// Which cross-origin requests Seam's HTTP servers answer, per route.
///
/// - Browser-facing routes (`browserPaths`: tag events, and the browser formats) accept
///   any origin: pages on any site post to them, and their tokens are public anyway.
/// - Read routes (`readPrefixes`) answer only the origins in `readOrigins` (none by
///   default): a page on another site must not read metrics with a visitor's credentials.
/// - Every other route (OTLP, `/metrics`, health) never answers CORS.
///
/// A preflight (`OPTIONS` with `Access-Control-Request-Method`) for an allowed route and
/// origin gets 204 with the allowed methods and headers; any other preflight gets 403.
public struct CORSPolicy<Context: RequestContext>: RouterMiddleware {
    public var browserPaths: Set<String>
    public var readPrefixes: [String]
    public var readOrigins: Set<String>

    public init(browserPaths: Set<String>, readPrefixes: [String], readOrigins: Set<String>) {
        self.browserPaths = browserPaths
        self.readPrefixes = readPrefixes
        self.readOrigins = readOrigins
    }

    /// Whether `origin` may call `path` from a browser, and with which methods.
    func allowance(path: String, origin: String) -> String? {
        if browserPaths.contains(path) { return "POST, OPTIONS" }
        if readOrigins.contains(origin), readPrefixes.contains(where: { path.hasPrefix($0) }) { return "GET, OPTIONS" }
        return nil
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin] else { return try await next(request, context) }
        let methods = allowance(path: request.uri.path, origin: origin)
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            guard let methods else { return Response(status: .forbidden) }
            return Response(
                status: .noContent,
                headers: [
                    .accessControlAllowOrigin: origin, .accessControlAllowMethods: methods,
                    .accessControlAllowHeaders: "content-type, authorization, content-encoding",
                    .accessControlMaxAge: "3600", .vary: "Origin",
                ])
        }
        var response = try await next(request, context)
        if methods != nil {
            response.headers[.accessControlAllowOrigin] = origin
            response.headers[.vary] = "Origin"
        }
        return response
    }
}
