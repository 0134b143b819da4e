"""Validates an SBOM with the format's own library, for tests/tests/sbom.rs.

Usage: sbom_validate.py cyclonedx|spdx FILE

CycloneDX: cyclonedx-python-lib's strict JSON validator (the CycloneDX JSON schema of the
document's specVersion, no additional properties), then a full deserialisation into its object
model (Bom.from_json). SPDX: spdx-tools' parser (JSON) and validate_full_spdx_document (the SPDX
2.3 rules, e.g. every relationship names an element, the document DESCRIBES something).

Prints {"valid": bool, "errors": [...], "components": N} and exits 0 when valid, 1 when not.
"""

import json
import sys


def cyclonedx(path):
    from cyclonedx.model.bom import Bom
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = open(path, encoding="utf-8").read()
    doc = json.loads(text)
    version = SchemaVersion.from_version(doc["specVersion"])
    error = JsonStrictValidator(version).validate_str(text)
    if error is not None:
        # the schema error's own message (str() holds the whole schema excerpt)
        return [getattr(error.data, "message", None) or str(error)], 0
    bom = Bom.from_json(doc)  # pylint: disable=no-member
    return [], len(list(bom._get_all_components()))  # pylint: disable=protected-access


def spdx(path):
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    document = parse_file(path)
    messages = validate_full_spdx_document(document)
    return [m.validation_message for m in messages], len(document.packages)


def main():
    kind, path = sys.argv[1], sys.argv[2]
    try:
        errors, components = {"cyclonedx": cyclonedx, "spdx": spdx}[kind](path)
    except Exception as e:  # pylint: disable=broad-except
        errors, components = [f"{type(e).__name__}: {e}"], 0
    print(json.dumps({"valid": not errors, "errors": errors, "components": components}))
    sys.exit(0 if not errors else 1)


if __name__ == "__main__":
    main()
