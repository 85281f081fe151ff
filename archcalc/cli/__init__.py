"""The thin click command line."""
