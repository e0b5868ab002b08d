/// The interactive reference at `/v1/docs`.
enum ReferencePage {
    static let html = "<!doctype html><title>Kairos API</title>"
}
