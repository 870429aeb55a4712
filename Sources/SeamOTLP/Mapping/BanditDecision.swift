import Foundation
import SeamModel

/// A contextual bandit's decision, posted as an OTLP log record named `bandit.decision`
/// (the log record's `event_name`, or its `event.name` attribute), as the flag evaluations
/// that become exposures are:
///
/// | attribute | type | |
/// |---|---|---|
/// | `bandit.key` | string | which bandit decided (required) |
/// | `bandit.actions` | array of strings | the feasible actions, each once (required, 1 to 256) |
/// | `bandit.action` | string | the chosen action, one of `bandit.actions` (required) |
/// | `bandit.probabilities` | array of numbers | the logging policy's probability of each action, in `bandit.actions`' order: each in [0, 1], summing to 1 (±1e-6), the chosen one above 0 (required) |
/// | `bandit.context` | map, or a string holding a JSON object | the context features (optional) |
/// | `bandit.event_id` | string | the service's id of the decision (optional; DSJSON's `EventId`) |
/// | `bandit.unit.id` | string | whose outcomes reward it (optional; else `enduser.id`/`user.id`, else `session.id`) |
///
/// The trace id, `session.id` and `enduser.id` are stored with it as with exposures. A
/// decision that breaks one of these rules is refused as a whole log record, naming the
/// attribute and the reason (OTLP `partial_success`, and `lake.rejected`).
public enum BanditDecision {
    public static let eventName = "bandit.decision"
    public static let maximumActions = 256
    /// How far the probabilities' sum may be from 1 (logging policies round).
    public static let sumTolerance = 1e-6

    /// Why the decision in `attributes` (with the resource's, for the unit) is refused; nil when valid.
    static func problem(_ attributes: [KeyValue], resource: [KeyValue], limits: AttributeLimits) -> String? {
        func value(_ key: String) -> AnyValue.OneOf_Value? { attributes.first { $0.key == key }?.value.value }
        func identifier(_ key: String, required: Bool) -> String? {
            switch value(key) {
            case .stringValue(let text)? where !text.isEmpty:
                return text.utf8.count > limits.maximumIdentifierBytes
                    ? "\(key): \(text.utf8.count) bytes; identifiers are at most \(limits.maximumIdentifierBytes)" : nil
            case nil: return required ? "\(key): required, a non-empty string" : nil
            default: return "\(key): must be a non-empty string"
            }
        }
        // The lake keeps the last of repeated keys (jsonb): a decision must say each thing once.
        var seen = Set<String>()
        for kv in attributes where kv.key.hasPrefix("bandit.") {
            if !seen.insert(kv.key).inserted { return "\(kv.key): given twice" }
        }
        for (key, required) in [("bandit.key", true), ("bandit.action", true), ("bandit.event_id", false), ("bandit.unit.id", false)] {
            if let problem = identifier(key, required: required) { return problem }
        }
        guard case .arrayValue(let actionList)? = value("bandit.actions") else {
            return "bandit.actions: required, an array of the feasible actions' names"
        }
        var actions: [String] = []
        for element in actionList.values {
            guard case .stringValue(let name)? = element.value, !name.isEmpty else {
                return "bandit.actions: every action must be a non-empty string"
            }
            guard name.utf8.count <= limits.maximumIdentifierBytes else {
                return "bandit.actions: an action of \(name.utf8.count) bytes; at most \(limits.maximumIdentifierBytes)"
            }
            actions.append(name)
        }
        guard !actions.isEmpty, actions.count <= maximumActions else {
            return "bandit.actions: \(actions.count) actions; a decision has 1 to \(maximumActions)"
        }
        guard Set(actions).count == actions.count else { return "bandit.actions: an action is listed twice" }
        guard case .stringValue(let chosen)? = value("bandit.action"), let chosenIndex = actions.firstIndex(of: chosen) else {
            return "bandit.action: not one of bandit.actions"
        }
        guard case .arrayValue(let probabilityList)? = value("bandit.probabilities") else {
            return "bandit.probabilities: required, an array of numbers (one per action)"
        }
        var probabilities: [Double] = []
        for element in probabilityList.values {
            switch element.value {
            case .doubleValue(let p)?: probabilities.append(p)
            case .intValue(let p)?: probabilities.append(Double(p))
            default: return "bandit.probabilities: every probability must be a number"
            }
        }
        guard probabilities.count == actions.count else {
            return "bandit.probabilities: \(probabilities.count) probabilities for \(actions.count) actions"
        }
        if let bad = probabilities.first(where: { !($0 >= 0 && $0 <= 1) }) {
            return "bandit.probabilities: \(bad) is not a probability in [0, 1]"
        }
        let sum = probabilities.reduce(0, +)
        guard abs(sum - 1) <= sumTolerance else { return "bandit.probabilities: they sum to \(sum), not 1" }
        guard probabilities[chosenIndex] > 0 else {
            return "bandit.probabilities: the chosen action \(chosen) has probability 0 under the logging policy"
        }
        switch value("bandit.context") {
        case nil, .kvlistValue?: break
        case .stringValue(let text)?:
            guard let tape = try? JSONTape.parse(Array(text.utf8)), tape.root.kind == .object, tape.root.isStorable else {
                return "bandit.context: a string must hold a JSON object (or send a map)"
            }
        default: return "bandit.context: must be a map of features, or a string holding a JSON object"
        }
        let unit = Attributes.lookup(["bandit.unit.id", "enduser.id", "user.id", "session.id"], in: attributes, resource)
        if unit == nil { return "a decision needs a unit whose outcomes reward it: bandit.unit.id, enduser.id, user.id or session.id" }
        return nil
    }
}
