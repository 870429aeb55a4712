import Foundation
import Testing

@testable import SeamOTLP

@Suite("Bandit decisions (log records named bandit.decision)")
struct BanditDecisionTests {
    static func value(_ v: any Sendable) -> Opentelemetry_Proto_Common_V1_AnyValue {
        var any = Opentelemetry_Proto_Common_V1_AnyValue()
        switch v {
        case let s as String: any.stringValue = s
        case let d as Double: any.doubleValue = d
        case let i as Int: any.intValue = Int64(i)
        case let list as [any Sendable]:
            var array = Opentelemetry_Proto_Common_V1_ArrayValue()
            array.values = list.map(value)
            any.arrayValue = array
        case let map as [String: any Sendable]:
            var kv = Opentelemetry_Proto_Common_V1_KeyValueList()
            kv.values = map.sorted { $0.key < $1.key }.map { attribute($0.key, $0.value) }
            any.kvlistValue = kv
        default: break
        }
        return any
    }

    static func attribute(_ key: String, _ v: any Sendable) -> Opentelemetry_Proto_Common_V1_KeyValue {
        var kv = Opentelemetry_Proto_Common_V1_KeyValue()
        kv.key = key
        kv.value = value(v)
        return kv
    }

    static let valid: [String: any Sendable] = [
        "bandit.key": "reco", "bandit.actions": ["a", "b", "c"] as [any Sendable], "bandit.action": "b", "bandit.probabilities": [0.5, 0.25, 0.25] as [any Sendable],
        "session.id": "s1",
    ]

    static func problem(_ changes: [String: (any Sendable)?]) -> String? {
        var attributes = valid
        for (key, value) in changes { attributes[key] = value }
        var record = Opentelemetry_Proto_Logs_V1_LogRecord()
        record.eventName = BanditDecision.eventName
        record.timeUnixNano = UInt64(Date().timeIntervalSince1970 * 1e9)
        record.attributes = attributes.sorted { $0.key < $1.key }.map { attribute($0.key, $0.value) }
        if changes.keys.contains("twice") { record.attributes.append(attribute("bandit.action", "c")) }
        return LogMapper.problem(record, index: 0, limits: RecordLimits(receivedMicros: Int64(Date().timeIntervalSince1970 * 1e6)))
    }

    @Test("a valid decision passes; integer probabilities, a map or a JSON-object string as context, and a user as unit are fine")
    func valid() {
        #expect(Self.problem([:]) == nil)
        #expect(Self.problem(["bandit.probabilities": [1, 0, 0], "bandit.action": "a"]) == nil)
        #expect(Self.problem(["bandit.context": ["region": "north", "n": 2] as [String: any Sendable]]) == nil)
        #expect(Self.problem(["bandit.context": #"{"region":"north"}"#]) == nil)
        #expect(Self.problem(["session.id": nil, "enduser.id": "u1"]) == nil)
        #expect(Self.problem(["session.id": nil, "bandit.unit.id": "device-7"]) == nil)
        // Rounding of the logging policy's probabilities is tolerated up to 1e-6.
        #expect(Self.problem(["bandit.probabilities": [0.3333333, 0.3333333, 0.3333334]]) == nil)
    }

    @Test(
        "each broken rule is refused, naming the attribute and the reason",
        arguments: [
            (["bandit.key": nil], "bandit.key: required"),
            (["bandit.key": 7], "bandit.key: must be a non-empty string"),
            (["bandit.actions": nil], "bandit.actions: required"),
            (["bandit.actions": [String]()], "bandit.actions: 0 actions"),
            (["bandit.actions": ["a", "a", "c"]], "bandit.actions: an action is listed twice"),
            (["bandit.actions": ["a", 2, "c"] as [any Sendable]], "bandit.actions: every action must be a non-empty string"),
            (["bandit.action": "z"], "bandit.action: not one of bandit.actions"),
            (["bandit.probabilities": nil], "bandit.probabilities: required"),
            (["bandit.probabilities": [0.5, 0.5]], "bandit.probabilities: 2 probabilities for 3 actions"),
            (["bandit.probabilities": [1.5, -0.25, -0.25]], "is not a probability in [0, 1]"),
            (["bandit.probabilities": [0.5, 0.25, 0.2]], "bandit.probabilities: they sum to 0.95"),
            (["bandit.probabilities": [0.5, 0, 0.5]], "the chosen action b has probability 0"),
            (["bandit.probabilities": ["x", 0.5, 0.5] as [any Sendable]], "every probability must be a number"),
            (["bandit.context": "not json"], "bandit.context: a string must hold a JSON object"),
            (["bandit.context": 3], "bandit.context: must be a map"),
            (["session.id": nil], "a decision needs a unit"),
            (["twice": "yes"], "bandit.action: given twice"),
        ] as [([String: (any Sendable)?], String)])
    func refused(_ changes: [String: (any Sendable)?], _ expected: String) {
        let problem = Self.problem(changes)
        #expect(problem?.contains(expected) == true, "\(String(describing: problem))")
        #expect(problem?.hasPrefix("log record 0: bandit.decision: ") == true)
    }
}
