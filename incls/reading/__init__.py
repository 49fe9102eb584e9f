"""A document's reading, without the protocol: per-document state and sessions (`core`),
evidence and tone, the user's choices, and the one-shot reading of files (`check`)."""
