"""An import-linter contract type the built-in ones lack: no module imports a module whose
name matches a glob (``tb.test_*``): test modules hold tests, reusable code lives elsewhere.

Registered in ``.importlinter`` (``contract_types``); ``lint-imports`` (run by ``make test``)
checks it with the others.
"""
from __future__ import annotations

from fnmatch import fnmatchcase

from importlinter import Contract, ContractCheck, fields, output


class ForbiddenGlobContract(Contract):
    """Options: ``forbidden_modules``, fnmatch patterns of full module names (``tb.test_*``).

    Broken when any module imports a module matching one of the patterns (a module importing
    itself does not count).
    """

    type_name = "forbidden_glob"
    forbidden_modules = fields.ListField(subfield=fields.StringField())

    def check(self, graph, verbose: bool) -> ContractCheck:
        patterns = list(self.forbidden_modules)  # type: ignore[arg-type]
        violations = sorted(
            (importer, imported)
            for imported in graph.modules if any(fnmatchcase(imported, p) for p in patterns)
            for importer in graph.find_modules_that_directly_import(imported) if importer != imported)
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for importer, imported in check.metadata["violations"]:
            output.print_error(f"{importer} imports {imported}")
            output.new_line()
