"""Licence plates: detection, reading and the Vietnamese plate grammar."""
