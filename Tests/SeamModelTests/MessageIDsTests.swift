import Foundation
import SeamModel
import Testing

@Suite("Message ids")
struct MessageIDsTests {
    @Test("SHA-1 matches the FIPS 180 examples")
    func sha1() {
        func hex(_ text: String) -> String { SHA1.digest(Array(text.utf8)).map { String(format: "%02x", $0) }.joined() }
        #expect(hex("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(hex("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(hex(String(repeating: "a", count: 1000)) == "291e9a6c66994949b57ba5e650361e98fc36b1ba")
    }

    @Test("a UUID message id is the event id; any other maps to uuid5, as Python's uuid.uuid5 computes it")
    func eventIDs() {
        let uuid = "6C1F7B1E-64E4-4B0E-9D53-1F0E8F4F8F11"
        #expect(MessageIDs.eventID(protocol: "segment", messageID: uuid.lowercased()).uuidString == uuid)
        // python3 -c "import uuid; print(uuid.uuid5(uuid.NAMESPACE_URL, 'https://seam.invalid/event-id'))"
        #expect(MessageIDs.namespace.uuidString.lowercased() == "2ef4e18f-4a66-5156-945f-9e3a34214e12")
        #expect(MessageIDs.nameBased("https://seam.invalid/event-id", namespace: UUID(uuidString: "6ba7b811-9dad-11d1-80b4-00c04fd430c8")!)
            == MessageIDs.namespace)
        // python3 -c "import uuid; print(uuid.uuid5(uuid.UUID('2ef4e18f-4a66-5156-945f-9e3a34214e12'), 'segment:ajs-next-1764000000000-abc'))"
        #expect(MessageIDs.eventID(protocol: "segment", messageID: "ajs-next-1764000000000-abc").uuidString.lowercased() == "1f93ee7f-59cc-5c24-9aa2-10820b61a9ca")
        #expect(MessageIDs.eventID(protocol: "segment", messageID: "x") != MessageIDs.eventID(protocol: "ga4", messageID: "x"))
    }

    @Test("UUID text: either case, exact layout")
    func uuidText() {
        #expect(UUIDText.parse(Array("6c1f7b1e-64e4-4b0e-9d53-1f0e8f4f8f11".utf8)[...]) != nil)
        for bad in ["6c1f7b1e64e4-4b0e-9d53-1f0e8f4f8f11-", "6c1f7b1e-64e4-4b0e-9d53-1f0e8f4f8f1g", "", "6c1f7b1e-64e4-4b0e-9d53_1f0e8f4f8f11"] {
            #expect(UUIDText.parse(Array(bad.utf8)[...]) == nil, "\(bad)")
        }
    }
}
