extension HelpCatalog {
    /// Entries for the built-ins of LANGUAGE.md's "Analysis (language 1.1)" section and the
    /// analysis additions (grouping, tipping points, overlays, figures).
    static let analysis: [HelpEntry] = []
}
