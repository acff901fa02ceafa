"""The gate every path, file, name, number and secret the engine touches goes through (issue 16).

One mechanism per class, each in its own module, each small and imported where it is used (the
protocol's start-up path imports only ``strict_json``, which needs nothing but ``json``):

- ``paths``: ``WriteGuard`` — every path the engine writes is resolved and refused (``UnsafePath``)
  when it is, contains or lies inside a source path, an input file of the command or the backup set
  being read; the error names both paths.
- ``reading``: ``read_limited`` / ``open_regular`` / ``special_file_reason`` — every file the engine
  reads is a regular file of a bounded size; devices, FIFOs, sockets and over-size files are refused
  (or, in a folder being copied, skipped with the reason), never read without bound, never waited on.
- ``strict_json``: ``loads`` — duplicate keys (names match case-insensitively), non-finite numbers and
  integers outside 64 bits are refused naming the field; every JSON the engine reads goes through it.
- ``numbers``: ``exact_value`` — applied by ``WireModel`` to every field of every boundary model: a
  boolean only for a boolean field, only a JSON integer (within its range) for an integer field.
- ``redact``: ``redact_text`` — credentials inside URLs (``scheme://user:password@host``) never reach
  a message, a log line or a record.
- ``resources``: ``resource_error`` — the one translation point from "disk full", "file too large",
  "read-only file system", "permission denied" (OSError, SQLite) to a named error with the path and
  what to do.
- ``writing``: ``write_private_file`` — a file written for the user (the answer template): 0600,
  whole or not at all.
"""
