import Foundation

/// Type checks on `JSONSerialization` results that hold on Linux too, where numbers and
/// booleans are both `NSNumber` and `1 is Bool` is true.
public enum JSONValues {
    /// True only for JSON `true` / `false`.
    public static func isBoolean(_ value: Any) -> Bool {
        guard let number = value as? NSNumber else { return false }
        return String(cString: number.objCType) == "c"
    }

    /// The number, when `value` is a JSON number (not a boolean).
    public static func number(_ value: Any) -> NSNumber? {
        guard let number = value as? NSNumber, !isBoolean(value) else { return nil }
        return number
    }
}
