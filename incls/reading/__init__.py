"""A document's reading, without the protocol: per-document state and sessions (`core`,
`sessions`), evidence and tone, what a report comes to (`shown`), the settings, the user's
choices, and the one-shot reading of files (`check`, `explain`)."""
