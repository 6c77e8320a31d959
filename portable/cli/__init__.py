"""The `portable` command line: thin click commands over portable.api."""
