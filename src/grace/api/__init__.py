"""The HTTP service: thin routes over the core, problem+json errors, scoped API tokens."""
