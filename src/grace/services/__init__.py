"""The services behind the guide's import paths (grace.model_registry and the others are
thin facades over these), wired together in grace.bootstrap."""
