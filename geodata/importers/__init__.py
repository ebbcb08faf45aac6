"""Importers: turn real public data (CBS, care-location lists, BGT, benchmarks) into layers.

Each importer reads a source file, maps its columns to the data contract
(docs/data-contract.md), drops what can never be used and counts why, validates the result with
`geodata.contract.validate_layer` and writes it atomically. The CBS, services and BGT importers
return a `geodata.importers.common.ImportReport` that the ``flexplan import`` commands print;
library code here only logs. User docs: docs/importers.md.

This package imports nothing itself, so loading one importer never pulls in the others.
"""
