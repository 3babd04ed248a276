"""Complaint triage: read a Chinese financial-consumer complaint, decide what it is and how urgent."""

__version__ = "0.1.0"
