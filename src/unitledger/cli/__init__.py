"""The ``unitledger`` command line. Each command parses flags and calls one function."""
