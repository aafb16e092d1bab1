"""Exports and reports of a scored campaign: CSV, JSON, DSP-ready lists and the PDF."""
