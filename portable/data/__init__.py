"""Volume data in transit: the archive format and the script that restores it from inside.

A leaf of the core: both portable.migrate (which orchestrates moves and backups) and the
providers (which read and write volumes) import it, and it imports neither.
"""
