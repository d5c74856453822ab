"""Rendering: terminal tables and progress, JSON (and later Markdown and HTML reports)."""
