"""The version of benzosafe, in one place: pyproject.toml reads it from here when the package
is built, the package root re-exports it, and the web apps name it in their OpenAPI."""

__version__ = "0.1.0"
