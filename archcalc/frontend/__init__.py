"""The front end: YAML with line numbers, the spec header, argument validation, expansion."""
