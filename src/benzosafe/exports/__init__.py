"""Adapters that render core results to files: PDF, ICS, CSV, JSON, PNG/SVG charts."""
