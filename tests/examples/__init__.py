"""The examples/ apps against a real worker and the sandbox."""
