import Hummingbird
import SeamMetrics

/// Counts every answer by the route it matched and its status
/// (`seam_http_requests_total{path, status}`): the route's pattern
/// (`/v1/experiments/{key}/results`), never the raw path, so the label set stays small
/// whatever clients send. Failures thrown by handlers count with their status too.
public struct RequestMetrics<Context: RequestContext>: RouterMiddleware {
    let handles: MetricHandles

    public init(handles: MetricHandles) { self.handles = handles }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            count(context, response.status.code)
            return response
        } catch {
            count(context, (error as? any HTTPResponseError)?.status.code ?? 500)
            throw error
        }
    }

    private func count(_ context: Context, _ status: Int) {
        handles.counter("seam_http_requests_total", [("path", context.endpointPath ?? "unmatched"), ("status", String(status))]).increment()
    }
}

/// Requires `Authorization: Bearer <token>` with one of `tokens` (when there are any);
/// otherwise answers 401 with `failure`'s message.
public struct BearerTokenCheck<Context: RequestContext>: RouterMiddleware {
    let tokens: Set<String>
    let message: String

    /// `message` says which token is needed and how to send it.
    public init(tokens: Set<String>, message: String) {
        self.tokens = tokens
        self.message = message
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if !tokens.isEmpty {
            guard let token = BearerToken.from(request), tokens.contains(token) else {
                throw HTTPFailure(.unauthorized, message, headers: [.wwwAuthenticate: #"Bearer realm="seam""#])
            }
        }
        return try await next(request, context)
    }
}
