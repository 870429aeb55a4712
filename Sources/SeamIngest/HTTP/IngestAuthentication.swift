import Hummingbird
import SeamHTTP

/// The request context of the ingestion routes: Hummingbird's core context and the source
/// name of the request's token, set by `IngestAuthentication`.
public struct IngestRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The source name of the ingestion token the request carried (nil: no tokens configured).
    public var tokenSource: String?
    /// Whether a write key from the headers was checked (`WriteKeyAuthentication`).
    public var keyChecked = false

    public init(source: Source) {
        coreContext = .init(source: source)
    }
}

/// Ingestion tokens on a group of routes. With no tokens configured every request passes;
/// otherwise it needs a known token (`Authorization: Bearer`, or `?token=` for
/// `navigator.sendBeacon`, which cannot set headers): 401 without one. Browser tokens (public
/// in page source) pass only on browser routes: 403 elsewhere. The token's source name is
/// put in the context.
struct IngestAuthentication: RouterMiddleware {
    typealias Context = IngestRequestContext

    let configuration: IngestConfiguration
    /// The routes are browser-facing (tag events): browser tokens are accepted.
    let browser: Bool
    /// The error to throw (the routes' own rendering: JSON, or google.rpc.Status for OTLP).
    let failure: @Sendable (_ request: Request, _ status: HTTPResponse.Status, _ message: String) -> any Error

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !configuration.tokens.isEmpty else { return try await next(request, context) }
        let token = BearerToken.from(request) ?? request.uri.queryParameters.get("token")
        guard let token, let source = configuration.tokens[token] else {
            throw failure(request, .unauthorized, "a valid ingestion token is required (Authorization: Bearer <token>, or ?token=<token>)")
        }
        if !browser, configuration.browserTokens.contains(token) {
            throw failure(request, .forbidden, "a browser token may post tag events only; OTLP needs a service token")
        }
        var context = context
        context.tokenSource = source
        return try await next(request, context)
    }
}
