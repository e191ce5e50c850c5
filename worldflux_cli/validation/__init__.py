"""Torch-free validation: parse with positions, JSON Schema, semantic rules, reports."""
